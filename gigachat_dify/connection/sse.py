"""GigaChat's event streams (v1 and v2 chat), read as the SSE format says.

The SDK reads them with httpx's ``iter_lines``, which splits lines like ``str.splitlines``: on
U+2028, U+2029, U+0085 and other Unicode separators too. An answer containing one (GigaChat writes
JSON with raw UTF-8) was cut inside its JSON, and the stream failed. Here lines end only at CR LF,
LF or CR (the SSE format's rule), events are the format's (``event``/``data`` fields, a blank line
dispatches, ``:`` comments), and what the SDK does not check is checked:

* an ``event: error`` is GigaChat's own report: ``StreamEventError`` carries its message;
* an event that is not what the contract sends: ``UnreadableEvent`` (with a bounded excerpt);
* a stream that ends before GigaChat said the answer is complete (v1: no ``finish_reason`` and no
  ``data: [DONE]``; v2: no ``response.message.done``): ``StreamCutOff``, never a clean end (on v2
  with the data of the last unnamed event, which v2 does not send: often a gateway's own words).

'Request timeout (seconds)' bounds the wait for each next event: the request's deadline
(``deadline.py``) is renewed when the reader is asked for the next one, so a long answer streams for
as long as its events keep coming, and a stream that trickles bytes but no event ends in time.

``EventStreams`` puts this reader under the SDK client's two chat streams (``client.stream`` and
``client.chat.stream``); the request itself is built by the SDK as before. The three exceptions are
``failures.py``'s (classified there, worded by ``errors.py``, a cut-off retried by ``retry.py``
while nothing was shown).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from gigachat import client as sdk_client
from gigachat.api import chat as v1_api
from gigachat.api import chat_completions as v2_api
from gigachat.api import utils as sdk_utils
from gigachat.authentication import _with_auth_stream
from gigachat.models.chat import ChatCompletionChunk as V1Chunk
from gigachat.models.chat_completions import ChatCompletionChunk as V2Chunk

from gigachat_dify.connection import answer_json, deadline
from gigachat_dify.failures import AnswerTooDeep, StreamCutOff, StreamEventError, UnreadableEvent
from gigachat_dify.redaction import excerpt

V2_DONE = "response.message.done"
_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    name: str  # "message" when the event names none
    data: str


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 bytes -> lines, ending only at CR LF, LF or CR (also when a CR LF is split across
    chunks); nothing else ends a line."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    partial: list[str] = []
    after_cr = False  # the last chunk ended with CR: a LF opening the next one belongs to it
    for chunk in chunks:
        text = decoder.decode(chunk)
        if after_cr and text:
            text = text[1:] if text[0] == "\n" else text
            after_cr = False
        if not text:
            continue
        lines = _EOL.split(text)
        if len(lines) > 1:
            yield "".join(partial) + lines[0]
            yield from lines[1:-1]
            partial.clear()
            after_cr = text[-1] == "\r"
        if lines[-1]:
            partial.append(lines[-1])
    partial.append(decoder.decode(b"", final=True))
    if any(partial):
        yield "".join(partial)


def iter_events(lines: Iterable[str]) -> Iterator[Event]:
    """Lines -> events. An event left open when the stream ends is delivered too (its data came)."""
    name, data = "", []
    for line in lines:
        if not line:
            if data:
                yield Event(name or "message", "\n".join(data))
            name, data = "", []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield Event(name or "message", "\n".join(data))


def _error_message(data: str) -> str:
    """GigaChat's words in an error event: its JSON ``message`` (also under ``error``), else the data."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return excerpt(data)
    if isinstance(body, dict):
        inner = body.get("error")
        for value in (body.get("message"), inner.get("message") if isinstance(inner, dict) else inner):
            if isinstance(value, str) and value.strip():
                return excerpt(value)
    return excerpt(data)


def _chunks(events: Iterable[Event], fast: Callable[[Event], Any], build: Callable[[Event, Any], Any]) -> Iterator[Any]:
    """The answer's events -> chunks: ``fast(event)`` reads one the normal way; data it refuses
    (ValueError) is read again (``answer_json``) and ``build(event, value)`` makes its chunk."""
    count, halves = 0, answer_json.Halves()

    def built(ready: list[tuple[Event, Any]]) -> list[Any]:
        nonlocal count
        out = []
        for event, value in ready:
            try:
                out.append(build(event, value))
            except ValueError:  # JSON of another shape (pydantic's error is a ValueError)
                raise UnreadableEvent(excerpt(event.data), count) from None
            count += 1
        return out

    for event in events:
        if event.name == "error":
            yield from built(halves.finish())
            raise StreamEventError(_error_message(event.data), count)
        chunk = value = None
        try:
            try:
                chunk = fast(event)
            except ValueError:
                value = answer_json.reread(event.data)
        except ValueError:  # not JSON at all
            raise UnreadableEvent(excerpt(event.data), count) from None
        except AnswerTooDeep:
            raise AnswerTooDeep(count) from None
        yield from built(halves.push(event, value))
        if value is None:
            count += 1
            yield chunk
    yield from built(halves.finish())


