"""The v1 contract (``POST /chat/completions``, the SDK's ``client.chat`` / ``client.stream``).

What ``chat/invocation.py`` needs from a contract: ``build`` (Dify's request -> payload), ``send``
and ``open_stream`` (the SDK calls), ``alternative`` / ``accepted`` / ``telling`` (v1 has one form
of everything: nothing to learn), and ``Assembler`` (its answers -> Dify chunks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gigachat import GigaChat

from gigachat_dify.chat.tool_schema import to_gigachat_functions
from gigachat_dify.chat.v1.messages import convert_messages
from gigachat_dify.chat.v1.params import build_chat_payload
from gigachat_dify.chat.v1.stream import StreamAssembler as Assembler

__all__ = ["Assembler", "accepted", "alternative", "build", "open_stream", "send", "telling"]


def build(
    model: str,
    prompt_messages: Sequence,
    model_parameters: dict,
    tools: Sequence | None,
    stream: bool,
    resolve_file: Callable | None,
    *,
    base_url: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The v1 payload and ``{gigachat function name: dify tool name}``."""
    functions, names = to_gigachat_functions(tools) if tools else ([], {})
    messages = convert_messages(prompt_messages, resolve_file=resolve_file, function_names=names)
    payload = build_chat_payload(model, messages, model_parameters, functions or None, stream)
    # The SDK re-validates `functions` through its own pydantic models, which drop nested
    # `required`, `format` and other keys of the cleaned schema; `additional_fields` is sent
    # verbatim, so the schema reaches GigaChat exactly as tool_schema cleaned it.
    if payload.get("functions"):
        payload.setdefault("additional_fields", {})["functions"] = payload.pop("functions")
    payload.pop("stream", None)
    return payload, names


def send(client: GigaChat, payload: dict[str, Any]):
    return client.chat(payload)


def open_stream(client: GigaChat, payload: dict[str, Any]) -> Iterator:
    return client.stream(payload)


def alternative(exc: BaseException, payload: dict[str, Any]) -> dict[str, Any] | None:
    return None


def accepted(payload: dict[str, Any], base_url: str) -> None:
    return None


def telling(first: BaseException, second: BaseException) -> BaseException:
    return second
