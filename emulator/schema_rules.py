"""JSON Schema rules: what GigaChat accepts in function parameters, and instances made from a schema.

Function parameter restrictions are the ones integrations report as 422 from the real API:
no $ref/$defs/definitions, no anyOf/oneOf/allOf, `type` is one string, every object has
`properties`, enum values are strings, `format` only date|date-time|time.
"""

from __future__ import annotations

import math
import re
from typing import Any

FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ALLOWED_TYPES = ("string", "number", "integer", "boolean", "array", "object")
ALLOWED_FORMATS = ("date", "date-time", "time")
_FORBIDDEN_KEYS = ("$ref", "$defs", "definitions", "anyOf", "oneOf", "allOf")


def function_schema_problems(schema: Any, path: str = "parameters") -> list[str]:
    """Every rule the schema breaks, each as "<path>: <why>", in document order (empty: accepted)."""
    problems: list[str] = []
    _check(schema, path, problems)
    return problems


def _check(node: Any, path: str, out: list[str]) -> None:
    if not isinstance(node, dict):
        out.append(f"{path}: schema must be an object")
        return
    for key in _FORBIDDEN_KEYS:
        if key in node:
            out.append(f"{path}.{key}: {key} is not supported")
    kind = node.get("type")
    if isinstance(kind, list):
        out.append(f"{path}.type: type must be a single string, not a list")
    elif kind is not None and kind not in ALLOWED_TYPES:
        out.append(f"{path}.type: type {kind!r} is not supported")
    if "enum" in node:
        enum = node["enum"]
        if not isinstance(enum, list) or not all(isinstance(v, str) for v in enum):
            out.append(f"{path}.enum: enum values must be strings")
    if "format" in node and node["format"] not in ALLOWED_FORMATS:
        out.append(f"{path}.format: format {node['format']!r} is not supported (only date, date-time, time)")
    properties = node.get("properties")
    if kind == "object" and properties is None:
        out.append(f"{path}: object must have properties")
    if properties is not None:
        if not isinstance(properties, dict):
            out.append(f"{path}.properties: properties must be an object")
        else:
            for name, sub in properties.items():
                _check(sub, f"{path}.properties.{name}", out)
    if "items" in node:
        items = node["items"]
        if isinstance(items, dict):
            _check(items, f"{path}.items", out)
        else:
            out.append(f"{path}.items: items must be a schema object")


# ---- instances -------------------------------------------------------------------------------

_STRING_FORMATS = {"date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z", "time": "12:00:00"}


def make_instance(schema: Any, *, required_only: bool = False, root: Any = None, depth: int = 0) -> Any:
    """A value valid against `schema`: objects get all properties (or only the required ones),
    arrays one item (or minItems), enums their first value, strings "example", numbers 1.
    Local $ref (#/$defs/..., #/definitions/...) and anyOf/oneOf/allOf are followed, since
    response_format schemas made by pydantic use them."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 32:
        return None
    if "$ref" in schema:
        return make_instance(_resolve(root, schema["$ref"]), required_only=required_only, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [o for o in schema[key] if not (isinstance(o, dict) and o.get("type") == "null")]
            return make_instance((options or schema[key])[0], required_only=required_only, root=root, depth=depth + 1)
    if schema.get("allOf"):
        merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(root, part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
            if isinstance(part, dict):
                merged.setdefault("properties", {}).update(part.get("properties", {}))
                merged["required"] = list(merged.get("required", [])) + list(part.get("required", []))
                for k, v in part.items():
                    merged.setdefault(k, v)
        return make_instance(merged, required_only=required_only, root=root, depth=depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"

    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        names = [n for n in props if n in required] if required_only else list(props)
        return {n: make_instance(props[n], required_only=required_only, root=root, depth=depth + 1) for n in names}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        items = schema.get("items")
        if isinstance(items, list):  # tuple form
            return [make_instance(i, required_only=required_only, root=root, depth=depth + 1) for i in items]
        item = make_instance(items or {"type": "string"}, required_only=required_only, root=root, depth=depth + 1)
        return [item for _ in range(count)]
    if kind == "string":
        if schema.get("format") in _STRING_FORMATS:
            return _STRING_FORMATS[schema["format"]]
        value = "example"
        min_len, max_len = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(value) < min_len:
            value = value + "x" * (min_len - len(value))
        if max_len is not None:
            value = value[: int(max_len)]
        return value
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    return None


def _number(schema: dict, *, integer: bool) -> float | int:
    value: float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is not None and value < low:
        value = math.ceil(low) if integer else low
    if ex_low is not None and value <= ex_low:
        value = math.floor(ex_low) + 1 if integer else ex_low + 0.5
    if high is not None and value > high:
        value = math.floor(high) if integer else high
    if ex_high is not None and value >= ex_high:
        value = math.ceil(ex_high) - 1 if integer else ex_high - 0.5
    return value


def _resolve(root: Any, ref: str) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return {}
    node = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def functions_problem(functions: list[dict]) -> str | None:
    """The first problem of a request's functions (names already checked) on either contract: a name
    given twice, or parameters GigaChat refuses."""
    names: set[str] = set()
    for i, f in enumerate(functions):
        name = f["name"]
        if name in names:
            return f"functions[{i}].name {name!r} is duplicated"
        names.add(name)
        if f.get("parameters") is not None:
            problems = function_schema_problems(f["parameters"], f"functions[{i}].parameters")
            if problems:
                return problems[0]
    return None
