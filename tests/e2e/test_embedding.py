"""Embeddings end to end: the plugin subprocess driven over Dify's stdio protocol against the emulator.

Every expected vector is computed independently from the emulator's deterministic derivation
(`emulator.embeddings.vector`: float16 values from sha256(model, text), norm ~29 like GigaChat's),
so the tests check what Dify receives, not what the plugin believes it sent. The plugin returns
GigaChat's values (Dify normalises every vector itself), float16 ones in their short form: rounded
to float16, each is GigaChat's value bit for bit (tests/support/halves.py).
"""

from __future__ import annotations

import math
import random
import time
from concurrent.futures import ThreadPoolExecutor

import gigachat.exceptions as gx
import pytest
from gigachat import GigaChat

from emulator import B2B_KEY, DEFAULT_KEY
from emulator.embeddings import EMBEDDING_TOKEN_OVERHEAD
from emulator.embeddings import vector as emulator_vector
from emulator.tokens import count_tokens
from tests.support.halves import as_halves

# The plugin is a black box here (importing its modules would also gevent-patch this process).
# Its documented behaviour, from gigachat_dify/embeddings/ (planning.py, config.py):
EMPTY_TEXT_PLACEHOLDER = "."  # what a blank text is embedded as
GIGAR_QUERY_PREFIX = "Дан вопрос, необходимо найти абзац текста с ответом \nвопрос: "  # EmbeddingsGigaR queries

RU = (
    "индексация базы знаний требует аккуратного разбиения документов на фрагменты "
    "поиск по смыслу работает лучше когда фрагменты не слишком длинные и не слишком короткие "
    "модель получает текст и возвращает вектор который хранится в векторной базе"
).split()
EN = (
    "knowledge base indexing needs careful splitting of documents into chunks "
    "semantic search works best when chunks are neither too long nor too short "
    "the model receives text and returns a vector that is stored in the vector database"
).split()


# --- helpers ------------------------------------------------------------------------------------


def distinct_texts(n: int, seed: int = 7) -> list[str]:
    """`n` different texts, Russian and English mixed, a few sentences each."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        words = RU if i % 2 else EN
        body = " ".join(rng.choice(words) for _ in range(rng.randint(8, 40)))
        texts.append(f"{'Фрагмент' if i % 2 else 'Chunk'} {i}: {body}.")
    assert len(set(texts)) == n
    return texts


def long_text(words: int, seed: int = 11) -> str:
    """About `words` English words in sentences of 8-20 words and paragraphs of ~6 sentences."""
    rng = random.Random(seed)
    out, count, sentence_no = [], 0, 0
    while count < words:
        k = rng.randint(8, 20)
        out.append(" ".join(rng.choice(EN) for _ in range(k)).capitalize() + ".")
        count += k
        sentence_no += 1
        out.append("\n\n" if sentence_no % 6 == 0 else " ")
    return "".join(out).strip()


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def unit(v: list[float]) -> list[float]:
    n = norm(v)
    return [x / n for x in v]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def assert_same_vector(got: list[float], want: list[float], what: str = "") -> None:
    """`got` is GigaChat's vector `want`, value for value as float16: not normalised."""
    assert len(got) == len(want), what
    got = as_halves(got)
    differing = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert not differing, f"{what}: values {differing[:5]} differ ({got[differing[0]]} vs {want[differing[0]]})"


def embedding_requests(emu, status: int | None = None) -> list:
    return [e for e in emu.log if e.path == "/embeddings" and (status is None or e.status == status)]


def embed(plugin, model, credentials, texts, input_type="document", timeout=60.0):
    result = plugin.invoke_embedding(model, credentials, texts, input_type=input_type, timeout=timeout)
    assert result.ok, result.error
    assert len(result.chunks) == 1  # a TextEmbeddingResult travels as one chunk
    return result.chunks[0]


def assert_complete_and_ordered(out: dict, model: str, texts: list[str]) -> None:
    vectors = out["embeddings"]
    assert len(vectors) == len(texts)
    for i, (text, got) in enumerate(zip(texts, vectors)):
        assert_same_vector(got, emulator_vector(model, text), f"text {i}")


# --- batches: completeness, order, usage -----------------------------------------------------------


