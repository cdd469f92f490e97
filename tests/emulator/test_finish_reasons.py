"""The rare finish reasons on demand (emu.faults.finish or a scripted reply), blocking and streamed, on
both contracts and both hosts: v2's function_call_error, blacklist, request_blacklist,
request_whitelist, request_filter, response_blacklist; v1's blacklist and error."""

import pytest

from emulator import B2B_KEY
from emulator.finish import REFUSAL_TEXT, WHITELIST_TEXT

from .conftest import make_client

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
V2_FILTERS = ["blacklist", "request_blacklist", "request_whitelist", "request_filter", "response_blacklist"]


@pytest.fixture(params=["base_url", "giga_base_url"])
def client(request, emu):
    c = make_client(emu, base_url=getattr(emu, request.param), credentials=B2B_KEY, scope="GIGACHAT_API_B2B",
                    model="GigaChat-2-Max")
    yield c
    c.close()


def v2(text="Tell me something", **extra) -> dict:
    return {"model": "GigaChat-2-Max", "messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def v1(text="Tell me something", **extra) -> dict:
    return {"model": "GigaChat-2-Max", "messages": [{"role": "user", "content": text}], **extra}


def streamed_text(chunks) -> str:
    return "".join(p.text or "" for c in chunks for m in c.messages or [] for p in m.content or [])


@pytest.mark.parametrize("reason", V2_FILTERS)
def test_a_filter_reason_ends_a_v2_answer_blocking_and_streamed(emu, client, reason):
    text = WHITELIST_TEXT if reason == "request_whitelist" else REFUSAL_TEXT
    emu.faults.finish(reason, count=2)
    answer = client.chat.create(v2())
    assert answer.finish_reason == reason and answer.messages[0].content[0].text == text
    chunks = list(client.chat.stream(v2()))
    assert chunks[-1].event == "response.message.done" and chunks[-1].finish_reason == reason
    assert streamed_text(chunks) == text
    assert emu.stats.faults[f"finish:{reason}"] == 2
    assert client.chat.create(v2()).finish_reason == "stop"  # count used up


def test_function_call_error_carries_a_call_with_arguments_that_break_the_schema(emu, client):
    emu.faults.finish("function_call_error", count=2)
    tools = [{"functions": {"specifications": [WEATHER]}}]
    answer = client.chat.create(v2(tools=tools))
    call = answer.messages[0].content[0].function_call
    assert answer.finish_reason == "function_call_error" and call.name == "get_weather" and call.arguments == {}
    chunks = list(client.chat.stream(v2(tools=tools)))
    assert chunks[-1].finish_reason == "function_call_error"
    calls = [p.function_call for c in chunks for m in c.messages or [] for p in m.content or [] if p.function_call]
    assert [c.arguments for c in calls] == [{}]


@pytest.mark.parametrize(("reason", "v1_reason"), [("blacklist", "blacklist"), ("request_filter", "blacklist"),
                                                   ("response_blacklist", "blacklist"), ("function_call_error", "error"),
                                                   ("error", "error")])
def test_v1_gets_its_own_name_for_the_reason_blocking_and_streamed(emu, client, reason, v1_reason):
    emu.faults.finish(reason, count=2)
    body = v1(functions=[WEATHER])
    answer = client.chat(body)
    chunks = list(client.stream(body))
    assert answer.choices[0].finish_reason == chunks[-1].choices[0].finish_reason == v1_reason
    if v1_reason == "error":
        assert answer.choices[0].message.function_call.arguments == {}  # "city" is required
        assert chunks[-1].choices[0].delta.function_call.name == "get_weather"
    else:
        assert answer.choices[0].message.content == "".join(c.choices[0].delta.content for c in chunks) == REFUSAL_TEXT


def test_v2_error_is_function_call_error_and_without_functions_there_is_no_content(emu, client):
    emu.faults.finish("error")
    answer = client.chat.create(v2())
    assert answer.finish_reason == "function_call_error" and answer.messages[0].content == []


def test_a_finish_fault_can_be_aimed_at_one_path(emu, client):
    emu.faults.finish("request_blacklist", path="/chat/completions")
    assert client.chat.create(v2()).finish_reason == "stop"
    assert client.chat(v1()).choices[0].finish_reason == "blacklist"


def test_unknown_or_common_reasons_are_not_faults(emu):
    for reason in ("stop", "length", "function_call", "censored"):
        with pytest.raises(ValueError, match="unknown finish reason"):
            emu.faults.finish(reason)


def test_a_scripted_reply_may_end_with_any_reason_streamed_too(emu, client):
    emu.enqueue_reply(content="partial answer", finish_reason="response_blacklist", chunks=["partial ", "answer"])
    chunks = list(client.chat.stream(v2()))
    assert streamed_text(chunks) == "partial answer" and chunks[-1].finish_reason == "response_blacklist"
