"""Embeddings engine: limits, query instructions, splitting long texts, batching, concurrency, retry.

Independent of Dify's model classes: `models/text_embedding/text_embedding.py` only parses the
request and calls `embed_texts` with a function that sends one batch to GigaChat.

What it guarantees for a call with N texts: N unit-length vectors in input order, or one Dify
`InvokeError` that names the batch that failed. Never a partial result.

- Long texts are split on paragraph / line / sentence / word boundaries into pieces that fit the
  model's per-text limit (with a safety margin: the local token estimate is not exact); the piece
  vectors are averaged weighted by piece length and L2-normalised (as Dify's OpenAI provider does).
  Every vector is L2-normalised, split or not (GigaChat's own have norm ~29), so all vectors of a
  knowledge base are comparable and dot-product stores (which require unit vectors) work.
- Empty or whitespace-only texts are embedded as `EMPTY_TEXT_PLACEHOLDER` (a warning names their
  positions): a chunk with no content must not fail a whole knowledge-base indexing run, and a
  zero vector would break cosine search in several vector stores (NaN distances).
- Batches run concurrently (threads, which `dify_plugin`'s gevent patch turns into greenlets),
  through an adaptive limiter shared by every request made with the same client: halved on 429
  (AIMD), +1 after a run of successes up to the configured maximum, and paused for Retry-After.
- 5xx / connection failures and malformed answers are retried with exponential backoff and
  jitter (which failures: THE retry module's `is_transient`; a read timeout is not repeated);
  400/401/402/403/404 are not retried; 413/422 split the batch's texts further once and retry;
  429s wait Retry-After (capped) and do not use up the transient retries; a global deadline
  bounds the whole call. Failures are converted by THE error table (`errors.to_invoke_error`).
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gigachat.exceptions as gx
from dify_plugin.entities.model import EmbeddingInputType
from dify_plugin.errors.model import InvokeBadRequestError, InvokeError, InvokeServerUnavailableError

from gigachat_dify.errors import to_invoke_error
from gigachat_dify.retry import is_transient
from gigachat_dify.tokens import estimate_tokens

logger = logging.getLogger(__name__)

# --- Model facts ------------------------------------------------------------------------------

# Maximum tokens per input text. Third-party, unverified figures (GIGACHAT_API.md): Embeddings
# 512, EmbeddingsGigaR 4096. Embeddings-2 is assumed to share Embeddings' limit and
# GigaEmbeddings-3B-2025-09 the 4096 of its open-weights sibling ai-sage/Giga-Embeddings-instruct
# (max_seq_length 4096). A too-low figure only costs extra pieces; a too-high one is caught by
# the 413/422 re-split below.
EMBEDDING_LIMITS: dict[str, int] = {
    "Embeddings": 512,
    "Embeddings-2": 512,
    "EmbeddingsGigaR": 4096,
    "GigaEmbeddings-3B-2025-09": 4096,
}
DEFAULT_LIMIT_TOKENS = 512  # unknown / custom models without a usable `context_size` credential

# Texts per request. GigaChat documents no maximum; 90 is what Sber's own LangChain integration
# (ai-forever/langchain-gigachat, MAX_BATCH_SIZE_PARTS) sends. Also the models' `max_chunks`, so
# one Dify batch is normally one request. An assumption, not a documented limit.
MAX_TEXTS_PER_REQUEST = 90
# Estimated tokens per request (our judgement, not a documented limit): keeps one request's body
# (~100 KB of Cyrillic) and its latency far below the client timeout even for 4096-token texts.
MAX_TOKENS_PER_REQUEST = 32_768

# The local estimate is not GigaChat's tokenizer: pieces aim at 80% of the limit, minus the few
# tokens GigaChat adds to every input (recorded: "First text" -> 7 prompt tokens).
SAFETY_RATIO = 0.8
PER_TEXT_OVERHEAD_TOKENS = 8
MIN_PIECE_TOKENS = 16

EMPTY_TEXT_PLACEHOLDER = "."  # non-blank: what an empty/whitespace-only text is embedded as

DEFAULT_CONCURRENCY = 2  # used only when the caller gives none (the credentials always do)
MAX_CONCURRENCY = 32
# Below main.py's MAX_REQUEST_TIMEOUT (300 s) so Dify gets our message, not a daemon timeout.
DEFAULT_DEADLINE_SECONDS = 240.0

# Instruction put before QUERIES (never documents) for asymmetric models.
# - EmbeddingsGigaR: the retrieval instruction GigaChat integrations use with this model ("given a
#   question, find the paragraph that answers it"). Sber's LangChain integration ships a different,
#   opt-in default ("Дано предложение, необходимо найти его парафраз \nпредложение: "), a
#   paraphrase (symmetric) task; Dify's query -> chunk search is question -> passage. Unverified
#   against Sber's documentation here.
# - GigaEmbeddings-3B-2025-09: assumed to be the API deployment of ai-sage/Giga-Embeddings-instruct
#   (GigaChat-3B based, arXiv 2510.22369), whose model card requires "Instruct: {task}\nQuery: "
#   on queries and nothing on passages; task text from that card. Unverified for the API model.
# - Embeddings, Embeddings-2: symmetric, no instruction documented.
# Override per model with the model credential `query_prefix` ("none" switches it off).
QUERY_PREFIXES: dict[str, str] = {
    "EmbeddingsGigaR": "Дан вопрос, необходимо найти абзац текста с ответом \nвопрос: ",
    "GigaEmbeddings-3B-2025-09": (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: "
    ),
}
_PREFIX_OFF = frozenset({"none", "off", "no", "-"})


def _base_model(model: str) -> str:
    return model.split(":", 1)[0].strip()  # GigaChat echoes versioned names ("Embeddings:2.0.1")


def known_limit(model: str) -> int | None:
    return EMBEDDING_LIMITS.get(model) or EMBEDDING_LIMITS.get(_base_model(model))


# --- Per-request configuration ----------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingConfig:
    limit_tokens: int
    max_per_request: int
    concurrency: int
    query_prefix_override: str | None


# Dify sends at most `max_chunks` texts per invocation and the whole answer travels as one protocol
# line, which the daemon refuses over 5 MiB: 200 vectors of 1,024 floats are about 4 MiB of JSON.
MAX_TEXTS_PER_INVOCATION = 200


def positive_int(value: Any, name: str, default: int, *, upper: int = 1_000_000) -> int:
    """A positive integer from a form value ('' / None -> default); InvokeBadRequestError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvokeBadRequestError(f"Model setting '{name}' must be a whole number, got '{value}'.") from None
    if not 1 <= number <= upper:
        raise InvokeBadRequestError(f"Model setting '{name}' must be between 1 and {upper}, got {number}.")
    return number


