"""The conversation (``chat/conversation.py``) -> GigaChat v1 chat messages.

What the conversation means is decided in ``chat/conversation.py``, shared with v2; here it takes
v1's shape:

* ``content`` is always a string; a user message's file goes in ``attachments``;
* one ``function_call`` per assistant message (v1 has no parallel calls): a step with several
  calls (made earlier by another model) becomes call 1, result 1, call 2, result 2..., its text
  with the first call; each call echoes its step's state id as ``functions_state_id``;
* a result is a ``function`` message ``{"name", "content": <JSON object string>}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dify_plugin.entities.model.message import PromptMessage

from gigachat_dify.chat import conversation
from gigachat_dify.chat.conversation import (
    MAX_IMAGES_PER_REQUEST,
    NO_RESULT_TEXT,
    Conversation,
    Message,
    ResolveFile,
    function_result_content,
)
from gigachat_dify.chat.tool_calls import TOOL_CALL_ID_PREFIX, make_tool_call_id, parse_tool_call_id

__all__ = [
    "MAX_IMAGES_PER_REQUEST",
    "NO_RESULT_TEXT",
    "TOOL_CALL_ID_PREFIX",
    "convert_messages",
    "function_result_content",
    "make_tool_call_id",
    "parse_tool_call_id",
    "render",
]


def _message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.text}
    if m.file_id:
        out["attachments"] = [m.file_id]
    return out


def render(conv: Conversation) -> list[dict[str, Any]]:
    """v1 message dicts of the conversation."""
    body: list[dict[str, Any]] = [{"role": "system", "content": conv.system}] if conv.system is not None else []
    for turn in conv.turns:
        if isinstance(turn, Message):
            body.append(_message(turn))
            continue
        for k, (call, result) in enumerate(zip(turn.calls, turn.results, strict=True)):
            msg: dict[str, Any] = {"role": "assistant", "content": turn.text if k == 0 else "",
                                   "function_call": {"name": call.name, "arguments": call.arguments}}
            if call.state_id:
                msg["functions_state_id"] = call.state_id
            body.append(msg)
            body.append({"role": "function", "name": result.name, "content": result.content})
            body.extend(_message(m) for m in result.followups)
    return body


def convert_messages(
    prompt_messages: Sequence[PromptMessage | Mapping[str, Any]],
    *,
    resolve_file: ResolveFile | None = None,
    function_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Dify prompt messages as GigaChat v1 message dicts (see ``chat/conversation.read``)."""
    return render(conversation.read(prompt_messages, resolve_file=resolve_file, function_names=function_names))
