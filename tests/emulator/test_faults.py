import hashlib
import threading

import httpx
import pytest
from gigachat.exceptions import RateLimitError, ServerError

from emulator import B2B_KEY, Emulator
from emulator.faults import Faults

from .conftest import SHARED_SSL, get_token, make_client


def test_injected_5xx_hits_only_the_matching_path_and_count(emu, client):
    emu.faults.inject(status=503, count=2, path="/chat/completions")
    assert client.get_models().data  # other paths unaffected
    for _ in range(2):
        with pytest.raises(ServerError) as err:
            client.chat("x")
        assert err.value.status_code == 503
        assert err.value.content == b'{"status": 503, "message": "Service Unavailable"}'
    assert client.chat("x").choices[0].message.content == "Echo: x"
    assert emu.stats.faults["status:503"] == 2
    assert emu.stats.status_counts[503] == 2


def test_injected_429_carries_retry_after(emu, client):
    emu.faults.inject(status=429)
    with pytest.raises(RateLimitError) as err:
        client.chat("x")
    assert err.value.retry_after == 1.0
    assert err.value.headers["retry-after"] == "1"
    emu.faults.inject(status=429, retry_after=7)
    with pytest.raises(RateLimitError) as err:
        client.get_models()
    assert err.value.retry_after == 7.0
    assert emu.stats.rate_limited == 2


def test_sdk_retries_through_injected_errors(emu):
    emu.faults.inject(status=502, count=2)
    with make_client(emu, max_retries=2, retry_backoff_factor=0.01) as c:
        assert c.chat("x").choices[0].message.content == "Echo: x"
    assert emu.stats.status_counts[502] == 2 and emu.stats.status_counts[200] >= 1


def test_injected_bodies_json_or_html(api, emu):
    emu.faults.inject(status=500, body={"detail": "boom"})
    r = api.get("/models")
    assert (r.status_code, r.json()) == (500, {"detail": "boom"})
    emu.faults.inject(status=502, body="<html>Bad Gateway</html>", retry_after=3)
    r = api.get("/models")
    assert r.status_code == 502 and r.headers["content-type"] == "text/html" and r.headers["retry-after"] == "3"


def test_injection_can_target_oauth(emu, client):
    emu.faults.inject(status=500, path="/api/v2/oauth")
    with pytest.raises(ServerError):
        client.chat("x")
    assert client.chat("x").choices[0].message.content == "Echo: x"


def test_cut_stream_raises_in_the_sdk(emu, client):
    emu.faults.cut_stream_after(1)
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in client.stream("one two three four five six seven eight nine ten eleven"):
            received.append(chunk)
    assert len(received) == 1
    assert emu.stats.faults["cut_stream"] == 1
    assert len(list(client.stream("whole again"))) >= 2  # only `count` streams are cut


def test_cut_after_everything_still_loses_done(emu, api):
    emu.faults.cut_stream_after(100)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/chat/completions", json={"model": "GigaChat", "stream": True, "messages": [{"role": "user", "content": "x"}]})


def test_an_ended_stream_closes_cleanly_without_its_end_after_optional_raw_bytes(emu, api):
    body = {"model": "GigaChat", "stream": True, "messages": [{"role": "user", "content": "one two three four five"}]}
    emu.faults.end_stream_after(1, b"event: error\ndata: {\"message\": \"boom\"}\n\n")
    text = api.post("/chat/completions", json=body).text  # a complete HTTP response: no transport error
    assert text.count("data: {\"choices\"") == 1 and text.endswith('event: error\ndata: {"message": "boom"}\n\n')
    assert "[DONE]" not in text and "finish_reason" not in text
    assert emu.stats.faults["end_stream"] == 1
    assert "[DONE]" in api.post("/chat/completions", json=body).text  # only `count` streams end early


# Delays are proven by events, never by a stopwatch: a delay of LONG seconds would outlast any
# test; the test sees the request waiting in it (`stats.sleeping`), then faults.clear() ends it.
LONG = 60.0
TEXT = "one two three four five six seven eight nine ten eleven twelve"


