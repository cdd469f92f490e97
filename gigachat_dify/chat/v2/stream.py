"""v2 answers (the SDK's ``ChatCompletionResponse`` / named-event ``ChatCompletionChunk``) -> the
shared assembler.

Only the reading of v2 shapes lives here; every rule (stop words, <think>, tool calls, files,
sources, finish, usage) is ``chat/assembly.py``'s. Shapes (recorded June 2026, test_primary_*):
``messages[]`` with ``role`` and ``content`` parts (``text`` with ``inline_data.sources``,
``files``, ``function_call``), ``tool_state_id`` on the assistant message, top-level
``finish_reason`` and ``usage {input_tokens, input_tokens_details {cached_tokens},
output_tokens}``. Streams: ``response.message.delta`` events carry message fragments (each
fragment's text is new text, unverified beyond the recorded single delta),
``response.tool.completed`` a tool's execution, ``response.message.done`` ``finish_reason`` and
``usage``. Messages of role ``reasoning`` carry the model's reasoning (shown as <think>) and
built-in tool activity (gpt2giga and the SDK's tests show this role).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dify_plugin.entities.model.llm import LLMResultChunk
from gigachat.models.chat_completions import ChatCompletionChunk, ChatCompletionResponse

from gigachat_dify.chat.assembly import Assembler, TokenUsage
from gigachat_dify.chat.builtin_tools import API_NAMES
from gigachat_dify.chat.media import FileRef
from gigachat_dify.chat.v2 import tools

logger = logging.getLogger(__name__)


def token_usage(usage: Any) -> TokenUsage | None:
    """v2 usage (``input_tokens``, ``output_tokens``, ``input_tokens_details.cached_tokens``)."""
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    return TokenUsage(int(getattr(usage, "input_tokens", 0) or 0), int(getattr(usage, "output_tokens", 0) or 0),
                      int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0)


@dataclass
class Streamed:
    """A blocking answer read from a stream (see ``call.send``): its chunks, in order."""

    chunks: list[ChatCompletionChunk] = field(default_factory=list)


def _sources(inline_data: Any) -> Any:
    return getattr(inline_data, "sources", None) if inline_data is not None else None


def _all_sources(messages: Any) -> Iterator[Any]:
    """Every ``inline_data.sources`` of these messages (on a message or on its parts)."""
    for message in messages:
        for inline_data in [getattr(message, "inline_data", None), *(p.inline_data for p in message.content or [])]:
            if _sources(inline_data):
                yield _sources(inline_data)


def _is_image(f: Any) -> bool:
    mime = (getattr(f, "mime", None) or "").lower()
    return getattr(f, "target", None) == "image" or mime.startswith("image/")


class StreamAssembler(Assembler):
    """The shared assembler fed with v2 answers."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._notes_shown: set[str] = set()

    def feed(self, chunk: ChatCompletionChunk) -> list[LLMResultChunk]:
        """Process one named SSE event; return the Dify chunks to yield now."""
        if chunk.model:
            self.response_model = chunk.model
        if chunk.usage is not None:
            self.usage = token_usage(chunk.usage)
        state_id = getattr(chunk, "tools_state_id", None)
        out: list[LLMResultChunk] = []
        if state_id:
            out += self.add(state_id=state_id)
        for message in chunk.messages or []:
            out += self._message(message, state_id)
        if chunk.tool_execution is not None:
            out += self._execution(chunk.tool_execution)
        if chunk.finish_reason:
            out += self.add(finish_reason=chunk.finish_reason)
        return out

    def feed_response(self, response: ChatCompletionResponse | Streamed) -> list[LLMResultChunk]:
        """A whole blocking answer. Its sources are taken first: a marker is linked wherever in the
        answer the sources it cites come (a stream links those sent by then, ``sources.py``)."""
        messages = ([m for chunk in response.chunks for m in chunk.messages or []] if isinstance(response, Streamed)
                    else response.messages or [])
        for raw in _all_sources(messages):
            self.add(sources=raw)
        if isinstance(response, Streamed):
            return [c for chunk in response.chunks for c in self.feed(chunk)]
        self.response_model = response.model or self.response_model
        self.usage = token_usage(response.usage)
        state_id = getattr(response, "tools_state_id", None)
        out: list[LLMResultChunk] = []
        for message in response.messages:
            out += self._message(message, state_id)
        if response.tool_execution is not None:
            out += self._execution(response.tool_execution)
        out += self.add(finish_reason=response.finish_reason or "stop")
        return out

    # ------------------------------------------------------------------ internals
    def _message(self, message: Any, outer_state_id: str | None) -> list[LLMResultChunk]:
        state_id = getattr(message, "tools_state_id", None) or outer_state_id
        reasoning = getattr(message, "role", None) == "reasoning"
        out: list[LLMResultChunk] = []
        if state_id:
            out += self.add(state_id=state_id)
        sources = _sources(getattr(message, "inline_data", None))
        if sources:
            out += self.add(sources=sources)
        for part in message.content or []:
            out += self._part(part, state_id, reasoning)
        if getattr(message, "function_call", None) is not None:
            out += self._call(message.function_call, state_id)
        if getattr(message, "tool_execution", None) is not None:
            out += self._execution(message.tool_execution)
        return out

    def _part(self, part: Any, state_id: str | None, reasoning: bool) -> list[LLMResultChunk]:
        out: list[LLMResultChunk] = []
        sources = _sources(part.inline_data)
        if part.text:
            if reasoning:
                out += self.add(reasoning=part.text, sources=sources)
            else:
                out += self.add(content=part.text, sources=sources)
        elif sources:
            out += self.add(sources=sources)
        if part.files:
            refs = [FileRef("image", f.id_, f.mime or "image/jpeg") for f in part.files if _is_image(f)]
            others = [f for f in part.files if not _is_image(f)]
            note = "".join(f"\n\n[GigaChat generated a file that Dify cannot show here: {f.id_} ({f.mime}).]\n\n"
                           for f in others)
            out += self.add(files=refs, literal=note or None)
        if part.function_call is not None:
            out += self._call(part.function_call, state_id)
        if part.function_result is not None:
            name = part.function_result.name
            shown = tools.result_display(name, part.function_result.result)
            if shown:
                out += self.add(literal=shown)
            else:
                logger.debug("built-in tool result of %s not shown", name)
        if part.tool_execution is not None:
            out += self._execution(part.tool_execution)
        return out

    def _call(self, call: Any, state_id: str | None) -> list[LLMResultChunk]:
        name = getattr(call, "name", None)
        if name in API_NAMES and name not in self.function_names:
            # GigaChat ran one of its own tools: show what it did; it is not a Dify tool call.
            shown = tools.call_display(name, call.arguments)
            logger.info("GigaChat used its built-in tool %s", name)
            return self.add(literal=shown) if shown else []
        return self.add(function_call=call, state_id=state_id)

    def _execution(self, execution: Any) -> list[LLMResultChunk]:
        note = tools.execution_display(execution)
        if not note:
            return []
        if note in self._notes_shown:  # a stream may repeat a tool's status
            return []
        self._notes_shown.add(note)
        return self.add(literal=note)
