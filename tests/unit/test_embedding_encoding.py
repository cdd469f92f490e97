"""The short form of vector values (gigachat_dify/embeddings/values.py): every float16 value GigaChat
can send reaches Dify as the shortest decimal that rounds back to exactly the same float16, in the
very characters dify_plugin's serialisation (pydantic's JSON) writes for it; anything that is not a
half travels exactly as it came. Proven on all 65,536 half values and on the recorded real answers."""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import yaml
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from gigachat_dify.embeddings import size, values

from tests.support.recordings import RECORDINGS

USAGE = EmbeddingUsage(tokens=1, total_tokens=1, unit_price=0, price_unit=0, total_price=0, currency="RUB", latency=0)
ALL_BITS = np.arange(1 << 16, dtype=np.uint16)
FINITE_BITS = ALL_BITS[np.isfinite(ALL_BITS.view(np.float16))]
FINITE_HALVES = FINITE_BITS.view(np.float16)


def half_bits(value: float) -> int:
    return int.from_bytes(struct.pack("<e", value), "little")


def to_half(value: float) -> float | None:
    try:
        return struct.unpack("<e", struct.pack("<e", value))[0]
    except (OverflowError, struct.error):
        return None


def through_the_protocol(vectors: list[list[float]]) -> list[list[float]]:
    """What Dify reads back: dify_plugin dumps the result with pydantic and the daemon parses the JSON."""
    line = TextEmbeddingResult(model="m", embeddings=vectors, usage=USAGE).model_dump_json()
    return json.loads(line)["embeddings"]


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
    block = values.block([FINITE_HALVES.astype(np.float64).tolist()])
    assert values.is_short(block)
    back = through_the_protocol(values.short_floats(block))[0]
    assert [half_bits(x) for x in back] == FINITE_BITS.tolist()  # -0.0 keeps its sign too


def test_the_encoded_text_is_what_pydantic_writes_for_the_short_floats():
    block = values.block([FINITE_HALVES.astype(np.float64).tolist()])
    written = TextEmbeddingResult(model="m", embeddings=values.short_floats(block), usage=USAGE).model_dump_json()
    assert f'"embeddings":{values.json_text(block).decode()}' in written


def test_every_short_value_lies_inside_its_halfs_rounding_interval_so_any_correct_reader_gets_it():
    """Exact arithmetic: the decimal is closer to its half than to either neighbour (or at a tie
    the half is even), so rounding it to float16 directly, or through float64, gives the half."""
    shorts = values.short_floats(values.block([FINITE_HALVES.astype(np.float64).tolist()]))[0]
    halves = FINITE_HALVES.astype(np.float64).tolist()
    bits = FINITE_BITS.tolist()
    for short, half, pattern in zip(shorts, halves, bits):
        if half == 0.0:
            assert short == 0.0 and math.copysign(1, short) == math.copysign(1, half)
            continue
        decimal = Fraction(Decimal(repr(short)))
        exact = Fraction(half)
        # the neighbours away from and towards zero (past the largest half: infinity, at 65,520)
        up = struct.unpack("<e", struct.pack("<H", pattern + 1))[0] if (pattern & 0x7FFF) < 0x7BFF else math.inf
        down = struct.unpack("<e", struct.pack("<H", pattern - 1))[0] if pattern & 0x7FFF else 0.0
        bound_up = (exact + Fraction(up)) / 2 if math.isfinite(up) else exact + (exact - Fraction(down)) / 2
        bound_down = (exact + Fraction(down)) / 2
        low, high = sorted((bound_down, bound_up))
        even = pattern % 2 == 0
        assert low < decimal < high or (even and low <= decimal <= high), (half, short)


def test_the_longest_short_value_is_what_the_size_plan_counts():
    texts = values.json_text(values.block([FINITE_HALVES.astype(np.float64).tolist()]))
    assert max(len(x) for x in texts[2:-2].split(b",")) == size.SHORT_VALUE_CHARS


