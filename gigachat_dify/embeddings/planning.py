"""Splitting long texts and planning requests: texts -> batches of pieces, in input order.

Pure functions. Long texts are split on paragraph / line / sentence / word boundaries into pieces
that fit the model's per-text limit, with a safety margin (the local token estimate is not
GigaChat's tokenizer); pieces are packed into requests of at most `max_per_request` texts and
`max_bytes_per_request` bytes of UTF-8. Tokens are estimated only where a cheap bound cannot settle
the question: no tokenizer makes more tokens than a text has bytes, so a text whose UTF-8 length
(with GigaChat's per-text overhead) is within the model's limit is sent as it is, unestimated.
A very long text is split a segment at a time, giving other requests a turn in between
(turns.py). Empty or whitespace-only texts are sent as
`EMPTY_TEXT_PLACEHOLDER`: a chunk with no content must not fail a whole knowledge-base indexing
run, and a zero vector would break cosine search in several vector stores (NaN distances).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from gigachat_dify.embeddings.config import DEFAULT_LIMIT_TOKENS, MAX_BYTES_PER_REQUEST
from gigachat_dify.embeddings.turns import Turns
from gigachat_dify.tokens import estimate_tokens

# The local estimate is not GigaChat's tokenizer: pieces aim at 80% of the limit, minus the few
# tokens GigaChat adds to every input (recorded: "First text" -> 7 prompt tokens).
SAFETY_RATIO = 0.8
PER_TEXT_OVERHEAD_TOKENS = 8
MIN_PIECE_TOKENS = 16

EMPTY_TEXT_PLACEHOLDER = "."  # non-blank: what an empty/whitespace-only text is embedded as
#: A text longer than this is split a segment at a time (each estimated in a few milliseconds).
SEGMENT_CHARS = 32_768


def default_estimator() -> Callable[[str], int]:
    """THE local token estimate (`gigachat_dify.tokens`); callers may pass their own."""
    return estimate_tokens


def _estimate_each(texts: Sequence[str], estimate: Callable[[str], int], turns: Turns | None) -> list[int]:
    """`estimate` of each text. THE estimate is computed with array operations over all of them
    (token_batch.py: the same numbers, about ten times faster); any other is called per text."""
    if estimate is estimate_tokens:
        from gigachat_dify.token_batch import estimate_many

        return estimate_many(texts, between=turns)
    counts = []
    for text in texts:
        counts.append(estimate(text))
        if turns is not None:
            turns()
    return counts


def count_tokens(texts: Sequence[str], estimate: Callable[[str], int] | None = None) -> list[int]:
    """Estimated tokens of each text (0 for an empty one), giving other requests a turn as it goes:
    Dify asks for whole groups of segments at once (200,000 texts are seconds of work)."""
    owners, segments = [], []
    for index, text in enumerate(texts):
        for segment in _segments(text) if text else ():  # a very long text: estimated in parts
            owners.append(index)
            segments.append(segment)
    counts = [0] * len(texts)
    for index, tokens in zip(owners, _estimate_each(segments, estimate or default_estimator(), Turns())):
        counts[index] += tokens
    return counts


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


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8 (a lone surrogate counted as the 3 bytes it would take)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def certainly_fits(text: str, limit_tokens: int, size: int | None = None) -> bool:
    """No tokenizer makes more tokens than the text has UTF-8 bytes: within the limit, whatever
    GigaChat's tokenizer is, without estimating (`size`: its UTF-8 bytes, when known)."""
    return (utf8_size(text) if size is None else size) + PER_TEXT_OVERHEAD_TOKENS <= limit_tokens


