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