def test_a_batch_of_190_texts_comes_back_complete_in_input_order_with_usage_summed(plugin, credentials, emulator):
    texts = distinct_texts(190)  # another plugin's backwards invocation sends all at once
    business = {**credentials, "authorization_key": B2B_KEY, "scope": "GIGACHAT_API_B2B"}  # 4 parallel requests allowed
    out = embed(plugin, "Embeddings", {**business, "embedding_concurrency": "4"}, texts)

    assert_complete_and_ordered(out, "Embeddings", texts)
    for v in out["embeddings"]:
        assert 20 < norm(v) < 40  # GigaChat's own scale (~29): not normalised
    # more than one request's worth: the plugin sent several requests of at most 90 texts
    sent = embedding_requests(emulator)
    assert len(sent) == math.ceil(190 / 90)
    assert all(e.status == 200 and len(e.json["input"]) <= 90 for e in sent)
    assert sorted(t for e in sent for t in e.json["input"]) == sorted(texts)
    # usage: what GigaChat charged for every text, summed over the requests
    assert out["usage"]["tokens"] == sum(count_tokens(t) + EMBEDDING_TOKEN_OVERHEAD for t in texts)
    assert out["usage"]["total_tokens"] == out["usage"]["tokens"]


# --- long texts ----------------------------------------------------------------------------------


def test_the_emulator_rejects_a_text_over_the_model_limit_with_413(emulator):
    text = long_text(3000)
    assert count_tokens(text) > 512
    with GigaChat(base_url=emulator.base_url, auth_url=emulator.auth_url, credentials=DEFAULT_KEY,
                  scope="GIGACHAT_API_PERS", verify_ssl_certs=False, max_retries=0, timeout=20) as sdk:
        with pytest.raises((gx.RequestEntityTooLargeError, gx.UnprocessableEntityError)) as caught:
            sdk.embeddings([text], model="Embeddings")
    assert caught.value.status_code in (413, 422)


def test_a_text_over_the_limit_is_split_and_combined_without_failing_its_batch(plugin, credentials, emulator):
    big = long_text(3000)
    before, after = "Короткий фрагмент перед длинным.", "A short chunk after the long one."
    texts = [before, big, after]
    out = embed(plugin, "Embeddings", credentials, texts)
    vectors = out["embeddings"]
    assert len(vectors) == 3

    # the neighbours keep their positions and their own vectors
    assert_same_vector(vectors[0], emulator_vector("Embeddings", before), "text before")
    assert_same_vector(vectors[2], emulator_vector("Embeddings", after), "text after")

    # what reached GigaChat: consecutive pieces of the long text, each within the model's limit
    accepted = embedding_requests(emulator, status=200)
    pieces = [t for e in accepted for t in e.json["input"] if t not in (before, after)]
    assert len(pieces) > 1
    assert "".join(pieces) == big  # lossless, in order
    assert all(count_tokens(p) <= 512 for p in pieces)

    # the combined vector: the length-weighted average of the pieces' vectors at their mean length
    # (GigaChat's scale)
    combined = as_halves(vectors[1])  # rounded to float16, GigaChat's own precision: it travels short too
    piece_vectors = [emulator_vector("Embeddings", p) for p in pieces]
    total = sum(len(p) for p in pieces)
    weighted = [sum(len(p) * v[i] for p, v in zip(pieces, piece_vectors)) / total for i in range(len(combined))]
    mean_length = sum(len(p) * norm(v) for p, v in zip(pieces, piece_vectors)) / total
    expected = [x * mean_length / norm(weighted) for x in weighted]
    assert abs(norm(combined) - mean_length) < 1e-3 * mean_length
    assert max(abs(a - b) for a, b in zip(combined, expected)) < 1e-3 * max(map(abs, expected))
    # ... so it is closer to every piece than to any other text (GigaChat's vectors share a
    # model-wide direction: unrelated texts have cosines of ~0.85, not ~0)
    closest_unrelated = max(dot(combined, unit(emulator_vector("Embeddings", t))) for t in distinct_texts(20))
    assert min(dot(combined, unit(v)) for v in piece_vectors) > closest_unrelated
    assert out["usage"]["tokens"] == sum(
        count_tokens(t) + EMBEDDING_TOKEN_OVERHEAD for e in accepted for t in e.json["input"]
    )


# --- empty texts ---------------------------------------------------------------------------------


def test_empty_and_whitespace_texts_get_the_placeholder_vector_and_do_not_fail_the_batch(plugin, credentials, emulator):
    """Documented behaviour: a blank text is embedded as EMPTY_TEXT_PLACEHOLDER ("."), so it gets a
    real vector (never a zero vector, which breaks cosine search) and its batch goes through."""
    texts = ["alpha", "", "   \n\t ", "omega"]
    out = embed(plugin, "Embeddings", credentials, texts)
    vectors = out["embeddings"]
    assert len(vectors) == 4
    assert_same_vector(vectors[0], emulator_vector("Embeddings", "alpha"), "alpha")
    assert_same_vector(vectors[3], emulator_vector("Embeddings", "omega"), "omega")
    placeholder = emulator_vector("Embeddings", EMPTY_TEXT_PLACEHOLDER)
    assert_same_vector(vectors[1], placeholder, "empty text")
    assert_same_vector(vectors[2], placeholder, "whitespace text")
    (request,) = embedding_requests(emulator)
    assert request.json["input"] == ["alpha", EMPTY_TEXT_PLACEHOLDER, EMPTY_TEXT_PLACEHOLDER, "omega"]

    only_blank = embed(plugin, "Embeddings", credentials, [" "])
    assert_same_vector(only_blank["embeddings"][0], placeholder, "a call with one blank text")


