"""The v2 contract (``POST /v2/chat/completions``, the SDK's ``client.chat.create`` / ``.stream``).

What ``chat/invocation.py`` needs from a contract: ``build`` (Dify's request -> payload), ``send``
and ``open_stream`` (the SDK calls), and ``Assembler`` (its answers -> Dify chunks). The SDK's own
models validate and serialise the payload (``ChatCompletionRequest``) and parse the answers; the
SDK rewrites the ``/v1`` base URL to ``/v2`` for these calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gigachat import GigaChat

from gigachat_dify.chat.tool_schema import to_gigachat_functions
from gigachat_dify.chat.v2 import messages as v2_messages
from gigachat_dify.chat.v2.params import BUILTIN_TOOLS, builtin_tools, model_options, tools_and_config
from gigachat_dify.chat.v2.stream import StreamAssembler as Assembler
from gigachat_dify.chat.v2.stream import Streamed

__all__ = ["Assembler", "build", "open_stream", "send"]


def _avoid_builtin_names(functions: list[dict[str, Any]], names: dict[str, str]) -> None:
    """A Dify tool called like a built-in tool (``web_search``...) would be taken for it: rename."""
    for f in functions:
        if f["name"] in BUILTIN_TOOLS:
            new = f["name"] + "_tool"
            while new in names:
                new += "_"
            names[new] = names.pop(f["name"])
            f["name"] = new


def build(
    model: str,
    prompt_messages: Sequence,
    model_parameters: dict,
    tools: Sequence | None,
    stream: bool,
    resolve_file: Callable | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The v2 payload and ``{gigachat function name: dify tool name}``."""
    switches = builtin_tools(model_parameters)
    functions, names = to_gigachat_functions(tools) if tools else ([], {})
    _avoid_builtin_names(functions, names)
    options, extra = model_options(model, model_parameters)
    messages = v2_messages.convert(prompt_messages, resolve_file=resolve_file, function_names=names,
                                   system_instruction=extra.pop("system_instruction", None))
    tool_list, tool_config = tools_and_config(switches, functions, question_turn=messages[-1]["role"] == "user")
    payload: dict[str, Any] = {"model": model, "messages": messages}
    if options:
        payload["model_options"] = options
    if tool_list:
        payload["tools"] = tool_list
    if tool_config:
        payload["tool_config"] = tool_config
    payload.update(extra)
    return payload, names


def _runs_code(payload: dict[str, Any]) -> bool:
    return any("code_interpreter" in tool for tool in payload.get("tools") or ())


def send(client: GigaChat, payload: dict[str, Any]):
    """A blocking answer. With the code interpreter on it is read from a stream: the recorded
    blocking answer carries only the final text, and the code GigaChat ran (if it is reported at
    all, unverified) comes with the stream's ``response.tool.completed`` events. A refused tool is
    told by the error table from what the request asked (``invocation.asked``), naming its switch."""
    if _runs_code(payload):
        return Streamed(list(client.chat.stream(payload)))
    return client.chat.create(payload)


def open_stream(client: GigaChat, payload: dict[str, Any]) -> Iterator:
    yield from client.chat.stream(payload)
