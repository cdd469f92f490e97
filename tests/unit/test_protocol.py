"""protocol: LLM chunks sized for one protocol line (UTF-8 bytes of what dify_plugin writes, at most
the 5,242,879 bytes the daemon accepts), without serialising ordinary chunks twice."""

import uuid

import pytest
from dify_plugin.core.server.__base.response_writer import ResponseWriter
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    ImagePromptMessageContent,
    TextPromptMessageContent,
)
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.protocol import MAX_LINE, check_result, fit_stream, line_bytes

CALL = AssistantPromptMessage.ToolCall(id="call_1", type="function", function=AssistantPromptMessage.ToolCall.ToolCallFunction(
    name="lookup", arguments='{"q": "x"}'))


def chunk(text: str, *, final: bool = False) -> LLMResultChunk:
    return LLMResultChunk(model="GigaChat-2", prompt_messages=[], delta=LLMResultChunkDelta(
        index=0, message=AssistantPromptMessage(content=text, tool_calls=[CALL] if final else []),
        finish_reason="tool_calls" if final else None, usage=LLMUsage.empty_usage() if final else None))


def test_ordinary_chunks_pass_through_untouched():
    small = [chunk("Hello"), chunk(" world", final=True)]
    assert list(fit_stream(small)) == small


class Captured(ResponseWriter):
    """dify_plugin's own response writer, keeping what it would write to stdout."""

    def __init__(self):
        self.lines = []

    def write(self, data: str) -> None:
        self.lines += [line for line in data.split("\n") if line]

    def done(self) -> None:
        pass


def written(c: LLMResultChunk) -> bytes:
    writer = Captured()
    writer.session_message(session_id=str(uuid.uuid4()), data=writer.stream_object(c))
    (line,) = writer.lines
    return line.encode()


def result(text: str) -> LLMResult:
    return LLMResult(model="m", prompt_messages=[], message=AssistantPromptMessage(content=text), usage=LLMUsage.empty_usage())


@pytest.mark.parametrize("text", ["Hello", "Привет, мир", "tab\there \u0001 \U0001F600 \"q\" \\"])
def test_line_bytes_are_the_bytes_dify_plugin_writes_with_room_for_a_longer_session_id(text):
    for c in (chunk(text), chunk(text, final=True)):
        assert 0 <= line_bytes(c) - len(written(c)) <= 64 - 36  # a UUID session id; room for one of 64


def test_a_chunk_too_long_for_a_line_is_split_keeping_text_and_the_final_fields_on_the_last_piece():
    text = "ж\u0001" * (MAX_LINE // 2)  # two-byte letters and six-byte escapes: the worst case
    parts = list(fit_stream([chunk(text, final=True)]))
    assert len(parts) > 1
    assert "".join(p.delta.message.content for p in parts) == text
    assert all(len(written(p)) <= MAX_LINE for p in parts)
    assert [p.delta.finish_reason for p in parts][-1] == "tool_calls" and parts[-1].delta.message.tool_calls == [CALL]
    assert all(p.delta.usage is None and not p.delta.message.tool_calls for p in parts[:-1])


def test_a_blocking_result_that_fits_is_returned_and_one_that_cannot_is_refused():
    fits = result("ok")
    assert check_result(fits) is fits
    room = MAX_LINE - line_bytes(result("").to_llm_result_chunk())
    exact = result("a" * room)  # the line is exactly the longest one the daemon accepts
    assert line_bytes(exact.to_llm_result_chunk()) == MAX_LINE and check_result(exact) is exact
    with pytest.raises(InvokeBadRequestError, match="streaming"):
        check_result(result("a" * (room + 1)))


def test_an_ordinary_blocking_answer_is_checked_without_converting_or_serialising_it(monkeypatch):
    ordinary = result("ok " * 1000)
    monkeypatch.setattr(LLMResult, "to_llm_result_chunk", lambda self: pytest.fail("converted"))
    monkeypatch.setattr("gigachat_dify.protocol.line_bytes", lambda chunk: pytest.fail("serialised"))
    assert check_result(ordinary) is ordinary


def test_a_blocking_answer_is_measured_in_bytes_not_characters():
    cyrillic = result("ж" * 2_700_000)  # 2.7 million characters, 5.4 MB as the line is written
    with pytest.raises(InvokeBadRequestError, match=r"5\.2 MB.*streaming"):
        check_result(cyrillic)
    fits = result("ж" * 2_600_000)  # 5.2 MB: just fits
    assert check_result(fits) is fits and len(written(fits.to_llm_result_chunk())) <= MAX_LINE


def test_a_chunk_with_an_image_and_much_text_is_split_with_the_image_alone():
    image = ImagePromptMessageContent(format="jpg", base64_data="A" * (MAX_LINE // 2), url="", mime_type="image/jpeg")
    text = "ж" * (MAX_LINE // 3)
    c = chunk("")
    c.delta.message.content = [TextPromptMessageContent(data=text), image, TextPromptMessageContent(data="end")]
    parts = list(fit_stream([c]))
    assert all(len(written(p)) <= MAX_LINE for p in parts)
    assert [p.delta.message.content for p in parts if not isinstance(p.delta.message.content, str)] == [[image]]
    assert "".join(p.delta.message.content for p in parts if isinstance(p.delta.message.content, str)) == text + "end"


@pytest.mark.parametrize("content", ["", []])
def test_a_tool_call_too_long_for_a_line_with_no_text_is_refused_not_dropped(content):
    huge = AssistantPromptMessage.ToolCall(id="call_1", type="function", function=AssistantPromptMessage.ToolCall.ToolCallFunction(
        name="lookup", arguments='{"q": "' + "ж" * (MAX_LINE // 2) + '"}'))
    c = chunk("", final=True)
    c.delta.message.content, c.delta.message.tool_calls = content, [huge]
    with pytest.raises(InvokeBadRequestError, match=r"GigaChat's answer is 5\.\d MB .*5,242,879 bytes"):
        list(fit_stream([c]))

