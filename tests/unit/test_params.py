"""params: Dify model parameters -> GigaChat v1 payload fields."""

from __future__ import annotations

import copy
import json

import pytest
from dify_plugin.errors.model import InvokeBadRequestError
from gigachat.models.chat import Chat

from gigachat_dify.chat.v1.params import GREEDY_TOP_P, JSON_OBJECT_INSTRUCTION, build_chat_payload

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def build(params, functions=None, stream=False, messages=None):
    payload = build_chat_payload("GigaChat-2-Max", messages or MESSAGES, params, functions, stream)
    Chat.model_validate(payload)  # the SDK accepts it
    return payload


def test_plain_parameters_are_mapped_and_unknown_ones_ignored():
    p = build(
        {
            "temperature": 0.7,
            "top_p": 0.9,
            "max_tokens": 512,
            "repetition_penalty": 1.1,
            "profanity_check": False,
            "reasoning_effort": "high",
            "presence_penalty": 0.5,
            "some_future_param": "x",
        },
        stream=True,
    )
    assert p == {
        "model": "GigaChat-2-Max",
        "messages": MESSAGES,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 512,
        "repetition_penalty": 1.1,
        "profanity_check": False,
        "reasoning_effort": "high",
        "stream": True,
    }


@pytest.mark.parametrize("temperature", [0, 0.0, -1])
def test_temperature_zero_means_greedy_via_tiny_top_p_without_temperature(temperature):
    p = build({"temperature": temperature, "top_p": 0.8})
    assert "temperature" not in p
    assert p["top_p"] == GREEDY_TOP_P
    assert 0 < p["top_p"] < 1e-3


def test_out_of_range_values_are_not_sent():
    p = build({"top_p": 1.5, "max_tokens": 0, "repetition_penalty": 0, "reasoning_effort": "extreme"})
    assert p["top_p"] == 1.0
    assert "max_tokens" not in p and "repetition_penalty" not in p and "reasoning_effort" not in p


def test_profanity_check_strings_are_booleans():
    assert build({"profanity_check": "true"})["profanity_check"] is True
    assert build({"profanity_check": "false"})["profanity_check"] is False
    assert "profanity_check" not in build({})


def test_structured_output_schema_is_sent_whole_with_refs_inlined_and_strict():
    # GigaChat takes full JSON Schema in response_format (recorded: title, bounds,
    # additionalProperties); the answer must match the user's own schema, so only $refs change.
    schema = {
        "$defs": {"Level": {"type": "integer", "enum": [1, 2, 3]}},
        "type": "object",
        "properties": {
            "answer": {"type": "string", "title": "Answer"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "maximum": 10},
            "level": {"$ref": "#/$defs/Level"},
        },
        "required": ["answer", "n"],
        "additionalProperties": False,
    }
    params = {"response_format": "json_schema", "json_schema": json.dumps({"name": "reply", "schema": schema})}
    p = build(params)
    expected = {k: v for k, v in schema.items() if k != "$defs"}
    expected["properties"] = {**schema["properties"], "level": {"type": "integer", "enum": [1, 2, 3]}}
    assert p["response_format"] == {"type": "json_schema", "schema": expected, "strict": True}


def test_self_recursive_structured_output_schema_terminates():
    schema = {"$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
              "$ref": "#/$defs/Node"}
    p = build({"response_format": "json_schema", "json_schema": json.dumps(schema)})
    assert "$ref" not in json.dumps(p["response_format"])


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        json.dumps({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
        {"schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}},
        {"json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}},
    ],
)
def test_json_schema_accepted_as_bare_schema_dict_or_wrapped(raw):
    p = build({"response_format": "json_schema", "json_schema": raw})
    assert p["response_format"]["schema"] == {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def test_json_schema_without_response_format_still_applies():
    p = build({"json_schema": '{"type": "object", "properties": {}}'})
    assert p["response_format"]["type"] == "json_schema"


def test_invalid_json_schema_is_a_clear_bad_request():
    with pytest.raises(InvokeBadRequestError, match="not valid JSON"):
        build({"response_format": "json_schema", "json_schema": '{"type": "object", '})
    with pytest.raises(InvokeBadRequestError, match="no JSON schema"):
        build({"response_format": "json_schema"})
    with pytest.raises(InvokeBadRequestError, match="JSON object"):
        build({"response_format": "json_schema", "json_schema": "[1, 2]"})


@pytest.mark.parametrize("fmt", ["json_object", "JSON", "json"])
def test_json_object_adds_an_instruction_to_the_system_message_without_mutating_input(fmt):
    messages = copy.deepcopy(MESSAGES)
    p = build({"response_format": fmt}, messages=messages)
    assert messages == MESSAGES
    assert p["messages"][0]["content"] == f"Be brief.\n\n{JSON_OBJECT_INSTRUCTION}"
    assert "response_format" not in p
    p2 = build({"response_format": fmt}, messages=[{"role": "user", "content": "Hi"}])
    assert p2["messages"][0] == {"role": "system", "content": JSON_OBJECT_INSTRUCTION}


def test_text_response_format_changes_nothing():
    assert "response_format" not in build({"response_format": "text"})


def test_functions_enable_auto_function_call():
    fn = {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}, "required": []}}
    p = build({}, functions=[fn])
    assert p["functions"] == [fn] and p["function_call"] == "auto"
    assert "functions" not in build({}, functions=[]) and "function_call" not in build({}, functions=None)


def test_an_unknown_profanity_filter_value_is_a_clear_error_not_a_silent_off():
    with pytest.raises(InvokeBadRequestError, match="Profanity filter must be on or off"):
        build({"profanity_check": "maybe"})
    assert build({"profanity_check": 1})["profanity_check"] is True
