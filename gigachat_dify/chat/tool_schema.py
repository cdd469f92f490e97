"""JSON Schema cleaning to what GigaChat functions accept, and function-name mapping.

GigaChat rejects (422) function schemas that use ``$ref``/``$defs``, ``anyOf``/``oneOf``/``allOf``,
type arrays such as ``["string", "null"]``, objects without ``properties``, non-string ``enum``
values and ``format`` other than date|date-time|time. Tools reaching a Dify model (MCP servers,
OpenAPI tools, workflows as tools, pydantic-generated schemas) use all of these. ``clean_schema``
rewrites such a schema into the subset GigaChat knows, keeping what the model needs to call the
tool well: every property, every ``required`` entry that still names a property, and every
description. Constraints that cannot be expressed (minimum/maximum, lengths, patterns, defaults,
other formats, union alternatives) are moved into the description as text instead of being lost.

Function names: GigaChat needs ``^[a-zA-Z_][a-zA-Z0-9_]*$``; Dify tool names may contain ``-`` or
``.``. ``build_function_names`` gives a collision-safe, per-request mapping
``{gigachat_name: dify_name}`` so tool calls coming back can be translated to Dify's names.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from dify_plugin.entities.model.message import PromptMessageTool

from gigachat_dify.chat.schema_refs import MAX_EXPANDED_NODES, REF_RECURSION_LIMIT, SIZE_NOTE, resolve

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "REF_RECURSION_LIMIT",
    "build_function_names",
    "clean_schema",
    "function_schemas",
    "gigachat_function_name",
    "to_gigachat_function",
    "to_gigachat_functions",
]

#: Nesting depth after which any sub-schema is cut the same way (guards against huge schemas).
MAX_DEPTH = 24

_TYPES = ("string", "number", "integer", "boolean", "array", "object")
# Loose type names seen in Dify tool declarations and hand-written schemas.
_TYPE_ALIASES = {
    "str": "string",
    "text": "string",
    "paragraph": "string",
    "select": "string",
    "secret-input": "string",
    "secret_input": "string",
    "file": "string",
    "files": "string",
    "any": "string",
    "float": "number",
    "double": "number",
    "decimal": "number",
    "int": "integer",
    "long": "integer",
    "bool": "boolean",
    "checkbox": "boolean",
    "list": "array",
    "tuple": "array",
    "dict": "object",
    "map": "object",
}
_RECURSION_NOTE = "(Nested structure of the same kind; depth limit reached.)"
_KEPT_FORMATS = frozenset({"date", "date-time", "time"})
# Both hosts' rules at once: gigachat.devices.sberbank.ru ^[a-zA-Z_][a-zA-Z0-9_]*$ (recorded), api.giga.chat
# ^[A-Za-z][A-Za-z0-9_.-]*$ (live, Sep 2026: a leading underscore is refused there).
_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_]")


# --------------------------------------------------------------------------- helpers


def _is_null_schema(node: Any) -> bool:
    if not isinstance(node, Mapping):
        return False
    t = node.get("type")
    if t == "null" or (isinstance(t, list) and t and all(x == "null" for x in t)):
        return True
    if "enum" in node and isinstance(node["enum"], list) and node["enum"] and all(v is None for v in node["enum"]):
        return True
    return "const" in node and node["const"] is None and len(node) <= 3


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        return str(value)


def _enum_text(value: Any) -> str:
    """An enum/const value as the string GigaChat requires (true -> "true", 1 -> "1")."""
    return _value_text(value)


def _join(description: str, extra: str) -> str:
    description = (description or "").strip()
    extra = extra.strip()
    if not extra:
        return description
    if not description:
        return extra
    if extra in description:
        return description
    sep = " " if description[-1] in ".!?:;)" else ". "
    return f"{description}{sep}{extra}"


def _normalise_type(raw: Any) -> tuple[str | None, list[str]]:
    """Return (chosen type, other non-null types) for ``type`` given as a string or a list."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return None, []
    out: list[str] = []
    for t in raw:
        if not isinstance(t, str):
            continue
        t = t.strip().lower()
        if t == "null":
            continue
        t = t if t in _TYPES else _TYPE_ALIASES.get(t, "string")
        if t not in out:
            out.append(t)
    if not out:
        return None, []
    return out[0], out[1:]


