"""messages: Dify prompt messages -> GigaChat v1 messages the API accepts, losing nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    DeveloperPromptMessage,
    DocumentPromptMessageContent,
    ImagePromptMessageContent,
    SystemPromptMessage,
    TextPromptMessageContent,
    ToolPromptMessage,
    UserPromptMessage,
    VideoPromptMessageContent,
)
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat.models.chat import Chat

from gigachat_dify.chat.v1.messages import (
    NO_RESULT_TEXT,
    convert_messages,
    function_result_content,
    make_tool_call_id,
    parse_tool_call_id,
)

ToolCall = AssistantPromptMessage.ToolCall
Fn = AssistantPromptMessage.ToolCall.ToolCallFunction


def call(id_: str, name: str, args: str) -> ToolCall:
    return ToolCall(id=id_, type="function", function=Fn(name=name, arguments=args))


def image(name: str = "photo.png") -> ImagePromptMessageContent:
    return ImagePromptMessageContent(format="png", mime_type="image/png", base64_data="iVBORw0KGgo=", filename=name)


def pdf(name: str = "report.pdf") -> DocumentPromptMessageContent:
    return DocumentPromptMessageContent(format="pdf", mime_type="application/pdf", base64_data="JVBERi0=", filename=name)


class FakeUploader:
    """A resolver for a model that takes images and documents (``accepts`` as files.accepted_kinds gives)."""

    def __init__(self, accepts=frozenset({"image", "document"})):
        self.calls = []
        self.accepts = accepts

    def __call__(self, part):
        self.calls.append(part)
        return f"file-{len(self.calls)}"


def assert_gigachat_valid(messages: list[dict]) -> None:
    """What the API enforces: one system message, first; string content; every function_call
    followed by its function result; function results are JSON objects; <= 1 attachment."""
    Chat.model_validate({"model": "GigaChat", "messages": messages})
    roles = [m["role"] for m in messages]
    assert roles.count("system") <= 1
    if "system" in roles:
        assert roles[0] == "system"
    for i, m in enumerate(messages):
        assert isinstance(m["content"], str)
        assert len(m.get("attachments", [])) <= 1
        if m.get("function_call"):
            assert messages[i + 1]["role"] == "function"
            assert messages[i + 1]["name"] == m["function_call"]["name"]
            assert isinstance(m["function_call"]["arguments"], dict)
        if m["role"] == "function":
            assert isinstance(json.loads(m["content"]), dict)
            assert messages[i - 1].get("function_call")


# --------------------------------------------------------------------------- system


def test_system_and_developer_messages_merge_into_one_leading_system_message():
    msgs = [
        SystemPromptMessage(content="You are a support bot."),
        DeveloperPromptMessage(content="Answer in Russian."),
        UserPromptMessage(content="Привет"),
        AssistantPromptMessage(content="Здравствуйте!"),
        SystemPromptMessage(content="From now on, be brief."),
        UserPromptMessage(content="Как дела?"),
    ]
    out = convert_messages(msgs, resolve_file=None, function_names=None)
    assert out[0] == {
        "role": "system",
        "content": "You are a support bot.\n\nAnswer in Russian.\n\nFrom now on, be brief.",
    }
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert_gigachat_valid(out)


def test_no_system_message_when_none_given_and_empty_system_text_is_skipped():
    out = convert_messages([SystemPromptMessage(content=""), UserPromptMessage(content="hi")])
    assert out == [{"role": "user", "content": "hi"}]


# --------------------------------------------------------------------------- user content


def test_user_text_parts_are_joined_and_a_single_image_becomes_an_attachment():
    up = FakeUploader()
    msg = UserPromptMessage(content=[TextPromptMessageContent(data="What is on"), image(), TextPromptMessageContent(data="this photo?")])
    out = convert_messages([msg], resolve_file=up)
    assert out == [{"role": "user", "content": "What is on\nthis photo?", "attachments": ["file-1"]}]
    assert len(up.calls) == 1


def test_several_images_are_split_into_one_message_each_with_the_text_on_the_last():
    up = FakeUploader()
    msg = UserPromptMessage(
        content=[TextPromptMessageContent(data="Compare these photos."), image("a.png"), image("b.png"), image("c.png")]
    )
    out = convert_messages([SystemPromptMessage(content="sys"), msg], resolve_file=up)
    users = out[1:]
    assert [m["attachments"] for m in users] == [["file-1"], ["file-2"], ["file-3"]]
    assert users[0]["content"] == "[Attachment 1 of 3 (image, a.png)]"
    assert users[1]["content"] == "[Attachment 2 of 3 (image, b.png)]"
    assert users[2]["content"] == "[Attachment 3 of 3 (image, c.png)]\nCompare these photos."
    assert_gigachat_valid(out)


def test_documents_are_uploaded_and_mixed_files_get_one_message_each():
    up = FakeUploader()
    msg = UserPromptMessage(content=[TextPromptMessageContent(data="Summarise"), pdf(), image()])
    out = convert_messages([msg], resolve_file=up)
    assert len(out) == 2
    assert out[0]["attachments"] == ["file-1"] and "document, report.pdf" in out[0]["content"]
    assert out[1]["content"].endswith("Summarise")


def test_more_than_ten_images_in_a_request_is_a_clear_bad_request_before_any_upload():
    up = FakeUploader()
    history = [UserPromptMessage(content=[TextPromptMessageContent(data=f"img {i}"), image()]) for i in range(6)]
    history += [UserPromptMessage(content=[image() for _ in range(5)])]
    with pytest.raises(InvokeBadRequestError, match="at most 10 images"):
        convert_messages(history, resolve_file=up)
    assert up.calls == []


@pytest.mark.parametrize(
    ("part", "word"),
    [
        (VideoPromptMessageContent(format="mp4", mime_type="video/mp4", url="https://x/v.mp4"), "video"),
    ],
)
def test_video_is_refused_with_what_to_do(part, word):
    with pytest.raises(InvokeBadRequestError) as e:
        convert_messages([UserPromptMessage(content=[TextPromptMessageContent(data="listen"), part])], resolve_file=FakeUploader())
    assert word in str(e.value) and "text" in str(e.value)


@pytest.mark.parametrize("part", [image(), pdf()])
def test_files_on_a_model_without_vision_are_refused_naming_a_model_that_can(part):
    with pytest.raises(InvokeBadRequestError) as e:
        convert_messages([UserPromptMessage(content=[TextPromptMessageContent(data="look"), part])], resolve_file=None)
    assert "GigaChat-2-Max" in str(e.value) and "does not support" in str(e.value)


def test_messages_given_as_dicts_in_the_daemon_shape_are_accepted():
    raw = [
        {"role": "system", "content": "be brief", "name": "", "tool_calls": [], "tool_call_id": ""},
        {
            "role": "user",
            "content": [
                {"type": "text", "data": "hello", "base64_data": "", "url": "", "format": "", "mime_type": "", "detail": "", "filename": ""},
            ],
            "name": "",
            "tool_calls": [],
            "tool_call_id": "",
        },
    ]
    out = convert_messages(raw, resolve_file=None, function_names=None)
    assert out == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]


# --------------------------------------------------------------------------- tool calls


def test_tool_call_id_carries_only_a_gigachat_functions_state_id():
    state = str(uuid.uuid4())
    assert parse_tool_call_id(make_tool_call_id(state)) == state
    generated = make_tool_call_id(None)
    assert generated.startswith("call_") and parse_tool_call_id(generated) is None
    # Ids from other models or from Dify's rebuilt agent history are never echoed.
    assert parse_tool_call_id(str(uuid.uuid4())) is None
    assert parse_tool_call_id("call_abc123") is None
    assert parse_tool_call_id("") is None and parse_tool_call_id(None) is None


def test_gigachat_round_trip_echoes_functions_state_id_and_wraps_plain_text_result():
    state = "6a6a1d5c-4b3e-4f6e-9d33-0c8a0e1b2f10"
    msgs = [
        UserPromptMessage(content="Погода в Москве?"),
        AssistantPromptMessage(content="", tool_calls=[call(make_tool_call_id(state), "weather-now", '{"city": "Москва"}')]),
        ToolPromptMessage(content="Облачно, +3", tool_call_id=make_tool_call_id(state), name="weather-now"),
    ]
    out = convert_messages(msgs, resolve_file=None, function_names={"weather_now": "weather-now"})
    assert out[1] == {
        "role": "assistant",
        "content": "",
        "function_call": {"name": "weather_now", "arguments": {"city": "Москва"}},
        "functions_state_id": state,
    }
    assert out[2] == {"role": "function", "name": "weather_now", "content": '{"result": "Облачно, +3"}'}
    assert_gigachat_valid(out)


def test_parallel_tool_calls_from_another_model_are_split_into_call_result_pairs():
    # An OpenAI model made three calls at once earlier in the conversation; results came back in
    # a different order. GigaChat takes one call per message, each followed by its result.
    msgs = [
        SystemPromptMessage(content="You are a travel agent."),
        UserPromptMessage(content="Plan a weekend in Kazan"),
        AssistantPromptMessage(
            content="Let me check.",
            tool_calls=[
                call("call_A", "weather", '{"city": "Kazan"}'),
                call("call_B", "hotels.search", '{"city": "Kazan", "nights": 2}'),
                call("call_C", "trains", "not json at all"),
            ],
        ),
        ToolPromptMessage(content='{"rooms": 3}', tool_call_id="call_B", name="hotels.search"),
        ToolPromptMessage(content="sunny", tool_call_id="call_A", name="weather"),
        ToolPromptMessage(content='"08:15"', tool_call_id="call_C", name="trains"),
        AssistantPromptMessage(content="Here is the plan."),
        UserPromptMessage(content="Thanks"),
    ]
    names = {"weather": "weather", "hotels_search": "hotels.search", "trains": "trains"}
    out = convert_messages(msgs, resolve_file=None, function_names=names)
    assert [(m["role"], m.get("name") or (m.get("function_call") or {}).get("name")) for m in out] == [
        ("system", None),
        ("user", None),
        ("assistant", "weather"),
        ("function", "weather"),
        ("assistant", "hotels_search"),
        ("function", "hotels_search"),
        ("assistant", "trains"),
        ("function", "trains"),
        ("assistant", None),
        ("user", None),
    ]
    assert out[2]["content"] == "Let me check." and out[4]["content"] == "" and out[6]["content"] == ""
    assert out[3]["content"] == '{"result": "sunny"}'
    assert out[5]["content"] == '{"rooms": 3}'  # a JSON object is kept as is
    assert out[7]["content"] == '{"result": "08:15"}'  # a bare JSON string is wrapped
    assert out[6]["function_call"]["arguments"] == {"raw": "not json at all"}
    assert all("functions_state_id" not in m for m in out)  # no GigaChat ids here
    assert_gigachat_valid(out)


def test_function_call_without_result_gets_a_no_result_result():
    msgs = [
        UserPromptMessage(content="q"),
        AssistantPromptMessage(content="", tool_calls=[call("call_1", "search", '{"q": "x"}')]),
        UserPromptMessage(content="never mind"),
    ]
    out = convert_messages(msgs)
    assert out[2] == {"role": "function", "name": "search", "content": json.dumps({"result": NO_RESULT_TEXT})}
    assert out[3] == {"role": "user", "content": "never mind"}
    assert_gigachat_valid(out)


def test_tool_result_without_matching_call_becomes_user_text_instead_of_being_dropped():
    msgs = [
        UserPromptMessage(content="q"),
        ToolPromptMessage(content="orphan data", tool_call_id="call_zzz", name="lookup"),
    ]
    out = convert_messages(msgs)
    assert out[1] == {"role": "user", "content": "Tool result (lookup, call_zzz): orphan data"}
    assert_gigachat_valid(out)


def test_tool_call_without_id_pairs_with_the_following_tool_message():
    msgs = [
        UserPromptMessage(content="q"),
        AssistantPromptMessage(content="", tool_calls=[call("", "calc", '{"x": 1}')]),
        ToolPromptMessage(content="2", tool_call_id="", name="calc"),
    ]
    out = convert_messages(msgs)
    assert out[2] == {"role": "function", "name": "calc", "content": '{"result": 2}'}


def test_history_call_of_a_tool_missing_from_this_request_gets_a_valid_name():
    msgs = [
        UserPromptMessage(content="q"),
        AssistantPromptMessage(content="", tool_calls=[call("call_1", "old.tool-v1", "{}")]),
        ToolPromptMessage(content="{}", tool_call_id="call_1"),
    ]
    out = convert_messages(msgs, function_names={})
    assert out[1]["function_call"]["name"] == "old_tool_v1"
    assert out[2]["name"] == "old_tool_v1"


def test_assistant_none_content_becomes_empty_string_and_non_object_arguments_are_wrapped():
    msgs = [
        UserPromptMessage(content="q"),
        AssistantPromptMessage(content=None, tool_calls=[call("call_1", "f", "[1, 2]")]),
        ToolPromptMessage(content="[]", tool_call_id="call_1"),
        AssistantPromptMessage(content=None),
    ]
    out = convert_messages(msgs)
    assert out[1]["content"] == "" and out[1]["function_call"]["arguments"] == {"value": [1, 2]}
    assert out[2]["content"] == '{"result": []}'
    assert out[3] == {"role": "assistant", "content": ""}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('"text"', '{"result": "text"}'),
        ("42", '{"result": 42}'),
        ("null", '{"result": null}'),
        ("plain text", '{"result": "plain text"}'),
        ("", '{"result": ""}'),
        ("Ошибка: нет данных", '{"result": "Ошибка: нет данных"}'),
    ],
)
def test_function_result_content_is_always_a_json_object_string(content, expected):
    out = function_result_content(content)
    assert out == expected
    assert isinstance(json.loads(out), dict)


#: Valid JSON nested deeper than Python's json can read (a tool may return anything).
DEEP = "[" * 100_000 + "]" * 100_000


def test_a_tool_result_of_json_nested_too_deeply_to_read_is_sent_as_text():
    assert function_result_content(DEEP) == json.dumps({"result": DEEP})


def test_tool_call_arguments_nested_too_deeply_to_read_are_kept_raw_and_the_request_is_built():
    msgs = [UserPromptMessage(content="q"), AssistantPromptMessage(content="", tool_calls=[call("call_1", "f", DEEP)]),
            ToolPromptMessage(content=DEEP, tool_call_id="call_1")]
    out = convert_messages(msgs)
    assert out[1]["function_call"]["arguments"] == {"raw": DEEP}
    assert out[2]["content"] == json.dumps({"result": DEEP})


def test_tool_result_with_files_keeps_the_files_as_a_following_user_message():
    up = FakeUploader()
    msgs = [
        UserPromptMessage(content="draw"),
        AssistantPromptMessage(content="", tool_calls=[call("call_1", "chart", "{}")]),
        ToolPromptMessage(content=[TextPromptMessageContent(data="done"), image("chart.png")], tool_call_id="call_1"),
    ]
    out = convert_messages(msgs, resolve_file=up)
    assert out[2]["role"] == "function" and out[2]["content"] == '{"result": "done"}'
    assert out[3]["role"] == "user" and out[3]["attachments"] == ["file-1"]
    assert_gigachat_valid(out)
