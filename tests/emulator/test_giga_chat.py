"""The api.giga.chat dialect (GIGACHAT_API.md "v2 as observed live on api.giga.chat (Sep 2026)") beside
the recorded one, on one emulator: each observed point, through the real SDK where it can send it,
raw HTTP where the SDK would rewrite or refuse the request first."""

import json
import uuid

import gigachat.exceptions as gx
import httpx
import pytest

from emulator import B2B_KEY, CORP_KEY, GIGA_CHAT, PAID_KEY, RECORDED

from .conftest import SHARED_SSL, get_token, make_client
from .test_v2 import events

GIGA_V2 = "/v2/chat/completions"
RECORDED_V2 = "/api/v2/chat/completions"
MODEL = "GigaChat-2-Max"
INVALID_JSON = {"status": 400, "message": "Your request contains invalid JSON syntax."}
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {"name": "get_time", "description": "Time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
FUNCTIONS = [{"functions": {"specifications": [WEATHER, TIME]}}]


@pytest.fixture
def raw(emu):
    """POST a v2 body to a path of the emulator with a personal token (no SDK in between)."""
    token = get_token(emu)
    with httpx.Client(base_url=emu.origin, timeout=10, verify=SHARED_SSL,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        yield lambda body, path=GIGA_V2, **kw: c.post(path, json=body, **kw)


@pytest.fixture
def giga(emu):
    c = make_client(emu, base_url=emu.giga_base_url, model=MODEL)
    yield c
    c.close()


def ask(text: str, **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def round_trip(result_message: dict, call: dict | None = None, **state) -> dict:
    call = call or {"name": "get_weather", "arguments": {"city": "Moscow"}}
    return {"model": MODEL, "tools": FUNCTIONS, "messages": [
        {"role": "user", "content": [{"text": "weather in Moscow?"}]},
        {"role": "assistant", "content": [{"function_call": call}], **state},
        result_message]}


def function_result(result, name="get_weather", role="function") -> dict:
    return {"role": role, "content": [{"function_result": {"name": name, "result": result}}]}


# ---- two hosts on one emulator ------------------------------------------------------------------


def test_one_emulator_answers_the_same_round_trip_differently_on_its_two_base_urls(emu, raw):
    assert emu.dialect_of(emu.base_url) == RECORDED and emu.dialect_of(emu.giga_base_url) == GIGA_CHAT
    assert emu.base_url_for(GIGA_CHAT) == emu.giga_base_url == emu.origin + "/v1"
    june = round_trip(function_result({"city": "Moscow", "t": 20}, role="tool"), tools_state_id="s")
    september = round_trip(function_result('{"city": "Moscow", "t": 20}'), functions_state_id="s")
    assert raw(june, RECORDED_V2).status_code == 200
    assert raw(june).status_code == 400 and raw(june).json() == INVALID_JSON
    answer = raw(september).json()
    assert answer["messages"][0]["content"] == [{"text": 'Function get_weather returned: {"city": "Moscow", "t": 20}'}]
    assert {e.dialect for e in emu.log if e.path in (GIGA_V2, RECORDED_V2)} == {RECORDED, GIGA_CHAT}


def test_a_base_url_can_be_switched_to_the_other_dialect_until_reset(emu, raw):
    september = round_trip(function_result('{"t": 20}'))
    emu.set_dialect(emu.base_url, GIGA_CHAT)
    assert emu.dialect_of(emu.base_url) == GIGA_CHAT
    assert raw(round_trip(function_result({"t": 20}, role="tool")), RECORDED_V2).json() == INVALID_JSON
    assert raw(september, RECORDED_V2).status_code == 200
    emu.reset()
    assert emu.dialect_of(emu.base_url) == RECORDED
    with pytest.raises(ValueError, match="unknown dialect"):
        emu.set_dialect(emu.base_url, "api.example.com")


# ---- function results ----------------------------------------------------------------------------


def test_a_function_result_as_role_function_with_a_json_string_is_answered_through_the_sdk(giga):
    answer = giga.chat.create(round_trip(function_result(json.dumps({"temperature": 20}))))
    assert answer.finish_reason == "stop"
    assert answer.messages[0].content[0].text == 'Function get_weather returned: {"temperature": 20}'


def test_role_tool_is_refused_with_the_generic_400(giga):
    with pytest.raises(gx.BadRequestError) as e:
        giga.chat.create(round_trip(function_result('{"t": 1}', role="tool")))
    assert json.loads(e.value.content) == INVALID_JSON


def test_a_raw_text_result_is_refused_as_invalid_function_result(giga):
    with pytest.raises(gx.BadRequestError) as e:
        giga.chat.create(round_trip(function_result("sunny, +20")))
    assert json.loads(e.value.content) == {"status": 400, "message": (
        "invalid function result for function get_weather json string sunny, +20, "
        "error: JSON parse error at line 1 column 1")}


def test_an_object_result_is_refused_there_as_the_spec_types_it_a_string(giga, raw):
    with pytest.raises(gx.BadRequestError):
        giga.chat.create(round_trip(function_result({"t": 1})))
    assert raw(round_trip(function_result({"t": 1}, role="tool")), RECORDED_V2).status_code == 200  # as recorded


def test_a_function_result_needs_its_name(raw):
    nameless = {"role": "function", "content": [{"function_result": {"result": '{"t": 1}'}}]}
    assert raw(round_trip(nameless)).json() == INVALID_JSON


def test_string_arguments_in_history_are_refused(giga):
    call = {"name": "get_weather", "arguments": '{"city": "Moscow"}'}
    with pytest.raises(gx.BadRequestError) as e:
        giga.chat.create(round_trip(function_result('{"t": 1}'), call=call))
    assert json.loads(e.value.content) == INVALID_JSON


def test_string_content_is_refused_with_the_generic_400(raw):
    assert raw({"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}).json() == INVALID_JSON


def test_a_result_without_a_call_before_it_is_422(raw):
    body = {"model": MODEL, "tools": FUNCTIONS, "messages": [
        {"role": "user", "content": [{"text": "q"}]}, {"role": "assistant", "content": [{"text": "ok"}]},
        function_result('{"t": 1}')]}
    r = raw(body)
    assert r.status_code == 422
    assert r.json()["message"] == "Invalid params: every assistant function result must have an assistant function call in history"


# ---- answers and state ids -----------------------------------------------------------------------


def test_a_call_carries_singular_tool_state_id_a_uuid_id_and_object_arguments_on_the_wire(raw):
    wire = raw(ask("weather?", tools=FUNCTIONS)).json()
    (message,) = wire["messages"]
    assert set(message) == {"role", "tool_state_id", "content"} and wire["finish_reason"] == "function_call"
    (part,) = message["content"]
    call = part["function_call"]
    assert list(call) == ["id", "name", "arguments"] and uuid.UUID(call["id"]).version == 4
    assert call["name"] == "get_weather" and call["arguments"] == {"city": "example"}


def test_the_sdk_reads_the_call_with_its_id(giga):
    answer = giga.chat.create(ask("weather?", tools=FUNCTIONS))
    call = answer.messages[0].content[0].function_call
    assert answer.messages[0].tools_state_id and uuid.UUID(call.id) and call.arguments == {"city": "example"}


def test_recorded_host_calls_stay_as_recorded_without_ids(raw):
    (part,) = raw(ask("weather?", tools=FUNCTIONS), RECORDED_V2).json()["messages"][0]["content"]
    assert "id" not in part["function_call"]


@pytest.mark.parametrize("state", [{}, {"functions_state_id": "s"}, {"tool_state_id": "s"}, {"tools_state_id": "s"}],
                         ids=["none", "functions_state_id", "tool_state_id", "tools_state_id"])
def test_next_turn_accepts_either_state_id_and_needs_none(raw, state):
    call = {"id": str(uuid.uuid4()), "name": "get_weather", "arguments": {"city": "Moscow"}}
    r = raw(round_trip(function_result('{"t": 1}'), call=call, **state))
    assert r.status_code == 200 and r.json()["finish_reason"] == "stop"


def test_functions_named_together_are_called_in_one_parallel_step_and_all_results_accepted(giga, raw):
    answer = raw(ask("call get_weather and get_time for Moscow", tools=FUNCTIONS)).json()
    message = answer["messages"][0]
    calls = [p["function_call"] for p in message["content"]]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"] and len({c["id"] for c in calls}) == 2
    assert raw(ask("call get_weather and get_time", tools=FUNCTIONS), RECORDED_V2).json()["finish_reason"] == "function_call"
    history = [{"role": "user", "content": [{"text": "call get_weather and get_time for Moscow"}]}, message]
    one_message = {"role": "function", "content": [{"function_result": {"name": "get_weather", "result": '{"t": 20}'}},
                                                   {"function_result": {"name": "get_time", "result": '"12:00"'}}]}
    two_messages = [function_result('{"t": 20}'), function_result('"12:00"', name="get_time")]
    for results in ([one_message], two_messages):
        final = giga.chat.create({"model": MODEL, "tools": FUNCTIONS, "messages": history + results})
        assert final.messages[0].content[0].text == ('Function get_weather returned: {"t": 20}\n'
                                                     'Function get_time returned: "12:00"')
    missing = raw({"model": MODEL, "tools": FUNCTIONS, "messages": history + two_messages[:1]})
    assert missing.status_code == 422 and "every assistant function call must have a result" in missing.json()["message"]


def test_the_recorded_host_calls_one_function_per_answer(raw):
    parts = raw(ask("call get_weather and get_time", tools=FUNCTIONS), RECORDED_V2).json()["messages"][0]["content"]
    assert [p["function_call"]["name"] for p in parts] == ["get_weather"]


def test_scripted_parallel_calls_come_in_one_answer_and_v1_refuses_them(emu, giga):
    calls = [{"name": "get_weather", "arguments": {"city": "A"}}, {"name": "get_time", "arguments": {"city": "B"}}]
    emu.enqueue_reply(function_calls=calls)
    answer = giga.chat.create(ask("q", tools=FUNCTIONS))
    got = [p.function_call for p in answer.messages[0].content]
    assert [(c.name, c.arguments) for c in got] == [("get_weather", {"city": "A"}), ("get_time", {"city": "B"})]
    assert all(uuid.UUID(c.id) for c in got) and answer.finish_reason == "function_call"
    emu.enqueue_reply(function_calls=calls)
    with pytest.raises(gx.UnprocessableEntityError, match="a v1 answer carries one"):
        giga.chat({"model": MODEL, "messages": [{"role": "user", "content": "q"}],
                   "functions": [WEATHER, TIME]})


# ---- streams ---------------------------------------------------------------------------------------


def test_a_short_answer_streams_in_one_delta_then_done(raw):
    r = raw(ask("один, два, три", stream=True))
    (delta_name, delta), (done_name, done) = events(r)
    assert (delta_name, done_name) == ("response.message.delta", "response.message.done")
    assert set(delta) == {"model", "created_at", "messages"} and delta["model"] == MODEL + ":2.0.28.2"
    assert delta["messages"] == [{"role": "assistant", "content": [{"text": "Echo: один, два, три"}]}]
    assert set(done) == {"model", "created_at", "finish_reason", "usage"} and done["finish_reason"] == "stop"


def test_a_long_answer_streams_in_deltas_of_at_most_16_tokens(raw):
    text = " ".join(f"word{i}" for i in range(40))
    deltas = [d for n, d in events(raw(ask(text, stream=True))) if n == "response.message.delta"]
    pieces = [p["text"] for d in deltas for p in d["messages"][0]["content"]]
    assert len(pieces) > 3 and "".join(pieces) == f"Echo: {text}"
    from emulator.tokens import count_tokens
    assert max(count_tokens(p) for p in pieces) == 16


def test_a_streamed_call_comes_in_the_done_event_not_a_delta(giga, raw):
    r = raw(ask("call get_weather and get_time", tools=FUNCTIONS, stream=True))
    assert [n for n, _ in events(r)] == ["response.message.done"]
    done = events(r)[0][1]
    (message,) = done["messages"]
    assert message["tool_state_id"] and done["finish_reason"] == "function_call" and done["usage"]["output_tokens"] > 0
    assert [p["function_call"]["name"] for p in message["content"]] == ["get_weather", "get_time"]
    assert all(uuid.UUID(p["function_call"]["id"]) for p in message["content"])
    chunks = list(giga.chat.stream(ask("weather?", tools=FUNCTIONS)))
    assert [c.event for c in chunks] == ["response.message.done"]
    assert chunks[0].messages[0].content[0].function_call.name == "get_weather"
    recorded = [n for n, _ in events(raw(ask("weather?", tools=FUNCTIONS, stream=True), RECORDED_V2))]
    assert recorded == ["response.message.delta", "response.message.done"]  # the recorded host: a delta


# ---- names, formats, tools --------------------------------------------------------------------------


def test_function_names_may_hold_hyphens_and_dots_there_but_not_on_the_recorded_host(raw):
    body = ask("q", tools=[{"functions": {"specifications": [{**WEATHER, "name": "weather.get-now"}]}}])
    assert raw(body).status_code == 200
    assert raw(body, RECORDED_V2).status_code == 422


@pytest.mark.parametrize("names", [["Плохое_Имя"], ["1st", "_private"]])
def test_other_function_names_are_refused_with_the_observed_message(raw, names):
    specs = [{**WEATHER, "name": n} for n in names]
    r = raw(ask("q", tools=[{"functions": {"specifications": specs}}]))
    assert r.status_code == 422 and r.json()["message"] == (
        "Invalid params: Invalid function names. Only Latin letters (A-Z or a-z), underscore (_), hyphen (-), "
        f"dot (.) and digits (not leading) are allowed.: [{' '.join(names)}]")


@pytest.mark.parametrize("kind", ["json", "json_object", "xml", "regex"])
def test_response_formats_other_than_text_and_json_schema_are_unknown_types(giga, kind):
    with pytest.raises(gx.BadRequestError) as e:
        giga.chat.create(ask("q", model_options={"response_format": {"type": kind, "regex": "a+"}}))
    assert json.loads(e.value.content) == {"status": 400, "message": f'Unknown type "{kind}" in response_format'}


def test_text_and_json_schema_formats_are_answered_and_a_schema_is_required(giga, raw):
    assert giga.chat.create(ask("q", model_options={"response_format": {"type": "text"}})).finish_reason == "stop"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    answer = giga.chat.create(ask("q", model_options={"response_format": {"type": "json_schema", "schema": schema,
                                                                           "strict": True}}))
    assert json.loads(answer.messages[0].content[0].text) == {"a": 1}
    r = raw(ask("q", model_options={"response_format": {"type": "json_schema"}}))
    assert r.json() == {"status": 400, "message": "Empty schema with json format type is not supported"}


def test_web_search_and_url_reading_are_answered(giga):
    found = giga.chat.create(ask("latest news on Python", tools=[{"web_search": {}}]))
    assert set(found.messages[0].content[0].inline_data.sources) == {"1", "2"}
    url = "https://docs.python.org/3/library/pathlib.html"
    body = ask(f"Read {url} and list three use cases", tools=[{"url_content_extraction": {}}])
    read = giga.chat.create(body).messages[0].content[0]
    assert read.text == giga.chat.create(body).messages[0].content[0].text  # deterministic
    assert "docs.python.org/3/library/pathlib.html" in read.text and "[sources=[1]]" in read.text
    assert read.inline_data.sources["1"].url == url
    other = giga.chat.create(ask("Read https://example.com/a", tools=[{"url_content_extraction": {}}]))
    assert other.messages[0].content[0].text != read.text


def test_code_interpreter_is_unavailable_to_a_personal_account(emu, giga, raw):
    with pytest.raises(gx.UnprocessableEntityError) as e:
        giga.chat.create(ask("compute 2+2", tools=[{"code_interpreter": {}}]))
    assert json.loads(e.value.content) == {"status": 422, "message": "Tool code_interpreter is unavailable"}
    assert raw(ask("compute 2+2", tools=[{"code_interpreter": {}}]), RECORDED_V2).status_code == 200
    business = make_client(emu, base_url=emu.giga_base_url, credentials=B2B_KEY, scope="GIGACHAT_API_B2B", model=MODEL)
    answer = business.chat.create(ask("compute 2+2", tools=[{"code_interpreter": {}}]))  # assumed: business accounts have it
    assert answer.messages[0].content[0].text == "The question has 11 characters."


@pytest.mark.parametrize("tool", ["url_extraction", "zzz_not_a_real_tool"])
def test_an_unknown_tool_is_404(raw, tool):
    r = raw(ask("q", tools=[{tool: {}}]))
    assert r.status_code == 404 and r.json() == {"status": 404, "message": f"Unknown tool {tool}"}


# ---- files, token endpoint ----------------------------------------------------------------------------


def test_files_upload_on_v1_with_modalities_v2_files_is_403_and_the_id_works_in_v2(emu, giga, raw):
    uploaded = httpx.post(emu.giga_base_url + "/files", files={"file": ("cat.png", b"\x89PNG....", "image/png")},
                          data={"purpose": "general"}, headers={"Authorization": f"Bearer {get_token(emu)}"},
                          verify=SHARED_SSL).json()
    assert uploaded["modalities"] == ["image"] and uploaded["object"] == "file"
    recorded = giga_recorded_upload(emu)
    assert "modalities" not in recorded  # the recorded fixture's shape
    forbidden = raw({}, "/v2/files")
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "text/html"
    assert b"403 Forbidden" in forbidden.content
    body = {"model": MODEL, "messages": [{"role": "user", "content": [{"files": [{"id": uploaded["id"]}]},
                                                                      {"text": "what is it?"}]}]}
    assert f"Attachment {uploaded['id']} cat.png image/png" in giga.chat.create(body).messages[0].content[0].text


def giga_recorded_upload(emu) -> dict:
    return httpx.post(emu.base_url + "/files", files={"file": ("a.txt", b"text", "text/plain")},
                      data={"purpose": "general"}, headers={"Authorization": f"Bearer {get_token(emu)}"},
                      verify=SHARED_SSL).json()


def test_there_is_no_user_password_token_endpoint_there(emu):
    emu.users["admin"] = "secret"
    assert httpx.post(emu.giga_base_url + "/token", auth=("admin", "secret"), verify=SHARED_SSL).status_code == 404
    assert httpx.post(emu.base_url + "/token", auth=("admin", "secret"), verify=SHARED_SSL).status_code == 200


# ---- GigaChat-3-Ultra: freemium personal accounts only -------------------------------------------------


@pytest.mark.parametrize(("key", "scope"), [(B2B_KEY, "GIGACHAT_API_B2B"), (CORP_KEY, "GIGACHAT_API_CORP"),
                                            (PAID_KEY, "GIGACHAT_API_PERS")], ids=["b2b", "corp", "paid"])
def test_ultra_is_no_model_for_other_accounts_there(emu, key, scope):
    client = make_client(emu, base_url=emu.giga_base_url, credentials=key, scope=scope, model="GigaChat-3-Ultra")
    for call in (lambda: client.chat("Hi"), lambda: client.chat.create(ask("Hi", model="GigaChat-3-Ultra"))):
        with pytest.raises(gx.NotFoundError) as e:
            call()
        assert json.loads(e.value.content) == {"status": 404, "message": "No such model"}
    assert "GigaChat-3-Ultra" not in {m.id_ for m in client.get_models().data}
    with pytest.raises(gx.NotFoundError):
        client.get_model("GigaChat-3-Ultra")
    assert client.chat({"model": "GigaChat-2-Max", "messages": [{"role": "user", "content": "Hi"}]}).choices
    recorded = make_client(emu, credentials=key, scope=scope, model="GigaChat-3-Ultra")
    assert recorded.chat("Hi").choices[0].message.content == "Echo: Hi"  # as recorded on that host


def test_ultra_answers_a_freemium_personal_account_there(emu):
    client = make_client(emu, base_url=emu.giga_base_url, model="GigaChat-3-Ultra")
    assert client.chat("Hi").choices[0].message.content == "Echo: Hi"
    assert "GigaChat-3-Ultra" in {m.id_ for m in client.get_models().data}
