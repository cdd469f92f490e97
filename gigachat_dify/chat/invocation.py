"""One Dify LLM invocation: THE place that decides which GigaChat contract serves it, and what both share.

``prepare`` converts what Dify sent through the chosen contract (``chat/v1`` or ``chat/v2``), ``complete`` and
``stream`` run it with what does not depend on the contract: the shared client, retries that never
duplicate output, the X-Session-ID prompt-cache header, the assembler's rules and the usage report.
Knows nothing of Dify's model classes; ``models/llm/llm.py`` only hands over what Dify sent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMUsage
from dify_plugin.entities.model.message import PromptMessageRole, ensure_prompt_message
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat import GigaChat
from gigachat.context import session_id_cvar

from gigachat_dify import failures, retry
from gigachat_dify.chat import builtin_tools, files, json_answers, reasoning
from gigachat_dify.chat.assembly import TokenUsage, to_result, usage_report
from gigachat_dify.chat.media import Images
from gigachat_dify.chat.tool_calls import kept_state
from gigachat_dify.chat.tool_schema import function_schemas
from gigachat_dify.chat.v1 import call as v1
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import ConnectionSettings

logger = logging.getLogger(__name__)

#: Turns GigaChat's usage into Dify's (the model class's pricing).
Price = Callable[[TokenUsage | None], LLMUsage]

_END = object()
_SESSION_NS = uuid.UUID("6f1c3a52-9f57-4a36-9d0e-6a3f1c1b2d7e")


@dataclass
class ChatRequest:
    model: str
    settings: ConnectionSettings
    client: GigaChat
    contract: ModuleType  # chat/v1/call.py or chat/v2/call.py (see the contract interface in either)
    payload: dict[str, Any]
    prompt_messages: list = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    function_names: dict[str, str] = field(default_factory=dict)  # gigachat name -> dify name
    session_id: str | None = None
    model_parameters: dict[str, Any] = field(default_factory=dict)
    #: The payload for other messages or parameters (structured-output fallback, re-uploads), and
    #: the contract's build options (the host's form of function results).
    build: Callable[..., dict[str, Any]] | None = None
    #: {gigachat function name: the tool's own parameter schema}, to give arguments their types back.
    argument_schemas: dict[str, Any] = field(default_factory=dict)
    files: FileResolver | None = None
    #: What it asks beyond a plain answer, for the refusal classifier.
    asked: failures.Asked = failures.NOTHING_ASKED


def asked(model: str, model_parameters: Mapping[str, Any]) -> failures.Asked:
    """What a request asks for beyond a plain answer, with the labels of the settings that ask it:
    what a refusal can be about (``failures.refusal``) and what its message names. Raises
    InvokeBadRequestError for parameters no request could be built from."""
    json_schema = json_answers.requested(model_parameters) is not None
    thinking = reasoning.SETTING if reasoning.asked(model_parameters) else ""
    tools = builtin_tools.enabled(model_parameters)
    if not json_schema and not thinking and tools is builtin_tools.NONE_ENABLED:
        return _plain(model)
    return failures.Asked(model=model, json_schema=json_schema, reasoning=thinking,
                          tools=MappingProxyType(tools.labels()))


@functools.lru_cache(maxsize=256)
def _plain(model: str) -> failures.Asked:
    """What most requests ask: a plain answer of this model (one object per model, not per request)."""
    return failures.Asked(model=model)


def session_id_for(conversation_id: str | None, prompt_messages: Sequence, *, account: str) -> str | None:
    """X-Session-ID for GigaChat's prompt cache: stable per account and Dify conversation, else per
    account and leading system prompt (workflow nodes repeat it). `account` is the credentials'
    fingerprint (a keyed hash, never a secret): whether GigaChat scopes its cache by account is not
    documented, so two accounts never share an id. A one-way uuid5: Dify's ids never leave."""
    if conversation_id:
        return _session_uuid(f"{account}:conversation:{conversation_id}")
    first = ensure_prompt_message(prompt_messages[0]) if prompt_messages else None
    if first is not None and first.role == PromptMessageRole.SYSTEM and isinstance(first.content, str) and first.content:
        name = f"{account}:system:{first.content}"
        return _session_uuid(name) if len(name) <= _SESSION_NAMES_KEPT_CHARS else _session_uuid.__wrapped__(name)
    return None


#: Names longer than this (a long system prompt) are not kept: the cache stays within ~2 MB.
_SESSION_NAMES_KEPT_CHARS = 2048


@functools.lru_cache(maxsize=1024)
def _session_uuid(name: str) -> str:
    """The uuid5 of a conversation's (or a system prompt's) name: every turn of a conversation asks
    for the same one, and making it runs the uuid module (~60 us with the caches cold after GigaChat's
    wait, before the request can leave); a lookup costs ~1 us."""
    return str(uuid.uuid5(_SESSION_NS, name))


