"""Dify agents on GigaChat: tool calls out, tool results back, blocking and streaming."""

import json

import pytest

from tests.support.daemon import assistant, collect_text, system, tool, tool_result, user

WEATHER = tool(
    "get-weather",  # Dify tool names may contain '-', which GigaChat function names may not
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                      "unit": {"anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}]}},
     "required": ["city"]},
)

# What an MCP server built with pydantic sends: $defs, $ref, nullable unions, titles, integer enums.
MCP_SEARCH = tool(
    "search_tickets",
    "Search the helpdesk",
    {
        "$defs": {"Filter": {"title": "Filter", "type": "object",
                             "properties": {"status": {"title": "Status", "type": "string", "enum": ["open", "closed"]},
                                            "priority": {"type": "integer", "enum": [1, 2, 3]}},
                             "required": ["status"]}},
        "title": "search_ticketsArguments",
        "type": "object",
        "properties": {"query": {"title": "Query", "type": "string"},
                       "filter": {"anyOf": [{"$ref": "#/$defs/Filter"}, {"type": "null"}], "default": None},
                       "since": {"type": ["string", "null"], "format": "date-time"},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
        "required": ["query"],
    },
)


def _tool_call_of(result):
    calls = [tc for c in result.chunks for tc in c["delta"]["message"]["tool_calls"]]
    assert len(calls) == 1, f"expected exactly one complete tool call, got {calls}"
    return calls[0]


@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_agent_loop_user_tool_call_tool_result_answer(plugin, credentials, emulator, stream):
    history = [system("You are a weather agent."), user("What is the weather in Moscow?")]
    first = plugin.invoke_llm("GigaChat-2-Max", credentials, history, tools=[WEATHER], stream=stream)
    assert first.ok, first.error
    call = _tool_call_of(first)
    assert call["function"]["name"] == "get-weather"  # Dify's own tool name comes back
    args = json.loads(call["function"]["arguments"])  # Dify's agent runner json.loads this
    assert isinstance(args["city"], str)
    if stream:  # a blocking LLMResult has no finish_reason field in Dify's protocol
        assert first.chunks[-1]["delta"]["finish_reason"] == "tool_calls"

    history += [assistant("", tool_calls=[call]), tool_result(call["id"], "Sunny, +21")]
    emulator.clear_log()
    second = plugin.invoke_llm("GigaChat-2-Max", credentials, history, tools=[WEATHER], stream=stream)
    assert second.ok, second.error
    assert "Sunny, +21" in collect_text(second)

    body = [r for r in emulator.log if r.path == "/chat/completions"][-1].json
    echoed = [m for m in body["messages"] if m.get("function_call")]
    assert len(echoed) == 1 and echoed[0].get("functions_state_id"), "functions_state_id must be echoed back"
    assert echoed[0]["functions_state_id"] in call["id"]
    result_msg = [m for m in body["messages"] if m["role"] == "function"][0]
    assert json.loads(result_msg["content"]) == {"result": "Sunny, +21"}  # plain text wrapped as JSON


def test_real_world_mcp_schema_is_accepted_and_keeps_required_fields(plugin, credentials, emulator):
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("find tickets about VPN via search_tickets")],
                               tools=[MCP_SEARCH], stream=True)
    assert result.ok, result.error  # the emulator rejects $ref/anyOf/type arrays with 422, like GigaChat
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json["functions"][0]["parameters"]
    assert sent["required"] == ["query"]
    assert sent["properties"]["filter"]["properties"]["status"]["enum"] == ["open", "closed"]
    assert sent["properties"]["filter"]["required"] == ["status"]
    assert json.loads(_tool_call_of(result)["function"]["arguments"])["query"]


def test_history_with_parallel_tool_calls_from_another_model_is_accepted(plugin, credentials):
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "get-weather", "arguments": '{"city": "Moscow"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "get-weather", "arguments": '{"city": "Kazan"}'}},
    ]
    history = [user("Weather in Moscow and Kazan?"), assistant("", tool_calls=calls),
               tool_result("call_a", '{"temp": 21}'), tool_result("call_b", "rain"), user("Summarise")]
    result = plugin.invoke_llm("GigaChat-2-Pro", credentials, history, tools=[WEATHER], stream=True)
    assert result.ok, result.error


def test_system_message_in_the_middle_is_kept_not_rejected(plugin, credentials, emulator):
    history = [system("Rule one."), user("hi"), assistant("hello"), system("Rule two."), user("again")]
    result = plugin.invoke_llm("GigaChat-2", credentials, history, stream=False)
    assert result.ok, result.error
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json["messages"]
    assert sent[0]["role"] == "system" and "Rule one." in sent[0]["content"] and "Rule two." in sent[0]["content"]
    assert [m["role"] for m in sent].count("system") == 1


@pytest.mark.parametrize("params", [{}, {"web_search": "auto"}], ids=["v1", "v2"])
def test_a_tool_result_and_arguments_of_json_nested_too_deeply_to_read_are_sent_as_text(plugin, credentials, emulator,
                                                                                         params):
    deep = "[" * 20_000 + "]" * 20_000  # valid JSON, deeper than Python's json reads
    call = {"id": "call_1", "type": "function", "function": {"name": "get-weather", "arguments": deep}}
    history = [user("Weather in Moscow?"), assistant("", tool_calls=[call]), tool_result("call_1", deep)]
    emulator.clear_log()
    result = plugin.invoke_llm("GigaChat-2-Max", credentials, history, tools=[WEATHER], model_parameters=params,
                               stream=True)
    assert result.ok, result.error
    body = [r for r in emulator.log if r.path.endswith("/chat/completions")][-1].json
    sent = json.dumps(body)  # v1 sends the result as a JSON string, v2 as an object
    assert json.dumps({"result": deep}) in sent or json.dumps(json.dumps({"result": deep})) in sent
    assert json.dumps({"raw": deep}) in sent
