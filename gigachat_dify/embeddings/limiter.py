"""The adaptive limiter: how many embedding requests run at once, shared per credentials.

Halved on a 429 (AIMD), +1 after a run of successes up to the configured maximum, and paused for
the Retry-After; one per shared SDK client (so per credentials), so that concurrent Dify requests
(the indexing runner sends 10 at once) share one budget and one back-off.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

logger = logging.getLogger(__name__)

OK, RATE_LIMITED, FAILED = "ok", "rate_limited", "failed"


class Stop(Exception):
    """Internal: the call was cancelled (another batch failed) or its deadline passed."""


class AdaptiveLimiter:
    """Bounded, adaptive concurrency (AIMD) with a shared pause for Retry-After.

    `acquire` blocks until fewer than `limit` requests are in flight and no pause is active.
    A 429 halves `limit` (once per generation: the other 429s of the same burst do not halve it
    again) and pauses everyone; `increase_after` successes in a row raise it by one, up to `max`.
    Thread- and greenlet-safe (threading primitives are gevent-patched inside the plugin).
    """

    def __init__(self, max_concurrency: int, *, increase_after: int = 8) -> None:
        self._cond = threading.Condition()
        self._max = max(1, int(max_concurrency))
        self._limit = self._max
        self._in_flight = 0
        self._successes = 0
        self._generation = 0
        self._paused_until = 0.0
        self.increase_after = max(1, increase_after)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def max_concurrency(self) -> int:
        return self._max

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def set_max(self, max_concurrency: int) -> None:
        with self._cond:
            self._max = max(1, int(max_concurrency))
            self._limit = min(self._limit, self._max)
            self._cond.notify_all()

    def acquire(self, deadline: float | None = None, cancelled: threading.Event | None = None) -> int:
        with self._cond:
            while True:
                if cancelled is not None and cancelled.is_set():
                    raise Stop("cancelled")
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise Stop("deadline")
                if now >= self._paused_until and self._in_flight < self._limit:
                    self._in_flight += 1
                    return self._generation
                timeout = 0.25  # wake up now and then to notice cancellation
                if self._paused_until > now:
                    timeout = min(timeout, self._paused_until - now)
                if deadline is not None:
                    timeout = min(timeout, deadline - now)
                self._cond.wait(max(timeout, 0.001))

    def release(self, generation: int, outcome: str = OK, pause: float = 0.0) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if outcome == OK:
                self._successes += 1
                if self._successes >= self.increase_after and self._limit < self._max:
                    self._limit += 1
                    self._successes = 0
            elif outcome == RATE_LIMITED:
                self._successes = 0
                if generation == self._generation:
                    self._limit = max(1, self._limit // 2)
                    self._generation += 1
                    logger.warning("GigaChat embeddings: 429, parallel requests lowered to %d", self._limit)
                if pause > 0:
                    self._paused_until = max(self._paused_until, time.monotonic() + pause)
            self._cond.notify_all()


_limiters: weakref.WeakKeyDictionary[Any, AdaptiveLimiter] = weakref.WeakKeyDictionary()
_limiters_lock = threading.Lock()


def shared_limiter(owner: Any, max_concurrency: int) -> AdaptiveLimiter:
    """One limiter per shared SDK client (so per credentials), so that concurrent Dify requests
    (the indexing runner sends several at once) share one budget and one 429 back-off."""
    with _limiters_lock:
        try:
            limiter = _limiters.get(owner)
        except TypeError:  # not weak-referenceable: a private limiter
            return AdaptiveLimiter(max_concurrency)
        if limiter is None:
            limiter = AdaptiveLimiter(max_concurrency)
            _limiters[owner] = limiter
    if limiter.max_concurrency != max(1, int(max_concurrency)):
        limiter.set_max(max_concurrency)
    return limiter

