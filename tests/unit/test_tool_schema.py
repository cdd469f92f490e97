"""tool_schema: real Dify tool schemas cleaned to what GigaChat functions accept."""

from __future__ import annotations

import copy
import enum
import re
from typing import Literal, Optional

import jsonschema
import pytest
from dify_plugin.entities.model.message import PromptMessageTool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from emulator.schema_rules import FUNCTION_NAME, function_schema_problems
from gigachat_dify.chat.tool_schema import (
    build_function_names,
    clean_schema,
    function_schemas,
    gigachat_function_name,
    to_gigachat_function,
    to_gigachat_functions,
)

ALLOWED_KEYS = {"type", "description", "properties", "required", "items", "enum", "format"}
ALLOWED_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def assert_gigachat_acceptable(schema: dict, path: str = "$") -> None:
    """Every rule GigaChat (or integrations reporting its 422s) enforces on function schemas."""
    assert isinstance(schema, dict), path
    assert set(schema) <= ALLOWED_KEYS, f"{path}: unknown keys {set(schema) - ALLOWED_KEYS}"
    assert schema.get("type") in ALLOWED_TYPES, f"{path}: type {schema.get('type')!r}"
    if "description" in schema:
        assert isinstance(schema["description"], str)
    if "enum" in schema:
        assert schema["type"] == "string", path
        assert schema["enum"] and all(isinstance(v, str) for v in schema["enum"]), path
    if "format" in schema:
        assert schema["format"] in {"date", "date-time", "time"}, path
    if schema["type"] == "object":
        assert isinstance(schema.get("properties"), dict), f"{path}: object without properties"
        for name, sub in schema["properties"].items():
            assert_gigachat_acceptable(sub, f"{path}.{name}")
        for r in schema.get("required", []):
            assert r in schema["properties"], f"{path}: required {r!r} is not a property"
    else:
        assert "properties" not in schema and "required" not in schema, path
    if schema["type"] == "array":
        assert "items" in schema, path
        assert_gigachat_acceptable(schema["items"], f"{path}[]")
    else:
        assert "items" not in schema, path


def assert_top_level(schema: dict) -> None:
    assert schema["type"] == "object"
    assert isinstance(schema["properties"], dict)
    assert isinstance(schema["required"], list)
    assert_gigachat_acceptable(schema)


# --------------------------------------------------------------------------- realistic inputs

# What a FastMCP (pydantic v2) server publishes for `search_issues(query, filters: Filters | None,
# limit: int | None = 20, sort: Literal[...] = "updated")` - as Dify's MCP tool passes it on.
MCP_SEARCH_ISSUES = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "title": "search_issuesArguments",
    "additionalProperties": False,
    "$defs": {
        "State": {"enum": ["open", "closed", "all"], "title": "State", "type": "string"},
        "Filters": {
            "title": "Filters",
            "type": "object",
            "description": "Narrow the search.",
            "properties": {
                "labels": {
                    "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                    "default": None,
                    "title": "Labels",
                    "description": "Label names, all must match.",
                },
                "state": {"$ref": "#/$defs/State", "default": "open"},
                "created_after": {
                    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                    "default": None,
                    "title": "Created After",
                },
            },
        },
    },
    "properties": {
        "query": {"type": "string", "title": "Query", "description": "Full-text search query."},
        "filters": {"anyOf": [{"$ref": "#/$defs/Filters"}, {"type": "null"}], "default": None},
        "limit": {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 100}, {"type": "null"}],
            "default": 20,
            "title": "Limit",
            "description": "Maximum results.",
        },
        "sort": {"enum": ["created", "updated", "comments"], "type": "string", "default": "updated", "title": "Sort"},
    },
    "required": ["query"],
}

# An OpenAPI operation as Dify's custom (OpenAPI) tool exposes it: formats, integer enums,
# OpenAPI 3.0 `nullable`, numeric bounds, examples.
OPENAPI_CREATE_BOOKING = {
    "type": "object",
    "properties": {
        "hotel_id": {"type": "string", "format": "uuid", "description": "Hotel identifier."},
        "check_in": {"type": "string", "format": "date", "description": "Arrival date."},
        "check_out": {"type": "string", "format": "date"},
        "arrival_time": {"type": "string", "format": "time", "nullable": True},
        "guests": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
        "room_class": {"type": "integer", "enum": [1, 2, 3], "description": "1 = standard, 2 = comfort, 3 = suite."},
        "price_limit": {"type": "number", "exclusiveMaximum": 100000, "example": 12000.5},
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "breakfast": {"type": "boolean", "enum": [True, False]},
        "tags": {"type": "array", "uniqueItems": True},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    },
    "required": ["hotel_id", "check_in", "check_out", "guests"],
}

