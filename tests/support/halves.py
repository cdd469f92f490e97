"""Vectors as Dify receives them from the plugin: GigaChat's float16 values in their short form
(gigachat_dify/embeddings/values.py: `0.8862` for `0.88623046875`). Rounded to float16, each value
is GigaChat's bit for bit; this is the rounding a test applies before comparing."""

from __future__ import annotations

import struct
from collections.abc import Sequence


def as_halves(vector: Sequence[float]) -> list[float]:
    """Each value rounded to the nearest float16 (as a float)."""
    return list(struct.unpack(f"<{len(vector)}e", struct.pack(f"<{len(vector)}e", *vector)))