def resolve_config(model: str, credentials: Mapping[str, Any], concurrency: int | None = None) -> EmbeddingConfig:
    """Limits for this model: the table for known models (a custom `context_size` may only lower
    it: the provider form's default is an LLM context), the credential for others, else 512."""
    table = known_limit(model)
    custom = positive_int(credentials.get("context_size"), "context_size", table or DEFAULT_LIMIT_TOKENS)
    limit = min(custom, table) if table else custom
    per_request = min(MAX_TEXTS_PER_REQUEST, positive_int(credentials.get("max_chunks"), "max_chunks", MAX_TEXTS_PER_REQUEST))
    workers = max(1, min(MAX_CONCURRENCY, int(concurrency or DEFAULT_CONCURRENCY)))
    prefix = credentials.get("query_prefix")
    return EmbeddingConfig(limit, per_request, workers, prefix if isinstance(prefix, str) else None)


# --- Query instructions -----------------------------------------------------------------------


def query_prefix(model: str, override: str | None = None) -> str:
    """The instruction for queries: the override if set ('none' = no prefix), else the model's default.
    A literal backslash-n typed into the form becomes a line break."""
    if override is not None and override.strip():
        if override.strip().lower() in _PREFIX_OFF:
            return ""
        return override.replace("\\n", "\n")
    return QUERY_PREFIXES.get(model) or QUERY_PREFIXES.get(_base_model(model), "")


