"""Authorization key mode: GigaChat Studio's key, exchanged at the OAuth URL for a 30-minute token."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gigachat_dify import form
from gigachat_dify.connection.auth.protocol import TokenCheck
from gigachat_dify.hosts import DEFAULT_AUTH_URL

NAME = "authorization_key"
SECRET_FIELDS = ("authorization_key",)
SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
DEFAULT_SCOPE = SCOPES[0]
# Documented (Nov 2025): individuals get 1 concurrent request, legal entities 10 by default (the
# plugin leaves 4 of them to the account's chats).
EMBEDDING_CONCURRENCY = {"GIGACHAT_API_PERS": 1, "GIGACHAT_API_B2B": 6, "GIGACHAT_API_CORP": 6}


@dataclass(frozen=True)
class AuthorizationKey:
    key: str = field(repr=False)
    scope: str = DEFAULT_SCOPE
    mode: str = NAME

    tls_identity = None
    valid_until = None  # the parse does not depend on the time

    @property
    def embedding_concurrency(self) -> int:
        return EMBEDDING_CONCURRENCY[self.scope]

    def sdk_arguments(self) -> dict[str, Any]:
        return {"credentials": self.key, "scope": self.scope}

    def token_check(self, base_url: str, auth_url: str) -> TokenCheck:
        return TokenCheck("The 'OAuth URL'", auth_url,
                          f"did not answer like GigaChat's OAuth service. The default is {DEFAULT_AUTH_URL}.")

    def api_refusal(self, host: str, reason: str) -> str:
        return (f"GigaChat rejected the credentials ({reason}). Check the 'Authorization key' and the "
                "'Scope (account type)'.")

    def summary(self) -> str:
        return f"{NAME}, scope {self.scope}"

    def process_secrets(self) -> tuple[str, ...]:
        """Checked values masked process-wide: the key and the client secret inside it."""
        client_secret = base64.b64decode(self.key).decode("utf-8", "replace").partition(":")[2]
        return self.key, client_secret


def parse(credentials: Mapping[str, Any]) -> AuthorizationKey:
    key = form.text(credentials.get("authorization_key"))
    if not key:
        raise form.FormValueError(
            "Enter the authorization key from GigaChat Studio (Settings -> API -> Authorization key), "
            "or choose another authentication mode."
        )
    scope = form.choice(credentials.get("scope"), form.field_label("scope"), SCOPES, DEFAULT_SCOPE)
    return AuthorizationKey(check_key(key), scope)


def check_key(key: str) -> str:
    # Studio shows the key as base64("client_id:client_secret"); people often paste the
    # client secret alone, or the key with a 'Basic ' prefix.
    if key.lower().startswith("basic "):
        key = key[6:].strip()
    key = re.sub(r"\s+", "", key)
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise form.FormValueError(
            "The authorization key is not valid: it must be the base64 'Authorization key' from "
            "GigaChat Studio (Settings -> API), not the Client ID or Client Secret."
        ) from None
    if b":" not in decoded:
        raise form.FormValueError(
            "The authorization key does not look like a GigaChat 'Authorization key' "
            "(base64 of 'client_id:client_secret'). Copy the 'Authorization key' field from GigaChat Studio."
        )
    return key
