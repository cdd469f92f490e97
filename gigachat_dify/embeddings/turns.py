"""Giving other requests a turn during long pure work.

dify_plugin runs every request of every workspace as a gevent greenlet on one thread (`import
dify_plugin` monkey-patches threads, sockets and `time.sleep`), so a loop that computes for a
second holds every other request for that second: a small chat waited 4.9 s while one workspace
embedded a 10 MB text. Long loops call a `Turns` now and then; once `SLICE` seconds of work have
passed it sleeps for a microsecond: under gevent a switch through one whole turn of the event loop
(other greenlets run and ready I/O is served: a sleep of 0 would only let greenlets that are
already runnable go first, not one waiting for its socket), without gevent a GIL release. Cheap
enough to call per item (a clock read).
"""

from __future__ import annotations

import time

#: The most work between two turns. Other requests wait at most about this long for this one.
SLICE = 0.01


class Turns:
    def __init__(self, slice_seconds: float = SLICE) -> None:
        self.slice = slice_seconds
        self.since = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.since >= self.slice:
            time.sleep(1e-6)
            self.since = time.monotonic()
