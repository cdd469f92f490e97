"""The protocol-size plan (gigachat_dify/embeddings/size.py) and the guard in invocation.embed: no
embedding answer can become a stdout line over the daemon's limit, and a call that cannot fit is
refused with a clear InvokeBadRequestError, before anything is sent whenever the size is known."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace as NS

import pytest
from dify_plugin.core.server.__base.response_writer import ResponseWriter
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult
from dify_plugin.errors.model import InvokeBadRequestError

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from gigachat_dify.embeddings import config, invocation, size
from gigachat_dify.protocol import DAEMON_LINE_LIMIT, LINE_BUDGET

KEY = base64.b64encode(b"client-id:client-secret-123").decode()
CREDENTIALS = {"authorization_key": KEY, "base_url": "https://gigachat.example/api/v1"}
USAGE = EmbeddingUsage(tokens=10**9, total_tokens=10**9, unit_price=0, price_unit=0, total_price=0,
                       currency="RUB", latency=123.456)
# the longest JSON pydantic writes for a finite float, and the longest of GigaChat's float16 values
LONGEST_VALUES = (-0.000012345678901234568, -1.7976931348623157e308, -1.0013580322265625e-05)


class Capture(ResponseWriter):
    def __init__(self):
        self.lines: list[str] = []

    def write(self, data: str) -> None:
        self.lines.append(data)

    def done(self) -> None:
        pass


def protocol_line(vectors: list[list[float]], model: str = "EmbeddingsGigaR") -> bytes:
    """The line dify_plugin writes for this answer (plugin.py _execute_request -> session_message)."""
    writer = Capture()
    result = TextEmbeddingResult(model=model, embeddings=vectors, usage=USAGE)
    writer.session_message(session_id="5b0a0a9e-2d9b-4a8e-9f3c-7a1d1f0c2b3e", data=writer.stream_object(result))
    assert writer.lines[-1] == "\n\n"
    return writer.lines[0].encode()


@pytest.fixture(autouse=True)
def _fresh_memory():
    size.forget_all()
    yield
    size.forget_all()


# --- the arithmetic ---------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_no_value_is_longer_on_the_line_than_the_plan_counts(value):
    assert len(to_json(value)) <= size.MAX_VALUE_CHARS


def test_the_plans_longest_values_are_real():
    assert [len(to_json(v)) for v in LONGEST_VALUES] == [size.MAX_VALUE_CHARS] * 3


@pytest.mark.parametrize("dimensions", sorted(set(config.DIMENSIONS.values())))
def test_the_most_texts_planned_fit_the_line_even_when_every_value_is_the_longest(dimensions):
    most = size.texts_per_answer(dimensions)
    line = protocol_line([[LONGEST_VALUES[0]] * dimensions] * most)
    assert len(line) <= DAEMON_LINE_LIMIT
    assert json.loads(line)["data"]["data"]["embeddings"][0][0] == LONGEST_VALUES[0]
    # the plan is not wasteful either: one vector more would not fit the budget
    assert size.RESULT_OVERHEAD + (most + 1) * size.vector_bytes(dimensions) > LINE_BUDGET


def test_max_chunks_is_one_request_at_most_and_what_one_answer_carries():
    assert size.max_chunks(1024) == config.MAX_TEXTS_PER_REQUEST  # 194 would fit
    assert size.max_chunks(2048) == config.MAX_TEXTS_PER_REQUEST  # 97 would fit
    assert size.max_chunks(2560) == size.texts_per_answer(2560) == 77
    assert size.max_chunks(50_000) == size.texts_per_answer(50_000) == 3


def test_the_plan_prefers_what_an_answer_showed_then_the_form_then_the_table():
    assert size.dimensions_for("u", "EmbeddingsGigaR", None) == 2560
    assert size.dimensions_for("u", "EmbeddingsGigaR:2.0.1", None) == 2560
    assert size.dimensions_for("u", "Mine", None) is None
    assert size.dimensions_for("u", "Mine", 768) == 768
    size.remember("u", "Mine", 4096)
    assert size.dimensions_for("u", "Mine", 768) == 4096
    assert size.dimensions_for("other host", "Mine", None) is None  # remembered per (base URL, model)


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


@pytest.mark.parametrize("count", [300, 400])
def test_a_call_too_large_for_one_answer_is_refused_before_anything_is_sent(gigachat, count):
    client = gigachat(2560)
    with pytest.raises(InvokeBadRequestError) as info:
        invocation.embed("EmbeddingsGigaR", CREDENTIALS, [f"text {i}" for i in range(count)])
    message = str(info.value)
    assert "EmbeddingsGigaR takes at most 77 texts per call" in message
    assert f"{count} vectors of 2,560 numbers" in message and "Nothing was sent" in message
    assert client.requests == []


def test_the_most_texts_a_model_takes_are_answered(gigachat):
    client = gigachat(2560, value=LONGEST_VALUES[2])
    embedded = invocation.embed("EmbeddingsGigaR", CREDENTIALS, [f"text {i}" for i in range(77)])
    assert len(embedded.vectors) == 77 and len(client.requests) == 1
    assert len(protocol_line(embedded.vectors)) <= DAEMON_LINE_LIMIT


def test_an_unknown_models_first_answer_decides_before_more_is_sent_and_is_remembered(gigachat):
    client = gigachat(8192)
    texts = [f"text {i}" for i in range(150)]  # 2 requests; 8,192 numbers x 150 cannot fit
    with pytest.raises(InvokeBadRequestError, match="at most 24 texts per call.*already counted the tokens"):
        invocation.embed("MyOnPremEmbedder", CREDENTIALS, texts)
    assert len(client.requests) == 1  # the second request was never sent
    with pytest.raises(InvokeBadRequestError, match="Nothing was sent"):
        invocation.embed("MyOnPremEmbedder", CREDENTIALS, texts)
    assert len(client.requests) == 1
    assert len(invocation.embed("MyOnPremEmbedder", CREDENTIALS, texts[:24]).vectors) == 24


def test_the_form_dimensions_plan_a_custom_model_before_its_first_answer(gigachat):
    client = gigachat(3072)
    with pytest.raises(InvokeBadRequestError, match="Nothing was sent"):
        invocation.embed("MyEmbedder", {**CREDENTIALS, "dimensions": "3072"}, ["t"] * 90)
    assert client.requests == []


def test_an_answer_larger_than_the_form_said_is_caught_before_it_is_written_and_remembered(gigachat):
    client = gigachat(4096)  # the form says 1024: a wrong figure must not let an over-long line through
    texts = [f"text {i}" for i in range(90)]
    with pytest.raises(InvokeBadRequestError, match="at most 48 texts per call.*already counted"):
        invocation.embed("MyEmbedder", {**CREDENTIALS, "dimensions": "1024"}, texts)
    assert len(client.requests) == 1
    with pytest.raises(InvokeBadRequestError, match="Nothing was sent"):  # what the answer showed wins now
        invocation.embed("MyEmbedder", {**CREDENTIALS, "dimensions": "1024"}, texts)
    assert len(client.requests) == 1


def test_vectors_come_back_as_gigachat_gave_them(gigachat):
    gigachat(4, value=0.88623046875)
    (vector,) = invocation.embed("Embeddings", CREDENTIALS, ["t"]).vectors
    assert vector == [0.88623046875] * 4
