"""No embedding answer may become a stdout line over the daemon's 5 MiB limit: past it, Dify's
daemon kills the plugin with every session in flight. Another plugin calling a model through Dify
(backwards invocation) sends all its texts in one call, any number: the plugin answers them all
correctly, or refuses the call with a clear InvokeBadRequestError before spending anything, and
stays alive for the next request. GigaChat's float16 values travel in the short form (at most 11
characters each, ~7 on average), so one answer carries 405 vectors of 1,024 values or 162 of 2,560;
a model whose values are not halves is recognised from its first answer and planned by the long
form's bound (24 characters a value)."""

from __future__ import annotations

import pytest

from emulator.embeddings import vector as emulator_vector
from tests.support.halves import as_halves

LONGEST_LINE = 5 * 1024 * 1024 - 1  # the daemon's scanner holds 5 MiB: the line and its newline
GIGAR_MOST_TEXTS = 162  # vectors of 2,560 numbers of at most 11 characters each, in one line
FLOAT32_MOST_TEXTS = 194  # vectors of 1,024 numbers of at most 24 characters each


def texts(n: int, tag: str = "") -> list[str]:
    return [f"Фрагмент {i}{tag}: база знаний, поиск по смыслу, вектор номер {i}." for i in range(n)]


def answer_lines_since(plugin, start: int) -> list[bytes]:
    return [line.encode() for line in plugin.stdout_lines[start:] if '"embeddings"' in line]


def longest_line_since(plugin, start: int) -> int:
    return max((len(line.encode()) for line in plugin.stdout_lines[start:]), default=0)


def embedding_requests(emulator) -> list:
    return [e for e in emulator.log if e.path == "/embeddings"]


@pytest.mark.parametrize("model, count", [("Embeddings", 300), ("EmbeddingsGigaR", 150)])
def test_300_embeddings_and_150_gigar_texts_come_back_complete_and_exact_in_one_line(
    plugin, credentials, emulator, model, count
):
    batch = texts(count, model)
    start = len(plugin.stdout_lines)
    result = plugin.invoke_embedding(model, credentials, batch, timeout=180)
    assert result.ok, result.error
    assert len(result.chunks) == 1  # one answer line: the plugin's, not a second one from dify_plugin
    vectors = result.chunks[0]["embeddings"]
    assert len(vectors) == count
    for i in range(count):  # nothing shifted or lost; each value GigaChat's, as float16
        assert as_halves(vectors[i]) == emulator_vector(model, batch[i]), i
    (line,) = answer_lines_since(plugin, start)
    values = sum(len(v) for v in vectors)
    assert len(line) / values < 8.5  # the short form reached the wire (as GigaChat printed them: ~14)
    assert len(line) <= LONGEST_LINE
    assert len(embedding_requests(emulator)) == -(-count // 90)


@pytest.mark.parametrize("count", [300, 400])
def test_a_call_too_large_for_one_answer_gets_a_clear_error_and_the_plugin_stays_alive(
    plugin, credentials, emulator, count
):
    start = len(plugin.stdout_lines)
    result = plugin.invoke_embedding("EmbeddingsGigaR", credentials, texts(count), timeout=120)
    assert result.error_type == "InvokeBadRequestError"
    message = result.error_message
    assert f"EmbeddingsGigaR takes at most {GIGAR_MOST_TEXTS} texts per call" in message
    assert f"{count} vectors of 2,560 numbers" in message and "Nothing was sent to GigaChat" in message
    assert embedding_requests(emulator) == []  # planned before any request
    assert longest_line_since(plugin, start) <= LONGEST_LINE

    # the same process answers the next request
    after = plugin.invoke_embedding("EmbeddingsGigaR", credentials, ["следующий запрос"])
    assert after.ok, after.error
    assert as_halves(after.chunks[-1]["embeddings"][0]) == emulator_vector("EmbeddingsGigaR", "следующий запрос")
    assert plugin.proc.poll() is None


def test_the_most_texts_one_answer_carries_come_back_complete_within_the_line(plugin, credentials, emulator):
    batch = texts(GIGAR_MOST_TEXTS)
    start = len(plugin.stdout_lines)
    result = plugin.invoke_embedding("EmbeddingsGigaR", credentials, batch, timeout=180)
    assert result.ok, result.error
    vectors = result.chunks[-1]["embeddings"]
    assert len(vectors) == GIGAR_MOST_TEXTS
    for i in range(GIGAR_MOST_TEXTS):  # nothing shifted or lost
        assert as_halves(vectors[i]) == emulator_vector("EmbeddingsGigaR", batch[i]), i
    assert longest_line_since(plugin, start) <= LONGEST_LINE


def test_one_text_more_than_fits_is_refused(plugin, credentials, emulator):
    result = plugin.invoke_embedding("EmbeddingsGigaR", credentials, texts(GIGAR_MOST_TEXTS + 1))
    assert result.error_type == "InvokeBadRequestError"
    assert embedding_requests(emulator) == []


def test_a_float32_model_is_recognised_from_its_first_answer_and_planned_by_the_long_form(
    plugin, credentials, emulator
):
    model = "Embeddings-float32"  # the emulator's stand-in for a customizable float32 deployment
    batch = texts(300, "f32")
    first = plugin.invoke_embedding(model, credentials, batch, timeout=120)
    assert first.error_type == "InvokeBadRequestError"  # its first answer showed float32 values
    assert f"{model} takes at most {FLOAT32_MOST_TEXTS} texts per call" in first.error_message
    assert "already counted" in first.error_message
    assert len(embedding_requests(emulator)) == 1  # no request after the first answer

    again = plugin.invoke_embedding(model, credentials, batch, timeout=120)
    assert again.error_type == "InvokeBadRequestError" and "Nothing was sent" in again.error_message
    assert len(embedding_requests(emulator)) == 1  # remembered: planned before any request

    fitting = batch[:FLOAT32_MOST_TEXTS]
    start = len(plugin.stdout_lines)
    result = plugin.invoke_embedding(model, credentials, fitting, timeout=120)
    assert result.ok, result.error
    vectors = result.chunks[0]["embeddings"]
    assert [vectors[i] == emulator_vector(model, fitting[i]) for i in range(len(fitting))] == [True] * len(fitting)
    assert longest_line_since(plugin, start) <= LONGEST_LINE
