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


# --- Model validation (customizable models): the free model list first ---------------------------
# (Imports here, not at the top: this section is maintained apart from provider validation.)
import difflib  # noqa: E402

from gigachat.api.utils import build_headers, execute_request_sync  # noqa: E402
from gigachat.authentication import _with_auth  # noqa: E402
from gigachat.models import models as sdk_models  # noqa: E402

#: Dify's model types -> the `type` GigaChat's GET /models gives such a model.
LISTED_TYPES = {"llm": "chat", "text-embedding": "embedder"}
_KINDS = {"chat": "a chat model", "embedder": "an embedding model"}
_DIFY_KINDS = {"chat": "an LLM", "embedder": "a Text Embedding model"}
_PLURALS = {"chat": "Chat models", "embedder": "Embedding models"}


class _ListedModel(sdk_models.Model):
    type_: str = pydantic.Field(default="", alias="type")  # the SDK's Model drops it


class _ModelList(sdk_models.Models):
    data: list[_ListedModel]


@_with_auth
def _listed_models(client) -> _ModelList:
    """The SDK's own GET /models (its token, connection and errors), keeping each model's type."""
    return execute_request_sync(client._client, {"method": "GET", "url": "/models",
                                                 "headers": build_headers(client.token)}, _ModelList)


def _base_name(name: str) -> str:
    return name.split(":", 1)[0].strip()  # the list and answers may carry versions ("GigaChat:2.0.28.2")


def closest_first(model: str, names: list[str]) -> list[str]:
    """`names` ordered by likeness to `model` (case-insensitive), then alphabetically."""
    target = model.lower()
    return sorted(set(names), key=lambda n: (-difflib.SequenceMatcher(None, target, n.lower()).ratio(), n))


def _probe(client, model: str, model_type: str) -> None:
    """The smallest paid request that proves the account may use the model: 1 token of chat, or
    one 4-character text embedded."""
    if model_type == "llm":
        client.chat({"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
    else:
        client.embeddings(["ping"], model=model)


def validate_model(credentials: dict, model: str, model_type: str) -> None:
    """A customizable model (or load-balancing entry): the key works and the account has this
    model, of this kind. Decided by the free model list; one minimal paid request only when the
    list does not name the model (the list may omit models an account can still call)."""
    settings = parse_credentials(credentials)
    client = get_client(settings)
    listed = _step(lambda: _listed_models(client), "Base URL", settings.base_url,
                   "is not a GigaChat API: GET /models did not answer with GigaChat's model list. "
                   "The default is https://gigachat.devices.sberbank.ru/api/v1.")
    wanted = LISTED_TYPES[model_type]
    entries = [(_base_name(m.id_), m.type_) for m in listed.data]
    kinds = {kind for name, kind in entries if name == _base_name(model)}
    if wanted in kinds or (kinds and kinds <= {""}):  # named (a list without types cannot tell more)
        return
    if kinds:
        other = sorted(kinds)[0]
        add = f"add it as {_DIFY_KINDS[other]}" if other in _DIFY_KINDS else "Dify cannot use it as either"
        raise _fail(
            f"'{model}' is {_KINDS.get(other, f'a {other!r} model')} in GigaChat's model list, "
            f"not {_KINDS[wanted]}: {add}."
        )
    same_kind = [name for name, kind in entries if kind in (wanted, "")]
    offered = ", ".join(closest_first(model, same_kind)[:12]) or "none"
    logger.warning("GigaChat's model list does not name %s: checking it with one minimal paid request", model)
    try:
        _probe(client, model, model_type)
    except Exception as exc:
        problem = _connection_problem(exc, "Base URL", settings.base_url)
        reason = str(problem) if problem else describe(exc)[1]
        raise _fail(
            f"GigaChat's model list for this account does not name '{model}', and one minimal paid test "
            f"request failed: {reason} {_PLURALS[wanted]} this account has, closest first: {offered}."
        ) from None
    logger.warning("%s is not in GigaChat's model list; one minimal paid request to it succeeded", model)
