"""Deterministic stand-in for GigaChat's tokenizer.

The real tokenizer is not public. This approximation reproduces every count recorded from the
real API (tokens_count cassettes: "First text" -> 2, "Second text" -> 2, "Hello, world!" -> 4;
the chat cassettes, where "Say 'Hello' and nothing else" and "Count from 1 to 3" both cost the
same 17 prompt tokens) and keeps the properties the rest of the emulator relies on: the pieces
concatenate back to the text, so completions can be cut and streamed at token boundaries.

Rules, tried in this order at each position:
- a run of letters (any script) with at most one leading space, up to 7 letters per token;
- a single digit (a space before a digit is a token of its own, as in the recordings);
- a single punctuation mark or symbol, with at most one leading space;
- one or two newlines;
- other whitespace runs (the last space of a run before a word or mark joins that word).
"""

from __future__ import annotations

import re

_PIECE = re.compile(
    r"""
      [ ]?[^\W\d_]{1,7}
    | \d
    | [ ]?(?:[^\w\s]|_)
    | \n{1,2}
    | [^\S\n]+?(?=[ ][^\s\d])
    | [^\S\n]+
    """,
    re.VERBOSE,
)


def split_tokens(text: str) -> list[str]:
    """The text cut into tokens; "".join(split_tokens(t)) == t."""
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    """Number of tokens of `text` (the one counting function used by every endpoint)."""
    return len(split_tokens(text))
