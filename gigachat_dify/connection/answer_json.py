"""GigaChat's JSON that the fast reading refuses although it is valid, read again.

The SDK's models read an answer with pydantic-core's JSON parser (fast: the normal path), which
refuses two things JSON allows: an escaped lone UTF-16 surrogate (``"\\ud83d"``: half of a
character beyond the BMP, e.g. an emoji a stream cut between two events) and nesting deeper than
200 levels (a tool call's arguments). Only after it refused (or, for v2 events, which are read with
Python's json, when their data escapes a surrogate) is the data read here:

* ``reread``: Python's json, nested as deep as the interpreter reads; deeper is
  ``failures.AnswerTooDeep`` (an error about the answer, not about the Base URL);
* ``well_formed``: every lone half becomes U+FFFD, as invalid UTF-8 already does in a stream;
* ``Halves``: in a stream, an event whose string ends with the first half of a character is held
  until the next one, whose same string may begin with the second half: the two are joined again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from gigachat_dify.failures import AnswerTooDeep

#: A surrogate escaped in JSON text (the fast reading refuses it; Python's json reads a lone one).
ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def reread(data: str | bytes) -> Any:
    """The JSON value of ``data`` (ValueError: not JSON); lone surrogates stay lone (``well_formed``)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise AnswerTooDeep() from None


def _fixed(text: str) -> str:
    """Pairs joined into their character, a lone half U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _containers(value: Any) -> Iterator[tuple[dict | list, tuple]]:
    """(container, its path) of every dict and list in ``value``, without recursion: ``reread``
    reads values nested deeper than Python's recursion limit."""
    stack = [(value, ())] if isinstance(value, (dict, list)) else []
    while stack:
        node, path = stack.pop()
        yield node, path
        for key, item in (node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(item, (dict, list)):
                stack.append((item, (*path, key)))


def well_formed(value: Any) -> Any:
    """``value`` with every string (keys too) valid Unicode: changed in place, and returned."""
    if isinstance(value, str):
        return _fixed(value) if _SURROGATE.search(value) else value
    for node, _ in _containers(value):
        if isinstance(node, dict):
            for key in [k for k in node if _SURROGATE.search(k)]:
                node[_fixed(key)] = node.pop(key)
        for key in list(node.keys() if isinstance(node, dict) else range(len(node))):
            item = node[key]
            if isinstance(item, str) and _SURROGATE.search(item):
                node[key] = _fixed(item)
    return value


def _first_halves(value: Any) -> list[tuple]:
    """Paths of the strings that end with the first half of a character."""
    return [(*path, key) for node, path in _containers(value)
            for key, item in (node.items() if isinstance(node, dict) else enumerate(node))
            if isinstance(item, str) and item and "\ud800" <= item[-1] <= "\udbff"]


def _parent(value: Any, path: tuple) -> dict | list | None:
    """The container of the string at ``path`` in ``value``, if there is one."""
    try:
        for key in path[:-1]:
            value = value[key]
        return value if isinstance(value[path[-1]], str) else None
    except (KeyError, IndexError, TypeError):
        return None


class Halves:
    """The events of one stream read again, in order: ``push(tag, value)`` (value None for an event
    read the fast way) returns the ``(tag, value)`` pairs ready, made ``well_formed``; ``finish()``
    the one still held."""

    def __init__(self) -> None:
        self._held: tuple[Any, Any, list[tuple]] | None = None

    def push(self, tag: Any, value: Any) -> list[tuple[Any, Any]]:
        out = []
        if self._held is not None:
            held_tag, held, paths = self._held
            self._held = None
            for path in paths if value is not None else ():
                before, after, key = _parent(held, path), _parent(value, path), path[-1]
                if after is not None and "\udc00" <= after[key][:1] <= "\udfff":  # the second half
                    before[key] += after[key][0]
                    after[key] = after[key][1:]
            out.append((held_tag, well_formed(held)))
        if value is not None:
            paths = _first_halves(value)
            if paths:
                self._held = (tag, value, paths)
            else:
                out.append((tag, well_formed(value)))
        return out

    def finish(self) -> list[tuple[Any, Any]]:
        return self.push(None, None)
