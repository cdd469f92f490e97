"""Dify prompt messages -> GigaChat v1 chat messages.

GigaChat's v1 contract is stricter than OpenAI's and this module is where every difference is
absorbed:

* exactly one system message, and it must be the first one (else 422 "system message must be
  the first message");
* at most one image per message, at most 10 images per request, and only the first text document
  of a message is read;
* one ``function_call`` per assistant message (no parallel calls), each followed by its
  ``function`` result, whose ``content`` must be a JSON string (else 422);
* ``functions_state_id`` must be echoed with the assistant message that carried it;
* ``content`` is always a string.

Files are turned into GigaChat file ids by a ``resolve_file`` callback (``files.py`` uploads and
caches them); this module never touches the network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
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
from gigachat_dify.chat.tool_calls import TOOL_CALL_ID_PREFIX, make_tool_call_id, parse_tool_call_id
from gigachat_dify.chat.tool_schema import gigachat_function_name

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_IMAGES_PER_REQUEST",
    "NO_RESULT_TEXT",
    "TOOL_CALL_ID_PREFIX",
    "convert_messages",
    "function_result_content",
    "make_tool_call_id",
    "parse_tool_call_id",
]

MAX_IMAGES_PER_REQUEST = 10
#: Content of the synthetic result added for a function call that has no result in history.
NO_RESULT_TEXT = "No result was returned for this function call."

#: Uploads a file part and returns its GigaChat id; its ``accepts`` attribute holds the file kinds
#: the model takes (``files.accepted_kinds``). None: the model takes no files.
ResolveFile = Callable[[MultiModalPromptMessageContent], str]


# --------------------------------------------------------------------------- helpers


def _join_text(parts: Sequence[str]) -> str:
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


def _split_content(content: Any) -> tuple[str, list[MultiModalPromptMessageContent]]:
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
    return _join_text(texts), files


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_loads(text: str) -> Any:
    """Strict JSON: Python's NaN/Infinity extensions are rejected (the API cannot parse them)."""
    return json.loads(text, parse_constant=_reject_constant)


def _parse_arguments(arguments: str | None) -> dict[str, Any]:
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
    """A tool result as the JSON-object string GigaChat requires for ``function`` messages.

    A JSON object is kept byte for byte; any other JSON value is wrapped as ``{"result": value}``;
    plain text becomes ``{"result": text}``."""
    text = content or ""
    try:
        value = _json_loads(text)
    except (TypeError, ValueError):
        return json.dumps({"result": text}, ensure_ascii=False)
    if isinstance(value, dict):
        return text
    return json.dumps({"result": value}, ensure_ascii=False)


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


def _user_messages(text: str, files: list[MultiModalPromptMessageContent], resolve_file: ResolveFile | None) -> list[dict]:
    """One user message per attachment; the text goes on the LAST one.

    GigaChat reads one image per message (and only the first document), so a message with several
    files is split into consecutive user messages. The text (usually the question about the files)
    is put last so the model sees every file before the question, the usual order for vision
    prompts; each split message is labelled "[Attachment i of n ...]" so the question can refer to
    "the first/second image" and no message has empty content."""
    if not files:
        return [{"role": "user", "content": text}]
    if resolve_file is None:  # unreachable: _check_request_files refused every file already
        raise InvokeBadRequestError("This model does not support files in messages.")
    ids = [resolve_file(f) for f in files]
    if len(files) == 1:
        return [{"role": "user", "content": text, "attachments": [ids[0]]}]
    n = len(files)
    out: list[dict] = []
    for i, (part, file_id) in enumerate(zip(files, ids, strict=True), start=1):
        detail = file_kind(part) + (f", {part.filename}" if part.filename else "")
        label = f"[Attachment {i} of {n} ({detail})]"
        content = label if i < n or not text else f"{label}\n{text}"
        out.append({"role": "user", "content": content, "attachments": [file_id]})
    return out


def _system_text(m: PromptMessage) -> str:
    text, files = _split_content(m.content)
    if files:
        raise InvokeBadRequestError(
            "GigaChat accepts files only in user messages, but the system prompt contains a file. "
            "Move the file to the user message."
        )
    return text


def _assistant_text(m: PromptMessage) -> str:
    text, files = _split_content(m.content)
    if files:
        # GigaChat assistant messages carry no attachments: keep a visible trace instead.
        names = ", ".join(f"{file_kind(f)} {f.filename}".strip() for f in files)
        logger.info("assistant history message had %d file(s); replaced by a text note", len(files))
        text = _join_text([text, f"[Files sent earlier in this conversation: {names}]"])
    return text


