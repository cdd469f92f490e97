"""Web-search sources in answers: GigaChat's ``[sources=[n]]`` markers -> markdown links, and the list.

GigaChat's web search (v2 ``web_search`` tool) answers with text containing markers such as
``[sources=[2]]`` (or ``[sources=[1, 2]]``) and ``inline_data.sources`` ``{"2": {"url", "title"}}``
(recorded June 2026, cassette test_primary_chat_builtin_tools). The Dify user should see working
links, never the markers: each marker becomes ``[[2]](url)``, and the answer ends with a numbered
list of the sources. Streams may split a marker across chunks and may (unverified) send the
sources after the text that cites them, so ``Citations.feed`` holds back text from an incomplete
marker, or from a marker whose source is not known yet, until it can be resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

MARKER_OPEN = "[sources="
_MARKER = re.compile(r"([ \t]*)\[sources=\[([^\]]*)\]\]")
#: Longest marker text we wait for; anything longer that still has not closed is ordinary text.
_MAX_MARKER = 64


@dataclass(frozen=True)
class Source:
    url: str
    title: str


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def safe_url(url: Any) -> str | None:
    """The URL as a markdown link target, or None when it must not be linked (not http(s))."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Characters that would end or break a markdown link target are percent-encoded.
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def parse_sources(raw: Any) -> dict[int, Source]:
    """``inline_data.sources`` (a mapping of number -> {url, title}, dicts or SDK ChatSource
    objects) -> {number: Source}. Entries without a linkable URL are left out."""
    out: dict[int, Source] = {}
    if not isinstance(raw, Mapping):
        return out
    for key, value in raw.items():
        try:
            number = int(str(key).strip())
        except ValueError:
            continue
        url = safe_url(_get(value, "url"))
        if url is None:
            continue
        title = _get(value, "title")
        out[number] = Source(url, title.strip() if isinstance(title, str) else "")
    return out


def _link_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").strip()


def source_title(source: Source) -> str:
    return _link_text(source.title) or urlsplit(source.url).netloc


def _numbers(inside: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", inside)]


class Citations:
    """Rewrites markers as they stream. ``add(sources)`` whenever GigaChat sends sources;
    ``feed(text)`` returns the text that can be shown now; ``feed("", final=True)`` releases the
    rest (markers whose sources never came are dropped, with the space before them)."""

    def __init__(self) -> None:
        self.sources: dict[int, Source] = {}
        self._held = ""

    def add(self, raw: Any) -> None:
        self.sources.update(parse_sources(raw))

    def _render(self, match: re.Match[str]) -> str:
        links = [f"[[{n}]]({self.sources[n].url})" for n in _numbers(match.group(2)) if n in self.sources]
        return (match.group(1) + "".join(links)) if links else ""

    def feed(self, text: str, *, final: bool = False) -> str:
        buf = self._held + text
        self._held = ""
        out: list[str] = []
        pos = 0
        while True:
            start = buf.find(MARKER_OPEN, pos)
            if start == -1:
                break
            match = _MARKER.match(buf, _ws_start(buf, pos, start))
            if match is None:
                if not final and len(buf) - start < _MAX_MARKER and "]]" not in buf[start:]:
                    out.append(buf[pos:_ws_start(buf, pos, start)])
                    self._held = buf[_ws_start(buf, pos, start):]
                    return "".join(out)
                out.append(buf[pos : start + 1])  # not a marker after all: keep it as text
                pos = start + 1
                continue
            wanted = _numbers(match.group(2))
            if not final and wanted and not all(n in self.sources for n in wanted):
                out.append(buf[pos : match.start()])
                self._held = buf[match.start() :]  # wait for the sources this marker cites
                return "".join(out)
            out.append(buf[pos : match.start()])
            out.append(self._render(match))
            pos = match.end()
        rest = buf[pos:]
        if not final:
            keep = _partial_marker_suffix(rest)
            if keep:
                self._held = rest[len(rest) - keep :]
                rest = rest[: len(rest) - keep]
        out.append(rest)
        return "".join(out)

    def source_list(self) -> str:
        """The numbered list that ends the answer ('' without sources)."""
        if not self.sources:
            return ""
        numbers = sorted(self.sources)
        if numbers == list(range(1, len(numbers) + 1)):
            lines = [f"{n}. [{source_title(self.sources[n])}]({self.sources[n].url})" for n in numbers]
        else:  # a markdown ordered list would renumber: keep GigaChat's numbers visible
            lines = [f"- \\[{n}\\] [{source_title(self.sources[n])}]({self.sources[n].url})" for n in numbers]
        return "\n\nSources:\n" + "\n".join(lines) + "\n"


def _ws_start(buf: str, floor: int, start: int) -> int:
    """Where the spaces right before a marker begin (they go with the marker)."""
    i = start
    while i > floor and buf[i - 1] in " \t":
        i -= 1
    return i


def _partial_marker_suffix(text: str) -> int:
    """Length of the longest suffix of ``text`` that may be the start of a marker, with the spaces
    before it (trailing spaces alone are held too: a marker may follow them)."""
    i = len(text)
    for k in range(min(len(MARKER_OPEN) - 1, len(text)), 0, -1):
        if MARKER_OPEN.startswith(text[-k:]):
            i = len(text) - k
            break
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    return len(text) - i
