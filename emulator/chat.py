"""The v1 contract, POST /chat/completions: request validation, the deterministic "model", response and
stream shapes. A chat_flow.Contract (this module's NAME, validate, check_capabilities,
rank_functions, serialize_messages, complete, response_body, stream_events); v1 is the same on
both hosts (assumed: the live probes were of v2), so the dialect is accepted and not consulted."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator import catalog, ranker
from emulator import finish as rare
from emulator.errors import NO_SUCH_MODEL, ApiError, invalid
from emulator.files import MEDIA_PER_REQUEST_LIMIT, FileStore, kind_of
from emulator.schema_rules import FUNCTION_NAME, functions_problem, make_instance
from emulator.state import ScriptedReply
from emulator.tokens import count_tokens, split_tokens
from emulator.v2_images import make_jpeg, wants_image
from emulator.wire import sse

if TYPE_CHECKING:
    from emulator.dialects import Dialect

NAME = "v1"
ROLES = ("system", "user", "assistant", "function", "search_result", "function_in_progress")
MAX_IMAGES_PER_REQUEST = 10
TOKENS_PER_STREAM_CHUNK = 4
# Prompt accounting calibrated on the recordings: one short user message costs its tokens + 10
# (GigaChat 2, Jan 2026: 17 for 7 tokens), + 6 on GigaChat-3 (Apr 2026: 24 for 18 tokens).
PROMPT_BASE_TOKENS = 6
PROMPT_BASE_TOKENS_GIGACHAT_3 = 2
TOKENS_PER_MESSAGE = 4
TOKENS_PER_ATTACHMENT = 256  # images and binary documents; text files count their text


# ---- validation (pure) --------------------------------------------------------------------------


def validate_model_and_messages(body: Any) -> list:
    """What both contracts check first: a JSON object, a known chat model, messages; the messages."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required")
    if model not in catalog.CHAT_MODELS:
        raise ApiError(404, NO_SUCH_MODEL)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must not be empty")
    return messages


def check_media_totals(images: int, media_bytes: int) -> None:
    """The per-request attachment limits of both contracts (public docs, Oct 2025)."""
    if images > MAX_IMAGES_PER_REQUEST:
        raise invalid(f"too many images in request: {images} (at most {MAX_IMAGES_PER_REQUEST})")
    if media_bytes >= MEDIA_PER_REQUEST_LIMIT:  # the docs: "less than 80 MB"
        raise ApiError(413, "Attachments are too large: images and audio of one request must be under 80 MB")


def validate(body: Any, files: FileStore, dialect: Dialect | None = None, plan: str | None = None) -> None:
    validate_chat(body, files)


def validate_chat(body: Any, files: FileStore) -> None:
    """Raise ApiError for a request the real API rejects; order: model, messages, params, functions."""
    messages = validate_model_and_messages(body)
    _validate_messages(messages)
    _validate_attachments(messages, files)
    _validate_params(body)
    _validate_functions(body)
    ranker.validate(body.get("function_ranker"), "function_ranker")


def _validate_messages(messages: list) -> None:
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise invalid(f"messages[{i}] must be an object")
        if m.get("role") not in ROLES:
            raise invalid(f"messages[{i}].role must be one of: {', '.join(ROLES)}")
        if "content" in m and not isinstance(m["content"], str):
            raise invalid(f"messages[{i}].content must be a string")
        fc = m.get("function_call")
        if fc is not None:
            if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
                raise invalid(f"messages[{i}].function_call must be an object with a name")
            if "arguments" in fc and not isinstance(fc["arguments"], dict):
                raise invalid(f"messages[{i}].function_call.arguments must be an object")
    systems = [i for i, m in enumerate(messages) if m["role"] == "system"]
    if len(systems) > 1:
        raise invalid("only one system message is allowed")
    if systems and systems[0] != 0:
        raise invalid("system message must be the first message")
    for i, m in enumerate(messages):
        if m["role"] == "function":
            try:
                json.loads(m.get("content", ""))
            except (TypeError, ValueError):
                raise invalid("invalid function result: function result must be a json string") from None
        if m["role"] == "assistant" and m.get("function_call"):
            if i + 1 >= len(messages) or messages[i + 1]["role"] != "function":
                # Wording as the gRPC API reports it.
                raise invalid("every assistant function call must have a result in history")


