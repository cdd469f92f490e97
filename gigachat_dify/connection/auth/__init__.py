"""How the plugin proves to GigaChat who it is: one module per mode, chosen by the form's `auth_mode`.

- authorization_key (default): the key from GigaChat Studio, exchanged at the OAuth URL for a token;
- client_certificate: mutual TLS, corporate accounts; no token, the certificate authenticates;
- user_password: on-premise installations, HTTP Basic to `{base_url}/token` for a token.

Each mode module has NAME, a frozen dataclass, `parse(form) -> that dataclass` (raising
form.FormValueError with what to fix, never echoing a secret) and the dataclass answers what the
rest of the connection layer asks of any mode (see `Auth`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gigachat_dify import form
from gigachat_dify.connection.auth import authorization_key, client_certificate, user_password
from gigachat_dify.connection.auth.authorization_key import AuthorizationKey
from gigachat_dify.connection.auth.client_certificate import ClientCertificate
from gigachat_dify.connection.auth.user_password import UserPassword

Auth = AuthorizationKey | ClientCertificate | UserPassword

MODES = {m.NAME: m for m in (authorization_key, client_certificate, user_password)}
DEFAULT_MODE = authorization_key.NAME
#: The form's secret-input fields: whatever is typed there is masked in the request's own messages.
SECRET_FIELDS = ("authorization_key", "client_private_key", "client_private_key_password", "password", "proxy_url")


def parse_auth(credentials: Mapping[str, Any]) -> Auth:
    mode = form.choice(credentials.get("auth_mode"), "Authentication mode", MODES, DEFAULT_MODE)
    return MODES[mode].parse(credentials)
