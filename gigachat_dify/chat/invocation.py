"""One Dify LLM invocation: THE place that decides which GigaChat contract serves it, and what both share.

``prepare`` converts what Dify sent through the chosen contract (``chat/v1`` or ``chat/v2``), ``complete`` and
``stream`` run it with what does not depend on the contract: the shared client, retries that never
duplicate output, the X-Session-ID prompt-cache header, the assembler's rules and the usage report.
Knows nothing of Dify's model classes; ``models/llm/llm.py`` only hands over what Dify sent.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMUsage
from dify_plugin.entities.model.message import PromptMessageRole, ensure_prompt_message
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat import GigaChat
from gigachat.context import session_id_cvar

from gigachat_dify import retry
from gigachat_dify.chat import files
from gigachat_dify.chat.assembly import TokenUsage, to_result, usage_report
from gigachat_dify.chat.media import Images
from gigachat_dify.chat.v1 import call as v1
from gigachat_dify.chat.v2 import call as v2
from gigachat_dify.chat.v2.params import builtin_tools
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import ConnectionSettings

#: Turns GigaChat's usage into Dify's (the model class's pricing).
Price = Callable[[TokenUsage | None], LLMUsage]

_SESSION_NS = uuid.UUID("6f1c3a52-9f57-4a36-9d0e-6a3f1c1b2d7e")


@dataclass
class ChatRequest:
    model: str
    settings: ConnectionSettings
    client: GigaChat
    contract: ModuleType  # chat/v1/call.py or chat/v2/call.py (build/send/open_stream/Assembler)
    payload: dict[str, Any]
    prompt_messages: list = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    function_names: dict[str, str] = field(default_factory=dict)  # gigachat name -> dify name
    session_id: str | None = None


def session_id_for(conversation_id: str | None, prompt_messages: Sequence) -> str | None:
    """X-Session-ID for GigaChat's prompt cache: stable per Dify conversation (a one-way uuid5 of
    its id, so Dify's ids never leave), else per leading system prompt (workflow nodes repeat it)."""
    if conversation_id:
        return str(uuid.uuid5(_SESSION_NS, f"conversation:{conversation_id}"))
    first = ensure_prompt_message(prompt_messages[0]) if prompt_messages else None
    if first is not None and first.role == PromptMessageRole.SYSTEM and isinstance(first.content, str) and first.content:
        return str(uuid.uuid5(_SESSION_NS, "system:" + first.content))
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
        if kind in ("image", "document", "audio") and kind not in accepts:
            raise InvokeBadRequestError(
                f"This model does not support {kind}s. Choose a model that does (images: GigaChat-2-Max; "
                f"documents: GigaChat-2-Pro, -2-Max, -3-Ultra), or enable {kind}s for a customizable model."
            )
        return files.UPLOADS.get_or_upload(settings.fingerprint, files.load(part), upload)

    return resolve


def choose_contract(model_parameters: dict) -> ModuleType:
    """Which contract serves this request: v2 when it switches on one of GigaChat's built-in tools
    (web search, image generation, code interpreter: only v2 offers them), else v1, the proven
    path every feature of the plugin is built and recorded on."""
    return v2 if builtin_tools(model_parameters).any else v1


def prepare(
    *,
    model: str,
    settings: ConnectionSettings,
    prompt_messages: Sequence,
    model_parameters: dict,
    tools: Sequence | None,
    stop: Sequence[str] | None,
    stream: bool,
    accepts_files: frozenset[str],
    conversation_id: str | None,
) -> ChatRequest:
    client = get_client(settings)
    contract = choose_contract(model_parameters)
    files.check_request_media(prompt_messages)
    resolve_file = make_file_resolver(settings, client, accepts_files) if accepts_files else None
    payload, names = contract.build(model, prompt_messages, model_parameters, tools, stream, resolve_file)
    return ChatRequest(model, settings, client, contract, payload, list(prompt_messages), list(stop or []),
                       names, session_id_for(conversation_id, prompt_messages))


@contextlib.contextmanager
def _session_header(session_id: str | None):
    token = session_id_cvar.set(session_id) if session_id else None
    try:
        yield
    finally:
        if token is not None:
            session_id_cvar.reset(token)


def _images(request: ChatRequest, *, blocking: bool) -> Images:
    """Generated files: downloaded with the shared client and retry policy; each one's id is
    remembered by content hash, so an image sent back later is not uploaded again."""
    client, settings = request.client, request.settings

    def download(file_id: str) -> str:
        return retry.call_with_retries(lambda: client.get_image(file_id), settings.max_retries).content

    def remember(file_id: str, data: bytes, mime: str) -> None:
        payload = files.FilePayload("image", f"{file_id}.{mime.rsplit('/', 1)[-1]}", mime, data)
        files.UPLOADS.get_or_upload(settings.fingerprint, payload, lambda _: file_id)

    return Images(download, remember=remember, cumulative=blocking)


def _assembler(request: ChatRequest, *, blocking: bool = False):
    return request.contract.Assembler(request.model, request.prompt_messages, request.stop, request.function_names,
                                      images=_images(request, blocking=blocking))


def _final(asm, price: Price) -> LLMResultChunk:
    final = asm.finish(price(asm.usage))
    final.delta.message.opaque_body = usage_report(asm.usage, asm.response_model)
    return final


def complete(request: ChatRequest, price: Price) -> LLMResult:
    """Blocking call; retried whole on transient failures."""
    with _session_header(request.session_id):
        response = retry.call_with_retries(lambda: request.contract.send(request.client, request.payload),
                                           request.settings.max_retries)
    asm = _assembler(request, blocking=True)
    chunks = asm.feed_response(response)
    return to_result(request.model, [*chunks, *asm.flush(), _final(asm, price)])


def stream(request: ChatRequest, price: Price) -> Iterator[LLMResultChunk]:
    """Streaming call; reopened after a transient failure only before the first chunk."""
    asm = _assembler(request)
    with _session_header(request.session_id):
        for chunk in retry.stream_with_retries(lambda: request.contract.open_stream(request.client, request.payload),
                                               request.settings.max_retries):
            yield from asm.feed(chunk)
            if asm.stopped_by_stop_word:
                break  # Dify's stop word reached: stop paying for tokens nobody will see
    yield from asm.flush()
    yield _final(asm, price)
