"""schema_refs: the one $ref resolver (full JSON Pointers) for tools, structured output and coercion."""

from __future__ import annotations

import json

import pytest
from dify_plugin.entities.model.message import PromptMessageTool
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.chat.json_answers import parse_json_schema_parameter
from gigachat_dify.chat.schema_refs import MAX_EXPANDED_NODES, inline_refs, resolve
from gigachat_dify.chat.tool_schema import clean_schema, to_gigachat_function
from gigachat_dify.chat.v1.params import build_chat_payload

ROOT = {
    "properties": {"a": {"type": "integer"}, "a/b": {"type": "boolean"}, "x~y": {"type": "null"}},
    "$defs": {"Item": {"type": "string"}, "a b": {"type": "number"}},
    "definitions": {"Old": {"type": "array"}},
    "prefixItems": [{"const": 1}, {"const": 2}],
}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("#", ROOT),
        ("#/properties/a", {"type": "integer"}),
        ("#/properties/a~1b", {"type": "boolean"}),
        ("#/properties/x~0y", {"type": "null"}),
        ("#/$defs/Item", {"type": "string"}),
        ("#/$defs/a%20b", {"type": "number"}),
        ("#/definitions/Old", {"type": "array"}),
        ("#/prefixItems/1", {"const": 2}),
    ],
)
def test_references_are_full_json_pointers(ref, expected):
    assert resolve(ROOT, ref) == expected


@pytest.mark.parametrize("ref", ["#/properties/missing", "#/prefixItems/7", "https://x/s.json#/a", "#anchor", "#/$defs/Item/type/x"])
def test_what_a_reference_does_not_point_to_is_none(ref):
    assert resolve(ROOT, ref) is None


def test_structured_output_resolves_a_reference_by_its_whole_path_not_its_last_segment():
    # Before: "#/properties/a" was looked up as the definition "a" and became a fake recursive object.
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"$ref": "#/properties/a"}},
              "$defs": {"a": {"type": "string"}}}
    out = inline_refs(schema)
    assert out["properties"]["b"] == {"type": "integer"}
    assert "$defs" not in out


def test_tools_and_structured_output_resolve_the_same_reference_the_same_way():
    schema = {"type": "object", "properties": {"when": {"$ref": "#/$defs/Day"}, "again": {"$ref": "#/properties/when"}},
              "$defs": {"Day": {"type": "string", "format": "date", "description": "A day"}}}
    structured = inline_refs(schema)["properties"]
    tool = clean_schema(schema)["properties"]
    assert structured["again"] == structured["when"] == {"type": "string", "format": "date", "description": "A day"}
    assert tool["again"] == tool["when"] == {"type": "string", "description": "A day", "format": "date"}


def test_recursive_and_unresolvable_references_are_cut_with_a_note():
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}, "ext": {"$ref": "other.json#/x"}}}
    out = inline_refs(tree)
    depth, node = 0, out
    while "properties" in node["properties"]["child"]:
        node, depth = node["properties"]["child"], depth + 1
    assert depth == 2 and node["properties"]["child"]["type"] == "object"
    assert "unresolved" in out["properties"]["ext"]["description"]


def test_mutual_references_stay_within_the_node_budget():
    defs = {f"D{i}": {"type": "object", "properties": {f"p{j}": {"$ref": f"#/$defs/D{j}"} for j in range(6)}}
            for i in range(6)}
    out = inline_refs({"$ref": "#/$defs/D0", "$defs": defs})
    assert json.dumps(out).count('"type"') < MAX_EXPANDED_NODES * 7


@pytest.mark.parametrize(
    ("parameter", "schema"),
    [
        ({"name": "x", "schema": True}, {}),
        ('{"name": "x", "schema": true}', {}),
        ({"name": "x", "schema": {"type": "object"}}, {"type": "object"}),
        ({"name": "x", "schema": '{"type": "array"}'}, {"type": "array"}),
        ({"json_schema": {"name": "x", "schema": {"type": "string"}}}, {"type": "string"}),
        ({"type": "object", "properties": {}}, {"type": "object", "properties": {}}),
    ],
)
def test_the_json_schema_parameter_unwraps_to_the_schema_never_the_wrapper(parameter, schema):
    assert parse_json_schema_parameter(parameter) == schema
    sent = build_chat_payload("GigaChat-2", [{"role": "user", "content": "q"}],
                              {"response_format": "json_schema", "json_schema": parameter}, None, False)
    assert sent["response_format"]["schema"] == schema


def test_a_false_schema_is_refused_with_what_to_fix():
    with pytest.raises(InvokeBadRequestError, match="no answer can match"):
        parse_json_schema_parameter({"name": "x", "schema": False})


def test_tool_schema_reference_into_properties_is_followed():
    schema = {"type": "object", "properties": {"src": {"type": "string", "enum": ["a", "b"]}, "dst": {"$ref": "#/properties/src"}}}
    fn = to_gigachat_function(PromptMessageTool(name="copy", description="d", parameters=schema))
    assert fn["parameters"]["properties"]["dst"] == {"type": "string", "enum": ["a", "b"]}
