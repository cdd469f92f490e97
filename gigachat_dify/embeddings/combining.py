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

import math
from collections.abc import Sequence


def combine_pieces(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """A single vector as it is; several: their weighted average at their weighted mean length."""
    if not vectors or len(vectors) != len(weights):
        raise ValueError("need one weight per vector")
    if len(vectors) == 1:
        return list(vectors[0])
    dim = len(vectors[0])
    if any(len(v) != dim for v in vectors):
        raise ValueError("piece vectors differ in dimension")
    total = float(sum(weights))
    if total <= 0:
        weights, total = [1.0] * len(vectors), float(len(vectors))
    shares = [w / total for w in weights]
    acc = [0.0] * dim
    for vector, share in zip(vectors, shares):
        for i, x in enumerate(vector):
            acc[i] += share * x
    length = math.hypot(*acc)
    target = math.fsum(share * math.hypot(*v) for v, share in zip(vectors, shares))
    if not length or not math.isfinite(length) or not math.isfinite(target):
        raise ValueError("the pieces' vectors average to zero or overflow")
    scale = target / length
    return [x * scale for x in acc]