def v1_chunks(events: Iterable[Event]) -> Iterator[V1Chunk]:
    """v1: ``data: {chunk}`` events, then ``data: [DONE]``; the last chunk carries finish_reason."""
    done = False

    def answer(events: Iterable[Event]) -> Iterator[Event]:
        nonlocal done
        for event in events:
            if event.name != "error" and event.data.strip() == "[DONE]":
                done = True
                return
            yield event

    count, finished = 0, False
    for chunk in _chunks(answer(events), lambda e: V1Chunk.model_validate_json(e.data),
                         lambda e, value: V1Chunk.model_validate(value)):
        count += 1
        finished = finished or any(c.finish_reason for c in chunk.choices)
        yield chunk
    if not (done or finished):
        raise StreamCutOff(count)


def v2_chunks(events: Iterable[Event]) -> Iterator[V2Chunk]:
    """v2: named events (``response.message.delta``, ``response.tool.completed``...), the answer
    complete with ``response.message.done``."""
    unnamed, done = "", False

    def answer(events: Iterable[Event]) -> Iterator[Event]:
        nonlocal unnamed, done
        for event in events:
            if event.name == "message":
                unnamed = event.data  # v2 names every event it sends; as the SDK, anything unnamed is skipped
                continue
            yield event
            if event.name == V2_DONE:
                done = True
                return

    count = 0
    for chunk in _chunks(answer(events), _v2_fast, _v2_chunk):
        count += 1
        yield chunk
    if not done:
        raise StreamCutOff(count, excerpt(unnamed) if unnamed.strip() else "")


def _v2_fast(event: Event) -> V2Chunk:
    # v2 events are read with Python's json, which takes an escaped lone surrogate: such data is
    # read again (ValueError) for the halves to be joined or replaced.
    if answer_json.ESCAPED_SURROGATE.search(event.data):
        raise ValueError("an escaped surrogate")
    return _v2_chunk(event, answer_json.reread(event.data))


def _v2_chunk(event: Event, value: Any) -> V2Chunk:
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return V2Chunk.model_validate({**value, "event": event.name})


#: Bytes read after the answer's end for the connection to be kept (GigaChat sends none but the
#: body's end): more, and the connection is closed instead.
DRAIN_LIMIT = 64 * 1024


def read(http: httpx.Client, request: dict[str, Any], chunks: Callable[[Iterable[Event]], Iterator[Any]]) -> Iterator[Any]:
    """One streamed request (the SDK's keyword arguments for ``httpx.Client.stream``), its chunks."""
    with http.stream(**request) as response:
        sdk_utils._check_response(response)  # the SDK's errors for a status or a body that is no stream
        x_headers = sdk_utils.build_x_headers(response)
        limit = deadline.of(response)
        body = response.iter_bytes()
        for chunk in chunks(iter_events(iter_lines(body))):
            if hasattr(chunk, "x_headers"):
                chunk.x_headers = x_headers
            yield chunk
            if limit is not None:
                limit.renew()  # the timeout bounds the wait for each next piece, from when it is asked for
        _drain(body)


def _drain(body: Iterator[bytes]) -> None:
    """The body read to its end after the answer's last event (``[DONE]``, ``response.message.done``),
    as the SDK's own reader does: a response closed before its end closes its connection, and the
    next request would open a new one (a TCP connect and a TLS handshake) after every stream."""
    left = DRAIN_LIMIT
    try:
        for piece in body:
            left -= len(piece)
            if left < 0:
                return
    except httpx.TimeoutException:
        return  # the answer is complete; a body that does not end in time only costs its connection


class EventStreams:
    """Mixed in before the SDK's ``GigaChat``: its v1 and v2 chat streams read by this module. The
    SDK's own methods are these two lines each; its stream retry is left out (the plugin's client
    has ``max_retries=0``: ``retry.py`` decides)."""

    @_with_auth_stream
    def _stream(self, payload: Any) -> Iterator[V1Chunk]:
        chat = sdk_client._parse_chat(payload, self._settings)
        yield from read(self._client, v1_api._get_stream_kwargs(self._client, chat=chat, access_token=self.token),
                        v1_chunks)

    @_with_auth_stream
    def _chat_stream(self, payload: Any) -> Iterator[V2Chunk]:
        chat = sdk_client._parse_chat_completion(payload, self._settings)
        yield from read(self._client, v2_api._get_stream_kwargs(self._client, chat=chat, access_token=self.token),
                        v2_chunks)
