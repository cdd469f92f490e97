"""Many workspaces, one plugin process: the workload that tests/e2e/test_enterprise_many_credentials.py
asserts bounds on and bench/tenants.py draws the curve of, and the /proc readings of the plugin.

Workspace i brings credentials of its own: every CERTIFICATE_EVERY-th a client certificate (an SSL
context of its own), the others an authorization key sharing one trust store; every third call is
an embedding, the others a chat, streamed every second time."""

from __future__ import annotations

import os
from pathlib import Path

from emulator import make_key
from tests.support.daemon import SessionResult, user

CERTIFICATE_EVERY = 4


def tenant_credentials(i: int, emu, ca) -> dict:
    """Workspace i's provider form against an HTTPS emulator that trusts `ca`'s client certificates."""
    base = {"base_url": emu.base_url, "auth_url": emu.auth_url, "ca_certificate": ca.cert_pem, "timeout": "20"}
    if i % CERTIFICATE_EVERY == 0:
        return ca.issue_client_cert(f"tenant-{i}").form(**base)
    key = make_key(f"tenant-{i:04d}", f"secret-{i:04d}-{'x' * 20}")
    emu.keys[key] = {"GIGACHAT_API_PERS"}
    return {"authorization_key": key, **base}


def serve_tenant(plugin, i: int, credentials: dict) -> SessionResult:
    """Workspace i's one request."""
    if i % 3 == 2:
        return plugin.invoke_embedding("Embeddings", credentials, [f"tenant {i}"], timeout=60)
    return plugin.invoke_llm("GigaChat-2", credentials, [user(f"tenant {i}")], stream=i % 2 == 0, timeout=60)


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a process, from /proc; OSError or LookupError when unreadable."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for process {pid}")


def open_descriptors(pid: int) -> int:
    """Open file descriptors of a process, from /proc; OSError when unreadable."""
    return len(os.listdir(f"/proc/{pid}/fd"))
