"""Both GigaChat hosts through Dify's stdio protocol: the recorded one (gigachat.devices.sberbank.ru,
June 2026) and api.giga.chat as probed live in September 2026, each served by the emulator under its
own base URL. An agent loop mixing web search with Dify tools, blocking and streamed; parallel calls;
the function-result form learnt from the first refusal and remembered per base URL; state kept in
opaque_body for a history that lost its tool-call ids; URL reading; the tool ranker."""

from __future__ import annotations

import json

import pytest

from tests.support.daemon import assistant, many_tools, message, tool, tool_result, user

MODEL = "GigaChat-2-Max"
WEATHER = tool("get-weather", "Current weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
CLOCK = tool("get_time", "Local time in a city",
             {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
SEARCH = {"web_search": "auto"}
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["streaming", "blocking"])
DIALECTS = pytest.mark.parametrize("host", ["recorded", "giga"])


def base_url(emulator, host: str) -> str:
    return emulator.giga_base_url if host == "giga" else emulator.base_url


def on(credentials, emulator, host: str) -> dict:
    return dict(credentials, base_url=base_url(emulator, host))


def calls_of(result) -> list[dict]:
    return [tc for c in result.chunks for tc in c["delta"]["message"]["tool_calls"]]


def text_of(result) -> str:
    out = []
    for c in result.chunks:
        content = c["delta"]["message"]["content"]
        out += [content] if isinstance(content, str) else [i["data"] for i in content if i["type"] == "text"]
    return "".join(out)


def v2_log(emulator, host: str) -> list:
    path = "/v2/chat/completions" if host == "giga" else "/api/v2/chat/completions"
    return [r for r in emulator.log if r.path == path]


def results_in(body: dict) -> list[dict]:
    return [m for m in body["messages"] if any("function_result" in p for p in m["content"])]


def history_after_a_call(plugin, creds) -> list[dict]:
    """A first agent turn (web search on, one Dify tool called) and the history Dify sends next."""
    first = plugin.invoke_llm(MODEL, creds, [user("call get_weather")], model_parameters=SEARCH, tools=[WEATHER])
    (call,) = calls_of(first)
    return [user("call get_weather"), assistant("", tool_calls=[call]), tool_result(call["id"], "Sunny")]


def roles_sent(emulator, host: str) -> list[tuple[int, str]]:
    return [(r.status, results_in(r.json)[0]["role"]) for r in v2_log(emulator, host)]


@DIALECTS
@BOTH
def test_agent_loop_mixing_web_search_and_a_dify_tool_works_on_each_host(plugin, credentials, emulator, host, stream):
    creds = on(credentials, emulator, host)
    params = SEARCH
    history = [user("Search the web for today's weather in Moscow, then call get_weather.")]
    first = plugin.invoke_llm(MODEL, creds, history, model_parameters=params, tools=[WEATHER], stream=stream)
    assert first.ok, first.error
    (call,) = calls_of(first)
    assert call["function"]["name"] == "get-weather" and json.loads(call["function"]["arguments"])["city"]
    assert "Sources:" in text_of(first)  # the search is not lost beside the tool call
    answered = v2_log(emulator, host)[-1]
    assert answered.status == 200 and answered.dialect == ("api.giga.chat" if host == "giga" else
                                                           "gigachat.devices.sberbank.ru")

    history += [assistant(text_of(first), tool_calls=[call]), tool_result(call["id"], "Sunny, +21")]
    second = plugin.invoke_llm(MODEL, creds, history, model_parameters=params, tools=[WEATHER], stream=stream)
    assert second.ok, second.error
    assert "Sunny, +21" in text_of(second)
    sent = v2_log(emulator, host)[-1]
    assert sent.status == 200
    (result_msg,) = results_in(sent.json)
    (part,) = result_msg["content"]
    if host == "giga":  # api.giga.chat: role function, the result a JSON string
        assert result_msg["role"] == "function"
        assert part["function_result"] == {"name": "get_weather", "result": '{"result": "Sunny, +21"}'}
    else:  # as recorded: role tool, the result an object, the state id echoed on both messages
        assert result_msg["role"] == "tool" and part["function_result"]["result"] == {"result": "Sunny, +21"}
        state = call["id"].removeprefix("gcfs_")
        assert result_msg["tools_state_id"] == state
    echoed = next(m for m in sent.json["messages"] if any("function_call" in p for p in m["content"]))
    assert echoed["tools_state_id"] == call["id"].removeprefix("gcfs_").split("~")[0]


@BOTH
def test_api_giga_chat_calls_carry_their_ids_and_come_from_the_done_event(plugin, credentials, emulator, stream):
    creds = on(credentials, emulator, "giga")
    result = plugin.invoke_llm(MODEL, creds, [user("Call get_weather for Moscow")], tools=[WEATHER], stream=stream,
                               model_parameters={"web_search": "auto"})
    assert result.ok, result.error
    (call,) = calls_of(result)
    assert call["function"]["name"] == "get-weather"
    state, _, call_id = call["id"].removeprefix("gcfs_").partition("~")
    assert state and len(call_id) == 36  # GigaChat's UUID for the call, kept for the next turn
    if stream:
        assert result.chunks[-1]["delta"]["finish_reason"] == "tool_calls"
    opaque = result.chunks[-1]["delta"]["message"]["opaque_body"]["gigachat"]["tool_state"]
    assert opaque == {"id": state, "call_ids": [call_id]}


def test_the_result_form_is_learnt_from_the_first_refusal_and_remembered_per_base_url(fresh_plugin, credentials,
                                                                                         emulator):
    giga, recorded = on(credentials, emulator, "giga"), on(credentials, emulator, "recorded")
    history = history_after_a_call(fresh_plugin, giga)
    emulator.clear_log()
    assert fresh_plugin.invoke_llm(MODEL, giga, history, model_parameters=SEARCH, tools=[WEATHER]).ok
    # The loopback host has no verified rule: the recorded form first, refused, then the other, taken.
    assert roles_sent(emulator, "giga") == [(400, "tool"), (200, "function")]
    emulator.clear_log()
    assert fresh_plugin.invoke_llm(MODEL, giga, history, model_parameters=SEARCH, tools=[WEATHER], stream=True).ok
    assert roles_sent(emulator, "giga") == [(200, "function")]
    # The other host keeps its own form: one host's learning never changes what another is sent.
    history = history_after_a_call(fresh_plugin, recorded)
    emulator.clear_log()
    assert fresh_plugin.invoke_llm(MODEL, recorded, history, model_parameters=SEARCH, tools=[WEATHER]).ok
    assert roles_sent(emulator, "recorded") == [(200, "tool")]


def test_a_host_that_changes_its_form_is_followed(fresh_plugin, credentials, emulator):
    creds = on(credentials, emulator, "recorded")
    history = history_after_a_call(fresh_plugin, creds)
    assert fresh_plugin.invoke_llm(MODEL, creds, history, model_parameters=SEARCH, tools=[WEATHER]).ok
    emulator.set_dialect(emulator.base_url, "api.giga.chat")
    result = fresh_plugin.invoke_llm(MODEL, creds, history, model_parameters=SEARCH, tools=[WEATHER], stream=True)
    assert result.ok, result.error
    assert "Function get_weather returned" in text_of(result)


def test_a_request_refused_in_both_forms_reports_the_real_problem(fresh_plugin, credentials, emulator):
    creds = on(credentials, emulator, "giga")
    history = history_after_a_call(fresh_plugin, creds)
    assert fresh_plugin.invoke_llm(MODEL, creds, history, model_parameters=SEARCH, tools=[WEATHER]).ok  # learnt
    emulator.clear_log()
    emulator.faults.inject(status=422, count=1, path="/v2/chat/completions",
                           body={"status": 422, "message": "Invalid params: model is overloaded with rules"})
    result = fresh_plugin.invoke_llm(MODEL, creds, history, model_parameters=SEARCH, tools=[WEATHER])
    # the host's form refused with the real problem, the other form with the bare syntax refusal
    assert roles_sent(emulator, "giga") == [(422, "function"), (400, "tool")]
    assert result.error_type == "InvokeBadRequestError"
    assert "overloaded with rules" in result.error_message and "invalid JSON syntax" not in result.error_message
    emulator.clear_log()
    assert fresh_plugin.invoke_llm(MODEL, creds, history, model_parameters=SEARCH, tools=[WEATHER]).ok
    assert [r.status for r in v2_log(emulator, "giga")] == [200]  # the form learnt is kept


@BOTH
def test_parallel_calls_reach_dify_with_distinct_ids_and_all_results_go_back(plugin, credentials, emulator, stream):
    creds = on(credentials, emulator, "giga")
    params = SEARCH
    question = user("For Moscow call get_weather and get_time.")
    first = plugin.invoke_llm(MODEL, creds, [question], model_parameters=params, tools=[WEATHER, CLOCK],
                              stream=stream)
    assert first.ok, first.error
    calls = calls_of(first)
    assert sorted(c["function"]["name"] for c in calls) == ["get-weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2  # Dify matches each result to its call by id
    if stream:
        assert first.chunks[-1]["delta"]["finish_reason"] == "tool_calls"
    history = [question, assistant(text_of(first), tool_calls=calls),
               *[tool_result(c["id"], f"{c['function']['name']}: ok") for c in reversed(calls)]]
    second = plugin.invoke_llm(MODEL, creds, history, model_parameters=params, tools=[WEATHER, CLOCK],
                               stream=stream)
    assert second.ok, second.error
    assert "get-weather: ok" in text_of(second) and "get_time: ok" in text_of(second)
    sent = v2_log(emulator, "giga")[-1].json
    step = next(m for m in sent["messages"] if any("function_call" in p for p in m["content"]))
    ids = [p["function_call"]["id"] for p in step["content"] if "function_call" in p]
    assert ids == [c["id"].partition("~")[2] for c in calls]  # one step, its calls with GigaChat's ids
    assert [r["content"][0]["function_result"]["name"] for r in results_in(sent)] == ["get_weather", "get_time"]


def test_two_parallel_calls_of_one_function_stay_two_calls(plugin, credentials, emulator):
    creds = on(credentials, emulator, "giga")
    emulator.enqueue_reply(function_calls=[{"name": "get_weather", "arguments": {"city": "Moscow"}},
                                           {"name": "get_weather", "arguments": {"city": "Kazan"}}])
    result = plugin.invoke_llm(MODEL, creds, [user("weather in Moscow and Kazan")], tools=[WEATHER], stream=True,
                               model_parameters={"web_search": "auto"})
    assert result.ok, result.error
    calls = calls_of(result)
    assert [json.loads(c["function"]["arguments"])["city"] for c in calls] == ["Moscow", "Kazan"]
    assert len({c["id"] for c in calls}) == 2


@DIALECTS
def test_state_kept_in_opaque_body_survives_a_history_whose_tool_call_ids_were_replaced(plugin, credentials,
                                                                                       emulator, host):
    creds = on(credentials, emulator, host)
    params = SEARCH
    first = plugin.invoke_llm(MODEL, creds, [user("call get_weather")], model_parameters=params, tools=[WEATHER],
                              stream=True)
    (call,) = calls_of(first)
    opaque = first.chunks[-1]["delta"]["message"]["opaque_body"]
    renamed = dict(call, id="3f1e1f9e-2d0e-4c43-a3b9-1c0e8f0e6a11")  # what a Dify that rebuilt the history sends
    returned = message("assistant", "", tool_calls=[renamed])
    returned["opaque_body"] = opaque
    history = [user("call get_weather"), returned, tool_result(renamed["id"], "Sunny")]
    result = plugin.invoke_llm(MODEL, creds, history, model_parameters=params, tools=[WEATHER])
    assert result.ok, result.error
    sent = v2_log(emulator, host)[-1].json
    echoed = next(m for m in sent["messages"] if any("function_call" in p for p in m["content"]))
    state = call["id"].removeprefix("gcfs_").split("~")[0]
    assert echoed["tools_state_id"] == state
    if host == "giga":
        assert echoed["content"][-1]["function_call"]["id"] == call["id"].partition("~")[2]


# ---- URL reading -------------------------------------------------------------------------------------


@DIALECTS
@BOTH
def test_url_reading_reads_the_page_named_in_the_message(plugin, credentials, emulator, host, stream):
    creds = on(credentials, emulator, host)
    page = "https://docs.example.org/guide/install"
    result = plugin.invoke_llm(MODEL, creds, [user(f"Summarise {page} in one line")],
                               model_parameters={"url_reading": True}, stream=stream)
    assert result.ok, result.error
    assert v2_log(emulator, host)[-1].json["tools"] == [{"url_content_extraction": {}}]
    text = text_of(result)
    assert "docs.example.org/guide/install" in text and "fingerprint" in text
    if host == "giga":  # api.giga.chat cites the page it read: a link and the source list
        assert f"]({page})" in text and "Sources:" in text


def test_url_reading_refused_by_the_host_names_its_switch(plugin, credentials, emulator):
    emulator.refuse("url_content_extraction", model=MODEL)
    result = plugin.invoke_llm(MODEL, credentials, [user("Read https://a.example/x")],
                               model_parameters={"url_reading": True})
    assert result.error_type == "InvokeBadRequestError" and "'URL reading'" in result.error_message


# ---- the tool ranker ------------------------------------------------------------------------------------


MANY = many_tools(30)


@DIALECTS
@pytest.mark.parametrize("params", [{}, {"web_search": "auto"}], ids=["v1", "v2"])
def test_the_ranker_gives_the_model_only_the_most_relevant_tools_and_costs_fewer_prompt_tokens(
        plugin, credentials, emulator, params, host):
    creds = on(credentials, emulator, host)
    question = [user("What is the weather in Sochi?")]
    off = plugin.invoke_llm(MODEL, creds, question, tools=MANY, model_parameters=params, stream=False)
    on_ = plugin.invoke_llm(MODEL, creds, question, tools=MANY, stream=True,
                            model_parameters={**params, "tool_ranking": True, "tool_ranking_top_n": 3})
    assert off.ok and on_.ok, (off.error, on_.error)
    sent = emulator.log[-1]
    assert sent.json.get("function_ranker" if not params else "ranker_options") == {"enabled": True, "top_n": 3}
    assert len(sent.ranked_functions) == 3
    assert calls_of(on_)[0]["function"]["name"] == calls_of(off)[0]["function"]["name"] == "tool_0_weather"
    prompt = [r.chunks[-1]["delta"]["usage"]["prompt_tokens"] for r in (off, on_)]
    assert prompt[1] < prompt[0] / 3, prompt
    assert not {"function_ranker", "ranker_options"} & set(emulator.log[-2].json)  # off: nothing sent
