"""The short form of vector values, measured and not shipped: float16-exact values as the shortest
decimal that rounds back to exactly the same float16.

Measured by bench/embeddings.py ("after + short form"): it halves the bytes per value on the
protocol line (~7 instead of ~14) but costs the plugin more CPU than it saves (a table lookup per
value, ~70 ns, while pydantic writes a short float no faster than a long one), so the plugin sends
GigaChat's values as they came (docs/benchmarks.md). Kept here, with its proof
(tests/unit/test_embedding_encoding.py), for the benchmark to re-measure as dify_plugin changes.

GigaChat's vector values are float16-exact (GIGACHAT_API.md; `0.88623046875`): as JSON they take
~14 characters each, although 3-5 significant digits identify a float16 uniquely (`0.8862` rounds
to the same half). A table maps each of the 63,488 finite half values (zeros excepted, to keep
their sign) to the float whose shortest repr is that decimal; pydantic then writes it as such.
Anyone who rounds a received value to float16 gets GigaChat's value bit for bit; read as float64 it
differs from it by less than half a float16 step.

Values that are not float16-exact (a customizable model with float32 output) are kept as they are
and counted.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Sequence

#: The longest JSON text pydantic writes for a value of the table (`-0.00001013`; checked over all
#: half values by tests/unit/test_embedding_encoding.py).
MAX_VALUE_CHARS = 11

_table: dict[float, float] | None = None
_table_lock = threading.Lock()


def half_bits_to_float(bits: int) -> float:
    return struct.unpack("<e", bits.to_bytes(2, "little"))[0]


def to_half(value: float) -> float | None:
    """`value` rounded to the nearest float16 (as a float), None beyond float16's range."""
    try:
        return struct.unpack("<e", struct.pack("<e", value))[0]
    except (OverflowError, struct.error):
        return None


def shortest_decimal(half: float) -> float:
    """The float with the fewest significant digits that rounds to `half` as a float16."""
    for digits in range(1, 18):
        candidate = float(f"{half:.{digits}g}")
        if to_half(candidate) == half:
            return candidate
    return half  # unreachable: 17 digits reproduce any float exactly


def _build() -> dict[float, float]:
    table = {}
    for bits in range(1 << 16):
        half = half_bits_to_float(bits)
        if math.isfinite(half) and half != 0.0:
            table[half] = shortest_decimal(half)
    return table


def table() -> dict[float, float]:
    """Built on first use (~0.2 s once per process), not at import: start-up stays fast."""
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                _table = _build()
    return _table


def compact(vector: Sequence[float]) -> tuple[list[float], int]:
    """The vector in short form, and how many of its values were not float16-exact (kept as they are)."""
    short = table()
    try:
        return [short[x] for x in vector], 0
    except KeyError:
        pass
    out, kept = [], 0
    for x in vector:
        value = short.get(x)
        if value is None:
            value = x
            kept += x != 0.0
        out.append(value)
    return out, kept


def compact_rounded(vector: Sequence[float]) -> tuple[list[float], int]:
    """For a vector the plugin computed (a long text's average of float16 pieces): rounded to the
    nearest float16 first, GigaChat's own precision, then in short form."""
    halves = [to_half(x) for x in vector]
    return compact([x if h is None else h for x, h in zip(vector, halves)])
