"""Dify prompt messages -> v2 messages (content parts).

What a conversation means does not depend on the contract, so the rules stay in one place,
``chat/v1/messages.py`` (one system message first, a function call always followed by its
result, the state id from the tool-call id, files uploaded and split one per message, results
as JSON objects, assistant files as a note). Its output is rewritten here into v2's shape
(recorded June 2026, test_primary_chat_function_tool_roundtrip):

* ``content`` is a list of parts: ``{"text"}``, ``{"files": [{"id"}]}``,
  ``{"function_call": {"name", "arguments"}}``, ``{"function_result": {"name", "result"}}``;
* a function result is a ``tool`` message; the assistant message with the call and the
  ``tool`` message both carry the call's state id as ``tools_state_id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gigachat_dify.chat.v1.messages import convert_messages


def _parts(text: str | None, file_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"files": [{"id": f}]} for f in file_ids]
    if text or not parts:
        parts.append({"text": text or ""})
    return parts


def _result(content: str) -> Any:
    # chat/v1/messages.py already made it a JSON object string (plain text wrapped).
    try:
        return json.loads(content)
    except (TypeError, ValueError):
        return {"result": content}


def from_v1(messages: Sequence[Mapping[str, Any]], system_instruction: str | None = None) -> list[dict[str, Any]]:
    """v1 message dicts (from ``convert_messages``) -> v2 message dicts."""
    out: list[dict[str, Any]] = []
    call_state: str | None = None
    for m in messages:
        role = m["role"]
        if role == "function":
            msg: dict[str, Any] = {
                "role": "tool",
                "content": [{"function_result": {"name": m.get("name") or "", "result": _result(m.get("content"))}}],
            }
            if call_state:
                msg["tools_state_id"] = call_state
        elif role == "assistant":
            parts = _parts(m.get("content")) if m.get("content") or not m.get("function_call") else []
            if m.get("function_call"):
                parts.append({"function_call": dict(m["function_call"])})
            msg = {"role": "assistant", "content": parts}
            call_state = m.get("functions_state_id") if m.get("function_call") else None
            if call_state:
                msg["tools_state_id"] = call_state
        else:  # system, user
            msg = {"role": role, "content": _parts(m.get("content"), m.get("attachments") or ())}
        out.append(msg)
    if system_instruction:
        if out and out[0]["role"] == "system":
            first = out[0]["content"][-1]
            first["text"] = f"{first['text']}\n\n{system_instruction}" if first.get("text") else system_instruction
        else:
            out.insert(0, {"role": "system", "content": [{"text": system_instruction}]})
    return out


def convert(
    prompt_messages: Sequence,
    *,
    resolve_file: Callable | None,
    function_names: Mapping[str, str],
    system_instruction: str | None = None,
) -> list[dict[str, Any]]:
    return from_v1(
        convert_messages(prompt_messages, resolve_file=resolve_file, function_names=function_names),
        system_instruction,
    )
