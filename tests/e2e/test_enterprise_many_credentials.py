"""Many workspaces, one plugin process (issue 10 item 3): over 300 distinct credentials — keys
sharing one trust store, and client certificates that each bring an SSL context of their own — the
process stays within the memory its manifest declares and its open descriptors stay bounded,
because the client cache is bounded by memory and closes what it evicts. Measured on the plugin
process itself (/proc), through Dify's stdio protocol."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from emulator import make_key
from gigachat_dify.connection.clients import MAX_CLIENTS
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess, user

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = 300
CERTIFICATE_EVERY = 4  # every 4th workspace uses a client certificate: 75 distinct SSL contexts
CHECKPOINTS = (60, 150, 300)
CA = make_ca("Many Tenants Root CA")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures the process through /proc (Linux)")
def test_rss_and_descriptors_stay_bounded_over_300_distinct_credentials(tmp_path):
    declared = yaml.safe_load((ROOT / "manifest.yaml").read_text())["resource"]["memory"]
    with https_emulator(CA, str(tmp_path), verify_clients=True) as emu, PluginProcess() as plugin:
        pid = plugin.proc.pid
        figures = {}
        for i in range(CREDENTIALS):
            base = {"base_url": emu.base_url, "auth_url": emu.auth_url, "ca_certificate": CA.cert_pem, "timeout": "20"}
            if i % CERTIFICATE_EVERY == 0:
                creds = CA.issue_client_cert(f"tenant-{i}").form(**base)
            else:
                key = make_key(f"tenant-{i:03d}", f"secret-{i:03d}-{'x' * 20}")
                emu.keys[key] = {"GIGACHAT_API_PERS"}
                creds = {"authorization_key": key, **base}
            if i % 3 == 2:
                result = plugin.invoke_embedding("Embeddings", creds, [f"tenant {i}"])
            else:
                result = plugin.invoke_llm("GigaChat-2", creds, [user(f"tenant {i}")], stream=i % 2 == 0)
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
