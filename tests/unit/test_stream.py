"""stream: GigaChat chunks/responses -> Dify chunks (stop words, <think>, tool calls, finish, usage)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMUsage
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat.models.chat import ChatCompletion, ChatCompletionChunk
from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify.chat.assembly import (
    FINISH_REASONS,
    THINK_CLOSE,
    THINK_OPEN,
    TokenUsage,
    finish_failure,
    finish_reason_message,
    map_finish_reason,
    to_result,
)
from gigachat_dify.chat.tool_calls import make_tool_call_id, parse_tool_call_id
from gigachat_dify.chat.v1.stream import StreamAssembler, token_usage

MODEL = "GigaChat-2-Max"
USAGE = LLMUsage.empty_usage()


def chunk(content=None, *, reasoning=None, function_call=None, state_id=None, finish=None, usage=None, role=None):
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if function_call is not None:
        delta["function_call"] = function_call
    if state_id is not None:
        delta["functions_state_id"] = state_id
    choice = {"delta": delta, "index": 0}
    if finish:
        choice["finish_reason"] = finish
    data = {"choices": [choice], "created": 1768996176, "model": "GigaChat-2-Max:2.0.28.2", "object": "chat.completion"}
    if usage:
        data["usage"] = usage
    return ChatCompletionChunk.model_validate(data)


def run(chunks, stop=None, function_names=None):
    asm = StreamAssembler(MODEL, [], stop, function_names)
    out: list[LLMResultChunk] = []
    for c in chunks:
        out.extend(asm.feed(c))
    out.append(asm.finish(USAGE))
    return asm, out


def text_of(out):
    return "".join(c.delta.message.content for c in out)


def assert_dify_valid(out):
    for c in out:
        assert isinstance(c.delta.message.content, str)
    assert out[-1].delta.finish_reason is not None
    assert out[-1].delta.usage is not None
    assert all(c.delta.finish_reason is None and c.delta.usage is None for c in out[:-1])


# Recorded: tests/test_stream_simple cassette of the gigachat SDK (Jan 2026).
RECORDED_STREAM = [
    chunk("$1\\, 2\\, 3$  \n\n**Подробный разбор:", role="assistant"),
    chunk("**\n- Начинаем счёт с единицы."),
    chunk("\n- Добавляем следующее число — двойку."),
    chunk("\n- Заканчиваем счётом числом три."),
    chunk("", finish="stop", usage={"prompt_tokens": 17, "completion_tokens": 42, "total_tokens": 59, "precached_prompt_tokens": 2}),
]
RECORDED_TEXT = (
    "$1\\, 2\\, 3$  \n\n**Подробный разбор:**\n- Начинаем счёт с единицы.\n- Добавляем следующее число — двойку."
    "\n- Заканчиваем счётом числом три."
)


def test_recorded_stream_passes_through_with_finish_and_usage_on_the_last_chunk():
    asm, out = run(RECORDED_STREAM)
    assert text_of(out) == RECORDED_TEXT
    assert_dify_valid(out)
    assert out[-1].delta.finish_reason == "stop"
    assert asm.usage == TokenUsage(17, 42, 2)
    assert asm.response_model == "GigaChat-2-Max:2.0.28.2"


def test_stop_word_split_across_character_chunks_is_cut_and_nothing_follows():
    text = "Ответ: 42\nObservation: this must not be shown\nmore"
    chunks = [chunk(ch) for ch in text] + [chunk("", finish="stop")]
    asm, out = run(chunks, stop=["\nObservation:"])
    assert text_of(out) == "Ответ: 42"
    assert out[-1].delta.finish_reason == "stop"
    assert asm.stopped_by_stop_word
    # Held back only while it could still be a stop word: nothing after the cut was emitted.
    assert all("Obs" not in c.delta.message.content for c in out)
    assert_dify_valid(out)


def test_partial_stop_word_prefix_that_does_not_complete_is_released():
    chunks = [chunk("Result: \nObs"), chunk("erved value"), chunk("", finish="stop")]
    _, out = run(chunks, stop=["\nObservation:"])
    assert text_of(out) == "Result: \nObserved value"
    # The ambiguous tail was held back, then released when it proved harmless.
    assert out[0].delta.message.content == "Result: "


def test_earliest_of_several_stop_words_wins():
    _, out = run([chunk("alpha END beta STOP gamma", finish="stop")], stop=["STOP", "END"])
    assert text_of(out) == "alpha "


def test_length_finish_is_mapped_and_explained():
    _, out = run([chunk("partial answer"), chunk("", finish="length")])
    assert out[-1].delta.finish_reason == "length"
    assert "max_tokens" in finish_reason_message("length")


def test_blacklist_keeps_partial_text_and_is_a_failure_that_says_the_filter_stopped_it():
    asm, out = run([chunk("Начало ответа"), chunk("Не люблю менять тему разговора, но вот сейчас тот самый случай.", finish="blacklist")])
    assert text_of(out) == "Начало ответаНе люблю менять тему разговора, но вот сейчас тот самый случай."
    assert out[-1].delta.finish_reason == "content_filter"
    failure = asm.failure()
    assert isinstance(failure, InvokeBadRequestError) and "content filter stopped this answer" in str(failure)
    assert "content filter" in finish_reason_message("blacklist")


@pytest.mark.parametrize("reason", sorted(FINISH_REASONS))
def test_every_finish_reason_has_a_dify_name_and_every_failure_a_sentence_naming_it(reason):
    row = FINISH_REASONS[reason]
    assert row.dify in ("stop", "length", "tool_calls", "content_filter", "error")
    failure = finish_failure(reason, "Текст ответа")
    assert (failure is None) == (row.error is None)
    if failure is not None:
        assert f"'{reason}'" in str(failure) and 'GigaChat answered: "Текст ответа"' in str(failure)
        assert "'{reason}'" not in str(failure) and finish_failure(reason) is not None
        assert "GigaChat answered" not in str(finish_failure(reason))


def test_a_stop_word_end_is_never_a_failure_whatever_gigachat_reports():
    asm, out = run([chunk("ok STOP rest", finish="blacklist")], stop=["STOP"])
    assert text_of(out) == "ok " and asm.failure() is None


def test_an_unknown_finish_reason_passes_as_it_is_and_is_no_failure():
    assert map_finish_reason("something_new") == "something_new" and finish_failure("something_new") is None


def test_reasoning_is_wrapped_in_think_before_the_answer():
    chunks = [
        chunk(reasoning="Пользователь спрашивает ", role="assistant"),
        chunk(reasoning="про 2+2."),
        chunk("Ответ: 4."),
        chunk("", finish="stop"),
    ]
    _, out = run(chunks)
    assert text_of(out) == f"{THINK_OPEN}Пользователь спрашивает про 2+2.{THINK_CLOSE}Ответ: 4."
    assert text_of(out).startswith("<think>\n") and "\n</think>\n" in text_of(out)


def test_reasoning_only_answer_closes_think_at_finish():
    _, out = run([chunk(reasoning="thinking..."), chunk("", finish="length")])
    assert text_of(out) == f"{THINK_OPEN}thinking...{THINK_CLOSE}"


def test_stop_words_do_not_cut_reasoning():
    _, out = run([chunk(reasoning="I should not say STOP"), chunk("fine STOP no")], stop=["STOP"])
    assert text_of(out) == f"{THINK_OPEN}I should not say STOP{THINK_CLOSE}fine "


def test_function_call_is_emitted_once_complete_with_dify_name_and_state_id():
    state = "0d9d9b3c-2f5e-4a3b-8a1e-7d0f5c1e2b3a"
    chunks = [
        chunk("", role="assistant"),
        chunk("", function_call={"name": "kb_search", "arguments": {"query": "отпуск", "top_k": 3}}, state_id=state),
        chunk("", finish="function_call", usage={"prompt_tokens": 138, "completion_tokens": 21, "total_tokens": 159}),
    ]
    _, out = run(chunks, function_names={"kb_search": "kb.search"})
    calls = [tc for c in out for tc in c.delta.message.tool_calls]
    assert len(calls) == 1
    tc = calls[0]
    assert tc.type == "function" and tc.function.name == "kb.search"
    assert json.loads(tc.function.arguments) == {"query": "отпуск", "top_k": 3}
    assert "отпуск" in tc.function.arguments  # ensure_ascii=False
    assert parse_tool_call_id(tc.id) == state
    assert out[-1].delta.finish_reason == "tool_calls"
    assert_dify_valid(out)


def test_function_call_spread_over_chunks_is_merged_and_emitted_once_at_the_end():
    chunks = [
        chunk("", function_call={"name": "weather"}),
        chunk("", function_call={"name": "weather", "arguments": {"city": "Kazan"}}),
        chunk("", function_call={"name": "weather", "arguments": {"days": 2}}, state_id="st-1"),
        chunk("", finish="function_call"),
    ]
    _, out = run(chunks)
    calls = [tc for c in out for tc in c.delta.message.tool_calls]
    assert len(calls) == 1
    assert json.loads(calls[0].function.arguments) == {"city": "Kazan", "days": 2}
    assert calls[0].id == make_tool_call_id("st-1")
    assert all(not c.delta.message.tool_calls for c in out[:-1])


def test_function_call_without_state_id_gets_a_generated_id_that_is_never_echoed():
    _, out = run([chunk("", function_call={"name": "f", "arguments": {}}, finish="function_call")])
    tc = out[-1].delta.message.tool_calls[0]
    assert tc.id.startswith("call_") and parse_tool_call_id(tc.id) is None
    assert tc.function.arguments == "{}"


def test_v1_usage_reads_cached_tokens_and_tolerates_missing_usage():
    assert token_usage({"prompt_tokens": 10, "completion_tokens": 5, "precached_prompt_tokens": 4}) == TokenUsage(10, 5, 4)
    assert token_usage({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}) == TokenUsage(10, 5, 0)
    assert token_usage(None) is None


@pytest.mark.parametrize(
    ("reason", "dify"),
    [("stop", "stop"), ("length", "length"), ("function_call", "tool_calls"), ("blacklist", "content_filter"),
     ("response_blacklist", "content_filter"), ("request_blacklist", "content_filter"),
     ("request_whitelist", "content_filter"), ("request_filter", "content_filter"), ("function_call_error", "error"),
     ("error", "error"), (None, None)],
)
def test_finish_reasons_map_to_dify_names(reason, dify):
    assert map_finish_reason(reason) == dify


def test_final_chunk_carries_the_given_usage():
    usage = LLMUsage.empty_usage().model_copy(update={"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20, "total_price": Decimal("0")})
    asm = StreamAssembler(MODEL, [], None, None)
    asm.feed(chunk("Hello.", finish="stop"))
    final = asm.finish(usage)
    assert final.delta.usage.prompt_tokens == 17 and final.delta.finish_reason == "stop"


# --------------------------------------------------------------------------- blocking


def to_llm_result(model, response: ChatCompletion, usage, *, stop=None, function_names=None) -> LLMResult:
    """A blocking v1 answer read by the assembler, as ``invocation.complete`` reads it."""
    asm = StreamAssembler(model, [], stop, function_names)
    pieces = asm.feed_response(response)
    return to_result(model, [*pieces, *asm.flush(), asm.finish(usage)])


def completion(message, finish="stop"):
    return ChatCompletion.model_validate(
        {
            "choices": [{"message": message, "index": 0, "finish_reason": finish}],
            "created": 1706016586,
            "model": "GigaChat-2-Max:2.0.28.2",
            "object": "chat.completion",
            "usage": {"prompt_tokens": 18, "completion_tokens": 68, "total_tokens": 86},
        }
    )


def test_blocking_result_with_reasoning_and_stop_word_shares_the_stream_rules():
    resp = completion({"role": "assistant", "content": "Answer.\nUser: fake turn", "reasoning_content": "... some reasoning ..."})
    result = to_llm_result(MODEL, resp, USAGE, stop=["\nUser:"])
    assert isinstance(result, LLMResult)
    assert result.message.content == f"{THINK_OPEN}... some reasoning ...{THINK_CLOSE}Answer."


def test_blocking_function_call_from_recorded_fixture_becomes_a_tool_call():
    # fixtures/chat_completion_function.json of the gigachat SDK
    resp = completion(
        {"content": "", "role": "assistant", "function_call": {"name": "fc", "arguments": {"location": "Москва", "num_days": 0}}},
        finish="function_call",
    )
    result = to_llm_result(MODEL, resp, USAGE, function_names={"fc": "weather-forecast"})
    assert result.message.content == ""
    [tc] = result.message.tool_calls
    assert tc.function.name == "weather-forecast"
    assert json.loads(tc.function.arguments) == {"location": "Москва", "num_days": 0}


def test_blocking_plain_answer():
    result = to_llm_result(MODEL, completion({"role": "assistant", "content": "Hello."}), USAGE)
    assert result.message.content == "Hello." and result.message.tool_calls == []


# --------------------------------------------------------------------------- property


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab\nXYZ", max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=10),
    stop=st.lists(st.text(alphabet="abXYZ\n", min_size=1, max_size=4), max_size=3),
)
def test_any_chunking_gives_the_text_cut_before_the_earliest_stop_word(text, cuts, stop):
    bounds = sorted({0, len(text), *[c for c in cuts if c <= len(text)]})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    _, out = run([chunk(p) for p in pieces] + [chunk("", finish="stop")], stop=stop)
    positions = [i for i in (text.find(s) for s in stop) if i != -1]
    expected = text[: min(positions)] if positions else text
    assert text_of(out) == expected
    assert_dify_valid(out)


def test_function_call_arguments_get_the_tools_declared_types_back():
    # GigaChat saw the integer enum and the boolean as strings (string enums only) and answers so.
    schema = {"type": "object", "properties": {"level": {"type": "integer", "enum": [1, 2, 3]},
                                               "verbose": {"type": "boolean"}, "city": {"type": "string"}}}
    asm = StreamAssembler(MODEL, [], None, {"set_level": "set-level"}, argument_schemas={"set_level": schema})
    asm.feed(chunk("", function_call={"name": "set_level", "arguments": {"level": "1", "verbose": "true", "city": "1"}}))
    call = asm.finish(USAGE).delta.message.tool_calls[0]
    assert call.function.name == "set-level"
    assert json.loads(call.function.arguments) == {"level": 1, "verbose": True, "city": "1"}


def test_a_structured_answer_shows_no_reasoning():
    asm = StreamAssembler(MODEL, [], None, None, data=True)
    out = asm.feed(chunk(reasoning="thinking {not json}")) + asm.feed(chunk('{"a": 1}', finish="stop"))
    out.append(asm.finish(USAGE))
    assert text_of(out) == '{"a": 1}'
