"""GigaChat's event streams read as the SSE format says (gigachat_dify/connection/sse.py): lines end
at line feeds only, the recorded streams read as the SDK reads them, and a stream that is cut off,
reports an error or carries something else is never taken for a complete answer."""

import functools
import json

import httpx
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify import redaction
from gigachat_dify.connection import sse
from gigachat_dify.connection.sse import Event, StreamCutOff, StreamEventError, UnreadableEvent
from gigachat_dify.errors import describe
from gigachat_dify.retry import is_transient
from tests.support.recordings import CASSETTES, FIXTURES

SEPARATORS = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"  # what str.splitlines (and httpx's iter_lines) split on


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@functools.cache
def recorded_body(cassette: str) -> bytes:
    interactions = yaml.safe_load((CASSETTES / cassette).read_text())["interactions"]
    return next(i["response"]["body"]["string"] for i in interactions if "chat/completions" in i["request"]["uri"]).encode()


def v1_body(*contents: str, finish: str | None = "stop", done: bool = True) -> bytes:
    head = {"created": 1768996176, "model": "GigaChat:2.0.28.2", "object": "chat.completion"}
    events = [{"choices": [{"delta": {"content": c}, "index": 0}], **head} for c in contents]
    if finish:
        events.append({"choices": [{"delta": {"content": ""}, "index": 0, "finish_reason": finish}], **head,
                       "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
    body = "".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


def read_v1(body: bytes, cuts=()) -> list:
    return list(sse.v1_chunks(sse.iter_events(sse.iter_lines(pieces(body, list(cuts))))))


def read_v2(body: bytes, cuts=()) -> list:
    return list(sse.v2_chunks(sse.iter_events(sse.iter_lines(pieces(body, list(cuts))))))


# ---- lines and events -------------------------------------------------------------------------


def test_unicode_line_separators_inside_a_line_do_not_end_it():
    text = "data: {\"t\": \"a" + SEPARATORS + "b\"}"
    assert list(sse.iter_lines([text.encode() + b"\n\n"])) == [text, ""]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                              max_size=12), max_size=6),
       ends=st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=6, max_size=6),
       cuts=st.lists(st.integers(0, 200), max_size=8))
def test_any_byte_split_gives_the_same_lines_and_only_cr_lf_end_them(lines, ends, cuts):
    # a CR ending a line before an empty one would read as CR LF: the format's own ambiguity, avoided here
    body = "".join(line + (end if not (end == "\r" and i + 1 < len(lines) and not lines[i + 1]) else "\n")
                   for i, (line, end) in enumerate(zip(lines, ends, strict=False))).encode()
    assert list(sse.iter_lines(pieces(body, cuts))) == lines


def test_a_crlf_split_between_two_reads_is_one_line_end():
    assert list(sse.iter_lines([b"data: a\r", b"\ndata: b\r", b"\n\r\n"])) == ["data: a", "data: b", ""]


def test_events_follow_the_format_comments_multiline_data_and_an_event_left_open():
    lines = [": keep-alive", "event: response.message.delta", "data: {\"a\":", "data:1}", "", "data: x", "id: 7"]
    assert list(sse.iter_events(lines)) == [Event("response.message.delta", "{\"a\":\n1}"), Event("message", "x")]


# ---- the recorded streams -----------------------------------------------------------------------