def apply_input_type(
    model: str, texts: Sequence[str], input_type: EmbeddingInputType | str | None, override: str | None = None
) -> list[str]:
    """Queries get the model's instruction prefix; documents are sent as they are. Blank texts stay
    blank (they are handled as empty texts, not as a bare instruction)."""
    kind = input_type.value if isinstance(input_type, EmbeddingInputType) else str(input_type or "document")
    if kind.lower() != EmbeddingInputType.QUERY.value:
        return list(texts)
    prefix = query_prefix(model, override)
    if not prefix:
        return list(texts)
    return [prefix + t if t and t.strip() else t for t in texts]


# --- Token estimate ---------------------------------------------------------------------------


def default_estimator() -> Callable[[str], int]:
    """THE local token estimate (`gigachat_dify.tokens`); callers may pass their own."""
    return estimate_tokens


def piece_budget(limit_tokens: int) -> int:
    """Estimated tokens one piece may have to stay under `limit_tokens` real tokens."""
    return max(MIN_PIECE_TOKENS, int(limit_tokens * SAFETY_RATIO) - PER_TEXT_OVERHEAD_TOKENS)


# --- Splitting --------------------------------------------------------------------------------

# Boundaries, best first; a cut is made just after the match.
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraph
    re.compile(r"\n\s*"),  # line
    re.compile(r"[.!?…;:](?:[\"'»)\]]*)\s+"),  # sentence (or clause)
    re.compile(r"[,\s]\s*"),  # word
)


def _cut_position(text: str, lo: int, hi: int) -> int:
    """Where to end a piece within text[lo:hi]: after the last best boundary, else at hi."""
    window = text[lo:hi]
    for pattern in _BOUNDARIES:
        last = None
        for last in pattern.finditer(window):
            pass
        if last is not None and last.end() > 0:
            return lo + last.end()
    return hi


