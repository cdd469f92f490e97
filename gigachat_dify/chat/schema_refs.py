"""THE ``$ref`` resolver for JSON Schemas: local references as full JSON Pointers (RFC 6901).

Tool schemas (``tool_schema.py``), structured output (``inline_refs`` below), argument and answer
type coercion (``json_values.py``) all resolve references here, so ``#/properties/a``,
``#/$defs/Item``, ``#/definitions/a~1b`` and ``#/items/0`` mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

__all__ = ["MAX_EXPANDED_NODES", "REF_RECURSION_LIMIT", "SIZE_NOTE", "inline_refs", "resolve"]

#: How many times one ``$ref`` may be expanded inside itself (recursive schemas such as trees).
REF_RECURSION_LIMIT = 2
#: Sub-schemas written before further ``$ref``s are no longer expanded. Mutually recursive
#: definitions that reference each other several times grow exponentially within the limit
#: above (5 definitions x 5 references: 34 MB and seconds; 6 x 6: hours).
MAX_EXPANDED_NODES = 2000
SIZE_NOTE = "(Details omitted: the schema is too large.)"

_MISSING = object()
#: Keywords whose value maps names to schemas (not a schema itself), and keywords holding data.
NAME_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "dependentSchemas"})
DATA_KEYWORDS = frozenset({"default", "const", "enum", "examples", "example"})


def resolve(root: Any, ref: str) -> Any:
    """The node ``ref`` points to inside ``root``, or None (not local, or nothing there).

    ``#`` is the root; ``#/a/b`` walks keys and list indexes; ``~1`` is ``/`` and ``~0`` is ``~``;
    the fragment may be percent-encoded (``#/$defs/a%20b``). External references are None: they
    cannot be fetched offline."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    pointer = unquote(ref[1:])
    if pointer == "":
        return root
    if not pointer.startswith("/"):
        return None  # "#anchor" (plain-name fragments) are not JSON Pointers
    node: Any = root
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is _MISSING:
            return None
    return node


def _as_mapping(target: Any) -> Mapping[str, Any] | None:
    """A referenced schema as a mapping: boolean schemas are true = anything, false = nothing."""
    if isinstance(target, Mapping):
        return target
    if target is True:
        return {}
    if target is False:
        return {"not": {}}
    return None


def inline_refs(schema: Mapping[str, Any], max_depth: int = REF_RECURSION_LIMIT) -> dict[str, Any]:
    """The schema with local ``$ref``s replaced by what they point to and ``$defs``/``definitions``
    dropped, nothing else changed. For structured output (``response_format``): GigaChat takes full
    JSON Schema there but no references (recorded on GigaChat-3-Ultra), and the answer must match
    the user's schema exactly, so it is not reduced like a function's.

    Sibling keywords of a ``$ref`` override the target's. A reference met more than ``max_depth``
    times inside itself (recursion), one that cannot be resolved, or any past the size budget
    becomes ``{"type": <target's type>, "description": ...}``."""
    root = schema if isinstance(schema, Mapping) else {}
    nodes = 0

    def walk(node: Any, seen: tuple[str, ...], names: bool = False) -> Any:
        nonlocal nodes
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        if not isinstance(node, Mapping):
            return node
        if names:  # {property name: schema}: every name is kept, even "definitions" or "$defs"
            return {k: walk(v, seen) for k, v in node.items()}
        nodes += 1
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = _as_mapping(resolve(root, ref))
            if target is not None and seen.count(ref) < max_depth and nodes < MAX_EXPANDED_NODES:
                return walk({**target, **{k: v for k, v in node.items() if k != "$ref"}}, seen + (ref,))
            if nodes >= MAX_EXPANDED_NODES:
                note = SIZE_NOTE
            elif target is None:
                note = f"(unresolved reference {ref})"
            else:
                note = f"(recursive {ref.rsplit('/', 1)[-1]})"
            stub: dict[str, Any] = {}
            if target is not None and isinstance(target.get("type"), str):
                stub["type"] = target["type"]
            stub["description"] = node.get("description") or note
            return stub
        return {
            k: v if k in DATA_KEYWORDS else walk(v, seen, k in NAME_MAP_KEYWORDS)
            for k, v in node.items()
            if k not in ("$defs", "definitions")
        }

    return walk(root, ())
