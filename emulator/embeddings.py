"""POST /embeddings and POST /tokens/count."""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any

from emulator import catalog
from emulator.errors import NO_SUCH_MODEL, ApiError, invalid
from emulator.tokens import count_tokens

DIMENSIONS = 1024  # recorded for Embeddings; assumed for the other models
# Emulator assumption (no source gives the real figure): at most this many texts per request.
MAX_BATCH = 100
# Recorded usage: "First text" (2 tokens) -> prompt_tokens 7, "Hello, world!" (4) -> 9.
EMBEDDING_TOKEN_OVERHEAD = 5


def vector(model: str, text: str) -> list[float]:
    """A unit-norm vector derived from sha256(model, text): same input, same vector.
    (The real vectors are not unit-norm, |v| ~ 29; cosine similarity is unaffected.)"""
    seed = hashlib.sha256(f"{model}\0{text}".encode()).digest()
    raw = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(DIMENSIONS * 4 // 32))
    values = [v / 2147483648.0 - 1.0 for v in struct.unpack(f">{DIMENSIONS}I", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _texts(body: Any, field: str = "input") -> list[str]:
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    texts = body.get(field)
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise invalid(f"{field} must be a non-empty list of strings")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise invalid(f"{field}[{i}] must be a string")
    return texts


def embeddings(body: Any) -> dict:
    texts = _texts(body)
    model = body.get("model")
    if model not in catalog.EMBEDDING_MODELS:
        raise ApiError(404, NO_SUCH_MODEL)
    if len(texts) > MAX_BATCH:
        raise invalid(f"too many inputs: {len(texts)} (at most {MAX_BATCH} per request)")
    limit = catalog.EMBEDDING_TOKEN_LIMITS[model]
    data = []
    for i, text in enumerate(texts):
        if not text.strip():
            raise invalid(f"input[{i}] is empty")
        tokens = count_tokens(text)
        if tokens > limit:
            # 413, not 422: it is the API's documented status for oversized input, and embedding
            # servers answer exactly this case with 413 ("inputs must have less than 512 tokens").
            raise ApiError(413, f"Input {i} is too long: {tokens} tokens, model {model} accepts at most {limit}")
        data.append(
            {
                "object": "embedding",
                "index": i,
                "embedding": vector(model, text),
                "usage": {"prompt_tokens": tokens + EMBEDDING_TOKEN_OVERHEAD},
            }
        )
    return {"object": "list", "model": model, "data": data}


def tokens_count(body: Any) -> list[dict]:
    texts = _texts(body)
    if body.get("model") not in catalog.MODEL_TYPES:
        raise ApiError(404, NO_SUCH_MODEL)
    return [{"object": "tokens", "tokens": count_tokens(t), "characters": len(t)} for t in texts]
