"""Generation settings (``chat/parameters.py``) -> GigaChat v1 chat payload fields.

The payload is a plain dict for ``client.chat(payload)`` / ``client.stream(payload)`` of the
gigachat SDK. What each parameter means is decided in ``chat/parameters.py``, shared with v2;
here it is laid out as v1 has it (top-level fields, the JSON instruction in the system message,
``function_ranker``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gigachat_dify.chat.json_answers import parse_json_schema_parameter
from gigachat_dify.chat.parameters import GREEDY_TOP_P, JSON_OBJECT_INSTRUCTION, Generation, read

__all__ = ["GREEDY_TOP_P", "JSON_OBJECT_INSTRUCTION", "build_chat_payload", "parse_json_schema_parameter"]

_FIELDS = ("temperature", "top_p", "max_tokens", "repetition_penalty", "profanity_check", "reasoning_effort")


def with_instruction(messages: Sequence[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """``instruction`` at the end of the (one, first) system message."""
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        content = out[0].get("content") or ""
        out[0]["content"] = f"{content}\n\n{instruction}" if content else instruction
    else:
        out.insert(0, {"role": "system", "content": instruction})
    return out


def layout(model: str, messages: list[dict[str, Any]], generation: Generation,
           functions: list[dict[str, Any]] | None, stream: bool) -> dict[str, Any]:
    """The v1 payload of these settings. ``messages`` is not mutated."""
    payload: dict[str, Any] = {"model": model, "messages": list(messages)}
    for name in _FIELDS:
        value = getattr(generation, name)
        if value is not None:
            payload[name] = value
    if generation.schema is not None:
        payload["response_format"] = {"type": "json_schema", "schema": generation.schema, "strict": True}
    elif generation.instruction:
        payload["messages"] = with_instruction(payload["messages"], generation.instruction)
    if functions:
        payload["functions"] = list(functions)
        payload["function_call"] = "auto"
        if generation.ranker_top_n is not None:
            payload["function_ranker"] = {"enabled": True, "top_n": generation.ranker_top_n}
    payload["stream"] = bool(stream)
    return payload


def build_chat_payload(
    model: str,
    messages: list[dict[str, Any]],
    model_parameters: Mapping[str, Any] | None,
    functions: list[dict[str, Any]] | None,
    stream: bool,
) -> dict[str, Any]:
    """The GigaChat v1 ``/chat/completions`` payload of Dify's parameters (``chat/parameters.read``);
    ``functions`` -> ``functions`` + ``function_call: "auto"`` (+ ``function_ranker`` when on)."""
    return layout(model, messages, read(model_parameters), functions, stream)
