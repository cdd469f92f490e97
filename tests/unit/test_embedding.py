"""gigachat_dify.embeddings.engine (pure functions and the engine with a fake GigaChat) and the thin
Dify model class in models/text_embedding/text_embedding.py (with a fake SDK client)."""

from __future__ import annotations

import base64
import logging
import math
import random
import re
import threading
import time
from pathlib import Path
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from types import SimpleNamespace as NS

import gigachat.exceptions as gx
import httpx
import pytest
import yaml
from dify_plugin.entities.model import AIModelEntity, EmbeddingInputType, ModelPropertyKey
from dify_plugin.entities.model.text_embedding import TextEmbeddingResult
from dify_plugin.errors.model import (
    CredentialsValidateFailedError,
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
)
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify import retry
from gigachat_dify.embeddings import execution, limiter as limiter_module, planning
from gigachat_dify.embeddings.combining import combine_pieces
from gigachat_dify.embeddings.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_LIMIT_TOKENS,
    MAX_CONCURRENCY,
    MAX_TEXTS_PER_REQUEST,
    apply_input_type,
    resolve_config,
)
from gigachat_dify.embeddings.execution import EmbeddingResponseError, embed_texts, parse_response
from gigachat_dify.embeddings.limiter import AdaptiveLimiter, shared_limiter
from gigachat_dify.embeddings.planning import (
    EMPTY_TEXT_PLACEHOLDER,
    PER_TEXT_OVERHEAD_TOKENS,
    piece_budget,
    plan_batches,
    split_text,
)
from gigachat_dify.form import FormValueError

ROOT = Path(__file__).resolve().parents[2]


