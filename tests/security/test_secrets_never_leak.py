"""Runs the whole end-to-end suite with capture on, then scans everything the plugin processes
wrote — stdout (protocol, logs, error messages), stderr, and every file they created or left in
their temp dir — for the secrets they were sent (authorization keys and their decoded client
secrets, client private keys line by line and their passwords, user passwords, the passwords in
proxy URLs) and the access tokens the emulator issued. Zero hits allowed."""

import base64
import binascii
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.state import TokenStore
from tests.support.daemon import SECRET_FIELDS, without_validation_echo

ROOT = Path(__file__).resolve().parents[2]


def _needles(secret: str) -> set[str]:
    out = {secret}
    try:
        decoded = base64.b64decode(secret, validate=True).decode()
        client_secret = decoded.partition(":")[2]
        if len(client_secret) >= 8:
            out.add(client_secret)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    return out


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_no_key_or_token_appears_in_anything_the_plugin_wrote(tmp_path):
    env = {**os.environ, "PLUGIN_TEST_CAPTURE_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "tests/e2e", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    plugin_dirs = sorted(tmp_path.glob("plugin-*"))
    assert len(plugin_dirs) >= 3, "the e2e suite should have started several plugin processes"

    needles: set[str] = {TokenStore._JWE_HEADER}  # every token the emulator issues starts with it
    for d in plugin_dirs:
        for secret in json.loads((d / "secrets.json").read_text()):
            needles |= _needles(secret)
    assert len(needles) > 5

    covered = {field for d in plugin_dirs for field in json.loads((d / "secret_fields.json").read_text())}
    assert covered == set(SECRET_FIELDS), f"the e2e suite sends no {set(SECRET_FIELDS) - covered}"
    hits = []
    for d in plugin_dirs:
        texts = {"stdout": "\n".join(without_validation_echo(l) for l in (d / "stdout.txt").read_text().splitlines()),
                 "stderr": (d / "stderr.txt").read_text()}
        for f in (d / "home").rglob("*"):  # HOME and TMPDIR of that plugin process
            if f.is_file():
                texts[f"file {f.relative_to(d)}"] = f.read_bytes().decode("utf-8", "replace")
                if b"PRIVATE KEY" in f.read_bytes():
                    hits.append(f"{d.name}: key material left in {f.relative_to(d)}")
        for where, text in texts.items():
            hits += [f"{d.name} {where}: {n[:12]}..." for n in needles if n in text]
    assert hits == [], hits[:20]