# Dify "workflow as tool": built from the workflow's start-node variables.
WORKFLOW_AS_TOOL = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": ""},
        "top_k": {"type": "number", "description": "How many documents to use"},
        "mode": {"type": "string", "description": "Search mode", "enum": ["fast", "deep"]},
        "lang": {"type": "select", "description": "Answer language", "enum": ["ru", "en"]},
        "strict": {"type": "checkbox", "description": "Only exact matches"},
    },
    "required": ["query", "mode"],
}


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    city: str = Field(description="City name")
    street: Optional[str] = None


class Person(BaseModel):
    name: str = Field(description="Full name")
    kind: Literal["customer", "employee"] = "customer"
    priority: Priority = Priority.LOW
    address: Address | None = Field(default=None, description="Where the person lives")
    emails: list[str] = Field(default_factory=list)
    manager: Optional["Person"] = Field(default=None, description="The person's manager")
    score: float | int = 0


PYDANTIC_PERSON = Person.model_json_schema()


# --------------------------------------------------------------------------- tests


def test_mcp_schema_resolves_defs_and_nullable_unions_keeping_required_and_descriptions():
    original = copy.deepcopy(MCP_SEARCH_ISSUES)
    out = clean_schema(MCP_SEARCH_ISSUES)
    assert MCP_SEARCH_ISSUES == original, "input must not be mutated"
    assert_top_level(out)
    assert out["required"] == ["query"]
    props = out["properties"]
    assert props["query"] == {"type": "string", "description": "Full-text search query."}
    filters = props["filters"]
    assert filters["type"] == "object"
    assert filters["description"] == "Narrow the search."
    assert filters["properties"]["labels"] == {
        "type": "array",
        "description": "Label names, all must match.",
        "items": {"type": "string"},
    }
    assert filters["properties"]["state"]["enum"] == ["open", "closed", "all"]
    assert "Default: open" in filters["properties"]["state"]["description"]
    assert filters["properties"]["created_after"] == {"type": "string", "format": "date-time"}
    assert props["limit"]["type"] == "integer"
    for text in ("Maximum results.", "Minimum: 1", "Maximum: 100", "Default: 20"):
        assert text in props["limit"]["description"]
    assert props["sort"]["enum"] == ["created", "updated", "comments"]
    assert "$defs" not in str(out) and "$ref" not in str(out) and "title" not in out


def test_openapi_schema_keeps_date_formats_moves_other_formats_and_bounds_into_description():
    out = clean_schema(OPENAPI_CREATE_BOOKING)
    assert_top_level(out)
    p = out["properties"]
    assert out["required"] == ["hotel_id", "check_in", "check_out", "guests"]
    assert p["hotel_id"] == {"type": "string", "description": "Hotel identifier. Format: uuid."}
    assert p["check_in"]["format"] == "date"
    assert p["arrival_time"] == {"type": "string", "format": "time"}
    assert p["created_at"]["format"] == "date-time"
    assert p["guests"] == {"type": "integer", "description": "Minimum: 1. Maximum: 8. Default: 2."}
    assert p["room_class"] == {
        "type": "string",
        "description": "1 = standard, 2 = comfort, 3 = suite.",
        "enum": ["1", "2", "3"],
    }
    assert p["breakfast"]["enum"] == ["true", "false"]
    assert "Less than: 100000" in p["price_limit"]["description"]
    assert "Example: 12000.5" in p["price_limit"]["description"]
    assert "Format: email" in p["email"]["description"] and "Maximum length: 254" in p["email"]["description"]
    assert p["tags"]["items"] == {"type": "string"}
    assert p["metadata"]["properties"] == {}
    assert "arbitrary keys" in p["metadata"]["description"]


def test_workflow_as_tool_schema_keeps_enums_and_maps_dify_form_types():
    out = clean_schema(WORKFLOW_AS_TOOL)
    assert_top_level(out)
    assert out["required"] == ["query", "mode"]
    assert out["properties"]["query"] == {"type": "string"}  # empty description dropped
    assert out["properties"]["top_k"] == {"type": "number", "description": "How many documents to use"}
    assert out["properties"]["lang"]["type"] == "string"
    assert out["properties"]["strict"]["type"] == "boolean"