# --- query vs document ---------------------------------------------------------------------------


def test_gigar_queries_carry_the_instruction_prefix_and_documents_do_not(plugin, credentials, emulator):
    text = "Как настроить GigaChat в Dify?"
    prefix = GIGAR_QUERY_PREFIX

    query = embed(plugin, "EmbeddingsGigaR", credentials, [text], input_type="query")
    (sent,) = embedding_requests(emulator)
    assert sent.json["input"] == [prefix + text]
    assert_same_vector(query["embeddings"][0], emulator_vector("EmbeddingsGigaR", prefix + text), "query")

    emulator.clear_log()
    document = embed(plugin, "EmbeddingsGigaR", credentials, [text], input_type="document")
    (sent,) = embedding_requests(emulator)
    assert sent.json["input"] == [text]
    assert_same_vector(document["embeddings"][0], emulator_vector("EmbeddingsGigaR", text), "document")


@pytest.mark.parametrize("input_type", ["query", "document"])
def test_embeddings_model_gets_no_prefix_for_queries_or_documents(plugin, credentials, emulator, input_type):
    text = "Как настроить GigaChat в Dify?"
    out = embed(plugin, "Embeddings", credentials, [text], input_type=input_type)
    (sent,) = embedding_requests(emulator)
    assert sent.json["input"] == [text]
    assert_same_vector(out["embeddings"][0], emulator_vector("Embeddings", text), input_type)


# --- rate limits ---------------------------------------------------------------------------------


def test_a_multi_batch_call_recovers_from_429s_when_gigachat_allows_one_request_at_a_time(
    fresh_plugin, credentials, emulator
):
    emulator.faults.concurrency_cap = 1
    emulator.faults.retry_after = 1
    emulator.faults.latency = 0.05
    texts = distinct_texts(190, seed=3)  # 3 requests of at most 90 texts
    started = time.monotonic()
    out = embed(fresh_plugin, "Embeddings", {**credentials, "embedding_concurrency": "4"}, texts)
    elapsed = time.monotonic() - started

    assert_complete_and_ordered(out, "Embeddings", texts)
    assert emulator.stats.rate_limited > 0  # the plugin did hit the cap, and recovered
    accepted = embedding_requests(emulator, status=200)
    assert len(accepted) == 3
    assert out["usage"]["tokens"] == sum(count_tokens(t) + EMBEDDING_TOKEN_OVERHEAD for t in texts)
    assert elapsed < 20


def test_injected_429s_with_retry_after_are_waited_out(fresh_plugin, credentials, emulator):
    emulator.faults.inject(status=429, count=2, path="/embeddings", retry_after=1)
    texts = ["первый", "second", "третий"]
    started = time.monotonic()
    out = embed(fresh_plugin, "Embeddings", credentials, texts)
    elapsed = time.monotonic() - started

    assert_complete_and_ordered(out, "Embeddings", texts)
    assert emulator.stats.rate_limited == 2
    assert [e.status for e in embedding_requests(emulator)] == [429, 429, 200]
    assert elapsed >= 2.0  # Retry-After was honoured (1 s each), not ignored


# --- server errors -------------------------------------------------------------------------------


def test_transient_503s_are_retried_and_the_call_succeeds(plugin, credentials, emulator):
    emulator.faults.inject(status=503, count=2, path="/embeddings")
    texts = ["раз", "два", "three"]
    out = embed(plugin, "Embeddings", credentials, texts)  # default retries: 2
    assert_complete_and_ordered(out, "Embeddings", texts)
    assert [e.status for e in embedding_requests(emulator)] == [503, 503, 200]


def test_a_persistent_500_is_server_unavailable_naming_the_failed_batch_and_returns_nothing(
    plugin, credentials, emulator
):
    emulator.faults.inject(status=500, count=100, path="/embeddings")
    texts = distinct_texts(190, seed=5)  # 3 batches: 0-89, 90-179, 180-189
    creds = {**credentials, "embedding_concurrency": "1", "max_retries": "2"}
    result = plugin.invoke_embedding("Embeddings", creds, texts, timeout=60)

    assert not result.ok
    assert result.error_type == "InvokeServerUnavailableError"
    assert "batch 1 of 3 (texts 0-89)" in result.error_message
    assert "500" in result.error_message
    assert result.chunks == []  # never a partial result
    time.sleep(0.5)  # a batch started after the failure would show up here
    sent = embedding_requests(emulator)
    assert [(e.status, e.json["input"][0]) for e in sent] == [(500, texts[0])] * 3  # 1 try + 2 retries
    assert not any(t in e.json["input"] for e in sent for t in texts[90:])  # batches 2, 3 never sent


