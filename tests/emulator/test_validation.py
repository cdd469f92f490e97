"""Each validation rule: its status and body, over HTTP; and the pure rule functions."""

import json

import pytest

from emulator.chat import complete, precached_tokens, serialize_messages, validate_chat
from emulator.errors import ApiError
from emulator.files import FileStore

USER = {"role": "user", "content": "hi"}
OBJ = {"type": "object", "properties": {}}


def chat(api, **body):
    body.setdefault("model", "GigaChat")
    body.setdefault("messages", [USER])
    return api.post("/chat/completions", json=body)


def fn(parameters, name="f"):
    return [{"name": name, "parameters": parameters}]


CASES = [
    # (description, request fields, status, message)
    ("unknown model", {"model": "GigaChat-9000"}, 404, "No such model"),
    ("embedding model in chat", {"model": "Embeddings"}, 404, "No such model"),
    ("empty messages", {"messages": []}, 422, "Invalid params: messages must not be empty"),
    ("system not first", {"messages": [USER, {"role": "system", "content": "s"}]}, 422, "Invalid params: system message must be the first message"),
    ("two systems", {"messages": [{"role": "system", "content": "a"}, {"role": "system", "content": "b"}, USER]}, 422, "Invalid params: only one system message is allowed"),
    ("unknown role", {"messages": [{"role": "tool", "content": "x"}]}, 422, "Invalid params: messages[0].role must be one of: system, user, assistant, function, search_result, function_in_progress"),
    ("content not a string", {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, 422, "Invalid params: messages[0].content must be a string"),
    ("content null", {"messages": [{"role": "user", "content": None}]}, 422, "Invalid params: messages[0].content must be a string"),
    ("temperature zero", {"temperature": 0}, 422, "Invalid params: temperature must be in range (0, +inf)"),
    ("temperature negative", {"temperature": -1}, 422, "Invalid params: temperature must be in range (0, +inf)"),
    ("top_p above one", {"top_p": 1.5}, 422, "Invalid params: top_p must be in range [0, 1]"),
    ("top_p negative", {"top_p": -0.1}, 422, "Invalid params: top_p must be in range [0, 1]"),
    ("repetition_penalty zero", {"repetition_penalty": 0}, 422, "Invalid params: repetition_penalty must be in range (0, +inf)"),
    ("max_tokens zero", {"max_tokens": 0}, 422, "Invalid params: max_tokens must be in range [1, +inf)"),
    ("max_tokens not int", {"max_tokens": 2.5}, 422, "Invalid params: max_tokens must be in range [1, +inf)"),
    ("bad reasoning_effort", {"reasoning_effort": "max"}, 422, "Invalid params: reasoning_effort must be one of: low, medium, high"),
    (
        "function result not JSON",
        {"messages": [USER, {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": {}}}, {"role": "function", "name": "f", "content": "plain text"}]},
        422,
        "Invalid params: invalid function result: function result must be a json string",
    ),
    (
        "function call without result",
        {"messages": [USER, {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": {}}}, USER]},
        422,
        "Invalid params: every assistant function call must have a result in history",
    ),
    (
        "function call as last message",
        {"messages": [USER, {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": {}}}]},
        422,
        "Invalid params: every assistant function call must have a result in history",
    ),
    (
        "function call arguments as a string",
        {"messages": [USER, {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}, {"role": "function", "content": "{}"}]},
        422,
        "Invalid params: messages[1].function_call.arguments must be an object",
    ),
    ("function name with dash", {"functions": fn(OBJ, name="get-weather")}, 422, "Invalid params: functions[0].name 'get-weather' must match ^[a-zA-Z_][a-zA-Z0-9_]*$"),
    ("function name starting with digit", {"functions": fn(OBJ, name="1f")}, 422, "Invalid params: functions[0].name '1f' must match ^[a-zA-Z_][a-zA-Z0-9_]*$"),
    ("$ref in parameters", {"functions": fn({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}})}, 422, "Invalid params: functions[0].parameters.properties.a.$ref: $ref is not supported"),
    ("$defs in parameters", {"functions": fn({"type": "object", "properties": {}, "$defs": {}})}, 422, "Invalid params: functions[0].parameters.$defs: $defs is not supported"),
    ("anyOf in parameters", {"functions": fn({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}})}, 422, "Invalid params: functions[0].parameters.properties.a.anyOf: anyOf is not supported"),
    ("type list in parameters", {"functions": fn({"type": "object", "properties": {"a": {"type": ["string", "null"]}}})}, 422, "Invalid params: functions[0].parameters.properties.a.type: type must be a single string, not a list"),
    ("object without properties", {"functions": fn({"type": "object"})}, 422, "Invalid params: functions[0].parameters: object must have properties"),
    ("integer enum", {"functions": fn({"type": "object", "properties": {"a": {"type": "integer", "enum": [1, 2]}}})}, 422, "Invalid params: functions[0].parameters.properties.a.enum: enum values must be strings"),
    ("email format", {"functions": fn({"type": "object", "properties": {"a": {"type": "string", "format": "email"}}})}, 422, "Invalid params: functions[0].parameters.properties.a.format: format 'email' is not supported (only date, date-time, time)"),
    ("function_call to an unknown function", {"functions": fn(OBJ), "function_call": {"name": "g"}}, 422, "Invalid params: function_call.name 'g' is not among the functions"),
    ("attachment unknown", {"messages": [{"role": "user", "content": "x", "attachments": ["nope"]}]}, 400, "Invalid params: file nope not found"),
]


@pytest.mark.parametrize("what,fields,status,message", CASES, ids=[c[0] for c in CASES])
def test_rule_gives_status_and_api_error_body(api, what, fields, status, message):
    r = chat(api, **fields)
    assert r.status_code == status, r.text
    assert r.json() == {"status": status, "message": message}


def test_invalid_json_is_400(api):
    r = api.post("/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"status": 400, "message": "Your request contains invalid JSON syntax."}


def test_valid_edge_values_are_accepted(api):
    ok = chat(
        api,
        temperature=0.001,
        top_p=0,
        repetition_penalty=1,
        max_tokens=1,
        functions=fn({"type": "object", "properties": {"d": {"type": "string", "format": "date-time"}, "e": {"type": "string", "enum": ["x"]}}}),
        function_call="none",
        messages=[
            {"role": "system", "content": "s"},
            USER,
            {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": {}}, "functions_state_id": "abc"},
            {"role": "function", "name": "f", "content": '"a JSON string"'},
            {"role": "search_result", "content": "r"},
            {"role": "function_in_progress", "content": "p"},
            {"role": "user"},  # content may be omitted
        ],
    )
    assert ok.status_code == 200, ok.text


def test_attachment_rules(api):
    def upload(name, mime, data=b"data"):
        return api.post("/files", files={"file": (name, data, mime)}, data={"purpose": "general"}).json()["id"]

    img1, img2 = upload("a.png", "image/png"), upload("b.jpg", "image/jpeg")
    doc = upload("c.pdf", "application/pdf")
    two_images = chat(api, messages=[{"role": "user", "content": "x", "attachments": [img1, img2]}])
    assert two_images.status_code == 422
    assert two_images.json()["message"] == "Invalid params: only one image per message is allowed (messages[0] has 2)"
    on_assistant = chat(api, messages=[USER, {"role": "assistant", "content": "x", "attachments": [doc]}, USER])
    assert on_assistant.status_code == 422
    assert on_assistant.json()["message"] == "Invalid params: attachments are allowed only in user messages (messages[1] is assistant)"
    images = [upload(f"{i}.png", "image/png") for i in range(11)]
    many = chat(api, messages=[m for i in images for m in ({"role": "user", "content": "x", "attachments": [i]}, {"role": "assistant", "content": "ok"})][:-1])
    assert many.status_code == 422
    assert many.json()["message"] == "Invalid params: too many images in request: 11 (at most 10)"
    fine = chat(api, messages=[{"role": "user", "content": "x", "attachments": [img1, doc]}])
    assert fine.status_code == 200


def test_embeddings_rules(api):
    def emb(**body):
        body.setdefault("model", "Embeddings")
        return api.post("/embeddings", json=body)

    assert emb(input=["ok"], model="Nope").json() == {"status": 404, "message": "No such model"}
    assert emb(input=["ok"], model="GigaChat").status_code == 404
    assert emb(input=[""]).json() == {"status": 422, "message": "Invalid params: input[0] is empty"}
    assert emb(input=[]).status_code == 422
    assert emb(input=[1]).status_code == 422
    assert emb(input=["x"] * 101).json() == {"status": 422, "message": "Invalid params: too many inputs: 101 (at most 100 per request)"}
    assert emb(input=["x"] * 100).status_code == 200
    long_text = " ".join(["word"] * 600)  # 600 tokens
    too_long = emb(input=["short", long_text])
    assert too_long.status_code == 413
    assert too_long.json() == {"status": 413, "message": "Input 1 is too long: 600 tokens, model Embeddings accepts at most 512"}
    assert emb(input=[long_text], model="EmbeddingsGigaR").status_code == 200
    assert emb(input=["word " * 4097], model="GigaEmbeddings-3B-2025-09").status_code == 413
    assert emb(input="a single string").status_code == 200


def test_tokens_count_rules(api):
    assert api.post("/tokens/count", json={"model": "Nope", "input": ["x"]}).status_code == 404
    assert api.post("/tokens/count", json={"model": "GigaChat", "input": [3]}).status_code == 422
    r = api.post("/tokens/count", json={"model": "GigaChat-2-Max", "input": ["Привет, мир"]})
    assert r.json() == [{"object": "tokens", "tokens": 3, "characters": 11}]


# ---- pure functions -------------------------------------------------------------------------------


def test_validate_chat_is_pure_and_raises_api_error():
    files = FileStore()
    validate_chat({"model": "GigaChat", "messages": [USER]}, files)
    with pytest.raises(ApiError) as err:
        validate_chat({"model": "GigaChat", "messages": [USER], "top_p": 2}, files)
    assert err.value.status == 422 and err.value.body()["message"].startswith("Invalid params: top_p")
    with pytest.raises(ApiError):
        validate_chat([], files)
    with pytest.raises(ApiError):
        validate_chat({"messages": [USER]}, files)


def body(messages, **kw):
    return {"model": "GigaChat", "messages": messages, **kw}


def test_reply_rules_in_priority_order():
    files = FileStore()
    f = [{"name": "alpha", "parameters": OBJ}, {"name": "beta", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}]
    # 2: functions + user last -> a call; named in the text wins over the first
    c = complete(body([{"role": "user", "content": "please use BETA"}], functions=f), files, None, [])
    assert c.function_call == {"name": "beta", "arguments": {"n": 1}} and c.finish_reason == "function_call"
    c = complete(body([USER], functions=f), files, None, [])
    assert c.function_call["name"] == "alpha"
    c = complete(body([{"role": "user", "content": "beta"}], functions=f, function_call={"name": "alpha"}), files, None, [])
    assert c.function_call["name"] == "alpha"
    # function_call "none" -> echo
    c = complete(body([USER], functions=f, function_call="none"), files, None, [])
    assert c.function_call is None and c.content == "Echo: hi"
    # 3: function result last
    msgs = [USER, {"role": "assistant", "function_call": {"name": "beta", "arguments": {}}}, {"role": "function", "content": '{"x": 1}'}]
    assert complete(body(msgs, functions=f), files, None, []).content == 'Function beta returned: {"x": 1}'
    # 4: response_format
    schema = {"type": "object", "properties": {"k": {"type": "string", "enum": ["v"]}}}
    c = complete(body([USER], response_format={"type": "json_schema", "schema": schema}), files, None, [])
    assert json.loads(c.content) == {"k": "v"}


def test_precached_tokens_is_the_common_message_prefix():
    files = FileStore()
    a = [{"role": "system", "content": "sys"}, USER]
    b = a + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]
    assert precached_tokens(b, serialize_messages(a), files) > 0
    assert precached_tokens(b, [], files) == 0
    changed = [{"role": "system", "content": "other"}] + b[1:]
    assert precached_tokens(changed, serialize_messages(b), files) == 0


def test_a_refused_feature_is_answered_with_the_apis_422_for_that_model_only(api, emu):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body = {"model": "GigaChat-2", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "schema": schema, "strict": True}}
    emu.refuse("json_schema", model="GigaChat-2")
    refused = api.post("/chat/completions", json=body)
    assert refused.status_code == 422
    assert refused.json() == {"status": 422, "message": "Invalid params: response_format json_schema is not supported for model GigaChat-2"}
    assert api.post("/chat/completions", json={**body, "model": "GigaChat-2-Max"}).status_code == 200
    emu.refuse("reasoning")
    assert api.post("/chat/completions", json={**body, "model": "GigaChat-2-Max", "reasoning_effort": "high"}).status_code == 422
    emu.reset()
    assert api.post("/chat/completions", json=body).status_code == 200
