"""The v2 contract (gigachat_dify/chat/v2): requests as recorded, the switches, answers read from
the recorded responses, built-in tool activity, refusals."""

import base64
import json

import gigachat.exceptions as gx
import pytest
import yaml
from dify_plugin.entities.model.llm import LLMUsage
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    ImagePromptMessageContent,
    PromptMessageTool,
    SystemPromptMessage,
    TextPromptMessageContent,
    ToolPromptMessage,
    UserPromptMessage,
)
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat.api.chat_completions import _build_request_json
from gigachat.api.utils import _iter_event_chunks
from gigachat.models.chat_completions import ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse

from gigachat_dify.chat import invocation
from gigachat_dify.chat.assembly import to_result
from gigachat_dify.chat.media import Images
from gigachat_dify.chat.v1 import call as v1
from gigachat_dify.chat.v2 import call as v2
from gigachat_dify.chat.v2 import tools as v2_tools
from gigachat_dify.chat.builtin_tools import enabled
from gigachat_dify.chat.v2.stream import StreamAssembler, Streamed, token_usage

from tests.support.recordings import CASSETTES
MODEL = "GigaChat-3-Ultra"


def chat_interactions(name: str) -> list[tuple[dict, str]]:
    data = yaml.safe_load((CASSETTES / f"{name}.yaml").read_text())
    return [(json.loads(i["request"]["body"]), i["response"]["body"]["string"]) for i in data["interactions"]
            if i["request"]["uri"].endswith("/v2/chat/completions")]


def wire(payload: dict) -> dict:
    """What the SDK puts on the wire for this payload (its own request model and serialisation)."""
    return _build_request_json(ChatCompletionRequest.model_validate(payload))


def build(messages, params=None, tools=None):
    return v2.build(MODEL, messages, params or {}, tools, False, None)


BUILTIN = {body["tools"][0] and next(iter(body["tools"][0])): (body, text)
           for body, text in chat_interactions("test_primary_chat_builtin_tools")}


# ---- requests ----------------------------------------------------------------------------------


def test_web_search_always_sends_exactly_the_recorded_request():
    body, _ = BUILTIN["web_search"]
    payload, _ = build([UserPromptMessage(content=body["messages"][0]["content"][0]["text"])], {"web_search": "always"})
    assert wire(payload) == body


def test_code_interpreter_sends_exactly_the_recorded_request():
    body, _ = BUILTIN["code_interpreter"]
    payload, _ = build([UserPromptMessage(content=body["messages"][0]["content"][0]["text"])], {"code_interpreter": True})
    assert wire(payload) == body


def test_image_generation_sends_the_recorded_tool_and_lets_the_model_decide():
    body, _ = BUILTIN["image_generate"]
    payload, _ = build([UserPromptMessage(content="draw")], {"image_generation": True})
    assert wire(payload)["tools"] == body["tools"] == [{"image_generate": {}}]
    assert payload["tool_config"] == {"mode": "auto"}  # the switch allows drawing; the recording forced it


def test_plain_and_structured_requests_are_the_recorded_ones_too():
    for name in ("test_primary_chat_create_simple", "test_primary_chat_parse_json_schema"):
        body, _ = chat_interactions(name)[0]
        params = {}
        if "model_options" in body:
            schema = body["model_options"]["response_format"]["schema"]
            params = {"response_format": "json_schema", "json_schema": json.dumps({"name": "r", "schema": schema})}
        payload, _ = build([UserPromptMessage(content=body["messages"][0]["content"][0]["text"])], params)
        assert wire(payload) == body, name


ORDER_TOOL = PromptMessageTool(name="get_order_status", description="Get delivery status for an order.",
                               parameters={"type": "object", "properties": {"order_id": {"type": "string",
                                           "description": "Order identifier."}}, "required": ["order_id"]})


def test_a_tool_round_trip_from_dify_history_echoes_the_state_as_recorded():
    (first_body, first_text), (second_body, _) = chat_interactions("test_primary_chat_function_tool_roundtrip")
    answer = ChatCompletionResponse.model_validate_json(first_text)
    asm = StreamAssembler(MODEL, function_names={"get_order_status": "get_order_status"})
    asm.feed_response(answer)
    (call,) = asm.finish(LLMUsage.empty_usage()).delta.message.tool_calls
    assert call.id == "gcfs_019e8373-dc9a-7883-af60-ebb20b79e1e1" and json.loads(call.function.arguments) == {
        "order_id": "A-1024"}
    history = [UserPromptMessage(content=first_body["messages"][0]["content"][0]["text"]),
               AssistantPromptMessage(content="", tool_calls=[call]),
               ToolPromptMessage(content='{"order_id": "A-1024", "status": "packed", "eta": "tomorrow"}',
                                 tool_call_id=call.id)]
    payload, _ = build(history, {"web_search": "auto"}, [ORDER_TOOL])
    assert wire(payload)["messages"] == second_body["messages"]