def _summary(node: Any) -> str:
    """A short human text for a schema branch, used to mention dropped union alternatives."""
    if not isinstance(node, Mapping):
        return "any value"
    if "const" in node:
        return _value_text(node["const"])
    if isinstance(node.get("enum"), list):
        return "one of " + ", ".join(_value_text(v) for v in node["enum"] if v is not None)
    t, _ = _normalise_type(node.get("type"))
    if t is None:
        if isinstance(node.get("properties"), Mapping):
            t = "object"
        elif "items" in node:
            t = "array"
    if t == "array":
        items = node.get("items")
        return "array of " + _summary(items) if isinstance(items, Mapping) and items else "array"
    if t == "object":
        props = node.get("properties")
        if isinstance(props, Mapping) and props:
            return "object with " + ", ".join(str(k) for k in props)
        return "object"
    if node.get("format") and t == "string":
        return f"string ({node['format']})"
    return t or "any value"


# --------------------------------------------------------------------------- cleaner


class _Cleaner:
    def __init__(self, root: Mapping[str, Any]):
        self.root = root
        self.nodes = 0  # sub-schemas written so far (see MAX_EXPANDED_NODES)

    # -- $ref -------------------------------------------------------------
    def _lookup(self, ref: str) -> Any:
        return resolve(self.root, ref)

    def _deref(self, node: Mapping[str, Any], refs: tuple[str, ...]) -> tuple[Mapping[str, Any] | None, tuple[str, ...], str]:
        """Follow ``$ref`` (sibling keywords override the target's). Returns (node, refs, cut_reason).

        ``node`` is None when the reference must be cut (recursion limit / unresolvable)."""
        seen_here: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if refs.count(ref) >= REF_RECURSION_LIMIT or ref in seen_here:
                return None, refs, "recursive"
            if self.nodes >= MAX_EXPANDED_NODES:
                return None, refs, "size"
            target = self._lookup(ref)
            if not isinstance(target, Mapping):
                logger.warning("tool schema: cannot resolve $ref %r; replaced by a generic object", ref)
                return None, refs, "unresolved"
            seen_here.add(ref)
            refs = refs + (ref,)
            # Sibling keywords (description, default...) are more specific than the target's.
            # A target that is itself a $ref keeps its "$ref" and the loop follows it.
            merged = dict(target)
            merged.update({k: v for k, v in node.items() if k != "$ref"})
            outer_d, target_d = node.get("description"), target.get("description")
            if isinstance(outer_d, str) and isinstance(target_d, str) and target_d.strip() and outer_d != target_d:
                merged["description"] = _join(outer_d, target_d)  # keep both: the outer one first
            node = merged
        return node, refs, ""

    @staticmethod
    def _stub(description: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if description:
            out["description"] = description
        out["properties"] = {}
        return out

    # -- allOf ------------------------------------------------------------
    def _merge_all_of(self, node: Mapping[str, Any], refs: tuple[str, ...]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
        """Merge allOf branches into one schema; returns it with the $refs expanded on the way."""
        out_refs = refs
        base = {k: v for k, v in node.items() if k != "allOf"}
        merged: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        descriptions: list[str] = []
        branches = [b for b in node.get("allOf") or [] if isinstance(b, Mapping)]
        for part in [*branches, base]:
            resolved, part_refs, _ = self._deref(part, refs)
            if resolved is None:
                continue
            if "allOf" in resolved:
                resolved, part_refs = self._merge_all_of(resolved, part_refs)
            out_refs = out_refs + tuple(r for r in part_refs[len(refs) :] if r not in out_refs[len(refs) :])
            for key, value in resolved.items():
                if key == "properties" and isinstance(value, Mapping):
                    properties.update(value)
                elif key == "required" and isinstance(value, list):
                    required.extend(r for r in value if r not in required)
                elif key == "description":
                    if isinstance(value, str) and value.strip():
                        descriptions.append(value)
                elif key == "type" and "type" in merged:
                    continue
                else:
                    merged[key] = value
        if properties:
            merged["properties"] = properties
            merged.setdefault("type", "object")
        if required:
            merged["required"] = required
        if descriptions:
            # The outer (sibling) description is the most specific one: put it first.
            outer = base.get("description")
            ordered = ([outer] if isinstance(outer, str) and outer.strip() else []) + [
                d for d in descriptions if d != outer
            ]
            text = ""
            for d in ordered:
                text = _join(text, d)
            merged["description"] = text
        return merged, out_refs

    # -- anyOf / oneOf ----------------------------------------------------
    def _reduce_union(self, node: Mapping[str, Any], refs: tuple[str, ...]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
        """Reduce anyOf/oneOf to one schema; returns it with the $refs expanded for the chosen branch."""
        key = "anyOf" if "anyOf" in node else "oneOf"
        outer = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        branches: list[Mapping[str, Any]] = []
        branch_refs: list[tuple[str, ...]] = []
        for raw in node.get(key) or []:
            if not isinstance(raw, Mapping):
                continue
            resolved, b_refs, _ = self._deref(raw, refs)
            if resolved is None:
                branches.append({"type": "object", "properties": {}, "$__cut": True})
                branch_refs.append(refs)
                continue
            if "allOf" in resolved:
                resolved, b_refs = self._merge_all_of(resolved, b_refs)
            if _is_null_schema(resolved):
                continue
            branches.append(resolved)
            branch_refs.append(b_refs)
        if not branches:
            result = dict(outer)
            if "type" not in result:
                result["type"] = "string"
            return result, refs

        # All branches constant scalars (Literal unions, oneOf of const with titles): one enum.
        if len(branches) > 1 and all(("const" in b or isinstance(b.get("enum"), list)) for b in branches):
            values: list[Any] = []
            notes: list[str] = []
            for b in branches:
                vals = [b["const"]] if "const" in b else list(b["enum"])
                values.extend(v for v in vals if v is not None and v not in values)
                note = b.get("description") or b.get("title")
                if isinstance(note, str) and note.strip() and "const" in b:
                    notes.append(f"{_value_text(b['const'])}: {note.strip()}")
            result = dict(outer)
            result["enum"] = values
            result.pop("const", None)
            if notes:
                result["description"] = _join(outer.get("description", ""), "; ".join(notes))
            return result, refs

        idx = 0
        if len(branches) == 1:
            others: list[Mapping[str, Any]] = []
        else:
            for i, b in enumerate(branches):
                props = b.get("properties")
                if _normalise_type(b.get("type"))[0] in (None, "object") and isinstance(props, Mapping) and props:
                    idx = i
                    break
            others = [b for i, b in enumerate(branches) if i != idx]
        chosen = branches[idx]

        if chosen.get("$__cut"):
            chosen = {"type": "object", "properties": {}, "description": _RECURSION_NOTE}
        result = dict(chosen)
        result.pop("title", None)
        # Outer keywords (description, default, ...) describe the property itself: they win.
        for k, v in outer.items():
            if k == "description":
                inner = chosen.get("description")
                result["description"] = _join(v, inner) if isinstance(inner, str) and inner != v else v
            else:
                result[k] = v
        if others:
            alternatives = "; ".join(_summary(o) for o in others)
            result["description"] = _join(result.get("description", ""), f"Other accepted forms: {alternatives}.")
        return result, branch_refs[idx]

    # -- main -------------------------------------------------------------
    def clean(self, node: Any, refs: tuple[str, ...] = (), depth: int = 0) -> dict[str, Any]:
        if isinstance(node, bool):
            # JSON Schema booleans: true = anything, false = nothing. Both -> a free string.
            return {"type": "string"}
        if not isinstance(node, Mapping):
            return {"type": "string"}
        self.nodes += 1

        outer_description = node.get("description") if isinstance(node.get("description"), str) else ""
        resolved, refs, cut = self._deref(node, refs)
        if resolved is None:
            target = self._lookup(node.get("$ref", "")) if isinstance(node.get("$ref"), str) else None
            desc = outer_description or (target.get("description", "") if isinstance(target, Mapping) else "")
            if cut == "recursive":
                desc = _join(desc, _RECURSION_NOTE)
            elif cut == "size":
                desc = _join(desc, SIZE_NOTE)
            return self._stub(desc)
        node = resolved

        # Combinators: reduce until none remains at this level.
        for _ in range(16):
            if "allOf" in node:
                node, refs = self._merge_all_of(node, refs)
            elif "anyOf" in node or "oneOf" in node:
                node, refs = self._reduce_union(node, refs)
            else:
                break
            node, refs, cut = self._deref(node, refs) if "$ref" in node else (node, refs, "")
            if node is None:
                return self._stub(outer_description)

        description = node.get("description") if isinstance(node.get("description"), str) else ""
        if depth > MAX_DEPTH:
            return self._stub(_join(description, "(Structure too deeply nested; details omitted.)"))

        notes: list[str] = []
        out: dict[str, Any] = {}

        # ---- type
        schema_type, other_types = _normalise_type(node.get("type"))
        if other_types:
            notes.append("Other accepted types: " + ", ".join(other_types) + ".")

        enum_values: list[str] | None = None
        if "const" in node and node["const"] is not None:
            enum_values = [_enum_text(node["const"])]
        elif isinstance(node.get("enum"), list):
            enum_values = []
            for v in node["enum"]:
                if v is None:
                    continue
                text = _enum_text(v)
                if text not in enum_values:
                    enum_values.append(text)
            if not enum_values:
                enum_values = None

        if enum_values is not None:
            schema_type = "string"
        elif schema_type is None:
            if isinstance(node.get("properties"), Mapping) or "additionalProperties" in node:
                schema_type = "object"
            elif "items" in node or "prefixItems" in node:
                schema_type = "array"
            elif any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
                schema_type = "number"
            else:
                schema_type = "string"
        out["type"] = schema_type

        # ---- format
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt:
            if fmt in _KEPT_FORMATS and schema_type == "string":
                out["format"] = fmt
            else:
                notes.append(f"Format: {fmt}.")

        # ---- constraints that GigaChat does not know -> description text
        for key, label in (
            ("minimum", "Minimum"),
            ("exclusiveMinimum", "Greater than"),
            ("maximum", "Maximum"),
            ("exclusiveMaximum", "Less than"),
            ("multipleOf", "Multiple of"),
            ("minLength", "Minimum length"),
            ("maxLength", "Maximum length"),
            ("pattern", "Pattern"),
            ("minItems", "Minimum items"),
            ("maxItems", "Maximum items"),
            ("minProperties", "Minimum properties"),
            ("maxProperties", "Maximum properties"),
        ):
            value = node.get(key)
            if value is None or isinstance(value, bool):
                continue  # a draft-4 boolean exclusiveMinimum/Maximum only qualifies minimum/maximum
            if key == "minimum" and node.get("exclusiveMinimum") is True:
                label = "Greater than"
            elif key == "maximum" and node.get("exclusiveMaximum") is True:
                label = "Less than"
            notes.append(f"{label}: {_value_text(value)}.")
        if node.get("uniqueItems") is True:
            notes.append("Items must be unique.")
        if "default" in node and node["default"] is not None:
            notes.append(f"Default: {_value_text(node['default'])}.")
        examples = node.get("examples")
        if isinstance(examples, list) and examples:
            notes.append("Example: " + _value_text(examples[0]) + ".")
        elif "example" in node and node["example"] is not None:
            notes.append("Example: " + _value_text(node["example"]) + ".")
        if node.get("deprecated") is True:
            notes.append("Deprecated.")

        # ---- structure
        if schema_type == "object":
            props_in = node.get("properties") if isinstance(node.get("properties"), Mapping) else {}
            props_out: dict[str, Any] = {}
            for name, sub in props_in.items():
                props_out[str(name)] = self.clean(sub, refs, depth + 1)
            additional = node.get("additionalProperties")
            if not props_out and isinstance(additional, Mapping) and additional:
                notes.append(f"Object with arbitrary keys; values: {_summary(self._deref(additional, refs)[0])}.")
            elif not props_out and additional is True:
                notes.append("Object with arbitrary keys.")
            out["properties"] = props_out
            req = node.get("required")
            if isinstance(req, list):
                kept: list[str] = []
                for r in req:
                    if isinstance(r, str) and r in props_out and r not in kept:
                        kept.append(r)
                if kept:
                    out["required"] = kept
        elif schema_type == "array":
            items = node.get("items")
            if isinstance(items, list):  # draft-4 tuple form
                items = items[0] if items else None
            if items is None and isinstance(node.get("prefixItems"), list) and node["prefixItems"]:
                items = node["prefixItems"][0]
            out["items"] = self.clean(items, refs, depth + 1) if isinstance(items, Mapping) and items else {"type": "string"}

        if enum_values is not None:
            out["enum"] = enum_values

        text = description
        for n in notes:
            text = _join(text, n)
        if text:
            out["description"] = text
        return _ordered(out)


def _ordered(out: dict[str, Any]) -> dict[str, Any]:
    order = ("type", "description", "enum", "format", "properties", "required", "items")
    return {k: out[k] for k in order if k in out}


def clean_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a copy of ``schema`` reduced to what GigaChat accepts; the input is never mutated.

    The result always is ``{"type": "object", "properties": {...}, "required": [...]}`` at the top
    (with ``description`` when the schema had one). A top-level schema that is not an object is
    wrapped as the single required property ``value``."""
    if not isinstance(schema, Mapping) or not schema:
        return {"type": "object", "properties": {}, "required": []}
    try:
        root = copy.deepcopy(dict(schema))
    except RecursionError:  # nested deeper than Python's recursion limit; the cleaner only reads it
        root = dict(schema)
    cleaner = _Cleaner(root)
    cleaned = cleaner.clean(root)
    if cleaned.get("type") != "object":
        logger.info("tool schema: top-level schema is not an object; wrapped as property 'value'")
        cleaned = {"type": "object", "properties": {"value": cleaned}, "required": ["value"]}
    out: dict[str, Any] = {"type": "object"}
    if cleaned.get("description"):
        out["description"] = cleaned["description"]
    out["properties"] = cleaned.get("properties", {})
    out["required"] = list(cleaned.get("required", []))
    return out


#: Distinct tool schemas whose cleaned form is kept (an MCP tool set is a few dozen).
CLEANED_CACHE_SIZE = 512


@functools.lru_cache(maxsize=CLEANED_CACHE_SIZE)
def _cleaned_json(schema_json: str) -> str:
    return json.dumps(clean_schema(json.loads(schema_json)), ensure_ascii=False)


def cleaned_parameters(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """``clean_schema``, computed once per distinct schema: each request reads its tools twice (the
    context estimate, then the payload) and an agent sends the same tools every turn. Every caller
    gets its own copy (the cache keeps JSON text)."""
    try:
        key = json.dumps(schema, ensure_ascii=False)  # insertion order kept: it is the order sent
    except (TypeError, ValueError, RecursionError):
        return clean_schema(schema)
    return json.loads(_cleaned_json(key))


# --------------------------------------------------------------------------- names


# Russian (and Ukrainian/Belarusian) letters as Latin, close to the ICAO 9303 passport scheme:
# "поиск_погоды" -> "poisk_pogody". The model reads the name, so it must stay readable.
_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "iu", "ia", "i", "i", "ie", "g", "u"],
    strict=True,
))


def _latin(text: str) -> str:
    """Cyrillic transliterated, other accented letters without their accents (é -> e)."""
    out = []
    for ch in text:
        low = ch.lower()
        if low in _CYRILLIC:
            latin = _CYRILLIC[low]
            out.append(latin.capitalize() if ch != low else latin)
        elif ch.isascii():
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "_")
    return "".join(out)


def gigachat_function_name(dify_name: str) -> str:
    """A readable name both GigaChat hosts accept (``^[a-zA-Z][a-zA-Z0-9_]*$``) derived from a Dify
    tool name: Cyrillic transliterated, other characters GigaChat refuses as ``_``, ``f`` before a
    name that does not start with a letter; a name left with no letter or digit becomes ``tool``.

    Not reversible on its own (``a-b`` and ``a.b`` both give ``a_b``): use
    ``build_function_names`` for the per-request reverse mapping."""
    name = _NAME_BAD_CHARS.sub("_", _latin(dify_name or ""))
    if not name.strip("_"):
        return "tool"
    if not name[0].isalpha():
        name = "f" + name
    return name


def build_function_names(tools: Iterable[PromptMessageTool | str] | None) -> dict[str, str]:
    """Map ``{gigachat_name: dify_name}`` for this request's tools, collision-safe.

    Names that already are valid keep themselves; others are sanitised and, on a clash, get
    ``_2``, ``_3``... appended. The same Dify name always maps to one GigaChat name."""
    names: list[str] = []
    for t in tools or []:
        n = t if isinstance(t, str) else t.name
        if n not in names:
            names.append(n)
    mapping: dict[str, str] = {}
    for n in names:  # valid names first: they keep their own name
        if _NAME_RE.match(n):
            mapping[n] = n
    for n in names:
        if _NAME_RE.match(n):
            continue
        base = gigachat_function_name(n)
        candidate, i = base, 2
        while candidate in mapping:
            candidate = f"{base}_{i}"
            i += 1
        mapping[candidate] = n
    return mapping


def to_gigachat_function(tool: PromptMessageTool, name: str | None = None) -> dict[str, Any]:
    """``{"name", "description", "parameters"}`` for the API's ``functions`` list.

    ``name`` is the GigaChat name from ``build_function_names`` (default: the sanitised tool
    name). GigaChat needs a description; an empty one is replaced by a neutral sentence."""
    gname = name or gigachat_function_name(tool.name)
    description = (tool.description or "").strip() or f"Tool {tool.name}."
    return {"name": gname, "description": description, "parameters": cleaned_parameters(tool.parameters)}


def to_gigachat_functions(tools: Iterable[PromptMessageTool] | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """All tools of a request: (functions for the payload, ``{gigachat_name: dify_name}``)."""
    tools = list(tools or [])
    mapping = build_function_names(tools)
    reverse = {dify: giga for giga, dify in mapping.items()}
    functions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for tool in tools:
        gname = reverse[tool.name]
        if gname in seen:
            logger.warning("tool %r is declared twice; the second declaration is ignored", tool.name)
            continue
        seen.add(gname)
        functions.append(to_gigachat_function(tool, gname))
    return functions, mapping


def function_schemas(tools: Iterable[PromptMessageTool] | None, mapping: Mapping[str, str]) -> dict[str, Any]:
    """``{gigachat_name: the tool's original parameter schema}``: what a call's arguments are
    converted back to (GigaChat sees a reduced schema, e.g. integer enums as strings)."""
    by_dify_name = {tool.name: tool.parameters for tool in tools or []}
    return {giga: by_dify_name[dify] for giga, dify in mapping.items() if isinstance(by_dify_name.get(dify), Mapping)}
