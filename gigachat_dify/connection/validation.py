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
    """The SDK's own GET /models (its token, connection and errors), keeping each model's type.
    Uses SDK internals (`_with_auth`, `_client`), as embeddings/http.py does: the SDK is pinned <0.3."""
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
                   f"is not a GigaChat API: GET /models did not answer with GigaChat's model list. {HOSTS_HINT}")
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
        kind = transport_failure(exc)
        reason = transport_message(kind, f"the Base URL ({settings.base_url})", exc) if kind else describe(exc)[1]
        raise _fail(
            f"GigaChat's model list for this account does not name '{model}', and one minimal paid test "
            f"request failed: {reason} {_PLURALS[wanted]} this account has, closest first: {offered}."
        ) from None
    logger.warning("%s is not in GigaChat's model list; one minimal paid request to it succeeded", model)
