"""Provider validation that costs nothing: a token (where the mode has one) and GET /models, never
a paid call. Each failure is named with the address it happened at, in the words of the error table."""

from __future__ import annotations

import json
import logging

import gigachat.exceptions as gx
import pydantic
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.auth.authorization_key import NAME as KEY_MODE
from gigachat_dify.connection.auth.client_certificate import NAME as CERTIFICATE_MODE
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import (
    DEFAULT_AUTH_URL,
    HOSTS_HINT,
    ConnectionSettings,
    parse_credentials,
)
from gigachat_dify.errors import TOKEN_PATH, describe, error_body, transport_failure, transport_message
from gigachat_dify.redaction import redact

logger = logging.getLogger(__name__)


def _fail(message: str) -> CredentialsValidateFailedError:
    return CredentialsValidateFailedError(redact(message))


def _not_gigachat(exc: BaseException) -> bool:
    if isinstance(exc, (pydantic.ValidationError, json.JSONDecodeError)):
        return True
    return isinstance(exc, gx.ResponseError) and exc.status_code in (404, 405) and "status" not in error_body(exc)


def _step(call, what: str, url: str, not_gigachat: str, refused: str | None = None):
    """Run one validation step; turn any failure into the message for that step's address."""
    try:
        return call()
    except Exception as exc:
        kind = transport_failure(exc)
        if kind is not None:
            raise _fail(transport_message(kind, f"the {what} ({url})", exc)) from None
        if _not_gigachat(exc):
            raise _fail(f"The {what} ({url}) {not_gigachat}") from None
        if refused and isinstance(exc, gx.AuthenticationError):
            raise _fail(refused) from None
        raise _fail(describe(exc)[1]) from None


def validate_provider(credentials: dict) -> ConnectionSettings:
    settings = parse_credentials(credentials)
    client = get_client(settings)
    if settings.auth_mode == KEY_MODE:
        _step(client.get_token, "OAuth URL", settings.auth_url,
              f"did not answer like GigaChat's OAuth service. The default is {DEFAULT_AUTH_URL}.")
    elif settings.auth_mode != CERTIFICATE_MODE:  # user and password: the installation's token endpoint
        _step(client.get_token, "token endpoint", settings.base_url + TOKEN_PATH,
              "does not answer: user and password work only with an on-premise GigaChat installation whose "
              "Base URL serves /token. For GigaChat's public hosts use the authorization key or a client "
              "certificate.")
    models = _step(
        client.get_models, "Base URL", settings.base_url,
        f"is not a GigaChat API: GET /models did not answer with GigaChat's model list. {HOSTS_HINT}",
        refused=(
            f"The GigaChat API ({settings.base_url}) accepted the TLS connection but not the client certificate "
            "as a login (401): the certificate is not registered for GigaChat API access at this host. Use the "
            "certificate issued for your GigaChat account, or the authorization key mode."
        ) if settings.auth_mode == CERTIFICATE_MODE else None,
    )
    logger.info("GigaChat credentials valid: %d models available (%s%s)", len(models.data), settings.auth_mode,
                f", scope {settings.scope}" if settings.scope else "")
    return settings
