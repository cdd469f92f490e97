"""Running one embeddings call: batches concurrently through the shared limiter, with retries.

What it guarantees for a call with N texts: N vectors in input order, or one Dify `InvokeError`
that names the batch that failed. Never a partial result.

Every retry decision comes from THE retry policy (`gigachat_dify.retry`: which failures are
transient, the back-off, how long a 429 waits). The mechanics are this module's: a malformed
answer (EmbeddingResponseError: not JSON, cut short, fields missing, values that are not numbers,
vectors not of the model's dimensions, negative token counts) is retried like a transient failure;
429s wait (the shared limiter pauses everyone) without
using up the transient retries, up to `MAX_RATE_LIMIT_WAITS` per batch; 413/422 split the batch's
texts further once and retry; a global deadline bounds the whole call (a request's timeout is the
form's, or the time left to the deadline when that is shorter). Failures are converted by
THE error table (`errors.to_invoke_error`).

Batches run on threads, which dify_plugin's gevent patch turns into greenlets.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dify_plugin.errors.model import InvokeError, InvokeServerUnavailableError

from gigachat_dify import retry
from gigachat_dify.embeddings.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_LIMIT_TOKENS,
    MAX_CONCURRENCY,
    MAX_DIMENSIONS,
    MAX_TEXTS_PER_REQUEST,
    MAX_BYTES_PER_REQUEST,
)
from gigachat_dify.embeddings.limiter import FAILED, OK, RATE_LIMITED, AdaptiveLimiter, Stop
from gigachat_dify.embeddings.planning import Batch, default_estimator, is_blank, plan_batches, resplit_batch
from gigachat_dify.embeddings.turns import Turns
from gigachat_dify.errors import to_invoke_error
from gigachat_dify.failures import EmbeddingResponseError, too_long

logger = logging.getLogger(__name__)

MAX_RATE_LIMIT_WAITS = 8  # 429s per batch, each waiting out its Retry-After
# Below main.py's MAX_REQUEST_TIMEOUT (300 s) so Dify gets our message, not a daemon timeout.
DEFAULT_DEADLINE_SECONDS = 240.0


@dataclass
class EmbeddingStats:
    texts: int = 0
    pieces: int = 0
    batches: int = 0
    requests: int = 0
    split_texts: int = 0
    empty_texts: list[int] = field(default_factory=list)
    retries: int = 0
    rate_limited: int = 0
    resplit_batches: int = 0
    final_concurrency: int = 0
    elapsed_seconds: float = 0.0


class EmbeddingOutcome(NamedTuple):
    block: Any  # numpy (texts, dims): one row per input text, input order (values.py: float16 or float64)
    prompt_tokens: int  # as GigaChat reported them, successful requests only
    stats: EmbeddingStats
    combined: frozenset[int] = frozenset()  # texts whose vector the plugin averaged from pieces

    @property
    def vectors(self) -> list[list[float]]:
        """As Python floats: GigaChat's values as they came (a combined text's: its average)."""
        from gigachat_dify.embeddings import values

        return values.exact(self.block)


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


_NUMBER_TYPES = frozenset({int, float})  # JSON numbers as decoded; not bool (an int subclass), not str


def _finite_numbers(vector: Sequence[Any]) -> bool:
    """All real, finite JSON numbers (not booleans, not strings). The type check and the sum run at
    C level (no Python call per value); only an overflowing vector is checked value by value."""
    if not _NUMBER_TYPES.issuperset(map(type, vector)):
        return False
    if math.isfinite(sum(vector)):
        return True
    return all(math.isfinite(x) for x in vector)


def check_dimensions(found: int, dimensions: int | None) -> None:
    """Vectors of `found` values are the model's (`dimensions`: the form's or the model table's;
    None: not known, then at most what the model form accepts). EmbeddingResponseError otherwise."""
    if dimensions and found != dimensions:
        raise EmbeddingResponseError(f"vectors of {found:,} values, the model's have {dimensions:,}")
    if found > MAX_DIMENSIONS:
        raise EmbeddingResponseError(f"vectors of {found:,} values, more than any embedding model's")


def _check_tokens(counts: Sequence[Any]) -> int:
    """The answer's token counts summed; a negative one is no count (EmbeddingResponseError)."""
    if counts and min(counts) < 0:
        raise EmbeddingResponseError("a negative prompt_tokens count")
    return sum(counts)


