"""Loopback helpers: an address where nothing listens, Dify's file service, a stuck gateway."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

MB = 1024 * 1024


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class FileService:
    url: str
    sent: int = 0  # body bytes that got out before the client stopped reading


@contextlib.contextmanager
def file_service(body: Callable[[], Iterable[bytes]], headers: dict[str, str]) -> Iterator[FileService]:
    """Dify's file service on loopback: what the plugin fetches when Dify passes a file by URL
    (MULTIMODAL_SEND_FORMAT=url). Every GET answers 200 with `headers` and the pieces `body()`
    yields, each written as it comes, so a test can serve far more than it holds. Without a
    Content-Length the body ends when the connection closes (HTTP/1.0)."""
    service = FileService("")

    class Files(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                for piece in body():
                    self.wfile.write(piece)
                    service.sent += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service.url = f"http://127.0.0.1:{server.server_address[1]}/files/abc/file-preview"
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


def generated(size: int, piece: int = MB) -> Callable[[], Iterator[bytes]]:
    """A body of `size` bytes made piece by piece: never more than one piece held."""
    def pieces() -> Iterator[bytes]:
        block = b"\xa5" * piece
        for start in range(0, size, piece):
            yield block if start + piece <= size else block[: size - start]
    return pieces


@contextlib.contextmanager
def dribbling_host(pace: float, *, headers_too: bool = False, lasting: float = 5.0,
                   head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
                   ) -> Iterator[str]:
    """A stuck gateway on loopback: every request is answered with `head` and then one byte of body
    every `pace` seconds (with `headers_too`, the head itself comes a byte at a time). Each byte is
    within any read timeout, so only a bound on the whole answer ends such a request; after `lasting`
    seconds the host hangs up, so a client without that bound fails a test instead of hanging it.
    Yields its root URL (http://127.0.0.1:port)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                until = time.monotonic() + lasting
                if headers_too:
                    for i in range(len(head)):
                        conn.sendall(head[i:i + 1])
                        time.sleep(pace)
                else:
                    conn.sendall(head)
                while time.monotonic() < until:
                    conn.sendall(b" ")
                    time.sleep(pace)
            except OSError:
                pass  # the client gave up

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
