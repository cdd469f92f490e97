"""Dify prompt messages -> the conversation GigaChat is told, whatever the contract.

What a conversation means does not depend on the contract, so its rules are decided here once and
each contract renders the result in its own shape (``chat/v1/messages.py``, ``chat/v2/messages.py``):

* one system text, first: system and developer messages found later (e.g. instructions an agent
  strategy adds between turns) are merged into it, in order (GigaChat accepts a single system
  message and only as the first one: 422 otherwise);
* files only in user messages, one per message (GigaChat reads one image per message and only the
  first document): a message with several files becomes consecutive user messages, labelled
  "[Attachment i of n ...]", the text on the last; at most 10 images per request; files are
  uploaded once through ``resolve_file`` (``files.py``), this module never touches the network;
* an assistant's files (e.g. an image GigaChat generated) are never sent: a note replaces them;
* a step of the agent loop (``Step``): the assistant's text, its function calls, and each call's
  result, matched by Dify's tool-call id (or, without ids, the tool messages that follow), as a
  JSON-object string (GigaChat refuses other results); a call without a result gets one saying
  so (GigaChat refuses a call without a result); a result without a call becomes user text;
* GigaChat's state ids and call ids come back from the tool-call ids Dify keeps
  (``tool_calls.py``), or from the assistant message's ``opaque_body`` where Dify returns it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    MultiModalPromptMessageContent,
    PromptMessage,
    PromptMessageRole,
    TextPromptMessageContent,
    ToolPromptMessage,
    ensure_prompt_message,
)
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.chat.files import file_kind, unaccepted
from gigachat_dify.chat.tool_calls import CallRef, read_state, read_tool_call_id
from gigachat_dify.chat.tool_schema import gigachat_function_name

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_REQUEST = 10
#: Content of the synthetic result added for a function call that has no result in history.
NO_RESULT_TEXT = "No result was returned for this function call."

#: Uploads a file part and returns its GigaChat id; its ``accepts`` attribute holds the file kinds
#: the model takes (``files.accepted_kinds``). None: the model takes no files.
ResolveFile = Callable[[MultiModalPromptMessageContent], str]


@dataclass(frozen=True)
class Message:
    """A system, user or assistant message: text and at most one uploaded file (user only)."""

    role: str  # system | user | assistant
    text: str
    file_id: str | None = None


@dataclass(frozen=True)
class Call:
    name: str  # the GigaChat function name
    arguments: dict[str, Any]
    state_id: str | None = None  # GigaChat's state id of the step that made the call
    call_id: str | None = None  # GigaChat's id of this call, where the host gives one


@dataclass(frozen=True)
class Result:
    name: str
    content: str  # a JSON object, as a string
    followups: tuple[Message, ...] = ()  # files the tool returned, as user messages after it


@dataclass(frozen=True)
class Step:
    """An assistant turn that called functions, and their results in call order."""

    text: str
    calls: tuple[Call, ...]
    results: tuple[Result, ...]

    @property
    def state_id(self) -> str | None:
        return next((c.state_id for c in self.calls if c.state_id), None)


Turn = Message | Step


@dataclass
class Conversation:
    system: str | None
    turns: list[Turn] = field(default_factory=list)

    @property
    def ends_with_question(self) -> bool:
        return bool(self.turns) and isinstance(self.turns[-1], Message) and self.turns[-1].role == "user"


# --------------------------------------------------------------------------- helpers


def join_text(parts: Sequence[str]) -> str:
    """Join text parts; a newline is added only where neither side already has whitespace
    (parts of one sentence split around an inline file stay one sentence)."""
    out = ""
    for p in parts:
        if not p:
            continue
        if out and not out[-1].isspace() and not p[0].isspace():
            out += "\n"
        out += p
    return out


def split_content(content: Any) -> tuple[str, list[MultiModalPromptMessageContent]]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    files: list[MultiModalPromptMessageContent] = []
    for part in content:
        if isinstance(part, TextPromptMessageContent):
            texts.append(part.data)
        elif isinstance(part, MultiModalPromptMessageContent):
            files.append(part)
        else:  # unknown content type: keep whatever text it has rather than dropping it
            data = getattr(part, "data", None)
            if isinstance(data, str):
                texts.append(data)
    return join_text(texts), files


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_loads(text: str) -> Any:
    """Strict JSON: Python's NaN/Infinity extensions are rejected (the API cannot parse them).
    JSON nested deeper than the interpreter's recursion limit is a ValueError too: a tool may return
    anything, and text that cannot be read as JSON is sent as text."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def parse_arguments(arguments: str | None) -> dict[str, Any]:
    """Dify keeps arguments as a JSON string; GigaChat wants an object."""
    if arguments is None or not arguments.strip():
        return {}
    try:
        value = _json_loads(arguments)
    except (TypeError, ValueError):
        return {"raw": arguments}
    if isinstance(value, dict):
        return value
    return {"value": value}


