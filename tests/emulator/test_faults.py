import threading
import time

import httpx
import pytest
from gigachat.exceptions import RateLimitError, ServerError

from emulator import B2B_KEY
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


def test_stalled_stream_trips_the_client_timeout(emu):
    emu.faults.stall_stream_after(1, seconds=1.5)
    with make_client(emu, timeout=0.3) as c:
        received = []
        with pytest.raises(httpx.ReadTimeout):
            for chunk in c.stream("one two three four five six seven eight"):
                received.append(chunk)
    assert len(received) == 1
    assert emu.stats.faults["stall_stream"] == 1


def test_short_stall_only_delays(emu, client):
    emu.faults.stall_stream_after(1, seconds=0.2)
    start = time.monotonic()
    assert len(list(client.stream("one two three four five six seven eight"))) >= 3
    assert time.monotonic() - start >= 0.2


def test_latency_delays_api_but_not_oauth(emu, client):
    emu.faults.latency = 0.2
    start = time.monotonic()
    get_token(emu)
    assert time.monotonic() - start < 0.2
    start = time.monotonic()
    client.get_models()
    assert time.monotonic() - start >= 0.2


def test_chunk_latency_spaces_stream_chunks(emu, client):
    emu.faults.chunk_latency = 0.05
    start = time.monotonic()
    chunks = list(client.stream("one two three four five six seven eight nine ten eleven twelve"))
    assert time.monotonic() - start >= 0.05 * (len(chunks) - 1)


def test_concurrency_cap_answers_429_and_counts(emu):
    emu.faults.concurrency_cap = 1
    emu.faults.latency = 0.3
    token = get_token(emu, B2B_KEY, "GIGACHAT_API_B2B")  # the global cap, not a personal account's limit
    statuses = []

    def call():
        r = httpx.get(emu.base_url + "/models", headers={"Authorization": f"Bearer {token}"}, verify=SHARED_SSL)
        statuses.append((r.status_code, r.headers.get("retry-after")))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in statuses) == [200, 429, 429]
    assert all(ra == "1" for s, ra in statuses if s == 429)
    assert emu.stats.rate_limited == 2 and emu.stats.faults["concurrency_cap"] == 2
    assert emu.stats.max_concurrency >= 2
    assert emu.stats.in_flight == 0


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


def test_random_faults_are_seeded_counted_and_survivable(emu):
    def soak(seed):
        emu.faults.clear()
        emu.stats.reset()
        emu.faults.random(seed, {"429": 0.1, "500": 0.1, "502": 0.05, "503": 0.05, "cut_stream": 0.1, "slow": 0.05, "expire_token": 0.1}, slow_seconds=0.5)
        emu.faults.retry_after = 0
        outcomes = []
        with make_client(emu, timeout=0.25, credentials=B2B_KEY, scope="GIGACHAT_API_B2B") as c:
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
    assert first == second and faults1 == faults2  # same seed, same run
    kinds = {k.split(":", 1)[1] for k in faults1}
    assert {"429", "500", "cut_stream", "expire_token"} <= kinds
    assert sum(faults1.values()) >= 8
    assert sum(o.startswith("Echo:") for o in first) >= 15  # most requests still get through
    assert "AuthenticationError" not in first  # expired tokens are renewed by the SDK


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
