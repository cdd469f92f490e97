"""Tool-call ids that carry GigaChat's state id through Dify's history (both contracts).

GigaChat wants the state id of a function call echoed on the next turn (``functions_state_id`` on
v1, ``tools_state_id`` on v2). Dify keeps only the tool call's id, so the state id travels inside it.
"""

from __future__ import annotations

import uuid

#: Prefix of tool-call ids that carry a GigaChat state id. A distinctive prefix (not the bare uuid)
#: is what guarantees we only ever echo a state id that GigaChat produced: Dify rebuilds agent
#: history with fresh ``uuid4`` ids and other models use uuids too.
TOOL_CALL_ID_PREFIX = "gcfs_"


def make_tool_call_id(state_id: str | None) -> str:
    """The id Dify shows for a GigaChat function call: ``gcfs_<state id>`` when GigaChat gave one,
    else ``call_<uuid4 hex>``."""
    if state_id:
        return f"{TOOL_CALL_ID_PREFIX}{state_id}"
    return f"call_{uuid.uuid4().hex}"


def parse_tool_call_id(tool_call_id: str | None) -> str | None:
    """The state id carried by an id from ``make_tool_call_id``; None otherwise."""
    if tool_call_id and tool_call_id.startswith(TOOL_CALL_ID_PREFIX):
        state_id = tool_call_id[len(TOOL_CALL_ID_PREFIX) :]
        return state_id or None
    return None