def parse_response(response: Any, expected: int) -> tuple[list[list[float]], int]:
    """Vectors in request order (by each item's `index`) and the prompt tokens they cost."""
    data = _field(response, "data")
    if data is None or len(data) != expected:
        got = "none" if data is None else len(data)
        raise EmbeddingResponseError(f"expected {expected} embeddings, got {got}")
    ordered: list[list[float] | None] = [None] * expected
    counts = []
    for position, item in enumerate(data):
        index = _field(item, "index", position)
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise EmbeddingResponseError(f"embedding index {index!r} is out of range or repeated")
        vector = _field(item, "embedding")
        if not vector or not _finite_numbers(vector):
            raise EmbeddingResponseError(f"embedding {index} is empty or not finite")
        ordered[index] = vector if isinstance(vector, list) else list(vector)
        counts.append(int(_field(_field(item, "usage"), "prompt_tokens", 0) or 0))
    dims = {len(v) for v in ordered if v is not None}
    if len(dims) != 1:
        raise EmbeddingResponseError(f"embeddings of different dimensions {sorted(dims)}")
    return ordered, _check_tokens(counts)  # type: ignore[return-value]


def parse_block(response: Any, expected: int, dimensions: int | None = None) -> tuple[Any, int]:
    """`parse_response` as a block (values.py: float16 when every value is a half), in request order,
    its vectors of the model's `dimensions` (`check_dimensions`). A plainly well-formed answer
    (http.Decoded: indexes 0..n-1, vectors of one non-zero length) is read from its buffer of doubles
    with array operations; anything else goes through `parse_response`, which words the error."""
    from gigachat_dify.embeddings import values  # numpy on first use: start-up stays fast
    from gigachat_dify.embeddings.http import Decoded

    if isinstance(response, Decoded) and len(response["data"]) == expected:
        import numpy as np

        data = response["data"]
        rows = np.frombuffer(response.flat, dtype=np.float64).reshape(expected, response.dims)
        if not np.isfinite(rows).all():  # never from JSON numbers; checked as parse_response checks
            raise EmbeddingResponseError("an embedding that is not finite")
        order = [item["index"] for item in data]
        if order != sorted(order):
            rows = rows[np.argsort(order)]
        check_dimensions(response.dims, dimensions)
        return values.narrowed(rows), _check_tokens([item["usage"]["prompt_tokens"] for item in data])
    vectors, tokens = parse_response(response, expected)  # a Decoded of another length: its count is the error
    check_dimensions(len(vectors[0]), dimensions)
    return values.block(vectors), tokens


def _repeatable(exc: BaseException) -> bool:
    """Repeated with back-off (429s have their own budget): what the retry policy calls transient,
    and an answer that was not one embedding per text."""
    return isinstance(exc, EmbeddingResponseError) or (not retry.is_rate_limit(exc) and retry.is_transient(exc))


class BatchFailed(Exception):
    def __init__(self, batch: Batch, cause: BaseException, note: str = "") -> None:
        super().__init__(batch.label)
        self.batch, self.cause, self.note = batch, cause, note


