"""One vector for a text that was sent as several pieces.

Vectors are returned as GigaChat gave them (Dify normalises every vector itself in CacheEmbedding;
normalising here would only cost CPU and change values other callers may rely on). A text split
into pieces gets the length-weighted average of its pieces' vectors, as Dify's OpenAI provider
does, scaled to the pieces' weighted mean length: averaging shortens a vector (the pieces point in
different directions), and without the rescale a long text's vector would sit at a different
scale than every other vector GigaChat returns (|v| ~ 29), which matters to callers that compare
raw vectors by dot product. The direction, all cosine search sees, is the plain weighted average.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_ROWS_AT_ONCE = 256


def combine_pieces(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> np.ndarray:
    """A single vector as it is; several: their weighted average at their weighted mean length.
    Vector operations (numpy), float64 whatever the pieces' type."""
    if not len(vectors) or len(vectors) != len(weights):
        raise ValueError("need one weight per vector")
    if len({len(v) for v in vectors}) != 1:
        raise ValueError("piece vectors differ in dimension")
    pieces = np.asarray(vectors)  # float16 pieces stay 2 bytes a value (a 10 MB text: ~6,000 pieces)
    if len(pieces) == 1:
        return pieces[0].astype(np.float64)
    shares = np.asarray(weights, dtype=np.float64)
    total = float(shares.sum())
    shares = shares / total if total > 0 else np.full(len(pieces), 1 / len(pieces))
    average = np.zeros(pieces.shape[1])
    target = 0.0
    for start in range(0, len(pieces), _ROWS_AT_ONCE):  # widened to float64 a slice at a time
        rows = pieces[start:start + _ROWS_AT_ONCE].astype(np.float64)
        average += shares[start:start + _ROWS_AT_ONCE] @ rows
        target += float(shares[start:start + _ROWS_AT_ONCE] @ np.linalg.norm(rows, axis=1))
    length = float(np.linalg.norm(average))
    if not length or not np.isfinite(length) or not np.isfinite(target):
        raise ValueError("the pieces' vectors average to zero or overflow")
    return average * (target / length)