class FileResolver:
    """Uploads a file part once per content (files.UPLOADS) and returns its GigaChat id.

    ``accepts``: the kinds the model declares (files.accepted_kinds); the converter refuses others
    through files.unaccepted, before anything is uploaded. ``used``: every id handed out, so a
    request whose file GigaChat has dropped can forget exactly those and upload again."""

    def __init__(self, settings: ConnectionSettings, client: GigaChat, accepts: frozenset[str]):
        self.settings, self.client, self.accepts = settings, client, accepts
        self.used: list[str] = []

    def _upload(self, payload: files.FilePayload) -> str:
        uploaded = retry.call_with_retries(
            lambda: self.client.upload_file((payload.filename, payload.data, payload.mime), purpose="general"),
            self.settings.max_retries,
        )
        return uploaded.id_

    def __call__(self, part) -> str:
        refusal = files.unaccepted(part, self.accepts)
        if refusal:
            raise InvokeBadRequestError(refusal)
        file_id = files.UPLOADS.get_or_upload(self.settings.fingerprint, files.load(part), self._upload)
        self.used.append(file_id)
        return file_id

    def forget_gone(self, exc: BaseException) -> bool:
        """When GigaChat answered that a file this request sent is gone (``400 ... file <id> not
        found``: its lifetime ended or it was deleted), forget those ids so the next build uploads
        them again. False when ``exc`` is anything else."""
        if not self.used or failures.classify(exc).kind is not failures.Kind.FILE_GONE:
            return False
        message = failures.api_message(exc)
        gone = [i for i in self.used if i in message] or list(self.used)
        for file_id in set(gone):
            files.UPLOADS.forget(self.settings.fingerprint, file_id)
        logger.info("GigaChat no longer has %d uploaded file(s) of this request; uploading again", len(set(gone)))
        self.used.clear()
        return True


def make_file_resolver(settings: ConnectionSettings, client: GigaChat, accepts: frozenset[str]) -> FileResolver:
    return FileResolver(settings, client, accepts)


def choose_contract(model_parameters: dict) -> ModuleType:
    """Which contract serves this request: v2 when it switches on one of GigaChat's built-in tools
    (``chat/builtin_tools.py``: only v2 offers them), else v1, the proven path every feature of the
    plugin is built and recorded on."""
    if builtin_tools.enabled(model_parameters).any:
        from gigachat_dify.chat.v2 import call as v2  # loaded with the first request that needs it

        return v2
    return v1


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
    asked_for: failures.Asked | None = None,
) -> ChatRequest:
    """``asked_for``: what ``asked(model, model_parameters)`` gave, if the caller has it already."""
    client = get_client(settings)
    contract = choose_contract(model_parameters)
    files.check_request_media(prompt_messages)
    resolver = make_file_resolver(settings, client, accepts_files)

    def build(messages: Sequence, params: Mapping, **options: Any) -> dict[str, Any]:
        return contract.build(model, messages, dict(params), tools, stream, resolver, base_url=settings.base_url,
                              **options)[0]

    payload, names = contract.build(model, prompt_messages, model_parameters, tools, stream, resolver,
                                    base_url=settings.base_url)
    return ChatRequest(model, settings, client, contract, payload, list(prompt_messages), list(stop or []),
                       names, session_id_for(conversation_id, prompt_messages, account=settings.fingerprint),
                       dict(model_parameters), build, function_schemas(tools, names), resolver,
                       asked_for if asked_for is not None else asked(model, model_parameters))


@contextlib.contextmanager
def _session_header(session_id: str | None):
    token = session_id_cvar.set(session_id) if session_id else None
    try:
        yield
    finally:
        if token is not None:
            session_id_cvar.reset(token)


def _images(request: ChatRequest, *, blocking: bool, notes: bool) -> Images:
    """Generated files: downloaded with the shared client and retry policy; each one's id is
    remembered by content hash, so an image sent back later is not uploaded again."""
    client, settings = request.client, request.settings

    def download(file_id: str) -> str:
        return retry.call_with_retries(lambda: client.get_image(file_id), settings.max_retries).content

    def remember(file_id: str, data: bytes, mime: str) -> None:
        payload = files.FilePayload("image", f"{file_id}.{mime.rsplit('/', 1)[-1]}", mime, data)
        files.UPLOADS.get_or_upload(settings.fingerprint, payload, lambda _: file_id)

    return Images(download, remember=remember, cumulative=blocking, notes=notes)


def assembler(request: ChatRequest, *, data: bool = False, blocking: bool = False, collect: bool = False):
    """``blocking``: the answer goes to Dify as one protocol line, so its images share one budget.
    ``data``: the answer is read as data (structured output), so it shows nothing but the answer:
    no reasoning, tool activity, source list or notes beside its images (text after the JSON would
    break it; the links inside it stay). ``collect``: the pieces before the final chunk are kept
    for ``to_result`` instead of becoming chunks (``Assembler.collected``)."""
    return request.contract.Assembler(request.model, request.prompt_messages, request.stop, request.function_names,
                                      argument_schemas=request.argument_schemas, data=data,
                                      images=_images(request, blocking=blocking, notes=not data),
                                      citations=builtin_tools.cite(request.asked.tools), collect=collect)


