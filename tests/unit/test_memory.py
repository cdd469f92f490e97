"""gigachat_dify/memory.py: what the process learnt about a host or an account (structured output
refused, the form of function results a host takes) is kept for its key only, expires, stays
bounded under concurrent requests."""

import threading

from gigachat_dify.chat import structured
from gigachat_dify.chat.v2 import dialect
from gigachat_dify.memory import Memory


def test_what_was_learnt_is_kept_for_its_key_only_until_it_expires():
    now = [0.0]
    memory = Memory(max_entries=10, ttl=60, clock=lambda: now[0])
    key = ("https://api.giga.chat/v1", "GigaChat-2", "fp1")
    memory.learn(key, True)
    assert memory.get(key) is True
    assert memory.get(("https://api.giga.chat/v1", "GigaChat-2-Max", "fp1")) is None
    assert memory.get(("https://api.giga.chat/v1", "GigaChat-2", "fp2")) is None  # another account
    now[0] = 61
    assert memory.get(key) is None and len(memory) == 0  # expired: the account or host may have changed


def test_the_least_recently_learnt_is_dropped_first():
    memory = Memory(max_entries=2, ttl=10)
    memory.learn("https://a/v1", dialect.FUNCTION)
    memory.learn("https://b/v1", dialect.TOOL)
    memory.learn("https://a/v1", dialect.FUNCTION)  # learnt again: the newest
    memory.learn("https://c/v1", dialect.TOOL)
    assert memory.get("https://b/v1") is None and memory.get("https://a/v1") is dialect.FUNCTION


def test_the_memory_is_bounded_under_concurrent_requests():
    memory = Memory(max_entries=100, ttl=60)

    def work(t):
        for i in range(500):
            memory.learn(("u", f"m{t}-{i}", "fp"), True)
            memory.get(("u", f"m{t}-{i // 2}", "fp"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(memory) == 100
    assert memory.get(("u", "m0-499", "fp")) or memory.get(("u", "m7-499", "fp"))


def test_structured_output_refusals_and_host_forms_are_bounded_and_expire():
    assert (structured.REFUSALS.max_entries, structured.REFUSALS.ttl) == (structured.MAX_REFUSALS,
                                                                          structured.REFUSAL_TTL)
    assert (dialect.LEARNT.max_entries, dialect.LEARNT.ttl) == (dialect.MAX_HOSTS, dialect.TTL)