def test_pydantic_generated_schema_with_recursion_literal_and_int_enum_is_cleaned():
    out = clean_schema(PYDANTIC_PERSON)
    assert_top_level(out)
    p = out["properties"]
    assert out["required"] == ["name"]
    assert p["kind"]["enum"] == ["customer", "employee"]
    assert p["priority"]["enum"] == ["1", "2"]
    address = p["address"]
    assert address["type"] == "object"
    assert address["description"].startswith("Where the person lives")
    assert "A postal address." in address["description"]
    assert address["required"] == ["city"]
    assert address["properties"]["city"]["description"] == "City name"
    # Recursive $ref: expanded up to the limit, then cut to an empty object with its description.
    manager = p["manager"]
    assert manager["type"] == "object" and "name" in manager["properties"]
    depth, node = 0, manager
    while node["properties"].get("manager"):
        node = node["properties"]["manager"]
        depth += 1
    assert node["properties"] == {}
    assert "depth limit" in node["description"]
    assert depth <= 3
    assert p["score"]["type"] == "number"
    assert "Other accepted forms: integer" in p["score"]["description"]


def assert_function_accepted(fn: dict) -> None:
    """GigaChat's own rules for a function (the emulator's, from the API's reported 422s): the SDK's
    Function model accepts names and schemas GigaChat rejects, so it proves nothing here."""
    assert FUNCTION_NAME.match(fn["name"]), fn["name"]
    assert function_schema_problems(fn["parameters"], "parameters") == []


@pytest.mark.parametrize(
    ("name", "schema"),
    [("get-weather", {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string"}}}),
     ("поиск", {"type": "object", "properties": {"u": {"type": "string", "format": "uri"}}}),
     ("search", {"type": "object", "properties": {"q": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}})],
)
def test_the_emulator_rules_reject_what_the_sdk_model_lets_through(name, schema):
    # The check used below can fail: raw Dify names and schemas break GigaChat's rules.
    from gigachat.models.chat import Function

    Function.model_validate({"name": name, "description": "d", "parameters": schema})  # the SDK accepts it
    raw = {"name": name, "parameters": schema}
    assert not FUNCTION_NAME.match(raw["name"]) or function_schema_problems(raw["parameters"])


def test_cleaned_real_world_schemas_pass_gigachats_function_rules():
    for schema in (MCP_SEARCH_ISSUES, OPENAPI_CREATE_BOOKING, WORKFLOW_AS_TOOL, PYDANTIC_PERSON):
        assert function_schema_problems(schema)  # each breaks a rule as Dify sends it
        assert_function_accepted(to_gigachat_function(PromptMessageTool(name="my-tool.v2", description="d", parameters=schema)))


@pytest.mark.parametrize(
    ("schema", "instances"),
    [
        (
            # (without the Dify form types "select"/"checkbox", which are not JSON Schema types)
            {**WORKFLOW_AS_TOOL, "properties": {k: v for k, v in WORKFLOW_AS_TOOL["properties"].items() if k not in ("lang", "strict")}},
            [{"query": "q", "mode": "fast"}, {"query": "q", "mode": "deep", "top_k": 3}],
        ),
        (
            MCP_SEARCH_ISSUES,
            [
                {"query": "bug"},
                {"query": "bug", "limit": 5, "sort": "created"},
                {"query": "bug", "filters": {"labels": ["a"], "state": "closed", "created_after": "2025-01-01T00:00:00Z"}},
            ],
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"allOf": [{"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
                                    {"properties": {"y": {"type": "integer"}}}]},
                    "b": {"type": ["string", "null"]},
                    "c": {"const": "fixed"},
                },
                "required": ["a"],
            },
            [{"a": {"x": "1"}}, {"a": {"x": "1", "y": 2}, "b": "s", "c": "fixed"}],
        ),
    ],
)
def test_cleaned_schema_still_accepts_the_instances_the_original_accepts(schema, instances):
    cleaned = clean_schema(schema)
    for instance in instances:
        jsonschema.validate(instance, schema)
        jsonschema.validate(instance, cleaned)
    # Missing required fields stay invalid.
    if schema.get("required"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({}, cleaned)


def test_all_of_is_merged_with_properties_and_required_of_every_branch():
    schema = {
        "type": "object",
        "properties": {
            "item": {
                "description": "Outer",
                "allOf": [
                    {"$ref": "#/definitions/Base"},
                    {"type": "object", "properties": {"extra": {"type": "boolean"}}, "required": ["extra"]},
                ],
            }
        },
        "definitions": {"Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
    }
    item = clean_schema(schema)["properties"]["item"]
    assert item["type"] == "object"
    assert item["description"] == "Outer"
    assert set(item["properties"]) == {"id", "extra"}
    assert item["required"] == ["id", "extra"]


def test_union_of_objects_prefers_the_object_branch_and_mentions_alternatives():
    schema = {
        "type": "object",
        "properties": {
            "target": {
                "oneOf": [
                    {"type": "string", "description": "A user name"},
                    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
                ]
            }
        },
    }
    target = clean_schema(schema)["properties"]["target"]
    assert target["type"] == "object"
    assert target["required"] == ["id"]
    assert "Other accepted forms: string" in target["description"]


def test_enum_drops_null_and_const_becomes_single_string_enum():
    schema = {
        "type": "object",
        "properties": {
            "color": {"type": ["string", "null"], "enum": ["red", None, "blue"]},
            "version": {"const": 2},
            "nothing": {"type": "null"},
        },
    }
    p = clean_schema(schema)["properties"]
    assert p["color"] == {"type": "string", "enum": ["red", "blue"]}
    assert p["version"] == {"type": "string", "enum": ["2"]}
    assert p["nothing"]["type"] == "string"


def test_objects_always_get_properties_and_arrays_always_get_items():
    schema = {
        "type": "object",
        "properties": {
            "opts": {"type": "object"},
            "list": {"type": "array"},
            "tuple": {"type": "array", "items": [{"type": "integer"}, {"type": "string"}]},
            "untyped": {"description": "anything"},
            "nested": {"properties": {"k": {"type": "string"}}},
        },
        "required": ["opts", "ghost"],
    }
    out = clean_schema(schema)
    p = out["properties"]
    assert p["opts"] == {"type": "object", "properties": {}}
    assert p["list"] == {"type": "array", "items": {"type": "string"}}
    assert p["tuple"]["items"] == {"type": "integer"}
    assert p["untyped"] == {"type": "string", "description": "anything"}
    assert p["nested"]["type"] == "object"
    assert out["required"] == ["opts"]


def test_unresolvable_or_external_ref_becomes_a_described_empty_object():
    schema = {
        "type": "object",
        "properties": {"x": {"$ref": "https://example.com/schemas/x.json", "description": "External thing"}},
    }
    x = clean_schema(schema)["properties"]["x"]
    assert x == {"type": "object", "description": "External thing", "properties": {}}


def test_mutually_recursive_refs_terminate():
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
            "Loop": {"$ref": "#/$defs/Loop"},
        },
    }
    out = clean_schema(schema)
    assert_top_level(out)
    a = out["properties"]["a"]
    assert a["properties"]["b"]["properties"]["a"]["type"] == "object"  # expanded, then cut
    # A $ref that points at itself cannot be expanded at all.
    out2 = clean_schema({"type": "object", "properties": {"l": {"$ref": "#/$defs/Loop"}}, "$defs": schema["$defs"]})
    assert out2["properties"]["l"]["type"] == "object" and out2["properties"]["l"]["properties"] == {}