def final(asm, price: Price, usage: TokenUsage | None = None) -> LLMResultChunk:
    """The last chunk: ``usage`` (default: the assembler's) priced, the usage report and the tool state."""
    usage = usage if usage is not None else asm.usage
    chunk = asm.finish(price(usage))
    body = usage_report(usage, asm.response_model)
    # GigaChat's state of a function-calling step, for Dify versions that return opaque_body with
    # the message in later turns (the tool-call ids carry it too, for those that do not).
    body["gigachat"].update(kept_state(chunk.delta.message.tool_calls))
    chunk.delta.message.opaque_body = body
    return chunk


def _payload(request: ChatRequest, messages: Sequence | None, params: Mapping | None) -> dict[str, Any]:
    if messages is None and params is None:
        return request.payload
    return request.build(request.prompt_messages if messages is None else messages,
                         request.model_parameters if params is None else params)


def _rebuilt_after_lost_files(request: ChatRequest, exc: BaseException, messages, params) -> dict[str, Any] | None:
    """The payload with dropped files uploaded again, when ``exc`` says GigaChat lost some; else None."""
    if request.files is None or request.build is None or not request.files.forget_gone(exc):
        return None
    return request.build(request.prompt_messages if messages is None else messages,
                         request.model_parameters if params is None else params)


def _in_other_form(request: ChatRequest, exc: BaseException, payload: dict[str, Any], messages,
                   params) -> dict[str, Any] | None:
    """The payload in the contract's other form, when ``exc`` may be the host refusing this one
    (v2's function results, ``chat/v2/dialect.py``); else None."""
    options = request.contract.alternative(exc, payload)
    if options is None or request.build is None:
        return None
    return request.build(request.prompt_messages if messages is None else messages,
                         request.model_parameters if params is None else params, **options)


def _attempts(request: ChatRequest, messages, params, run: Callable[[dict[str, Any]], Any]) -> Any:
    """``run(payload)``, and once more after a refusal one rebuilt payload may avoid: files GigaChat
    dropped uploaded again, or function results in the form the host takes. The form of an accepted
    payload is remembered for the host (``contract.accepted``)."""
    payload = _payload(request, messages, params)
    try:
        result = run(payload)
    except Exception as exc:
        retry_payload = _rebuilt_after_lost_files(request, exc, messages, params)
        other_form = retry_payload is None
        if other_form:
            retry_payload = _in_other_form(request, exc, payload, messages, params)
        if retry_payload is None:
            raise
        try:
            result = run(retry_payload)
        except Exception as second:
            if other_form:
                raise request.contract.telling(exc, second) from None
            raise
        payload = retry_payload
    request.contract.accepted(payload, request.settings.base_url)
    return result


def send(request: ChatRequest, messages: Sequence | None = None, params: Mapping | None = None):
    """One blocking answer, retried whole on transient failures, for the request's own messages and
    parameters or for others (``messages``/``params``). Files GigaChat has dropped are uploaded
    again once; function results the host refuses in one form are sent once in the other."""
    def call(payload):
        return retry.call_with_retries(lambda: request.contract.send(request.client, payload), request.settings.max_retries)

    with _session_header(request.session_id):
        return _attempts(request, messages, params, call)


def chunks(request: ChatRequest, messages: Sequence | None = None, params: Mapping | None = None) -> Iterator:
    """The answer's stream chunks, as ``send`` for a stream: reopened after a transient failure, dropped
    files or a refused form only before the first chunk (a repeat would show text twice)."""
    def opened(payload):
        """The stream, its first chunk already received (so a refusal is raised here), or None if empty."""
        stream = retry.stream_with_retries(lambda: request.contract.open_stream(request.client, payload),
                                           request.settings.max_retries)
        first = next(stream, _END)
        return stream, first

    with _session_header(request.session_id):
        stream, first = _attempts(request, messages, params, opened)
        if first is _END:
            return
        yield first
        yield from stream


def complete(request: ChatRequest, price: Price) -> LLMResult:
    """Blocking call; retried whole on transient failures."""
    response = send(request)
    asm = assembler(request, blocking=True, collect=True)
    asm.feed_response(response)
    asm.flush()
    result = to_result(request.model, [final(asm, price)], asm.collected)
    failure = asm.failure(result.message.get_text_content())
    if failure is not None:
        raise failure
    return result


def stream(request: ChatRequest, price: Price) -> Iterator[LLMResultChunk]:
    """Streaming call; reopened after a transient failure only before the first chunk."""
    asm = assembler(request)
    try:
        for chunk in chunks(request):
            yield from asm.feed(chunk)
            if asm.stopped_by_stop_word:
                break  # Dify's stop word reached: stop paying for tokens nobody will see
    except Exception:
        yield from asm.flush()  # text held back (a stop word's or a marker's possible start) is not lost
        raise
    yield from asm.flush()
    failure = asm.failure()
    if failure is not None:
        raise failure  # the text shown so far stays; no final chunk says the answer is complete
    yield final(asm, price)
