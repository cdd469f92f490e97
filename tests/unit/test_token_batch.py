"""token_batch: the array form of the token estimate gives exactly the regex's numbers, for every
character and every mix of them, and planning uses it instead of a regex pass per chunk."""

from __future__ import annotations

import random

import pytest

from gigachat_dify import token_batch
from gigachat_dify.embeddings import planning
from gigachat_dify.embeddings.planning import SEGMENT_CHARS, count_tokens, plan_batches
from gigachat_dify.token_batch import CHUNK_CHARS, estimate_many
from gigachat_dify.tokens import estimate_tokens

from bench.embeddings import make_chunks

# Characters at every edge of the regex's classes: two or more spaces, newlines, Latin, Cyrillic and
# its combining marks, digits of two scripts, CJK (letters, marks and punctuation in its ranges), the
# "other letters" run that swallows Latin and Cyrillic after it, underscores, punctuation, characters
# beyond the BMP, a lone surrogate, zero-width and format characters.
EDGES = list("aZ \n\t\r\x0b_,.!-1905") + [
    "  ", "\n\n", "é", "ß", "ǅ", "ж", "Ё", "\u0483", "\u0482", "\u0301", "中", "ー", "・", "\u3099", "가", "\ud7a5",
    "²", "½", "٣", "\xa0", "\u2003", "\u3000", "😀", "\U00020000", "\ud800", "\u200b", "\ufeff", "\uffff", "Ω",
]


def test_every_character_of_the_bmp_alone_is_estimated_as_the_regex_does():
    texts = [chr(cp) for cp in range(0x10000)] + ["😀", "\U0010ffff"]
    assert estimate_many(texts) == [estimate_tokens(t) for t in texts]


@pytest.mark.parametrize("seed", range(4))
def test_random_mixes_of_every_class_edge_are_estimated_as_the_regex_does(seed):
    rng = random.Random(seed)
    for _ in range(2_000):
        texts = ["".join(rng.choice(EDGES) for _ in range(rng.randint(0, 40))) for _ in range(rng.randint(1, 9))]
        assert estimate_many(texts) == [estimate_tokens(t) for t in texts], texts


def test_a_knowledge_base_of_russian_and_english_chunks_is_estimated_exactly_without_the_regex(monkeypatch):
    chunks = make_chunks(400)
    expected = [estimate_tokens(t) for t in chunks]
    calls = []
    monkeypatch.setattr(token_batch, "estimate_tokens", lambda t: calls.append(t) or estimate_tokens(t))
    assert estimate_many(chunks) == expected
    assert calls == []  # nothing in ordinary prose needs the regex


def test_only_the_texts_the_table_cannot_settle_go_to_the_regex(monkeypatch):
    calls = []
    monkeypatch.setattr(token_batch, "estimate_tokens", lambda t: calls.append(t) or estimate_tokens(t))
    texts = ["Привет, мир", "café au lait", "", "x😀y", "plain words"]
    assert estimate_many(texts) == [estimate_tokens(t) for t in texts]
    assert calls == ["café au lait", "x😀y"]


def test_texts_beyond_one_pass_are_estimated_in_passes_with_a_turn_between():
    text = "Слово и word, 12. " * 1_000
    texts = [text] * (3 * CHUNK_CHARS // len(text) + 1)
    turns = []
    assert estimate_many(texts, between=lambda: turns.append(1)) == [estimate_tokens(text)] * len(texts)
    assert len(turns) >= 3


def test_planning_a_knowledge_base_gives_the_same_batches_as_estimating_chunk_by_chunk():
    chunks = make_chunks(300) + ["", "  ", "é" * 3_000, "word " * 2_000]
    per_text = plan_batches(chunks, 512, 90, estimate=lambda t: estimate_tokens(t))  # not THE estimate: one by one
    batched = plan_batches(chunks, 512, 90)
    assert batched == per_text
    assert sum(len(b.pieces) for b in batched) > len(chunks)  # some texts were over the limit and split


def test_planning_estimates_the_chunks_a_byte_count_cannot_settle_in_one_array_pass(monkeypatch):
    passes = []
    real = token_batch.estimate_many
    monkeypatch.setattr(token_batch, "estimate_many", lambda texts, between=None: passes.append(len(texts)) or real(texts, between))
    chunks = make_chunks(90)
    plan_batches(chunks, 512, 90)
    unsettled = sum(1 for t in chunks if not planning.certainly_fits(t, 512))
    assert passes == [unsettled] and unsettled > 0


def test_counting_tokens_of_very_long_texts_sums_their_segments_as_before():
    long_text = ("Абзац про индексирование.\n\n" + "Sentence about vectors. " * 40) * 200
    assert len(long_text) > 2 * SEGMENT_CHARS
    texts = [long_text, "", "short", long_text[:1000]]
    assert count_tokens(texts) == count_tokens(texts, estimate=lambda t: estimate_tokens(t))
    assert count_tokens(texts)[0] >= estimate_tokens(long_text) - 2 * len(long_text) // SEGMENT_CHARS
