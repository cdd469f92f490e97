"""The protocol-size plan (gigachat_dify/embeddings/size.py) and the guard in invocation.embed: no
embedding answer can become a stdout line over the daemon's limit, and a call that cannot fit is
refused with a clear InvokeBadRequestError, before anything is sent whenever the size is known.
Float16 values travel in the short form (at most 11 characters), anything else as it came (24)."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import numpy as np
import pytest
from dify_plugin.core.server.__base.response_writer import ResponseWriter
from dify_plugin.entities.model.text_embedding import EmbeddingUsage
from dify_plugin.errors.model import InvokeBadRequestError, InvokeServerUnavailableError

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from gigachat_dify.connection.credentials import parse_credentials
from gigachat_dify.embeddings import answer, config, invocation, size, values
from gigachat_dify.memory import Memory
from gigachat_dify.protocol import LINE_BUDGET, MAX_LINE

import base64

KEY = base64.b64encode(b"client-id:client-secret-123").decode()
CREDENTIALS = {"authorization_key": KEY, "base_url": "https://gigachat.example/api/v1"}
USAGE = EmbeddingUsage(tokens=10**9, total_tokens=10**9, unit_price=0, price_unit=0, total_price=0,
                       currency="RUB", latency=123.456)
# the longest JSON pydantic writes for a finite float; the half whose short form is the longest
LONGEST_FLOAT = -0.000012345678901234568
LONGEST_SHORT_HALF = -1.0132789611816406e-05  # "-0.00001013"
FLOAT32 = 0.34410548210144043  # not a half (the SDK's recorded float32 answer)
SESSION = "5b0a0a9e-2d9b-4a8e-9f3c-7a1d1f0c2b3e"


class Capture(ResponseWriter):
    def __init__(self):
        self.lines: list[str] = []

    def write(self, data: str) -> None:
        self.lines.append(data)

    def done(self) -> None:
        pass


def protocol_line(vectors, model: str = "EmbeddingsGigaR") -> bytes:
    """The line the plugin writes for this answer (answer.py), without its blank-line terminator."""
    text = answer.line(Capture(), SESSION, model, values.block(vectors), USAGE)
    assert text.endswith("\n\n")
    return text[:-2].encode()


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    monkeypatch.setattr(size, "_learned", Memory(16, 3600.0))  # what answers showed: none yet


# --- the arithmetic ---------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_no_value_is_longer_on_the_line_than_the_plan_counts(value):
    block = values.block([[value]])
    bound = size.SHORT_VALUE_CHARS if values.is_short(block) else size.LONG_VALUE_CHARS
    assert len(values.json_text(block)) - 4 <= bound


def test_the_plans_longest_values_are_real():
    assert len(to_json(LONGEST_FLOAT)) == size.LONG_VALUE_CHARS
    assert values.json_text(values.block([[LONGEST_SHORT_HALF]])) == b"[[-0.00001013]]"
    assert len("-0.00001013") == size.SHORT_VALUE_CHARS


@pytest.mark.parametrize("dimensions", sorted(set(config.DIMENSIONS.values())))
@pytest.mark.parametrize("value", [LONGEST_SHORT_HALF, LONGEST_FLOAT], ids=["short", "long"])
def test_the_most_texts_planned_fit_the_line_even_when_every_value_is_the_longest(dimensions, value):
    short = value == LONGEST_SHORT_HALF
    most = size.texts_per_answer(dimensions, short)
    line = protocol_line(np.full((most, dimensions), value))
    assert len(line) <= MAX_LINE
    assert json.loads(line)["data"]["data"]["embeddings"][0][0] == pytest.approx(value, rel=1e-3)
    # the plan is not wasteful either: one vector more would not fit the budget
    assert size.RESULT_OVERHEAD + (most + 1) * size.vector_bytes(dimensions, short) > LINE_BUDGET


def test_the_short_form_carries_300_texts_of_1024_values_and_150_of_2560_per_call():
    assert size.texts_per_answer(1024, True) == 405 >= 300 and size.texts_per_answer(1024, False) == 194
    assert size.texts_per_answer(2560, True) == 162 >= 150 and size.texts_per_answer(2560, False) == 77
    assert size.texts_per_answer(2048, True) == 202


def test_max_chunks_is_one_request_at_most_and_what_one_answer_carries():
    assert size.max_chunks(1024, True) == config.MAX_TEXTS_PER_REQUEST  # 405 would fit
    assert size.max_chunks(2560, True) == config.MAX_TEXTS_PER_REQUEST  # 162 would fit
    assert size.max_chunks(2560, False) == size.texts_per_answer(2560, False) == 77
    assert size.max_chunks(50_000, True) == size.texts_per_answer(50_000, True) == 8


def test_the_plan_prefers_what_an_answer_showed_then_the_form_then_the_tables():
    assert size.shape_for("u", "EmbeddingsGigaR", None) == (2560, True)
    assert size.shape_for("u", "EmbeddingsGigaR:2.0.1", None) == (2560, True)
    assert size.shape_for("u", "Mine", None) == (None, False)  # unknown: the long form's bound
    assert size.shape_for("u", "Mine", 768) == (768, False)
    size.remember("u", "Mine", size.Shape(4096, True))
    assert size.shape_for("u", "Mine", 768) == (4096, True)


# --- the guard, with a fake GigaChat ------------------------------------------------------------------


class FakeClient:
    def __init__(self, dimensions: int, value: float = 0.5):
        self.dimensions, self.value, self.requests = dimensions, value, []

    def embeddings(self, texts, model):
        self.requests.append(list(texts))
        return NS(data=[NS(index=i, embedding=[self.value] * self.dimensions, usage=NS(prompt_tokens=2))
                        for i in range(len(texts))])


@pytest.fixture
def gigachat(monkeypatch):
    holder = {}

    def install(dimensions, value=0.5):
        holder["client"] = FakeClient(dimensions, value)
        return holder["client"]

    monkeypatch.setattr(invocation, "get_client", lambda settings: holder["client"])
    return install


def texts(n: int) -> list[str]:
    return [f"text {i}" for i in range(n)]


@pytest.mark.parametrize("count", [300, 400])
def test_a_call_too_large_for_one_answer_is_refused_before_anything_is_sent(gigachat, count):
    client = gigachat(2560)
    with pytest.raises(InvokeBadRequestError) as info:
        invocation.embed("EmbeddingsGigaR", CREDENTIALS, texts(count))
    message = str(info.value)
    assert "EmbeddingsGigaR takes at most 162 texts per call" in message
    assert f"{count} vectors of 2,560 numbers" in message and "Nothing was sent" in message
    assert client.requests == []


@pytest.mark.parametrize("model, most", [("EmbeddingsGigaR", 162), ("Embeddings", 405)])
def test_the_most_texts_a_model_takes_are_answered_within_the_line(gigachat, model, most):
    client = gigachat(config.DIMENSIONS[model], value=LONGEST_SHORT_HALF)
    embedded = invocation.embed(model, CREDENTIALS, texts(most))
    assert len(embedded.vectors) == most and len(client.requests) == -(-most // config.MAX_TEXTS_PER_REQUEST)
    assert len(protocol_line(embedded.block, model)) <= MAX_LINE


def test_an_unknown_models_first_answer_decides_before_more_is_sent_and_is_remembered(gigachat):
    client = gigachat(8192)
    batch = texts(150)  # 2 requests; 8,192 numbers x 150 cannot fit even in the short form
    with pytest.raises(InvokeBadRequestError, match="at most 50 texts per call.*already counted the tokens"):
        invocation.embed("MyOnPremEmbedder", CREDENTIALS, batch)
    assert len(client.requests) == 1  # the second request was never sent
    with pytest.raises(InvokeBadRequestError, match="Nothing was sent"):
        invocation.embed("MyOnPremEmbedder", CREDENTIALS, batch)
    assert len(client.requests) == 1
    assert len(invocation.embed("MyOnPremEmbedder", CREDENTIALS, batch[:50]).vectors) == 50


def test_an_unknown_model_is_planned_with_the_long_form_until_its_answers_show_halves(gigachat):
    client = gigachat(3072)
    custom = {**CREDENTIALS, "dimensions": "3072"}
    with pytest.raises(InvokeBadRequestError, match="at most 64 texts.*not float16.*Nothing was sent"):
        invocation.embed("MyEmbedder", custom, texts(90))
    assert client.requests == []
    assert len(invocation.embed("MyEmbedder", custom, texts(10)).vectors) == 10  # its first answer: halves
    assert len(invocation.embed("MyEmbedder", custom, texts(90)).vectors) == 90  # planned short now


def test_a_float32_models_first_answer_is_remembered_and_plans_the_long_form(gigachat):
    client = gigachat(2560, value=FLOAT32)  # answers under a predefined name, but not in halves
    with pytest.raises(InvokeBadRequestError, match="at most 77 texts per call.*already counted"):
        invocation.embed("EmbeddingsGigaR", CREDENTIALS, texts(150))
    assert len(client.requests) == 1
    with pytest.raises(InvokeBadRequestError, match="at most 77 texts.*not float16.*Nothing was sent"):
        invocation.embed("EmbeddingsGigaR", CREDENTIALS, texts(90))
    assert len(client.requests) == 1
    embedded = invocation.embed("EmbeddingsGigaR", CREDENTIALS, texts(77))
    assert embedded.vectors[0][0] == FLOAT32  # as it came
    assert len(protocol_line(embedded.block)) <= MAX_LINE


def test_an_answer_of_other_dimensions_than_the_forms_is_unusable_and_never_learnt(gigachat):
    client = gigachat(8192)  # the form says 1024: a wrong answer must neither pass nor plan later calls
    form = {**CREDENTIALS, "dimensions": "1024", "max_retries": "0"}
    with pytest.raises(InvokeServerUnavailableError, match="unusable embeddings answer: vectors of 8,192 values, "
                                                          "the model's have 1,024"):
        invocation.embed("MyEmbedder", form, texts(90))
    assert len(client.requests) == 1
    assert size.seen(parse_credentials(form).fingerprint, "MyEmbedder") is None
    client.dimensions = 1024
    assert len(invocation.embed("MyEmbedder", form, texts(90)).vectors) == 90


def test_an_answer_of_other_dimensions_than_the_model_tables_is_unusable(gigachat):
    client = gigachat(512)  # Embeddings has 1,024
    with pytest.raises(InvokeServerUnavailableError, match="vectors of 512 values, the model's have 1,024"):
        invocation.embed("Embeddings", {**CREDENTIALS, "max_retries": "1"}, texts(2))
    assert len(client.requests) == 2  # retried like any malformed answer


def test_one_connections_odd_answer_never_plans_another_connections_calls(gigachat):
    client = gigachat(600_000)  # what workspace A's own proxy answered, once
    a = {**CREDENTIALS, "proxy_url": "http://proxy.a.example:3128", "max_retries": "0"}
    with pytest.raises(InvokeServerUnavailableError, match="unusable embeddings answer"):
        invocation.embed("Embeddings", a, texts(1))
    with pytest.raises(InvokeServerUnavailableError, match="more than any embedding model's"):
        invocation.embed("MyOnPremEmbedder", a, texts(1))  # no dimensions known: still refused
    client.dimensions = 1024
    b = {**CREDENTIALS, "authorization_key": base64.b64encode(b"other-id:other-secret-123456").decode()}
    assert len(invocation.embed("Embeddings", b, texts(90)).vectors) == 90
    assert len(invocation.embed("Embeddings", a, texts(90)).vectors) == 90  # A itself, once its answers are right


def test_what_an_answer_showed_is_remembered_per_connection():
    size.remember("connection a", "Mine", size.Shape(4096, True))
    assert size.shape_for("connection a", "Mine", 768) == (4096, True)
    assert size.shape_for("connection b", "Mine", None) == (None, False)


def test_a_shape_that_would_plan_no_text_per_call_is_never_learnt():
    size.remember("c", "Mine", size.Shape(600_000, False))
    size.remember("c", "Mine", size.Shape(0, True))
    assert size.seen("c", "Mine") is None


def test_what_an_answer_showed_is_forgotten_after_an_hour(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(size, "_learned", Memory(16, 3600.0, clock=lambda: now[0]))
    size.remember("c", "Mine", size.Shape(4096, True))
    now[0] = 3601.0
    assert size.seen("c", "Mine") is None


def test_a_line_over_the_daemons_limit_is_never_written():
    block = np.full((220, 1024), LONGEST_FLOAT)  # long form, past what the plan allows
    with pytest.raises(InvokeBadRequestError, match="already counted"):
        answer.line(Capture(), SESSION, "Embeddings", values.block(block), USAGE)


def test_vectors_come_back_as_gigachat_gave_them(gigachat):
    gigachat(1024, value=0.88623046875)
    (vector,) = invocation.embed("Embeddings", CREDENTIALS, ["t"]).vectors
    assert vector == [0.88623046875] * 1024
