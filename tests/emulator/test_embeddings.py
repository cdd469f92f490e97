"""Embeddings as the recordings show them: float16-exact values printed like the real answer,
norms near 29, a direction shared by every text of a model, the documented sizes and limits."""

import json
import math
import re
import struct

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import catalog
from emulator.embeddings import EMBEDDING_TOKEN_OVERHEAD, MAX_BATCH, embeddings, embeddings_json, vector
from emulator.tokens import count_tokens

from .conftest import RECORDINGS

MODELS = sorted(catalog.EMBEDDING_MODELS)
EXPECTED_DIMENSIONS = {"Embeddings": 1024, "Embeddings-2": 1024, "GigaEmbeddings-3B-2025-09": 2048, "EmbeddingsGigaR": 2560}
EXPECTED_LIMITS = {"Embeddings": 512, "Embeddings-2": 512, "GigaEmbeddings-3B-2025-09": 4096, "EmbeddingsGigaR": 4096}


def recorded_answers() -> list[str]:
    """The raw text of every recorded /embeddings answer."""
    out = []
    for path in sorted((RECORDINGS / "cassettes").glob("test_*embeddings_*.yaml")):
        for it in yaml.safe_load(path.read_text())["interactions"]:
            if it["request"]["uri"].endswith("/embeddings"):
                out.append(it["response"]["body"]["string"])
    assert len(out) == 4
    return out


def recorded_vectors() -> list[list[float]]:
    return [d["embedding"] for text in recorded_answers()[:2] for d in json.loads(text)["data"]]


def is_half(x: float) -> bool:
    return struct.unpack("<e", struct.pack("<e", x))[0] == x


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (norm(a) * norm(b))


def printed_values(answer_text: str) -> list[str]:
    return [v for arr in re.findall(r'"embedding": \[(.*?)\]', answer_text) for v in arr.split(", ")]


def test_the_recorded_vectors_are_what_the_emulator_imitates():
    # The facts the emulator is built on (if a new recording disagrees, this says so first).
    vectors = recorded_vectors()
    assert all(len(v) == 1024 and all(is_half(x) for x in v) for v in vectors)
    assert all(29.0 < norm(v) < 29.6 for v in vectors)
    assert all(0.8 < cosine(a, b) < 0.95 for i, a in enumerate(vectors) for b in vectors[i + 1 :])
    assert all(max(range(1024), key=lambda i: v[i]) == 386 for v in vectors)
    for text in recorded_answers():
        assert text == json.dumps(json.loads(text), ensure_ascii=False)  # Python's own printing


@pytest.mark.parametrize("model", MODELS)
def test_vectors_are_float16_exact_with_the_models_dimensions_and_a_realistic_norm(model):
    dims = EXPECTED_DIMENSIONS[model]
    vectors = [vector(model, f"text {i}: база знаний") for i in range(12)]
    scale = math.sqrt(dims / 1024)  # same per-value distribution as recorded, more values
    for v in vectors:
        assert len(v) == dims
        assert all(is_half(x) for x in v)
        assert 28 * scale < norm(v) < 31 * scale if dims == 1024 else 26 * scale < norm(v) < 31 * scale
        mean = sum(v) / dims
        std = math.sqrt(sum((x - mean) ** 2 for x in v) / dims)
        assert -0.06 < mean < 0.02 and 0.85 < std < 0.97  # recorded: -0.023, 0.91-0.92
        assert max(v) > 5  # the "massive" dimension every recorded vector has
    # unrelated texts are far from orthogonal, as recorded (0.81-0.93), yet never identical
    cosines = [cosine(vectors[0], v) for v in vectors[1:]]
    assert all(0.78 < c < 0.95 for c in cosines)


def test_embeddings_vectors_share_the_recorded_massive_dimension():
    assert all(max(range(1024), key=lambda i: vector("Embeddings", t)[i]) == 386 for t in ("First text", "Hello, world!", "x"))


def test_vectors_are_deterministic_per_model_and_text():
    assert vector("Embeddings", "First text") == vector("Embeddings", "First text")
    assert vector("Embeddings", "First text") != vector("Embeddings", "Second text")
    assert vector("Embeddings", "First text") != vector("Embeddings-2", "First text")


def test_the_answer_is_printed_like_the_recorded_one(api):
    r = api.post("/embeddings", json={"model": "Embeddings", "input": ["First text", "Second text"]})
    assert r.status_code == 200
    text = r.text
    recorded = recorded_answers()[2]  # test_embeddings_multiple: the same request
    # same framing, key order and separators, values printed as the shortest repr of the half
    assert text == json.dumps(json.loads(text), ensure_ascii=False)
    assert re.sub(r"\[[^\]]*\]", "[]", text) == re.sub(r"\[[^\]]*\]", "[]", recorded)
    got, rec = printed_values(text), printed_values(recorded)
    assert len(got) == len(rec) == 2048
    assert all(repr(float(v)) == v and is_half(float(v)) for v in got)
    # digits per value: the recorded mix (mostly 9-15 characters), not a float64 expansion
    mean_len = sum(map(len, got)) / len(got)
    assert abs(mean_len - sum(map(len, rec)) / len(rec)) < 1.0


@given(st.lists(st.text(min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=4), st.sampled_from(MODELS))
@settings(max_examples=25, deadline=None)
def test_the_fast_encoder_sends_exactly_what_json_dumps_would(texts, model):
    body = {"model": model, "input": texts}
    assert embeddings_json(body) == json.dumps(embeddings(body), ensure_ascii=False).encode()


def test_every_float16_value_is_printed_as_json_dumps_prints_it():
    from emulator.embeddings import _half_reprs

    halves = struct.unpack("<65536e", struct.pack("<65536H", *range(65536)))
    finite = [i for i, v in enumerate(halves) if math.isfinite(v)]
    assert ", ".join(_half_reprs()[i] for i in finite) == json.dumps([halves[i] for i in finite])[1:-1]


@pytest.mark.parametrize("model", MODELS)
def test_per_text_token_limits_answer_413_one_token_beyond(api, model):
    limit = EXPECTED_LIMITS[model]
    assert catalog.EMBEDDING_TOKEN_LIMITS[model] == limit
    at_limit = " word" * limit
    assert count_tokens(at_limit) == limit
    ok = api.post("/embeddings", json={"model": model, "input": [at_limit]})
    assert ok.status_code == 200
    assert ok.json()["data"][0]["usage"]["prompt_tokens"] == limit + EMBEDDING_TOKEN_OVERHEAD
    assert len(ok.json()["data"][0]["embedding"]) == EXPECTED_DIMENSIONS[model]
    over = api.post("/embeddings", json={"model": model, "input": ["fine", at_limit + " word"]})
    assert over.status_code == 413
    assert over.json() == {"status": 413, "message": f"Input 1 is too long: {limit + 1} tokens, model {model} accepts at most {limit}"}


def test_batch_size_empty_texts_and_unknown_models(api):
    too_many = api.post("/embeddings", json={"model": "Embeddings", "input": ["x"] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422
    assert api.post("/embeddings", json={"model": "Embeddings", "input": ["x"] * MAX_BATCH}).status_code == 200
    assert api.post("/embeddings", json={"model": "Embeddings", "input": ["a", " "]}).json() == {
        "status": 422,
        "message": "Invalid params: input[1] is empty",
    }
    assert api.post("/embeddings", json={"model": "GigaChat", "input": ["a"]}).json() == {"status": 404, "message": "No such model"}
