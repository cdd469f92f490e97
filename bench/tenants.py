"""(h) Many workspaces, one plugin process: resident memory, open descriptors and token requests of
the plugin while distinct credentials arrive (keys, on-premise users, and every 4th a client
certificate with an SSL context of its own), through Dify's stdio protocol against an HTTPS
emulator, then all of them once more in the same order: by then the client cache (64 clients) has
evicted each one's client, and its token must come from the token cache. The same workload as
tests/e2e/test_enterprise_many_credentials.py, which asserts the bounds; this prints the figures."""

from __future__ import annotations

import tempfile
import time

import yaml

from bench.common import ROOT, check, open_fds, rss_mb
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess
from tests.support.tenants import CERTIFICATE_EVERY, serve_tenant, tenant_credentials, tenant_mode


def checkpoints(n: int) -> list[int]:
    return sorted({max(1, n // 5), max(1, n // 2), n})


def measure_tenants(credentials_n: int) -> dict:
    declared_mb = yaml.safe_load((ROOT / "manifest.yaml").read_text())["resource"]["memory"] / 2**20
    ca = make_ca("Bench Tenants Root CA")
    marks = checkpoints(credentials_n)
    curve, rounds = [], []
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
        emu = https_emulator(ca, tmp, verify_clients=True)
        emu.start()
        try:
            with PluginProcess() as plugin:
                pid = plugin.proc.pid
                curve.append({"credentials": 0, "round": 1, "rss_mb": rss_mb(pid), "fds": open_fds(pid)})
                forms = [tenant_credentials(i, emu, ca) for i in range(credentials_n)]
                for round_ in (1, 2):
                    emu.stats.reset()
                    began = time.perf_counter()
                    for i in range(credentials_n):
                        check(serve_tenant(plugin, i, forms[i]), f"(h) round {round_}, tenant {i}")
                        if i + 1 in marks and (round_ == 1 or i + 1 == credentials_n):
                            curve.append({"credentials": i + 1, "round": round_, "rss_mb": rss_mb(pid),
                                          "fds": open_fds(pid)})
                    rounds.append({"round": round_, "seconds": time.perf_counter() - began,
                                   "oauth_calls": emu.stats.oauth_calls, "token_calls": emu.stats.token_calls})
                protocol_errors = list(plugin.protocol_errors)
        finally:
            emu.stop()
    modes = [tenant_mode(i) for i in range(credentials_n)]
    return {"credentials": credentials_n, "certificates": len(range(0, credentials_n, CERTIFICATE_EVERY)),
            "with_token": modes.count("authorization_key") + modes.count("user_password"),
            "users": modes.count("user_password"), "curve": curve, "rounds": rounds,
            "declared_mb": declared_mb, "protocol_errors": protocol_errors}