def _validate_attachments(messages: list, files: FileStore) -> None:
    images = 0
    media_bytes = 0
    for i, m in enumerate(messages):
        attachments = m.get("attachments")
        if attachments is None:
            continue
        if not isinstance(attachments, list) or not all(isinstance(a, str) for a in attachments):
            raise invalid(f"messages[{i}].attachments must be a list of file ids")
        if not attachments:
            continue
        if m["role"] != "user":
            raise invalid(f"attachments are allowed only in user messages (messages[{i}] is {m['role']})")
        in_message = 0
        for file_id in attachments:
            stored = files.get(file_id)
            if stored is None:
                raise invalid(f"file {file_id} not found", status=400)
            kind = kind_of(stored.mime)
            if kind == "image":
                in_message += 1
            if kind in ("image", "audio"):
                media_bytes += len(stored.data)
        if in_message > 1:
            raise invalid(f"only one image per message is allowed (messages[{i}] has {in_message})")
        images += in_message
    check_media_totals(images, media_bytes)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_params(body: dict) -> None:
    # Wording follows the recorded "Invalid params: repetition_penalty must be in range (0, +inf)".
    ranges = {
        "temperature": ("(0, +inf)", lambda v: v > 0),
        "top_p": ("[0, 1]", lambda v: 0 <= v <= 1),
        "repetition_penalty": ("(0, +inf)", lambda v: v > 0),
        "update_interval": ("[0, +inf)", lambda v: v >= 0),
    }
    for name, (text, ok) in ranges.items():
        if body.get(name) is not None and (not _is_number(body[name]) or not ok(body[name])):
            raise invalid(f"{name} must be in range {text}")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise invalid("max_tokens must be in range [1, +inf)")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise invalid("stream must be a boolean")
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in ("low", "medium", "high"):
        raise invalid("reasoning_effort must be one of: low, medium, high")
    fmt = body.get("response_format")
    if fmt is not None:
        if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str):
            raise invalid("response_format must be an object with a type")
        if fmt["type"] == "json_schema" and not isinstance(fmt.get("schema"), dict):
            raise invalid("response_format.schema must be a JSON Schema object")


def _validate_functions(body: dict) -> None:
    functions = body.get("functions")
    names: list[str] = []
    if functions is not None:
        if not isinstance(functions, list):
            raise invalid("functions must be a list")
        for i, f in enumerate(functions):
            if not isinstance(f, dict):
                raise invalid(f"functions[{i}] must be an object")
            name = f.get("name")
            if not isinstance(name, str) or not FUNCTION_NAME.match(name):
                raise invalid(f"functions[{i}].name {name!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$")
            names.append(name)
        problem = functions_problem(functions)
        if problem:
            raise invalid(problem)
    fc = body.get("function_call")
    if fc is None or fc in ("auto", "none"):
        return
    if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
        raise invalid('function_call must be "auto", "none" or {"name": ...}')
    if names and fc["name"] not in names:
        raise invalid(f"function_call.name {fc['name']!r} is not among the functions")


def attachment_kinds(messages: list[dict], files: FileStore) -> set[str]:
    """Kinds ("image", "document", "audio") of the files attached to a validated request."""
    return {kind_of(files.get(a).mime) for m in messages for a in m.get("attachments") or () if files.get(a)} - {None}


