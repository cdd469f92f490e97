"""GigaChat chunks/responses -> Dify result chunks: tool calls, stop words, <think>, finish, usage.

Pure and independent of the network. ``StreamAssembler`` is fed the SDK's ``ChatCompletionChunk``
objects one by one; ``to_llm_result`` turns a blocking ``ChatCompletion`` into an ``LLMResult``
through the same assembler, so both paths share every rule:

* every emitted ``delta.message.content`` is a ``str`` (the daemon rejects null content);
* reasoning (``reasoning_content``) is shown first, as ``<think>\\n...\\n</think>\\n``;
* a function call is emitted once, complete, with Dify's tool name and a JSON-string argument,
  in the final chunk (GigaChat sends a call whole, but pieces of one call are merged anyway);
* Dify's stop words are enforced here (GigaChat has no ``stop`` parameter): the answer is cut
  before the earliest stop word, also when it is split across chunks;
* the final chunk carries ``finish_reason`` and ``usage``.

Typical use in the LLM class::

    asm = StreamAssembler(model, prompt_messages, stop, function_names)
    for chunk in client.stream(payload):
        yield from asm.feed(chunk)
    p, c, cached = usage_from_gigachat(asm.usage)       # asm.usage is None if never sent
    yield asm.finish(self._calc_response_usage(model, credentials, p, c))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import AssistantPromptMessage, PromptMessage
from gigachat.models.chat import ChatCompletion, ChatCompletionChunk, FunctionCall, Usage

from gigachat_dify.messages import make_tool_call_id

logger = logging.getLogger(__name__)

__all__ = [
    "THINK_CLOSE",
    "THINK_OPEN",
    "StreamAssembler",
    "finish_reason_message",
    "map_finish_reason",
    "to_llm_result",
    "usage_from_gigachat",
    "usage_report",
]

THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n"

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "function_call": "tool_calls",
    "blacklist": "content_filter",
    "error": "error",
}


def map_finish_reason(reason: str | None) -> str | None:
    """GigaChat's finish reason -> Dify's (stop, length, tool_calls, content_filter, error).
    Unknown reasons pass through unchanged."""
    if reason is None:
        return None
    return _FINISH_REASONS.get(reason, reason)


def finish_reason_message(reason: str | None) -> str | None:
    """A human explanation for a finish reason that is not a normal end (GigaChat's or Dify's
    name), for logs and error texts; None for a normal end."""
    if reason in ("length",):
        return (
            "The answer was cut off because it reached the maximum number of tokens (max_tokens) "
            "or the model's context size. Increase max_tokens or shorten the prompt."
        )
    if reason in ("blacklist", "content_filter"):
        return (
            "GigaChat's content filter stopped this answer (finish_reason 'blacklist'); the text "
            "shown is what GigaChat returned. Rephrase the request, or disable profanity_check if "
            "the filter was triggered by profanity."
        )
    if reason == "error":
        return "GigaChat reported an error while generating the answer (finish_reason 'error'); the answer may be incomplete."
    return None


def usage_from_gigachat(usage: Usage | Mapping[str, Any] | None) -> tuple[int, int, int]:
    """(prompt_tokens, completion_tokens, cached_tokens) from GigaChat's usage.

    ``cached_tokens`` is ``precached_prompt_tokens`` (prompt tokens served from GigaChat's cache,
    see the X-Session-ID header). dify_plugin 0.10.2's ``LLMUsage`` has no field for cached tokens,
    so callers can only log it. A missing usage gives zeros."""
    if usage is None:
        return 0, 0, 0
    if isinstance(usage, Mapping):
        get = usage.get
    else:

        def get(key: str, default: Any = None) -> Any:
            return getattr(usage, key, default)

    return int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0), int(get("precached_prompt_tokens") or 0)


def usage_report(usage: Usage | Mapping[str, Any] | None, response_model: str | None) -> dict[str, Any]:
    """What GigaChat reported beyond Dify's LLMUsage (which has no field for cached tokens in
    dify_plugin 0.10): carried in the final message's `opaque_body`, so it reaches Dify intact."""
    prompt, completion, cached = usage_from_gigachat(usage)
    return {"gigachat": {"model_version": response_model, "prompt_tokens": prompt,
                         "completion_tokens": completion, "precached_prompt_tokens": cached}}


class _Call:
    __slots__ = ("arguments", "name", "state_id")

    def __init__(self, name: str | None, state_id: str | None):
        self.name = name
        self.arguments: dict[Any, Any] = {}
        self.state_id = state_id