def in_background(fn):
    out: dict = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # noqa: BLE001
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_stalled_stream_trips_the_client_timeout(emu):
    emu.faults.stall_stream_after(1, seconds=LONG)
    with make_client(emu, timeout=2) as c:
        received = []
        with pytest.raises(httpx.ReadTimeout):
            for chunk in c.stream(TEXT):
                received.append(chunk)
    assert len(received) == 1
    assert emu.stats.faults["stall_stream"] == 1 and emu.stats.sleeping == 1  # still stalled server-side
    emu.faults.clear()
    assert emu.stats.wait_until(lambda s: s.sleeping == 0 and s.in_flight == 0)


def test_a_stall_only_delays_the_stream(emu, client):
    emu.faults.stall_stream_after(2, seconds=LONG)
    t, out = in_background(lambda: list(client.stream(TEXT)))
    assert emu.stats.wait_until(lambda s: s.sleeping == 1)  # stalled after two events
    assert t.is_alive()
    emu.faults.clear()  # the stall ends; the stream goes on, whole
    t.join(30)
    assert "error" not in out, out
    assert "".join(c.choices[0].delta.content or "" for c in out["value"]) == f"Echo: {TEXT}"
    assert emu.stats.fault_sleeps == 1


def test_latency_delays_api_calls_but_not_oauth(emu, client):
    client.get_models()  # the client has its token now
    emu.faults.latency = LONG
    t, out = in_background(client.get_models)
    assert emu.stats.wait_until(lambda s: s.sleeping == 1)
    models_call = emu.log[-1]
    get_token(emu)  # OAuth answers while the API call waits out its latency
    assert models_call.status is None and t.is_alive()
    emu.faults.clear()
    t.join(30)
    assert out["value"].data and models_call.status == 200
    assert emu.stats.fault_sleeps == 1


def test_chunk_latency_spaces_every_two_stream_events(emu, client):
    emu.faults.chunk_latency = LONG
    t, out = in_background(lambda: list(client.stream(TEXT)))
    assert emu.stats.wait_until(lambda s: s.sleeping == 1)  # the first event went out, then a gap
    emu.faults.clear()  # this stream's remaining gaps are over too
    t.join(30)
    chunks = out["value"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == f"Echo: {TEXT}"
    assert emu.stats.fault_sleeps == len(chunks)  # a gap before every event after the first ([DONE] included)


def test_concurrency_cap_answers_429_and_counts(emu):
    emu.faults.concurrency_cap = 1
    token = get_token(emu, B2B_KEY, "GIGACHAT_API_B2B")  # the global cap, not a personal account's limit
    hold = emu.faults.hold(count=1)

    def call():
        return httpx.get(emu.base_url + "/models", headers={"Authorization": f"Bearer {token}"}, verify=SHARED_SSL)

    t, out = in_background(call)
    assert hold.wait_arrived(1)
    refused = [call(), call()]
    assert [(r.status_code, r.headers.get("retry-after")) for r in refused] == [(429, "1")] * 2
    hold.release()
    t.join(30)
    assert out["value"].status_code == 200
    assert emu.stats.rate_limited == 2 and emu.stats.faults["concurrency_cap"] == 2
    assert emu.stats.max_concurrency == 2  # the held one and each refused one
    assert emu.stats.wait_until(lambda s: s.in_flight == 0)


def test_reset_mode_drops_connections_then_recovers(emu, api):
    assert api.get("/models").status_code == 200  # a kept-alive connection exists now
    emu.faults.refuse_connections(True)
    with pytest.raises(httpx.TransportError):
        api.get("/models")
    with pytest.raises(httpx.TransportError):
        httpx.get(emu.base_url + "/models", verify=SHARED_SSL)
    emu.faults.refuse_connections(False)
    assert api.get("/models").status_code == 200
    assert emu.stats.faults["refused"] >= 2


def test_refuse_mode_stops_listening_on_the_same_port(emu, api):
    port = emu.port
    emu.faults.refuse_connections(True, mode="refuse")
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.base_url + "/models", verify=SHARED_SSL)
    emu.faults.clear()  # also listens again
    assert emu.port == port
    assert api.get("/models").status_code == 200


SOAK_RATES = {"429": 0.08, "500": 0.08, "502": 0.04, "503": 0.04, "cut_stream": 0.08, "slow": 0.03,
              "expire_token": 0.08, "reset": 0.04}


