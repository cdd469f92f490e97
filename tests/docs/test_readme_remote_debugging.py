"""The README's "Remote debugging against a real Dify", followed as written in a copy of the
repository: its `.env` (with the host and key of a stand-in for Dify's debugging port), its set-up
command (which only sets up: it runs no tests), then its command that starts the plugin, which must
connect, hand over the key and declare the plugin as Dify's remote-debugging port expects."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.docs.test_readme_translations import ENGLISH, TRANSLATIONS, _FENCE

ROOT = Path(__file__).resolve().parents[2]
KEY = "debug-key-0123456789"


def steps(page: Path) -> tuple[str, list[str]]:
    """The `.env` block and the commands of the step after it, from the remote-debugging section."""
    text = page.read_text(encoding="utf-8")
    env_block = next(m for m in _FENCE.finditer(text) if "INSTALL_METHOD=remote" in m.group(2))
    after = text[env_block.end():]
    next_step = re.search(r"^\d+\. (.*?)(?=^\S|\Z)", after, re.M | re.S)  # the item, up to the next unindented line
    commands = re.findall(r"`((?:bash|\.venv/)[^`]+)`", next_step.group(0))
    return env_block.group(2), commands


class DifyDebuggingPort:
    """Accepts the plugin's connection and reads its lines until it declares it has sent everything."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.messages: list[dict] = []
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.server.accept()
        buffer = b""
        with conn:
            conn.settimeout(60)
            while not self.done.is_set():
                data = conn.recv(1 << 20)
                if not data:
                    break
                buffer += data
                while b"\n" in buffer and not self.done.is_set():  # after "end" come heartbeats and logs
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        message = json.loads(line)
                        self.messages.append(message)
                        if message.get("type") == "end":
                            self.done.set()

    def close(self):
        self.server.close()


@pytest.fixture
def repository_copy(tmp_path):
    """The repository's files in a folder of their own, with this checkout's .venv (already set up)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    copy = tmp_path / "dify-plugin-gigachat"
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


@pytest.mark.parametrize("page", [ENGLISH, *TRANSLATIONS], ids=lambda p: p.name)
def test_the_remote_debugging_steps_set_up_without_tests_and_connect_the_plugin_with_the_key(page, repository_copy):
    env_text, commands = steps(page)
    assert len(commands) == 2, commands
    setup, start = commands
    dify = DifyDebuggingPort()
    (repository_copy / ".env").write_text(env_text.replace("your-dify-host:5003", f"127.0.0.1:{dify.port}")
                                          .replace("the-debug-key", KEY) + "\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIGACHAT_", "INSTALL_METHOD", "REMOTE_INSTALL"))}
    started = time.monotonic()
    prepared = subprocess.run(shlex.split(setup), cwd=repository_copy, env=env, capture_output=True, text=True,
                              timeout=600)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert not re.search(r"\d+ (passed|failed|skipped|deselected)|no tests ran", prepared.stdout), "the set-up step ran tests"
    assert time.monotonic() - started < 30, "an environment already set up is not set up again"
    plugin = subprocess.Popen(shlex.split(start), cwd=repository_copy, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert dify.done.wait(60), f"the plugin did not finish declaring itself: {dify.messages[:3]}"
    finally:
        plugin.terminate()
        output = plugin.communicate(timeout=20)[0]
        dify.close()
    kinds = [m["type"] for m in dify.messages]
    assert dify.messages[0] == {"type": "handshake", "data": {"key": KEY}}, output
    assert "manifest_declaration" in kinds and "model_declaration" in kinds and kinds[-1] == "end"
    manifest = next(m["data"] for m in dify.messages if m["type"] == "manifest_declaration")
    assert manifest["name"] == "gigachat"
