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

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: Lead characters that go with a token at most.
MAX_LEAD = 64
#: Characters of openers (all of a scanner's together) whose patterns are kept for the next
#: scanner: the plugin's own tokens and ordinary stop words; a request's huge stop words are not kept.
MAX_CACHED_OPENERS = 1024
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
        build = _patterns if sum(map(len, self.openers)) <= MAX_CACHED_OPENERS else _patterns.__wrapped__
        self._longest, self._opener, self._partial = build(self.openers)
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
            match = self._opener.search(buf, pos)
            at = match.start() if match else -1
            tail = len(buf) if final else self._partial_tail(buf, pos)
            # A token may begin there (at ``at`` itself too: a longer opener may still follow): hold from it.
            if (tail < len(buf)) if at == -1 else (tail <= at):
                return self._hold(out, buf, pos, self._lead_start(buf, pos, tail))
            if at == -1:
                break
            start = self._lead_start(buf, pos, at)
            found = self._complete(buf, start, final) if self._complete else (match.end(), None)
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

    def _partial_tail(self, buf: str, pos: int) -> int:
        """Where the longest suffix that is a proper prefix of an opener begins (len(buf): none)."""
        if self._partial is None:
            return len(buf)
        match = self._partial.search(buf, max(pos, len(buf) - self._longest + 1))
        return match.start() if match else len(buf)

    def _lead_start(self, buf: str, floor: int, at: int) -> int:
        # At most MAX_LEAD of them: a long run of spaces streamed bit by bit is not held (and
        # walked back over) again at every piece.
        floor = max(floor, at - MAX_LEAD)
        while at > floor and buf[at - 1] in self._lead:
            at -= 1
        return at


@functools.lru_cache(maxsize=256)
def _patterns(openers: tuple[str, ...]) -> tuple[int, re.Pattern[str] | None, re.Pattern[str] | None]:
    """(the longest opener's length, any opener, a suffix that may still become one): built once per
    set of openers, not for every answer (each answer has a scanner for tags, markers and its stop
    words; the stop words of a workflow node are the same every time)."""
    # Longest first: at one place the longest opener wins.
    return (max(map(len, openers), default=0), _alternatives(openers),
            _alternatives({o[:k] for o in openers for k in range(1, len(o))}, r"\Z"))


def _alternatives(texts: Iterable[str], end: str = "") -> re.Pattern[str] | None:
    """One pattern for any of these texts, the longest first (None for none)."""
    texts = sorted(texts, key=len, reverse=True)
    return re.compile("(?:" + "|".join(map(re.escape, texts)) + ")" + end) if texts else None


def _text(out: list[str | Token], text: str) -> None:
    if text:
        out.append(text)
