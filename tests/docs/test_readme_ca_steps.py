"""The README's steps for the Russian Trusted Root CA, followed literally in an empty folder: its
commands run as written (the download replaced by a local `curl` that serves a test CA), and what
the last step prints is pasted into the form as Dify's one-line field holds it, then parsed and
loaded by the plugin's own code. Both ways the README offers are walked: curl's PEM, and the
browser's binary (DER) `.cer` converted with the README's openssl command."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gigachat_dify.connection.credentials import parse_credentials
from gigachat_dify.connection.tls import build_ssl_context
from tests.docs.test_readme_translations import ENGLISH, TRANSLATIONS, _FENCE
from tests.support.certs import make_ca

PAGES = [ENGLISH, *TRANSLATIONS]

# Stands in for the download: writes the local CA file to where `-o` (alone or ending a cluster
# such as -fsSLo) says, as curl would; refuses anything else so a changed command is noticed.
FAKE_CURL = """#!{python}
import shutil, sys
args = sys.argv[1:]
target = next((args[i + 1] for i, a in enumerate(args[:-1])
               if a == "--output" or (a.startswith("-") and not a.startswith("--") and a.endswith("o"))), None)
if target is None or not any(a.startswith("https://") for a in args):
    sys.exit("fake curl: expected -o FILE and an https URL, got " + " ".join(args))
shutil.copyfile({source!r}, target)
"""


def ca_section(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    start = re.search(r"^### .*Russian Trusted Root CA.*$", text, re.M)
    assert start, f"{page.name} has no Russian Trusted Root CA section"
    end = re.compile(r"^#{1,3} ", re.M).search(text, start.end())
    return text[start.end(): end.start() if end else len(text)]


def commands(section: str) -> dict[str, str]:
    """The section's commands by their program (curl, openssl, cat): fenced, or inline in a sentence."""
    blocks = [m.group(2).strip() for m in _FENCE.finditer(section)]
    blocks += re.findall(r"`((?:curl|openssl|cat) [^`]+)`", _FENCE.sub("", section))
    by_program = {block.split()[0]: block for block in blocks}
    assert set(by_program) == {"curl", "openssl", "cat"}, blocks
    return by_program


def run(command: str, folder: Path, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=folder, capture_output=True, text=True,
                          env={"PATH": path, "LANG": "C.UTF-8"}, timeout=60)


def pasted_into_the_form(printed: str) -> str:
    # Dify's CA certificate field is one line: the line breaks of the paste are lost.
    return " ".join(printed.split())


def assert_the_plugin_accepts(printed: str, ca) -> None:
    settings = parse_credentials({"auth_mode": "authorization_key", "authorization_key": "a2V5OnNlY3JldA==",
                                  "ca_certificate": pasted_into_the_form(printed)})
    assert settings.ca_pem.strip() == ca.cert_pem.strip()
    context = build_ssl_context(ca_pem=settings.ca_pem)
    assert any(dict(rdn[0] for rdn in c["subject"]).get("commonName") == "README Test Root CA"
               for c in context.get_ca_certs())


@pytest.fixture
def ca():
    return make_ca("README Test Root CA")


@pytest.fixture
def tools(tmp_path, ca):
    """A PATH whose curl serves the test CA's PEM, with the system's openssl, cat and head."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    source = tmp_path / "served.pem"
    source.write_text(ca.cert_pem)
    curl = bin_dir / "curl"
    curl.write_text(FAKE_CURL.format(python=sys.executable, source=str(source)))
    curl.chmod(curl.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_curl_download_leaves_the_pem_file_the_readme_prints_and_the_plugin_accepts_it(page, tmp_path, tools, ca):
    steps = commands(ca_section(page))
    folder = tmp_path / "admin"
    folder.mkdir()
    downloaded = run(steps["curl"], folder, tools)
    assert downloaded.returncode == 0, downloaded.stderr
    # Step 2: curl's file is already PEM, so the conversion is skipped, as the README says.
    assert all(f.read_text().startswith("-----BEGIN CERTIFICATE-----") for f in folder.iterdir())
    printed = run(steps["cat"], folder, tools)
    assert printed.returncode == 0, f"{steps['cat']!r} after {steps['curl']!r}: {printed.stderr}"
    assert_the_plugin_accepts(printed.stdout, ca)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the README's conversion needs the openssl command")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_browsers_der_file_converted_as_the_readme_says_is_the_pem_the_plugin_accepts(page, tmp_path, tools, ca):
    section = ca_section(page)
    steps = commands(section)
    # Step 1 names the file the browser saves; Gosuslugi's may be binary (DER).
    [browser_file] = set(re.findall(r"`([\w.-]+\.cer)`", section))
    folder = tmp_path / "admin"
    folder.mkdir()
    (folder / browser_file).write_bytes(ca.cert.public_bytes(serialization.Encoding.DER))
    converted = run(steps["openssl"], folder, tools)
    assert converted.returncode == 0, f"{steps['openssl']!r} on the browser's {browser_file}: {converted.stderr}"
    printed = run(steps["cat"], folder, tools)
    assert printed.returncode == 0, f"{steps['cat']!r} after {steps['openssl']!r}: {printed.stderr}"
    assert_the_plugin_accepts(printed.stdout, ca)
