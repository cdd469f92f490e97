"""No embedding answer may become a stdout line over the daemon's 5 MiB limit: past it, Dify's
daemon kills the plugin with every session in flight. Another plugin calling a model through Dify
(backwards invocation) sends all its texts in one call, any number: the plugin answers them all
correctly, or refuses the call with a clear InvokeBadRequestError before spending anything, and
stays alive for the next request."""

from __future__ import annotations

import pytest

from emulator.embeddings import vector as emulator_vector

DAEMON_LINE_LIMIT = 5 * 1024 * 1024  # PLUGIN_RUNTIME_MAX_BUFFER_SIZE's default
GIGAR_MOST_TEXTS = 77  # vectors of 2,560 numbers of at most 24 characters each, in one line


def texts(n: int) -> list[str]:
    return [f"Фрагмент {i}: база знаний, поиск по смыслу, вектор номер {i}." for i in range(n)]


def longest_line_since(plugin, start: int) -> int:
    return max((len(line.encode()) for line in plugin.stdout_lines[start:]), default=0)


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
    assert [e for e in emulator.log if e.path == "/embeddings"] == []  # planned before any request
    assert longest_line_since(plugin, start) < DAEMON_LINE_LIMIT

    # the same process answers the next request
    after = plugin.invoke_embedding("EmbeddingsGigaR", credentials, ["следующий запрос"])
    assert after.ok, after.error
    assert after.chunks[-1]["embeddings"][0] == emulator_vector("EmbeddingsGigaR", "следующий запрос")
    assert plugin.proc.poll() is None


def test_the_most_texts_one_answer_carries_come_back_complete_within_the_line(plugin, credentials, emulator):
    batch = texts(GIGAR_MOST_TEXTS)
    start = len(plugin.stdout_lines)
    result = plugin.invoke_embedding("EmbeddingsGigaR", credentials, batch, timeout=120)
    assert result.ok, result.error
    vectors = result.chunks[-1]["embeddings"]
    assert len(vectors) == GIGAR_MOST_TEXTS
    for i in range(GIGAR_MOST_TEXTS):  # nothing shifted or lost
        assert vectors[i] == emulator_vector("EmbeddingsGigaR", batch[i]), i
    assert len([e for e in emulator.log if e.path == "/embeddings"]) == 1  # max_chunks is one request
    assert longest_line_since(plugin, start) < DAEMON_LINE_LIMIT


def test_one_text_more_than_fits_is_refused(plugin, credentials, emulator):
    result = plugin.invoke_embedding("EmbeddingsGigaR", credentials, texts(GIGAR_MOST_TEXTS + 1))
    assert result.error_type == "InvokeBadRequestError"
    assert [e for e in emulator.log if e.path == "/embeddings"] == []
