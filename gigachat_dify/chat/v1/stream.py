"""v1 answers (the SDK's ``ChatCompletionChunk`` / ``ChatCompletion``) -> the shared assembler.

Only the reading of v1 shapes lives here; every rule (stop words, <think>, tool calls, finish,
usage) is ``chat/assembly.py``'s, shared with the v2 contract.

    asm = StreamAssembler(model, prompt_messages, stop, function_names)
    for chunk in client.stream(payload):
        yield from asm.feed(chunk)
    yield asm.finish(price(asm.usage))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dify_plugin.entities.model.llm import LLMResultChunk
from gigachat.models.chat import ChatCompletion, ChatCompletionChunk, Usage

from gigachat_dify.chat.assembly import Assembler, TokenUsage

__all__ = ["StreamAssembler", "token_usage"]


def token_usage(usage: Usage | Mapping[str, Any] | None) -> TokenUsage | None:
    """v1 usage (``prompt_tokens``, ``completion_tokens``, ``precached_prompt_tokens``); None if absent."""
    if usage is None:
        return None
    get = usage.get if isinstance(usage, Mapping) else (lambda key: getattr(usage, key, None))
    return TokenUsage(int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0),
                      int(get("precached_prompt_tokens") or 0))


class StreamAssembler(Assembler):
    """The shared assembler fed with v1 stream chunks."""

    def feed(self, chunk: ChatCompletionChunk) -> list[LLMResultChunk]:
        """Process one GigaChat stream chunk; return the Dify chunks to yield now."""
        if chunk.model:
            self.response_model = chunk.model
        if chunk.usage is not None:
            self.usage = token_usage(chunk.usage)
        out: list[LLMResultChunk] = []
        for choice in chunk.choices:
            if choice.index not in (0, None):
                continue  # only one answer is requested (n is never sent)
            delta = choice.delta
            out += self.add(reasoning=delta.reasoning_content, content=delta.content,
                            function_call=delta.function_call, state_id=delta.functions_state_id,
                            finish_reason=choice.finish_reason)
        return out

    def feed_response(self, response: ChatCompletion) -> list[LLMResultChunk]:
        """A whole blocking answer."""
        self.response_model = response.model or self.response_model
        self.usage = token_usage(response.usage)
        choice = next((c for c in response.choices if c.index in (0, None)),
                      response.choices[0] if response.choices else None)
        return self.feed_message(choice.message, choice.finish_reason) if choice is not None else []

    def feed_message(self, message: Any, finish_reason: str | None) -> list[LLMResultChunk]:
        """A whole v1 message (blocking answers)."""
        return self.add(
            reasoning=getattr(message, "reasoning_content", None),
            content=getattr(message, "content", None),
            function_call=getattr(message, "function_call", None),
            state_id=getattr(message, "functions_state_id", None),
            finish_reason=finish_reason,
        )
