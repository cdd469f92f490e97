"""'Request timeout (seconds)' bounds a request as a whole, not each read (connection/deadline.py): a
host that trickles its answer a byte at a time is given up on after the timeout, with the timeout's
message; a streamed answer is bounded per piece, so a long one that keeps coming completes."""

import io
import time

import httpx
import pytest
from dify_plugin.errors.model import CredentialsValidateFailedError

from emulator import DEFAULT_KEY, Emulator
from gigachat_dify import errors
from gigachat_dify.connection import clients
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import parse_credentials
from gigachat_dify.connection.validation import validate_provider
from gigachat_dify.embeddings import http as embeddings_http
from gigachat_dify.failures import Transport, classify
from tests.support.net import dribbling_host

TIMEOUT = 1  # seconds, the form's smallest
MARGIN = 0.6  # a byte's pace, a loaded machine
PACE = 0.2  # one byte every PACE seconds: each read is well within the timeout
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
QUESTION = [{"role": "user", "content": "Расскажи подробно и длинно историю про GigaChat, Dify и их интеграцию"}]


@pytest.fixture(scope="module")
def emu():
    with Emulator() as e:
        yield e


@pytest.fixture(autouse=True)
def _empty_cache(emu):
    clients.clear()
    emu.reset()
    yield
    clients.clear()


def form(emu, *, base_url=None, auth_url=None):
    return {"authorization_key": DEFAULT_KEY, "base_url": base_url or emu.base_url,
            "auth_url": auth_url or emu.auth_url, "timeout": str(TIMEOUT)}


def timed(call):
    """(the exception `call` raised, seconds it took)."""
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        call()
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize("trickling", ["Base URL", "OAuth URL"])
def test_validation_against_a_trickling_host_ends_within_the_timeout_with_the_timeout_message(emu, trickling):
    with dribbling_host(PACE) as host:
        credentials = (form(emu, base_url=f"{host}/api/v1") if trickling == "Base URL"
                       else form(emu, auth_url=f"{host}/api/v2/oauth"))
        exc, took = timed(lambda: validate_provider(credentials))
    assert took < TIMEOUT + MARGIN, f"validation took {took:.1f}s with a {TIMEOUT}s timeout"
    assert isinstance(exc, CredentialsValidateFailedError)
    assert f"'{trickling}'" in str(exc)
    assert "did not answer in time" in str(exc) and "raise 'Request timeout (seconds)'" in str(exc)


REQUESTS = {
    "models": lambda client: client.get_models(),
    "blocking chat": lambda client: client.chat({"model": "GigaChat-2", "messages": QUESTION}),
    "embeddings": lambda client: embeddings_http.embeddings(client, ["text"], "Embeddings"),
    "file upload": lambda client: client.upload_file(("a.txt", io.BytesIO(b"text"), "text/plain")),
    "file download": lambda client: client.get_image("0b6aa5ee-1c43-4d3c-9e0e-0d5b0b2a3d5c"),
}


@pytest.mark.parametrize("request_name", REQUESTS)
def test_every_request_to_a_trickling_host_ends_within_the_timeout_as_a_timeout(emu, request_name):
    with dribbling_host(PACE) as host:
        client = get_client(parse_credentials(form(emu, base_url=f"{host}/api/v1")))
        exc, took = timed(lambda: REQUESTS[request_name](client))
    assert took < TIMEOUT + MARGIN, f"{request_name} took {took:.1f}s with a {TIMEOUT}s timeout"
    assert classify(exc).transport is Transport.TIMEOUT, repr(exc)
    assert "did not answer in time" in errors.describe(exc)[1]


def test_headers_that_trickle_are_bounded_too(emu):
    with dribbling_host(PACE, headers_too=True) as host:
        client = get_client(parse_credentials(form(emu, base_url=f"{host}/api/v1")))
        exc, took = timed(client.get_models)
    assert took < TIMEOUT + MARGIN, f"took {took:.1f}s with a {TIMEOUT}s timeout"
    assert isinstance(exc, httpx.ReadTimeout), repr(exc)


def test_a_stream_whose_next_event_does_not_come_in_time_ends_as_a_timeout(emu):
    # Bytes keep coming (within every read timeout) but never an event: no next piece of the answer.
    with dribbling_host(PACE, head=SSE_HEAD) as host:
        client = get_client(parse_credentials(form(emu, base_url=f"{host}/api/v1")))
        exc, took = timed(lambda: list(client.stream({"model": "GigaChat-2", "messages": QUESTION})))
    assert took < TIMEOUT + MARGIN, f"took {took:.1f}s with a {TIMEOUT}s timeout"
    assert classify(exc).transport is Transport.TIMEOUT, repr(exc)


@pytest.mark.parametrize("contract", ["v1", "v2"])
def test_a_streamed_answer_longer_than_the_timeout_completes_when_each_piece_comes_in_time(emu, contract):
    emu.faults.chunk_latency = TIMEOUT * 0.4
    client = get_client(parse_credentials(form(emu)))
    started = time.monotonic()
    if contract == "v1":
        chunks = list(client.stream({"model": "GigaChat-2", "messages": QUESTION}))
        finish = chunks[-1].choices[0].finish_reason
    else:
        chunks = list(client.chat.stream({"model": "GigaChat-2", "messages": QUESTION,
                                          "tools": [{"web_search": {}}]}))
        finish = chunks[-1].event
    took = time.monotonic() - started
    assert took > 1.5 * TIMEOUT, f"the answer took only {took:.1f}s: it proves nothing"
    assert finish in ("stop", "response.message.done")


def test_a_complete_stream_whose_body_then_trickles_is_not_an_error(emu):
    # The answer ended ([DONE]); what trickles after it only costs the connection, read no longer than the timeout.
    event = (b'data: {"choices": [{"delta": {"content": "Hi", "role": "assistant"}, "index": 0, '
             b'"finish_reason": "stop"}], "created": 1, "model": "GigaChat", "object": "chat.completion"}\n\n'
             b"data: [DONE]\n\n")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + event
    with dribbling_host(PACE, head=head) as host:
        client = get_client(parse_credentials(form(emu, base_url=f"{host}/api/v1")))
        started = time.monotonic()
        chunks = list(client.stream({"model": "GigaChat-2", "messages": QUESTION}))
        took = time.monotonic() - started
    assert [c.choices[0].delta.content for c in chunks] == ["Hi"]
    assert took < TIMEOUT + MARGIN, f"took {took:.1f}s with a {TIMEOUT}s timeout"
