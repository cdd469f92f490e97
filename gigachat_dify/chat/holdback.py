"""Holding back streamed text that may be the start of a token split across chunks.

A stream hands the answer over in pieces cut anywhere: a stop word, a ``<img .../>`` tag or a
``[sources=[n]]`` marker may begin at the end of one piece and end in the next. ``HoldBack`` is the
one mechanism the assembler's three scanners share (stop words in ``assembly.py``, tags in
``media.py``, markers in ``sources.py``); each only says what its tokens look like:

* ``openers``: the texts a token begins with; text is held from the earliest place where one of
  them begins or may still begin (a suffix that is a proper prefix of an opener);
* ``complete(text, start, final)``: given a token that may begin at ``start`` (its lead included,
  then an opener), the token's end and what it stands for (``(end, value)``), ``None`` when it is
  not a token after all (the opener's first character is then text), or ``MORE`` to wait for more
  text (taken as ``None`` when ``final``). Without it the opener itself is the token (stop words);
* ``lead``: characters that go with a token when right before it (the spaces before a marker,
  which a dropped marker takes with it; at most ``MAX_LEAD``); they are held too while a token may
  follow them.

``push(text)`` returns what can be shown now, ``finish()`` (or ``push(text, final=True)``) the
rest: text as ``str``, tokens as ``Token``. Whatever the split of the same text, the pieces joined
are the same (tests/unit/test_holdback.py).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: Lead characters that go with a token at most.
MAX_LEAD = 64
#: Characters of openers (all of a scanner's together) whose index is kept for the next scanner:
#: the plugin's own tokens and ordinary stop words; a request's huge stop words are not kept.
MAX_CACHED_OPENERS = 1024
#: Characters of each opener in ``_Index``'s pattern at most (its nesting depth); the rest is checked
#: in a set. Fewer when that would take more than PATTERN_NODES trie nodes: compiling costs about
#: 20 µs a node (the re module's parser is Python), so a request's thousands of stop words take a
#: few characters each.
DEPTH = 16
PATTERN_NODES = 500
#: What ``complete`` returns to wait for more text.
MORE: Any = object()

Complete = Callable[[str, int, bool], Any]


@dataclass(frozen=True)
class Token:
    text: str  # as it appeared in the answer, lead included
    value: Any  # what the scanner made of it


class HoldBack:
    def __init__(self, openers: Iterable[str], complete: Complete | None = None, *, lead: str = ""):
        self.openers = tuple(dict.fromkeys(o for o in openers if o))
        self._complete = complete
        self._lead = lead
        build = _index if sum(map(len, self.openers)) <= MAX_CACHED_OPENERS else _index.__wrapped__
        index = build(self.openers)
        self._find, self._partial_tail = index.find, index.partial_tail
        self.held = ""

    def push(self, text: str, *, final: bool = False) -> list[str | Token]:
        """The pieces of the text so far that can be shown now (``final``: all of them)."""
        return self._scan(text, final)

    def finish(self) -> list[str | Token]:
        return self._scan("", True)

    def _scan(self, text: str, final: bool) -> list[str | Token]:
        buf, self.held = self.held + text, ""
        if not self.openers:
            return [buf] if buf else []
        out: list[str | Token] = []
        pos = 0
        while True:
            at, end = self._find(buf, pos)
            tail = len(buf) if final else self._partial_tail(buf, pos)
            # A token may begin there (at ``at`` itself too: a longer opener may still follow): hold from it.
            if (tail < len(buf)) if at == -1 else (tail <= at):
                return self._hold(out, buf, pos, self._lead_start(buf, pos, tail))
            if at == -1:
                break
            start = self._lead_start(buf, pos, at)
            found = self._complete(buf, start, final) if self._complete else (end, None)
            if found is MORE and not final:
                return self._hold(out, buf, pos, start)
            if found is None or found is MORE:  # not a token: its first character is text
                _text(out, buf[pos:at + 1])
                pos = at + 1
                continue
            end, value = found
            _text(out, buf[pos:start])
            out.append(Token(buf[start:end], value))
            pos = end
        if final or not self._lead:
            _text(out, buf[pos:])
            return out
        return self._hold(out, buf, pos, self._lead_start(buf, pos, len(buf)))

    def _hold(self, out: list[str | Token], buf: str, pos: int, start: int) -> list[str | Token]:
        _text(out, buf[pos:start])
        self.held = buf[start:]
        return out

    def _lead_start(self, buf: str, floor: int, at: int) -> int:
        # At most MAX_LEAD of them: a long run of spaces streamed bit by bit is not held (and
        # walked back over) again at every piece.
        floor = max(floor, at - MAX_LEAD)
        while at > floor and buf[at - 1] in self._lead:
            at -= 1
        return at


class _Index:
    """Where openers are in a text. Built at a cost linear in the openers' total size: one pattern
    of their first characters (a trie: a place costs at most ``depth`` steps however many openers
    there are), a set and a sorted list for what lies beyond; never a pattern of all openers or of
    all their prefixes (that was count x length^2: 2,000 stop words of 200 characters took 76 s of
    the process's CPU). Openers shorter than ``depth`` (the plugin's tags and markers, ordinary
    stop words) are found by the pattern alone."""

    def __init__(self, openers: tuple[str, ...]):
        self.longest = max(map(len, openers), default=0)
        self._known = frozenset(openers)
        self._sorted = sorted(openers)
        self._depth = depth = _depth(openers)
        lengths: dict[str, set[int]] = {}
        trie: dict = {}
        for o in openers:
            lengths.setdefault(o[0], set()).add(len(o))
            node = trie
            for ch in o[:depth]:
                node = node.setdefault(ch, {})
            node[_ENDS if len(o) <= depth else _GOES_ON] = True
        #: {first character: the lengths of the openers it begins, longest first}
        self._lengths = {c: sorted(ns, reverse=True) for c, ns in lengths.items()}
        partial = _partial(trie, 0)
        self._found = re.compile(_found(trie)).search
        self._partial = re.compile(partial).search if partial is not None else None

    def find(self, buf: str, pos: int) -> tuple[int, int]:
        """(start, end) of the earliest opener from ``pos``, the longest one there; (-1, -1): none."""
        match = self._found(buf, pos)
        while match:
            at, end = match.span()
            if end - at < self._depth:  # a whole opener, and none longer begins there
                return at, end
            for n in self._lengths[buf[at]]:
                if at + n <= len(buf) and buf[at:at + n] in self._known:
                    return at, at + n
            match = self._found(buf, at + 1)
        return -1, -1

    def partial_tail(self, buf: str, pos: int) -> int:
        """Where the longest suffix that is a proper prefix of an opener begins (len(buf): none)."""
        if self._partial is None:
            return len(buf)
        match = self._partial(buf, max(pos, len(buf) - self.longest + 1))
        while match:
            at = match.start()
            if match.end() == len(buf) or self._begins_longer(buf[at:]):
                return at
            match = self._partial(buf, at + 1)
        return len(buf)

    def _begins_longer(self, text: str) -> bool:
        """Whether an opener longer than ``text`` begins with it: those come first among the openers
        not below ``text`` in sorted order, ``text`` itself (when an opener) before them."""
        i = bisect.bisect_left(self._sorted, text)
        if i < len(self._sorted) and self._sorted[i] == text:
            i += 1
        return i < len(self._sorted) and self._sorted[i].startswith(text)


_ENDS, _GOES_ON = "", None  # trie keys besides characters: an opener ends here; openers go on past the depth


def _depth(openers: tuple[str, ...]) -> int:
    """The most characters of each opener the pattern takes within PATTERN_NODES trie nodes (at least one)."""
    nodes = 0
    for depth in range(1, DEPTH + 1):
        nodes += len({o[:depth] for o in openers if len(o) >= depth})
        if nodes > PATTERN_NODES:
            return max(depth - 1, 1)
    return DEPTH


def _children(node: dict) -> list[tuple[str, dict]]:
    return sorted((k, v) for k, v in node.items() if k)


def _alternatives(alternatives: list[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


def _found(node: dict) -> str:
    """Pattern: an opener begins here (or may: past the depth). Longer first: the longest opener wins."""
    alternatives = [re.escape(ch) + _found(child) for ch, child in _children(node)]
    if _ENDS in node or _GOES_ON in node:
        alternatives.append("")
    return _alternatives(alternatives) if alternatives else "(?!)"  # no openers: nothing is found


def _partial(node: dict, depth: int) -> str | None:
    """Pattern: the text from here to its end is a proper prefix of an opener (or may be: past the depth)."""
    alternatives = []
    for ch, child in _children(node):
        rest = _partial(child, depth + 1)
        if rest is not None:
            alternatives.append(re.escape(ch) + rest)
    if _GOES_ON in node:
        alternatives.append("")
    elif depth and _children(node):
        alternatives.append(r"\Z")
    return _alternatives(alternatives) if alternatives else None


@functools.lru_cache(maxsize=256)
def _index(openers: tuple[str, ...]) -> _Index:
    """Built once per set of openers, not for every answer (each answer has a scanner for tags,
    markers and its stop words; the stop words of a workflow node are the same every time)."""
    return _Index(openers)


def _text(out: list[str | Token], text: str) -> None:
    if text:
        out.append(text)
