"""json_values.coerce: values get the JSON types their schema declares, only where that is exact."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify.chat.json_values import coerce
from gigachat_dify.chat.tool_schema import clean_schema

TOOL = {
    "type": "object",
    "properties": {
        "level": {"type": "integer", "enum": [1, 2, 3]},
        "verbose": {"type": "boolean"},
        "mode": {"enum": [True, False, "auto"]},
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "ratio": {"type": "number"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
        "copy": {"$ref": "#/properties/level"},
        "name": {"type": "string"},
    },
    "$defs": {"Tag": {"type": "integer", "enum": [10, 20]}},
}


def test_arguments_as_gigachat_returns_them_get_the_tools_declared_types():
    got = {"level": "1", "verbose": "true", "mode": "false", "limit": "5", "ratio": "0.5", "tags": ["10", "20"],
           "copy": "3", "name": "Anna"}
    out = coerce(got, TOOL)
    assert out == {"level": 1, "verbose": True, "mode": False, "limit": 5, "ratio": 0.5, "tags": [10, 20],
                   "copy": 3, "name": "Anna"}
    assert type(out["level"]) is int and type(out["verbose"]) is bool
    jsonschema.validate(out, TOOL)


@pytest.mark.parametrize(
    ("value", "schema"),
    [("one", {"type": "integer"}), ("1.5", {"type": "integer"}), ("yes", {"type": "boolean"}),
     ("4", {"enum": [1, 2, 3]}), ("nan", {"type": "number"}), ({"a": 1}, {"type": "string"}), ("x", {"$ref": "#/nowhere"})],
)
def test_values_without_an_exact_counterpart_are_left_for_the_check_to_report(value, schema):
    assert coerce(value, schema) == value


def test_booleans_become_strings_where_dify_turned_the_schema_into_strings():
    # Dify's LLM node sends every boolean of the user's schema as "string".
    schema = {"type": "object", "properties": {"ok": {"type": "string"}, "n": {"type": "string"}}}
    assert coerce({"ok": True, "n": 3}, schema) == {"ok": "true", "n": "3"}


def test_the_value_is_never_mutated_and_valid_values_are_unchanged():
    value = {"level": 2, "verbose": False, "tags": [10]}
    before = copy.deepcopy(value)
    assert coerce(value, TOOL) == before and value == before


_scalars = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False))


def _text(v):
    return v if isinstance(v, str) else json.dumps(v)


@settings(max_examples=200, deadline=None)
@given(members=st.lists(_scalars, min_size=1, max_size=5, unique_by=_text), pick=st.integers(0, 4))
def test_any_enum_gigachat_saw_as_strings_comes_back_as_the_declared_member(members, pick):
    schema = {"type": "object", "properties": {"v": {"enum": members}}, "required": ["v"]}
    sent = clean_schema(schema)["properties"]["v"]["enum"]  # what GigaChat sees: strings only
    member = members[pick % len(members)]
    assert _text(member) in sent
    back = coerce({"v": _text(member)}, schema)["v"]  # the model answers one of the strings it saw
    assert back == member and type(back) is type(member)
