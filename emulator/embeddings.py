"""POST /embeddings and POST /tokens/count.

Vectors imitate the recorded ones (cassettes test_embeddings_*, model Embeddings, Jan 2026):
- every value is exactly an IEEE half (float16) and is printed as Python's json.dumps prints that
  half widened to a double (shortest repr: `0.88623046875`, `-0.0357666015625`, `6.103515625e-05`),
  items separated by ", " as in the recorded text;
- values have mean -0.023 and standard deviation ~0.91; the vector norm is ~29 (29.15-29.41
  recorded), one "massive" dimension carries ~5.6 in every vector (index 386 for Embeddings);
- vectors of different texts are far from orthogonal: recorded cosines are 0.81-0.93, because
  most of each vector is a direction shared by the whole model. So here a vector is a fixed
  per-model base plus a per-text deviation: base N(-0.023, 0.82) per value, deviation
  N(0, 0.34) (these give norm ~29.4 and cosine ~0.86 between unrelated texts for 1024 values).
Deterministic per (model, text), no meaning: similar texts get unrelated deviations.
The same per-value distribution is assumed for the 2048/2560-value models (no recording), so
their norms are ~40 (2048) and ~45 (2560).

`FLOAT32_MODELS` stand in for a customizable deployment whose values are float32, not halves (as
an older GigaChat answered: the SDK's recorded fixture, `0.34410548210144043`): the same vectors
before their rounding to float16, rounded to float32 instead. They are not in GET /models.
"""

from __future__ import annotations

import functools
import hashlib
import json
import statistics
import struct
from typing import Any

from emulator import catalog
from emulator.errors import NO_SUCH_MODEL, ApiError, invalid
from emulator.tokens import count_tokens

# Emulator assumption (no source gives the real figure; a third-party client cites 100): at most
# this many texts per request.
MAX_BATCH = 100
# Recorded usage: "First text" (2 tokens) -> prompt_tokens 7, "Hello, world!" (4) -> 9.
EMBEDDING_TOKEN_OVERHEAD = 5

BASE_MEAN = -0.023
BASE_STD = 0.82
DEVIATION_STD = 0.34
MASSIVE_VALUE = 5.58  # mean of the three recorded values at index 386
MASSIVE_DEVIATION_SHARE = 0.3  # that dimension varies little between texts
RECORDED_MASSIVE_INDEX = {"Embeddings": 386}
# name -> the listed model whose vectors, limits and dimensions it has, its values float32
FLOAT32_MODELS = {"Embeddings-float32": "Embeddings", "EmbeddingsGigaR-float32": "EmbeddingsGigaR"}


def listed(model: str) -> str:
    """The listed model behind `model` (itself, or what a float32 stand-in imitates)."""
    return FLOAT32_MODELS.get(model, model)


def dimensions(model: str) -> int:
    return catalog.EMBEDDING_DIMENSIONS[listed(model)]


@functools.cache
def _normal_quantiles() -> tuple[float, ...]:
    """65,536 quantiles of N(0, 1): a uint16 of hash output becomes one normal deviate."""
    nd = statistics.NormalDist()
    return tuple(nd.inv_cdf((u + 0.5) / 65536) for u in range(65536))


def _uniform16(seed: bytes, n: int) -> tuple[int, ...]:
    return struct.unpack(f"<{n}H", hashlib.shake_256(seed).digest(2 * n))


@functools.cache
def _massive_index(model: str) -> int:
    if model in RECORDED_MASSIVE_INDEX:
        return RECORDED_MASSIVE_INDEX[model]
    return int.from_bytes(hashlib.sha256(b"massive\0" + model.encode()).digest()[:4], "big") % dimensions(model)


@functools.cache
def _base(model: str) -> tuple[float, ...]:
    q = _normal_quantiles()
    base = [BASE_MEAN + BASE_STD * q[u] for u in _uniform16(b"base\0" + model.encode(), dimensions(model))]
    base[_massive_index(model)] = MASSIVE_VALUE
    return tuple(base)


@functools.cache
def _deviations() -> tuple[float, ...]:
    return tuple(DEVIATION_STD * x for x in _normal_quantiles())


