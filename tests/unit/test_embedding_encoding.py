"""The short form of vector values (bench/float16.py, measured by bench/embeddings.py and not shipped:
it costs the plugin more CPU than it saves): every float16 value GigaChat can send would reach Dify
as a shorter decimal that rounds back to exactly the same float16, through the very serialisation
dify_plugin uses (pydantic's JSON of a TextEmbeddingResult); anything else is left as it is.
Proven on all 65,536 half values and on the recorded real answers."""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal

import pytest
import yaml
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from bench import float16 as encoding

from tests.support.recordings import RECORDINGS
USAGE = EmbeddingUsage(tokens=1, total_tokens=1, unit_price=0, price_unit=0, total_price=0, currency="RUB", latency=0)


def half_bits(value: float) -> int:
    return int.from_bytes(struct.pack("<e", value), "little")


def through_the_protocol(vectors: list[list[float]]) -> list[list[float]]:
    """What Dify reads back: dify_plugin dumps the result with pydantic and the daemon parses the JSON."""
    line = TextEmbeddingResult(model="m", embeddings=vectors, usage=USAGE).model_dump_json()
    return json.loads(line)["embeddings"]


FINITE_HALVES = [encoding.half_bits_to_float(b) for b in range(1 << 16)
                 if math.isfinite(encoding.half_bits_to_float(b))]


def recorded_vectors() -> list[list[float]]:
    vectors = []
    for path in sorted((RECORDINGS / "cassettes").glob("test_*embeddings_*.yaml")):
        for interaction in yaml.safe_load(path.read_text())["interactions"]:
            if interaction["request"]["uri"].endswith("/embeddings"):
                body = json.loads(interaction["response"]["body"]["string"])
                vectors += [item["embedding"] for item in body["data"]]
    assert len(vectors) >= 6, "the recorded embeddings answers are missing"
    return vectors


def test_every_finite_half_value_round_trips_bit_for_bit_through_the_protocol_line():
    assert len(FINITE_HALVES) == 63_488  # 65,536 bit patterns minus infinities and NaNs
    short, inexact = encoding.compact(FINITE_HALVES)
    assert inexact == 0
    back = through_the_protocol([short])[0]
    assert [half_bits(x) for x in back] == [half_bits(x) for x in FINITE_HALVES]  # -0.0 keeps its sign too


def test_the_longest_short_value_is_what_the_size_plan_counts():
    longest = max(len(to_json(x)) for x in encoding.compact(FINITE_HALVES)[0])
    assert longest == encoding.MAX_VALUE_CHARS


@settings(max_examples=2000, deadline=None)
@given(bits=st.integers(0, 0xFFFF))
def test_a_short_value_rounds_to_the_same_half_and_no_fewer_digits_would(bits):
    half = encoding.half_bits_to_float(bits)
    if not math.isfinite(half):
        return
    (short,), inexact = encoding.compact([half])
    assert inexact == 0
    assert half_bits(json.loads(to_json(short))) == bits
    digits = len(Decimal(repr(short)).normalize().as_tuple().digits)
    for fewer in range(1, digits):
        assert encoding.to_half(float(f"{half:.{fewer}g}")) != half or half == 0.0
    assert len(to_json(short)) <= len(to_json(half))


@settings(max_examples=500, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_a_value_that_is_not_a_half_is_kept_exactly_as_it_came(value):
    (out,), inexact = encoding.compact([value])
    exact_half = encoding.to_half(value) == value
    assert inexact == (0 if exact_half or value == 0.0 else 1)
    if not exact_half:
        assert out == value


def test_recorded_gigachat_vectors_are_float16_and_travel_exactly_in_half_the_bytes():
    vectors = recorded_vectors()
    assert all(encoding.to_half(x) == x for v in vectors for x in v)  # as GIGACHAT_API.md says
    compacted = [encoding.compact(v) for v in vectors]
    assert all(inexact == 0 for _, inexact in compacted)
    back = through_the_protocol([short for short, _ in compacted])
    assert [[half_bits(x) for x in v] for v in back] == [[half_bits(x) for x in v] for v in vectors]
    raw_bytes = len(TextEmbeddingResult(model="m", embeddings=vectors, usage=USAGE).model_dump_json())
    short_bytes = len(TextEmbeddingResult(model="m", embeddings=[s for s, _ in compacted], usage=USAGE).model_dump_json())
    values = sum(len(v) for v in vectors)
    assert short_bytes / values < 0.55 * raw_bytes / values  # ~7 instead of ~14 characters per value


def test_recorded_float32_values_that_are_not_halves_are_kept_as_they_came():
    fixture = json.loads((RECORDINGS / "fixtures" / "embeddings.json").read_text())
    vector = fixture["data"][0]["embedding"]
    short, inexact = encoding.compact(vector)
    halves = [encoding.to_half(x) == x for x in vector]
    assert inexact == halves.count(False) > 1000  # an older float32 answer: hardly any value is a half
    assert all(s == x for s, x, half in zip(short, vector, halves) if not half)
    assert all(encoding.to_half(s) == x for s, x, half in zip(short, vector, halves) if half)


def test_a_vector_the_plugin_averaged_is_rounded_to_float16_first():
    short, inexact = encoding.compact_rounded([0.1, -2.00001, 1e6])
    assert inexact == 1  # beyond float16's range: kept as it is
    assert short[:2] == [0.1, -2.0] and short[2] == 1e6
    assert encoding.to_half(short[0]) == encoding.to_half(0.1)


@pytest.mark.parametrize("value", [0.0, -0.0])
def test_zeros_keep_their_sign(value):
    short, inexact = encoding.compact([value, 1.0])
    assert math.copysign(1, short[0]) == math.copysign(1, value) and inexact == 0