def test_the_recorded_v1_streams_read_as_the_sdk_reads_them():
    from gigachat.api.utils import parse_chunk
    from gigachat.models.chat import ChatCompletionChunk

    for body in (recorded_body("test_stream_simple.yaml"), (FIXTURES / "chat_completion.stream").read_bytes()):
        sdk = [c for line in body.decode().splitlines() if (c := parse_chunk(line, ChatCompletionChunk))]
        assert [c.model_dump() for c in read_v1(body)] == [c.model_dump() for c in sdk]


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 4000), max_size=10))
def test_the_recorded_v2_stream_reads_the_same_whatever_the_reads(cuts):
    body = recorded_body("test_primary_chat_stream_simple.yaml")
    chunks = read_v2(body, cuts)
    assert [c.event for c in chunks] == ["response.message.delta", "response.message.done"]
    assert chunks[0].messages[0].content[0].text == "1, 2, 3" and chunks[1].finish_reason == "stop"
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in read_v2(body)]


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=10))
def test_an_answer_with_unicode_separators_arrives_whole_however_the_bytes_are_cut(cuts):
    text = "строка\u2028вторая\u2029абзац\u0085NEL"
    chunks = read_v1(v1_body(text[:9], text[9:]), cuts)
    assert "".join(c.choices[0].delta.content for c in chunks) == text


# ---- what is not a complete answer -------------------------------------------------------------


@pytest.mark.parametrize("body", [v1_body("Hel", "lo", finish=None, done=False), v1_body("Hel", finish=None, done=False)[:-1], b""])
def test_a_v1_stream_ending_without_finish_reason_or_done_is_cut_off(body):
    with pytest.raises(StreamCutOff):
        read_v1(body)


def test_a_v1_stream_with_its_finish_reason_is_complete_even_without_done():
    assert read_v1(v1_body("Hi", done=False))[-1].choices[0].finish_reason == "stop"


def test_a_v2_stream_ending_without_its_done_event_is_cut_off():
    body = recorded_body("test_primary_chat_stream_simple.yaml")
    with pytest.raises(StreamCutOff) as cut:
        read_v2(body[:body.index(b"event: response.message.done")])
    assert cut.value.events == 1


def test_a_cut_off_stream_is_a_connection_error_that_says_so_and_is_retried_before_output():
    kind, message = describe(StreamCutOff(3))
    assert kind.__name__ == "InvokeConnectionError" and "cut off" in message and "Base URL" not in message
    assert is_transient(StreamCutOff(0))


@pytest.mark.parametrize("read", [read_v1, read_v2])
def test_an_error_event_quotes_gigachats_own_message(read):
    before = v1_body("Part", finish=None, done=False) if read is read_v1 else (
        b'event: response.message.delta\ndata: {"messages":[{"role":"assistant","content":[{"text":"Part"}]}]}\n\n')
    body = before + b'event: error\ndata: {"status": 500, "message": "Generation failed: model overloaded"}\n\n'
    with pytest.raises(StreamEventError) as failed:
        read(body)
    kind, message = describe(failed.value)
    assert kind.__name__ == "InvokeServerUnavailableError"
    assert "Generation failed: model overloaded" in message and "incomplete" in message and "Base URL" not in message


@pytest.mark.parametrize("read", [read_v1, read_v2])
def test_an_unreadable_event_after_content_is_quoted_not_blamed_on_the_base_url(read):
    before = v1_body("Part", finish=None, done=False) if read is read_v1 else (
        b'event: response.message.delta\ndata: {"messages":[{"role":"assistant","content":[{"text":"Part"}]}]}\n\n')
    body = before + (b"event: response.message.delta\n" if read is read_v2 else b"") + b"data: upstream timeout\n\n"
    with pytest.raises(UnreadableEvent) as failed:
        read(body)
    kind, message = describe(failed.value)
    assert "upstream timeout" in message and "incomplete" in message and "Base URL" not in message


def test_an_unreadable_first_event_points_at_the_base_url():
    with pytest.raises(UnreadableEvent) as failed:
        read_v1(b"data: <html>nginx</html>\n\n")
    assert "Base URL" in describe(failed.value)[1]


def test_quoted_text_is_redacted_and_bounded():
    key = "a-key-typed-into-the-form-0123456789"
    redaction.scope_request([key])
    try:
        message = redaction.excerpt(f"token {key} " + "x" * 1000)
    finally:
        redaction.scope_request([])
    assert key not in message and redaction.MASK in message and len(message) <= redaction.EXCERPT + 3