def _unrounded(model: str, text: str) -> list[float]:
    base = _base(model)
    dev = _deviations()
    n = len(base)
    noise = _uniform16(f"{model}\0{text}".encode(), n)
    values = [b + dev[u] for b, u in zip(base, noise)]
    massive = _massive_index(model)
    values[massive] = base[massive] + MASSIVE_DEVIATION_SHARE * dev[noise[massive]]  # recorded: 5.50-5.73
    return values


def half_bytes(model: str, text: str) -> bytes:
    """The vector as little-endian float16 values (struct format "e": rounded to nearest even)."""
    values = _unrounded(model, text)
    return struct.pack(f"<{len(values)}e", *values)


def vector(model: str, text: str) -> list[float]:
    """The API's vector for `text`: float16-exact values, norm ~29 (see the module docstring);
    float32 values for a float32 stand-in."""
    if model in FLOAT32_MODELS:
        values = _unrounded(listed(model), text)
        return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))
    raw = half_bytes(model, text)
    return list(struct.unpack(f"<{len(raw) // 2}e", raw))


@functools.cache
def _half_reprs() -> tuple[str, ...]:
    """How json.dumps prints each float16 bit pattern (NaN/inf never occur: values stay < 10)."""
    return tuple(repr(v) for v in struct.unpack("<65536e", struct.pack("<65536H", *range(65536))))


def _vector_json(model: str, text: str) -> str:
    raw = half_bytes(model, text)
    reprs = _half_reprs()
    return "[" + ", ".join([reprs[b] for b in struct.unpack(f"<{len(raw) // 2}H", raw)]) + "]"


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


def _checked(body: Any) -> tuple[str, list[tuple[str, int]]]:
    """(model, [(text, prompt_tokens)]) of a valid request, else ApiError."""
    texts = _texts(body)
    model = body.get("model")
    if not isinstance(model, str) or listed(model) not in catalog.EMBEDDING_MODELS:
        raise ApiError(404, NO_SUCH_MODEL)
    if len(texts) > MAX_BATCH:
        raise invalid(f"too many inputs: {len(texts)} (at most {MAX_BATCH} per request)")
    limit = catalog.EMBEDDING_TOKEN_LIMITS[listed(model)]
    out = []
    for i, text in enumerate(texts):
        if not text.strip():
            raise invalid(f"input[{i}] is empty")
        tokens = count_tokens(text)
        if tokens > limit:
            # 413, not 422: it is the API's documented status for oversized input, and embedding
            # servers answer exactly this case with 413 ("inputs must have less than 512 tokens").
            raise ApiError(413, f"Input {i} is too long: {tokens} tokens, model {model} accepts at most {limit}")
        out.append((text, tokens + EMBEDDING_TOKEN_OVERHEAD))
    return model, out


def embeddings(body: Any) -> dict:
    """The answer as a dict (key order as recorded: object, model, data; object, index, embedding, usage)."""
    model, items = _checked(body)
    data = [
        {"object": "embedding", "index": i, "embedding": vector(model, text), "usage": {"prompt_tokens": tokens}}
        for i, (text, tokens) in enumerate(items)
    ]
    return {"object": "list", "model": model, "data": data}


def embeddings_json(body: Any) -> bytes:
    """What the endpoint sends: exactly json.dumps(embeddings(body), ensure_ascii=False), built from
    pre-printed float16 values (90 texts x 2,560 values in ~30 ms instead of ~130 ms)."""
    model, items = _checked(body)
    if model in FLOAT32_MODELS:
        return json.dumps(embeddings(body), ensure_ascii=False).encode()
    data = ", ".join(
        '{"object": "embedding", "index": %d, "embedding": %s, "usage": {"prompt_tokens": %d}}'
        % (i, _vector_json(model, text), tokens)
        for i, (text, tokens) in enumerate(items)
    )
    return ('{"object": "list", "model": %s, "data": [%s]}' % (json.dumps(model, ensure_ascii=False), data)).encode()


def tokens_count(body: Any) -> list[dict]:
    texts = _texts(body)
    if body.get("model") not in catalog.MODEL_TYPES:
        raise ApiError(404, NO_SUCH_MODEL)
    return [{"object": "tokens", "tokens": count_tokens(t), "characters": len(t)} for t in texts]
