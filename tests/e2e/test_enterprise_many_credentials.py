"""Many workspaces, one plugin process (issue 10 item 3, issue 17 item 6): over 300 distinct
credentials in every authentication mode — keys and on-premise users sharing one trust store, and
client certificates that each bring an SSL context of their own — the process stays within the
memory its manifest declares, its open descriptors stay bounded (the client cache is bounded by
memory and closes what it evicts), and each credential set gets one token per token lifetime
although its client is evicted long before it comes back. Measured on the plugin process itself
(/proc) and counted by the emulator, through Dify's stdio protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emulator import Emulator, make_key
from gigachat_dify.connection.clients import MAX_CLIENTS
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess, user
from tests.support.tenants import (
    open_descriptors,
    rss_bytes,
    serve_tenant,
    tenant_account,
    tenant_credentials,
    tenant_mode,
    tenant_of,
)

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = 300
CHECKPOINTS = (60, 150, 300)
CA = make_ca("Many Tenants Root CA")  # signs every 4th workspace's client certificate: 75 SSL contexts


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures the process through /proc (Linux)")
def test_300_credential_sets_used_in_turn_get_one_token_each_and_stay_within_memory(tmp_path):
    declared = yaml.safe_load((ROOT / "manifest.yaml").read_text())["resource"]["memory"]
    modes = [tenant_mode(i) for i in range(CREDENTIALS)]
    with https_emulator(CA, str(tmp_path), verify_clients=True) as emu, PluginProcess() as plugin:
        pid = plugin.proc.pid
        figures = {}
        forms = [tenant_credentials(i, emu, CA) for i in range(CREDENTIALS)]
        for round_ in (1, 2):  # every workspace again, its client evicted by the 299 others meanwhile
            for i in range(CREDENTIALS):
                result = serve_tenant(plugin, i, forms[i])
                assert result.ok, (round_, i, result.error)
                if round_ == 1 and i + 1 in CHECKPOINTS:
                    figures[i + 1] = (rss_bytes(pid), open_descriptors(pid))
        figures["again"] = (rss_bytes(pid), open_descriptors(pid))
        api = [r for r in emu.log if r.path in ("/chat/completions", "/embeddings")]
        assert len(api) == 2 * CREDENTIALS
        # one token per credential set for both rounds: OAuth for each key, /token for each user,
        # none for a certificate (before: a token for each of the 450 requests that use one)
        assert emu.stats.oauth_calls == modes.count("authorization_key"), emu.stats.oauth_calls
        assert emu.stats.token_calls == modes.count("user_password"), emu.stats.token_calls
        # and no token ever served another workspace: each request went out as its own account
        assert all(r.client_id.startswith(tenant_account(tenant_of(r))) for r in api)
    mib = {n: round(r / 2**20, 1) for n, (r, _) in figures.items()}
    fds = {n: f for n, (_, f) in figures.items()}
    print(f"\nRSS MiB by credentials seen: {mib}; open descriptors: {fds}")
    assert max(r for r, _ in figures.values()) < declared, mib
    # a plateau, not a slope: 150 more credentials (38 more SSL contexts of ~0.7 MiB) add next to
    # nothing once the cache is full: evicted clients and their contexts are freed; the tokens
    # kept for 225 credential sets are a few hundred KiB
    assert figures[300][0] - figures[150][0] < 6 * 2**20, mib
    assert figures["again"][0] - figures[300][0] < 6 * 2**20, mib
    # each cached client keeps at most its API connection; evicted ones are closed
    assert fds[300] <= fds[60] + MAX_CLIENTS, fds
    assert fds[300] - fds[150] <= 8, fds
    assert fds["again"] - fds[300] <= 8, fds


USERS = {"svc-a": "password-of-svc-a", "svc-b": "password-of-svc-b"}


def _evict(plugin, emu, generation: int) -> None:
    """MAX_CLIENTS other workspaces, each with a key of its own: every older client leaves the cache."""
    for i in range(MAX_CLIENTS):
        key = make_key(f"filler-{generation}-{i:03d}", f"filler-secret-{i:03d}-{'z' * 12}")
        emu.keys[key] = {"GIGACHAT_API_PERS"}
        form = {"authorization_key": key, "base_url": emu.base_url, "auth_url": emu.auth_url, "timeout": "20"}
        assert plugin.invoke_llm("GigaChat-2", form, [user("filler")], stream=False).ok


def test_a_token_the_api_rejects_is_dropped_and_renewed_once_also_by_a_later_client():
    with Emulator(users=USERS) as emu, PluginProcess() as plugin:
        key = make_key("tenant-rejected", "secret-of-the-rejected-tenant")
        emu.keys[key] = {"GIGACHAT_API_PERS"}
        forms = {"key": {"authorization_key": key, "base_url": emu.base_url, "auth_url": emu.auth_url},
                 "user": {"auth_mode": "user_password", "username": "svc-a", "password": USERS["svc-a"],
                          "base_url": emu.base_url}}
        for name, form in forms.items():
            assert plugin.invoke_llm("GigaChat-2", form, [user(f"{name} first")], stream=False).ok
        _evict(plugin, emu, 1)
        emu.faults.expire_tokens()  # revoked: the API answers 401 for every token issued so far
        emu.stats.reset()
        for name, form in forms.items():
            result = plugin.invoke_llm("GigaChat-2", form, [user(f"{name} after")], stream=name == "key")
            assert result.ok, result.error
        # the kept token was tried (a new client adopts it), refused, and renewed once per credential set
        assert emu.stats.status_counts[401] == 2, emu.stats.status_counts
        assert (emu.stats.oauth_calls, emu.stats.token_calls) == (1, 1)
        _evict(plugin, emu, 2)
        emu.stats.reset()
        for name, form in forms.items():
            assert plugin.invoke_embedding("Embeddings", form, [f"{name} later"]).ok
        # the renewed token replaced the refused one: a third client uses it at once
        assert (emu.stats.oauth_calls, emu.stats.token_calls, emu.stats.status_counts[401]) == (0, 0, 0)
