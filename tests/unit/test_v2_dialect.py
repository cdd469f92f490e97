"""The two forms of v2 function results (chat/v2/dialect.py, chat/v2/messages.py), the ids that carry
GigaChat's state through Dify (chat/tool_calls.py) and parallel calls read from an answer."""

from __future__ import annotations

import json

import gigachat.exceptions as gx
import pytest
from dify_plugin.entities.model.llm import LLMUsage
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    PromptMessageTool,
    ToolPromptMessage,
    UserPromptMessage,
)
from gigachat.api.chat_completions import _build_request_json
from gigachat.models.chat_completions import ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse

from gigachat_dify.chat.tool_calls import kept_state, make_tool_call_id, read_state, read_tool_call_id
from gigachat_dify.chat.v2 import call as v2
from gigachat_dify.chat.v2 import dialect
from gigachat_dify.chat.v2.dialect import FUNCTION, TOOL
from gigachat_dify.chat.v2.stream import StreamAssembler, Streamed

ToolCall = AssistantPromptMessage.ToolCall
Fn = ToolCall.ToolCallFunction
WEATHER = PromptMessageTool(name="get_weather", description="d",
                            parameters={"type": "object", "properties": {"city": {"type": "string"}}})


def call(id_: str, city: str) -> ToolCall:
    return ToolCall(id=id_, type="function", function=Fn(name="get_weather", arguments=json.dumps({"city": city})))


def parallel_history(ids=("gcfs_st~c1", "gcfs_st~c2")):
    return [UserPromptMessage(content="weather in Moscow and Kazan"),
            AssistantPromptMessage(content="", tool_calls=[call(ids[0], "Moscow"), call(ids[1], "Kazan")]),
            ToolPromptMessage(content="Kazan: rain", tool_call_id=ids[1]),
            ToolPromptMessage(content="Moscow: sun", tool_call_id=ids[0])]


def build(history, form):
    payload, _ = v2.build("GigaChat-2-Max", history, {"web_search": "auto"}, [WEATHER], False, None, form=form)
    return _build_request_json(ChatCompletionRequest.model_validate(payload))  # as the SDK sends it


def test_function_form_sends_one_step_with_its_calls_ids_then_json_string_results_in_call_order():
    sent = build(parallel_history(), FUNCTION)["messages"]
    assert sent[1] == {"role": "assistant", "tools_state_id": "st", "content": [
        {"function_call": {"name": "get_weather", "arguments": {"city": "Moscow"}, "id": "c1"}},
        {"function_call": {"name": "get_weather", "arguments": {"city": "Kazan"}, "id": "c2"}}]}
    assert sent[2:] == [
        {"role": "function", "content": [{"function_result": {"name": "get_weather", "result": '{"result": "Moscow: sun"}'}}]},
        {"role": "function", "content": [{"function_result": {"name": "get_weather", "result": '{"result": "Kazan: rain"}'}}]}]


def test_tool_form_sends_each_call_with_its_object_result_as_recorded():
    sent = build(parallel_history(), TOOL)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "tool"]
    assert all("id" not in p["function_call"] for m in sent for p in m["content"] if "function_call" in p)
    assert sent[2] == {"role": "tool", "tools_state_id": "st",
                       "content": [{"function_result": {"name": "get_weather", "result": {"result": "Moscow: sun"}}}]}


@pytest.mark.parametrize(("base_url", "form"), [
    ("https://api.giga.chat/v1", FUNCTION), ("https://API.GIGA.CHAT:443/v1/", FUNCTION),
    ("https://gigachat.devices.sberbank.ru/api/v1", TOOL), ("https://gigachat.company.local/api/v1", TOOL),
    ("https://api.giga.chat.evil.example/v1", TOOL), (None, TOOL)])
def test_the_verified_rule_gives_each_known_host_its_form(base_url, form):
    assert dialect.host_rule(base_url) is form


def refusal(status: int, message: str) -> gx.ResponseError:
    cls = {400: gx.BadRequestError, 422: gx.UnprocessableEntityError, 500: gx.ServerError}[status]
    return cls("https://h/v2/chat/completions", status, json.dumps({"status": status, "message": message}).encode(), None)


def test_only_a_refusal_of_a_payload_with_results_is_tried_in_the_other_form():
    with_results = build(parallel_history(), TOOL)
    plain = build([UserPromptMessage(content="q")], TOOL)
    syntax = refusal(400, "Your request contains invalid JSON syntax.")
    assert v2.alternative(syntax, with_results) == {"form": FUNCTION}
    assert v2.alternative(refusal(422, "x"), build(parallel_history(), FUNCTION)) == {"form": TOOL}
    assert v2.alternative(syntax, plain) is None
    assert v2.alternative(refusal(500, "x"), with_results) is None
    assert v2.alternative(ValueError("x"), with_results) is None


