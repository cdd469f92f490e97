"""Many workspaces, one plugin process (issue 10 item 3): over 300 distinct credentials — keys
sharing one trust store, and client certificates that each bring an SSL context of their own — the
process stays within the memory its manifest declares and its open descriptors stay bounded,
because the client cache is bounded by memory and closes what it evicts. Measured on the plugin
process itself (/proc), through Dify's stdio protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gigachat_dify.connection.clients import MAX_CLIENTS
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess
from tests.support.tenants import open_descriptors, rss_bytes, serve_tenant, tenant_credentials

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = 300
CHECKPOINTS = (60, 150, 300)
CA = make_ca("Many Tenants Root CA")  # signs every 4th workspace's client certificate: 75 SSL contexts


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures the process through /proc (Linux)")
def test_rss_and_descriptors_stay_bounded_over_300_distinct_credentials(tmp_path):
    declared = yaml.safe_load((ROOT / "manifest.yaml").read_text())["resource"]["memory"]
    with https_emulator(CA, str(tmp_path), verify_clients=True) as emu, PluginProcess() as plugin:
        pid = plugin.proc.pid
        figures = {}
        for i in range(CREDENTIALS):
            result = serve_tenant(plugin, i, tenant_credentials(i, emu, CA))
            assert result.ok, (i, result.error)
            if i + 1 in CHECKPOINTS:
                figures[i + 1] = (rss_bytes(pid), open_descriptors(pid))
        assert emu.stats.requests["POST /chat/completions"] + emu.stats.requests["POST /embeddings"] == CREDENTIALS
    mib = {n: round(r / 2**20, 1) for n, (r, _) in figures.items()}
    fds = {n: f for n, (_, f) in figures.items()}
    print(f"\nRSS MiB by credentials seen: {mib}; open descriptors: {fds}")
    assert max(r for r, _ in figures.values()) < declared, mib
    # a plateau, not a slope: 150 more credentials (38 more SSL contexts of ~0.7 MiB) add next to
    # nothing once the cache is full: evicted clients and their contexts are freed
    assert figures[300][0] - figures[150][0] < 6 * 2**20, mib
    # each cached client keeps at most its API connection; evicted ones are closed
    assert fds[300] <= fds[60] + MAX_CLIENTS, fds
    assert fds[300] - fds[150] <= 8, fds
