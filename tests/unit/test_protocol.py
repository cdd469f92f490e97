"""protocol: LLM chunks sized for one protocol line, without serialising ordinary chunks twice."""

from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import AssistantPromptMessage
from dify_plugin.errors.model import InvokeBadRequestError
import pytest

from gigachat_dify.protocol import LINE_BUDGET, check_result, fit_stream

CALL = AssistantPromptMessage.ToolCall(id="call_1", type="function", function=AssistantPromptMessage.ToolCall.ToolCallFunction(
    name="lookup", arguments='{"q": "x"}'))


def chunk(text: str, *, final: bool = False) -> LLMResultChunk:
    return LLMResultChunk(model="GigaChat-2", prompt_messages=[], delta=LLMResultChunkDelta(
        index=0, message=AssistantPromptMessage(content=text, tool_calls=[CALL] if final else []),
        finish_reason="tool_calls" if final else None, usage=LLMUsage.empty_usage() if final else None))


def test_ordinary_chunks_pass_through_untouched():
    small = [chunk("Hello"), chunk(" world", final=True)]
    assert list(fit_stream(small)) == small


def test_a_chunk_too_long_for_a_line_is_split_keeping_text_and_the_final_fields_on_the_last_piece():
    text = "ж\u0001" * (LINE_BUDGET // 2)  # two-byte letters and six-byte escapes: the worst case
    parts = list(fit_stream([chunk(text, final=True)]))
    assert len(parts) > 1
    assert "".join(p.delta.message.content for p in parts) == text
    assert all(len(p.model_dump_json()) <= LINE_BUDGET for p in parts)
    assert [p.delta.finish_reason for p in parts][-1] == "tool_calls" and parts[-1].delta.message.tool_calls == [CALL]
    assert all(p.delta.usage is None and not p.delta.message.tool_calls for p in parts[:-1])


def test_a_blocking_result_that_fits_is_returned_and_one_that_cannot_is_refused():
    fits = LLMResult(model="m", prompt_messages=[], message=AssistantPromptMessage(content="ok"), usage=LLMUsage.empty_usage())
    assert check_result(fits) is fits
    near = LLMResult(model="m", prompt_messages=[], usage=LLMUsage.empty_usage(),
                     message=AssistantPromptMessage(content="a" * (LINE_BUDGET - 4096)))
    assert check_result(near) is near  # the bound is only a shortcut: the real size decides
    huge = LLMResult(model="m", prompt_messages=[], usage=LLMUsage.empty_usage(),
                     message=AssistantPromptMessage(content="a" * (LINE_BUDGET + 1)))
    with pytest.raises(InvokeBadRequestError, match="streaming"):
        check_result(huge)
