"""Provider validation that costs nothing: a token (where the mode has one) and GET /models, never
a paid call. Each failure is named with the address it happened at, in the words of the error
table; what each step is comes from the mode (`Auth.token_check`), never from its name."""

from __future__ import annotations

import logging

from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.auth import Auth
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import ConnectionSettings, parse_credentials
from gigachat_dify.errors import describe, transport_message
from gigachat_dify.failures import NOTHING_ASKED, Asked, Kind, classify
from gigachat_dify.hosts import HOSTS_HINT
from gigachat_dify.redaction import redact

logger = logging.getLogger(__name__)

BASE_URL = "The 'Base URL'"
NOT_AN_API = f"is not a GigaChat API: GET /models did not answer with GigaChat's model list. {HOSTS_HINT}"


def _fail(message: str) -> CredentialsValidateFailedError:
    return CredentialsValidateFailedError(redact(message))


def _reason(exc: BaseException, label: str, url: str, unreadable: str, auth: Auth | None,
            asked: Asked = NOTHING_ASKED) -> str:
    """Why one step failed, named with that step's address."""
    failure = classify(exc, asked)
    if failure.kind is Kind.TRANSPORT:
        message = transport_message(failure.transport, f"{label[0].lower()}{label[1:]} ({url})", exc)
        return message[0].upper() + message[1:]  # the label, lowered to be quoted mid-sentence, may begin it
    if failure.kind in (Kind.UNREADABLE, Kind.NOT_GIGACHAT):
        return f"{label} ({url}) {unreadable}"
    return describe(exc, asked, auth)[1]


def _step(call, label: str, url: str, unreadable: str, auth: Auth):
    """Run one validation step; turn any failure into the message for that step's address."""
    try:
        return call()
    except Exception as exc:
        raise _fail(_reason(exc, label, url, unreadable, auth)) from None


def validate_provider(credentials: dict) -> ConnectionSettings:
    settings = parse_credentials(credentials)
    client = get_client(settings)
    token = settings.auth.token_check(settings.base_url, settings.auth_url)
    if token is not None:
        _step(client.get_token, token.label, token.url, token.unreadable, settings.auth)
    models = _step(client.get_models, BASE_URL, settings.base_url, NOT_AN_API, settings.auth)
    logger.info("GigaChat credentials valid: %d models available (%s)", len(models.data), settings.auth.summary())
    return settings


# --- Model validation (customizable models): the free model list first ---------------------------
# (Imports here, not at the top: this section is maintained apart from provider validation.)
import difflib  # noqa: E402

import pydantic  # noqa: E402

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
    if model != model.strip():  # the list is compared stripped, but GigaChat answers 404 to the name as sent
        raise _fail(f"The model name '{model}' has spaces around it: remove them and add the model as "
                    f"'{model.strip()}' (GigaChat knows a model only by its exact name).")
    settings = parse_credentials(credentials)
    client = get_client(settings)
    listed = _step(lambda: _listed_models(client), BASE_URL, settings.base_url, NOT_AN_API, settings.auth)
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
        reason = _reason(exc, BASE_URL, settings.base_url, NOT_AN_API, settings.auth, Asked(model=model))
        raise _fail(
            f"GigaChat's model list for this account does not name '{model}', and one minimal paid test "
            f"request failed: {reason} {_PLURALS[wanted]} this account has, closest first: {offered}."
        ) from None
    logger.warning("%s is not in GigaChat's model list; one minimal paid request to it succeeded", model)