class StreamAssembler:
    """Turns GigaChat stream chunks into Dify ``LLMResultChunk``s (see the module docstring).

    ``feed(chunk)`` returns the chunks to yield now (possibly none); ``finish(usage)`` returns the
    final chunk (held-back text, the tool calls, ``finish_reason``, ``usage``). After ``finish``
    the assembler must not be fed again."""

    def __init__(
        self,
        model: str,
        prompt_messages: Sequence[PromptMessage] | None = None,
        stop: Sequence[str] | None = None,
        function_names: Mapping[str, str] | None = None,
    ):
        self.model = model
        self.prompt_messages = list(prompt_messages or [])
        self.stop = sorted({s for s in (stop or []) if s}, key=len)
        self._max_stop = max((len(s) for s in self.stop), default=0)
        self.function_names = dict(function_names or {})
        self._pending = ""  # answer text held back: it may be the start of a stop word
        self._stopped = False  # a stop word was reached: the rest of the answer is discarded
        self._think_open = False
        self._think_closed = False
        self._calls: list[_Call] = []
        self._state_id: str | None = None
        self._index = 0
        self._finished = False
        #: GigaChat's raw finish reason, as last reported.
        self.gigachat_finish_reason: str | None = None
        #: The last usage GigaChat reported (the final chunk carries it), or None.
        self.usage: Usage | None = None
        #: The response's model name as GigaChat echoes it (e.g. "GigaChat-2-Max:2.0.28.2").
        self.response_model: str | None = None

    # ------------------------------------------------------------------ public API
    @property
    def stopped_by_stop_word(self) -> bool:
        return self._stopped

    @property
    def finish_reason(self) -> str:
        """Dify's finish reason for what was received so far."""
        if self._calls and any(c.name for c in self._calls):
            return "tool_calls"
        if self._stopped:
            return "stop"
        return map_finish_reason(self.gigachat_finish_reason) or "stop"

    def feed(self, chunk: ChatCompletionChunk) -> list[LLMResultChunk]:
        """Process one GigaChat stream chunk; return the Dify chunks to yield now."""
        if self._finished:
            raise RuntimeError("StreamAssembler.feed() called after finish()")
        if chunk.model:
            self.response_model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        out: list[str] = []
        for choice in chunk.choices:
            if choice.index not in (0, None):
                continue  # only one answer is requested (n is never sent)
            delta = choice.delta
            self._on_delta(
                out,
                reasoning=delta.reasoning_content,
                content=delta.content,
                function_call=delta.function_call,
                state_id=delta.functions_state_id,
            )
            if choice.finish_reason:
                self._on_finish_reason(out, choice.finish_reason)
        text = "".join(out)
        return [self._chunk(text)] if text else []

    def finish(self, usage: LLMUsage) -> LLMResultChunk:
        """The final chunk: remaining held-back text, the tool calls, finish_reason and usage."""
        if self._finished:
            raise RuntimeError("StreamAssembler.finish() called twice")
        out: list[str] = []
        self._close_think(out)
        if self._pending:
            self._on_content(out, "", final=True)
        self._finished = True
        reason = self.finish_reason
        explanation = finish_reason_message(self.gigachat_finish_reason)
        if explanation and not self._stopped:
            # Shown text is left as GigaChat returned it (appending notes would corrupt JSON or
            # tool answers downstream); the reason is in finish_reason and in the log.
            logger.warning("GigaChat finish_reason=%s: %s", self.gigachat_finish_reason, explanation)
        return self._chunk("".join(out), tool_calls=self._tool_calls(), finish_reason=reason, usage=usage)

    # ------------------------------------------------------------------ internals
    def _on_delta(
        self,
        out: list[str],
        *,
        reasoning: str | None,
        content: str | None,
        function_call: FunctionCall | Mapping[str, Any] | None,
        state_id: str | None,
    ) -> None:
        if reasoning:
            if self._think_closed:
                # Reasoning after the answer started cannot go back into the think block; keep
                # it out of the answer (it is not answer text) but do not lose it silently.
                logger.debug("reasoning text after the answer started was not shown (%d chars)", len(reasoning))
            else:
                if not self._think_open:
                    out.append(THINK_OPEN)
                    self._think_open = True
                out.append(reasoning)
        if state_id:
            self._state_id = state_id
            for c in self._calls:
                if c.state_id is None:
                    c.state_id = state_id
        if content:
            self._close_think(out)
            self._on_content(out, content)
        if function_call is not None:
            self._close_think(out)
            self._on_function_call(function_call, state_id)

    def _close_think(self, out: list[str]) -> None:
        if self._think_open and not self._think_closed:
            out.append(THINK_CLOSE)
        self._think_closed = True

    def _on_content(self, out: list[str], text: str, *, final: bool = False) -> None:
        """Append answer text, enforcing the stop words.

        Text is held back from the first position where a stop word might still begin (its
        start is in the buffer, the rest has not arrived yet): a complete stop word found later
        in the buffer does not win over a longer one that may turn out to start earlier.
        ``final`` (no more text will come) resolves what is held back."""
        if self._stopped:
            return
        if not self.stop:
            out.append(text)
            return
        buf = self._pending + text
        self._pending = ""
        cut = -1
        for s in self.stop:
            i = buf.find(s)
            if i != -1 and (cut == -1 or i < cut):
                cut = i
        if not final:
            limit = cut if cut != -1 else len(buf)
            for p in range(max(0, len(buf) - self._max_stop + 1), limit):
                tail = buf[p:]
                if any(len(s) > len(tail) and s.startswith(tail) for s in self.stop):
                    out.append(buf[:p])
                    self._pending = buf[p:]
                    return
        if cut != -1:
            out.append(buf[:cut])
            self._stopped = True
            return
        out.append(buf)

    def _on_function_call(self, fc: FunctionCall | Mapping[str, Any], state_id: str | None) -> None:
        if isinstance(fc, Mapping):
            name, arguments = fc.get("name"), fc.get("arguments")
        else:
            name, arguments = fc.name, fc.arguments
        current = self._calls[-1] if self._calls else None
        if current is None or (name and current.name and name != current.name):
            current = _Call(name or None, state_id or self._state_id)
            self._calls.append(current)
        elif name and not current.name:
            current.name = name
        if isinstance(arguments, Mapping):
            current.arguments.update(arguments)
        elif arguments is not None:
            logger.warning("function call arguments of unexpected type %s kept as raw text", type(arguments).__name__)
            current.arguments["raw"] = arguments
        if state_id and not current.state_id:
            current.state_id = state_id

    def _on_finish_reason(self, out: list[str], reason: str) -> None:
        self.gigachat_finish_reason = reason
        self._close_think(out)

    def _tool_calls(self) -> list[AssistantPromptMessage.ToolCall]:
        calls: list[AssistantPromptMessage.ToolCall] = []
        used_state_ids: set[str] = set()
        for c in self._calls:
            if not c.name:
                logger.error("GigaChat sent a function call without a name; it cannot be executed")
                continue
            state_id = c.state_id if c.state_id and c.state_id not in used_state_ids else None
            if state_id:
                used_state_ids.add(state_id)
            calls.append(
                AssistantPromptMessage.ToolCall(
                    id=make_tool_call_id(state_id),
                    type="function",
                    function=AssistantPromptMessage.ToolCall.ToolCallFunction(
                        name=self.function_names.get(c.name, c.name),
                        arguments=json.dumps(c.arguments, ensure_ascii=False),
                    ),
                )
            )
        return calls

    def _chunk(
        self,
        text: str,
        *,
        tool_calls: list[AssistantPromptMessage.ToolCall] | None = None,
        finish_reason: str | None = None,
        usage: LLMUsage | None = None,
    ) -> LLMResultChunk:
        chunk = LLMResultChunk(
            model=self.model,
            prompt_messages=[],
            delta=LLMResultChunkDelta(
                index=self._index,
                message=AssistantPromptMessage(content=text or "", tool_calls=tool_calls or []),
                finish_reason=finish_reason,
                usage=usage,
            ),
        )
        self._index += 1
        return chunk

    # ------------------------------------------------------------------ blocking
    def _feed_message(self, message: Any, finish_reason: str | None) -> str:
        out: list[str] = []
        self._on_delta(
            out,
            reasoning=getattr(message, "reasoning_content", None),
            content=getattr(message, "content", None),
            function_call=getattr(message, "function_call", None),
            state_id=getattr(message, "functions_state_id", None),
        )
        if finish_reason:
            self._on_finish_reason(out, finish_reason)
        return "".join(out)


def to_llm_result(
    model: str,
    response: ChatCompletion,
    usage: LLMUsage,
    *,
    prompt_messages: Sequence[PromptMessage] | None = None,
    stop: Sequence[str] | None = None,
    function_names: Mapping[str, str] | None = None,
) -> LLMResult:
    """A blocking GigaChat response as Dify's ``LLMResult``, with the same rules as the stream
    (think block, stop words, tool calls). ``usage`` comes from ``usage_from_gigachat(response.usage)``
    through the LLM's ``_calc_response_usage``."""
    asm = StreamAssembler(model, prompt_messages, stop, function_names)
    text = ""
    choice = next((c for c in response.choices if c.index in (0, None)), response.choices[0] if response.choices else None)
    if choice is not None:
        text = asm._feed_message(choice.message, choice.finish_reason)
    final = asm.finish(usage)
    content = text + (final.delta.message.content or "")
    return LLMResult(
        model=model,
        prompt_messages=[],
        message=AssistantPromptMessage(content=content, tool_calls=final.delta.message.tool_calls),
        usage=usage,
    )
