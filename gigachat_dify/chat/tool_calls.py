"""GigaChat's state of a function-calling step, carried through Dify's history (both contracts).

GigaChat wants the state id of a step echoed on the next turn (``functions_state_id`` on v1,
``tools_state_id`` on v2), and on api.giga.chat each function call of an answer has an ``id``
of its own. Dify keeps two things of an assistant message that can carry them back:

* every tool call's id: ``gcfs_<state id>`` or ``gcfs_<state id>~<call id>`` (what older
  versions of the plugin sent, and every Dify version keeps); the call id also makes the ids of
  parallel calls of one step distinct, which Dify needs to match each result to its call;
* the message's ``opaque_body`` (dify_plugin >= 0.10): ``{"gigachat": {"tool_state": {"id",
  "call_ids"}}}``, which survives a history whose tool-call ids were replaced (Dify rebuilds
  agent history with fresh uuid4 ids in some paths).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Prefix of tool-call ids that carry a GigaChat state id. A distinctive prefix (not the bare uuid)
#: is what guarantees we only ever echo a state id that GigaChat produced: Dify rebuilds agent
#: history with fresh ``uuid4`` ids and other models use uuids too.
TOOL_CALL_ID_PREFIX = "gcfs_"
#: Between the state id and the call id (neither a uuid nor GigaChat's ids contain it).
_CALL_SEPARATOR = "~"
#: The key of the state in the ``opaque_body`` of an assistant message (under "gigachat").
OPAQUE_KEY = "tool_state"


@dataclass(frozen=True)
class CallRef:
    """What a Dify tool call carries of GigaChat's: the step's state id and the call's own id."""

    state_id: str | None
    call_id: str | None = None


def make_tool_call_id(state_id: str | None, call_id: str | None = None) -> str:
    """The id Dify shows for a GigaChat function call: ``gcfs_<state id>[~<call id>]`` when GigaChat
    gave either, else ``call_<uuid4 hex>``."""
    if state_id or call_id:
        tail = f"{_CALL_SEPARATOR}{call_id}" if call_id else ""
        return f"{TOOL_CALL_ID_PREFIX}{state_id or ''}{tail}"
    return f"call_{uuid.uuid4().hex}"


def read_tool_call_id(tool_call_id: str | None) -> CallRef | None:
    """The state id and call id carried by an id from ``make_tool_call_id``; None for any other id."""
    if not tool_call_id or not tool_call_id.startswith(TOOL_CALL_ID_PREFIX):
        return None
    state_id, _, call_id = tool_call_id[len(TOOL_CALL_ID_PREFIX):].partition(_CALL_SEPARATOR)
    if not state_id and not call_id:
        return None
    return CallRef(state_id or None, call_id or None)


def parse_tool_call_id(tool_call_id: str | None) -> str | None:
    """The state id carried by an id from ``make_tool_call_id``; None otherwise."""
    ref = read_tool_call_id(tool_call_id)
    return ref.state_id if ref else None


@dataclass(frozen=True)
class KeptState:
    """The state an assistant message's ``opaque_body`` kept (empty when it kept none)."""

    state_id: str | None = None
    call_ids: tuple[str | None, ...] = ()


def state_body(state_id: str | None, call_ids: Sequence[str | None]) -> dict[str, Any]:
    """What goes under "gigachat" in the final chunk's ``opaque_body``; {} when there is no state."""
    if not state_id and not any(call_ids):
        return {}
    return {OPAQUE_KEY: {"id": state_id, "call_ids": list(call_ids)}}


def kept_state(tool_calls: Sequence[Any]) -> dict[str, Any]:
    """``state_body`` of an answer's tool calls (Dify ``ToolCall``s whose ids ``make_tool_call_id`` made)."""
    refs = [read_tool_call_id(getattr(c, "id", None)) for c in tool_calls]
    state_id = next((r.state_id for r in refs if r and r.state_id), None)
    return state_body(state_id, [r.call_id if r else None for r in refs])


def read_state(opaque_body: Any) -> KeptState:
    """The state in an ``opaque_body`` Dify returned (any JSON: only well-formed strings are taken)."""
    kept = opaque_body.get("gigachat") if isinstance(opaque_body, dict) else None
    state = kept.get(OPAQUE_KEY) if isinstance(kept, dict) else None
    if not isinstance(state, dict):
        return KeptState()
    state_id = state.get("id") if isinstance(state.get("id"), str) and state.get("id") else None
    raw_ids = state.get("call_ids") if isinstance(state.get("call_ids"), list) else []
    return KeptState(state_id, tuple(i if isinstance(i, str) and i else None for i in raw_ids))