def function_result_content(content: str) -> str:
    """A tool result as the JSON-object string GigaChat requires.

    A JSON object is kept byte for byte; any other JSON value is wrapped as ``{"result": value}``;
    plain text (also JSON too deeply nested to read) becomes ``{"result": text}``."""
    text = content or ""
    value, own = _result_object(text)
    return text if own else json.dumps(value, ensure_ascii=False)


def function_result_value(content: str) -> dict[str, Any]:
    """The object of ``function_result_content``'s text, for v2 (which sends it as an object)."""
    return _result_object(content)[0]


def _result_object(text: str) -> tuple[dict[str, Any], bool]:
    """(the object GigaChat gets for a tool result, whether it is the text's own JSON object)."""
    try:
        value = _json_loads(text)
    except (TypeError, ValueError):
        return {"result": text}, False
    return (value, True) if isinstance(value, dict) else ({"result": value}, False)


def _check_request_files(messages: Sequence[PromptMessage], resolve_file: ResolveFile | None) -> None:
    """Fail fast, before anything is uploaded, on files GigaChat or this model cannot take."""
    accepts = getattr(resolve_file, "accepts", frozenset())
    images = 0
    for m in messages:
        if isinstance(m.content, str) or not m.content or m.role == PromptMessageRole.ASSISTANT:
            continue  # an assistant's files (e.g. an image GigaChat generated) are never sent: a note replaces them
        for part in m.content:
            if not isinstance(part, MultiModalPromptMessageContent):
                continue
            refusal = unaccepted(part, accepts)
            if refusal:
                raise InvokeBadRequestError(refusal)
            images += file_kind(part) == "image"
    if images > MAX_IMAGES_PER_REQUEST:
        raise InvokeBadRequestError(
            f"The request contains {images} images; GigaChat accepts at most "
            f"{MAX_IMAGES_PER_REQUEST} images per request (including images earlier in the "
            "conversation). Send fewer images or shorten the conversation memory."
        )


def _user_messages(text: str, files: list[MultiModalPromptMessageContent], resolve_file: ResolveFile | None) -> list[Message]:
    """One user message per attachment; the text goes on the LAST one.

    GigaChat reads one image per message (and only the first document), so a message with several
    files is split into consecutive user messages. The text (usually the question about the files)
    is put last so the model sees every file before the question, the usual order for vision
    prompts; each split message is labelled "[Attachment i of n ...]" so the question can refer to
    "the first/second image" and no message has empty content."""
    if not files:
        return [Message("user", text)]
    if resolve_file is None:  # unreachable: _check_request_files refused every file already
        raise InvokeBadRequestError("This model does not support files in messages.")
    ids = [resolve_file(f) for f in files]
    if len(files) == 1:
        return [Message("user", text, ids[0])]
    n = len(files)
    out: list[Message] = []
    for i, (part, file_id) in enumerate(zip(files, ids, strict=True), start=1):
        detail = file_kind(part) + (f", {part.filename}" if part.filename else "")
        label = f"[Attachment {i} of {n} ({detail})]"
        out.append(Message("user", label if i < n or not text else f"{label}\n{text}", file_id))
    return out


def _system_text(m: PromptMessage) -> str:
    text, files = split_content(m.content)
    if files:
        raise InvokeBadRequestError(
            "GigaChat accepts files only in user messages, but the system prompt contains a file. "
            "Move the file to the user message."
        )
    return text


def _assistant_text(m: PromptMessage) -> str:
    text, files = split_content(m.content)
    if files:
        # GigaChat assistant messages carry no attachments: keep a visible trace instead.
        names = ", ".join(f"{file_kind(f)} {f.filename}".strip() for f in files)
        logger.info("assistant history message had %d file(s); replaced by a text note", len(files))
        text = join_text([text, f"[Files sent earlier in this conversation: {names}]"])
    return text


# --------------------------------------------------------------------------- reading


