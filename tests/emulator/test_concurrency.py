"""Requests in flight per account, as documented (Nov 2025): a personal account 1, business
accounts 10; beyond that 429 "Too many requests" with Retry-After. Requests are held in flight
with `faults.hold` (released by the test), so every count here is exact, whatever the timing."""

import threading

import httpx
import pytest
from gigachat.exceptions import RateLimitError

from emulator import B2B_KEY, CORP_KEY, DEFAULT_KEY, Emulator, make_key
from emulator.core import DEFAULT_CONCURRENCY
from emulator.oauth import decode_key

from .conftest import SHARED_SSL, get_token, make_client

PERS_2 = make_key("0a1b2c3d-0000-4000-8000-0000000000f2", "second-personal-account")
B2B_2 = make_key("0a1b2c3d-0000-4000-8000-0000000000f3", "second-business-account")
KEYS = {
    DEFAULT_KEY: {"GIGACHAT_API_PERS"},
    PERS_2: {"GIGACHAT_API_PERS"},
    B2B_KEY: {"GIGACHAT_API_B2B"},
    B2B_2: {"GIGACHAT_API_B2B"},
    CORP_KEY: {"GIGACHAT_API_CORP"},
}
SCOPE_OF = {DEFAULT_KEY: "GIGACHAT_API_PERS", PERS_2: "GIGACHAT_API_PERS", B2B_KEY: "GIGACHAT_API_B2B",
            B2B_2: "GIGACHAT_API_B2B", CORP_KEY: "GIGACHAT_API_CORP"}


class Caller:
    """Raw HTTP calls with one account's token; background calls are joined by `finish`."""

    def __init__(self, emu, key=None, headers=None):
        token = get_token(emu, key, SCOPE_OF[key]) if key else None
        self.emu = emu
        self.headers = headers if headers is not None else {"Authorization": f"Bearer {token}"}
        self.threads: list[threading.Thread] = []
        self.results: list[httpx.Response] = []

    def call(self, path="/models", **kw):
        return httpx.get(self.emu.base_url + path, headers=self.headers, verify=SHARED_SSL, timeout=30, **kw)

    def start(self, n=1, path="/models"):
        for _ in range(n):
            t = threading.Thread(target=lambda: self.results.append(self.call(path)))
            t.start()
            self.threads.append(t)

    def finish(self):
        for t in self.threads:
            t.join(30)
        assert not any(t.is_alive() for t in self.threads)
        return sorted(r.status_code for r in self.results)


@pytest.fixture
def emu():
    with Emulator(keys=KEYS) as e:
        yield e
        e.faults.clear()  # releases any hold a failed test left


def test_the_documented_defaults():
    assert DEFAULT_CONCURRENCY == {"GIGACHAT_API_PERS": 1, "GIGACHAT_API_B2B": 10, "GIGACHAT_API_CORP": 10,
                                   "user": 10, "certificate": 10}


def test_a_personal_account_gets_one_request_in_flight_then_429_with_retry_after(emu):
    alice = Caller(emu, DEFAULT_KEY)
    hold = emu.faults.hold(count=1)
    alice.start()
    assert hold.wait_arrived(1)
    refused = alice.call()
    assert refused.status_code == 429
    assert refused.json() == {"status": 429, "message": "Too many requests"}
    assert refused.headers["retry-after"] == "1"
    assert refused.headers.get("x-request-id")
    hold.release()
    assert alice.finish() == [200]
    assert alice.call().status_code == 200  # the slot is free again; the 429 never took one
    account = emu.log[-1].client_id
    assert emu.stats.over_concurrency == {account: 1}
    assert emu.stats.max_concurrency_by_account[account] == 1
    assert emu.stats.in_flight_by_account == {}


def test_the_limit_counts_per_account_not_for_the_whole_host(emu):
    alice, bob = Caller(emu, DEFAULT_KEY), Caller(emu, PERS_2)
    hold = emu.faults.hold(count=2)
    alice.start()
    bob.start()
    assert hold.wait_arrived(2)  # one personal request each, at the same time
    assert alice.call().status_code == 429 and bob.call().status_code == 429
    hold.release()
    assert alice.finish() == bob.finish() == [200]
    ids = [decode_key(DEFAULT_KEY)[0], decode_key(PERS_2)[0]]
    assert emu.stats.max_concurrency_by_account == {ids[0]: 1, ids[1]: 1}
    assert emu.stats.over_concurrency == {ids[0]: 1, ids[1]: 1}


