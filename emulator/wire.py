"""What the transport and the layer above exchange: a request as it arrived, one of three replies (a
response, an event stream, a dropped connection), and the Handler interface the transport calls.
server.py knows only this module; everything about GigaChat lies above it (api.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

STATUS_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Headers(dict):
    """A plain dict of request headers whose lookups ignore case (clients differ in casing)."""

    def _key(self, key: str) -> str:
        if dict.__contains__(self, key):
            return key
        lower = key.lower()
        for k in self.keys():
            if k.lower() == lower:
                return k
        return key

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, self._key(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, self._key(key))

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, self._key(key), default)


@dataclass
class Request:
    method: str
    path: str  # without the query string
    headers: Headers
    body: bytes
    peer_cert: dict | None = None  # verified TLS client certificate (mutual TLS)
    context: Any = None  # the handler's own bookkeeping for this request


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class Cut:
    """In a stream's events: close the connection here, mid-body (the client sees a cut stream)."""


CUT = Cut()


@dataclass
class Stream:
    """A 200 text/event-stream answer. `events` are encoded SSE events, taken one at a time as they
    are sent (a generator may wait between them); CUT ends the connection without the terminator."""

    events: Iterable[bytes | Cut]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Drop:
    """Close the connection without answering."""


Reply = Response | Stream | Drop


class Handler(Protocol):
    """What the transport asks of the layer above."""

    def accepting(self) -> bool:
        """False: close every connection at once without answering."""

    def handle(self, req: Request) -> Reply:
        """The reply to one request (called in the connection's own thread)."""

    def finished(self, req: Request, status: int | None) -> None:
        """The reply's last bytes are about to go out (None: no answer was sent)."""

    def transport_event(self, kind: str) -> None:
        """Something only the transport saw: "refused" (a connection closed unanswered),
        "tls_refused" (a failed handshake), "too_large" (a body over MAX_BODY, answered 413)."""


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), headers=dict(headers or {}))


def error_response(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """The API's error body: {"status": N, "message": "..."}."""
    return json_response(status, {"status": status, "message": message or STATUS_MESSAGES.get(status, "Error")}, headers)


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def named_event(name: str, payload: Any) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def nginx_page(status: str) -> bytes:
    """What a web server that is not the GigaChat API answers (an unknown path, a forbidden one)."""
    return (f"<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()
