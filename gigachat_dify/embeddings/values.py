"""Vector values: one answer's vectors as a numpy block, and their text on Dify's protocol line.

GigaChat's values are float16-exact (GIGACHAT_API.md: `0.88623046875`). Printed as they came they
take ~14 characters each, although 3-5 significant digits identify a half: `0.8862` rounds to the
same float16. So a block whose every value is a half is kept as float16 (2 bytes a value, not a
Python float's 32) and written in the short form: each half as the shortest decimal that rounds
back to exactly it (numpy's float16 repr, Dragon4's shortest unique digits), in the characters
pydantic writes for that decimal. ~7 bytes a value, at most `size.SHORT_VALUE_CHARS`; anyone who rounds
a received value to float16 gets GigaChat's value bit for bit (tests/unit/test_embedding_encoding.py
proves it over all 63,488 finite halves). The text is joined from a table indexed by the halves'
bits: no Python call per value.

A block with any value that is not a half (a model with float32 output) stays float64 and is
written exactly as it came, as pydantic would write it: at most `size.LONG_VALUE_CHARS` a value.

numpy is imported by the first embeddings call (this module is imported lazily), not at start-up.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence

import numpy as np
import orjson


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(text, float) of the short form of every float16 bit pattern; built once (~30 ms)."""
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = np.isfinite(halves)
    shortest = halves[finite].astype(str).astype(np.float64)  # Dragon4: shortest digits of each half
    with np.errstate(over="ignore"):
        wrong = shortest.astype(np.float16) != halves[finite]
    shortest[wrong] = halves[finite][wrong]  # never happens (tests); a half is always itself
    floats = np.zeros(1 << 16)
    floats[finite] = shortest
    texts = np.full(1 << 16, b"null", dtype=object)  # non-finite patterns never reach a block
    texts[finite] = orjson.dumps(shortest.tolist())[1:-1].split(b",")  # pydantic's characters (tests)
    return texts, floats


def block(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """The vectors (all of one length, finite) as an (n, dims) array: float16 when every value is
    exactly a half, else float64 holding them exactly as they came."""
    if not len(vectors):
        return narrowed(np.zeros((0, 0)))
    return narrowed(np.frombuffer(doubles(vectors), dtype=np.float64).reshape(len(vectors), -1))


def doubles(vectors: Sequence[Sequence[float]]) -> bytes:
    """The vectors, one after another, as C doubles. C speed, 7 times less CPU than
    array("d").extend; a value that is not a number (a string, null, a list) or a vector of another
    length than the first is a struct.error, an integer beyond a double's range an OverflowError."""
    if not len(vectors):
        return b""
    packer = struct.Struct(f"{len(vectors[0])}d")
    return b"".join([packer.pack(*vector) for vector in vectors])


def narrowed(values: np.ndarray) -> np.ndarray:
    """A float64 block as float16 when every value is exactly a half, else itself."""
    with np.errstate(over="ignore"):
        halves = values.astype(np.float16)
    return halves if np.array_equal(halves, values) else values


def is_short(values: np.ndarray) -> bool:
    """The block travels in the short form."""
    return values.dtype == np.float16


def stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows of blocks as one block: float16 only if every row is."""
    if not rows:
        return np.zeros((0, 0), dtype=np.float16)
    return np.stack(rows)  # float16 rows with a float64 one are widened exactly


def exact(values: np.ndarray) -> list[list[float]]:
    """The values as Python floats, exactly as GigaChat gave them."""
    return values.astype(np.float64).tolist()


def short_floats(values: np.ndarray) -> list[list[float]]:
    """Floats whose shortest repr is the short form (a float16 block), else the values as they came:
    what pydantic writes for these is exactly `json_text(values)`."""
    if not is_short(values):
        return values.tolist()
    return _tables()[1][values.view(np.uint16)].tolist()


@functools.cache
def _pieces() -> np.ndarray:
    """Fixed-width pieces of the short form's text, NUL-padded: entry `bits` is that half's text and
    a comma, entry `bits + 65536` its text and "],[" (a row's last value). Built once (~20 ms)."""
    texts = _tables()[0].tolist()
    return np.array([t + b"," for t in texts] + [t + b"],[" for t in texts], dtype=f"S{max(map(len, texts)) + 3}")


def json_text(values: np.ndarray) -> bytes:
    """The block as the JSON array of arrays pydantic would write for `short_floats(values)`."""
    if not is_short(values):
        return orjson.dumps(values.tolist())
    if not len(values) or not values.shape[1]:
        return b"[" + b",".join([b"[]"] * len(values)) + b"]"
    # One gather of fixed-width pieces (each row's last value from the "],[" half of the table), the
    # padding deleted at C speed: no Python step per value or per row.
    index = values.view(np.uint16).astype(np.int32)
    index[:, -1] += 1 << 16
    body = _pieces().take(index).tobytes().translate(None, b"\0")
    return b"[[" + body[:-2] + b"]"  # the last row ends "],[": its "[" and "," are dropped, "]" closes


def combine(rows: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """One vector for a text sent as several pieces (combining.py says why this average), rounded
    to float16, GigaChat's own precision, when every piece was a half (so it travels short)."""
    from gigachat_dify.embeddings.combining import combine_pieces

    combined = combine_pieces(rows, weights)
    if all(is_short(r) for r in rows):
        with np.errstate(over="ignore"):
            halves = combined.astype(np.float16)
        if np.isfinite(halves).all():
            return halves
    return combined

