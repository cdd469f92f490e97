"""(h) Many workspaces, one plugin process: resident memory and open descriptors of the plugin
while distinct credentials arrive (keys, and every 4th a client certificate with an SSL context of
its own), through Dify's stdio protocol against an HTTPS emulator. The same workload as
tests/e2e/test_enterprise_many_credentials.py, which asserts the bounds; this prints the curve."""

from __future__ import annotations

import tempfile

import yaml

from bench.common import ROOT, check, open_fds, rss_mb
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess
from tests.support.tenants import CERTIFICATE_EVERY, serve_tenant, tenant_credentials


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
                    result = serve_tenant(plugin, i, tenant_credentials(i, emu, ca))
                    check(result, f"(h) tenant {i}")
                    if i + 1 in marks:
                        curve.append({"credentials": i + 1, "rss_mb": rss_mb(pid), "fds": open_fds(pid)})
                protocol_errors = list(plugin.protocol_errors)
        finally:
            emu.stop()
    return {"credentials": credentials_n, "certificates": len(range(0, credentials_n, CERTIFICATE_EVERY)),
            "curve": curve, "declared_mb": declared_mb, "protocol_errors": protocol_errors}
