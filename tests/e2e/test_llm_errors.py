"""Every failure reaches Dify as the right error with an actionable message, also mid-stream."""

import time

import pytest

from tests.support.daemon import collect_text, user
from tests.support.net import dribbling_host

Q = [user("Расскажи подробно и длинно историю про GigaChat, Dify и их интеграцию в компании")]


@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_transient_server_errors_are_retried_before_any_output(plugin, credentials, emulator, stream):
    emulator.faults.inject(status=503, count=2, path="/chat/completions")
    result = plugin.invoke_llm("GigaChat-2", credentials, Q, stream=stream)
    assert result.ok, result.error
    assert collect_text(result).startswith("Echo:")
    assert emulator.stats.status_counts[503] == 2


def test_rate_limit_with_retry_after_is_honoured_then_succeeds(plugin, credentials, emulator):
    emulator.faults.inject(status=429, count=1, path="/chat/completions", retry_after=1)
    started = time.monotonic()
    result = plugin.invoke_llm("GigaChat-2", credentials, Q, stream=True)
    assert result.ok, result.error
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize(
    "status, error_type, phrase",
    [
        (429, "InvokeRateLimitError", "rate limit"),
        (402, "InvokeRateLimitError", "quota of this account is used up"),
        (403, "InvokeAuthorizationError", "refused access"),
        (500, "InvokeServerUnavailableError", "temporarily unavailable"),
        (422, "InvokeBadRequestError", "rejected the request"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_persistent_api_errors_map_to_dify_errors(plugin, credentials, emulator, status, error_type, phrase, stream):
    emulator.faults.inject(status=status, count=10, path="/chat/completions", retry_after=0 if status == 429 else None)
    result = plugin.invoke_llm("GigaChat-2", credentials, Q, stream=stream)
    assert result.error_type == error_type, result.error
    assert phrase in result.error_message
    assert "Traceback" not in result.error_message and "gigachat.exceptions" not in result.error_message


def test_stream_cut_mid_answer_is_a_connection_error_not_a_duplicate(plugin, credentials, emulator):
    emulator.faults.cut_stream_after(2)
    result = plugin.invoke_llm("GigaChat-2", credentials, Q, stream=True)
    assert result.error_type == "InvokeConnectionError"
    assert "interrupted" in result.error_message
    # no retry after output started: the chunks already shown are not repeated
    assert emulator.stats.requests["POST /chat/completions"] == 1


def test_stalled_stream_ends_with_a_connection_error_within_the_timeout(plugin, credentials, emulator):
    emulator.faults.stall_stream_after(1, seconds=30)
    started = time.monotonic()
    result = plugin.invoke_llm("GigaChat-2", dict(credentials, timeout="2"), Q, stream=True, timeout=20)
    assert result.error_type == "InvokeConnectionError"
    assert "did not answer in time" in result.error_message
    assert time.monotonic() - started < 10


def test_blocking_answer_that_trickles_times_out_within_the_timeout(plugin, credentials):
    # A gateway sending 200 and then a byte a second: every read is in time, the answer never is.
    with dribbling_host(0.5) as host:
        started = time.monotonic()
        result = plugin.invoke_llm("GigaChat-2", dict(credentials, base_url=f"{host}/api/v1", timeout="2"),
                                   Q, stream=False, timeout=30)
        took = time.monotonic() - started
    assert result.error_type == "InvokeConnectionError"
    assert "did not answer in time" in result.error_message
    assert "raise 'Request timeout (seconds)'" in result.error_message
    assert took < 4, f"the blocking chat took {took:.1f}s with a 2 s timeout"


def test_wrong_key_at_invoke_time_is_an_authorization_error(plugin, credentials):
    import base64

    bad = dict(credentials, authorization_key=base64.b64encode(b"x:unknown-secret").decode())
    result = plugin.invoke_llm("GigaChat-2", bad, Q, stream=True)
    assert result.error_type == "InvokeAuthorizationError"
    assert "does not recognise this authorization key" in result.error_message


def test_token_counting_is_local(plugin, credentials, emulator):
    result = plugin.llm_num_tokens("GigaChat-2", credentials, Q)
    assert result.ok, result.error
    assert result.chunks[-1]["num_tokens"] > 10
    assert not [r for r in emulator.log if r.path != "/api/v2/oauth"]


def test_a_parameter_outside_its_declared_options_is_a_bad_request_naming_it(plugin, credentials):
    # Dify's UI offers only the declared options; an API caller or another plugin can send anything.
    result = plugin.invoke_llm("GigaChat-3-Ultra", credentials, [user("Hi")],
                               model_parameters={"web_search": "sometimes"}, stream=False)
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "web_search" in result.error_message


@pytest.mark.parametrize("status, body", [(403, {"status": 403, "message": "Forbidden"}),
                                          (404, {"status": 404, "message": "No such model"})], ids=["403", "404"])
@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_gigachat_3_ultra_refused_to_an_account_names_who_is_offered_it(plugin, credentials, emulator, status, body,
                                                                         stream):
    # GigaChat docs (17 Jul 2026): only individuals on the freemium plan have it. The 404 said
    # "offered to business clients at api.giga.chat", which is wrong now.
    emulator.faults.inject(status=status, count=1, path="/chat/completions", body=body)
    result = plugin.invoke_llm("GigaChat-3-Ultra", credentials, [user("hi")], stream=stream)
    assert "GigaChat-3-Ultra is offered only to individuals on the freemium plan" in result.error_message
    assert "legal entities have no access" in result.error_message and "business" not in result.error_message
