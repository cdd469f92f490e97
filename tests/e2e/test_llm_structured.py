"""Structured output on every chat model through Dify's stdio protocol: native where GigaChat takes
the schema, the plugin's own instruction (checked, one repair) where it refuses it; reasoning refusals."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping

import jsonschema
import pytest
from pydantic import TypeAdapter

from tests.support.daemon import collect_text, system, user

MODELS = ["GigaChat-2", "GigaChat-2-Pro", "GigaChat-2-Max", "GigaChat-3-Ultra"]
MODES = pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
# What Dify's LLM node sends: its booleans already turned into strings ("done").
SCHEMA = {"type": "object",
          "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}, "done": {"type": "string"},
                         "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["answer", "n", "done", "tags"], "additionalProperties": False}
PARAMS = {"response_format": "json_schema", "json_schema": json.dumps({"schema": SCHEMA, "name": "llm_response"})}
GOOD = {"answer": "Moscow", "n": 3, "done": "true", "tags": ["city"]}
_tenants = itertools.count(1)


@pytest.fixture
def tenant(credentials):
    """Credentials of a workspace of its own: refusals are remembered per credentials, process-wide."""
    return dict(credentials, timeout=str(20 + next(_tenants) / 1000))


def chats(emulator):
    return [r for r in emulator.log if r.path == "/chat/completions"]


def dify_parse(text: str):
    """Dify's own parse of a structured answer (structured_output.py): strict JSON first."""
    return TypeAdapter(Mapping).validate_json(text)


@MODES
@pytest.mark.parametrize("model", MODELS)
def test_structured_output_is_native_where_the_api_takes_the_schema(plugin, tenant, emulator, model, stream):
    result = plugin.invoke_llm(model, tenant, [user("Give me the answer")], model_parameters=PARAMS, stream=stream)
    assert result.ok, result.error
    jsonschema.validate(dify_parse(collect_text(result)), SCHEMA)
    sent = chats(emulator)
    assert len(sent) == 1 and sent[0].json["response_format"] == {"type": "json_schema", "schema": SCHEMA, "strict": True}


@MODES
@pytest.mark.parametrize("model", MODELS)
def test_a_refused_schema_falls_back_in_the_same_invocation_and_is_remembered(plugin, tenant, emulator, model, stream):
    emulator.refuse("json_schema", model=model)
    emulator.enqueue_reply(content='Here is the JSON:\n```json\n{"answer": "Moscow", "n": "3", "done": true, '
                                   '"tags": ["city"]}\n```')
    result = plugin.invoke_llm(model, tenant, [system("You are terse."), user("Capital?")], model_parameters=PARAMS,
                               stream=stream)
    assert result.ok, result.error
    assert dify_parse(collect_text(result)) == GOOD  # the text around it dropped, types as declared
    refused, fallback = chats(emulator)
    assert refused.status == 422 and "response_format" in refused.json
    assert "response_format" not in fallback.json
    instruction = fallback.json["messages"][0]
    assert instruction["role"] == "system" and instruction["content"].startswith("You are terse.")
    assert json.dumps(SCHEMA, ensure_ascii=False) in instruction["content"]

    # The next request of this workspace skips the refused call.
    emulator.clear_log()
    emulator.enqueue_reply(content=json.dumps(GOOD))
    again = plugin.invoke_llm(model, tenant, [user("Capital?")], model_parameters=PARAMS, stream=stream)
    assert again.ok, again.error
    assert json.loads(collect_text(again)) == GOOD
    assert [("response_format" in r.json, r.status) for r in chats(emulator)] == [(False, 200)]


def test_a_refusal_is_not_taken_for_another_workspaces_account(plugin, tenant, credentials, emulator):
    emulator.refuse("json_schema", model="GigaChat-2-Pro")
    emulator.enqueue_reply(content=json.dumps(GOOD))
    assert plugin.invoke_llm("GigaChat-2-Pro", tenant, [user("q")], model_parameters=PARAMS, stream=False).ok
    emulator.capabilities.clear()  # another account on this host has the feature
    emulator.clear_log()
    other = dict(credentials, timeout="29.5")
    assert plugin.invoke_llm("GigaChat-2-Pro", other, [user("q")], model_parameters=PARAMS, stream=False).ok
    assert "response_format" in chats(emulator)[0].json