def test_the_plugins_client_reads_its_streams_here():
    from gigachat_dify.connection.clients import GigaChatClient

    assert GigaChatClient._stream is sse.EventStreams._stream
    assert GigaChatClient._chat_stream is sse.EventStreams._chat_stream
    assert issubclass(StreamCutOff, httpx.TransportError)


# ---- valid JSON the fast reading refuses --------------------------------------------------------

HEAD = b'"created":1,"model":"GigaChat","object":"chat.completion"'


def v1_event(delta: bytes, finish: bytes = b"") -> bytes:
    return b'data: {"choices":[{"delta":' + delta + b',"index":0' + finish + b'}],' + HEAD + b'}\n\n'


def v1_text(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks)


def test_an_emoji_escaped_as_a_surrogate_pair_split_between_two_events_is_joined_again():
    body = (v1_event(b'{"role":"assistant","content":"Hi \\ud83d"}') + v1_event(b'{"content":"\\ude00 there"}')
            + v1_event(b'{"content":""}', b',"finish_reason":"stop"') + b"data: [DONE]\n\n")
    chunks = read_v1(body)
    assert v1_text(chunks) == "Hi \U0001F600 there" and chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(("events", "text"), [
    ([b'{"content":"A\\ud800B"}'], "A\ufffdB"),  # a lone half inside a text
    ([b'{"content":"A\\udc00"}', b'{"content":"B"}'], "A\ufffdB"),  # a second half alone at the end
    ([b'{"content":"A\\ud83d"}', b'{"content":"B"}'], "A\ufffdB"),  # a first half the next event does not complete
    ([b'{"content":"A\\ud83d"}'], "A\ufffd"),  # ... nor any event
])
def test_a_lone_surrogate_becomes_the_replacement_character_as_invalid_utf8_does(events, text):
    body = b"".join(v1_event(e) for e in events) + v1_event(b'{"content":""}', b',"finish_reason":"stop"')
    assert v1_text(read_v1(body)) == text
    invalid = v1_event('{"content":"A\\ud800B"}'.replace("\\ud800", "\udcff").encode("utf-8", "surrogateescape"))
    assert v1_text(read_v1(invalid + v1_event(b'{"content":""}', b',"finish_reason":"stop"'))) == "A\ufffdB"


def test_a_v2_event_with_a_lone_surrogate_is_read_with_the_replacement_character():
    def event(text: str) -> bytes:
        return (b'event: response.message.delta\ndata: {"messages":[{"role":"assistant","content":[{"text":"' + text.encode()
                + b'"}]}]}\n\n')
    body = (event("Hi \\ud83d") + event("\\ude00 \\ud800!")
            + b'event: response.message.done\ndata: {"finish_reason":"stop","messages":[]}\n\n')
    chunks = read_v2(body)
    assert "".join(p.text for c in chunks for m in c.messages or [] for p in m.content or []) == "Hi \U0001F600 \ufffd!"


def call_event(depth: int) -> bytes:
    args = b'{"city":"Moscow","x":' + b"[" * depth + b"]" * depth + b"}"
    return v1_event(b'{"content":"","function_call":{"name":"get_weather","arguments":' + args + b'}}',
                    b',"finish_reason":"function_call"')


def test_tool_call_arguments_nested_deeper_than_the_fast_reading_takes_are_read():
    (chunk,) = read_v1(call_event(900))
    assert chunk.choices[0].delta.function_call.arguments["city"] == "Moscow"


def test_an_answer_nested_deeper_than_the_plugin_reads_is_said_so_not_blamed_on_the_base_url():
    with pytest.raises(Exception) as refused:
        read_v1(v1_event(b'{"content":"Hi"}') + call_event(100_000))
    cls, message = describe(refused.value)
    assert "nested" in message and "Base URL" not in message and "shown so far is incomplete" in message
    assert not is_transient(refused.value)
