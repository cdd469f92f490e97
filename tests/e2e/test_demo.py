"""The README's main command, `bash scripts/demo.sh`, run as a user runs it: its output and exit codes
against the bundled emulator, against a GigaChat given by key and URL (an emulator the test starts),
with a key but no --yes (nothing spent), with a wrong key, with settings that need a key given
without one, behind a shell proxy, and with a CA file that is missing, unreadable or not PEM."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

import pytest

from demo import ACCOUNT_VARIABLES
from emulator import DEFAULT_KEY, Emulator
from tests.support.certs import make_ca
from tests.support.net import closed_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.sh"
JPEG = b"\xff\xd8\xff"


def run_demo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GIGACHAT_")
             and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")}
    clean.update(env)
    return subprocess.run(["bash", str(DEMO), "--out", str(tmp_path / "images"), *args], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def saved_images(proc: subprocess.CompletedProcess) -> list[Path]:
    return [Path(p) for p in re.findall(r"^   saved image/\w+, [\d,]+ bytes -> (.+)$", proc.stdout, re.M)]


def test_the_demo_runs_every_step_against_the_bundled_emulator_and_says_the_answers_are_the_emulators(tmp_path):
    proc = run_demo(tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "Traceback" not in out + proc.stderr
    assert "bundled GigaChat emulator" in out and "comes from this emulator, not from GigaChat" in out
    assert "OK: credentials are valid" in out and "all steps succeeded" in out
    assert "Echo: Расскажи" in out  # the emulator's answer, and labelled as the emulator's
    # web search: links to the sources in the text and the numbered source list, no raw marker
    search = out.split("3. ", 1)[1].split("\n4. ", 1)[0]
    links = re.findall(r"\[\[(\d)\]\]\((https://[^)]+)\)", search)
    assert [n for n, _ in links] == ["1", "2"] and "[sources=" not in search
    listing = search.split("Sources:", 1)[1]
    assert all(url in listing for _, url in links)
    # image generation: saved where the demo says, the bytes of a JPEG
    [image] = saved_images(proc)
    assert image.parent == tmp_path / "images" and image.read_bytes().startswith(JPEG)
    assert f"{image.stat().st_size:,} bytes" in out
    assert "3 vectors of 1024 dimensions" in out
    assert "1 OAuth call(s)" in out


def test_a_wrong_key_stops_the_demo_after_validation_with_one_message(tmp_path, emulator):
    wrong = base64.b64encode(b"00000000-0000-0000-0000-000000000000:not-the-secret").decode()
    proc = run_demo(tmp_path, "--yes", GIGACHAT_AUTHORIZATION_KEY=wrong, GIGACHAT_BASE_URL=emulator.base_url,
                    GIGACHAT_AUTH_URL=emulator.auth_url)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert out.count("OAuth code 6") == 1, out
    assert "CredentialsValidateFailedError" in out and "Stopped:" in out
    assert "2. Chat app" not in out and "saved image" not in out
    assert not any("chat/completions" in key or "embeddings" in key for key in emulator.stats.requests)
    assert wrong not in out + proc.stderr
    assert "Traceback" not in out + proc.stderr


@pytest.fixture(scope="module")
def https_emulator(tmp_path_factory):
    ca = make_ca("Demo Test Root CA")
    directory = tmp_path_factory.mktemp("demo-tls")
    certfile, keyfile = ca.issue_server_cert(str(directory))
    ca_file = directory / "ca.pem"
    ca_file.write_text(ca.cert_pem)
    with Emulator(tls=(certfile, keyfile)) as emu:
        yield emu, ca_file


def test_a_key_a_ca_file_and_a_base_url_run_every_step_against_that_host(tmp_path, https_emulator):
    emu, ca_file = https_emulator
    proc = run_demo(tmp_path, "--yes", GIGACHAT_AUTHORIZATION_KEY=DEFAULT_KEY, GIGACHAT_SCOPE="GIGACHAT_API_PERS",
                    GIGACHAT_CA_FILE=str(ca_file), GIGACHAT_BASE_URL=emu.base_url, GIGACHAT_AUTH_URL=emu.auth_url)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert f"Target: GigaChat at {emu.base_url}" in out and "emulator" not in out.split("\n", 1)[0]
    assert "all steps succeeded" in out
    assert emu.stats.oauth_calls == 1  # one token for the whole demo
    assert any("/api/v2/chat/completions" in key for key in emu.stats.requests)  # the built-in tools went to v2
    [image] = saved_images(proc)
    assert image.read_bytes() in {f.data for f in emu.files.values()}  # the bytes GigaChat served


def test_the_same_host_without_its_ca_fails_validation_once_naming_the_ca(tmp_path, https_emulator):
    emu, _ = https_emulator
    proc = run_demo(tmp_path, "--yes", GIGACHAT_AUTHORIZATION_KEY=DEFAULT_KEY, GIGACHAT_BASE_URL=emu.base_url,
                    GIGACHAT_AUTH_URL=emu.auth_url)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.count("could not be verified") == 1 and "CA certificate" in proc.stdout
    assert "2. Chat app" not in proc.stdout


@pytest.mark.parametrize("make, says", [
    (lambda d: d / "missing.pem", "no such file"),
    (lambda d: d, "cannot be read"),  # a directory
    (lambda d: (d / "ca.cer").write_bytes(bytes([0x30, 0x82, 0x05, 0xff, 0xa0, 0x03])) and d / "ca.cer",
     "binary (DER) certificate, not PEM"),
    (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "holds no PEM certificate"),
], ids=["missing", "a directory", "DER", "not a certificate"])
def test_a_ca_file_that_cannot_be_used_is_a_clear_message_before_anything_starts(tmp_path, make, says):
    path = make(tmp_path)
    proc = run_demo(tmp_path, GIGACHAT_AUTHORIZATION_KEY=DEFAULT_KEY, GIGACHAT_CA_FILE=str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Cannot start the demo: ") and f"GIGACHAT_CA_FILE={path}" in proc.stdout
    assert says in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr and "Plugin started" not in proc.stdout


def test_a_key_without_yes_spends_nothing_and_says_what_each_step_would_spend(tmp_path, emulator):
    proc = run_demo(tmp_path, GIGACHAT_AUTHORIZATION_KEY=DEFAULT_KEY, GIGACHAT_BASE_URL=emulator.base_url,
                    GIGACHAT_AUTH_URL=emulator.auth_url)
    out = proc.stdout
    assert proc.returncode == 2, out + proc.stderr
    assert "Nothing was sent. Re-run with --yes" in out and "Traceback" not in out + proc.stderr
    # nothing reached GigaChat: not even the free token request, and no plugin was started
    assert not emulator.stats.requests and emulator.stats.oauth_calls == 0
    assert "Plugin started" not in out and not (tmp_path / "images").exists()
    steps = dict(re.findall(r"^   (\d\. [a-z ]+?)\s+(free|~[\d,]+ tokens)", out, re.M))
    assert list(steps) == ["1. validation", "2. chat", "3. web search", "4. image generation", "5. embeddings"]
    assert steps["1. validation"] == "free"
    spent = {step: int(re.sub(r"\D", "", cost) or 0) for step, cost in steps.items()}
    assert spent["3. web search"] >= 20_000  # the search results are billed as prompt: the step that costs
    assert spent["2. chat"] >= 200 and 0 < spent["5. embeddings"] < 100
    total = re.search(r"^   in all\s+~([\d,]+) tokens", out, re.M)
    assert total and int(total.group(1).replace(",", "")) == sum(spent.values())


def test_a_ca_file_without_a_key_is_checked_and_reported_as_unused(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(make_ca("Unused CA").cert_pem)
    proc = run_demo(tmp_path, GIGACHAT_CA_FILE=str(ca_file), GIGACHAT_BASE_URL="https://gigachat.example/api/v1")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert ("Not used without GIGACHAT_AUTHORIZATION_KEY: GIGACHAT_CA_FILE (checked: a PEM certificate), "
            "GIGACHAT_BASE_URL.") in out
    assert "bundled GigaChat emulator" in out and "all steps succeeded" in out


def test_the_demo_reaches_the_bundled_emulator_directly_when_the_shell_sets_a_proxy(tmp_path):
    # An administrator behind a corporate proxy has HTTP(S)_PROXY set; it cannot reach this machine's loopback.
    dead = f"http://127.0.0.1:{closed_port()}"
    proc = run_demo(tmp_path, HTTP_PROXY=dead, HTTPS_PROXY=dead, no_proxy="intranet.local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all steps succeeded" in proc.stdout and "proxy" not in proc.stdout.lower()


def test_the_demo_names_the_variables_scripts_real_account_sh_hands_on():
    # real_account.sh keeps the user's GIGACHAT_* settings under GIGACHAT_DEMO_* (env.sh clears GIGACHAT_*).
    script = (ROOT / "scripts" / "real_account.sh").read_text()
    handed_on = dict(re.findall(r'^(GIGACHAT_DEMO_\w+)="\$\{(GIGACHAT_\w+):-\}"$', script, re.M))
    assert handed_on == ACCOUNT_VARIABLES
