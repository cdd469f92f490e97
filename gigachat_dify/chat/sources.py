"""Web-search sources in answers: GigaChat's ``[sources=[n]]`` markers -> markdown links, and the list.

GigaChat's web search (v2 ``web_search`` tool) answers with text containing markers such as
``[sources=[2]]`` (or ``[sources=[1, 2]]``) and ``inline_data.sources`` ``{"2": {"url", "title"}}``
(recorded June 2026, cassette test_primary_chat_builtin_tools). The Dify user should see working
links, never the markers: each marker becomes ``[[2]](url)``, and the answer ends with a numbered
list of the sources. Streams may split a marker across chunks, so ``Citations.feed`` holds back
text from an incomplete marker. GigaChat sends the sources with the text that cites them (recorded:
the same part; the assembler takes an event's sources before its text), but a stream might
(unverified) send them a little later: a marker citing a source not known yet waits for it while at
most ``SOURCES_WAIT`` characters of answer follow, then is shown as at the answer's end (the known
sources linked, unknown ones dropped). A blocking answer's sources are all known before its text
(``v2/stream.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from gigachat_dify.chat.holdback import MORE, HoldBack, Token

MARKER_OPEN = "[sources="
#: Longest marker ("[sources=[...]]"); anything longer is ordinary text, streamed or not. The bound
#: keeps reading linear: unbounded, each "[sources=[" of an answer that never closes one was read
#: to the answer's end (40,000 of them in a blocking answer: 104 s of the process's CPU).
_MAX_MARKER = 64
#: Characters of answer after a marker during which the sources it cites may still come. Bounded: a
#: source GigaChat never listed held the whole rest of a stream back to its end (one chunk of
#: 468,891 characters after 7,816 events); a few events' text, which a source sent later would join.
SOURCES_WAIT = 128
_MARKER = re.compile(r"([ \t]*)\[sources=\[([^\]]{0,%d})\]\]" % (_MAX_MARKER - len("[sources=[]]")))


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
    rest. Markers whose sources did not come in time (``SOURCES_WAIT``) are dropped, with the space
    before them."""

    def __init__(self) -> None:
        self.sources: dict[int, Source] = {}
        self._scanner = HoldBack((MARKER_OPEN,), self._complete, lead=" \t")

    def add(self, raw: Any) -> None:
        self.sources.update(parse_sources(raw))

    def _render(self, match: re.Match[str]) -> str:
        links = [f"[[{n}]]({self.sources[n].url})" for n in _numbers(match.group(2)) if n in self.sources]
        return (match.group(1) + "".join(links)) if links else ""

    def feed(self, text: str, *, final: bool = False) -> str:
        pieces = self._scanner.push(text, final=final)
        return "".join(p.value if isinstance(p, Token) else p for p in pieces)

    def _complete(self, text: str, start: int, final: bool):
        """A marker (with the spaces before it) at ``start``: its end and links, MORE while it is
        unfinished or cites sources not known yet (for ``SOURCES_WAIT`` characters), None when it
        is not a marker after all."""
        match = _MARKER.match(text, start)
        if match is None:
            at = text.index(MARKER_OPEN, start)
            if not final and len(text) - at < _MAX_MARKER and text.find("]]", at) == -1:
                return MORE
            return None
        wanted = _numbers(match.group(2))
        if (not final and wanted and not all(n in self.sources for n in wanted)
                and len(text) - match.end() < SOURCES_WAIT):
            return MORE  # wait a little for the sources this marker cites
        return match.end(), self._render(match)

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
