"""Many workspaces, one plugin process: the workload that tests/e2e/test_enterprise_many_credentials.py
asserts bounds on and bench/tenants.py draws the curve of, and the /proc readings of the plugin.

Workspace i brings credentials of its own, in every authentication mode: every CERTIFICATE_EVERY-th
a client certificate (an SSL context of its own, no token), the one two after it a user of an
on-premise installation (a token from `{Base URL}/token`), the others an authorization key (a token
from OAuth), all sharing one trust store; every third call is an embedding, the others a chat,
streamed every second time. Each request names its workspace (`tenant {i}`), so a test can tell
whose token the emulator saw it with (`tenant_account`, `tenant_of`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from emulator import make_key
from tests.support.daemon import SessionResult, user

CERTIFICATE_EVERY = 4
USER_PASSWORD_AT = 2  # i % CERTIFICATE_EVERY: the workspaces that sign in with a user and password


def tenant_mode(i: int) -> str:
    """Workspace i's authentication mode, as the form names it."""
    return {0: "client_certificate", USER_PASSWORD_AT: "user_password"}.get(i % CERTIFICATE_EVERY, "authorization_key")


def tenant_credentials(i: int, emu, ca) -> dict:
    """Workspace i's provider form against an HTTPS emulator that trusts `ca`'s client certificates
    (its key or user is added to the emulator's accounts)."""
    base = {"base_url": emu.base_url, "auth_url": emu.auth_url, "ca_certificate": ca.cert_pem, "timeout": "20"}
    mode = tenant_mode(i)
    if mode == "client_certificate":
        return ca.issue_client_cert(f"tenant-{i}").form(**base)
    if mode == "user_password":
        name, password = f"user-{i:04d}", f"password-{i:04d}-{'y' * 12}"
        emu.users[name] = password
        return {"auth_mode": mode, "username": name, "password": password, **base}
    key = make_key(f"tenant-{i:04d}", f"secret-{i:04d}-{'x' * 20}")
    emu.keys[key] = {"GIGACHAT_API_PERS"}
    return {"authorization_key": key, **base}


def tenant_account(i: int) -> str:
    """How the emulator names the account of workspace i's API calls (`RecordedRequest.client_id`):
    the key's client id, the user name, or `cert:<CN>:` followed by the certificate's serial."""
    return {"client_certificate": f"cert:tenant-{i}:", "user_password": f"user-{i:04d}"}.get(
        tenant_mode(i), f"tenant-{i:04d}")


_TENANT = re.compile(r"\btenant (\d+)\b")


def tenant_of(record) -> int | None:
    """The workspace a recorded chat or embedding request came from (the text it sent), or None."""
    body = record.json or {}
    texts = [m.get("content") for m in body.get("messages", ())] if "messages" in body else body.get("input", [])
    found = {int(m.group(1)) for t in texts if isinstance(t, str) for m in [_TENANT.search(t)] if m}
    return found.pop() if len(found) == 1 else None


def serve_tenant(plugin, i: int, credentials: dict) -> SessionResult:
    """Workspace i's one request."""
    if i % 3 == 2:
        return plugin.invoke_embedding("Embeddings", credentials, [f"tenant {i}"], timeout=60)
    return plugin.invoke_llm("GigaChat-2", credentials, [user(f"tenant {i}")], stream=i % 2 == 0, timeout=60)


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no {field} for process {pid}")


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a process, from /proc; OSError or LookupError when unreadable."""
    return _status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """The most resident memory a process has had so far (VmHWM), from /proc: what a request took at
    its worst, however briefly, without sampling."""
    return _status_bytes(pid, "VmHWM")


def open_descriptors(pid: int) -> int:
    """Open file descriptors of a process, from /proc; OSError when unreadable."""
    return len(os.listdir(f"/proc/{pid}/fd"))
