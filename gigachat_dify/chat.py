"""One Dify LLM invocation as a GigaChat v1 chat call: request preparation and the call itself.

Knows nothing of Dify's model classes; models/llm/llm.py only hands over what Dify sent.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gigachat import GigaChat
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat.context import session_id_cvar

from gigachat_dify import files, retry
from gigachat_dify.client_cache import get_client
from gigachat_dify.credentials import ConnectionSettings
from gigachat_dify.messages import convert_messages
from gigachat_dify.params import build_chat_payload
from gigachat_dify.tool_schema import to_gigachat_functions

logger = logging.getLogger(__name__)

_SESSION_NS = uuid.UUID("6f1c3a52-9f57-4a36-9d0e-6a3f1c1b2d7e")


@dataclass
class ChatRequest:
    settings: ConnectionSettings
    client: GigaChat
    payload: dict[str, Any]
    function_names: dict[str, str] = field(default_factory=dict)  # gigachat name -> dify name
    session_id: str | None = None


def session_id_for(conversation_id: str | None, messages: Sequence[dict]) -> str | None:
    """X-Session-ID for GigaChat's prompt cache: stable per Dify conversation (a one-way uuid5 of
    its id, so Dify's ids never leave), else per leading system prompt (workflow nodes repeat it)."""
    if conversation_id:
        return str(uuid.uuid5(_SESSION_NS, f"conversation:{conversation_id}"))
    if messages and messages[0].get("role") == "system" and messages[0].get("content"):
        return str(uuid.uuid5(_SESSION_NS, "system:" + messages[0]["content"]))
    return None


def make_file_resolver(settings: ConnectionSettings, client: GigaChat, accepts: frozenset[str]):
    def upload(payload: files.FilePayload) -> str:
        uploaded = retry.call_with_retries(
            lambda: client.upload_file((payload.filename, payload.data, payload.mime), purpose="general"),
            settings.max_retries,
        )
        return uploaded.id_

    def resolve(part) -> str:
        kind = files.file_kind(part)
        if kind in ("image", "document") and kind not in accepts:
            raise InvokeBadRequestError(
                f"This model does not support {kind}s. Choose a model that does (images: GigaChat-2-Max; "
                f"documents: GigaChat-2-Pro, -2-Max, -3-Ultra), or enable {kind}s for a customizable model."
            )
        return files.UPLOADS.get_or_upload(settings.fingerprint, files.load(part), upload)

    return resolve


def prepare(
    *,
    model: str,
    settings: ConnectionSettings,
    prompt_messages: Sequence,
    model_parameters: dict,
    tools: Sequence | None,
    stream: bool,
    accepts_files: frozenset[str],
    conversation_id: str | None,
) -> ChatRequest:
    client = get_client(settings)
    functions, names = to_gigachat_functions(tools) if tools else ([], {})
    messages = convert_messages(
        prompt_messages,
        resolve_file=make_file_resolver(settings, client, accepts_files) if accepts_files else None,
        function_names=names,
    )
    payload = build_chat_payload(model, messages, model_parameters, functions or None, stream)
    # The SDK re-validates `functions` through its own pydantic models, which drop nested
    # `required`, `format` and other keys of the cleaned schema; `additional_fields` is sent
    # verbatim, so the schema reaches GigaChat exactly as tool_schema cleaned it.
    if payload.get("functions"):
        payload.setdefault("additional_fields", {})["functions"] = payload.pop("functions")
    payload.pop("stream", None)
    return ChatRequest(settings, client, payload, names, session_id_for(conversation_id, messages))


@contextlib.contextmanager
def _session_header(session_id: str | None):
    token = session_id_cvar.set(session_id) if session_id else None
    try:
        yield
    finally:
        if token is not None:
            session_id_cvar.reset(token)


def complete(request: ChatRequest):
    """Blocking call; retried whole on transient failures."""
    with _session_header(request.session_id):
        return retry.call_with_retries(lambda: request.client.chat(request.payload), request.settings.max_retries)


def stream(request: ChatRequest) -> Iterator:
    """Streaming call; reopened after a transient failure only before the first chunk."""
    with _session_header(request.session_id):
        yield from retry.stream_with_retries(lambda: request.client.stream(request.payload),
                                             request.settings.max_retries)