def EST(text: str) -> int:  # a simple, deterministic estimate for the tests
    return max(1, len(text) // 3)


RETRIES = 3  # transient retries per batch in these tests


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    """THE back-off sleep, injected: records every wait and returns at once (no real back-off)."""
    recorded: list[float] = []

    def pause(seconds, cancelled=None):
        recorded.append(seconds)
        return bool(cancelled is not None and cancelled.is_set())

    monkeypatch.setattr(retry, "pause", pause)
    return recorded
URL = "https://gigachat.devices.sberbank.ru/api/v1/embeddings"


def err(cls, status, headers=None, message="boom"):
    body = ('{"status": %d, "message": "%s"}' % (status, message)).encode()
    return cls(URL, status, body, httpx.Headers(headers or {}))


def answer(vectors, tokens=None):
    return NS(
        data=[
            NS(index=i, embedding=v, usage=NS(prompt_tokens=(tokens[i] if tokens else 3)), object_="embedding")
            for i, v in enumerate(vectors)
        ],
        model="Embeddings",
    )


def id_text(i: int) -> str:
    return f"text-{i}"


def id_vector(text: str) -> list[float]:
    """A vector that encodes the text's id, decodable after normalisation (ratio of components)."""
    m = re.search(r"text-(\d+)", text)
    return [1.0, float(m.group(1)) if m else -1.0]


def decode(vector) -> int:
    return round(vector[1] / vector[0])


class FakeGigaChat:
    """Records calls, in-flight concurrency, and answers through an optional per-call hook."""

    def __init__(self, delay=0.0, hook=None):
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = delay
        self.hook = hook
        self.timeouts: list[float] = []

    def __call__(self, batch: list[str], timeout: float):
        with self.lock:
            self.calls.append(list(batch))
            self.timeouts.append(timeout)
            n = len(self.calls)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = self.delay(batch) if callable(self.delay) else self.delay
            if delay:
                time.sleep(delay)
            if self.hook:
                result = self.hook(n, batch)
                if result is not None:
                    return result
            return answer([id_vector(t) for t in batch])
        finally:
            with self.lock:
                self.in_flight -= 1


# --- configuration and query instructions -----------------------------------------------------


def test_known_models_use_the_table_limit_and_a_custom_context_size_can_only_lower_it():
    assert resolve_config("EmbeddingsGigaR", {}).limit_tokens == 4096
    assert resolve_config("Embeddings", {}).limit_tokens == 512
    # The provider form's context_size default is an LLM's (32768): it must not raise a known limit.
    assert resolve_config("EmbeddingsGigaR", {"context_size": "32768"}).limit_tokens == 4096
    assert resolve_config("EmbeddingsGigaR", {"context_size": "1000"}).limit_tokens == 1000
    assert resolve_config("EmbeddingsGigaR:2.0.1", {}).limit_tokens == 4096  # versioned names


def test_unknown_models_use_the_context_size_credential_or_512():
    assert resolve_config("MyOnPremEmbedder", {}).limit_tokens == 512
    assert resolve_config("MyOnPremEmbedder", {"context_size": "2048"}).limit_tokens == 2048
    assert resolve_config("MyOnPremEmbedder", {"context_size": ""}).limit_tokens == 512


def test_texts_per_request_is_capped_at_the_documented_assumption_and_can_be_lowered():
    assert resolve_config("Embeddings", {}).max_per_request == MAX_TEXTS_PER_REQUEST
    assert resolve_config("Embeddings", {"max_chunks": "100"}).max_per_request == MAX_TEXTS_PER_REQUEST
    assert resolve_config("Embeddings", {"max_chunks": "16"}).max_per_request == 16


@pytest.mark.parametrize("bad", ["many", "0", "-5", "1.5"])
def test_a_malformed_model_setting_names_the_form_field(bad):
    with pytest.raises(FormValueError, match=r"Context size \(tokens\) must be"):
        resolve_config("Embeddings", {"context_size": bad})
    with pytest.raises(FormValueError, match="Vector dimensions must be"):
        resolve_config("MyEmbedder", {"dimensions": bad})


def test_every_unusable_embedding_field_is_named_in_one_refusal():
    with pytest.raises(FormValueError) as refused:
        resolve_config("MyEmbedder", {"context_size": "lots", "max_chunks": "0", "dimensions": "1.5"})
    message = str(refused.value)
    for label in ("Context size (tokens) must be", "Texts per request must be", "Vector dimensions must be"):
        assert label in message


def test_the_form_may_give_a_custom_models_dimensions_and_texts_per_call():
    config = resolve_config("MyEmbedder", {"dimensions": "768", "max_chunks": "300"})
    assert config.dimensions == 768 and config.max_chunks == 300
    assert config.max_per_request == MAX_TEXTS_PER_REQUEST  # one request never carries more than 90
    assert resolve_config("MyEmbedder", {"dimensions": " "}).dimensions is None


def test_concurrency_comes_from_the_settings_and_is_bounded():
    assert resolve_config("Embeddings", {}, 6).concurrency == 6
    assert resolve_config("Embeddings", {}, None).concurrency == DEFAULT_CONCURRENCY
    assert resolve_config("Embeddings", {}, 1000).concurrency == MAX_CONCURRENCY


def test_queries_to_gigar_get_the_retrieval_instruction_and_documents_do_not():
    texts = ["Как оформить отпуск?", "  "]
    query = apply_input_type("EmbeddingsGigaR", texts, EmbeddingInputType.QUERY)
    assert query[0] == "Дан вопрос, необходимо найти абзац текста с ответом \nвопрос: Как оформить отпуск?"
    assert query[1] == "  "  # blank stays blank: handled as an empty text, not as a bare instruction
    assert apply_input_type("EmbeddingsGigaR", texts, EmbeddingInputType.DOCUMENT) == texts
    assert apply_input_type("EmbeddingsGigaR", texts, "document") == texts


def test_symmetric_models_get_no_query_instruction():
    assert apply_input_type("Embeddings", ["q"], EmbeddingInputType.QUERY) == ["q"]
    assert apply_input_type("Embeddings-2", ["q"], "query") == ["q"]


def test_giga_embeddings_3b_queries_use_the_instruct_query_format():
    (q,) = apply_input_type("GigaEmbeddings-3B-2025-09", ["what is RAG"], EmbeddingInputType.QUERY)
    assert q.startswith("Instruct: ") and q.endswith("\nQuery: what is RAG")


def test_the_query_prefix_credential_overrides_the_default_and_none_switches_it_off():
    assert apply_input_type("Embeddings", ["q"], "query", override="search_query: ") == ["search_query: q"]
    assert apply_input_type("EmbeddingsGigaR", ["q"], "query", override="none") == ["q"]
    assert apply_input_type("EmbeddingsGigaR", ["q"], "query", override=r"Task\nquery: ") == ["Task\nquery: q"]
    assert apply_input_type("EmbeddingsGigaR", ["q"], "query", override="   ")[0].startswith("Дан вопрос")


# --- splitting, planning, combining -----------------------------------------------------------


def test_a_short_text_is_one_piece():
    assert split_text("short", 100, EST) == ["short"]


def test_long_text_is_cut_at_paragraph_boundaries_first():
    para = "Слово " * 40  # 240 chars = 80 estimated tokens
    text = "\n\n".join([para.strip()] * 6)
    pieces = split_text(text, 100, EST)
    assert "".join(pieces) == text
    assert len(pieces) > 1
    assert all(EST(p) <= 100 for p in pieces)
    assert all(p.endswith("\n\n") for p in pieces[:-1])


def test_text_without_any_boundary_is_cut_hard_within_budget():
    text = "x" * 5000
    pieces = split_text(text, 50, EST)
    assert "".join(pieces) == text and all(EST(p) <= 50 for p in pieces)


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from(list("ab вгд.,!?\n\tё") + ["\n\n", "слово ", "Конец. "]), max_size=800).map("".join),
    budget=st.integers(min_value=16, max_value=300),
)
def test_splitting_is_lossless_and_every_piece_fits_the_budget(text, budget):
    pieces = split_text(text, budget, EST)
    assert "".join(pieces) == text
    assert all(EST(p) <= budget for p in pieces if len(p) > 1)
    assert all(p for p in pieces) or text == ""


