"""connection/token_cache.py: one token per credential set and lifetime, kept for far more credential
sets than clients, bounded in memory, never handed to another credential set (the SDK client taking
its token from it: tests/unit/test_connection_clients.py)."""

import threading
import tracemalloc

import pytest
from gigachat.models.auth import AccessToken

from emulator.state import TokenStore
from gigachat_dify.connection.clients import MAX_CLIENTS
from gigachat_dify.connection.token_cache import MAX_TOKENS, TOKEN_MEMORY_BUDGET, TokenCache

NOW = 1_750_000_000.0  # unix seconds of the fake clock
MARGIN = 60_000


def token(name: str, ttl_s: float = 1800) -> AccessToken:
    return AccessToken(access_token=name, expires_at=int((NOW + ttl_s) * 1000))


def cache(max_entries: int = 8) -> TokenCache:
    return TokenCache(max_entries, clock=lambda: NOW)


def test_a_kept_token_is_handed_out_only_while_it_has_more_than_the_margin_to_live():
    c = cache()
    c.put("a", token("A", ttl_s=61))
    c.put("b", token("B", ttl_s=59))  # within the renewal margin: as good as expired
    assert c.get("a", MARGIN).access_token == "A"
    assert c.get("b", MARGIN) is None
    assert len(c) == 1, "an expired token is forgotten when found"


def test_each_credential_set_gets_only_its_own_token():
    c = cache()
    c.put("fingerprint-a", token("A"))
    assert c.get("fingerprint-b", MARGIN) is None
    fetched = c.get_or_fetch("fingerprint-b", lambda: token("B"), MARGIN)
    assert fetched.access_token == "B" and c.get("fingerprint-a", MARGIN).access_token == "A"


def test_the_cache_is_bounded_and_drops_expired_tokens_before_live_ones():
    c = cache(max_entries=3)
    c.put("old-but-live", token("L"))
    c.put("expired", token("E", ttl_s=-1))
    c.put("b", token("B"))
    c.put("c", token("C"))  # over the bound: the expired one goes, not the least recently used live one
    assert c.get("old-but-live", MARGIN) is not None and len(c) == 3
    c.put("d", token("D"))  # none expired: the least recently used goes ("b"; "old-but-live" was just used)
    assert c.get("b", MARGIN) is None and len(c) == 3


def test_a_rejected_token_is_dropped_only_while_it_is_the_one_kept():
    c = cache()
    c.put("a", token("A1"))
    c.drop("a", "A0")  # a late 401 for a token already renewed
    assert c.get("a", MARGIN).access_token == "A1"
    c.drop("a", "A1")
    assert c.get("a", MARGIN) is None


def test_one_fetch_at_a_time_per_credential_set_and_other_credential_sets_never_wait():
    c = cache()
    started, release, fetches = threading.Event(), threading.Event(), []

    def slow_fetch():
        fetches.append("a")
        started.set()
        release.wait(10)
        return token("A")

    results = []
    first = threading.Thread(target=lambda: results.append(c.get_or_fetch("a", slow_fetch, MARGIN)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: results.append(c.get_or_fetch("a", slow_fetch, MARGIN)))
    second.start()
    # another credential set is served while "a" is still being fetched
    assert c.get_or_fetch("b", lambda: token("B"), MARGIN).access_token == "B"
    release.set()
    first.join(10)
    second.join(10)
    assert fetches == ["a"] and [t.access_token for t in results] == ["A", "A"]
    assert not c._gates, "no lock left behind per credential set"


def test_a_failed_fetch_keeps_nothing_and_the_next_caller_fetches_again():
    c = cache()

    def failing():
        raise ConnectionError("OAuth unreachable")

    with pytest.raises(ConnectionError):
        c.get_or_fetch("a", failing, MARGIN)
    assert c.get_or_fetch("a", lambda: token("A"), MARGIN).access_token == "A"
    assert not c._gates


def test_max_tokens_of_real_size_fit_their_memory_budget():
    assert MAX_TOKENS >= 16 * MAX_CLIENTS  # far more credential sets keep a token than a client
    issue = TokenStore().issue  # the emulator's tokens are shaped and sized as real JWEs (~1.3 KB)
    c = TokenCache(MAX_TOKENS)
    tracemalloc.start()
    try:
        for i in range(MAX_TOKENS + 100):
            value, expires_at = issue(1_800_000, "GIGACHAT_API_PERS")
            c.put(f"{i:032x}", AccessToken(access_token=value, expires_at=expires_at, x_headers={"x-request-id": "r"}))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(c) == MAX_TOKENS
    # (the emulator's own list of issued tokens is counted too: an upper bound)
    assert held <= TOKEN_MEMORY_BUDGET, held
