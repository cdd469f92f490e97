"""Loopback helpers: an address where nothing listens, and Dify's file service."""

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def dify_file_service(data: bytes, content_type: str = "image/png") -> Iterator[str]:
    """Dify's file service on loopback, serving `data` at the URL it yields: what the plugin fetches
    when Dify passes a file by URL (MULTIMODAL_SEND_FORMAT=url)."""
    class Files(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/files/abc/file-preview"
    finally:
        server.shutdown()
        server.server_close()