def test_a_tool_result_of_json_nested_too_deeply_to_read_is_sent_as_text_in_v2_too():
    deep = "[" * 100_000 + "]" * 100_000
    call = AssistantPromptMessage.ToolCall(id="call_1", type="function", function=AssistantPromptMessage.ToolCall.ToolCallFunction(
        name="get_order_status", arguments='{"order_id": "A-1024"}'))
    history = [UserPromptMessage(content="Where is A-1024?"), AssistantPromptMessage(content="", tool_calls=[call]),
               ToolPromptMessage(content=deep, tool_call_id="call_1")]
    payload, _ = build(history, {"web_search": "auto"}, [ORDER_TOOL])
    (result,) = [m for m in payload["messages"] if m["role"] in ("tool", "function")]
    assert result["content"][0]["function_result"]["result"] == {"result": deep}


def test_always_is_forced_on_questions_only_not_after_a_tool_result():
    call = AssistantPromptMessage.ToolCall(id="gcfs_s", type="function", function=AssistantPromptMessage.ToolCall.
                                           ToolCallFunction(name="get_order_status", arguments="{}"))
    history = [UserPromptMessage(content="q"), AssistantPromptMessage(content="", tool_calls=[call]),
               ToolPromptMessage(content="done", tool_call_id="gcfs_s")]
    payload, _ = build(history, {"web_search": "always"}, [ORDER_TOOL])
    assert payload["tool_config"] == {"mode": "auto"}
    assert build(history[:1], {"web_search": "always"}, [ORDER_TOOL])[0]["tool_config"]["mode"] == "forced"


def test_a_dify_tool_named_like_a_built_in_tool_is_renamed_and_mapped_back():
    search = PromptMessageTool(name="web_search", description="my search", parameters={"type": "object",
                                                                                       "properties": {}})
    payload, names = build([UserPromptMessage(content="q")], {"web_search": "auto"}, [search])
    spec = payload["tools"][0]["functions"]["specifications"][0]
    assert spec["name"] == "web_search_tool" and names == {"web_search_tool": "web_search"}


def test_parameters_keep_their_v1_meaning_under_model_options():
    payload, _ = build([SystemPromptMessage(content="sys"), UserPromptMessage(content="q")],
                       {"code_interpreter": True, "temperature": 0, "max_tokens": 77, "repetition_penalty": 1.2,
                        "reasoning_effort": "high", "profanity_check": False})
    assert payload["model_options"] == {"top_p": 1e-6, "max_tokens": 77, "repetition_penalty": 1.2,
                                        "reasoning": {"effort": "high"}}
    assert wire(payload)["disable_filter"] is True
    assert payload["messages"][0] == {"role": "system", "content": [{"text": "sys"}]}


def test_json_object_instruction_joins_the_system_message():
    payload, _ = build([SystemPromptMessage(content="sys"), UserPromptMessage(content="q")],
                       {"code_interpreter": True, "response_format": "json_object"})
    assert payload["messages"][0]["content"][0]["text"].startswith("sys\n\nRespond with a single valid JSON object")


def test_files_become_files_parts_before_the_question():
    image = ImagePromptMessageContent(format="png", mime_type="image/png", base64_data="AAAA", filename="a.png")

    class Resolver:
        accepts = frozenset({"image"})

        def __call__(self, part):
            return "file-1"

    payload, _ = v2.build(MODEL, [UserPromptMessage(content=[TextPromptMessageContent(data="what?"), image])],
                          {"web_search": "auto"}, None, False, Resolver())
    assert payload["messages"][0]["content"] == [{"files": [{"id": "file-1"}]}, {"text": "what?"}]


@pytest.mark.parametrize(("params", "expected"), [
    ({}, (False, "off")), ({"web_search": "auto"}, (True, "auto")), ({"image_generation": "true"}, (True, "off")),
    ({"code_interpreter": 1}, (True, "off")), ({"web_search": "off", "image_generation": False}, (False, "off")),
])
def test_switches_are_read_with_the_form_parser(params, expected):
    switches = enabled(params)
    web = next((v for t, v in switches.values.items() if t.switch == "web_search"), "off")
    assert (switches.any, web) == expected
    assert invocation.choose_contract(params) is (v2 if expected[0] else v1)


