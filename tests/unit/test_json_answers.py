"""json_answers and the refusal memory: what a structured answer must be, and what is remembered."""

from __future__ import annotations

import json

import pytest
from dify_plugin.entities.model.message import SystemPromptMessage, UserPromptMessage
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.chat.json_answers import Spec, check, requested
from gigachat_dify.chat.v1.messages import convert_messages

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"},
                                           "ok": {"type": "string"}},
          "required": ["answer", "n"], "additionalProperties": False}


@pytest.mark.parametrize(
    "answer",
    [
        '{"answer": "x", "n": 3}',
        '{\n    "answer": "x",\n    "n": 3\n}',
        'Here is the JSON:\n```json\n{"answer": "x", "n": 3}\n```\nAnything else?',
        'Sure! {"answer": "x", "n": 3} Hope it helps.',
        '{"answer": "x"} is wrong, the right one is {"answer": "x", "n": 3}',
        '{"answer": "x", "n": "3"}',
    ],
)
def test_the_json_in_an_answer_is_found_and_given_the_declared_types(answer):
    verdict = check(answer, SCHEMA)
    assert verdict.ok, verdict.problem
    assert json.loads(verdict.text()) == {"answer": "x", "n": 3}


def test_a_boolean_answer_for_a_schema_dify_turned_into_strings_is_valid_as_a_string():
    verdict = check('{"answer": "x", "n": 1, "ok": true}', SCHEMA)
    assert verdict.ok and verdict.value["ok"] == "true"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ('{"answer": "x"}', "'n' is a required property"),
        ('{"answer": "x", "n": "three"}', "at $.n"),
        ('{"answer": "x", "n": 1, "extra": 2}', "Additional properties"),
        ("I cannot answer that.", "not a JSON value"),
        ('{"answer": "x", "n": NaN}', "not a JSON value"),
    ],
)
def test_an_answer_that_does_not_match_says_why(answer, problem):
    verdict = check(answer, SCHEMA)
    assert not verdict.ok and problem in verdict.problem
    assert len(verdict.problem) <= 300


def test_a_schema_that_cannot_be_checked_accepts_the_json_as_it_is():
    assert check('{"a": 1}', {"$ref": "https://example.com/remote.json"}).ok


def test_requested_only_for_json_schema_and_refuses_it_without_a_schema():
    assert requested({"response_format": "text"}) is None
    assert requested({}) is None
    assert requested({"json_schema": json.dumps({"name": "r", "schema": SCHEMA})}) == Spec(SCHEMA)
    with pytest.raises(InvokeBadRequestError, match="no JSON schema was given"):
        requested({"response_format": "json_schema"})


def test_the_fallback_instruction_carries_the_schema_into_the_one_system_message():
    spec = Spec(SCHEMA)
    messages = convert_messages(spec.instructed([SystemPromptMessage(content="Be brief."), UserPromptMessage(content="q")]))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("Be brief.")
    assert json.dumps(SCHEMA, ensure_ascii=False) in messages[0]["content"]
    assert Spec.without_schema({"response_format": "json_schema", "json_schema": "{}", "top_p": 0.5}) == {"top_p": 0.5}


