"""The daemon multiplexes many sessions into one plugin process: no cross-talk, one token per
credentials, no deadlock."""

import base64
import hashlib
import threading
from collections import defaultdict

from emulator import make_key
from tests.e2e.test_llm_features import png
from tests.support.daemon import collect_text, image_part, system, text_part, user

ACCOUNTS = 6
PER_ACCOUNT = 4  # 24 concurrent invocations


def test_concurrent_sessions_with_different_credentials_do_not_cross(fresh_plugin, emulator):
    keys = {f"acct-{i:02d}": make_key(f"acct-{i:02d}", f"secret-{i}-xyz") for i in range(ACCOUNTS)}
    for key in keys.values():
        emulator.keys[key] = {"GIGACHAT_API_B2B"}  # business accounts: 4 parallel requests each are allowed
    emulator.faults.latency = 0.15
    emulator.faults.chunk_latency = 0.01
    shared_image = png(5, 5, (7, 7, 7))
    results, errors = {}, []

    def run(account: str, n: int):
        creds = {"authorization_key": keys[account], "scope": "GIGACHAT_API_B2B", "base_url": emulator.base_url,
                 "auth_url": emulator.auth_url, "timeout": "30"}
        tag = f"{account}/conv-{n}"
        parts = [text_part(f"question from {tag}")]
        if n == 0:  # every account sends the same image once
            parts.append(image_part(base64.b64encode(shared_image).decode()))
        try:
            results[tag] = fresh_plugin.invoke_llm(
                "GigaChat-2-Max", creds, [system(f"You serve {account}."), user(parts)],
                stream=n % 2 == 0, conversation_id=tag, timeout=90)
        except Exception as exc:  # a hang or protocol failure
            errors.append(f"{tag}: {exc}")

    threads = [threading.Thread(target=run, args=(a, n)) for a in keys for n in range(PER_ACCOUNT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads), errors  # no deadlock, no hang

    # outputs: every answer is its own question's, whole and once
    for tag, result in results.items():
        assert result.ok, (tag, result.error)
        text = collect_text(result)
        assert text.endswith(f"question from {tag}") and text.count("question from") == 1, (tag, text)
        if tag.endswith("conv-0"):
            assert hashlib.sha256(shared_image).hexdigest() in text

    chats = [r for r in emulator.log if r.path == "/chat/completions"]
    assert len(chats) == ACCOUNTS * PER_ACCOUNT
    # tokens: each request was authorised by its own account's token
    for r in chats:
        account = r.json["messages"][0]["content"].removeprefix("You serve ").rstrip(".")
        assert r.client_id == account
    # sessions: one X-Session-ID per conversation, never shared
    by_session = defaultdict(set)
    for r in chats:
        by_session[r.headers.get("X-Session-ID")].add(r.json["messages"][-1]["content"])
    assert len(by_session) == ACCOUNTS * PER_ACCOUNT
    # uploads: the same image is uploaded once per account (file ids are never shared across accounts)
    uploads = [r for r in emulator.log if r.path == "/files" and r.method == "POST"]
    assert sorted(r.client_id for r in uploads) == sorted(keys)
    # one OAuth token per credentials
    assert emulator.stats.oauth_calls == ACCOUNTS


def test_the_first_requests_of_every_kind_at_once_after_start_all_succeed(fresh_plugin, emulator):
    """A start loads no GigaChat module (tests/unit/test_startup.py): the first request of each kind
    imports what it needs, here all at once in the process's concurrent sessions."""
    from emulator import B2B_KEY

    creds = {"authorization_key": B2B_KEY, "scope": "GIGACHAT_API_B2B", "base_url": emulator.base_url,
             "auth_url": emulator.auth_url, "timeout": "30"}
    emulator.faults.latency = 0.05
    question = [user("first question")]
    kinds = {
        "validation": lambda: fresh_plugin.validate_provider(creds, timeout=90),
        "blocking chat": lambda: fresh_plugin.invoke_llm("GigaChat-2", creds, question, stream=False, timeout=90),
        "streamed chat": lambda: fresh_plugin.invoke_llm("GigaChat-2", creds, question, stream=True, timeout=90),
        "web search (v2)": lambda: fresh_plugin.invoke_llm("GigaChat-2-Max", creds, question, stream=True,
                                                           model_parameters={"web_search": "always"}, timeout=90),
        "embedding": lambda: fresh_plugin.invoke_embedding("Embeddings", creds, ["first text"], timeout=90),
        "token count": lambda: fresh_plugin.llm_num_tokens("GigaChat-2", creds, question, timeout=90),
        "model validation": lambda: fresh_plugin.validate_model("GigaChat-2-Max-preview", "llm", creds, timeout=90),
    }
    results, errors = {}, []

    def run(kind):
        try:
            results[kind] = kinds[kind]()
        except Exception as exc:  # a hang or protocol failure
            errors.append(f"{kind}: {exc}")

    threads = [threading.Thread(target=run, args=(kind,)) for kind in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads), errors
    assert {kind: (r.ok, r.error) for kind, r in results.items()} == {kind: (True, None) for kind in kinds}
    assert collect_text(results["blocking chat"]).endswith("first question")
    assert collect_text(results["streamed chat"]).endswith("first question")
    assert "first question" in collect_text(results["web search (v2)"])