@pytest.mark.parametrize(("params", "label"), [({"web_search": "sometimes"}, "'Web search'"),
                                               ({"code_interpreter": "maybe"}, "'Code interpreter'")])
def test_a_switch_value_that_cannot_be_read_is_a_clear_error_naming_its_label(params, label):
    with pytest.raises(InvokeBadRequestError, match=label) as e:
        enabled(params)
    assert "ValueError" not in str(e.value)


# ---- answers -------------------------------------------------------------------------------------


def fake_images():
    return Images(lambda file_id: base64.b64encode(b"\xff\xd8\xff" + file_id.encode()).decode())


def assemble(response, **kw) -> tuple:
    asm = StreamAssembler(MODEL, images=fake_images(), **kw)
    chunks = [*asm.feed_response(response), *asm.flush()]
    return asm, to_result(MODEL, [*chunks, asm.finish(LLMUsage.empty_usage())])


def text_of(result) -> str:
    content = result.message.content
    return content if isinstance(content, str) else "".join(i.data for i in content if i.type == "text")


def test_the_recorded_web_search_answer_links_the_cited_source_and_lists_both():
    _, text = BUILTIN["web_search"]
    asm, result = assemble(ChatCompletionResponse.model_validate_json(text))
    out = text_of(result)
    assert "[sources=" not in out and out.count("[[2]](https://realpython.com/python-news-february-2026/)") == 9
    assert out.endswith("\n\nSources:\n1. [Руководство по значительным изменениям в Python 2026](https://learn."
                        "microsoft.com/ru-ru/agent-framework/support/upgrade/python-2026-significant-changes)\n"
                        "2. [pandas 3.0 Lands Breaking Changes and Other Python News for February 2026...]"
                        "(https://realpython.com/python-news-february-2026/)\n")
    assert (asm.usage.prompt, asm.usage.completion, asm.usage.cached) == (23767, 570, 2557)
    assert asm.response_model == "GigaChat-3-Ultra:32.3.18.5"


def test_the_recorded_image_answer_becomes_an_image_item_then_the_text():
    _, text = BUILTIN["image_generate"]
    _, result = assemble(ChatCompletionResponse.model_validate_json(text))
    image, note = result.message.content[0], result.message.content[1]
    assert base64.b64decode(image.base64_data) == b"\xff\xd8\xff" + b"f4b17167-3fa4-40aa-80c6-c737ee40d961"
    assert "GigaChat generated an image" in note.data
    assert note.data.endswith("A simple square icon concept for a Python SDK release has been created.")


def test_recorded_stream_events_parse_and_assemble():
    for name in ("test_primary_chat_stream_simple", "test_primary_achat_stream_simple"):
        _, text = chat_interactions(name)[0]
        events = list(_iter_event_chunks(text.splitlines(), ChatCompletionChunk))
        assert [e.event for e in events] == ["response.message.delta", "response.message.done"]
        asm, result = assemble(Streamed(events))
        assert text_of(result) == "1, 2, 3" and asm.gigachat_finish_reason == "stop"
        assert token_usage(events[-1].usage).prompt == 19


def chunk(event: str, **payload) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({"event": event, **payload})


def test_code_run_by_the_interpreter_and_its_output_are_shown_before_the_answer():
    events = [
        chunk("response.tool.completed", messages=[{"role": "reasoning", "content": [
            {"function_call": {"name": "code_interpreter", "arguments": {"code": "print(6 * 7)"}}},
            {"function_result": {"name": "code_interpreter", "result": {"stdout": "42\n", "stderr": ""}}},
            {"tool_execution": {"name": "code_interpreter", "status": "success"}}]}]),
        chunk("response.message.delta", messages=[{"role": "assistant", "content": [{"text": "It is 42."}]}]),
        chunk("response.message.done", finish_reason="stop"),
    ]
    asm, result = assemble(Streamed(events))
    assert text_of(result) == "\n\nCode run by GigaChat:\n\n```python\nprint(6 * 7)\n```\n\nOutput:\n\n```\n42\n```\n\nIt is 42."
    assert result.message.tool_calls == []  # the interpreter is GigaChat's, not a Dify tool


