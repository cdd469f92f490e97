"""How GigaChat's answer streams reach Dify, end to end through the stdio protocol: any text GigaChat
sends arrives whole, and a stream that is cut off, reports an error or carries something else is
never reported as a complete answer; the text already shown stays, the error says what happened."""

import pytest

from tests.support.daemon import collect_text, tool, user

MODEL = "GigaChat-2-Max"
Q = [user("Расскажи подробно и длинно историю про GigaChat, Dify и их интеграцию в компании")]
CONTRACTS = pytest.mark.parametrize("parameters", [{}, {"web_search": "always"}], ids=["v1", "v2"])
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["streaming", "blocking"])
SEPARATED = "Первая строка\u2028вторая\u2029новый абзац\u0085NEL, \x0bи \x1cдругие — конец."


def chat_requests(emulator) -> list:
    return [r for r in emulator.log if r.path.endswith("/chat/completions")]


@CONTRACTS
@BOTH
def test_unicode_line_separators_in_an_answer_arrive_unchanged(plugin, credentials, emulator, parameters, stream):
    emulator.enqueue_reply(content=SEPARATED)
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=stream)
    assert result.ok, result.error
    assert collect_text(result) == SEPARATED


@CONTRACTS
def test_a_stream_that_ends_before_gigachat_finished_is_a_cut_off_error_not_a_complete_answer(
        plugin, credentials, emulator, parameters):
    whole = collect_text(plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=True))
    emulator.faults.end_stream_after(2)
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=True)
    assert result.error_type == "InvokeConnectionError", result.error
    assert "cut off" in result.error_message and "incomplete" in result.error_message
    shown = collect_text(result)
    assert shown and whole.startswith(shown) and shown != whole  # what was shown stays
    assert all(c["delta"].get("finish_reason") is None and not c["delta"].get("usage") for c in result.chunks)


@CONTRACTS
def test_a_stream_that_ends_before_its_first_event_is_opened_again(plugin, credentials, emulator, parameters):
    emulator.faults.end_stream_after(0)
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=True)
    assert result.ok, result.error
    assert result.chunks[-1]["delta"]["finish_reason"] == "stop" and len(chat_requests(emulator)) == 2


def test_a_blocking_answer_read_from_a_stream_that_is_always_cut_off_is_an_error(plugin, credentials, emulator):
    emulator.faults.end_stream_after(1, count=10)  # with the code interpreter a blocking answer is read from a stream
    result = plugin.invoke_llm("GigaChat-3-Ultra", credentials, [user("Посчитай 2+2 кодом")],
                               model_parameters={"code_interpreter": True}, stream=False)
    assert result.error_type == "InvokeConnectionError" and "cut off" in result.error_message


@CONTRACTS
def test_an_error_event_after_content_quotes_gigachats_message(plugin, credentials, emulator, parameters):
    emulator.faults.end_stream_after(
        2, b'event: error\ndata: {"status": 500, "message": "Model inference failed, try again later"}\n\n')
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=True)
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert '"Model inference failed, try again later"' in result.error_message
    assert "incomplete" in result.error_message and "Base URL" not in result.error_message
    assert collect_text(result)


@CONTRACTS
def test_data_gigachat_cannot_have_meant_after_content_is_quoted_not_blamed_on_the_base_url(
        plugin, credentials, emulator, parameters):
    name = b"event: response.message.delta\n" if parameters else b""
    emulator.faults.end_stream_after(2, name + b"data: upstream request timeout\n\n")
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=True)
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert '"upstream request timeout"' in result.error_message and "Base URL" not in result.error_message


def test_a_v2_stream_cut_off_after_unnamed_data_quotes_what_the_server_sent(plugin, credentials, emulator):
    # v2 names every event, so unnamed ones are skipped (as the SDK does); a gateway's own words in
    # one were then lost, and the user read only that the answer was cut off.
    emulator.faults.end_stream_after(2, b"data: upstream request timeout\n\n")
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters={"web_search": "always"}, stream=True)
    assert result.error_type == "InvokeConnectionError", result.error
    assert "cut off" in result.error_message and '"upstream request timeout"' in result.error_message
    assert collect_text(result)


