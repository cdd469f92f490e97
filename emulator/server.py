"""HTTP transport: a stdlib ThreadingHTTPServer speaking HTTP/1.1 with keep-alive, optional TLS.

It knows only emulator/wire.py: it reads a request, hands it to a wire.Handler and writes the
reply (a response, a stream event by event, or nothing); what to answer, and when a stream waits
or is cut, is decided above it. No asyncio, only blocking sockets and threads, so it also runs in a
process that gevent has monkey-patched (dify_plugin does that on import): threads then become
greenlets.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from emulator.wire import Cut, Drop, Handler, Headers, Request, Response, Stream, error_response

logger = logging.getLogger(__name__)

MAX_BODY = 128 * 1024 * 1024  # larger request bodies get 413 without being read
TLS_HANDSHAKE_TIMEOUT = 10.0


class Connections:
    """Open client connections, so stop() and refused-connection faults can cut them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.add(sock)

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)

    def close_all(self) -> None:
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        connections: Connections,
        ssl_context: ssl.SSLContext | None,
    ):
        self.handler = handler
        self.connections = connections
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        if not self.handler.accepting():
            # accept, then close at once
            self.handler.transport_event("refused")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):  # type: ignore[override]
        # TLS handshakes happen here, in the connection's own thread, never in the accept loop.
        if self.ssl_context is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        try:
            request.settimeout(TLS_HANDSHAKE_TIMEOUT)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError):
            self.handler.transport_event("tls_refused")
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):  # type: ignore[override]
        pass  # a client that goes away mid-response is normal here (timeouts, cut streams)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SynGX"  # as the real API's Server header
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls
    sys_version = ""
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # the emulator keeps its own request log

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        handler = self.server.handler
        if not handler.accepting():
            handler.transport_event("refused")
            self.close_connection = True
            return
        body = self._read_body()
        if body is None:
            return
        peer_cert = None
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                peer_cert = self.connection.getpeercert() or None
            except (ValueError, OSError):
                peer_cert = None
        req = Request(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers=Headers(self.headers.items()),
            body=body,
            peer_cert=peer_cert,
        )
        done = False

        def finish(status: int | None) -> None:
            # Called just before the last bytes go out, so a client that has read its response
            # already sees it in the log and the counters.
            nonlocal done
            if not done:
                done = True
                handler.finished(req, status)

        try:
            self._send(handler.handle(req), finish)
        except OSError:
            self.close_connection = True
        except Exception:  # a bug in the emulator: answer 500 rather than hang up silently
            logger.exception("emulator failed on %s %s", self.command, self.path)
            self.close_connection = True
            try:
                self._send(error_response(500), finish)
            except OSError:
                pass
        finally:
            finish(None)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    self._too_large()
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._too_large()
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _too_large(self) -> None:
        self.close_connection = True
        reply = error_response(413)
        self.send_response(413)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.server.handler.transport_event("too_large")

    def _send(self, reply: Response | Stream | Drop, finish: Callable[[int | None], None]) -> None:
        if isinstance(reply, Drop):
            self.close_connection = True
            finish(None)
            return
        if isinstance(reply, Response):
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            finish(reply.status)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()
            return
        self._send_stream(reply, finish)

    def _send_stream(self, stream: Stream, finish: Callable[[int | None], None]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in stream.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()
        try:
            for event in stream.events:
                if isinstance(event, Cut):
                    finish(200)
                    self._abort()
                    return
                self.wfile.write(b"%X\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            finish(200)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            finish(200)
            self.close_connection = True

    def _abort(self) -> None:
        """Close mid-body, without the chunked terminator: the client sees an incomplete stream."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