class _Run:
    """State of one embed_texts call, shared by its workers."""

    def __init__(self, call, limiter, max_retries, deadline, limit_tokens, estimate, stats,
                 dimensions=None, request_timeout=None) -> None:
        self.call = call
        self.dimensions = dimensions
        self.request_timeout = request_timeout
        self.limiter = limiter
        self.max_retries = max_retries
        self.deadline = deadline
        self.limit_tokens = limit_tokens
        self.estimate = estimate
        self.stats = stats
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.results: dict[tuple[int, ...], tuple[int, int, Any]] = {}  # piece key -> (text, weight, row)
        self.tokens = 0
        self.first_answer: tuple[int, bool] | None = None  # (dimensions, short form) of the first answer

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def _count(self, name: str) -> None:
        with self.lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def execute(self, batch: Batch, allow_split: bool = True) -> None:
        transient = rate_limited = 0
        while True:
            try:
                generation = self.limiter.acquire(self.deadline, self.cancelled)
            except Stop as stop:
                raise BatchFailed(batch, stop, "deadline") if str(stop) == "deadline" else stop
            self._count("requests")
            # Never past the deadline: a slow answer ends with the deadline's message, below Dify's
            # MAX_REQUEST_TIMEOUT, not with a daemon timeout.
            timeout = max(0.001, self.time_left())
            capped = self.request_timeout is None or timeout < self.request_timeout
            if not capped:
                timeout = self.request_timeout
            try:
                response = self.call([p.text for p in batch.pieces], timeout)
                rows, tokens = parse_block(response, len(batch.pieces), self.dimensions)
            except Exception as exc:
                if capped and self.time_left() <= 0:  # the request was cut at the deadline
                    self.limiter.release(generation, FAILED)
                    raise BatchFailed(batch, exc, "deadline") from exc
                if retry.is_rate_limit(exc):
                    if not retry.is_transient(exc):  # a Retry-After too long to wait inside a request
                        self.limiter.release(generation, RATE_LIMITED)
                        raise BatchFailed(batch, exc) from exc
                    pause = retry.rate_limit_wait(exc, rate_limited)
                    self.limiter.release(generation, RATE_LIMITED, pause)
                    rate_limited += 1
                    self._count("rate_limited")
                    if rate_limited > MAX_RATE_LIMIT_WAITS:
                        raise BatchFailed(batch, exc) from exc
                    if pause >= self.time_left():
                        raise BatchFailed(batch, exc, "deadline") from exc
                    logger.info("GigaChat embeddings %s: 429, waiting %.1f s", batch.label, pause)
                    continue  # acquire() waits out the shared pause
                self.limiter.release(generation, FAILED)
                if _repeatable(exc) and transient < self.max_retries:
                    delay = retry.backoff_delay(transient, exc)
                    transient += 1
                    self._count("retries")
                    if delay >= self.time_left():
                        raise BatchFailed(batch, exc, "deadline") from exc
                    logger.info("GigaChat embeddings %s failed transiently (%s); retry %d in %.1f s",
                                batch.label, retry.short_reason(exc), transient, delay)
                    if retry.pause(delay, self.cancelled):
                        raise Stop("cancelled") from None
                    continue
                if too_long(exc) and allow_split:
                    logger.warning("GigaChat embeddings %s: %s, splitting its texts further",
                                   batch.label, retry.short_reason(exc))
                    self._count("resplit_batches")
                    for sub in resplit_batch(batch, self.limit_tokens, self.estimate):
                        self.execute(sub, allow_split=False)
                    return
                raise BatchFailed(batch, exc) from exc
            except BaseException:  # e.g. the greenlet is killed: never leak a slot of the shared limiter
                self.limiter.release(generation, FAILED)
                raise
            self.limiter.release(generation, OK)
            from gigachat_dify.embeddings import values

            with self.lock:
                self.tokens += tokens
                self.first_answer = self.first_answer or (rows.shape[1], values.is_short(rows))
                for piece, row in zip(batch.pieces, rows):
                    self.results[piece.key] = (piece.text_index, piece.weight, row)
            return


