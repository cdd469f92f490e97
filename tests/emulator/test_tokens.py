import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from emulator.tokens import count_tokens, split_tokens

from .conftest import RECORDINGS


def recorded_token_counts():
    """(text, tokens, characters) from every tokens_count cassette."""
    out = []
    for path in sorted((RECORDINGS / "cassettes").glob("*tokens_count*.yaml")):
        for it in yaml.safe_load(path.read_text())["interactions"]:
            if it["request"]["uri"].endswith("/tokens/count"):
                texts = json.loads(it["request"]["body"])["input"]
                for text, row in zip(texts, json.loads(it["response"]["body"]["string"])):
                    out.append((text, row["tokens"], row["characters"]))
    return out


def test_reproduces_every_recorded_token_count():
    cases = recorded_token_counts()
    assert len(cases) >= 5
    for text, tokens, characters in cases:
        assert count_tokens(text) == tokens, text
        assert len(text) == characters


def test_short_prompts_cost_the_same_as_recorded():
    # Both recorded chat prompts cost 17 prompt tokens: their texts must count the same.
    assert count_tokens("Say 'Hello' and nothing else") == count_tokens("Count from 1 to 3")


def test_recorded_json_completion_counts_21_tokens():
    assert count_tokens('{\n    "answer": "ok",\n    "n": 3\n}') == 21


def test_fixture_ratio_is_plausible():
    # fixtures/tokens_count.json: 36 characters -> 7 tokens (text not recorded).
    assert 5 <= count_tokens("The quick brown fox jumps over a dog") <= 10


@pytest.mark.parametrize("text,expected", [("", 0), ("a", 1), ("123", 3), ("Привет", 1), ("\n\n\n", 2)])
def test_counts_edge_cases(text, expected):
    assert count_tokens(text) == expected


@given(st.text())
def test_pieces_concatenate_back_to_the_text(text):
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert all(pieces)
    assert count_tokens(text) == len(pieces) <= len(text)


@given(st.text(), st.text())
def test_count_is_roughly_additive(a, b):
    assert count_tokens(a + b) <= count_tokens(a) + count_tokens(b) + 1
