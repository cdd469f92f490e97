"""connection/v1_chat.py: a v1 blocking chat sends, byte for byte, the body the SDK's own ``chat``
would send for the same payload, for every payload the plugin can build; and reads every answer
into the model, or the error, the SDK's own reading gives."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat import client as sdk_client
from gigachat.api import utils as sdk_utils
from gigachat.api.chat import _build_request_json
from gigachat.models.chat import ChatCompletion
from hypothesis import example, given
from hypothesis import strategies as st

from emulator import DEFAULT_KEY, Emulator
from gigachat_dify.chat.v1 import call
from gigachat_dify.connection import v1_chat
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import parse_credentials
from tests.support.recordings import CASSETTES, FIXTURES
from tests.unit import strategies as S
from tests.unit.test_properties import CHAT_HEAVY, EmulatorFiles

MODEL = "GigaChat-2-Max"


def plugin_settings():
    return get_client(parse_credentials({"authorization_key": DEFAULT_KEY}))._settings


def sdk_body(payload: dict, settings) -> dict:
    """What the SDK's ``chat`` sends: the payload read into its ``Chat`` model and dumped back."""
    return _build_request_json(sdk_client._parse_chat(payload, settings), exclude_stream=True)


def wire(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


@CHAT_HEAVY
@given(messages=S.prompt_messages, tools=st.lists(S.tools, max_size=3), params=S.model_parameters,
       accepts_files=st.booleans())
@example(messages=[], tools=[], params={"temperature": 1, "max_tokens": 5.0, "top_p": 1}, accepts_files=False)
def test_the_body_is_the_sdks_for_every_payload_the_plugin_builds(messages, tools, params, accepts_files):
    resolver = EmulatorFiles()
    try:
        payload, _ = call.build(MODEL, messages, params, tools, False, resolver if accepts_files else None)
    except InvokeBadRequestError:
        return
    settings = plugin_settings()
    assert wire(v1_chat.body(payload, settings)) == wire(sdk_body(payload, settings))


@pytest.mark.parametrize("payload", [
    {"model": "GigaChat-2", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
    {"model": "GigaChat-2", "messages": [{"role": "user", "content": "q"}], "profanity_check": True, "flags": ["x"],
     "additional_fields": {"functions": [{"name": "f", "parameters": {"type": "object", "required": ["a"]}}]}},
])
def test_settings_defaults_and_additional_fields_are_as_the_sdk_sends_them(payload):
    settings = plugin_settings()
    assert wire(v1_chat.body(payload, settings)) == wire(sdk_body(payload, settings))
    assert "flags" in v1_chat.body(payload, settings)  # the SDK adds its settings' empty list


def test_a_blocking_chat_reaches_gigachat_with_the_sdks_body_and_headers():
    with Emulator() as emu:
        creds = {"authorization_key": DEFAULT_KEY, "base_url": emu.base_url, "auth_url": emu.auth_url}
        client = get_client(parse_credentials(creds))
        payload = {"model": "GigaChat-2", "messages": [{"role": "user", "content": "Привет"}], "temperature": 0.3}
        answer = client.chat(payload)
        sent = [e for e in emu.log if e.path.endswith("/chat/completions")][-1]
        assert answer.choices[0].message.content
        assert sent.json == sdk_body(payload, client._settings)
        headers = {k.lower(): v for k, v in dict(sent.headers).items()}
        assert headers["content-type"] == "application/json" and headers["authorization"]
        assert headers["user-agent"] == "GigaChat-python-lib"


def recorded_answers() -> list[bytes]:
    """Every v1 blocking chat answer in the recordings, and the SDK's chat fixtures."""
    answers = []
    for cassette in sorted(CASSETTES.glob("*.yaml")):
        for it in yaml.safe_load(cassette.read_text())["interactions"]:
            if it["request"]["uri"].endswith("/api/v1/chat/completions") and it["response"]["status"]["code"] == 200 \
                    and "event-stream" not in it["response"]["headers"].get("Content-Type", [""])[0]:
                answers.append(it["response"]["body"]["string"].encode())
    fixtures = ("chat_completion.json", "chat_completion_function.json", "chat_completion_json.json")
    return answers + [(FIXTURES / name).read_bytes() for name in fixtures]


@pytest.mark.parametrize("status", [200, 400, 401, 429, 500])
def test_an_answer_is_read_as_the_sdk_reads_it(status):
    assert len(recorded_answers()) >= 4
    bodies = recorded_answers() if status == 200 else [b'{"status": %d, "message": "no"}' % status, b"<html>"]
    for content in bodies:
        response = httpx.Response(status, content=content, headers={"x-request-id": "r1", "x-session-id": "s1"},
                                  request=httpx.Request("POST", "https://gigachat.devices.sberbank.ru/api/v1/chat/completions"))
        try:
            expected = sdk_utils.build_response(response, ChatCompletion)
        except Exception as sdk_error:
            with pytest.raises(type(sdk_error)) as ours:
                v1_chat.answer(response)
            assert (ours.value.status_code, ours.value.content) == (sdk_error.status_code, sdk_error.content)
            continue
        got = v1_chat.answer(response)
        assert got == expected and got.x_headers == {"x-request-id": "r1", "x-session-id": "s1", "x-client-id": None}


def test_an_unreadable_answer_is_an_unreadable_answer_as_with_the_sdk():
    from gigachat_dify import failures

    response = httpx.Response(200, content=b'{"choices": [', request=httpx.Request("POST", "https://h/chat/completions"))
    with pytest.raises(Exception) as ours:
        v1_chat.answer(response)
    with pytest.raises(Exception) as sdks:
        sdk_utils.build_response(response, ChatCompletion)
    assert failures.classify(ours.value).kind is failures.classify(sdks.value).kind is failures.Kind.UNREADABLE


def _answer_of(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, request=httpx.Request("POST", "https://h/chat/completions"))


def _body(message: bytes) -> bytes:
    return (b'{"choices":[{"message":' + message + b',"index":0,"finish_reason":"stop"}],"created":1,'
            b'"model":"GigaChat","object":"chat.completion","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}')


def test_an_answer_with_escaped_surrogates_is_read_pairs_joined_and_a_lone_half_replaced():
    got = v1_chat.answer(_answer_of(_body(b'{"role":"assistant","content":"Hi \\ud83d\\ude00 there \\ud800"}')))
    assert got.choices[0].message.content == "Hi \U0001F600 there \ufffd"


def test_an_answer_with_tool_call_arguments_nested_900_deep_is_read():
    deep = b"[" * 900 + b"]" * 900
    got = v1_chat.answer(_answer_of(_body(
        b'{"role":"assistant","content":"","function_call":{"name":"f","arguments":{"x":' + deep + b'}}}')))
    value, depth = got.choices[0].message.function_call.arguments["x"], 1
    while value:
        value, depth = value[0], depth + 1
    assert depth == 900


def test_an_answer_nested_deeper_than_the_plugin_reads_is_said_so():
    from gigachat_dify.errors import describe

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(Exception) as refused:
        v1_chat.answer(_answer_of(_body(b'{"role":"assistant","content":"","function_call":{"name":"f","arguments":{"x":'
                                        + deep + b'}}}')))
    assert "nested" in describe(refused.value)[1] and "Base URL" not in describe(refused.value)[1]


def recorded_v2_answers() -> list[bytes]:
    """Every v2 blocking chat answer in the recordings."""
    return [it["response"]["body"]["string"].encode() for cassette in sorted(CASSETTES.glob("*.yaml"))
            for it in yaml.safe_load(cassette.read_text())["interactions"]
            if it["request"]["uri"].endswith("/v2/chat/completions") and it["response"]["status"]["code"] == 200
            and "event-stream" not in it["response"]["headers"].get("Content-Type", [""])[0]]


def test_a_v2_answer_is_read_as_the_sdk_reads_it():
    from gigachat.models.chat_completions import ChatCompletionResponse

    assert len(recorded_v2_answers()) >= 3
    for content in recorded_v2_answers():
        response = httpx.Response(200, content=content, headers={"x-request-id": "r1"},
                                  request=httpx.Request("POST", "https://api.giga.chat/v2/chat/completions"))
        assert v1_chat.answer(response, ChatCompletionResponse) == sdk_utils.build_response(response, ChatCompletionResponse)


def test_a_v2_answer_with_a_lone_surrogate_or_deep_arguments_is_read_and_one_too_deep_is_said_so():
    from gigachat.models.chat_completions import ChatCompletionResponse

    from gigachat_dify.errors import describe

    def v2(parts: str) -> httpx.Response:
        return _answer_of(('{"model":"GigaChat-2-Max","created_at":1,"messages":[{"role":"assistant","content":' + parts
                           + '}],"finish_reason":"stop"}').encode())

    got = v1_chat.answer(v2(r'[{"text":"Hi \ud83d\ude00 there \ud800"}]'), ChatCompletionResponse)
    assert got.messages[0].content[0].text == "Hi \U0001F600 there \ufffd"
    call = '[{"function_call":{"name":"f","arguments":{"x":%s}}}]'
    got = v1_chat.answer(v2(call % ("[" * 900 + "]" * 900)), ChatCompletionResponse)
    assert got.messages[0].content[0].function_call.name == "f"
    with pytest.raises(Exception) as refused:
        v1_chat.answer(v2(call % ("[" * 100_000 + "]" * 100_000)), ChatCompletionResponse)
    assert "nested" in describe(refused.value)[1]
