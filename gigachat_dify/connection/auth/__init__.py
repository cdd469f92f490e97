"""How the plugin proves to GigaChat who it is: one module per mode, chosen by the form's `auth_mode`.

- authorization_key (default): the key from GigaChat Studio, exchanged at the OAuth URL for a token;
- client_certificate: mutual TLS, corporate accounts; no token, the certificate authenticates;
- user_password: on-premise installations, HTTP Basic to `{base_url}/token` for a token.

A mode is a module (`protocol.Mode`): NAME, the form's SECRET_FIELDS it reads, and `parse(form)` (raising
form.FormValueError with what to fix, never echoing a secret) returning a frozen dataclass that
is a `protocol.Auth`: everything the rest of the plugin asks of a mode (what it tells the SDK, the TLS
identity it brings, how provider validation checks it, how messages describe it). Nothing outside
this package looks inside a mode or branches on its name, so a fourth mode is one new module here
and one line in `MODES` (and its fields in provider/gigachat.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gigachat_dify import form
from gigachat_dify.connection.auth import authorization_key, client_certificate, user_password
from gigachat_dify.connection.auth.protocol import Auth, Mode, TokenCheck

__all__ = ["DEFAULT_MODE", "MODES", "Auth", "Mode", "TokenCheck", "parse_auth", "secret_fields"]


#: THE registry of modes: the form's `auth_mode` value -> its module.
MODES: dict[str, Mode] = {m.NAME: m for m in (authorization_key, client_certificate, user_password)}
DEFAULT_MODE = authorization_key.NAME


def secret_fields() -> tuple[str, ...]:
    """The form's secret-input fields of every mode: whatever is typed there is masked in the
    request's own messages (also a mode not chosen may hold a secret)."""
    return tuple(dict.fromkeys(name for mode in MODES.values() for name in mode.SECRET_FIELDS))


def parse_auth(credentials: Mapping[str, Any]) -> Auth:
    mode = form.choice(credentials.get("auth_mode"), form.field_label("auth_mode"), MODES, DEFAULT_MODE)
    return MODES[mode].parse(credentials)