def _failure(failed: BatchFailed, context: str, deadline_seconds: float, auth=None) -> InvokeError:
    where = f"{context}: {failed.batch.label}" if context else failed.batch.label
    cause = failed.cause
    if failed.note == "deadline":
        last = "waiting for a free slot" if isinstance(cause, Stop) else retry.short_reason(cause)
        return InvokeServerUnavailableError(
            f"GigaChat embeddings did not finish within {deadline_seconds:.0f} s (last problem: {last}). "
            f"Retry later, or lower 'Parallel embedding requests'. [{where}]"
        )
    if isinstance(cause, EmbeddingResponseError):
        if cause.not_api:
            return InvokeServerUnavailableError(
                f"The server at the Base URL answered embeddings with {cause}, not the GigaChat API; check that "
                f"'Base URL' (and 'Proxy URL', if set) lead to the GigaChat API. [{where}]"
            )
        return InvokeServerUnavailableError(
            f"GigaChat returned an unusable embeddings answer: {cause}. Retry later; raise 'Retries on "
            f"temporary errors' if it happens often. [{where}]"
        )
    return to_invoke_error(cause, context=where, auth=auth)


def _deadline_error(batches: Sequence[Batch], pending: set, futures: dict, context: str, seconds: float) -> InvokeError:
    waiting = sorted((futures[f] for f in pending), key=lambda b: b.number)
    first = waiting[0].label if waiting else "the last batch"
    where = f"{context}: {first}" if context else first
    return InvokeServerUnavailableError(
        f"GigaChat embeddings did not finish within {seconds:.0f} s ({len(waiting)} of {len(batches)} "
        f"batches unfinished). Retry later, or lower 'Parallel embedding requests'. [{where}]"
    )


def embed_texts(
    call: Callable[[list[str], float], Any],
    texts: Sequence[str],
    *,
    limit_tokens: int = DEFAULT_LIMIT_TOKENS,
    max_per_request: int = MAX_TEXTS_PER_REQUEST,
    max_bytes_per_request: int | None = MAX_BYTES_PER_REQUEST,
    concurrency: int = DEFAULT_CONCURRENCY,
    limiter: AdaptiveLimiter | None = None,
    max_retries: int = 3,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    estimate: Callable[[str], int] | None = None,
    context: str = "",
    check_first_answer: Callable[[int, bool], None] | None = None,
    auth=None,
    dimensions: int | None = None,
    request_timeout: float | None = None,
) -> EmbeddingOutcome:
    """Embed `texts` with `call` (one list of strings and that request's timeout in seconds -> an
    SDK `Embeddings`-like answer).

    `max_retries` repeats per batch after a transient failure (the form's "Retries on temporary errors").
    `check_first_answer(dimensions, short)`, when given, runs after the first batch's answer and
    before any other request (`short`: its values are float16, values.py): it may raise (e.g. the
    answer could not fit Dify's protocol line).
    `auth` (the credentials' mode) words a refusal of the credentials in its own fields.
    `dimensions`: the model's (form or table); an answer with other vectors is malformed.
    `request_timeout`: the form's; a request's timeout is the time left to the deadline when shorter.
    Returns every vector in input order, or raises one Dify InvokeError naming the failed batch.
    """
    started = time.monotonic()
    texts = list(texts)
    stats = EmbeddingStats(texts=len(texts))
    if not texts:
        from gigachat_dify.embeddings import values

        return EmbeddingOutcome(values.stack([]), 0, stats)
    estimate = estimate or default_estimator()
    workers = max(1, min(MAX_CONCURRENCY, int(concurrency)))
    limiter = limiter or AdaptiveLimiter(workers)

    batches = plan_batches(
        texts, limit_tokens, max_per_request, max_bytes_per_request=max_bytes_per_request, estimate=estimate,
        turns=Turns(),
    )
    stats.batches = len(batches)
    stats.pieces = sum(len(b.pieces) for b in batches)
    stats.empty_texts = [i for i, t in enumerate(texts) if is_blank(t)]
    if stats.empty_texts:
        shown = ", ".join(map(str, stats.empty_texts[:20])) + (" ..." if len(stats.empty_texts) > 20 else "")
        logger.warning(
            "GigaChat embeddings: %d empty text(s) at position(s) %s embedded as a placeholder",
            len(stats.empty_texts), shown,
        )
    run = _Run(call, limiter, max(0, int(max_retries)), started + deadline_seconds, limit_tokens, estimate, stats,
               dimensions, request_timeout)

    try:
        rest = batches
        if check_first_answer is not None:
            run.execute(batches[0])
            check_first_answer(*run.first_answer)
            rest = batches[1:]
        if len(rest) == 1:
            run.execute(rest[0])
        elif rest:
            _run_concurrently(run, rest, workers, context, deadline_seconds)
    except BatchFailed as failed:
        run.cancelled.set()
        logger.warning("GigaChat embeddings failed at %s: %s", failed.batch.label, retry.short_reason(failed.cause))
        cause = None if isinstance(failed.cause, Stop) else failed.cause
        raise _failure(failed, context, deadline_seconds, auth) from cause

    block, combined = _assemble(run, len(texts), context)
    stats.final_concurrency = limiter.limit
    stats.split_texts = len(combined)
    stats.elapsed_seconds = time.monotonic() - started
    logger.debug("GigaChat embeddings done: %s", stats)
    return EmbeddingOutcome(block, run.tokens, stats, combined)


