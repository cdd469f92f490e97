"""THE retry policy, for chat and embeddings alike: what is worth repeating, how long to wait.

Every decision lives here: which failures are transient (`is_transient`, reading the one
classification of `failures.py`, never statuses of its own), the exponential back-off
with jitter (`backoff_delay`), how long a 429 waits (`rate_limit_wait`, Retry-After capped at
`MAX_RETRY_AFTER`; a longer one is reported to Dify instead of waited out), and the sleep itself
(`pause`, which tests replace). The callers keep only their mechanics: a blocking chat is retried
whole, a stream only until its first chunk (a repeat after that would show the same text twice);
the embeddings engine lets 429s wait without using up the transient retries and re-splits a batch
GigaChat found too long (`failures.too_long`; gigachat_dify/embeddings/execution.py).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from gigachat_dify.failures import Kind, Transport, classify

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRY_AFTER = 20.0  # seconds; a longer Retry-After is reported to Dify instead of waited out
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5  # seconds before the first repeat; doubles per attempt
BACKOFF_CAP = 8.0
RATE_LIMIT_DEFAULT_WAIT = 1.0  # a 429 without Retry-After; doubles per 429 in a row
JITTER = 0.2  # a random share of the wait added, so parallel callers do not repeat in step

_random = random.Random()


#: Connections that failed before any answer came: a repeat may find GigaChat (or a fresh connection).
_TRANSIENT_TRANSPORT = frozenset({Transport.UNREACHABLE, Transport.PROXY_UNREACHABLE, Transport.CONNECT_TIMEOUT,
                                  Transport.DROPPED, Transport.CUT_OFF})


def is_transient(exc: BaseException) -> bool:
    """Worth repeating, as ``failures.classify`` reads ``exc``: rate limits with a short wait, 5xx
    that say "try again", connections that failed before any answer, and a 401 of the API itself.

    Not repeated: a read timeout (GigaChat is slow, not gone: repeating only doubles the wait),
    certificates and proxies refused (a repeat meets the same refusal), and every refusal of the
    key, user, scope or request."""
    failure = classify(exc)
    if failure.kind is Kind.TRANSPORT:
        return failure.transport in _TRANSIENT_TRANSPORT
    if failure.kind is Kind.CREDENTIALS_REFUSED:
        # The SDK already renewed the token once; a second 401 from the API (not from OAuth)
        # means the new token was invalidated too (rotation): renew again. A bad key fails at
        # OAuth instead, which is never repeated.
        return True
    if failure.kind is Kind.RATE_LIMITED:
        return failure.retry_after <= MAX_RETRY_AFTER
    return failure.kind is Kind.SERVER_ERROR and failure.status in RETRY_STATUSES


def is_rate_limit(exc: BaseException) -> bool:
    return classify(exc).kind is Kind.RATE_LIMITED


def _jittered(seconds: float) -> float:
    return seconds * (1 + JITTER * _random.random())


def rate_limit_wait(exc: BaseException, attempt: int = 0) -> float:
    """How long a 429 waits: its Retry-After (at most MAX_RETRY_AFTER), else a doubling default."""
    after = getattr(exc, "retry_after", 0) or 0
    base = after if after > 0 else RATE_LIMIT_DEFAULT_WAIT * (2**attempt)
    return _jittered(min(base, MAX_RETRY_AFTER))


def backoff_delay(attempt: int, exc: BaseException | None = None) -> float:
    """The wait before repeat number `attempt` + 1 (0-based) after `exc`."""
    if exc is not None and is_rate_limit(exc):
        return rate_limit_wait(exc, attempt)
    return _jittered(min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt)))


def pause(seconds: float, cancelled: threading.Event | None = None) -> bool:
    """THE back-off sleep (tests replace it). Returns True when `cancelled` was set meanwhile."""
    event = cancelled if cancelled is not None else threading.Event()
    return event.wait(seconds)


def call_with_retries(fn: Callable[[], T], max_retries: int, *, sleep: Callable[[float], object] | None = None) -> T:
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= max_retries or not is_transient(exc):
                raise
            delay = backoff_delay(attempt, exc)
            logger.info("GigaChat call failed transiently (%s); retry %d/%d in %.1fs",
                        short_reason(exc), attempt + 1, max_retries, delay)
            (sleep or pause)(delay)
    raise AssertionError("unreachable")


def stream_with_retries(open_stream: Callable[[], Iterator[T]], max_retries: int, *,
                        sleep: Callable[[float], object] | None = None) -> Iterator[T]:
    """Yield from a fresh stream; reopen it after a transient failure only if nothing was yielded yet."""
    for attempt in range(max_retries + 1):
        started = False
        try:
            for item in open_stream():
                started = True
                yield item
            return
        except Exception as exc:
            if started or attempt >= max_retries or not is_transient(exc):
                raise
            delay = backoff_delay(attempt, exc)
            logger.info("GigaChat stream failed before its first chunk (%s); retry %d/%d in %.1fs",
                        short_reason(exc), attempt + 1, max_retries, delay)
            (sleep or pause)(delay)


def short_reason(exc: BaseException) -> str:
    """What failed, for logs: 'HTTP 503' or the exception type (never a message: it may quote input)."""
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__
