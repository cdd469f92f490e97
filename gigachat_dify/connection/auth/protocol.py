"""The interface of an authentication mode: what its module offers (`Mode`) and what the rest of
the plugin may ask of its parsed form (`Auth`). Nothing outside connection/auth/ asks more."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gigachat_dify.connection.tls import ClientIdentity


@dataclass(frozen=True)
class TokenCheck:
    """Where provider validation asks for a token (free), and how messages name that address."""

    label: str  # as messages name it: the form field's label in quotes, or what the address is
    url: str
    unreadable: str  # what an answer that is no token at all means (after "<label> (<url>) ")


class Auth(Protocol):
    """A parsed mode: the interface every mode's dataclass implements."""

    @property
    def mode(self) -> str:
        """The mode's NAME."""

    @property
    def tls_identity(self) -> ClientIdentity | None:
        """The client certificate and key the TLS handshake presents, or None."""

    @property
    def valid_until(self) -> datetime.datetime | None:
        """When this parse stops holding (a certificate's notAfter), after which the form is checked
        again; None when it does not depend on the time."""

    @property
    def embedding_concurrency(self) -> int:
        """The default of 'Parallel embedding requests' for this account (its documented limit)."""

    def sdk_arguments(self) -> dict[str, Any]:
        """The SDK client's authentication arguments (the rest of its settings are the form's)."""

    def process_secrets(self) -> tuple[str, ...]:
        """Checked values masked in every log and message of the process (never ordinary words)."""

    def token_check(self, base_url: str, auth_url: str) -> TokenCheck | None:
        """Where validation gets a token before GET /models; None when the mode has no token."""

    def api_refusal(self, host: str, reason: str) -> str:
        """The message for the API refusing these credentials (401) after the mode's own step passed."""

    def summary(self) -> str:
        """The mode in a log line, e.g. 'authorization_key, scope GIGACHAT_API_PERS' (never a secret)."""


class Mode(Protocol):
    """A mode's module."""

    NAME: str
    SECRET_FIELDS: tuple[str, ...]

    def parse(self, credentials: Mapping[str, Any]) -> Auth: ...
