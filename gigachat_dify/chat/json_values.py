"""JSON values converted to the types their schema declares, where the conversion loses nothing.

Two places need it:

* tool-call arguments: GigaChat only takes string enums, so an ``enum`` of integers or booleans
  reaches it as ``["1", "2"]`` and the call comes back as ``{"level": "1"}``; Dify's tools
  validate strictly, so the arguments go back to the declared ``1`` (and ``"true"`` to ``true``,
  ``"12"`` to ``12`` for an integer property);
* structured output: Dify turns every ``boolean`` of the user's schema into ``string`` before the
  plugin sees it, so a model that answers ``true`` is converted to ``"true"``.

``coerce`` never raises and never guesses: a value that has no exact counterpart of the declared
type is returned unchanged (the schema check that follows reports it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from gigachat_dify.chat.schema_refs import resolve

__all__ = ["coerce"]

_INTEGER = re.compile(r"^[+-]?\d+$")
_MAX_DEPTH = 64


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, Mapping) else "unknown"


def _matches(value: Any, declared: str) -> bool:
    actual = _type_of(value)
    return actual == declared or (declared == "number" and actual == "integer")


def _text(value: Any) -> str:
    """How a scalar is written as a string enum value (tool_schema writes ``true`` and ``1``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _convert(value: Any, declared: str) -> tuple[bool, Any]:
    """(converted?, value) for a scalar of another type than ``declared``."""
    if declared == "string" and isinstance(value, (bool, int, float)) and value is not None:
        if isinstance(value, float) and not math.isfinite(value):
            return False, value
        return True, _text(value)
    if not isinstance(value, str):
        if declared == "integer" and isinstance(value, float) and value.is_integer():
            return True, int(value)
        return False, value
    text = value.strip()
    if declared == "integer" and _INTEGER.match(text):
        return True, int(text)
    if declared == "number":
        try:
            number = float(text) if text else math.nan
        except ValueError:
            return False, value
        if math.isfinite(number):
            return True, int(text) if _INTEGER.match(text) else number
    if declared == "boolean" and text.lower() in ("true", "false"):
        return True, text.lower() == "true"
    if declared == "null" and text.lower() in ("null", "none"):
        return True, None
    return False, value


def _declared_types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    return [x for x in t if isinstance(x, str)] if isinstance(t, list) else []


class _Coercer:
    def __init__(self, root: Any):
        self.root = root

    def value(self, value: Any, schema: Any, depth: int = 0, refs: tuple[str, ...] = ()) -> Any:
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return value
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in refs:
            target = resolve(self.root, ref)
            if isinstance(target, Mapping):
                merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
                return self.value(value, merged, depth + 1, refs + (ref,))
        for part in schema.get("allOf") or []:
            value = self.value(value, part, depth + 1, refs)
        for key in ("anyOf", "oneOf"):
            branches = [b for b in schema.get(key) or [] if isinstance(b, Mapping)]
            if branches:
                value = self._union(value, branches, depth, refs)
        if "enum" in schema and isinstance(schema["enum"], list):
            return self._enum(value, schema["enum"])
        if "const" in schema:
            return self._enum(value, [schema["const"]])
        types = _declared_types(schema)
        if types and not any(_matches(value, t) for t in types):
            for t in types:
                converted, new = _convert(value, t)
                if converted:
                    value = new
                    break
        if isinstance(value, list):
            return self._array(value, schema, depth, refs)
        if isinstance(value, Mapping):
            return self._object(value, schema, depth, refs)
        return value

    def _union(self, value: Any, branches: list, depth: int, refs: tuple[str, ...]) -> Any:
        # A branch the value already is of wins; else the first branch that converts it.
        resolved = []
        for b in branches:
            r = b.get("$ref")
            target = resolve(self.root, r) if isinstance(r, str) else b
            resolved.append((b, target if isinstance(target, Mapping) else {}))
        for b, target in resolved:
            if any(_matches(value, t) for t in _declared_types(target)) and not target.get("enum"):
                return self.value(value, b, depth + 1, refs)
        for b, target in resolved:
            new = self.value(value, b, depth + 1, refs)
            if new != value or _type_of(new) != _type_of(value):
                return new
        return value

    @staticmethod
    def _enum(value: Any, members: list) -> Any:
        if any(value == m and _type_of(value) == _type_of(m) for m in members):
            return value
        if isinstance(value, str):
            for m in members:
                if not isinstance(m, str) and _text(m) == value.strip():
                    return m
        else:
            for m in members:
                if isinstance(m, str) and m == _text(value):
                    return m
        return value

    def _array(self, value: list, schema: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> list:
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items")
        if isinstance(items, list):  # draft-4 tuple form
            prefix, items = items, schema.get("additionalItems")
        out = []
        for i, v in enumerate(value):
            sub = prefix[i] if i < len(prefix) else items
            out.append(self.value(v, sub, depth + 1, refs))
        return out

    def _object(self, value: Mapping, schema: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> dict:
        props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
        extra = schema.get("additionalProperties")
        return {k: self.value(v, props[k] if k in props else extra, depth + 1, refs) for k, v in value.items()}


def coerce(value: Any, schema: Any) -> Any:
    """``value`` with every scalar converted to its schema's declared type where that is exact
    (``"1"`` -> ``1`` for an integer or an enum of integers, ``"true"`` -> ``true`` for a boolean,
    ``true`` -> ``"true"`` for a string); everything else unchanged. Never mutates ``value``."""
    return _Coercer(schema).value(value, schema)
