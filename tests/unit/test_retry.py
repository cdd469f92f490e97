import gigachat.exceptions as gx
import httpx
import pytest

from gigachat_dify.retry import JITTER, call_with_retries, is_transient, stream_with_retries


def err(cls, status, headers=None):
    return cls("https://x/api/v1/chat/completions", status, b"{}", httpx.Headers(headers or {}))


@pytest.mark.parametrize("exc, transient", [
    (err(gx.ServerError, 503), True),
    (err(gx.RateLimitError, 429, {"retry-after": "2"}), True),
    (err(gx.RateLimitError, 429, {"retry-after": "600"}), False),  # too long to wait inside a request
    (err(gx.BadRequestError, 400), False),
    (gx.AuthenticationError("https://x/api/v2/oauth", 401, b'{"code": 6, "message": "bad key"}', httpx.Headers()), False),
    (gx.AuthenticationError("https://x/api/v1/chat", 401, b'{"status": 401, "message": "Unauthorized"}', httpx.Headers()), True),
    (httpx.ConnectError("refused"), True),
    (httpx.ReadTimeout("slow"), False),  # slow, not gone: repeating doubles the wait
])
def test_only_failures_worth_repeating_are_transient(exc, transient):
    assert is_transient(exc) is transient


def test_blocking_call_is_repeated_until_it_succeeds():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise err(gx.ServerError, 502)
        return "ok"

    assert call_with_retries(flaky, 2, sleep=lambda s: None) == "ok" and len(attempts) == 3


def test_rate_limit_waits_the_advertised_time():
    slept = []
    calls = iter([err(gx.RateLimitError, 429, {"retry-after": "3"}), "ok"])

    def fn():
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert call_with_retries(fn, 1, sleep=slept.append) == "ok"
    assert 3 <= slept[0] <= 3 * (1 + JITTER)


def test_stream_is_reopened_only_before_its_first_chunk():
    opened = []

    def open_stream():
        opened.append(1)
        if len(opened) == 1:
            raise err(gx.ServerError, 503)
        yield "a"
        raise httpx.RemoteProtocolError("cut")

    out = []
    with pytest.raises(httpx.RemoteProtocolError):
        for item in stream_with_retries(open_stream, 3, sleep=lambda s: None):
            out.append(item)
    assert out == ["a"] and len(opened) == 2  # the cut after "a" is not retried: no duplicated output


# --- one policy: the chat path and the embeddings engine decide alike ------------------------------

from types import SimpleNamespace as NS  # noqa: E402

from dify_plugin.errors.model import InvokeError  # noqa: E402

from gigachat_dify import retry  # noqa: E402
from gigachat_dify.embeddings.execution import embed_texts  # noqa: E402
from gigachat_dify.embeddings.limiter import RATE_LIMITED, AdaptiveLimiter  # noqa: E402

OAUTH_401 = b'{"code": 6, "message": "credentials doesn\'t match db data"}'
FAILURES = {
    "500": lambda: err(gx.ServerError, 500),
    "502": lambda: err(gx.ServerError, 502),
    "503": lambda: err(gx.ServerError, 503),
    "429 short Retry-After": lambda: err(gx.RateLimitError, 429, {"retry-after": "0.05"}),
    "429 long Retry-After": lambda: err(gx.RateLimitError, 429, {"retry-after": "600"}),
    "400": lambda: err(gx.BadRequestError, 400),
    "403": lambda: err(gx.ForbiddenError, 403),
    "404": lambda: err(gx.NotFoundError, 404),
    "401 from OAuth": lambda: gx.AuthenticationError("https://x/api/v2/oauth", 401, OAUTH_401, httpx.Headers()),
    "401 from the API": lambda: gx.AuthenticationError(
        "https://x/api/v1/embeddings", 401, b'{"status": 401, "message": "Unauthorized"}', httpx.Headers()),
    "connection refused": lambda: httpx.ConnectError("refused"),
    "read timeout": lambda: httpx.ReadTimeout("slow"),
    # 413/422 are left out on purpose: the engine re-splits the batch (its own mechanic), chat cannot.
}


@pytest.fixture
def fixed_jitter(monkeypatch):
    monkeypatch.setattr(retry._random, "random", lambda: 0.5)
    waits: list[float] = []
    monkeypatch.setattr(retry, "pause", lambda seconds, cancelled=None: waits.append(seconds) or False)
    return waits


def _flaky(failure, times):
    calls = []

    def fn(*_):
        calls.append(1)
        if len(calls) <= times:
            raise failure()
        return NS(data=[NS(index=0, embedding=[0.5, 0.25], usage=NS(prompt_tokens=1))])

    return fn, calls


class SpyLimiter(AdaptiveLimiter):
    def __init__(self):
        super().__init__(1)
        self.pauses: list[float] = []

    def release(self, generation, outcome="ok", pause=0.0):
        if outcome == RATE_LIMITED and pause > 0:
            self.pauses.append(pause)
        super().release(generation, outcome, 0.0)  # the value is what is compared; no real pause


@pytest.mark.parametrize("name", list(FAILURES))
def test_chat_and_embeddings_retry_the_same_failures_with_the_same_waits(name, fixed_jitter):
    failure = FAILURES[name]
    chat, chat_calls = _flaky(failure, 2)
    try:
        call_with_retries(chat, 2)
        chat_waits, chat_failed = list(fixed_jitter), False
    except Exception:
        chat_waits, chat_failed = list(fixed_jitter), True
    fixed_jitter.clear()

    embeddings, embedding_calls = _flaky(failure, 2)
    limiter = SpyLimiter()
    try:
        embed_texts(embeddings, ["a"], max_retries=2, limiter=limiter)
        embeddings_failed = False
    except InvokeError:
        embeddings_failed = True
    embedding_waits = fixed_jitter + limiter.pauses  # back-off sleeps, or 429 pauses of the shared limiter

    assert chat_failed == embeddings_failed
    assert len(chat_calls) == len(embedding_calls) == (1 if chat_failed else 3)
    assert chat_waits == pytest.approx(embedding_waits)


def test_the_retry_after_cap_is_one_figure_for_both_paths(fixed_jitter):
    assert retry.is_transient(err(gx.RateLimitError, 429, {"retry-after": str(retry.MAX_RETRY_AFTER)}))
    assert not retry.is_transient(err(gx.RateLimitError, 429, {"retry-after": str(retry.MAX_RETRY_AFTER + 1)}))
    assert retry.rate_limit_wait(err(gx.RateLimitError, 429, {"retry-after": "5"})) == pytest.approx(5 * 1.1)


def test_the_backoff_doubles_up_to_its_cap():
    waits = [retry.backoff_delay(attempt) for attempt in range(8)]
    assert all(retry.BACKOFF_BASE * 2**a <= w <= retry.BACKOFF_BASE * 2**a * (1 + retry.JITTER)
               for a, w in enumerate(waits[:4]))
    assert max(waits) <= retry.BACKOFF_CAP * (1 + retry.JITTER)