@pytest.mark.parametrize("key", [B2B_KEY, CORP_KEY], ids=["B2B", "CORP"])
def test_a_business_account_gets_ten_requests_in_flight(emu, key):
    company, other = Caller(emu, key), Caller(emu, B2B_2)
    hold = emu.faults.hold(count=11)
    company.start(10)
    assert hold.wait_arrived(10)
    assert company.call().status_code == 429
    other.start(1)  # another business account has its own ten
    assert hold.wait_arrived(1)
    hold.release()
    assert company.finish() == [200] * 10 and other.finish() == [200]
    assert emu.stats.max_concurrency_by_account[decode_key(key)[0]] == 10


def test_a_stream_keeps_its_slot_until_it_ends(emu):
    with make_client(emu) as c:
        hold = emu.faults.hold(count=1, after_events=1)
        chunks = c.stream("one two three four five six seven eight nine ten")
        first = next(chunks)  # the stream is open, the rest waits on the hold
        assert first.choices[0].delta.role == "assistant"
        assert hold.wait_arrived(1)
        with pytest.raises(RateLimitError) as err:
            c.chat("while streaming")
        assert err.value.retry_after == 1.0
        hold.release()
        rest = list(chunks)
        assert rest[-1].choices[0].finish_reason == "stop"
        assert c.chat("after the stream").choices[0].message.content == "Echo: after the stream"


def test_limits_are_configurable_overridable_and_restored_by_reset():
    with Emulator(keys=KEYS, concurrency={"GIGACHAT_API_PERS": 2}) as emu:
        assert emu.concurrency["GIGACHAT_API_B2B"] == 10  # the defaults it did not name stay
        alice = Caller(emu, DEFAULT_KEY)
        hold = emu.faults.hold(count=2)
        alice.start(2)
        assert hold.wait_arrived(2)
        assert alice.call().status_code == 429
        emu.concurrency["GIGACHAT_API_PERS"] = None  # lifted at run time
        assert alice.call().status_code == 200
        hold.release()
        assert alice.finish() == [200, 200]
        emu.reset()
        assert emu.concurrency["GIGACHAT_API_PERS"] == 2
    with Emulator(keys=KEYS, concurrency=None) as emu:
        alice = Caller(emu, DEFAULT_KEY)
        hold = emu.faults.hold(count=12)
        alice.start(12)
        assert hold.wait_arrived(12)
        hold.release()
        assert alice.finish() == [200] * 12


def test_user_password_tokens_count_per_user():
    with Emulator(users={"alice": "a-pass", "bob": "b-pass"}, concurrency={"user": 1}) as emu:
        def token(user, password):
            return httpx.post(emu.base_url + "/token", auth=(user, password), verify=SHARED_SSL).json()["tok"]

        alice = Caller(emu, headers={"Authorization": f"Bearer {token('alice', 'a-pass')}"})
        bob = Caller(emu, headers={"Authorization": f"Bearer {token('bob', 'b-pass')}"})
        hold = emu.faults.hold(count=2)
        alice.start()
        assert hold.wait_arrived(1)
        assert alice.call().status_code == 429
        bob.start()
        assert hold.wait_arrived(1)
        hold.release()
        assert alice.finish() == bob.finish() == [200]
        assert set(emu.stats.over_concurrency) == {"alice"}


def test_the_global_cap_still_applies_on_top(emu):
    emu.faults.concurrency_cap = 2
    a, b, c = Caller(emu, B2B_KEY), Caller(emu, B2B_2), Caller(emu, CORP_KEY)
    hold = emu.faults.hold(count=2)
    a.start()
    b.start()
    assert hold.wait_arrived(2)
    assert c.call().status_code == 429  # its own account is idle: the host-wide cap refused it
    assert emu.stats.faults["concurrency_cap"] == 1 and emu.stats.over_concurrency == {}
    hold.release()
    assert a.finish() == b.finish() == [200]