def _run_concurrently(run: _Run, batches: list[Batch], workers: int, context: str, deadline_seconds: float) -> None:
    """Run every batch on a bounded pool; return when all succeeded, raise on the first failure
    (the lowest-numbered one if several failed together) or when the deadline passes. Workers
    still running then are told to stop and their results are dropped: never a partial answer."""
    executor = ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="gigachat-embed")
    # Set by the first worker that fails: batches not started yet are skipped. Checked in the
    # workers: under gevent a worker takes its next batch before the waiting caller can cancel it.
    # Not run.cancelled, which would also interrupt batches in flight with a Stop of their own.
    one_failed = threading.Event()

    def execute(batch: Batch) -> None:
        if one_failed.is_set() or run.cancelled.is_set():
            return
        try:
            run.execute(batch)
        except BaseException:
            one_failed.set()
            raise

    futures: dict[Future, Batch] = {executor.submit(execute, batch): batch for batch in batches}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=max(0.0, run.time_left()), return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in done if f.exception() is not None]
            if errors:
                failures = [e for e in errors if isinstance(e, BatchFailed)]
                if failures:
                    raise min(failures, key=lambda e: e.batch.number)
                raise errors[0]  # a bug rather than a GigaChat failure: let it surface as is
            if pending and run.time_left() <= 0:
                raise _deadline_error(batches, pending, futures, context, deadline_seconds)
    finally:
        run.cancelled.set()
        executor.shutdown(wait=False, cancel_futures=True)


def _assemble(run: _Run, count: int, context: str) -> tuple[Any, frozenset[int]]:
    from gigachat_dify.embeddings import values

    grouped: list[list[tuple[tuple[int, ...], int, Any]]] = [[] for _ in range(count)]
    for key, (index, weight, row) in run.results.items():
        grouped[index].append((key, weight, row))
    dims = {len(r) for parts in grouped for _, _, r in parts}
    if len(dims) > 1:
        raise InvokeServerUnavailableError(
            f"GigaChat returned embeddings of different dimensions {sorted(dims)} in one call; retry. [{context}]"
        )
    rows = []
    combined: set[int] = set()
    for index, parts in enumerate(grouped):
        if not parts:  # cannot happen: every batch either succeeded or raised
            raise InvokeServerUnavailableError(f"GigaChat embeddings: no vector for text {index}. [{context}]")
        if len(parts) == 1:
            rows.append(parts[0][2])
            continue
        parts.sort(key=lambda p: p[0])
        combined.add(index)
        try:
            rows.append(values.combine([p[2] for p in parts], [p[1] for p in parts]))
        except ValueError as exc:
            raise InvokeServerUnavailableError(
                f"GigaChat returned an unusable embedding for text {index} ({exc}); retry. [{context}]"
            ) from None
    return values.stack(rows), frozenset(combined)
