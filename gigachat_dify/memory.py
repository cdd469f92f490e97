"""THE memory of what the process has learnt from GigaChat's answers about a host or an account
(a refused feature, the form of function results a host takes): key -> value, forgotten after
``ttl`` seconds (an account may be given the feature later, a host may change), at most
``max_entries`` kept (the least recently learnt dropped first). Thread-safe: shared by every
request of the process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memory(Generic[K, V]):
    def __init__(self, max_entries: int, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries, self.ttl, self._clock = max_entries, ttl, clock

    def get(self, key: K) -> V | None:
        """What was learnt for ``key`` and has not expired, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() - entry[1] > self.ttl:
                del self._entries[key]
                return None
            return entry[0]

    def learn(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (value, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
