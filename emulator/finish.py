"""Finish reasons of both contracts, and answers that end with the rare ones on demand.

v1 (the API reference): stop, length, function_call, blacklist (thematic restrictions), error
(the answer holds invalid arguments of a user function). v2 (the Sept 2026 spec): stop, length,
function_call, function_call_error, blacklist and, with separately agreed access to the details,
request_blacklist, request_whitelist (words with a preset answer), request_filter (the censor
model), response_blacklist. ``emu.faults.finish(reason)`` makes the next chat answers end with one
of the rare ones; on the other contract it becomes that contract's counterpart (a filter reason is
v1's ``blacklist``; ``function_call_error`` and v1's ``error`` are each other's).

What such an answer holds is assumed (none was recorded): a filter reason comes with a canned
refusal text, the wording users quote from GigaChat; a function-call error with a call of the
first offered function whose arguments break its schema (a required property left out, else a
property of the wrong type, else an undeclared one), or no content when no function is offered.
"""

from __future__ import annotations

from typing import Any

V1 = ("stop", "length", "function_call", "blacklist", "error")
V2 = ("stop", "length", "function_call", "function_call_error", "blacklist", "request_blacklist",
      "request_whitelist", "request_filter", "response_blacklist")
COMMON = ("stop", "length", "function_call")
ON_DEMAND = tuple(dict.fromkeys(r for r in (*V1, *V2) if r not in COMMON))
FUNCTION_ERRORS = {"v1": "error", "v2": "function_call_error"}

REFUSAL_TEXT = "Не люблю менять тему разговора, но вот сейчас тот самый случай."
WHITELIST_TEXT = "На этот вопрос у меня есть готовый ответ: давайте поговорим о чём-нибудь другом."


def for_contract(reason: str, contract: str) -> str:
    """`reason` as the contract ("v1" or "v2") names it."""
    if reason in ("error", "function_call_error"):
        return FUNCTION_ERRORS[contract]
    if contract == "v1" and reason not in V1:
        return "blacklist"
    return reason


def refusal_text(reason: str) -> str:
    return WHITELIST_TEXT if reason == "request_whitelist" else REFUSAL_TEXT


def is_function_error(reason: str) -> bool:
    return reason in FUNCTION_ERRORS.values()


def invalid_arguments(function: dict, valid: dict) -> dict:
    """`valid` (an instance of the function's parameters) made invalid against them."""
    params = function.get("parameters") if isinstance(function.get("parameters"), dict) else {}
    properties = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    required = [n for n in params.get("required") or [] if n in valid]
    if required:
        return {k: v for k, v in valid.items() if k != required[0]}
    if properties:
        name, schema = next(iter(properties.items()))
        kind = schema.get("type") if isinstance(schema, dict) else None
        return {**valid, name: "not a number" if kind in ("number", "integer") else 12345}
    return {**valid, "undeclared_argument": True}


def bad_call(function: dict, valid: Any) -> dict:
    return {"name": function["name"], "arguments": invalid_arguments(function, valid if isinstance(valid, dict) else {})}
