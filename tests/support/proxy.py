"""A real forward proxy for the tests: pproxy (PyPI, requirements-dev.txt) in its own process on
loopback, optionally demanding a user and password, counting what it forwarded from its log.

pproxy logs one line per proxied connection ("http <client> -> <host>:<port>": a CONNECT tunnel
for an https target, a forwarded connection for an http one) and one per refused request
("Unauthorized HTTP from <client>"). Started with `--auth 0`: pproxy otherwise remembers an IP
that authenticated once and lets it in without credentials for 30 days.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from urllib.parse import quote

from tests.support.net import closed_port

_TUNNEL = re.compile(r"^http \S+ -> (\S+)$")


class ForwardProxy:
    def __init__(self, user: str | None = None, password: str | None = None):
        self.user, self.password = user, password
        self.port = 0
        self.lines: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    def start(self, timeout: float = 30.0) -> ForwardProxy:
        self.port = closed_port()
        listen = f"http://127.0.0.1:{self.port}" + (f"#{self.user}:{self.password}" if self.user else "")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pproxy", "-l", listen, "-v", "--auth", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("pproxy did not start:\n" + "\n".join(self.lines))
        return self

    def _read(self) -> None:
        assert self._proc and self._proc.stdout
        for line in self._proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))
            if line.startswith("Serving on"):
                self._ready.set()

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The proxy's URL as a form takes it, with these (or its own) credentials %-escaped."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def tunnels(self, target: str | None = None) -> list[str]:
        """The targets (host:port) of every connection it forwarded, optionally only to `target`."""
        with self._lock:
            found = [m.group(1) for line in self.lines if (m := _TUNNEL.match(line))]
        return [t for t in found if target is None or t == target]

    def refused(self) -> int:
        """Requests it refused for missing or wrong credentials (answered 407)."""
        with self._lock:
            return sum(line.startswith("Unauthorized") for line in self.lines)

    def wait_for(self, count, predicate, timeout: float = 10.0) -> None:
        """Wait until predicate() reaches count (pproxy logs right after it forwards, asynchronously)."""
        deadline = time.monotonic() + timeout
        while predicate() < count and time.monotonic() < deadline:
            time.sleep(0.02)
