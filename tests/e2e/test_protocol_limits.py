"""No LLM answer the plugin writes exceeds the daemon's 5 MiB line (which would get it killed).

The stand-in daemon (tests/support/daemon.py) kills the plugin for an over-long line, as the real one
does, so these tests also prove the process survives.
"""

from tests.support.daemon import DAEMON_LINE_LIMIT, collect_text, tool, user

# Whitespace runs cost GigaChat (and the emulator) one token each: a huge answer within max_tokens.
HUGE = "start" + " " * (DAEMON_LINE_LIMIT + 1_000_000) + "end"


def test_a_streamed_answer_longer_than_one_line_arrives_whole_in_several_chunks(fresh_plugin, emulator, credentials):
    emulator.enqueue_reply(content=HUGE)
    result = fresh_plugin.invoke_llm("GigaChat-2", credentials, [user("Write a lot")],
                                     model_parameters={"max_tokens": 32768}, stream=True, timeout=120)
    assert result.ok, result.error
    assert collect_text(result) == HUGE
    assert len(result.chunks) >= 3
    assert max(len(line) for line in fresh_plugin.stdout_lines) < DAEMON_LINE_LIMIT
    final = result.chunks[-1]["delta"]
    assert final["finish_reason"] == "stop" and final["usage"]["completion_tokens"] > 0
    assert not fresh_plugin.protocol_errors


def test_a_blocking_answer_too_large_for_one_line_is_a_clear_error_and_the_plugin_lives_on(fresh_plugin, emulator, credentials):
    emulator.enqueue_reply(content=HUGE)
    result = fresh_plugin.invoke_llm("GigaChat-2", credentials, [user("Write a lot")],
                                     model_parameters={"max_tokens": 32768}, stream=False, timeout=120)
    assert result.error_type == "InvokeBadRequestError"
    assert "streaming" in result.error_message and "MiB" in result.error_message
    assert not fresh_plugin.protocol_errors
    after = fresh_plugin.invoke_llm("GigaChat-2", credentials, [user("Hi")], stream=False)
    assert after.ok and "Echo: Hi" in collect_text(after)


def test_a_blocking_answer_is_measured_in_bytes_so_cyrillic_too_large_for_a_line_is_a_clear_error(fresh_plugin, emulator, credentials):
    # 2.7 million Cyrillic letters: 2.7 million characters, but 5.4 MB as the line is written (UTF-8)
    emulator.enqueue_reply(content="ж" * 2_700_000)
    result = fresh_plugin.invoke_llm("GigaChat-2", credentials, [user("Напиши много")], stream=False, timeout=120)
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "streaming" in result.error_message and "5,242,879 bytes" in result.error_message
    assert not fresh_plugin.protocol_errors
    after = fresh_plugin.invoke_llm("GigaChat-2", credentials, [user("Hi")], stream=False)
    assert after.ok and "Echo: Hi" in collect_text(after)


def test_a_streamed_tool_call_too_large_for_one_line_is_a_clear_error_not_an_empty_answer(fresh_plugin, emulator, credentials):
    weather = tool("get_weather", "Weather in a city", {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]})
    emulator.enqueue_reply(function_call={"name": "get_weather", "arguments": {"city": "ж" * 3_200_000}})  # 6.4 MB, no text
    result = fresh_plugin.invoke_llm("GigaChat-2-Max", credentials, [user("Weather?")], tools=[weather], stream=True,
                                     timeout=120)
    assert result.error_type == "InvokeBadRequestError", (result.ok, len(result.chunks))
    assert "5,242,879 bytes" in result.error_message and "MB" in result.error_message
    assert not fresh_plugin.protocol_errors
