"""Local token estimates: no network, no tiktoken (it downloads its BPE file at run time).

GigaChat's tokenizer is not public. The estimate splits text into words, numbers, punctuation and
whitespace and charges each piece by its script, calibrated on GigaChat's own counts recorded in
``gigachat-recordings`` (POST /tokens/count and the usage of recorded chats):

    "First text" -> 2, "Second text" -> 2, "Hello, world!" -> 4 (tokens/count);
    "$1\\, 2\\, 3$  \\n\\nПодробный пошаговый вывод чисел от 1 до 3." -> 25 completion tokens
    (which include one end-of-answer token); a one-message prompt of 5-8 text tokens -> 17.

Latin words: common English words are single tokens, about 1 token per 7 letters for long ones.
Cyrillic: GigaChat's vocabulary is trained on Russian and is efficient on it, about 1 token per
4.5 letters. Digits: about 2 per token. Punctuation: runs of up to 2 characters per token.
The estimate is meant for Dify's context-size bookkeeping, not for billing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    MultiModalPromptMessageContent,
    PromptMessage,
    PromptMessageTool,
    TextPromptMessageContent,
    ensure_prompt_message,
)

__all__ = [
    "DOCUMENT_TOKENS",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "REQUEST_OVERHEAD",
    "estimate_prompt_tokens",
    "estimate_tokens",
]

#: Fixed tokens per request (start of sequence, the assistant turn marker...).
REQUEST_OVERHEAD = 6
#: Fixed tokens per message (role markers).
MESSAGE_OVERHEAD = 4
#: Fixed tokens per function declaration (besides its JSON text).
FUNCTION_OVERHEAD = 8
#: Fixed cost of an attached image (GigaChat does not publish it; typical of vision models).
IMAGE_TOKENS = 800
#: Fixed cost of an attached document (its text is read server-side; size unknown locally).
DOCUMENT_TOKENS = 1000
#: Other attachments (audio/video) - never accepted by this plugin, counted for completeness.
OTHER_FILE_TOKENS = 1000

# One alternative per kind of piece; a single space matches nothing (it costs no token), which
# halves the pieces to look at in ordinary prose.
_PIECES = re.compile(
    r"(\n+)"  # 1: newlines
    r"|([^\S\n]{2,})"  # 2: runs of spaces/tabs
    r"|([A-Za-z]+)"  # 3: Latin words
    r"|([\u0400-\u052F]+)"  # 4: Cyrillic words
    r"|(\d+)"  # 5: digits
    r"|([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af])"  # 6: one CJK character
    r"|([^\W\d_]+)"  # 7: other letters
    r"|([^\w\s]+|_+)"  # 8: punctuation
)
# Per group: characters per token as a fraction (num/den), so ceil(n / (num/den)) = ceil(n*den/num).
_RATES = (None, None, (4, 1), (7, 1), (9, 2), (2, 1), None, (3, 1), (2, 1))


def estimate_tokens(text: str | None) -> int:
    """Approximate GigaChat's token count for ``text`` (fast, local)."""
    if not text:
        return 0
    total = 0
    rates = _RATES
    for m in _PIECES.finditer(text):
        group = m.lastindex
        if group == 1 or group == 6:  # a newline run, a CJK character: one token
            total += 1
            continue
        num, den = rates[group]
        total += -(-(m.end() - m.start()) * den // num)
    return total


def _at_most(text: str | None) -> int:
    """An upper bound of ``estimate_tokens(text)`` in O(1): no piece of text costs more tokens than it
    has characters (every rate above is at least one character per token; a single space is free)."""
    return len(text) if text else 0


def _content_tokens(content: Any, count=estimate_tokens) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count(content)
    total = 0
    for part in content:
        if isinstance(part, TextPromptMessageContent):
            total += count(part.data)
        elif isinstance(part, MultiModalPromptMessageContent):
            kind = str(getattr(part, "type", ""))
            if kind.endswith("image"):
                total += IMAGE_TOKENS
            elif kind.endswith("document"):
                total += DOCUMENT_TOKENS
            else:
                total += OTHER_FILE_TOKENS
    return total


def _function_texts(tools: Iterable[PromptMessageTool] | None) -> list[str]:
    """Each function declaration as GigaChat receives it (after schema cleaning), as JSON text."""
    from gigachat_dify.chat.tool_schema import to_gigachat_function  # local: keeps this module light

    return [json.dumps(to_gigachat_function(tool), ensure_ascii=False) for tool in tools or []]


def _prompt_tokens(prompt_messages: Sequence[PromptMessage | Any], functions: list[str], count) -> int:
    total = REQUEST_OVERHEAD
    for raw in prompt_messages or []:
        m = ensure_prompt_message(raw)
        total += MESSAGE_OVERHEAD + _content_tokens(m.content, count)
        if isinstance(m, AssistantPromptMessage):
            for call in m.tool_calls:
                total += MESSAGE_OVERHEAD + count(call.function.name) + count(call.function.arguments)
        name = getattr(m, "name", None)
        if name:
            total += count(name)
    for text in functions:
        total += FUNCTION_OVERHEAD + count(text)
    return total


def estimate_prompt_tokens(
    prompt_messages: Sequence[PromptMessage | Any],
    tools: Iterable[PromptMessageTool] | None = None,
) -> int:
    """Estimate the prompt tokens of a Dify request: message texts with role overhead, tool calls
    and results, function declarations (as GigaChat receives them, after schema cleaning) and a
    fixed cost per image/document."""
    return _prompt_tokens(prompt_messages, _function_texts(tools), estimate_tokens)


#: A request is refused before any call only when the estimate exceeds the context by this factor.
#: Calibrated on the recordings (tests/unit/test_tokens.py replays every recorded chat): the
#: estimate never exceeds GigaChat's own prompt count there (it is exact on the v1 prompts and up to
#: 2 tokens under on v2), so a factor of 1.5 leaves room for texts unlike the recorded ones (the
#: per-script rates are estimates: Cyrillic counted at 4.5 letters per token would have to be 6.75
#: for a real request at the limit to be refused) while still stopping conversations that cannot fit.
CONTEXT_MARGIN = 1.5


def context_overflow(prompt_messages: Sequence[PromptMessage | Any], tools: Iterable[PromptMessageTool] | None,
                     context_size: int | None) -> str | None:
    """Why the request clearly cannot fit the model's context (a message for the user), or None."""
    if not context_size or context_size <= 0:
        return None
    functions = _function_texts(tools)
    # Every request pays this check: one that fits even at a token per character (most do) is
    # answered without the estimate's pass over every piece of its text.
    if _prompt_tokens(prompt_messages, functions, _at_most) <= context_size * CONTEXT_MARGIN:
        return None
    estimate = _prompt_tokens(prompt_messages, functions, estimate_tokens)
    if estimate <= context_size * CONTEXT_MARGIN:
        return None
    return (
        f"The conversation is about {estimate:,} tokens, {estimate / context_size:.1f} times this model's context of "
        f"{context_size:,} tokens (about {estimate - context_size:,} tokens over), so GigaChat would refuse it. "
        "Shorten it before sending: lower the memory window, send fewer or shorter documents or knowledge "
        "snippets, or shorten the system prompt."
    )