def test_empty_or_missing_schema_gives_an_empty_object_and_non_object_is_wrapped():
    assert clean_schema({}) == {"type": "object", "properties": {}, "required": []}
    assert clean_schema(None) == {"type": "object", "properties": {}, "required": []}
    wrapped = clean_schema({"type": "string", "description": "text"})
    assert wrapped["properties"]["value"] == {"type": "string", "description": "text"}
    assert wrapped["required"] == ["value"]


# --------------------------------------------------------------------------- names


def test_function_names_are_made_valid_for_both_hosts():
    from emulator.dialects import GIGA_FUNCTION_NAME

    for name in ("get-weather", "mcp.server.search", "1st_tool", "", "поиск", "a b", "搜索", "café", "_private", "__x"):
        made = gigachat_function_name(name)
        assert FUNCTION_NAME.match(made) and GIGA_FUNCTION_NAME.match(made), name
    assert gigachat_function_name("valid_name") == "valid_name"
    assert build_function_names(["_private", "1tool"]) == {"f_private": "_private", "f1tool": "1tool"}


@pytest.mark.parametrize(
    ("dify", "gigachat"),
    [("поиск_погоды", "poisk_pogody"), ("Курс-валют", "Kurs_valiut"), ("щётка.жёлтая", "shchetka_zheltaia"),
     ("café.search", "cafe_search"), ("搜索", "tool")],
)
def test_cyrillic_and_accented_tool_names_are_transliterated_not_blanked(dify, gigachat):
    assert gigachat_function_name(dify) == gigachat