def check_capabilities(body: dict, capabilities, files: FileStore | None = None) -> None:
    """Refuse what this host does not offer for the model (after validation, as the API does)."""
    model = body["model"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        capabilities.check("json_schema", model)
    if body.get("reasoning_effort") is not None:
        capabilities.check("reasoning", model)
    if files is not None and "audio" in attachment_kinds(body["messages"], files):
        capabilities.check("audio", model)


def rank_functions(body: dict) -> tuple[dict, list[str] | None]:
    """The request as the model sees it after `function_ranker` (emulator/ranker.py), and the names
    it kept (None: no ranking)."""
    fc = body.get("function_call")
    forced = fc.get("name") if isinstance(fc, dict) else None
    question = (_last_user(body["messages"]) or {}).get("content") or ""
    kept = ranker.select(body.get("functions") or [], question, body.get("function_ranker"), forced)
    if not body.get("functions") or kept is None:
        return body, kept
    return {**body, "functions": kept}, [f["name"] for f in kept]


# ---- the deterministic model ----------------------------------------------------------------------


@dataclass
class Completion:
    content: str
    finish_reason: str
    usage: dict
    reasoning_content: str | None = None
    function_call: dict | None = None
    functions_state_id: str | None = None
    chunks: list[str] | None = None  # stream split of `content`


def serialize_messages(messages: list[dict]) -> list[str]:
    return [json.dumps(m, sort_keys=True, ensure_ascii=False) for m in messages]


def message_tokens(m: dict, files: FileStore) -> int:
    n = TOKENS_PER_MESSAGE + count_tokens(m.get("content") or "")
    if m.get("function_call"):
        n += count_tokens(json.dumps(m["function_call"], ensure_ascii=False))
    for file_id in m.get("attachments") or []:
        stored = files.get(file_id)
        if stored is not None and stored.mime == "text/plain":
            n += count_tokens(stored.data.decode("utf-8", "replace"))
        else:
            n += TOKENS_PER_ATTACHMENT
    return n


def prompt_tokens(body: dict, files: FileStore) -> int:
    base = PROMPT_BASE_TOKENS_GIGACHAT_3 if catalog.is_gigachat_3(body["model"]) else PROMPT_BASE_TOKENS
    n = base + sum(message_tokens(m, files) for m in body["messages"])
    if body.get("functions"):
        n += count_tokens(json.dumps(body["functions"], ensure_ascii=False))
    return n


def precached_tokens(messages: list[dict], previous: list[str], files: FileStore) -> int:
    """Tokens of the longest common message prefix with the session's previous request."""
    n = 0
    for m, current, before in zip(messages, serialize_messages(messages), previous):
        if current != before:
            break
        n += message_tokens(m, files)
    return n


def _last_user(messages: list[dict]) -> dict | None:
    return next((m for m in reversed(messages) if m.get("role") == "user"), None)


def _pick_function(body: dict, user_text: str) -> dict:
    functions = body["functions"]
    fc = body.get("function_call")
    if isinstance(fc, dict):
        return next((f for f in functions if f["name"] == fc["name"]), {"name": fc["name"]})
    text = user_text.casefold()
    return next((f for f in functions if f["name"].casefold() in text), functions[0])


def _function_name_of_result(messages: list[dict]) -> str:
    last = messages[-1]
    if last.get("name"):
        return last["name"]
    for m in reversed(messages[:-1]):
        if m.get("function_call"):
            return m["function_call"].get("name", "")
    return ""


def attachment_line(file_id: str, stored: Any) -> str:
    digest = hashlib.sha256(stored.data).hexdigest()
    return f"Attachment {file_id} {stored.filename} {stored.mime} {len(stored.data)} bytes sha256={digest}"


def _text2image(body: dict) -> bool:
    """Built-in text2image is offered with function_call "auto" and no functions, or functions naming it (docs)."""
    functions = body.get("functions") or []
    return body.get("function_call") == "auto" and (not functions or any(f.get("name") == "text2image" for f in functions))


def _compose(body: dict, files: FileStore) -> tuple[str, dict | None]:
    """(content, function_call) by the rules, in priority order (scripted replies come first elsewhere)."""
    messages = body["messages"]
    last = messages[-1]
    user = _last_user(messages)
    user_text = (user or {}).get("content", "") or ""
    if _text2image(body) and last.get("role") == "user" and wants_image(user_text):
        # v1's built-in text2image: the file id in an <img> tag, the bytes at /files/{id}/content.
        file_id = files.add("image.jpg", make_jpeg(user_text), "general", "image/jpeg")
        return f'<img src="{file_id}" fuse="true"/> Here is the image you asked for.', None
    if body.get("functions") and body.get("function_call") != "none" and last.get("role") == "user":
        function = _pick_function(body, user_text)
        params = function.get("parameters")
        arguments = make_instance(params, required_only=True) if isinstance(params, dict) else {}
        return "", {"name": function["name"], "arguments": arguments or {}}
    if last.get("role") == "function":
        return f"Function {_function_name_of_result(messages)} returned: {last.get('content', '')}", None
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return json.dumps(make_instance(fmt["schema"]), ensure_ascii=False, indent=4), None
    lines = [attachment_line(a, files.get(a)) for a in (user or {}).get("attachments") or [] if files.get(a)]
    lines.append(f"Echo: {user_text}")
    return "\n".join(lines), None


def _finished_early(body: dict, reason: str) -> tuple[str, dict | None]:
    """(content, function_call) of an answer that ends with a rare reason (emulator/finish.py)."""
    if rare.is_function_error(reason):
        if not body.get("functions"):
            return "", None
        function = _pick_function(body, (_last_user(body["messages"]) or {}).get("content") or "")
        params = function.get("parameters")
        return "", rare.bad_call(function, make_instance(params, required_only=True) if isinstance(params, dict) else {})
    return rare.refusal_text(reason), None


def complete(body: dict, files: FileStore, scripted: ScriptedReply | None, previous: list[str],
             dialect: Dialect | None = None, finish_reason: str | None = None) -> Completion:
    """The reply to a validated request. `previous`: the session's previous messages (caching);
    `finish_reason`: a rare reason it must end with (faults.finish), v1's name for it."""
    reasoning = None
    chunks = None
    usage_override: dict = {}
    if finish_reason is not None:
        content, function_call = _finished_early(body, finish_reason)
        finish = finish_reason
    elif scripted is not None:
        if len(scripted.calls()) > 1:
            raise invalid(f"emulator: the scripted reply has {len(scripted.calls())} function calls, "
                          "a v1 answer carries one (send it to the v2 contract)")
        content = scripted.content if scripted.content or not scripted.chunks else "".join(scripted.chunks)
        function_call = (scripted.calls() or [None])[0]
        reasoning = scripted.reasoning_content
        chunks = scripted.chunks
        finish = scripted.finish_reason
        usage_override = scripted.usage or {}
    else:
        content, function_call = _compose(body, files)
        finish = None
    if finish is None:
        finish = "function_call" if function_call else "stop"

    max_tokens = body.get("max_tokens")
    if max_tokens and not function_call and finish_reason is None:
        pieces = split_tokens(content)
        if len(pieces) > max_tokens:
            content = "".join(pieces[:max_tokens])
            finish = "length"
            chunks = None

    completion_tokens = count_tokens(content) + count_tokens(reasoning or "")
    if function_call:
        completion_tokens += count_tokens(json.dumps(function_call, ensure_ascii=False))
    prompt = prompt_tokens(body, files)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "precached_prompt_tokens": min(prompt, precached_tokens(body["messages"], previous, files)),
    }
    usage.update(usage_override)
    if "total_tokens" not in usage_override:
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return Completion(
        content=content,
        finish_reason=finish,
        usage=usage,
        reasoning_content=reasoning,
        function_call=function_call,
        functions_state_id=str(uuid.uuid4()) if function_call else None,
        chunks=chunks,
    )