# --------------------------------------------------------------------------- conversion


def convert_messages(
    prompt_messages: Sequence[PromptMessage | Mapping[str, Any]],
    *,
    resolve_file: ResolveFile | None = None,
    function_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Convert Dify prompt messages into GigaChat v1 message dicts (see the module docstring).

    :param resolve_file: uploads an image/document part and returns its GigaChat file id; None
        when the model takes no files (a file then raises ``InvokeBadRequestError``).
    :param function_names: ``{gigachat_name: dify_name}`` from ``build_function_names``; used to
        name function calls in history with the same names the request's functions use.
    """
    messages = [ensure_prompt_message(m) for m in prompt_messages]
    _check_request_files(messages, resolve_file)
    to_giga = {dify: giga for giga, dify in (function_names or {}).items()}

    def giga_name(dify_name: str) -> str:
        return to_giga.get(dify_name) or gigachat_function_name(dify_name)

    system_parts: list[str] = []
    body: list[dict[str, Any]] = []
    consumed: set[int] = set()

    def tool_result_messages(result: ToolPromptMessage, name: str) -> list[dict]:
        text, files = _split_content(result.content)
        out: list[dict] = [{"role": "function", "name": name, "content": function_result_content(text)}]
        if files:
            # A function message takes no attachments: files a tool returned follow as user messages.
            out.extend(_user_messages(f"Files returned by the function {name}.", files, resolve_file))
        return out

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
            # GigaChat accepts a single system message and only as the first message (else 422).
            # System/developer messages found later in the conversation (e.g. instructions added
            # by an agent strategy between turns) are merged, in order, into that leading system
            # message: their instructions keep system authority and nothing is lost, at the cost
            # of their position in the conversation.
            text = _system_text(m)
            if text.strip():
                system_parts.append(text)
        elif role == PromptMessageRole.USER:
            text, files = _split_content(m.content)
            body.extend(_user_messages(text, files, resolve_file))
        elif role == PromptMessageRole.ASSISTANT:
            text = _assistant_text(m)
            calls = list(m.tool_calls) if isinstance(m, AssistantPromptMessage) else []
            if not calls:
                body.append({"role": "assistant", "content": text})
                continue
            # One function_call per assistant message: several calls (made earlier by another model)
            # become call 1, result 1, call 2, result 2... Any text goes with the first call.
            for k, call in enumerate(calls):
                name = giga_name(call.function.name)
                msg: dict[str, Any] = {
                    "role": "assistant",
                    "content": text if k == 0 else "",
                    "function_call": {"name": name, "arguments": _parse_arguments(call.function.arguments)},
                }
                state_id = parse_tool_call_id(call.id)
                if state_id:
                    msg["functions_state_id"] = state_id
                body.append(msg)
                j = find_result(i + 1, call.id)
                if j is None:
                    # The API rejects a function call without a result. A synthetic result saying
                    # so keeps the call (and what the model did) in the history.
                    logger.warning("function call %s has no result in history; a 'no result' result is added", name)
                    body.append({"role": "function", "name": name, "content": json.dumps({"result": NO_RESULT_TEXT})})
                else:
                    consumed.add(j)
                    body.extend(tool_result_messages(messages[j], name))  # type: ignore[arg-type]
        elif role == PromptMessageRole.TOOL:
            if i in consumed:
                continue
            # A result with no matching call before it cannot be a GigaChat function message (it
            # needs the preceding function_call). It becomes user text so nothing is lost.
            tool_call_id = getattr(m, "tool_call_id", "") or ""
            text, files = _split_content(m.content)
            label = ", ".join(x for x in (m.name or "", tool_call_id) if x)
            logger.warning("tool result without a matching function call; sent as user text")
            body.extend(_user_messages(f"Tool result ({label}): {text}" if label else f"Tool result: {text}", files, resolve_file))
        else:  # pragma: no cover - PromptMessageRole has no other members today
            text, files = _split_content(m.content)
            body.extend(_user_messages(text, files, resolve_file))

    if system_parts:
        body.insert(0, {"role": "system", "content": "\n\n".join(system_parts)})
    if not body:
        # GigaChat answers 422 "messages must not be empty": say so before the call, in Dify's terms.
        raise InvokeBadRequestError(
            "The prompt is empty: there is no message to send to GigaChat (a blank system prompt is "
            "left out). Add a user message or a system prompt."
        )
    return body