# GigaChat's ends that are no answer (one table: chat/assembly.py FINISH_REASONS): the user reads why.
NO_ANSWER = [
    ("blacklist", "InvokeBadRequestError", "content filter stopped this answer"),
    ("response_blacklist", "InvokeBadRequestError", "content filter stopped this answer"),
    ("request_blacklist", "InvokeBadRequestError", "content filter refused the request"),
    ("request_whitelist", "InvokeBadRequestError", "content filter refused the request"),
    ("request_filter", "InvokeBadRequestError", "content filter refused the request"),
    ("function_call_error", "InvokeServerUnavailableError", "call it produced was malformed"),
    ("error", "InvokeServerUnavailableError", "call it produced was malformed"),
]


@pytest.mark.parametrize(("reason", "error_type", "sentence"), NO_ANSWER, ids=[r[0] for r in NO_ANSWER])
@CONTRACTS
@BOTH
def test_an_end_that_is_no_answer_reaches_the_user_as_a_sentence(plugin, credentials, emulator, reason, error_type,
                                                                 sentence, parameters, stream):
    said = "Не люблю менять тему разговора, но вот сейчас тот самый случай."
    emulator.enqueue_reply(content=said, finish_reason=reason)
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=stream)
    assert result.error_type == error_type, result.error
    assert sentence in result.error_message and f"'{reason}'" in result.error_message
    if stream:  # what was streamed stays; nothing says the answer was complete
        assert collect_text(result) == said
        assert all(c["delta"].get("finish_reason") is None for c in result.chunks)
    else:  # never shown: quoted
        assert said in result.error_message


@pytest.mark.parametrize("reason", ["request_blacklist", "function_call_error"])
def test_an_empty_end_that_is_no_answer_is_an_error_not_an_empty_answer(plugin, credentials, emulator, reason):
    emulator.enqueue_reply(content="", finish_reason=reason)
    result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters={"web_search": "auto"}, stream=False)
    assert not result.ok and "GigaChat answered" not in result.error_message