# --- token counting ------------------------------------------------------------------------------


def test_token_counts_are_answered_locally_without_any_request(plugin, credentials, emulator):
    texts = ["hi", "a short English sentence about knowledge bases", long_text(300), "", "Привет, мир!"]
    emulator.clear_log()
    emulator.stats.reset()
    result = plugin.embedding_num_tokens("Embeddings", credentials, texts)
    assert result.ok, result.error
    counts = result.chunks[0]["num_tokens"]

    assert emulator.log == []  # nothing reached GigaChat: no OAuth, no /tokens/count
    assert emulator.stats.oauth_calls == 0
    assert len(counts) == len(texts)
    assert counts[3] == 0  # the empty text
    assert all(c > 0 for i, c in enumerate(counts) if i != 3)
    assert counts[0] < counts[1] < counts[2]
    # one count per text, in input order: the reversed list gives the reversed counts
    reversed_counts = plugin.embedding_num_tokens("Embeddings", credentials, texts[::-1]).chunks[0]["num_tokens"]
    assert reversed_counts == counts[::-1]
    # a local estimate, in the range of GigaChat's own count (the emulator's tokenizer)
    assert 0.5 < counts[2] / count_tokens(texts[2]) < 2
    assert emulator.log == []


# --- custom models -------------------------------------------------------------------------------


def test_a_customizable_embedding_model_schema_takes_context_size_and_max_chunks(plugin, credentials):
    result = plugin.model_schema(
        "MyEmbeddings", "text-embedding", {**credentials, "context_size": "512", "max_chunks": "50"}
    )
    assert result.ok, result.error
    schema = result.chunks[0]["model_schema"]
    assert schema["model"] == "MyEmbeddings"
    assert schema["model_type"] == "text-embedding"
    assert schema["fetch_from"] == "customizable-model"
    assert schema["model_properties"] == {"context_size": 512, "max_chunks": 50}


def test_custom_max_chunks_is_capped_at_one_request_and_at_what_one_answer_carries(plugin, credentials):
    # the daemon refuses protocol lines over 5 MiB; Dify sends max_chunks texts per invocation
    def max_chunks(**form):
        result = plugin.model_schema("MyEmbeddings", "text-embedding", dict(credentials, **form))
        assert result.ok, result.error
        return result.chunks[-1]["model_schema"]["model_properties"]["max_chunks"]

    assert max_chunks(max_chunks="5000", dimensions="1024") == 90  # one request at most
    assert max_chunks(max_chunks="5000") == 77  # dimensions unknown yet: sized like EmbeddingsGigaR (2,560)
    assert max_chunks(max_chunks="5000", dimensions="16384") == 12  # 12 vectors of 16,384 numbers fit a line


# --- Dify's indexing on a personal account ---------------------------------------------------------


def test_a_personal_account_serves_difys_ten_parallel_indexing_workers_without_a_surfaced_error(
    fresh_plugin, credentials, emulator
):
    """Dify's indexing runner embeds with 10 workers at once, `max_chunks` (90) texts per call;
    GigaChat allows a personal (PERS) account 1 request in flight and answers 429 beyond it. The
    plugin's default for PERS is 1 parallel request, shared by every call with the same key. The
    emulator's own per-account default is what limits it here (no cap set by the test)."""
    emulator.faults.retry_after = 1
    emulator.faults.latency = 0.05
    assert emulator.concurrency["GIGACHAT_API_PERS"] == 1 and emulator.faults.concurrency_cap is None
    assert credentials["scope"] == "GIGACHAT_API_PERS" and "embedding_concurrency" not in credentials
    texts = distinct_texts(900, seed=13)
    calls = [texts[i:i + 90] for i in range(0, 900, 90)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda batch: fresh_plugin.invoke_embedding("Embeddings", credentials, batch,
                                                                             timeout=240), calls))
    assert [r.error for r in results] == [None] * 10
    for batch, result in zip(calls, results):
        assert_complete_and_ordered(result.chunks[0], "Embeddings", batch)
    assert emulator.stats.max_concurrency == 1 and emulator.stats.rate_limited == 0
    assert len(embedding_requests(emulator, status=200)) == 10