def test_the_piece_budget_keeps_a_safety_margin_under_the_limit():
    assert piece_budget(512) < 512 * 0.85
    assert piece_budget(4096) < 4096 * 0.85
    assert piece_budget(1) == planning.MIN_PIECE_TOKENS


def test_planning_keeps_input_order_and_respects_texts_per_request():
    texts = [id_text(i) for i in range(250)]
    batches = plan_batches(texts, 512, 90, estimate=EST)
    assert [len(b.pieces) for b in batches] == [90, 90, 70]
    assert [p.text_index for b in batches for p in b.pieces] == list(range(250))
    assert batches[1].label == "batch 2 of 3 (texts 90-179)"


def test_planning_respects_the_bytes_per_request():
    texts = ["ж " * 400] * 10  # 800 chars, 1,200 bytes of UTF-8 each
    batches = plan_batches(texts, 4096, 90, max_bytes_per_request=3000, estimate=EST)
    assert [len(b.pieces) for b in batches] == [2] * 5
    assert all(sum(len(p.text.encode()) for p in b.pieces) <= 3000 for b in batches)


def test_a_text_within_the_limit_in_utf8_bytes_is_never_estimated():
    estimated = []

    def spy(text):
        estimated.append(text)
        return EST(text)

    fits = "ж" * ((512 - PER_TEXT_OVERHEAD_TOKENS) // 2)  # 504 bytes: no tokenizer makes more tokens
    over = fits + "!"
    batches = plan_batches([fits, "short", over] * 100, 512, 90, estimate=spy)
    assert sum(len(b.pieces) for b in batches) == 300
    assert estimated == [over] * 100  # only what the bound cannot settle
    assert planning.count_tokens(["", "ab"], spy) == [0, 1]  # Dify's token counts are estimates as before


def test_a_long_text_becomes_consecutive_pieces_weighted_by_length():
    long = ("Предложение номер один. " * 200).strip()
    batches = plan_batches(["a", long, "b"], 512, 90, estimate=EST)
    pieces = [p for b in batches for p in b.pieces]
    middle = [p for p in pieces if p.text_index == 1]
    assert len(middle) > 1
    assert "".join(p.text for p in middle).strip() == long
    assert all(p.weight == len(p.text) for p in middle)
    assert all(EST(p.text) <= piece_budget(512) for p in middle)
    assert [p.text_index for p in pieces] == sorted(p.text_index for p in pieces)


def test_blank_texts_are_planned_as_the_placeholder():
    batches = plan_batches(["", "   \n", "x"], 512, 90, estimate=EST)
    sent = [p.text for p in batches[0].pieces]
    assert sent == [EMPTY_TEXT_PLACEHOLDER, EMPTY_TEXT_PLACEHOLDER, "x"]


def direction(vector):
    length = math.hypot(*vector)
    return [x / length for x in vector]


def test_combining_is_a_length_weighted_average_at_the_pieces_mean_length():
    combined = combine_pieces([[29.0, 0.0], [0.0, 29.0]], [300, 100]).tolist()
    assert direction(combined) == pytest.approx(direction([0.75, 0.25]))
    assert math.hypot(*combined) == pytest.approx(29.0)  # GigaChat's scale, not shortened by averaging


def test_a_single_vector_is_returned_as_gigachat_gave_it():
    assert combine_pieces([[3.0, 4.0]], [10]).tolist() == [3.0, 4.0]


def test_pieces_that_cancel_out_cannot_be_combined():
    with pytest.raises(ValueError):
        combine_pieces([[1.0, 0.0], [-1.0, 0.0]], [1, 1])


def test_response_items_are_put_in_request_order_by_their_index():
    response = NS(data=[NS(index=1, embedding=[2.0], usage=NS(prompt_tokens=4)),
                        NS(index=0, embedding=[1.0], usage=NS(prompt_tokens=5))])
    vectors, tokens = parse_response(response, 2)
    assert vectors == [[1.0], [2.0]] and tokens == 9


@pytest.mark.parametrize(
    "data",
    [
        [NS(index=0, embedding=[1.0], usage=NS(prompt_tokens=1))],  # one missing
        [NS(index=0, embedding=[1.0], usage=None), NS(index=0, embedding=[1.0], usage=None)],  # repeated
        [NS(index=0, embedding=[1.0], usage=None), NS(index=1, embedding=[float("nan")], usage=None)],
        [NS(index=0, embedding=[1.0], usage=None), NS(index=1, embedding=[1.0, 2.0], usage=None)],
    ],
)
def test_a_malformed_response_is_rejected(data):
    with pytest.raises(EmbeddingResponseError):
        parse_response(NS(data=data), 2)


# --- the engine ---------------------------------------------------------------------------------


def test_order_is_kept_when_batches_complete_out_of_order():
    texts = [id_text(i) for i in range(400)]
    # Later batches answer first.
    fake = FakeGigaChat(delay=lambda batch: 0.05 / (1 + int(batch[0].split("-")[1]) // 10))
    out = embed_texts(fake, texts, max_per_request=10, concurrency=6, max_retries=RETRIES, estimate=EST)
    assert [decode(v) for v in out.vectors] == list(range(400))
    assert fake.max_in_flight > 1
    assert fake.max_in_flight <= 6
    assert out.stats.requests == 40 and out.prompt_tokens == 400 * 3


def test_ten_thousand_chunks_are_embedded_concurrently_in_the_fewest_requests():
    texts = [f"{id_text(i)} " + "слово " * random.randint(5, 60) for i in range(10_000)]
    fake = FakeGigaChat(delay=0.01)
    out = embed_texts(fake, texts, concurrency=8, max_retries=RETRIES, estimate=EST)
    assert [decode(v) for v in out.vectors] == list(range(10_000))
    assert fake.max_in_flight == 8
    assert all(len(c) <= MAX_TEXTS_PER_REQUEST for c in fake.calls)
    assert len(fake.calls) == math.ceil(10_000 / MAX_TEXTS_PER_REQUEST)  # no request repeated or wasted


def test_a_long_text_is_split_embedded_and_combined_weighted_at_gigachats_scale():
    part_a = ("alpha " * 300).strip()  # 1799 chars
    part_b = ("beta " * 400).strip()  # 1999 chars
    long = part_a + "\n\n" + part_b

    def hook(_, batch):
        return answer([[1.0, 0.0] if "alpha" in t else [0.0, 1.0] for t in batch])

    fake = FakeGigaChat(hook=hook)
    out = embed_texts(fake, ["beta", long], limit_tokens=512, max_retries=RETRIES, estimate=EST)
    sent = [t for c in fake.calls for t in c]
    assert len(sent) > 2  # the long text went as several pieces
    assert all(EST(t) <= piece_budget(512) for t in sent)
    weights_a = sum(len(t) for t in sent[1:] if "alpha" in t)
    weights_b = sum(len(t) for t in sent[1:] if "beta" in t)
    # rounded to float16 like every value GigaChat sends (its pieces were halves): travels short
    assert direction(out.vectors[1]) == pytest.approx(direction([weights_a, weights_b]), rel=1e-3)
    assert math.hypot(*out.vectors[1]) == pytest.approx(1.0, rel=1e-3)  # the pieces' own length
    assert out.block.dtype.name == "float16"
    assert out.vectors[0] == [0.0, 1.0]
    assert out.stats.split_texts == 1 and out.combined == {1}


def test_vectors_are_returned_as_gigachat_gave_them():
    fake = FakeGigaChat(hook=lambda _, batch: answer([[3.0, -4.5, 12.25] for _ in batch]))
    out = embed_texts(fake, ["a", "b"], max_retries=RETRIES, estimate=EST)
    assert out.vectors == [[3.0, -4.5, 12.25], [3.0, -4.5, 12.25]]  # not normalised: Dify does that itself


def test_empty_texts_get_a_placeholder_vector_and_a_warning_instead_of_a_crash(caplog):
    fake = FakeGigaChat(hook=lambda _, batch: answer([[1.0, 1.0] if t == EMPTY_TEXT_PLACEHOLDER else id_vector(t) for t in batch]))
    with caplog.at_level(logging.WARNING, logger="gigachat_dify.embeddings.execution"):
        out = embed_texts(fake, [id_text(1), "", "  \n ", id_text(3)], max_retries=RETRIES, estimate=EST)
    assert len(out.vectors) == 4
    assert out.vectors[1] == out.vectors[2] == [1.0, 1.0]
    assert decode(out.vectors[0]) == 1 and decode(out.vectors[3]) == 3
    assert "" not in fake.calls[0] and "  \n " not in fake.calls[0]
    assert out.stats.empty_texts == [1, 2]
    assert "empty text(s) at position(s) 1, 2" in caplog.text


def test_no_texts_means_no_request():
    fake = FakeGigaChat()
    out = embed_texts(fake, [], max_retries=RETRIES)
    assert out.vectors == [] and fake.calls == []


def test_a_429_waits_for_retry_after_and_lowers_concurrency():
    calls_429 = {"n": 0}

    def hook(n, batch):
        if n <= 2:  # the first two requests of the burst are refused
            calls_429["n"] += 1
            raise err(gx.RateLimitError, 429, {"retry-after": "0.3"}, "Too many requests")
        return None

    fake = FakeGigaChat(delay=0.02, hook=hook)
    limiter = AdaptiveLimiter(4, increase_after=1000)
    started = time.monotonic()
    out = embed_texts(fake, [id_text(i) for i in range(40)], max_per_request=5, concurrency=4,
                      limiter=limiter, max_retries=RETRIES, estimate=EST)
    assert time.monotonic() - started >= 0.3
    assert [decode(v) for v in out.vectors] == list(range(40))
    assert limiter.limit == 2  # halved once for the burst, not once per 429
    assert out.stats.rate_limited == 2
    assert out.stats.final_concurrency == 2


def test_nothing_is_sent_while_a_retry_after_pause_is_running():
    times: list[float] = []

    def hook(n, batch):
        times.append(time.monotonic())
        if n == 1:
            raise err(gx.RateLimitError, 429, {"retry-after": "0.25"})
        return None

    fake = FakeGigaChat(hook=hook)
    embed_texts(fake, [id_text(i) for i in range(6)], max_per_request=1, concurrency=1,
                limiter=AdaptiveLimiter(1), max_retries=RETRIES, estimate=EST)
    assert times[1] - times[0] >= 0.25


def test_a_retry_after_longer_than_the_policy_waits_is_reported_not_waited_out():
    fake = FakeGigaChat(hook=lambda n, b: (_ for _ in ()).throw(err(gx.RateLimitError, 429, {"retry-after": "600"})))
    with pytest.raises(InvokeRateLimitError, match="retry after 600 s"):
        embed_texts(fake, ["a"], max_retries=RETRIES, estimate=EST)
    assert len(fake.calls) == 1


def test_server_errors_are_retried_with_the_policys_backoff(waits):
    def hook(n, batch):
        if n <= 2:
            raise err(gx.ServerError, 503, message="Service Unavailable")
        return None

    fake = FakeGigaChat(hook=hook)
    out = embed_texts(fake, ["a", "b"], max_retries=RETRIES, estimate=EST)
    assert len(out.vectors) == 2 and len(fake.calls) == 3 and out.stats.retries == 2
    base = retry.BACKOFF_BASE
    assert len(waits) == 2
    assert base <= waits[0] <= base * (1 + retry.JITTER) and 2 * base <= waits[1] <= 2 * base * (1 + retry.JITTER)


def test_connection_failures_are_retried():
    def hook(n, batch):
        if n == 1:
            raise httpx.ConnectError("connection refused")
        return None

    fake = FakeGigaChat(hook=hook)
    assert len(embed_texts(fake, ["a"], max_retries=RETRIES, estimate=EST).vectors) == 1


def test_a_persistent_failure_raises_the_mapped_error_naming_the_batch_and_returns_nothing():
    def hook(n, batch):
        if id_text(95) in batch:
            raise err(gx.ServerError, 500, message="Internal error")
        return None

    fake = FakeGigaChat(hook=hook)
    with pytest.raises(InvokeServerUnavailableError) as info:
        embed_texts(fake, [id_text(i) for i in range(250)], concurrency=3, max_retries=RETRIES, estimate=EST,
                    context="model Embeddings")
    message = str(info.value)
    assert "batch 2 of 3 (texts 90-179)" in message
    assert "model Embeddings" in message
    assert "GigaChat is temporarily unavailable" in message
    failing = [c for c in fake.calls if id_text(95) in c]
    assert len(failing) == 1 + RETRIES


def test_persistent_rate_limiting_ends_as_a_rate_limit_error_without_using_the_transient_retries(monkeypatch):
    monkeypatch.setattr(retry, "RATE_LIMIT_DEFAULT_WAIT", 0.001)  # a 429 without Retry-After
    monkeypatch.setattr(execution, "MAX_RATE_LIMIT_WAITS", 3)
    fake = FakeGigaChat(hook=lambda n, b: (_ for _ in ()).throw(err(gx.RateLimitError, 429, {"retry-after": "0"})))
    with pytest.raises(InvokeRateLimitError, match=r"batch 1 of 1 \(text 0\)"):
        embed_texts(fake, ["a"], max_retries=0, estimate=EST)
    assert len(fake.calls) == 4  # 1 + 3 waits, although no transient retry was allowed


@pytest.mark.parametrize(
    "exc, expected",
    [
        (lambda: err(gx.BadRequestError, 400), InvokeBadRequestError),
        # a key GigaChat's OAuth refuses (an API 401 after renewal is retried: token rotation)
        (lambda: gx.AuthenticationError(URL, 401, b'{"code": 6, "message": "credentials doesn\'t match db data"}',
                                        httpx.Headers()), InvokeAuthorizationError),
        (lambda: err(gx.NotFoundError, 404, message="No such model"), InvokeBadRequestError),
    ],
)
def test_client_errors_are_not_retried(exc, expected):
    fake = FakeGigaChat(hook=lambda n, b: (_ for _ in ()).throw(exc()))
    with pytest.raises(expected, match="batch 1 of 1"):
        embed_texts(fake, ["a", "b"], max_retries=RETRIES, estimate=EST)
    assert len(fake.calls) == 1


def test_a_413_splits_the_batch_further_once_and_succeeds():
    def long(i):  # ~1500 chars: fits the planned budget for 4096 tokens, too long for the fake server
        return f"{id_text(i)} " * 215

    def hook(n, batch):
        if len(batch) > 2 or any(len(t) > 1000 for t in batch):
            raise err(gx.RequestEntityTooLargeError, 413, message="Request Entity Too Large")
        return None

    fake = FakeGigaChat(hook=hook)
    texts = [long(0), id_text(1), long(2), id_text(3)]
    out = embed_texts(fake, texts, limit_tokens=4096, max_retries=RETRIES, estimate=EST)
    assert [decode(v) for v in out.vectors] == [0, 1, 2, 3]
    assert out.stats.resplit_batches == 1
    assert all(len(c) <= 2 and all(len(t) <= 1000 for t in c) for c in fake.calls[1:])


def test_a_422_that_persists_after_splitting_is_a_bad_request():
    fake = FakeGigaChat(hook=lambda n, b: (_ for _ in ()).throw(err(gx.UnprocessableEntityError, 422, message="Invalid params")))
    with pytest.raises(InvokeBadRequestError, match="split further"):
        embed_texts(fake, ["a", "b", "c", "d"], max_retries=RETRIES, estimate=EST)
    assert len(fake.calls) == 2  # the batch, then its first half: split once only


def test_a_malformed_answer_is_retried_then_reported_as_server_unavailable():
    fake = FakeGigaChat(hook=lambda n, b: answer([[1.0]]))  # always one vector too few
    with pytest.raises(InvokeServerUnavailableError, match="expected 2 embeddings, got 1"):
        embed_texts(fake, ["a", "b"], max_retries=RETRIES, estimate=EST)
    assert len(fake.calls) == 1 + RETRIES


def test_the_deadline_stops_a_hanging_call_with_a_clear_error():
    release = threading.Event()
    fake = FakeGigaChat(delay=lambda batch: release.wait(30) and 0 if id_text(7) in batch else 0.0)
    try:
        with pytest.raises(InvokeServerUnavailableError, match=r"did not finish within .*\(1 of 10 batches unfinished\)"):
            embed_texts(fake, [id_text(i) for i in range(10)], max_per_request=1, concurrency=4,
                        max_retries=RETRIES, estimate=EST, deadline_seconds=0.5)
        assert release.is_set() is False  # the call gave up while the request still hung
    finally:
        release.set()


def test_a_failure_stops_batches_that_have_not_started():
    def hook(n, batch):
        if n == 1:
            raise err(gx.BadRequestError, 400)
        return None

    fake = FakeGigaChat(delay=0.02, hook=hook)
    with pytest.raises(InvokeBadRequestError):
        embed_texts(fake, [id_text(i) for i in range(100)], max_per_request=1, concurrency=2,
                    max_retries=RETRIES, estimate=EST)
    time.sleep(0.1)
    assert len(fake.calls) < 10


def test_a_worker_still_running_when_the_call_fails_ends_without_crashing(monkeypatch):
    """Issue 10.9: the failure list used to rebind the Event the workers share, so a worker still
    running raised AttributeError instead of finishing its batch."""
    futures: list[Future] = []

    class RecordingPool(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            futures.append(super().submit(*args, **kwargs))
            return futures[-1]

    monkeypatch.setattr(execution, "ThreadPoolExecutor", RecordingPool)
    in_flight, release = threading.Event(), threading.Event()

    def hook(n, batch):
        if id_text(1) in batch:  # in flight when the call fails, then fails too
            in_flight.set()
            release.wait(30)
        else:
            in_flight.wait(30)
        raise err(gx.BadRequestError, 400)

    fake = FakeGigaChat(hook=hook)
    with pytest.raises(InvokeBadRequestError, match="batch 1 of 2"):
        embed_texts(fake, [id_text(0), id_text(1)], max_per_request=1, concurrency=2,
                    max_retries=RETRIES, estimate=EST)
    release.set()
    wait_for(futures, timeout=30)
    assert len(fake.calls) == 2
    problems = [f.exception() for f in futures if f.exception() is not None]
    assert problems and all(isinstance(p, execution.BatchFailed) for p in problems), problems


def test_a_killed_call_gives_its_slot_back_to_the_shared_limiter():
    class Killed(BaseException):  # like gevent's GreenletExit
        pass

    limiter = AdaptiveLimiter(2)
    fake = FakeGigaChat(hook=lambda n, b: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        embed_texts(fake, ["a"], limiter=limiter, max_retries=RETRIES, estimate=EST)
    assert limiter.in_flight == 0


# --- the adaptive limiter -----------------------------------------------------------------------


def test_limiter_halves_once_per_burst_and_grows_back_after_successes():
    limiter = AdaptiveLimiter(8, increase_after=2)
    gens = [limiter.acquire() for _ in range(3)]
    for g in gens:
        limiter.release(g, limiter_module.RATE_LIMITED)
    assert limiter.limit == 4
    g = limiter.acquire()
    limiter.release(g, limiter_module.RATE_LIMITED)  # a new 429 after the decrease halves again
    assert limiter.limit == 2
    for _ in range(4):
        limiter.release(limiter.acquire(), limiter_module.OK)
    assert limiter.limit == 4
    for _ in range(100):
        limiter.release(limiter.acquire(), limiter_module.OK)
    assert limiter.limit == 8  # never above the configured maximum


def test_limiter_never_goes_below_one():
    limiter = AdaptiveLimiter(1)
    limiter.release(limiter.acquire(), limiter_module.RATE_LIMITED)
    assert limiter.limit == 1


def test_requests_with_the_same_client_share_one_limiter():
    class Client:
        pass

    client_a, client_b = Client(), Client()
    assert shared_limiter(client_a, 4) is shared_limiter(client_a, 4)
    assert shared_limiter(client_a, 4) is not shared_limiter(client_b, 4)
    assert shared_limiter(client_a, 3).max_concurrency == 3


# --- the Dify model class -------------------------------------------------------------------------

KEY = base64.b64encode(b"client-id:client-secret-123").decode()


class FakeClient:
    def __init__(self, exc=None):
        self.requests: list[tuple[list[str], str]] = []
        self.exc = exc

    def embeddings(self, texts, model="Embeddings"):
        self.requests.append((list(texts), model))
        if self.exc:
            raise self.exc
        return answer([pad(self.vector(t), model) for t in texts], tokens=[7] * len(texts))

    @staticmethod
    def vector(text):
        return [1.0, float(len(text))]


def pad(vector, model):
    """The vector repeated to the model's dimensions (an answer of other dimensions is unusable)."""
    from gigachat_dify.embeddings.config import known_dimensions

    dims = known_dimensions(model) or len(vector)
    return (vector * -(-dims // len(vector)))[:dims]


@pytest.fixture
def dify_model(monkeypatch):
    from gigachat_dify.embeddings import invocation
    from models.text_embedding import text_embedding as module

    client = FakeClient()
    monkeypatch.setattr(invocation, "get_client", lambda settings: client)
    schemas = [
        AIModelEntity(**yaml.safe_load(p.read_text()))
        for p in sorted((ROOT / "models" / "text_embedding").glob("*.yaml"))
        if p.name != "_position.yaml"
    ]
    instance = module.GigaChatTextEmbeddingModel(schemas)
    instance.fake_client = client
    return instance


def test_invoke_returns_vectors_in_order_with_usage(dify_model):
    result = dify_model.invoke("Embeddings", {"authorization_key": KEY}, ["a", "bb", ""])
    assert isinstance(result, TextEmbeddingResult)
    assert len(result.embeddings) == 3 and result.model == "Embeddings"
    assert result.usage.tokens == result.usage.total_tokens == 21
    assert result.usage.total_price == 0  # no public price
    sent, model = dify_model.fake_client.requests[0]
    assert sent == ["a", "bb", EMPTY_TEXT_PLACEHOLDER] and model == "Embeddings"


def test_invoke_prefixes_queries_for_gigar(dify_model):
    dify_model.invoke("EmbeddingsGigaR", {"authorization_key": KEY}, ["отпуск"], input_type=EmbeddingInputType.QUERY)
    (sent, _), = dify_model.fake_client.requests
    assert sent[0].startswith("Дан вопрос") and sent[0].endswith("отпуск")


def test_invoke_keeps_the_actionable_message_of_a_mapped_error(dify_model, waits):
    dify_model.fake_client.exc = err(gx.AuthenticationError, 401, message="Token has expired")
    with pytest.raises(InvokeAuthorizationError) as info:
        dify_model.invoke("Embeddings", {"authorization_key": KEY}, ["a"])
    assert "Check the 'Authorization key' and the 'Scope (account type)'" in str(info.value)
    assert "batch 1 of 1" in str(info.value)
    # An API 401 is retried (token rotation) the form's default 2 times, with THE policy's back-off,
    # through the injected sleep: no real waiting.
    assert len(dify_model.fake_client.requests) == 3 and len(waits) == 2


def test_invoke_returns_gigachats_values_in_the_short_form_that_rounds_back_to_them(dify_model):
    served = [0.88623046875, -1.2255859375, 0.0302276611328125, 5.5859375]
    dify_model.fake_client.vector = lambda text: list(served)
    result = dify_model.invoke("Embeddings", {"authorization_key": KEY}, ["a", "b"])
    assert result.embeddings == [[0.886, -1.226, 0.03023, 5.586] * 256] * 2  # not normalised: Dify does that
    assert [[float(np.float16(x)) for x in v] for v in result.embeddings] == [pad(served, "Embeddings")] * 2


def test_invoke_returns_values_that_are_not_halves_as_they_came(dify_model):
    served = [0.34410548210144043, 0.05616779997944832, -0.9102334976196289]  # float32 (recorded fixture)
    dify_model.fake_client.vector = lambda text: list(served)
    result = dify_model.invoke("Embeddings", {"authorization_key": KEY}, ["a", "b"])
    assert result.embeddings == [pad(served, "Embeddings")] * 2


def test_a_malformed_form_value_is_a_bad_request_naming_the_field_and_sends_nothing(dify_model):
    with pytest.raises(InvokeBadRequestError, match="Vector dimensions must be a whole number"):
        dify_model.invoke("MyEmbedder", {"authorization_key": KEY, "dimensions": "wide"}, ["a"])
    assert dify_model.fake_client.requests == []


def test_invoke_with_unusable_credentials_is_an_authorization_error(dify_model):
    with pytest.raises(InvokeAuthorizationError, match="authorization key"):
        dify_model.invoke("Embeddings", {}, ["a"])


def test_num_tokens_are_estimated_locally(dify_model):
    assert dify_model.get_num_tokens("Embeddings", {"authorization_key": KEY}, ["", "x" * 300])[0] == 0
    assert dify_model.get_num_tokens("Embeddings", {}, ["x" * 300])[0] > 0
    assert dify_model.fake_client.requests == []


def test_validation_checks_the_form_values_before_asking_gigachat(dify_model):
    with pytest.raises(CredentialsValidateFailedError, match=r"Texts per request must be a whole number"):
        dify_model.validate_credentials("MyEmbedder", {"authorization_key": KEY, "max_chunks": "a lot"})
    assert dify_model.fake_client.requests == []


def test_customizable_schema_takes_context_size_and_max_chunks_from_credentials(dify_model):
    schema = dify_model.get_customizable_model_schema("MyEmbedder", {"context_size": "2048", "max_chunks": "32"})
    assert schema.model_properties[ModelPropertyKey.CONTEXT_SIZE] == 2048
    assert schema.model_properties[ModelPropertyKey.MAX_CHUNKS] == 32
    fallback = dify_model.get_customizable_model_schema("MyEmbedder", {"context_size": "lots"})
    assert fallback.model_properties[ModelPropertyKey.CONTEXT_SIZE] == DEFAULT_LIMIT_TOKENS


def test_a_customizable_models_max_chunks_is_capped_by_what_one_answer_carries(dify_model):
    from gigachat_dify.embeddings import size

    def chunks(credentials):
        return dify_model.get_customizable_model_schema("MyEmbedder", credentials).model_properties[ModelPropertyKey.MAX_CHUNKS]

    assert chunks({"max_chunks": "500", "dimensions": "1024"}) == MAX_TEXTS_PER_REQUEST  # one request at most
    # not yet seen: the long form's bound (its values may not be halves)
    assert chunks({"max_chunks": "500", "dimensions": "16384"}) == size.texts_per_answer(16384, False) == 12
    assert chunks({"max_chunks": "8", "dimensions": "1024"}) == 8
    assert chunks({}) == size.max_chunks(size.ASSUMED_DIMENSIONS, False) == 77  # unknown: sized like EmbeddingsGigaR
    assert chunks({"max_chunks": "oops", "dimensions": "1024"}) == 77  # unusable: the safe default; validation reports it


# --- the deadline bounds every request ------------------------------------------------------------


def test_a_requests_timeout_is_the_time_left_to_the_deadline_when_shorter_than_the_forms():
    def stall(batch, timeout):
        time.sleep(timeout)  # a GigaChat that never answers: the request ends at its timeout
        raise httpx.ReadTimeout("timed out")

    fake = FakeGigaChat(hook=lambda n, batch: None)
    fake.delay = 0.0
    started = time.monotonic()
    with pytest.raises(InvokeServerUnavailableError, match=r"did not finish within 1 s \(last problem: ReadTimeout\)"):
        embed_texts(lambda batch, timeout: (fake(batch, timeout), stall(batch, timeout)), ["a"],
                    max_retries=RETRIES, estimate=EST, deadline_seconds=0.6, request_timeout=290.0)
    assert time.monotonic() - started < 2
    assert len(fake.timeouts) == 1 and 0 < fake.timeouts[0] <= 0.6


def test_a_requests_timeout_is_the_forms_when_the_deadline_is_further():
    fake = FakeGigaChat()
    embed_texts(fake, ["a"], max_retries=RETRIES, estimate=EST, deadline_seconds=240.0, request_timeout=20.0)
    assert fake.timeouts == [20.0]