def test_the_long_forms_bound_holds_for_the_longest_floats():
    for longest in (-0.000012345678901234568, -1.7976931348623157e308, -1.0013580322265625e-05):
        assert len(to_json(longest)) <= size.LONG_VALUE_CHARS
    assert len(to_json(-0.000012345678901234568)) == size.LONG_VALUE_CHARS


@settings(max_examples=2000, deadline=None)
@given(bits=st.integers(0, 0xFFFF))
def test_a_short_value_rounds_to_the_same_half_and_no_fewer_digits_would(bits):
    half = struct.unpack("<e", struct.pack("<H", bits))[0]
    if not math.isfinite(half):
        return
    block = values.block([[half]])
    assert values.is_short(block)
    (short,), = values.short_floats(block)
    assert half_bits(json.loads(to_json(short))) == bits
    digits = len(Decimal(repr(short)).normalize().as_tuple().digits)
    for fewer in range(1, digits):  # no decimal of fewer digits near it rounds to the half
        assert to_half(float(f"{half:.{fewer}g}")) != half or half == 0.0
    assert len(to_json(short)) <= len(to_json(half))
    assert values.json_text(block) == b"[[" + to_json(short) + b"]]"


@settings(max_examples=500, deadline=None)
@given(vector=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8))
def test_a_vector_that_is_not_all_halves_travels_exactly_as_it_came(vector):
    block = values.block([vector])
    if all(to_half(x) == x for x in vector):
        assert values.is_short(block)
        return
    assert not values.is_short(block)
    assert values.exact(block) == [vector] == values.short_floats(block)
    written = TextEmbeddingResult(model="m", embeddings=[vector], usage=USAGE).model_dump_json()
    assert f'"embeddings":{values.json_text(block).decode()}' in written  # what dify_plugin writes
    assert all(len(to_json(x)) <= size.LONG_VALUE_CHARS for x in vector)


def test_recorded_gigachat_vectors_are_float16_and_travel_exactly_in_half_the_bytes():
    vectors = recorded_vectors()
    block = values.block(vectors)
    assert values.is_short(block)  # as GIGACHAT_API.md says
    assert values.exact(block) == vectors
    back = through_the_protocol(values.short_floats(block))
    assert [[half_bits(x) for x in v] for v in back] == [[half_bits(x) for x in v] for v in vectors]
    raw_bytes = len(TextEmbeddingResult(model="m", embeddings=vectors, usage=USAGE).model_dump_json())
    short_bytes = len(values.json_text(block))
    count = sum(len(v) for v in vectors)
    assert short_bytes / count < 0.55 * raw_bytes / count  # ~7 instead of ~14 characters per value


def test_recorded_float32_values_are_kept_as_they_came():
    fixture = json.loads((RECORDINGS / "fixtures" / "embeddings.json").read_text())
    vector = fixture["data"][0]["embedding"]
    block = values.block([vector])
    assert not values.is_short(block)  # an older float32 answer: hardly any value is a half
    assert values.exact(block) == [vector]
    assert json.loads(values.json_text(block)) == [vector]


def test_a_combined_vector_of_half_pieces_is_rounded_to_float16_and_of_other_pieces_kept():
    halves = values.block([[0.5, 0.25], [0.25, 0.5]])
    combined = values.combine(list(halves), [1, 2])
    assert combined.dtype == np.float16
    floats = values.block([[0.1, 0.2], [0.2, 0.1]])
    assert values.combine(list(floats), [1, 2]).dtype == np.float64


@pytest.mark.parametrize("value", [0.0, -0.0])
def test_zeros_keep_their_sign(value):
    block = values.block([[value, 1.0]])
    assert values.is_short(block)
    assert math.copysign(1, values.short_floats(block)[0][0]) == math.copysign(1, value)
    assert values.json_text(block) == (b"[[0.0,1.0]]" if math.copysign(1, value) > 0 else b"[[-0.0,1.0]]")