def test_reasoning_messages_are_shown_as_a_think_block():
    events = [chunk("response.message.delta", messages=[{"role": "reasoning", "content": [{"text": "Think."}]}]),
              chunk("response.message.delta", messages=[{"role": "assistant", "content": [{"text": "Answer"}]}])]
    _, result = assemble(Streamed(events))
    assert text_of(result) == "<think>\nThink.\n</think>\nAnswer"


def test_a_censored_tool_result_is_said_once():
    blocked = {"role": "reasoning", "content": [{"tool_execution": {"name": "image_generate", "status": "success",
                                                                    "censored": True}}]}
    events = [chunk("response.tool.completed", messages=[blocked]), chunk("response.tool.completed", messages=[blocked])]
    _, result = assemble(Streamed(events))
    assert text_of(result).count("content filter blocked the result of image generation") == 1


def test_sources_and_a_dify_tool_call_in_one_answer_keep_both():
    response = ChatCompletionResponse.model_validate({
        "messages": [{"role": "assistant", "tool_state_id": "st-1", "content": [
            {"text": "Found it [sources=[1]].", "inline_data": {"sources": {"1": {"url": "https://a.example",
                                                                                 "title": "A"}}}},
            {"function_call": {"name": "get_weather", "arguments": {"city": "Moscow"}}}]}],
        "finish_reason": "function_call", "usage": {"input_tokens": 5, "output_tokens": 3}})
    asm, result = assemble(response, function_names={"get_weather": "get-weather"})
    assert text_of(result) == "Found it [[1]](https://a.example).\n\nSources:\n1. [A](https://a.example)\n"
    (call,) = result.message.tool_calls
    assert call.id == "gcfs_st-1" and call.function.name == "get-weather"
    assert asm.finish_reason == "tool_calls"


def test_a_streamed_marker_citing_a_source_never_listed_does_not_hold_back_the_rest_of_the_answer():
    asm = StreamAssembler(MODEL, images=fake_images())
    texts = ["Answer [sources=[9]] "] + [f"sentence {i}. " for i in range(200)]
    shown = [asm.feed(chunk("response.message.delta", messages=[{"role": "assistant", "content": [{"text": t}]}]))
             for t in texts]
    # Everything streams but what a short wait for source 9 held (it held all to the end: one chunk).
    assert sum(1 for chunks in shown if chunks) >= len(texts) - 12
    rest = [*asm.flush(), asm.finish(LLMUsage.empty_usage())]
    assert "".join(c.delta.message.content for chunks in [*shown, rest] for c in chunks) == (
        "".join(texts).replace(" [sources=[9]]", ""))


LATER = "Much more of the answer. " * 20  # more than a stream waits for a source


@pytest.mark.parametrize("streamed", [False, True], ids=["response", "read-from-a-stream"])
def test_a_blocking_answer_links_markers_whose_sources_come_later_in_it(streamed):
    source = {"1": {"url": "https://a.example", "title": "A"}}
    messages = [{"role": "assistant", "content": [{"text": "Found it [sources=[1]]. " + LATER}]},
                {"role": "assistant", "content": [{"text": "Done.", "inline_data": {"sources": source}}]}]
    if streamed:
        response = Streamed([chunk("response.message.delta", messages=[m]) for m in messages]
                            + [chunk("response.message.done", finish_reason="stop")])
    else:
        response = ChatCompletionResponse.model_validate({"messages": messages, "finish_reason": "stop"})
    _, result = assemble(response)
    assert text_of(result) == ("Found it [[1]](https://a.example). " + LATER + "Done."
                               "\n\nSources:\n1. [A](https://a.example)\n")


def test_code_display_fences_survive_backticks_and_long_output_is_cut():
    shown = v2_tools.call_display("code_interpreter", {"code": "s = '```'"})
    assert "````python\ns = '```'\n````" in shown
    out = v2_tools.result_display("code_interpreter", "x" * (v2_tools.MAX_OUTPUT_CHARS + 10))
    assert "(10 more characters)" in out
    assert v2_tools.result_display("code_interpreter", {"stdout": "", "stderr": "boom"}) .count("stderr: boom") == 1
    assert v2_tools.call_display("web_search", {"query": "q"}) is None


def test_the_source_list_is_left_out_of_structured_answers():
    asm = StreamAssembler(MODEL, data=True)
    shown = asm.add(content='{"a": "x [sources=[1]]"}', sources={"1": {"url": "https://a.example", "title": "A"}})
    final = asm.finish(LLMUsage.empty_usage())
    assert json.loads("".join(c.delta.message.content for c in [*shown, final])) == {"a": "x [[1]](https://a.example)"}
