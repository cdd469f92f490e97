"""Which form of v2 function results a host takes: by the verified rule where one exists, else learnt.

The two hosts in use answer the same request differently (GIGACHAT_API.md, "v2 as observed live
on api.giga.chat"): gigachat.devices.sberbank.ru was recorded (June 2026) taking results as
``role: "tool"`` with an object ``result`` (``TOOL``); api.giga.chat (live, Sep 2026) refuses
that with 400 "Your request contains invalid JSON syntax." and takes ``role: "function"`` with
the result as a JSON string (``FUNCTION``). Which form another host (an on-premise installation,
a gateway, a host that changes) takes is not known in advance, so:

1. the form a host was last seen to take (remembered per base URL for ``TTL`` seconds, in this
   process; bounded), else the verified rule (api.giga.chat: ``FUNCTION``; any other host: the
   recorded ``TOOL``);
2. a request that carries function results and is refused (400/422, before any answer) is sent
   once more in the other form; if that is accepted, the host's form is remembered. A refusal
   both forms share is the request's own fault: the more telling of the two errors is raised.

The form is a property of the host's API, not of an account: one workspace's learning serves
every workspace on that host, and cannot change what another host is sent.
"""

from __future__ import annotations

from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from gigachat_dify import failures
from gigachat_dify.hosts import SPEC_HOST
from gigachat_dify.memory import Memory


class ResultForm(Enum):
    TOOL = "tool"
    FUNCTION = "function"

    @property
    def other(self) -> "ResultForm":
        return FUNCTION if self is TOOL else TOOL


TOOL = ResultForm.TOOL
FUNCTION = ResultForm.FUNCTION

#: Verified per host: api.giga.chat refuses TOOL and takes FUNCTION (live probes, Sep 2026).
HOST_RULES = {SPEC_HOST: FUNCTION}
TTL = 3600.0
MAX_HOSTS = 256


#: base URL -> the result form it was last seen to take.
LEARNT: Memory[str, ResultForm] = Memory(MAX_HOSTS, TTL)


def host_rule(base_url: str | None) -> ResultForm:
    host = (urlsplit(base_url or "").hostname or "").lower()
    return HOST_RULES.get(host, TOOL)


def form_for(base_url: str | None) -> ResultForm:
    """The form to send results to this host in (see the module docstring)."""
    return (LEARNT.get(base_url) if base_url else None) or host_rule(base_url)


def form_of(payload: dict[str, Any]) -> ResultForm | None:
    """The form the payload's results are in (None: it has none)."""
    for m in payload.get("messages") or ():
        if any(isinstance(part, dict) and "function_result" in part for part in m.get("content") or ()):
            return FUNCTION if m.get("role") == "function" else TOOL
    return None


def may_be_form_refusal(exc: BaseException, payload: dict[str, Any]) -> bool:
    """Could ``exc`` be the host refusing the form of this payload's results (an invalid request,
    400 or 422, of a payload that has results)?"""
    return form_of(payload) is not None and failures.classify(exc).kind is failures.Kind.INVALID_REQUEST


def telling(first: BaseException, second: BaseException) -> BaseException:
    """Of two refusals of one request in both forms, the one that says what is wrong: the second,
    unless it only says the form was refused (then the first was about the request itself)."""
    return first if failures.says_only_shape_refused(second) else second
