"""User and password mode: on-premise GigaChat installations, HTTP Basic to `{base_url}/token`.

The token endpoint lives under the API's base URL (the SDK's `token_sync` posts to `/token` with
the API client) and answers `{"tok", "exp"}`. GigaChat's public hosts do not offer it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gigachat_dify import form

NAME = "user_password"


@dataclass(frozen=True)
class UserPassword:
    username: str
    password: str = field(repr=False)
    mode: str = NAME

    def sdk_arguments(self) -> dict[str, Any]:
        return {"user": self.username, "password": self.password}

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
