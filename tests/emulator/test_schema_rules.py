import jsonschema
import pytest
from pydantic import BaseModel

from emulator.schema_rules import FUNCTION_NAME, function_schema_problems, make_instance

WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "num_days": {"type": "integer"},
        "when": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "opts": {"type": "object", "properties": {"deep": {"type": "boolean"}}},
    },
    "required": ["location", "num_days"],
}


def test_a_plain_schema_is_accepted():
    assert function_schema_problems(WEATHER) == []
    assert function_schema_problems({"type": "object", "properties": {}}) == []


@pytest.mark.parametrize(
    "prop,expected",
    [
        ({"$ref": "#/$defs/X"}, "parameters.properties.p.$ref: $ref is not supported"),
        ({"anyOf": [{"type": "string"}]}, "parameters.properties.p.anyOf: anyOf is not supported"),
        ({"oneOf": [{"type": "string"}]}, "parameters.properties.p.oneOf: oneOf is not supported"),
        ({"allOf": [{"type": "string"}]}, "parameters.properties.p.allOf: allOf is not supported"),
        ({"type": ["string", "null"]}, "parameters.properties.p.type: type must be a single string, not a list"),
        ({"type": "object"}, "parameters.properties.p: object must have properties"),
        ({"type": "integer", "enum": [1, 2]}, "parameters.properties.p.enum: enum values must be strings"),
        ({"type": "string", "format": "email"}, "parameters.properties.p.format: format 'email' is not supported"),
        ({"type": "null"}, "parameters.properties.p.type: type 'null' is not supported"),
        ({"type": "array", "items": [{"type": "string"}]}, "parameters.properties.p.items: items must be a schema object"),
    ],
)
def test_each_restriction_names_the_offending_path(prop, expected):
    problems = function_schema_problems({"type": "object", "properties": {"p": prop}})
    assert problems and problems[0].startswith(expected)


def test_defs_at_the_top_and_nested_items_are_found():
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object"}}}, "$defs": {}}
    problems = function_schema_problems(schema)
    assert "parameters.$defs: $defs is not supported" in problems
    assert "parameters.properties.a.items: object must have properties" in problems
    assert function_schema_problems({"type": "object", "properties": {}, "definitions": {}})


@pytest.mark.parametrize("fmt", ["date", "date-time", "time"])
def test_allowed_formats(fmt):
    assert function_schema_problems({"type": "object", "properties": {"d": {"type": "string", "format": fmt}}}) == []


@pytest.mark.parametrize("name,ok", [("get_weather", True), ("_x1", True), ("1abc", False), ("get-weather", False), ("", False), ("имя", False)])
def test_function_name_pattern(name, ok):
    assert bool(FUNCTION_NAME.match(name)) is ok


def test_instance_for_function_arguments_has_only_required_properties():
    args = make_instance(WEATHER, required_only=True)
    assert args == {"location": "example", "num_days": 1}


def test_instance_with_all_properties_validates():
    instance = make_instance(WEATHER)
    jsonschema.validate(instance, WEATHER)
    assert instance["format"] == "celsius"
    assert instance["tags"] == ["example"]
    assert instance["when"] == "2024-01-01"


class Inner(BaseModel):
    label: str
    score: float


class Outer(BaseModel):
    answer: str
    n: int
    items: list[Inner]
    maybe: Inner | None = None


@pytest.mark.parametrize(
    "schema",
    [
        Outer.model_json_schema(),  # pydantic: $defs, $ref, anyOf with null
        {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}}, "required": ["answer", "n"], "additionalProperties": False},
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 10}, "x": {"type": "number", "exclusiveMinimum": 1}}},
        {"type": "array", "items": {"type": "string", "minLength": 10}, "minItems": 3},
        {"type": "object", "properties": {"k": {"const": "fixed"}, "t": {"type": ["integer", "null"]}}},
        {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {"type": "boolean"}}}]},
        {"type": "string", "maxLength": 3},
        {"type": "integer", "exclusiveMaximum": 0},
    ],
)
def test_instances_validate_against_their_schema(schema):
    jsonschema.validate(make_instance(schema), schema)
