"""`tokens.estimate_tokens` for many texts at once, with array operations instead of a regex match
and a Python step per word: the same numbers, bit for bit (tests/unit/test_token_batch.py).

Planning a knowledge base's embedding requests estimates every chunk longer in UTF-8 than the
model's limit; one regex piece per word made that the largest share of the plugin's CPU per vector.

How: every character gets its piece class from one table built from `tokens._PIECES` itself (so the
two cannot drift apart); a piece is then a run of equal classes, charged by `tokens._RATES`. That
holds when each character can belong to one kind of run only. Characters for which it does not
hold (letters that start the regex's catch-all "other letters" run, which swallows the Latin and
Cyrillic letters after them; combining marks that both a Cyrillic and a punctuation run continue
through; anything outside the Basic Multilingual Plane) mark their text "other", and such a text
is estimated by the regex, as before. Russian, English, digits, punctuation and CJK text never are.
numpy is imported here, on first use (the embedding path imports it anyway); the chat path never
imports this module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np

from gigachat_dify.tokens import _PIECES, _RATES, estimate_tokens

__all__ = ["estimate_many"]

# Classes are the regex's group numbers (1 newlines ... 8 punctuation); 9 is "underscore" (group 8's
# second alternative, a run of its own); OTHER sends the text to the regex.
_UNDERSCORE = 9
_OTHER = 10
_NEWLINE, _SPACES, _CJK = 1, 2, 6

#: Characters handled in one array pass: about a millisecond of work (a turn for other requests
#: after each), and arrays small enough to stay in the CPU's caches (larger passes were slower).
CHUNK_CHARS = 131_072

# Run membership of one character, per group of the regex (the sets a run of that group continues
# through). Group 2 (two or more spaces) and group 6 (one CJK character) are tested on the single
# character class they repeat.
_MEMBERS = (
    (1, re.compile(r"\n")),
    (2, re.compile(r"[^\S\n]")),
    (3, re.compile(r"[A-Za-z]")),
    (4, re.compile(r"[\u0400-\u052F]")),
    (5, re.compile(r"\d")),
    (6, re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")),
    (8, re.compile(r"[^\w\s]")),
    (_UNDERSCORE, re.compile(r"_")),
)
_OTHER_LETTER = re.compile(r"[^\W\d_]")


def _members(pattern: re.Pattern, chars: str) -> np.ndarray:
    """Which of `chars` (one per code point, all of them) match the one-character `pattern`."""
    marked = pattern.sub("\uffff", chars)  # U+FFFF: a noncharacter, classed _OTHER below
    return np.frombuffer(marked.encode("utf-32-le", "surrogatepass"), dtype="<u4") == 0xFFFF


@functools.cache
def _class_table() -> np.ndarray:
    """Class of every code point of the Basic Multilingual Plane, built once (tens of milliseconds).
    A character in exactly one run set has that set's class, unless it is a letter that would start
    the catch-all letters run (group 7); any other character is _OTHER."""
    chars = "".join(map(chr, range(0x10000)))
    member = np.stack([_members(pattern, chars) for _, pattern in _MEMBERS])
    groups = np.array([group for group, _ in _MEMBERS], dtype=np.uint8)
    table = np.where(member.sum(axis=0) == 1, groups[member.argmax(axis=0)], _OTHER).astype(np.uint8)
    starts_other_letters = _members(_OTHER_LETTER, chars) & ~np.isin(table, (3, 4, 6))
    table[starts_other_letters] = _OTHER
    table[0xFFFF] = _OTHER
    return table


def _rate_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Per class: characters per token as num/den (from tokens._RATES); 1/1 where a run costs one."""
    num = np.ones(_OTHER + 1, dtype=np.int64)
    den = np.ones(_OTHER + 1, dtype=np.int64)
    for group, rate in enumerate(_RATES):
        if rate is not None:
            num[group], den[group] = rate
    num[_UNDERSCORE], den[_UNDERSCORE] = _RATES[8]
    return num, den


_NUM, _DEN = _rate_arrays()


def _classes(texts: Sequence[str], total: int) -> np.ndarray:
    """The class of every character of `texts`, one after another."""
    joined = "".join(texts)
    units = np.frombuffer(joined.encode("utf-16-le", "surrogatepass"), dtype="<u2")
    if len(units) == total:  # no character beyond the BMP: one UTF-16 unit each
        return _class_table().take(units)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return _class_table().take(codes, mode="clip")  # beyond U+FFFF: clipped to U+FFFF, _OTHER


def _estimate_chunk(texts: Sequence[str]) -> list[int]:
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    total = int(lengths.sum())
    if total == 0:
        return [0] * len(texts)
    classes = _classes(texts, total)
    starts = np.cumsum(lengths) - lengths
    # A piece starts where the class changes, at a text's first character, and at every CJK character.
    begins = np.empty(total, dtype=bool)
    begins[0] = True
    np.not_equal(classes[1:], classes[:-1], out=begins[1:])
    begins[starts[lengths > 0]] = True
    begins |= classes == _CJK
    run_starts = np.flatnonzero(begins)
    run_lengths = np.diff(run_starts, append=total)
    run_classes = classes[run_starts]
    num, den = _NUM[run_classes], _DEN[run_classes]
    cost = (run_lengths * den + num - 1) // num
    cost[run_classes == _NEWLINE] = 1
    cost[(run_classes == _SPACES) & (run_lengths < 2)] = 0  # a single space is free
    owner = np.searchsorted(starts, run_starts, side="right") - 1  # text of each piece
    out = np.bincount(owner, weights=cost, minlength=len(texts)).astype(np.int64).tolist()
    for i in np.unique(owner[run_classes == _OTHER]).tolist():  # texts the table cannot settle
        out[i] = estimate_tokens(texts[i])
    return out


def estimate_many(texts: Sequence[str], between: Callable[[], None] | None = None) -> list[int]:
    """`[estimate_tokens(t) for t in texts]`, computed with array operations, `CHUNK_CHARS` characters
    at a time; `between` is called after each (it gives other requests a turn: embeddings/turns.py)."""
    out: list[int] = []
    chunk: list[str] = []
    size = 0
    for text in texts:
        text = text or ""
        if chunk and size + len(text) > CHUNK_CHARS:
            out.extend(_estimate_chunk(chunk))
            if between is not None:
                between()
            chunk, size = [], 0
        chunk.append(text)
        size += len(text)
    if chunk:
        out.extend(_estimate_chunk(chunk))
    return out
