"""THE credentials parser: Dify's provider form -> one immutable ConnectionSettings.

Every field that changes how the plugin connects is part of the fingerprint, so two forms that
differ in anything (key, scope, hosts, CA, timeouts...) never share a client or its token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify import redaction
from gigachat_dify.connection.tls import PemError, normalize_pem

DEFAULT_BASE_URL = "https://gigachat.devices.sberbank.ru/api/v1"
DEFAULT_AUTH_URL = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
DEFAULT_SCOPE = SCOPES[0]
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
# Documented (Nov 2025): individuals get 1 concurrent request, legal entities 10 by default.
DEFAULT_EMBEDDING_CONCURRENCY = {"GIGACHAT_API_PERS": 1, "GIGACHAT_API_B2B": 6, "GIGACHAT_API_CORP": 6}

# Keyed per process so a fingerprint (which may appear in logs) reveals nothing about the key.
_FINGERPRINT_SALT = os.urandom(32)


@dataclass(frozen=True)
class ConnectionSettings:
    base_url: str
    auth_url: str
    scope: str
    authorization_key: str = field(default="", repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    verify_ssl: bool = True
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    embedding_concurrency: int = 2

    @property
    def fingerprint(self) -> str:
        material = json.dumps([getattr(self, f.name) for f in fields(self)], sort_keys=True)
        return hmac.new(_FINGERPRINT_SALT, material.encode(), hashlib.sha256).hexdigest()[:32]


def _fail(message: str) -> CredentialsValidateFailedError:
    # Messages quote what was typed; a key pasted into another field must not come back.
    return CredentialsValidateFailedError(redaction.redact(message))


def _text(credentials: dict, key: str) -> str:
    value = credentials.get(key)
    return "" if value is None else str(value).strip()


def _url(credentials: dict, key: str, default: str, label: str) -> str:
    value = _text(credentials, key) or default
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "Invalid IPv6 URL" for https://[::1
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(
            f"{label} '{value}' is not a URL: it must start with https:// (for example {default})."
        )
    return value.rstrip("/")


def _number(credentials: dict, key: str, default, cast, lo, hi, label: str):
    raw = credentials.get(key)
    if raw in (None, ""):
        return default
    try:
        value = cast(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf), float(10**400)
        raise _fail(f"{label} must be a number between {lo} and {hi}, got '{raw}'.") from None
    if not lo <= value <= hi:
        raise _fail(f"{label} must be between {lo} and {hi}, got {value}.")
    return value


def _bool(credentials: dict, key: str, default: bool) -> bool:
    raw = credentials.get(key)
    if raw in (None, ""):
        return default
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in ("1", "true", "yes", "on")


def _check_authorization_key(key: str) -> str:
    # Studio shows the key as base64("client_id:client_secret"); people often paste the
    # client secret alone, or the key with a 'Basic ' prefix.
    if key.lower().startswith("basic "):
        key = key[6:].strip()
    key = re.sub(r"\s+", "", key)
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(
            "The authorization key is not valid: it must be the base64 'Authorization key' from "
            "GigaChat Studio (Settings -> API), not the Client ID or Client Secret."
        ) from None
    if b":" not in decoded:
        raise _fail(
            "The authorization key does not look like a GigaChat 'Authorization key' "
            "(base64 of 'client_id:client_secret'). Copy the 'Authorization key' field from GigaChat Studio."
        )
    return key


def parse_credentials(credentials: dict) -> ConnectionSettings:
    """Parse and check the provider form; raise CredentialsValidateFailedError saying what to fix."""
    credentials = credentials or {}
    key = _text(credentials, "authorization_key")
    redaction.register(key)
    if not key:
        raise _fail("Enter the authorization key from GigaChat Studio (Settings -> API -> Authorization key).")
    key = _check_authorization_key(key)
    redaction.register(key)

    scope = _text(credentials, "scope") or DEFAULT_SCOPE
    if scope not in SCOPES:
        raise _fail(f"Scope must be one of {', '.join(SCOPES)}, got '{scope}'.")

    ca_pem = None
    if _text(credentials, "ca_certificate"):
        try:
            ca_pem = normalize_pem(_text(credentials, "ca_certificate"))
        except PemError as exc:
            raise _fail(f"The CA certificate is not usable: {exc}.") from None

    return ConnectionSettings(
        base_url=_url(credentials, "base_url", DEFAULT_BASE_URL, "Base URL"),
        auth_url=_url(credentials, "auth_url", DEFAULT_AUTH_URL, "OAuth URL"),
        scope=scope,
        authorization_key=key,
        ca_pem=ca_pem,
        verify_ssl=_bool(credentials, "verify_ssl", True),
        timeout=_number(credentials, "timeout", DEFAULT_TIMEOUT, float, 1, 600, "Request timeout"),
        max_retries=_number(credentials, "max_retries", DEFAULT_MAX_RETRIES, int, 0, 10, "Retries"),
        embedding_concurrency=_number(
            credentials, "embedding_concurrency", DEFAULT_EMBEDDING_CONCURRENCY[scope], int, 1, 32,
            "Embedding concurrency",
        ),
    )
