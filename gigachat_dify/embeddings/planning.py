"""Splitting long texts and planning requests: texts -> batches of pieces, in input order.

Pure functions. Long texts are split on paragraph / line / sentence / word boundaries into pieces
that fit the model's per-text limit, with a safety margin (the local token estimate is not
GigaChat's tokenizer); pieces are packed into requests of at most `max_per_request` texts and
`max_tokens_per_request` estimated tokens. Empty or whitespace-only texts are sent as
`EMPTY_TEXT_PLACEHOLDER`: a chunk with no content must not fail a whole knowledge-base indexing
run, and a zero vector would break cosine search in several vector stores (NaN distances).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gigachat_dify.embeddings.config import DEFAULT_LIMIT_TOKENS, MAX_TOKENS_PER_REQUEST
from gigachat_dify.tokens import estimate_tokens

# The local estimate is not GigaChat's tokenizer: pieces aim at 80% of the limit, minus the few
# tokens GigaChat adds to every input (recorded: "First text" -> 7 prompt tokens).
SAFETY_RATIO = 0.8
PER_TEXT_OVERHEAD_TOKENS = 8
MIN_PIECE_TOKENS = 16

EMPTY_TEXT_PLACEHOLDER = "."  # non-blank: what an empty/whitespace-only text is embedded as


def default_estimator() -> Callable[[str], int]:
    """THE local token estimate (`gigachat_dify.tokens`); callers may pass their own."""
    return estimate_tokens


def piece_budget(limit_tokens: int) -> int:
    """Estimated tokens one piece may have to stay under `limit_tokens` real tokens."""
    return max(MIN_PIECE_TOKENS, int(limit_tokens * SAFETY_RATIO) - PER_TEXT_OVERHEAD_TOKENS)


# --- Splitting --------------------------------------------------------------------------------

# Boundaries, best first; a cut is made just after the match.
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraph
    re.compile(r"\n\s*"),  # line
    re.compile(r"[.!?…;:](?:[\"'»)\]]*)\s+"),  # sentence (or clause)
    re.compile(r"[,\s]\s*"),  # word
)


def _cut_position(text: str, lo: int, hi: int) -> int:
    """Where to end a piece within text[lo:hi]: after the last best boundary, else at hi."""
    window = text[lo:hi]
    for pattern in _BOUNDARIES:
        last = None
        for last in pattern.finditer(window):
            pass
        if last is not None and last.end() > 0:
            return lo + last.end()
    return hi


def split_text(text: str, budget: int, estimate: Callable[[str], int]) -> list[str]:
    """Split `text` into consecutive pieces each estimated at <= `budget` tokens.

    Lossless (``"".join(pieces) == text``), pieces of similar size, cut at the best boundary in
    the second half of each piece's allowance. Linear in the text length apart from re-splitting
    a piece whose token density is above the text's average.
    """
    total = estimate(text)
    if total <= budget or len(text) <= 1:
        return [text]
    count = math.ceil(total / budget)
    target = max(1, len(text) // count)
    pieces: list[str] = []
    start = 0
    while start < len(text):
        if len(text) - start <= target:
            end = len(text)
        else:
            end = _cut_position(text, start + max(1, target // 2), start + target)
        pieces.append(text[start:end])
        start = end
    out: list[str] = []
    for piece in pieces:
        if len(piece) < len(text) and estimate(piece) > budget:
            out.extend(split_text(piece, budget, estimate))
        else:
            out.append(piece)
    return out


# --- Planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    text_index: int  # position of the original text in the request
    text: str  # what is sent
    weight: int  # its length: the weight of its vector in the text's average
    tokens: int  # estimated
    key: tuple[int, ...]  # sort key among all pieces (stable combining order)


@dataclass(frozen=True)
class Batch:
    number: int  # 1-based
    total: int
    pieces: tuple[Piece, ...]
    resplit: bool = False

    @property
    def first_text(self) -> int:
        return min(p.text_index for p in self.pieces)

    @property
    def last_text(self) -> int:
        return max(p.text_index for p in self.pieces)

    @property
    def label(self) -> str:
        span = f"text {self.first_text}" if self.first_text == self.last_text else f"texts {self.first_text}-{self.last_text}"
        return f"batch {self.number} of {self.total} ({span}{', split further' if self.resplit else ''})"


def is_blank(text: str | None) -> bool:
    return not text or not text.strip()


def _pieces_of(index: int, text: str, budget: int, estimate: Callable[[str], int], key: tuple[int, ...]) -> list[Piece]:
    if is_blank(text):
        return [Piece(index, EMPTY_TEXT_PLACEHOLDER, 1, 1, key + (0,))]
    tokens = estimate(text)
    if tokens <= budget:  # the common case: one estimate per text
        return [Piece(index, text, len(text), tokens, key + (0,))]
    parts = [p for p in split_text(text, budget, estimate) if not is_blank(p)]
    if len(parts) == 1:
        return [Piece(index, parts[0], max(1, len(parts[0])), estimate(parts[0]), key + (0,))]
    return [Piece(index, p, len(p), estimate(p), key + (n,)) for n, p in enumerate(parts)]


def _pack(
    pieces: Sequence[Piece], max_per_request: int, max_tokens_per_request: int | None
) -> list[list[Piece]]:
    groups: list[list[Piece]] = []
    current: list[Piece] = []
    tokens = 0
    for piece in pieces:
        cost = piece.tokens + PER_TEXT_OVERHEAD_TOKENS
        full = len(current) >= max_per_request or (
            max_tokens_per_request is not None and current and tokens + cost > max_tokens_per_request
        )
        if full:
            groups.append(current)
            current, tokens = [], 0
        current.append(piece)
        tokens += cost
    if current:
        groups.append(current)
    return groups


def plan_batches(
    texts: Sequence[str],
    limit_tokens: int,
    max_per_request: int,
    *,
    max_tokens_per_request: int | None = MAX_TOKENS_PER_REQUEST,
    estimate: Callable[[str], int] | None = None,
) -> list[Batch]:
    """Pure: texts -> batches of pieces, in input order. A text over the limit becomes several
    consecutive pieces; a blank text becomes one placeholder piece."""
    estimate = estimate or default_estimator()
    budget = piece_budget(limit_tokens)
    pieces: list[Piece] = []
    for index, text in enumerate(texts):
        pieces.extend(_pieces_of(index, text, budget, estimate, (index,)))
    groups = _pack(pieces, max(1, max_per_request), max_tokens_per_request)
    return [Batch(n + 1, len(groups), tuple(g)) for n, g in enumerate(groups)]


def resplit_batch(batch: Batch, limit_tokens: int, estimate: Callable[[str], int]) -> list[Batch]:
    """After a 413/422: the same pieces cut to half the limit (at most the conservative default)
    and sent in requests of half the size. Sub-batches keep the parent's number for messages."""
    limit = max(MIN_PIECE_TOKENS, min(limit_tokens // 2, DEFAULT_LIMIT_TOKENS))
    budget = piece_budget(limit)
    pieces: list[Piece] = []
    for piece in batch.pieces:
        parts = [p for p in split_text(piece.text, budget, estimate) if not is_blank(p)] or [piece.text]
        if len(parts) == 1:
            pieces.append(piece)
        else:
            pieces.extend(Piece(piece.text_index, p, len(p), estimate(p), piece.key + (n,)) for n, p in enumerate(parts))
    groups = _pack(pieces, max(1, len(batch.pieces) // 2), None)
    return [Batch(batch.number, batch.total, tuple(g), resplit=True) for g in groups]