def test_transliterated_names_stay_unique_and_map_back():
    tools = ["поиск", "poisk", "ПОИСК", "搜索", "查询"]
    mapping = build_function_names(tools)
    assert sorted(mapping.values()) == sorted(tools) and len(mapping) == len(tools)
    assert mapping["poisk"] == "poisk" and mapping["poisk_2"] == "поиск" and mapping["POISK"] == "ПОИСК"
    assert all(FUNCTION_NAME.match(k) and k.strip("_") for k in mapping)


def test_function_schemas_give_each_gigachat_name_its_tools_own_schema():
    schema = {"type": "object", "properties": {"level": {"type": "integer", "enum": [1, 2]}}}
    tools = [PromptMessageTool(name="уровень", description="d", parameters=schema)]
    functions, mapping = to_gigachat_functions(tools)
    assert function_schemas(tools, mapping) == {"uroven": schema}
    assert functions[0]["parameters"]["properties"]["level"]["enum"] == ["1", "2"]  # what GigaChat sees


def test_build_function_names_is_collision_safe_and_reversible():
    tools = ["search-docs", "search_docs", "search.docs", "1tool"]
    mapping = build_function_names(tools)
    assert mapping["search_docs"] == "search_docs"  # valid names keep themselves
    assert sorted(mapping.values()) == sorted(tools)
    assert len(mapping) == len(tools)
    assert all(re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", k) for k in mapping)


def test_to_gigachat_functions_uses_the_mapping_and_fills_missing_descriptions():
    tools = [
        PromptMessageTool(name="kb.search", description="", parameters=WORKFLOW_AS_TOOL),
        PromptMessageTool(name="kb_search", description="Other", parameters={}),
    ]
    functions, mapping = to_gigachat_functions(tools)
    names = [f["name"] for f in functions]
    assert names[1] == "kb_search"
    assert mapping[names[0]] == "kb.search"
    assert functions[0]["description"]  # GigaChat needs a description


# --------------------------------------------------------------------------- property test

_leaf = st.sampled_from(
    [
        {"type": "string"},
        {"type": "integer", "minimum": 0},
        {"type": ["number", "null"]},
        {"type": "null"},
        {"enum": [1, "a", None, True]},
        {"const": 3},
        {"type": "string", "format": "uri"},
        {"$ref": "#/$defs/Thing"},
        {},
        True,
    ]
)


def _extend(children):
    names = st.text("abcdefgh-_.", min_size=1, max_size=6)
    return st.one_of(
        st.builds(lambda p, r: {"type": "object", "properties": p, "required": r}, st.dictionaries(names, children, max_size=4), st.lists(names, max_size=3)),
        st.builds(lambda i: {"type": "array", "items": i}, children),
        st.builds(lambda bs: {"anyOf": bs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda bs: {"oneOf": bs, "description": "u"}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda bs: {"allOf": bs}, st.lists(children, min_size=1, max_size=2)),
        st.builds(lambda p: {"properties": p, "additionalProperties": False}, st.dictionaries(names, children, max_size=3)),
    )


_schemas = st.recursive(_leaf, _extend, max_leaves=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_schemas)
def test_any_schema_is_cleaned_to_something_gigachat_accepts(schema):
    root = {"type": "object", "properties": {"x": schema}, "$defs": {"Thing": {"type": "object", "properties": {"t": {"$ref": "#/$defs/Thing"}}}}}
    before = copy.deepcopy(root)
    out = clean_schema(root)
    assert root == before
    assert_top_level(out)
    assert function_schema_problems(out) == []


def test_a_schema_is_cleaned_once_for_the_estimate_the_payload_and_later_turns(monkeypatch):
    from dify_plugin.entities.model.message import UserPromptMessage

    from gigachat_dify.chat import tool_schema
    from gigachat_dify.tokens import context_overflow

    tool_schema._cleaned_json.cache_clear()
    calls = []
    real = tool_schema.clean_schema
    monkeypatch.setattr(tool_schema, "clean_schema", lambda schema: calls.append(1) or real(schema))
    tools = [PromptMessageTool(name="search_issues", description="Search issues", parameters=copy.deepcopy(MCP_SEARCH_ISSUES))]
    for _turn in range(3):  # an agent loop resends the same tools
        assert context_overflow([UserPromptMessage(content="find bugs")], tools, 131072) is None
        functions, _ = to_gigachat_functions(tools)
    assert len(calls) == 1
    assert functions[0]["parameters"] == real(MCP_SEARCH_ISSUES)
    functions[0]["parameters"]["properties"].clear()  # a caller changing its copy changes nothing else
    assert to_gigachat_functions(tools)[0][0]["parameters"] == real(MCP_SEARCH_ISSUES)