def split_text(text: str, budget: int, estimate: Callable[[str], int]) -> list[str]:
    """Split `text` into consecutive pieces each estimated at <= `budget` tokens.

    Lossless (``"".join(pieces) == text``), pieces of similar size, cut at the best boundary in
    the second half of each piece's allowance. Linear in the text length apart from re-splitting
    a piece whose token density is above the text's average.
    """
    total = estimate(text)
    if total <= budget or len(text) <= 1:
        return [text]
    count = math.ceil(total / budget)
    target = max(1, len(text) // count)
    pieces: list[str] = []
    start = 0
    while start < len(text):
        if len(text) - start <= target:
            end = len(text)
        else:
            end = _cut_position(text, start + max(1, target // 2), start + target)
        pieces.append(text[start:end])
        start = end
    out: list[str] = []
    for piece in pieces:
        if len(piece) < len(text) and estimate(piece) > budget:
            out.extend(split_text(piece, budget, estimate))
        else:
            out.append(piece)
    return out


# --- Planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    text_index: int  # position of the original text in the request
    text: str  # what is sent
    weight: int  # its length: the weight of its vector in the text's average
    tokens: int  # estimated
    key: tuple[int, ...]  # sort key among all pieces (stable combining order)


@dataclass(frozen=True)
class Batch:
    number: int  # 1-based
    total: int
    pieces: tuple[Piece, ...]
    resplit: bool = False

    @property
    def first_text(self) -> int:
        return min(p.text_index for p in self.pieces)

    @property
    def last_text(self) -> int:
        return max(p.text_index for p in self.pieces)

    @property
    def label(self) -> str:
        span = f"text {self.first_text}" if self.first_text == self.last_text else f"texts {self.first_text}-{self.last_text}"
        return f"batch {self.number} of {self.total} ({span}{', split further' if self.resplit else ''})"


def is_blank(text: str | None) -> bool:
    return not text or not text.strip()


def _pieces_of(index: int, text: str, budget: int, estimate: Callable[[str], int], key: tuple[int, ...]) -> list[Piece]:
    if is_blank(text):
        return [Piece(index, EMPTY_TEXT_PLACEHOLDER, 1, 1, key + (0,))]
    tokens = estimate(text)
    if tokens <= budget:  # the common case: one estimate per text
        return [Piece(index, text, len(text), tokens, key + (0,))]
    parts = [p for p in split_text(text, budget, estimate) if not is_blank(p)]
    if len(parts) == 1:
        return [Piece(index, parts[0], max(1, len(parts[0])), estimate(parts[0]), key + (0,))]
    return [Piece(index, p, len(p), estimate(p), key + (n,)) for n, p in enumerate(parts)]


def _pack(
    pieces: Sequence[Piece], max_per_request: int, max_tokens_per_request: int | None
) -> list[list[Piece]]:
    groups: list[list[Piece]] = []
    current: list[Piece] = []
    tokens = 0
    for piece in pieces:
        cost = piece.tokens + PER_TEXT_OVERHEAD_TOKENS
        full = len(current) >= max_per_request or (
            max_tokens_per_request is not None and current and tokens + cost > max_tokens_per_request
        )
        if full:
            groups.append(current)
            current, tokens = [], 0
        current.append(piece)
        tokens += cost
    if current:
        groups.append(current)
    return groups


def plan_batches(
    texts: Sequence[str],
    limit_tokens: int,
    max_per_request: int,
    *,
    max_tokens_per_request: int | None = MAX_TOKENS_PER_REQUEST,
    estimate: Callable[[str], int] | None = None,
) -> list[Batch]:
    """Pure: texts -> batches of pieces, in input order. A text over the limit becomes several
    consecutive pieces; a blank text becomes one placeholder piece."""
    estimate = estimate or default_estimator()
    budget = piece_budget(limit_tokens)
    pieces: list[Piece] = []
    for index, text in enumerate(texts):
        pieces.extend(_pieces_of(index, text, budget, estimate, (index,)))
    groups = _pack(pieces, max(1, max_per_request), max_tokens_per_request)
    return [Batch(n + 1, len(groups), tuple(g)) for n, g in enumerate(groups)]


def resplit_batch(batch: Batch, limit_tokens: int, estimate: Callable[[str], int]) -> list[Batch]:
    """After a 413/422: the same pieces cut to half the limit (at most the conservative default)
    and sent in requests of half the size. Sub-batches keep the parent's number for messages."""
    limit = max(MIN_PIECE_TOKENS, min(limit_tokens // 2, DEFAULT_LIMIT_TOKENS))
    budget = piece_budget(limit)
    pieces: list[Piece] = []
    for piece in batch.pieces:
        parts = [p for p in split_text(piece.text, budget, estimate) if not is_blank(p)] or [piece.text]
        if len(parts) == 1:
            pieces.append(piece)
        else:
            pieces.extend(Piece(piece.text_index, p, len(p), estimate(p), piece.key + (n,)) for n, p in enumerate(parts))
    groups = _pack(pieces, max(1, len(batch.pieces) // 2), None)
    return [Batch(batch.number, batch.total, tuple(g), resplit=True) for g in groups]


# --- Combining --------------------------------------------------------------------------------


def l2_normalize(vector: Sequence[float]) -> list[float]:
    norm = math.hypot(*vector)
    if not norm or not math.isfinite(norm):
        raise ValueError("cannot normalise a zero or non-finite vector")
    inv = 1.0 / norm
    return [x * inv for x in vector]


def combine_pieces(vectors: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Weighted average of one text's piece vectors, L2-normalised (a single vector: normalised)."""
    if not vectors or len(vectors) != len(weights):
        raise ValueError("need one weight per vector")
    if len(vectors) == 1:
        return l2_normalize(vectors[0])
    dim = len(vectors[0])
    if any(len(v) != dim for v in vectors):
        raise ValueError("piece vectors differ in dimension")
    total = float(sum(weights))
    if total <= 0:
        weights, total = [1.0] * len(vectors), float(len(vectors))
    acc = [0.0] * dim
    for vector, weight in zip(vectors, weights):
        share = weight / total
        for i, x in enumerate(vector):
            acc[i] += share * x
    return l2_normalize(acc)


# --- Adaptive concurrency ---------------------------------------------------------------------

OK, RATE_LIMITED, FAILED = "ok", "rate_limited", "failed"


class _Stop(Exception):
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
                    raise _Stop("cancelled")
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise _Stop("deadline")
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


# --- Execution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_transient_retries: int = 3  # 5xx / connection failures, per batch
    backoff_base: float = 0.5  # seconds; doubles per attempt
    backoff_cap: float = 8.0
    max_rate_limit_retries: int = 8  # 429s per batch (each waits Retry-After)
    retry_after_cap: float = 30.0  # seconds; a longer Retry-After is shortened to this
    rate_limit_default_wait: float = 1.0  # when a 429 carries no Retry-After
    jitter: float = 0.2  # fraction of the wait added at random

    def backoff(self, attempt: int) -> float:
        delay = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return delay * (1 + random.uniform(0, self.jitter))

    def rate_limit_wait(self, exc: BaseException, attempt: int) -> float:
        after = getattr(exc, "retry_after", 0.0) or 0.0
        base = after if after > 0 else min(self.retry_after_cap, self.rate_limit_default_wait * (2**attempt))
        base = min(base, self.retry_after_cap)
        return base + random.uniform(0, self.jitter * max(base, 0.05))


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
    vectors: list[list[float]]  # one per input text, input order, L2-normalised
    prompt_tokens: int  # as GigaChat reported them, successful requests only
    stats: EmbeddingStats


class EmbeddingResponseError(Exception):
    """GigaChat answered 200 with something that is not one embedding per input."""


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _finite_numbers(vector: Sequence[Any]) -> bool:
    """All real, finite numbers. The C-level sum is the fast path (10k x 1024 values per
    indexing run); only an overflowing or odd vector is checked value by value."""
    try:
        if math.isfinite(sum(vector)):
            return True
    except TypeError:
        return False
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in vector)


def parse_response(response: Any, expected: int) -> tuple[list[list[float]], int]:
    """Vectors in request order (by each item's `index`) and the prompt tokens they cost."""
    data = _field(response, "data")
    if data is None or len(data) != expected:
        got = "none" if data is None else len(data)
        raise EmbeddingResponseError(f"expected {expected} embeddings, got {got}")
    ordered: list[list[float] | None] = [None] * expected
    tokens = 0
    for position, item in enumerate(data):
        index = _field(item, "index", position)
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise EmbeddingResponseError(f"embedding index {index!r} is out of range or repeated")
        vector = _field(item, "embedding")
        if not vector or not _finite_numbers(vector):
            raise EmbeddingResponseError(f"embedding {index} is empty or not finite")
        ordered[index] = vector if isinstance(vector, list) else list(vector)
        tokens += int(_field(_field(item, "usage"), "prompt_tokens", 0) or 0)
    dims = {len(v) for v in ordered if v is not None}
    if len(dims) != 1:
        raise EmbeddingResponseError(f"embeddings of different dimensions {sorted(dims)}")
    return ordered, tokens  # type: ignore[return-value]


_TOO_LONG = (gx.RequestEntityTooLargeError, gx.UnprocessableEntityError)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, EmbeddingResponseError) or (
        not isinstance(exc, gx.RateLimitError) and is_transient(exc)
    )


class _BatchFailed(Exception):
    def __init__(self, batch: Batch, cause: BaseException, note: str = "") -> None:
        super().__init__(batch.label)
        self.batch, self.cause, self.note = batch, cause, note


class _Run:
    """State of one embed_texts call, shared by its workers."""

    def __init__(self, call, limiter, retry, deadline, limit_tokens, estimate, stats) -> None:
        self.call = call
        self.limiter = limiter
        self.retry = retry
        self.deadline = deadline
        self.limit_tokens = limit_tokens
        self.estimate = estimate
        self.stats = stats
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.results: dict[tuple[int, ...], tuple[int, int, list[float]]] = {}
        self.tokens = 0

    def _time_left(self) -> float:
        return self.deadline - time.monotonic()

    def _sleep(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise _Stop("cancelled")

    def execute(self, batch: Batch, allow_split: bool = True) -> None:
        transient = rate_limited = 0
        while True:
            try:
                generation = self.limiter.acquire(self.deadline, self.cancelled)
            except _Stop as stop:
                raise _BatchFailed(batch, stop, "deadline") if str(stop) == "deadline" else stop
            with self.lock:
                self.stats.requests += 1
            try:
                response = self.call([p.text for p in batch.pieces])
                vectors, tokens = parse_response(response, len(batch.pieces))
            except Exception as exc:
                if isinstance(exc, gx.RateLimitError):
                    pause = self.retry.rate_limit_wait(exc, rate_limited)
                    self.limiter.release(generation, RATE_LIMITED, pause)
                    rate_limited += 1
                    with self.lock:
                        self.stats.rate_limited += 1
                    if rate_limited > self.retry.max_rate_limit_retries:
                        raise _BatchFailed(batch, exc) from exc
                    if pause >= self._time_left():
                        raise _BatchFailed(batch, exc, "deadline") from exc
                    logger.info("GigaChat embeddings %s: 429, waiting %.1f s", batch.label, pause)
                    continue  # acquire() waits out the shared pause
                self.limiter.release(generation, FAILED)
                if _retryable(exc) and transient < self.retry.max_transient_retries:
                    delay = self.retry.backoff(transient)
                    transient += 1
                    with self.lock:
                        self.stats.retries += 1
                    if delay >= self._time_left():
                        raise _BatchFailed(batch, exc, "deadline") from exc
                    logger.info(
                        "GigaChat embeddings %s failed transiently (%s); retry %d in %.1f s",
                        batch.label, _short(exc), transient, delay,
                    )
                    self._sleep(delay)
                    continue
                if isinstance(exc, _TOO_LONG) and allow_split:
                    logger.warning("GigaChat embeddings %s: %s, splitting its texts further", batch.label, _short(exc))
                    with self.lock:
                        self.stats.resplit_batches += 1
                    for sub in resplit_batch(batch, self.limit_tokens, self.estimate):
                        self.execute(sub, allow_split=False)
                    return
                raise _BatchFailed(batch, exc) from exc
            except BaseException:  # e.g. the greenlet is killed: never leak a slot of the shared limiter
                self.limiter.release(generation, FAILED)
                raise
            self.limiter.release(generation, OK)
            with self.lock:
                self.tokens += tokens
                for piece, vector in zip(batch.pieces, vectors):
                    self.results[piece.key] = (piece.text_index, piece.weight, vector)
            return


def _short(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


def _failure(failed: _BatchFailed, context: str, deadline_seconds: float) -> InvokeError:
    where = f"{context}: {failed.batch.label}" if context else failed.batch.label
    cause = failed.cause
    if failed.note == "deadline":
        return InvokeServerUnavailableError(
            f"GigaChat embeddings did not finish within {deadline_seconds:.0f} s "
            f"(last problem: {_short(cause) if not isinstance(cause, _Stop) else 'waiting for a free slot'}). "
            f"Retry later, or lower 'Parallel embedding requests'. [{where}]"
        )
    if isinstance(cause, EmbeddingResponseError):
        return InvokeServerUnavailableError(f"GigaChat returned an unusable embeddings answer: {cause}. [{where}]")
    return to_invoke_error(cause, context=where)


def _deadline_error(batches: Sequence[Batch], pending: set, futures: dict, context: str, seconds: float) -> InvokeError:
    waiting = sorted((futures[f] for f in pending), key=lambda b: b.number)
    first = waiting[0].label if waiting else "the last batch"
    where = f"{context}: {first}" if context else first
    return InvokeServerUnavailableError(
        f"GigaChat embeddings did not finish within {seconds:.0f} s ({len(waiting)} of {len(batches)} "
        f"batches unfinished). Retry later, or lower 'Parallel embedding requests'. [{where}]"
    )


def embed_texts(
    call: Callable[[list[str]], Any],
    texts: Sequence[str],
    *,
    limit_tokens: int = DEFAULT_LIMIT_TOKENS,
    max_per_request: int = MAX_TEXTS_PER_REQUEST,
    max_tokens_per_request: int | None = MAX_TOKENS_PER_REQUEST,
    concurrency: int = DEFAULT_CONCURRENCY,
    limiter: AdaptiveLimiter | None = None,
    retry: RetryPolicy | None = None,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    estimate: Callable[[str], int] | None = None,
    context: str = "",
) -> EmbeddingOutcome:
    """Embed `texts` with `call` (one list of strings -> an SDK `Embeddings`-like answer).

    Returns every vector in input order, or raises one Dify InvokeError naming the failed batch.
    """
    started = time.monotonic()
    texts = list(texts)
    stats = EmbeddingStats(texts=len(texts))
    if not texts:
        return EmbeddingOutcome([], 0, stats)
    estimate = estimate or default_estimator()
    retry = retry or RetryPolicy()
    workers = max(1, min(MAX_CONCURRENCY, int(concurrency)))
    limiter = limiter or AdaptiveLimiter(workers)

    batches = plan_batches(
        texts, limit_tokens, max_per_request, max_tokens_per_request=max_tokens_per_request, estimate=estimate
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
    run = _Run(call, limiter, retry, started + deadline_seconds, limit_tokens, estimate, stats)

    try:
        if len(batches) == 1:
            run.execute(batches[0])
        else:
            _run_concurrently(run, batches, workers, context, deadline_seconds)
    except _BatchFailed as failed:
        run.cancelled.set()
        logger.warning("GigaChat embeddings failed at %s: %s", failed.batch.label, _short(failed.cause))
        raise _failure(failed, context, deadline_seconds) from (failed.cause if not isinstance(failed.cause, _Stop) else None)

    vectors = _assemble(run, len(texts), context)
    stats.final_concurrency = limiter.limit
    stats.split_texts = len({k[0] for k in run.results if any(k[1:])})
    stats.elapsed_seconds = time.monotonic() - started
    logger.debug("GigaChat embeddings done: %s", stats)
    return EmbeddingOutcome(vectors, run.tokens, stats)


def _run_concurrently(run: _Run, batches: list[Batch], workers: int, context: str, deadline_seconds: float) -> None:
    """Run every batch on a bounded pool; return when all succeeded, raise on the first failure
    (the lowest-numbered one if several failed together) or when the deadline passes. Workers
    still running then are told to stop and their results are dropped: never a partial answer."""
    executor = ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="gigachat-embed")

    failed = threading.Event()

    def execute(batch: Batch) -> None:
        # A batch not started before another one failed is skipped. Checked here, in the workers:
        # under gevent a worker takes its next batch before the waiting caller can cancel it.
        if failed.is_set() or run.cancelled.is_set():
            return
        try:
            run.execute(batch)
        except BaseException:
            failed.set()
            raise

    futures: dict[Future, Batch] = {executor.submit(execute, batch): batch for batch in batches}
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=max(0.0, run._time_left()), return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in done if f.exception() is not None]
            if errors:
                failed = [e for e in errors if isinstance(e, _BatchFailed)]
                if failed:
                    raise min(failed, key=lambda e: e.batch.number)
                raise errors[0]  # a bug rather than a GigaChat failure: let it surface as is
            if pending and run._time_left() <= 0:
                raise _deadline_error(batches, pending, futures, context, deadline_seconds)
    finally:
        run.cancelled.set()
        executor.shutdown(wait=False, cancel_futures=True)


def _assemble(run: _Run, count: int, context: str) -> list[list[float]]:
    grouped: list[list[tuple[tuple[int, ...], int, list[float]]]] = [[] for _ in range(count)]
    for key, (index, weight, vector) in run.results.items():
        grouped[index].append((key, weight, vector))
    dims = {len(v) for parts in grouped for _, _, v in parts}
    if len(dims) > 1:
        raise InvokeServerUnavailableError(
            f"GigaChat returned embeddings of different dimensions {sorted(dims)} in one request; retry. [{context}]"
        )
    vectors: list[list[float]] = []
    for index, parts in enumerate(grouped):
        if not parts:  # cannot happen: every batch either succeeded or raised
            raise InvokeServerUnavailableError(f"GigaChat embeddings: no vector for text {index}. [{context}]")
        parts.sort(key=lambda p: p[0])
        try:
            vectors.append(combine_pieces([p[2] for p in parts], [p[1] for p in parts]))
        except ValueError as exc:
            raise InvokeServerUnavailableError(
                f"GigaChat returned an unusable embedding for text {index} ({exc}); retry. [{context}]"
            ) from None
    return vectors
