"""(h) Many workspaces, one plugin process: resident memory and open descriptors of the plugin
while distinct credentials arrive (keys, and every 4th a client certificate with an SSL context of
its own), through Dify's stdio protocol against an HTTPS emulator. The same workload as
tests/e2e/test_enterprise_many_credentials.py, which asserts the bounds; this prints the curve."""

from __future__ import annotations

import tempfile

import yaml

from bench.common import ROOT, check, open_fds, rss_mb
from emulator import make_key
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess, user

CERTIFICATE_EVERY = 4


def checkpoints(n: int) -> list[int]:
    return sorted({max(1, n // 5), max(1, n // 2), n})


def measure_tenants(credentials_n: int) -> dict:
    declared_mb = yaml.safe_load((ROOT / "manifest.yaml").read_text())["resource"]["memory"] / 2**20
    ca = make_ca("Bench Tenants Root CA")
    marks = checkpoints(credentials_n)
    curve = []
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
        emu = https_emulator(ca, tmp, verify_clients=True)
        emu.start()
        try:
            with PluginProcess() as plugin:
                pid = plugin.proc.pid
                curve.append({"credentials": 0, "rss_mb": rss_mb(pid), "fds": open_fds(pid)})
                for i in range(credentials_n):
                    base = {"base_url": emu.base_url, "auth_url": emu.auth_url, "ca_certificate": ca.cert_pem,
                            "timeout": "20"}
                    if i % CERTIFICATE_EVERY == 0:
                        creds = ca.issue_client_cert(f"tenant-{i}").form(**base)
                    else:
                        key = make_key(f"tenant-{i:04d}", f"secret-{i:04d}-{'x' * 20}")
                        emu.keys[key] = {"GIGACHAT_API_PERS"}
                        creds = {"authorization_key": key, **base}
                    if i % 3 == 2:
                        result = plugin.invoke_embedding("Embeddings", creds, [f"tenant {i}"], timeout=60)
                    else:
                        result = plugin.invoke_llm("GigaChat-2", creds, [user(f"tenant {i}")], stream=i % 2 == 0,
                                                   timeout=60)
                    check(result, f"(h) tenant {i}")
                    if i + 1 in marks:
                        curve.append({"credentials": i + 1, "rss_mb": rss_mb(pid), "fds": open_fds(pid)})
                protocol_errors = list(plugin.protocol_errors)
        finally:
            emu.stop()
    return {"credentials": credentials_n, "certificates": len(range(0, credentials_n, CERTIFICATE_EVERY)),
            "curve": curve, "declared_mb": declared_mb, "protocol_errors": protocol_errors}
