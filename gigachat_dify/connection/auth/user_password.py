"""User and password mode: on-premise GigaChat installations, HTTP Basic to `{base_url}/token`.

The token endpoint lives under the API's base URL (the SDK's `token_sync` posts to `/token` with
the API client) and answers `{"tok", "exp"}`. GigaChat's public hosts do not offer it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gigachat_dify import form
from gigachat_dify.connection.auth.protocol import TokenCheck
from gigachat_dify.failures import TOKEN_PATH
from gigachat_dify.hosts import login_hint

NAME = "user_password"
SECRET_FIELDS = ("password",)
# On-premise limits are the installation's own (assumed business-like: a legal entity's 10, less 4).
EMBEDDING_CONCURRENCY = 6


@dataclass(frozen=True)
class UserPassword:
    username: str
    password: str = field(repr=False)
    mode: str = NAME

    tls_identity = None
    valid_until = None  # the parse does not depend on the time
    embedding_concurrency = EMBEDDING_CONCURRENCY

    def sdk_arguments(self) -> dict[str, Any]:
        return {"user": self.username, "password": self.password}

    def token_check(self, base_url: str, auth_url: str) -> TokenCheck:
        return TokenCheck("The token endpoint", base_url + TOKEN_PATH,
                          f"does not answer with a token: {login_hint(urlsplit(base_url).netloc)}")

    def api_refusal(self, host: str, reason: str) -> str:
        return (f"The GigaChat installation at {host} gave the user '{self.username}' a token but its API refused "
                f"it (401: {reason}): check the user's access to the API with the installation's administrator.")

    def summary(self) -> str:
        return f"{NAME}, user {self.username}"

    def process_secrets(self) -> tuple[str, ...]:
        # A password can be an ordinary word: it is masked only in its own request (redaction.py).
        return ()


def parse(credentials: Mapping[str, Any]) -> UserPassword:
    username = form.text(credentials.get("username"))
    password = form.text(credentials.get("password"))  # spaces around a paste are not part of it
    if not username:
        raise form.FormValueError(
            "Enter the user name of your on-premise GigaChat installation (user and password mode)."
        )
    if ":" in username:
        raise form.FormValueError("The user name cannot contain ':' (HTTP Basic authentication).")
    if not password:
        raise form.FormValueError(f"Enter the password of the user '{username}'.")
    return UserPassword(username, password)