@CONTRACTS
@BOTH
def test_a_malformed_tool_call_is_an_error_not_a_call_of_the_tool(plugin, credentials, emulator, parameters, stream):
    emulator.faults.finish("function_call_error")  # v1 names it "error"; the call's arguments break its schema
    weather = tool("get-weather", "Current weather for a city",
                   {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    result = plugin.invoke_llm(MODEL, credentials, [user("Какая погода в Москве?")], model_parameters=parameters,
                               tools=[weather], stream=stream)
    assert result.error_type == "InvokeServerUnavailableError", result.error
    assert "malformed" in result.error_message
    assert not any(c["delta"]["message"].get("tool_calls") for c in result.chunks)


@CONTRACTS
def test_a_streamed_answer_leaves_its_connection_for_the_next_request(plugin, credentials, emulator, parameters,
                                                                      monkeypatch):
    # Each stream closed its connection before the body's end: the next request opened a new one (on
    # GigaChat a TCP connect and a TLS handshake after every streamed answer).
    from emulator import server

    accepted = []
    real = server.Connections.add
    monkeypatch.setattr(server.Connections, "add", lambda self, sock: accepted.append(1) or real(self, sock))
    assert plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=False).ok  # a connection
    opened = len(accepted)
    for stream in (True, False, True, True, False):
        result = plugin.invoke_llm(MODEL, credentials, Q, model_parameters=parameters, stream=stream)
        assert result.ok, result.error
    assert len(accepted) == opened


def _answering(emu, events: list[bytes], body: bytes) -> None:
    """The emulator's v1 chat answers with these raw stream events, or this raw blocking body."""
    import json

    from emulator.wire import Response, Stream

    emu._api.endpoints["chat"] = lambda call, state: (
        Stream(list(events)) if json.loads(call.body).get("stream") else Response(200, body))


def _credentials_of(emu) -> dict:
    from emulator import DEFAULT_KEY

    return {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS", "base_url": emu.base_url,
            "auth_url": emu.auth_url, "verify_ssl": True, "timeout": "20"}


def _v1_event(delta: str, finish: str = "") -> bytes:
    return ('data: {"choices":[{"delta":' + delta + ',"index":0' + finish + '}],"created":1,"model":"GigaChat",'
            '"object":"chat.completion","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n').encode()


def _v1_answer(message: str, finish: str) -> bytes:
    return ('{"choices":[{"message":' + message + ',"index":0,"finish_reason":"' + finish + '"}],"created":1,'
            '"model":"GigaChat","object":"chat.completion",'
            '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}').encode()


def test_escaped_surrogates_arrive_as_the_emoji_they_make_and_a_lone_half_as_the_replacement_character(plugin):
    from emulator import Emulator

    with Emulator() as emu:
        _answering(emu, [_v1_event(r'{"role":"assistant","content":"Hi \ud83d"}'), _v1_event(r'{"content":"\ude00 there"}'),
                         _v1_event('{"content":""}', ',"finish_reason":"stop"'), b"data: [DONE]\n\n"],
                   _v1_answer(r'{"role":"assistant","content":"Hi \ud83d\ude00 there \ud800"}', "stop"))
        streamed = plugin.invoke_llm(MODEL, _credentials_of(emu), [user("hi")], stream=True)
        blocking = plugin.invoke_llm(MODEL, _credentials_of(emu), [user("hi")], stream=False)
    assert streamed.ok and blocking.ok, (streamed.error, blocking.error)
    assert collect_text(streamed) == "Hi \U0001F600 there"
    assert collect_text(blocking) == "Hi \U0001F600 there \ufffd"


@BOTH
def test_tool_call_arguments_nested_deep_are_read_and_too_deep_ones_are_said_so_not_blamed_on_the_base_url(plugin, stream):
    from emulator import Emulator

    weather = tool("get_weather", "Weather in a city", {"type": "object", "properties": {"city": {"type": "string"}}})
    results = {}
    for depth in (900, 5000):
        call = '{"name":"get_weather","arguments":{"city":"Moscow","x":' + "[" * depth + "]" * depth + "}}"
        with Emulator() as emu:
            _answering(emu, [_v1_event('{"content":"","function_call":' + call + "}", ',"finish_reason":"function_call"'),
                             b"data: [DONE]\n\n"],
                       _v1_answer('{"role":"assistant","content":"","function_call":' + call + "}", "function_call"))
            results[depth] = plugin.invoke_llm(MODEL, _credentials_of(emu), [user("weather?")], tools=[weather],
                                               stream=stream)
    (called,) = [tc for c in results[900].chunks for tc in c["delta"]["message"]["tool_calls"]]
    assert called["function"]["name"] == "get_weather" and '"Moscow"' in called["function"]["arguments"]
    assert results[5000].error_type == "InvokeServerUnavailableError"
    assert "nested" in results[5000].error_message and "Base URL" not in results[5000].error_message


def test_a_v2_blocking_answer_with_a_lone_surrogate_or_nested_too_deep_is_read_or_said_so(plugin):
    from emulator import Emulator
    from emulator.wire import Response

    def answer(parts: str) -> bytes:
        return ('{"model":"GigaChat-2-Max","created_at":1,"messages":[{"message_id":"m1","role":"assistant","content":'
                + parts + '}],"finish_reason":"stop","usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}').encode()

    deep = '[{"function_call":{"name":"get_weather","arguments":{"x":' + "[" * 5000 + "]" * 5000 + "}}}]"
    results = []
    with Emulator() as emu:
        for body in (answer(r'[{"text":"Hi \ud83d\ude00 there \ud800"}]'), answer(deep)):
            emu._api.endpoints["chat_v2"] = lambda call, state, *args, body=body: Response(200, body)
            results.append(plugin.invoke_llm(MODEL, _credentials_of(emu), [user("hi")],
                                             model_parameters={"web_search": "auto"}, stream=False))
    assert results[0].ok, results[0].error
    assert collect_text(results[0]) == "Hi \U0001F600 there \ufffd"
    assert results[1].error_type == "InvokeServerUnavailableError" and "nested" in results[1].error_message
