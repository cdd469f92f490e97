"""The v2 contract (``POST /v2/chat/completions``, the SDK's ``client.chat.create`` / ``.stream``).

What ``chat/invocation.py`` needs from a contract: ``build`` (Dify's request -> payload), ``send``
and ``open_stream`` (the SDK calls), ``alternative`` and ``accepted`` (the host's form of function
results, ``chat/v2/dialect.py``), and ``Assembler`` (its answers -> Dify chunks). The SDK's own
models validate and serialise the payload (``ChatCompletionRequest``) and parse the answers; the
SDK rewrites the ``/v1`` base URL to ``/v2`` for these calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gigachat import GigaChat

from gigachat_dify.chat import builtin_tools, conversation, parameters
from gigachat_dify.chat.tool_schema import to_gigachat_functions
from gigachat_dify.chat.v2 import dialect
from gigachat_dify.chat.v2 import messages as v2_messages
from gigachat_dify.chat.v2.dialect import ResultForm
from gigachat_dify.chat.v2.params import model_options, ranker_options, tools_and_config
from gigachat_dify.chat.v2.stream import StreamAssembler as Assembler
from gigachat_dify.chat.v2.stream import Streamed

__all__ = ["Assembler", "accepted", "alternative", "build", "open_stream", "send", "telling"]


def _avoid_builtin_names(functions: list[dict[str, Any]], names: dict[str, str]) -> None:
    """A Dify tool called like a built-in tool (``web_search``...) would be taken for it: rename."""
    for f in functions:
        if f["name"] in builtin_tools.API_NAMES:
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
    *,
    base_url: str | None = None,
    form: ResultForm | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The v2 payload and ``{gigachat function name: dify tool name}``; function results in ``form``,
    by default the one ``base_url``'s host takes (``dialect.form_for``)."""
    enabled = builtin_tools.enabled(model_parameters)
    generation = parameters.read(model_parameters)
    functions, names = to_gigachat_functions(tools) if tools else ([], {})
    _avoid_builtin_names(functions, names)
    conv = conversation.read(prompt_messages, resolve_file=resolve_file, function_names=names,
                             instruction=generation.instruction)
    payload: dict[str, Any] = {"model": model,
                               "messages": v2_messages.render(conv, form or dialect.form_for(base_url))}
    options = model_options(generation)
    if options:
        payload["model_options"] = options
    tool_list, tool_config = tools_and_config(enabled, functions, question_turn=conv.ends_with_question)
    if tool_list:
        payload["tools"] = tool_list
    if tool_config:
        payload["tool_config"] = tool_config
    ranker = ranker_options(generation, functions)
    if ranker:
        payload["ranker_options"] = ranker
    if generation.profanity_check is not None:
        payload["profanity_check"] = generation.profanity_check  # the SDK sends it as disable_filter
    return payload, names


def _on(payload: dict[str, Any]) -> list[builtin_tools.BuiltinTool]:
    sent = [entry for entry in payload.get("tools") or () if isinstance(entry, dict)]
    return [t for t in builtin_tools.SWITCHED if any(t.api_name in entry for entry in sent)]


def send(client: GigaChat, payload: dict[str, Any]):
    """A blocking answer. With a tool whose activity only streams (the code interpreter) it is read
    from a stream: the recorded blocking answer carries only the final text, and the code GigaChat
    ran comes with the stream's ``response.tool.completed`` events. A refused tool is told by the
    error table from what the request asked (``invocation.asked``), naming its switch."""
    if any(t.read_from_stream for t in _on(payload)):
        return Streamed(list(client.chat.stream(payload)))
    return client.chat.create(payload)


def open_stream(client: GigaChat, payload: dict[str, Any]) -> Iterator:
    yield from client.chat.stream(payload)


def alternative(exc: BaseException, payload: dict[str, Any]) -> dict[str, Any] | None:
    """``build`` options for one more attempt when ``exc`` may be the host refusing the form of the
    payload's function results: the other form. None: nothing else to try."""
    if not dialect.may_be_form_refusal(exc, payload):
        return None
    return {"form": dialect.form_of(payload).other}


def accepted(payload: dict[str, Any], base_url: str) -> None:
    """The host took this payload: remember the form of its results for the host."""
    form = dialect.form_of(payload)
    if form is not None:
        dialect.LEARNT.learn(base_url, form)


def telling(first: BaseException, second: BaseException) -> BaseException:
    """Of the refusals of both forms, the one to report (``dialect.telling``)."""
    return dialect.telling(first, second)