def test_of_two_refusals_the_one_that_is_not_the_bare_syntax_answer_is_reported():
    real, syntax = refusal(422, "Invalid params: bad schema"), refusal(400, "Your request contains invalid JSON syntax.")
    assert dialect.telling(real, syntax) is real
    assert dialect.telling(syntax, real) is real
    other = refusal(422, "Invalid params: other")
    assert dialect.telling(real, other) is other


# ---- ids and opaque_body ---------------------------------------------------------------------------


def test_tool_call_ids_carry_the_state_and_the_call_id_and_old_ids_still_read():
    assert read_tool_call_id(make_tool_call_id("st", "c1")).__dict__ == {"state_id": "st", "call_id": "c1"}
    assert read_tool_call_id("gcfs_019e8373-dc9a").__dict__ == {"state_id": "019e8373-dc9a", "call_id": None}
    assert read_tool_call_id(make_tool_call_id(None, "c1")).__dict__ == {"state_id": None, "call_id": "c1"}
    assert make_tool_call_id(None).startswith("call_") and read_tool_call_id(make_tool_call_id(None)) is None
    for other in ("", None, "gcfs_", "call_abc", "3f1e1f9e-2d0e-4c43-a3b9-1c0e8f0e6a11"):
        assert read_tool_call_id(other) is None


@pytest.mark.parametrize("junk", [None, "x", 5, [], {"gigachat": "x"}, {"gigachat": {"tool_state": []}},
                                  {"gigachat": {"tool_state": {"id": 5, "call_ids": "x"}}}])
def test_an_opaque_body_of_any_shape_reads_as_no_state(junk):
    assert read_state(junk).state_id is None and read_state(junk).call_ids == ()


def test_the_state_kept_in_opaque_body_is_used_when_the_ids_lost_it():
    calls = [call(make_tool_call_id("st", "c1"), "Moscow"), call(make_tool_call_id("st", "c2"), "Kazan")]
    body = {"gigachat": kept_state(calls)}
    assert body == {"gigachat": {"tool_state": {"id": "st", "call_ids": ["c1", "c2"]}}}
    history = parallel_history(ids=("fresh-1", "fresh-2"))
    history[1].opaque_body = body
    sent = build(history, FUNCTION)["messages"]
    assert sent[1]["tools_state_id"] == "st"
    assert [p["function_call"]["id"] for p in sent[1]["content"]] == ["c1", "c2"]
    assert kept_state([call("call_x", "a")]) == {}


# ---- parallel calls in answers -------------------------------------------------------------------------


def test_parallel_calls_of_one_function_in_a_done_event_stay_separate_with_distinct_ids():
    done = ChatCompletionChunk.model_validate({"event": "response.message.done", "finish_reason": "function_call",
                                               "messages": [{"role": "assistant", "tool_state_id": "st", "content": [
                                                   {"function_call": {"id": "c1", "name": "get_weather", "arguments": {"city": "Moscow"}}},
                                                   {"function_call": {"id": "c2", "name": "get_weather", "arguments": {"city": "Kazan"}}}]}],
                                               "usage": {"input_tokens": 3, "output_tokens": 2}})
    asm = StreamAssembler("GigaChat-2-Max", function_names={"get_weather": "get-weather"})
    asm.feed_response(Streamed([done]))
    calls = asm.finish(LLMUsage.empty_usage()).delta.message.tool_calls
    assert [(c.id, json.loads(c.function.arguments)["city"]) for c in calls] == [
        ("gcfs_st~c1", "Moscow"), ("gcfs_st~c2", "Kazan")]
    assert all(c.function.name == "get-weather" for c in calls)


def test_a_recorded_answer_without_call_ids_keeps_its_old_id():
    response = ChatCompletionResponse.model_validate({
        "messages": [{"role": "assistant", "tool_state_id": "st", "content": [
            {"function_call": {"name": "get_weather", "arguments": {"city": "Moscow"}}}]}],
        "finish_reason": "function_call"})
    asm = StreamAssembler("GigaChat-2-Max")
    asm.feed_response(response)
    (only,) = asm.finish(LLMUsage.empty_usage()).delta.message.tool_calls
    assert only.id == "gcfs_st"
