"""The one chat flow. Both contracts (v1 ``POST /chat/completions`` in chat.py, v2 ``POST
/v2/chat/completions`` in v2.py) and both hosts' dialects run the same steps; a contract is a
module with the functions of `Contract`, a dialect (dialects.py) says where a host differs.

Steps: read the JSON body -> refuse a model the account's plan does not get -> validate (the
contract's rules, the dialect's where it differs) -> refuse what the host does not offer the model
(capabilities.py) -> let the function ranker narrow the functions -> a finish-reason fault, else a
scripted reply, else the deterministic model -> the prompt-cache session -> the answer, blocking or
as stream events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from emulator import finish
from emulator.call import Call, model_request
from emulator.wire import Reply, Stream, json_response

if TYPE_CHECKING:
    from emulator.capabilities import Capabilities
    from emulator.dialects import Dialect
    from emulator.files import FileStore
    from emulator.state import ScriptedReply, State


class Contract(Protocol):
    """What each chat contract provides (chat.py and v2.py, as modules)."""

    NAME: str  # "v1" | "v2": the contract's names for finish reasons (finish.for_contract)

    def validate(self, body: Any, files: FileStore, dialect: Dialect, plan: str | None) -> None: ...

    def check_capabilities(self, body: dict, capabilities: Capabilities, files: FileStore) -> None: ...

    def rank_functions(self, body: dict) -> tuple[dict, list[str] | None]: ...

    def serialize_messages(self, messages: list[dict]) -> list[str]: ...

    def complete(self, body: dict, files: FileStore, scripted: ScriptedReply | None, previous: list[str],
                 dialect: Dialect, finish_reason: str | None) -> Any: ...

    def response_body(self, answer: Any, model: str) -> dict: ...

    def stream_events(self, answer: Any, model: str, dialect: Dialect) -> list[bytes]: ...


def run(call: Call, state: State, contract: Contract) -> Reply:
    body = model_request(call)
    contract.validate(body, state.files, call.dialect, call.plan)
    contract.check_capabilities(body, state.capabilities, state.files)
    body, call.record.ranked_functions = contract.rank_functions(body)
    reason = state.faults.take_finish(call.rel)
    if reason is not None:
        state.stats.count_fault(f"finish:{reason}")
        reason = finish.for_contract(reason, contract.NAME)
    scripted = state.replies.take() if reason is None else None
    previous = state.previous_messages(call.headers.get("X-Session-ID"), contract.serialize_messages(body["messages"]))
    answer = contract.complete(body, state.files, scripted, previous, call.dialect, reason)
    if body.get("stream"):
        return Stream(contract.stream_events(answer, body["model"], call.dialect))
    return json_response(200, contract.response_body(answer, body["model"]))
