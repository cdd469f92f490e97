"""Provider validation that costs nothing: one OAuth token and GET /models, never a paid call."""

from __future__ import annotations

import json
import logging

import gigachat.exceptions as gx
import httpx
import pydantic
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import ConnectionSettings, parse_credentials
from gigachat_dify.errors import CA_HINT, describe, error_body, is_tls_verification_failure
from gigachat_dify.redaction import redact

logger = logging.getLogger(__name__)


def _fail(message: str) -> CredentialsValidateFailedError:
    return CredentialsValidateFailedError(redact(message))


def _connection_problem(exc: BaseException, what: str, url: str) -> CredentialsValidateFailedError | None:
    if is_tls_verification_failure(exc):
        return _fail(f"The TLS certificate of the {what} ({url}) could not be verified. {CA_HINT}")
    if isinstance(exc, httpx.TimeoutException):
        return _fail(f"The {what} ({url}) did not answer in time. Check the address, network and proxy.")
    if isinstance(exc, httpx.TransportError):
        return _fail(f"Could not reach the {what} ({url}). Check the address, DNS, proxy and firewall.")
    return None


def _not_gigachat(exc: BaseException) -> bool:
    if isinstance(exc, (pydantic.ValidationError, json.JSONDecodeError)):
        return True
    if isinstance(exc, httpx.TransportError) and "text/event-stream" in str(exc):
        return True
    return isinstance(exc, gx.ResponseError) and exc.status_code in (404, 405) and "status" not in error_body(exc)


def _step(call, what: str, url: str, not_gigachat: str):
    """Run one validation step; turn any failure into the message for that step's address."""
    try:
        return call()
    except Exception as exc:
        problem = _connection_problem(exc, what, url)
        if problem:
            raise problem from None
        if _not_gigachat(exc):
            raise _fail(f"The {what} ({url}) {not_gigachat}") from None
        raise _fail(describe(exc)[1]) from None


def validate_provider(credentials: dict) -> ConnectionSettings:
    settings = parse_credentials(credentials)
    client = get_client(settings)
    _step(client.get_token, "OAuth URL", settings.auth_url,
          "did not answer like GigaChat's OAuth service. The default is "
          "https://ngw.devices.sberbank.ru:9443/api/v2/oauth.")
    models = _step(client.get_models, "Base URL", settings.base_url,
                   "is not a GigaChat API: GET /models did not answer with GigaChat's model list. "
                   "The default is https://gigachat.devices.sberbank.ru/api/v1.")
    logger.info("GigaChat credentials valid: %d models available (scope %s)", len(models.data), settings.scope)
    return settings
