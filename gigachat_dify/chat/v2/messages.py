"""The conversation (``chat/conversation.py``) -> v2 messages (content parts), in the form the host takes.

What the conversation means is decided in ``chat/conversation.py``, shared with v1; here it takes
v2's shape: ``content`` is a list of parts (``{"text"}``, ``{"files": [{"id"}]}`` before the
text, ``{"function_call": {"name", "arguments"}}``, ``{"function_result": {"name", "result"}}``)
and a step's state id is echoed as ``tools_state_id`` (the SDK's name; it maps
``tool_state_id`` and ``functions_state_id`` onto it).

Function results have two forms (``chat/v2/dialect.py`` decides which a host takes):

* ``TOOL`` (recorded June 2026 on gigachat.devices.sberbank.ru,
  test_primary_chat_function_tool_roundtrip): each call in an assistant message of its own,
  followed by a ``tool`` message whose result is a JSON object, both with the state id;
* ``FUNCTION`` (live on api.giga.chat, Sep 2026): the step's calls together in one assistant
  message, each with GigaChat's ``id`` where it gave one, then one ``function`` message per
  result whose ``result`` is the JSON string; ``role: "tool"`` is refused there with 400
  "Your request contains invalid JSON syntax.".
"""

from __future__ import annotations

from typing import Any

from gigachat_dify.chat.conversation import Call, Conversation, Message, Result, Step, function_result_value
from gigachat_dify.chat.v2.dialect import FUNCTION, TOOL, ResultForm


def _message(m: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"files": [{"id": m.file_id}]}] if m.file_id else []
    if m.text or not parts:
        parts.append({"text": m.text})
    return {"role": m.role, "content": parts}


def _call(call: Call, with_id: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"name": call.name, "arguments": call.arguments}
    if with_id and call.call_id:
        body["id"] = call.call_id
    return {"function_call": body}


def _assistant(text: str, calls: list[dict[str, Any]], state_id: str | None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": ([{"text": text}] if text else []) + calls}
    if state_id:
        msg["tools_state_id"] = state_id
    return msg


def _result(result: Result, form: ResultForm, state_id: str | None) -> dict[str, Any]:
    if form is FUNCTION:
        return {"role": "function", "content": [{"function_result": {"name": result.name, "result": result.content}}]}
    msg: dict[str, Any] = {"role": "tool",
                           "content": [{"function_result": {"name": result.name, "result": function_result_value(result.content)}}]}
    if state_id:
        msg["tools_state_id"] = state_id
    return msg


def _step(step: Step, form: ResultForm) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if form is FUNCTION:
        out.append(_assistant(step.text, [_call(c, True) for c in step.calls], step.state_id))
        out += [_result(r, form, step.state_id) for r in step.results]
        out += [_message(m) for r in step.results for m in r.followups]
        return out
    for k, (call, result) in enumerate(zip(step.calls, step.results, strict=True)):
        out.append(_assistant(step.text if k == 0 else "", [_call(call, False)], call.state_id))
        out.append(_result(result, TOOL, call.state_id))
        out += [_message(m) for m in result.followups]
    return out


def render(conv: Conversation, form: ResultForm = TOOL) -> list[dict[str, Any]]:
    """v2 message dicts of the conversation, function results in ``form``."""
    out: list[dict[str, Any]] = [{"role": "system", "content": [{"text": conv.system}]}] if conv.system is not None else []
    for turn in conv.turns:
        out += _step(turn, form) if isinstance(turn, Step) else [_message(turn)]
    return out
