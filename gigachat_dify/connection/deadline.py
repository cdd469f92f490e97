"""THE bound of 'Request timeout (seconds)' on a request as a whole.

httpx's timeouts bound each read, not the answer: a host that sends a byte a second (a stuck
gateway, a proxy trickling a body or its headers) kept a request alive for ever. The form promises
the "longest wait for an answer, and for the next piece of a streamed answer", so every request the
plugin's clients send (OAuth, /token, the API) gets a `Deadline` of that many seconds when it is
sent: connecting, TLS, the request, the headers and a blocking answer's body all end by it. A
streamed answer's reader (sse.py) renews it at each event it delivers: a long answer streams for
minutes, a stream whose next event does not come in time ends.

It is kept where the bytes are read: `install` puts `_Backend` under a transport's connection pool,
whose network streams read and write with no more than the time left, and raise httpcore's timeout
(httpx's ReadTimeout...) once none is, which failures.py classifies as any timeout. The client's
`send` puts the request's deadline in force (a context variable: per greenlet under gevent); a
connection keeps the last one it saw for a streamed body, read after `send` returned. No thread,
timer or signal: a subtraction per read.
"""

from __future__ import annotations

import math
from contextvars import ContextVar, Token
from time import monotonic
from typing import Any

import httpcore
import httpx

KEY = "gigachat_dify.deadline"  # where a streamed response's extensions keep its deadline


class Deadline:
    __slots__ = ("seconds", "at")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = monotonic() + seconds

    def renew(self) -> None:
        """The next piece of a streamed answer is due `seconds` from now."""
        self.at = monotonic() + self.seconds


_current: ContextVar[Deadline | None] = ContextVar("gigachat_dify_deadline", default=None)


def start(request: httpx.Request, client_timeout: httpx.Timeout) -> Deadline:
    """The deadline of a request about to be sent: its read timeout (the form's value), from now
    (none: never, rather than the deadline of the connection's previous request)."""
    timeouts = request.extensions.get("timeout")
    seconds = timeouts.get("read") if timeouts else client_timeout.read
    return Deadline(seconds or math.inf)


def enter(deadline: Deadline) -> Token:
    return _current.set(deadline)


def leave(token: Token) -> None:
    _current.reset(token)


def of(response: httpx.Response) -> Deadline | None:
    return response.extensions.get(KEY)


def _left(deadline: Deadline, timeout: float | None, late: type[Exception]) -> float | None:
    """`timeout` for one socket operation, cut to the time the request has left."""
    left = deadline.at - monotonic()
    if left <= 0:
        raise late(f"no complete answer within {deadline.seconds:g} s")
    return left if timeout is None or left < timeout else timeout


class _Stream(httpcore.NetworkStream):
    """A connection's socket under the deadline of the request using it. A streamed body is read
    after `send` returned, with no deadline in force: one request at a time uses a connection
    (HTTP/1.1), so it is the deadline the stream saw last, that of the request whose headers it read."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline | None) -> None:
        self._inner = inner
        self._deadline = deadline

    def _timeout(self, timeout: float | None, late: type[Exception]) -> float | None:
        deadline = _current.get()
        if deadline is None:
            deadline = self._deadline
            if deadline is None:
                return timeout
        else:
            self._deadline = deadline
        return _left(deadline, timeout, late)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, self._timeout(timeout, httpcore.ConnectTimeout)),
                       self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        deadline = _current.get()
        if deadline is not None:
            timeout = _left(deadline, timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options), deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        deadline = _current.get()
        if deadline is not None:
            timeout = _left(deadline, timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options), deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(transport: httpx.BaseTransport | None) -> None:
    """Deadlines kept on every connection `transport` opens (direct or through a proxy). httpx has
    no argument for a pool's network backend: it is set on the pool before any connection exists."""
    pool = getattr(transport, "_pool", None)
    if pool is not None and not isinstance(pool._network_backend, _Backend):
        pool._network_backend = _Backend(pool._network_backend)