def _segments(text: str) -> Iterator[str]:
    """`text` in consecutive segments of at most SEGMENT_CHARS, cut at the best boundary in the
    second half of each; one at a time (a 10 MB text has 300 of them)."""
    start = 0
    while len(text) - start > SEGMENT_CHARS:
        end = _cut_position(text, start + SEGMENT_CHARS // 2, start + SEGMENT_CHARS)
        yield text[start:end]
        start = end
    yield text[start:]


def split_text(text: str, budget: int, estimate: Callable[[str], int], total: int | None = None) -> list[str]:
    """Split `text` into consecutive pieces each estimated at <= `budget` tokens (`total`: the
    text's estimate, when the caller has it).

    Lossless (``"".join(pieces) == text``), pieces of similar size, cut at the best boundary in
    the second half of each piece's allowance. Linear in the text length apart from re-splitting
    a piece whose token density is above the text's average.
    """
    total = estimate(text) if total is None else total
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
    size: int  # its UTF-8 bytes (requests are packed by them)
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


def _needs_estimate(text: str, limit_tokens: int, size: int) -> bool:
    return not is_blank(text) and not certainly_fits(text, limit_tokens, size)


def _pieces_of(index: int, text: str, size: int, limit_tokens: int, estimate: Callable[[str], int],
               key: tuple[int, ...], turns: Turns | None = None, known: int | None = None) -> list[Piece]:
    """`text` (`size`: its UTF-8 bytes) as pieces within the limit; `known`: its estimate, when the
    caller has it."""
    if is_blank(text):
        return [Piece(index, EMPTY_TEXT_PLACEHOLDER, 1, 1, key + (0,))]
    if certainly_fits(text, limit_tokens, size):  # the common case for short texts: nothing to estimate
        return [Piece(index, text, len(text), size, key + (0,))]
    budget = piece_budget(limit_tokens)
    if known is not None:
        segments, estimates = [text], [known]
    else:
        segments, estimates = [], []
        for segment in _segments(text):  # one, unless the text is very long: then a turn after each
            segments.append(segment)
            estimates.append(estimate(segment))
            if turns is not None:
                turns()
    if sum(estimates) <= budget:
        return [Piece(index, text, len(text), size, key + (0,))]
    parts: list[str] = []
    for segment, tokens in zip(segments, estimates):
        parts.extend(p for p in split_text(segment, budget, estimate, tokens) if not is_blank(p))
        if turns is not None:
            turns()
    if len(parts) == 1:
        return [Piece(index, parts[0], max(1, len(parts[0])), utf8_size(parts[0]), key + (0,))]
    return [Piece(index, p, len(p), utf8_size(p), key + (n,)) for n, p in enumerate(parts)]


def _pack(pieces: Sequence[Piece], max_per_request: int, max_bytes_per_request: int | None) -> list[list[Piece]]:
    groups: list[list[Piece]] = []
    current: list[Piece] = []
    size = 0
    for piece in pieces:
        full = len(current) >= max_per_request or (
            max_bytes_per_request is not None and current and size + piece.size > max_bytes_per_request
        )
        if full:
            groups.append(current)
            current, size = [], 0
        current.append(piece)
        size += piece.size
    if current:
        groups.append(current)
    return groups


def plan_batches(
    texts: Sequence[str],
    limit_tokens: int,
    max_per_request: int,
    *,
    max_bytes_per_request: int | None = MAX_BYTES_PER_REQUEST,
    estimate: Callable[[str], int] | None = None,
    turns: Turns | None = None,
) -> list[Batch]:
    """Pure: texts -> batches of pieces, in input order. A text over the limit becomes several
    consecutive pieces; a blank text becomes one placeholder piece. `turns` is called between
    texts and between the segments of a very long one."""
    estimate = estimate or default_estimator()
    # Texts of one segment that a byte count cannot settle are estimated together, up front.
    sizes = [utf8_size(text or "") for text in texts]  # once a text: the bound, then the piece's size
    unsettled = [i for i, text in enumerate(texts)
                 if len(text or "") <= SEGMENT_CHARS and _needs_estimate(text, limit_tokens, sizes[i])]
    known = dict(zip(unsettled, _estimate_each([texts[i] for i in unsettled], estimate, turns)))
    pieces: list[Piece] = []
    for index, text in enumerate(texts):
        pieces.extend(_pieces_of(index, text, sizes[index], limit_tokens, estimate, (index,), turns, known.get(index)))
        if turns is not None:
            turns()
    groups = _pack(pieces, max(1, max_per_request), max_bytes_per_request)
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
            pieces.extend(Piece(piece.text_index, p, len(p), utf8_size(p), piece.key + (n,)) for n, p in enumerate(parts))
    groups = _pack(pieces, max(1, len(batch.pieces) // 2), None)
    return [Batch(batch.number, batch.total, tuple(g), resplit=True) for g in groups]


