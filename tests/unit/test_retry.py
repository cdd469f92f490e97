import gigachat.exceptions as gx
import httpx
import pytest

from gigachat_dify.retry import call_with_retries, is_transient, stream_with_retries


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
    assert 3 <= slept[0] < 3.5


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
