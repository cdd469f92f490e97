"""PRIVACY.md's "What the plugin stores" is what the plugin process does. Run under strace while it
serves, through Dify's stdio protocol, every kind of request that handles data (a client-certificate
login, an uploaded image, an image Dify passes by URL, a generated image, embeddings), it creates
no file and no folder; the one file it makes is the anonymous in-memory file (memfd) its key
material goes through to OpenSSL."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import PluginProcess, image_part, text_part, user
from tests.support.net import file_service

ROOT = Path(__file__).resolve().parents[2]
PRIVACY = (ROOT / "PRIVACY.md").read_text(encoding="utf-8")
CA = make_ca("Privacy Test Root CA")
# A 1x1 PNG: enough for an upload, and for a download from Dify's file service.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
# Every call that can create or name a file; memfd_create makes an anonymous one (no name, no disk).
CALLS = "open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,memfd_create"
_CREATES = re.compile(r"^\d+\s+(open|openat|openat2|creat|mkdirat?|rename\w*|link\w*|symlink\w*)\((.*)\)\s+=\s+(-?\d+)")


def _strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    return subprocess.run(["strace", "-qq", "-o", "/dev/null", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _strace_works(), reason="needs strace (and ptrace permitted)")


def files_created(trace: str) -> tuple[list[str], list[str]]:
    """(what the traced processes created or renamed, the names of their memfds)."""
    created, memfds = [], []
    for line in trace.splitlines():
        if memfd := re.search(r'memfd_create\("([^"]*)"', line):
            memfds.append(memfd.group(1))
            continue
        m = _CREATES.match(line)
        if not m or m.group(3).startswith("-"):  # failed calls (ENOENT probing, EEXIST) create nothing
            continue
        call, args = m.group(1), m.group(2)
        if call.startswith("open") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", args):
            continue
        path = re.search(r'"([^"]*)"', args).group(1)
        if path.startswith("/dev/") or "/__pycache__/" in path:  # devices; Python's bytecode cache (code only)
            continue
        created.append(f"{call} {path}")
    return created, memfds


@pytest.fixture
def image_url():
    with file_service(lambda: [PNG], {"Content-Type": "image/png", "Content-Length": str(len(PNG))}) as files:
        yield files.url


def test_the_plugin_creates_no_file_only_the_in_memory_one_for_key_material(tmp_path, image_url):
    trace = tmp_path / "plugin.trace"
    traced_python = tmp_path / "python"
    traced_python.write_text(f'#!/bin/sh\nexec strace -f -qq -o "{trace}" -e trace={CALLS} "{sys.executable}" "$@"\n')
    traced_python.chmod(0o755)
    client = CA.issue_client_cert("privacy-account")
    with https_emulator(CA, str(tmp_path), verify_clients=True) as emu:
        credentials = client.form(base_url=emu.base_url, ca_certificate=CA.cert_pem, timeout="15")
        with PluginProcess(python=str(traced_python), env={"NO_PROXY": "127.0.0.1"}) as plugin:
            plugin_tmp = plugin.tmp_dir
            assert plugin.validate_provider(credentials).ok
            pictures = user([text_part("What is in these pictures?"), image_part(base64.b64encode(PNG).decode()),
                             image_part(url=image_url)])
            for messages, parameters in (([pictures], {}), ([user("Draw a cat")], {"image_generation": True})):
                result = plugin.invoke_llm("GigaChat-2-Max", credentials, messages, model_parameters=parameters)
                assert result.ok, result.error
            assert plugin.invoke_embedding("Embeddings", credentials, ["один", "два"]).ok
            assert any(r.method == "POST" and r.path == "/files" for r in emu.log), "an image was uploaded"
            assert any(r.path.endswith("/content") for r in emu.log), "a generated image was downloaded"
            assert not any(plugin_tmp.iterdir())
    created, memfds = files_created(trace.read_text())
    assert created == [], "the plugin process created files: " + "; ".join(created[:10])
    assert memfds and set(memfds) == {"gigachat-client-key"}


def test_privacy_md_says_what_the_plugin_writes_and_contradicts_itself_nowhere():
    stores = PRIVACY.split("## What the plugin stores", 1)[1].split("\n## ", 1)[0]
    assert "writes no files" not in PRIVACY, "it writes key material to an in-memory file (memfd)"
    assert "memfd" in stores and "__pycache__" in stores