@MODES
def test_an_answer_that_does_not_match_gets_one_repair_with_the_problem(plugin, tenant, emulator, stream):
    emulator.refuse("json_schema", model="GigaChat-2")
    bad = '{"answer": "Moscow", "tags": ["city"], "done": "yes"}'
    emulator.enqueue_reply(content=bad, usage={"prompt_tokens": 100, "completion_tokens": 10})
    emulator.enqueue_reply(content=json.dumps(GOOD), usage={"prompt_tokens": 130, "completion_tokens": 12})
    shown = []
    result = plugin.invoke_llm("GigaChat-2", tenant, [user("Capital?")], model_parameters=PARAMS, stream=stream,
                               on_chunk=lambda c: shown.append(c["delta"]["message"]["content"]))
    assert result.ok, result.error
    assert json.loads(collect_text(result)) == GOOD
    assert "yes" not in "".join(shown)  # a held answer: the rejected one was never shown
    refused, first, repair = chats(emulator)
    assert repair.json["messages"][-2] == {"role": "assistant", "content": bad}
    assert "'n' is a required property" in repair.json["messages"][-1]["content"]
    usage = result.chunks[-1]["delta"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (230, 22)  # every call is counted


@MODES
def test_an_answer_that_still_does_not_match_after_the_repair_is_a_clear_error(plugin, tenant, emulator, stream):
    emulator.refuse("json_schema", model="GigaChat-2-Max")
    emulator.enqueue_reply(content="I think the answer is Moscow.")
    emulator.enqueue_reply(content='{"answer": "Moscow", "n": "three", "done": "true", "tags": []}')
    result = plugin.invoke_llm("GigaChat-2-Max", tenant, [user("Capital?")], model_parameters=PARAMS, stream=stream)
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "did not match the JSON Schema even after one repair" in result.error_message
    assert "at $.n" in result.error_message and "Simplify the schema" in result.error_message
    assert len(chats(emulator)) == 3  # refused, fallback, one repair: never more
    assert collect_text(result) == ""  # nothing invalid reached Dify


@MODES
def test_a_native_answer_cut_at_max_tokens_says_to_raise_it(plugin, tenant, emulator, stream):
    params = dict(PARAMS, max_tokens=3)
    result = plugin.invoke_llm("GigaChat-3-Ultra", tenant, [user("q")], model_parameters=params, stream=stream)
    assert result.error_type == "InvokeBadRequestError"
    assert "cut off at the output limit of 3 tokens" in result.error_message
    assert len(chats(emulator)) == 1  # a repair would be cut as well: none is tried


def test_reasoning_does_not_enter_a_structured_answer(plugin, tenant, emulator):
    emulator.enqueue_reply(content=json.dumps(GOOD), reasoning_content="Let me think {about} it.")
    params = dict(PARAMS, reasoning_effort="high")
    result = plugin.invoke_llm("GigaChat-3-Ultra", tenant, [user("q")], model_parameters=params, stream=True)
    assert result.ok, result.error
    assert dify_parse(collect_text(result)) == GOOD


@MODES
@pytest.mark.parametrize("model", ["GigaChat-2-Max", "GigaChat-3-Ultra"])
def test_reasoning_refused_by_the_host_names_the_setting_to_switch_off(plugin, tenant, emulator, model, stream):
    emulator.refuse("reasoning", model=model)
    result = plugin.invoke_llm(model, tenant, [user("2+2?")], model_parameters={"reasoning_effort": "medium"},
                               stream=stream)
    assert result.error_type == "InvokeBadRequestError"
    assert "Clear the 'Reasoning effort' parameter" in result.error_message
    assert "reasoning is not supported" in result.error_message  # GigaChat's own words are kept
    assert plugin.invoke_llm(model, tenant, [user("2+2?")], stream=stream).ok  # without it, the model answers


def test_reasoning_is_declared_where_gigachat_documents_it(plugin, credentials):
    declared = {}
    for model in MODELS:
        schema = plugin.model_schema(model, "llm", credentials)
        assert schema.ok, schema.error
        rules = schema.chunks[-1]["model_schema"]["parameter_rules"]
        declared[model] = "reasoning_effort" in {r["name"] for r in rules}
        assert "structured-output" in schema.chunks[-1]["model_schema"]["features"]
    assert declared == {"GigaChat-2": False, "GigaChat-2-Pro": False, "GigaChat-2-Max": True, "GigaChat-3-Ultra": True}


@MODES
def test_a_refused_reasoning_on_a_structured_request_is_not_taken_for_a_refused_schema(plugin, tenant, emulator,
                                                                                       stream):
    # It was: any 400 on a request with a schema was answered again without the schema.
    emulator.refuse("reasoning", model="GigaChat-2-Max", status=400)
    params = dict(PARAMS, reasoning_effort="high")
    result = plugin.invoke_llm("GigaChat-2-Max", tenant, [user("q")], model_parameters=params, stream=stream)
    assert result.error_type == "InvokeBadRequestError"
    assert "Clear the 'Reasoning effort' parameter" in result.error_message
    assert len(chats(emulator)) == 1 and "response_format" in chats(emulator)[0].json
    emulator.capabilities.clear()
    assert plugin.invoke_llm("GigaChat-2-Max", tenant, [user("q")], model_parameters=PARAMS, stream=stream).ok
    assert "response_format" in chats(emulator)[-1].json, "the schema's refusal was remembered"


# The 403 decision (issue 18): the three detectors disagreed on 403. A 403 naming a feature refuses
# that feature; a bare 403 is taken as a bare 400/422 is: structured output is tried once without
# the schema, and a reasoning request is told which setting to clear.


@MODES
def test_a_bare_403_on_a_structured_request_is_answered_without_the_schema(plugin, tenant, emulator, stream):
    emulator.refuse("json_schema", model="GigaChat-2-Pro", status=403, message="Forbidden")
    emulator.enqueue_reply(content=json.dumps(GOOD))
    result = plugin.invoke_llm("GigaChat-2-Pro", tenant, [user("q")], model_parameters=PARAMS, stream=stream)
    assert result.ok, result.error
    refused, fallback = chats(emulator)
    assert refused.status == 403 and "response_format" not in fallback.json
    assert dify_parse(collect_text(result)) == GOOD


@MODES
@pytest.mark.parametrize(("message", "error_type", "says"), [
    ("reasoning is not allowed for this scope", "InvokeBadRequestError", "Clear the 'Reasoning effort' parameter"),
    ("Forbidden", "InvokeAuthorizationError", "refused access (403: Forbidden)"),
], ids=["naming-reasoning", "bare"])
def test_a_403_on_a_reasoning_request_names_the_setting(plugin, tenant, emulator, message, error_type, says, stream):
    # It was "refused access ... Check the model is in your plan" and no word of the setting.
    emulator.refuse("reasoning", model="GigaChat-2-Max", status=403, message=message)
    result = plugin.invoke_llm("GigaChat-2-Max", tenant, [user("2+2?")], model_parameters={"reasoning_effort": "low"},
                               stream=stream)
    assert result.error_type == error_type and says in result.error_message
    assert "the 'Reasoning effort' parameter" in result.error_message
