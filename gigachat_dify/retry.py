"""Retries that can never duplicate output.

Blocking calls are retried whole; a stream is retried only until its first chunk has arrived,
because after that a repeat would show the user the same text twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import gigachat.exceptions as gx
import httpx

from gigachat_dify.errors import is_oauth_error

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRY_AFTER = 20.0  # seconds; a longer Retry-After is reported to Dify instead of waited out
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """Worth repeating: rate limits, 5xx, and connections that failed before any answer."""
    if isinstance(exc, gx.ResponseError):
        if isinstance(exc, gx.AuthenticationError):
            # The SDK already renewed the token once; a second 401 from the API (not from OAuth)
            # means the new token was invalidated too (rotation): renew again. A bad key fails at
            # OAuth instead, which is never repeated.
            return not is_oauth_error(exc)
        if isinstance(exc, gx.RateLimitError):
            return exc.retry_after <= MAX_RETRY_AFTER
        return exc.status_code in RETRY_STATUSES
    # A read timeout means GigaChat is slow, not gone: repeating it only doubles the wait.
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError))


def backoff_delay(attempt: int, exc: BaseException, base: float = 0.5) -> float:
    if isinstance(exc, gx.RateLimitError) and exc.retry_after > 0:
        return min(exc.retry_after, MAX_RETRY_AFTER) + random.uniform(0, 0.2)
    return min(base * (2**attempt), 8.0) + random.uniform(0, base)


def call_with_retries(fn: Callable[[], T], max_retries: int, *, sleep=time.sleep) -> T:
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= max_retries or not is_transient(exc):
                raise
            delay = backoff_delay(attempt, exc)
            logger.info("GigaChat call failed transiently (%s); retry %d/%d in %.1fs",
                        _short(exc), attempt + 1, max_retries, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def stream_with_retries(open_stream: Callable[[], Iterator[T]], max_retries: int, *, sleep=time.sleep) -> Iterator[T]:
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
                        _short(exc), attempt + 1, max_retries, delay)
            sleep(delay)


def _short(exc: BaseException) -> str:
    if isinstance(exc, gx.ResponseError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__