@pytest.mark.timeout(120)  # each "slow" fault costs the client's 2 s timeout
def test_random_faults_are_seeded_counted_and_survivable(emu):
    def soak(seed):
        emu.faults.clear()
        emu.stats.reset()
        emu.faults.random(seed, SOAK_RATES, slow_seconds=LONG)  # "slow" outlasts the client's timeout
        emu.faults.retry_after = 0
        outcomes = []
        with make_client(emu, timeout=2, credentials=B2B_KEY, scope="GIGACHAT_API_B2B") as c:
            for i in range(40):
                try:
                    if i % 2:
                        outcomes.append("".join(ch.choices[0].delta.content or "" for ch in c.stream(f"s{i}")))
                    else:
                        outcomes.append(c.chat(f"c{i}").choices[0].message.content)
                except Exception as e:  # noqa: BLE001
                    outcomes.append(type(e).__name__)
        return outcomes, dict(emu.stats.faults)

    first, faults1 = soak(7)
    second, faults2 = soak(7)
    emu.faults.clear()  # wakes the slow ones
    assert first == second and faults1 == faults2  # same seed, same run
    kinds = {k.split(":", 1)[1] for k in faults1}
    assert {"429", "500", "cut_stream", "expire_token", "reset"} <= kinds
    assert sum(faults1.values()) >= 8
    assert sum(o.startswith("Echo:") for o in first) >= 15  # most requests still get through
    assert "AuthenticationError" not in first  # expired tokens are renewed by the SDK


def test_random_decisions_depend_on_the_request_not_on_arrival_order():
    rates = {"429": 0.2, "500": 0.2, "503": 0.1, "reset": 0.1}  # expire_token: the SDK test above
    bodies = [{"model": "GigaChat", "input": [f"text {i}"]} for i in range(40)]

    def run(order, workers):
        with Emulator(concurrency=None) as emu:
            emu.faults.random(3, rates)
            token = get_token(emu, B2B_KEY, "GIGACHAT_API_B2B")
            results = {}

            def send(i):
                try:
                    r = httpx.post(emu.base_url + "/tokens/count", json=bodies[i], verify=SHARED_SSL,
                                   headers={"Authorization": f"Bearer {token}"})
                    results[i] = r.status_code
                except httpx.TransportError:
                    results[i] = "reset"

            chunks = [order[k::workers] for k in range(workers)]
            threads = [threading.Thread(target=lambda c=c: [send(i) for i in c]) for c in chunks]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            return results, dict(emu.stats.faults)

    forward, faults_forward = run(list(range(40)), 1)
    backward, faults_backward = run(list(range(39, -1, -1)), 1)
    interleaved, faults_interleaved = run(list(range(40)), 6)  # six threads at once
    assert forward == backward == interleaved
    assert faults_forward == faults_backward == faults_interleaved
    assert set(forward.values()) >= {200, 429, 500, "reset"}


def test_decide_is_a_pure_function_of_seed_request_and_occurrence():
    from emulator.faults import decide

    rates = {"500": 0.3, "cut_stream": 0.3}
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(400)]
    first = [decide(1, d, n, rates) for d in digests for n in range(3)]
    assert first == [decide(1, d, n, rates) for d in digests for n in range(3)]
    assert first != [decide(2, d, n, rates) for d in digests for n in range(3)]
    kinds = [d.kind if d else None for d in first]
    assert 0.2 < kinds.count("500") / len(kinds) < 0.4 and 0.2 < kinds.count("cut_stream") / len(kinds) < 0.4
    assert {d.after for d in first if d} == {0, 1, 2}
    # a retry (the next occurrence) gets its own decision
    assert [decide(1, d, 0, rates) for d in digests] != [decide(1, d, 1, rates) for d in digests]


def test_random_rejects_unknown_kinds_and_bad_rates():
    f = Faults()
    with pytest.raises(ValueError):
        f.random(1, {"teapot": 0.1})
    with pytest.raises(ValueError):
        f.random(1, {"500": 0.7, "502": 0.7})


def test_clear_restores_health(emu, client):
    emu.faults.inject(status=500, count=5)
    emu.faults.latency = 5
    emu.faults.concurrency_cap = 0
    emu.faults.cut_stream_after(0, count=3)
    emu.faults.clear()
    assert client.chat("ok").choices[0].message.content == "Echo: ok"
    assert list(client.stream("ok"))