def read(
    prompt_messages: Sequence[PromptMessage | Mapping[str, Any]],
    *,
    resolve_file: ResolveFile | None = None,
    function_names: Mapping[str, str] | None = None,
    instruction: str | None = None,
) -> Conversation:
    """The conversation of Dify's prompt messages (see the module docstring).

    :param resolve_file: uploads an image/document part and returns its GigaChat file id; None
        when the model takes no files (a file then raises ``InvokeBadRequestError``).
    :param function_names: ``{gigachat_name: dify_name}`` of the request's functions; calls in
        history are named as the request's functions are.
    :param instruction: appended to the system text (the JSON-object instruction).
    """
    messages = [ensure_prompt_message(m) for m in prompt_messages]
    _check_request_files(messages, resolve_file)
    to_giga = {dify: giga for giga, dify in (function_names or {}).items()}

    def giga_name(dify_name: str) -> str:
        return to_giga.get(dify_name) or gigachat_function_name(dify_name)

    system_parts: list[str] = []
    turns: list[Turn] = []
    consumed: set[int] = set()

    def result_of(result: ToolPromptMessage, name: str) -> Result:
        text, files = split_content(result.content)
        # A function result takes no attachments: files a tool returned follow as user messages.
        followups = _user_messages(f"Files returned by the function {name}.", files, resolve_file) if files else []
        return Result(name, function_result_content(text), tuple(followups))

    def find_result(start: int, call_id: str) -> int | None:
        if call_id:
            for j in range(start, len(messages)):
                m = messages[j]
                if j not in consumed and m.role == PromptMessageRole.TOOL and getattr(m, "tool_call_id", "") == call_id:
                    return j
            return None
        # No id to match: take the next unconsumed tool message directly following the call.
        for j in range(start, len(messages)):
            m = messages[j]
            if m.role != PromptMessageRole.TOOL:
                return None
            if j not in consumed:
                return j
        return None

    for i, m in enumerate(messages):
        role = m.role
        if role in (PromptMessageRole.SYSTEM, PromptMessageRole.DEVELOPER):
            text = _system_text(m)
            if text.strip():
                system_parts.append(text)
        elif role == PromptMessageRole.USER:
            text, files = split_content(m.content)
            turns.extend(_user_messages(text, files, resolve_file))
        elif role == PromptMessageRole.ASSISTANT:
            text = _assistant_text(m)
            tool_calls = list(m.tool_calls) if isinstance(m, AssistantPromptMessage) else []
            if not tool_calls:
                turns.append(Message("assistant", text))
                continue
            kept = read_state(getattr(m, "opaque_body", None))
            calls, results = [], []
            for k, tool_call in enumerate(tool_calls):
                name = giga_name(tool_call.function.name)
                ref = read_tool_call_id(tool_call.id) or CallRef(None)
                state_id = ref.state_id or kept.state_id
                call_id = ref.call_id or (kept.call_ids[k] if k < len(kept.call_ids) else None)
                calls.append(Call(name, parse_arguments(tool_call.function.arguments), state_id, call_id))
                j = find_result(i + 1, tool_call.id)
                if j is None:
                    # The API rejects a function call without a result. A synthetic result saying
                    # so keeps the call (and what the model did) in the history.
                    logger.warning("function call %s has no result in history; a 'no result' result is added", name)
                    results.append(Result(name, json.dumps({"result": NO_RESULT_TEXT})))
                else:
                    consumed.add(j)
                    results.append(result_of(messages[j], name))  # type: ignore[arg-type]
            turns.append(Step(text, tuple(calls), tuple(results)))
        elif role == PromptMessageRole.TOOL:
            if i in consumed:
                continue
            # A result with no matching call before it cannot be a function result (it needs the
            # preceding call). It becomes user text so nothing is lost.
            tool_call_id = getattr(m, "tool_call_id", "") or ""
            text, files = split_content(m.content)
            label = ", ".join(x for x in (m.name or "", tool_call_id) if x)
            logger.warning("tool result without a matching function call; sent as user text")
            turns.extend(_user_messages(f"Tool result ({label}): {text}" if label else f"Tool result: {text}",
                                        files, resolve_file))
        else:  # pragma: no cover - PromptMessageRole has no other members today
            text, files = split_content(m.content)
            turns.extend(_user_messages(text, files, resolve_file))

    if not turns and not system_parts:
        # GigaChat answers 422 "messages must not be empty": say so before the call, in Dify's terms.
        raise InvokeBadRequestError(
            "The prompt is empty: there is no message to send to GigaChat (a blank system prompt is "
            "left out). Add a user message or a system prompt."
        )
    if instruction:
        system_parts.append(instruction)
    return Conversation("\n\n".join(system_parts) if system_parts else None, turns)