# ---- wire shapes --------------------------------------------------------------------------------


def response_body(answer: Completion, model: str) -> dict:
    message: dict[str, Any] = {"content": answer.content, "role": "assistant"}
    if answer.reasoning_content is not None:
        message["reasoning_content"] = answer.reasoning_content
    if answer.function_call is not None:
        message["function_call"] = answer.function_call
        message["functions_state_id"] = answer.functions_state_id
    return {
        "choices": [{"message": message, "index": 0, "finish_reason": answer.finish_reason}],
        "created": int(time.time()),
        "model": catalog.versioned(model),
        "object": catalog.completion_object(model),
        "usage": answer.usage,
    }


def _groups(text: str) -> list[str]:
    pieces = split_tokens(text)
    return ["".join(pieces[i : i + TOKENS_PER_STREAM_CHUNK]) for i in range(0, len(pieces), TOKENS_PER_STREAM_CHUNK)]


def stream_chunks(c: Completion, model: str) -> list[dict]:
    """The data events of a stream: reasoning deltas, content deltas (the first carries the role),
    then a last chunk with finish_reason and usage (a function call arrives whole in it)."""
    deltas: list[dict] = [{"reasoning_content": p} for p in _groups(c.reasoning_content or "")]
    deltas += [{"content": p} for p in (c.chunks if c.chunks is not None else _groups(c.content)) if p]
    last: dict[str, Any] = {"content": ""}
    if c.function_call is not None:
        last["function_call"] = c.function_call
        last["functions_state_id"] = c.functions_state_id
    if deltas:
        deltas[0]["role"] = "assistant"
    else:
        last["role"] = "assistant"
    created = int(time.time())
    name = catalog.versioned(model)

    def chunk(delta: dict, final: bool) -> dict:
        choice: dict[str, Any] = {"delta": delta, "index": 0}
        if final:
            choice["finish_reason"] = c.finish_reason
        out: dict[str, Any] = {"choices": [choice], "created": created, "model": name, "object": "chat.completion"}
        if final:
            out["usage"] = c.usage
        return out

    return [chunk(d, False) for d in deltas] + [chunk(last, True)]


def stream_events(answer: Completion, model: str, dialect: Dialect | None = None) -> list[bytes]:
    """The stream as sent: a data event per chunk, then [DONE]."""
    return [sse(chunk) for chunk in stream_chunks(answer, model)] + [b"data: [DONE]\n\n"]
