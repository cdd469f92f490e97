"""The .difypkg: built the way `dify plugin package` builds it, holding exactly what an installed
plugin needs, and - installed into a fresh Python 3.12 venv the way Dify installs it - passing the
marketplace's serverless start check and answering Dify's stdio protocol.

The slow tests (a fresh venv, a pip install, two plugin starts) run by default; skip them with
`-m "not slow"`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml

from emulator import DEFAULT_KEY, Emulator
from tests.support.daemon import PluginProcess, find_python312, load_packager

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package.py"
MAX_SIZE = 50 * 1024 * 1024


packager = load_packager()
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))

# What an installed plugin needs at the top of the package, and what may sit beside it.
REQUIRED_TOP = {"manifest.yaml", "main.py", "provider", "models", "gigachat_dify", "_assets", "PRIVACY.md",
                "README.md", "requirements.txt", "pyproject.toml", "uv.lock"}
ALLOWED_TOP = REQUIRED_TOP | {"readme", "CHANGELOG.md", "LICENSE", "LICENSE.md"}
# Whole directories shipped as they are in the working tree (less caches).
SHIPPED_DIRS = ("provider", "models", "gigachat_dify", "_assets", "readme")
FORBIDDEN_TOP = {"tests", "emulator", "bench", "scripts", "docs", "dist", ".ci", ".github", ".venv", "venv", ".git",
                 ".env", ".difyignore", ".gitignore", "requirements-dev.txt", "pytest.ini", "demo.py"}
FORBIDDEN_ANYWHERE = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", ".venv", ".git"}


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIGACHAT_", "REMOTE_INSTALL_", "SERVERLESS_")) and k != "INSTALL_METHOD"}
    env.update(extra)
    return env


def _run_packager(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=_clean_env())


def _tree_files(directory: Path) -> set[str]:
    """Files under a working-tree directory, as paths relative to ROOT, less caches."""
    out = set()
    for p in directory.rglob("*"):
        rel = p.relative_to(ROOT)
        if p.is_file() and not (set(rel.parts) & FORBIDDEN_ANYWHERE) and p.suffix not in (".pyc", ".pyo"):
            out.add(rel.as_posix())
    return out


# ---------------------------------------------------------------------------------------------
# What the package holds
# ---------------------------------------------------------------------------------------------
def test_cli_names_the_package_after_the_manifest_and_reports_it(built, names):
    pkg, stdout = built
    assert pkg.name == f"{MANIFEST['name']}-{MANIFEST['version']}.difypkg" == f"gigachat-{MANIFEST['version']}.difypkg"
    assert f"wrote {pkg}" in stdout
    assert f"{len(names)} files" in stdout
    assert "bytes uncompressed" in stdout and "bytes compressed" in stdout and "sha256" in stdout


def test_package_holds_what_a_dify_install_needs(names):
    top = {n.split("/", 1)[0] for n in names}
    assert REQUIRED_TOP <= top, f"missing: {REQUIRED_TOP - top}"
    assert top <= ALLOWED_TOP, f"not for an installed plugin (add to .difyignore): {top - ALLOWED_TOP}"
    packaged = set(names)
    for directory in SHIPPED_DIRS:
        want = _tree_files(ROOT / directory) if (ROOT / directory).is_dir() else set()
        got = {n for n in packaged if n.startswith(directory + "/")}
        assert got == want, f"{directory}/: missing {sorted(want - got)}, extra {sorted(got - want)}"
    for kind in ("llm", "text_embedding"):
        yamls = {n for n in packaged if n.startswith(f"models/{kind}/") and n.endswith(".yaml")}
        assert f"models/{kind}/_position.yaml" in yamls and len(yamls) >= 2, yamls
        assert any(n.startswith(f"models/{kind}/") and n.endswith(".py") for n in packaged)
    provider = yaml.safe_load((ROOT / "provider" / "gigachat.yaml").read_text(encoding="utf-8"))
    icons = {MANIFEST["icon"], MANIFEST["icon_dark"]}
    for key in ("icon_small", "icon_large", "icon_small_dark", "icon_large_dark"):
        icons |= set(provider[key].values())
    assert {f"_assets/{i}" for i in icons} <= packaged
    python = provider["extra"]["python"]
    assert {python["provider_source"], *python["model_sources"]} <= packaged


def test_package_leaves_out_development_files(names):
    for name in names:
        parts = name.split("/")
        assert parts[0] not in FORBIDDEN_TOP, name
        assert not set(parts) & FORBIDDEN_ANYWHERE, name
        assert not name.endswith((".pyc", ".pyo", ".difypkg")), name
        assert parts[-1] != ".env" and not parts[-1].startswith(".env."), name


def test_paths_are_sorted_files_only_and_the_build_is_reproducible(built, names, tmp_path):
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert not any(n.endswith("/") or n.startswith("/") or "\\" in n or ".." in n.split("/") for n in names)
    again = _run_packager("--out", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / built[0].name).read_bytes() == built[0].read_bytes()


def test_size_is_under_50_mib_and_version_matches_the_manifest(built, members):
    assert sum(m.file_size for m in members) < MAX_SIZE
    with zipfile.ZipFile(built[0]) as zf:
        assert zf.testzip() is None
        inside = yaml.safe_load(zf.read("manifest.yaml"))
    assert inside["version"] == inside["meta"]["version"] == MANIFEST["version"]
    assert built[0].name.endswith(f"-{inside['version']}.difypkg")


# ---------------------------------------------------------------------------------------------
# What the packager refuses (on a copy of the plugin in a temporary directory)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def plugin_copy(built, tmp_path):
    """The unpacked package plus the real ignore file: a minimal, valid plugin directory."""
    root = tmp_path / "plugin"
    with zipfile.ZipFile(built[0]) as zf:
        zf.extractall(root)
    shutil.copy(ROOT / ".difyignore", root / ".difyignore")
    return root


def _build_error(root: Path, **kw) -> str:
    with pytest.raises(packager.PackageError) as exc:
        packager.build(root, root.parent / "out", **kw)
    return str(exc.value)


def test_copy_of_the_plugin_builds(plugin_copy, names):
    result = packager.build(plugin_copy, plugin_copy.parent / "out")
    assert [f.path for f in result.files] == names


def test_refuses_version_and_meta_version_that_differ(plugin_copy):
    manifest = plugin_copy / "manifest.yaml"
    text = manifest.read_text()
    meta = f"  version: {MANIFEST['version']}"
    assert meta in text
    manifest.write_text(text.replace(meta, "  version: 9.9.9"))
    assert "meta.version" in _build_error(plugin_copy)


@pytest.mark.parametrize("icon", ["icon_s_en.svg", "icon_l_en_dark.svg", "icon_dark.svg", "icon.svg"])
def test_refuses_an_icon_missing_from_assets(plugin_copy, icon):
    (plugin_copy / "_assets" / icon).unlink()
    assert f"_assets/{icon}" in _build_error(plugin_copy)


def test_refuses_an_icon_the_ignore_file_leaves_out(plugin_copy):
    (plugin_copy / ".difyignore").write_text((ROOT / ".difyignore").read_text() + "\n*_dark.svg\n")
    message = _build_error(plugin_copy)
    assert "_dark.svg" in message and "excluded" in message


def test_refuses_more_than_50_mib_uncompressed(plugin_copy):
    with open(plugin_copy / "big.bin", "wb") as f:  # sparse: instant, and refused before it is read
        f.truncate(MAX_SIZE + 1)
    proc = _run_packager("--root", str(plugin_copy), "--out", str(plugin_copy.parent / "out"))
    assert proc.returncode == 1
    assert "52,428,800 bytes" in proc.stderr and "big.bin" in proc.stderr
    assert not (plugin_copy.parent / "out").exists()


def test_refuses_git_env_and_caches_unless_ignored(plugin_copy):
    (plugin_copy / ".git").mkdir()
    (plugin_copy / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (plugin_copy / ".env").write_text("INSTALL_METHOD=remote\n")
    (plugin_copy / ".difyignore").write_text("tests/\n")  # forgets .git, .env
    message = _build_error(plugin_copy)
    assert ".git/HEAD" in message and ".env" in message and "marketplace" in message
    (plugin_copy / ".difyignore").write_text(".git/\n.env\n")
    packager.build(plugin_copy, plugin_copy.parent / "out")


def test_ignore_file_falls_back_to_gitignore(plugin_copy):
    (plugin_copy / ".difyignore").unlink()
    (plugin_copy / "notes.txt").write_text("x")
    (plugin_copy / ".gitignore").write_text("notes.txt\n.gitignore\n")
    result = packager.build(plugin_copy, plugin_copy.parent / "out")
    assert result.ignore_source == ".gitignore"
    assert "notes.txt" not in {f.path for f in result.files}


def test_refuses_a_negation_that_dify_plugin_package_would_ignore(plugin_copy):
    (plugin_copy / "a.log").write_text("x")
    (plugin_copy / "keep.log").write_text("x")
    (plugin_copy / ".difyignore").write_text((ROOT / ".difyignore").read_text() + "\n*.log\n!keep.log\n")
    message = _build_error(plugin_copy)
    assert "keep.log" in message and "'!keep.log'" in message and "never re-includes" in message


# Where scripts/package.py and `dify plugin package` (daemon 0.6.10, run locally) differed, and now agree.
def _add_dev_group(root: Path) -> None:
    """An empty `dev` dependency group in pyproject.toml and in uv.lock: what `uv export --no-group
    dev` needs (it refuses a group the lock does not define)."""
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[dependency-groups]\ndev = []\n")
    lock = root / "uv.lock"
    text = lock.read_text()
    anchor = f'[[package]]\nname = "{tomllib.loads(pyproject.read_text())["project"]["name"]}"'
    head, found, tail = text.partition(anchor)
    assert found, "the project's own entry is not in uv.lock"
    end = tail.index("\n[[package]]")
    lock.write_text(head + found + tail[:end] + "\n[package.metadata.requires-dev]\ndev = []\n" + tail[end:])


def test_a_missing_requirements_txt_is_written_from_uv_lock_as_dify_plugin_package_does(plugin_copy):
    (plugin_copy / "requirements.txt").unlink()
    _add_dev_group(plugin_copy)
    result = packager.build(plugin_copy, plugin_copy.parent / "out")
    with zipfile.ZipFile(result.path) as zf:
        written = zf.read("requirements.txt").decode()
    pins = dict(line.split(" ;")[0].split("==") for line in written.splitlines())
    locked = {p["name"]: p["version"] for p in tomllib.loads((plugin_copy / "uv.lock").read_text())["package"]}
    assert pins["dify-plugin"] == locked["dify-plugin"] and pins["gigachat"] == locked["gigachat"]
    assert "dify-plugin-gigachat" not in pins and "pytest" not in pins  # --no-emit-project, --no-group dev
    assert not written.startswith("#") and "--hash" not in written  # --no-header, --no-hashes


def test_without_requirements_txt_a_lock_uv_cannot_export_is_refused_with_uvs_reason(plugin_copy):
    (plugin_copy / "requirements.txt").unlink()
    message = _build_error(plugin_copy)  # this project's lock has no dev group: uv export fails
    assert "requirements.txt is missing" in message and "Group `dev` is not defined" in message


@pytest.mark.parametrize("text, says", [("model: [unclosed\n", "not valid YAML"), ("just text\n", "YAML mapping")],
                         ids=["broken YAML", "not a mapping"])
def test_refuses_a_model_file_the_predefined_glob_matches_that_does_not_parse(plugin_copy, text, says):
    (plugin_copy / "models" / "llm" / "draft.yaml").write_text(text)
    message = _build_error(plugin_copy)
    assert "models/llm/draft.yaml" in message and says in message


def test_refuses_a_position_file_that_is_not_a_list(plugin_copy):
    (plugin_copy / "models" / "llm" / "_position.yaml").write_text("first: GigaChat-2\n")
    assert "models/llm/_position.yaml" in _build_error(plugin_copy)


# A package of five files, written in reverse order without compression; `dify plugin checksum`
# (daemon 0.6.10) printed this checksum for it.
PROBE_MANIFEST = """version: 0.0.1
type: plugin
author: standin
name: checksum_probe
label:
  en_US: Checksum probe
description:
  en_US: A package whose checksum dify plugin checksum printed
icon: icon.svg
resource:
  memory: 268435456
plugins: {}
meta:
  version: 0.0.1
  arch: [amd64, arm64]
  runner:
    language: python
    version: "3.12"
    entrypoint: main
created_at: 2026-12-07T00:00:00Z
"""
PROBE_FILES = {"manifest.yaml": PROBE_MANIFEST, "_assets/icon.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>\n",
               "main.py": "print('never run')\n", "requirements.txt": "dify_plugin>=0.10.2,<0.11\n",
               "Ünïcode dir/файл.txt": "non-ASCII paths hash as UTF-8\n"}
PROBE_CHECKSUM = "58105ab84a5fe56eefdeda736c0b2a2c98a2c189bc1ae58f6795e754b871958a"


def test_the_checksum_is_what_dify_plugin_checksum_prints_whatever_the_zip_bytes(tmp_path, built):
    files = PROBE_FILES
    stored, deflated = tmp_path / "stored.difypkg", tmp_path / "deflated.difypkg"
    for path, order, method in ((stored, sorted(files, reverse=True), zipfile.ZIP_STORED),
                                (deflated, sorted(files), zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(path, "w", method) as zf:
            for name in order:
                zf.writestr(name, files[name])
    assert stored.read_bytes() != deflated.read_bytes()
    assert packager.package_checksum(stored) == packager.package_checksum(deflated) == PROBE_CHECKSUM
    # the packager reports the checksum of what it wrote
    assert packager.build(ROOT, tmp_path / "again").checksum == packager.package_checksum(built[0])


# ---------------------------------------------------------------------------------------------
# The ignore-file matcher: git's semantics, checked against git itself
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("patterns, path, is_dir, excluded", [
    ("build/", "build", True, True),
    ("build/", "build", False, False),  # dir-only: a file named build stays
    ("build/", "src/build", True, True),  # no slash inside: any depth
    ("*.pyc", "a/b/c.pyc", False, True),
    ("*.pyc", "a/b/c.py", False, False),
    ("/docs", "docs", True, True),  # anchored
    ("/docs", "src/docs", True, False),
    ("docs/api", "docs/api", True, True),  # a slash inside anchors too
    ("docs/api", "x/docs/api", True, False),
    ("**/cache", "a/b/cache", True, True),
    ("a/**/b", "a/b", True, True),  # zero or more directories
    ("a/**/b", "a/x/y/b", False, True),
    ("a/*/b", "a/x/y/b", False, False),  # * never crosses /
    ("*.log\n!keep.log", "keep.log", False, False),  # the last match wins
    ("!keep.log\n*.log", "keep.log", False, True),
    ("ab[cd].txt", "abd.txt", False, True),
    ("ab[!c].txt", "abc.txt", False, False),
    ("\\#notes", "#notes", False, True),
])
def test_git_semantics(patterns, path, is_dir, excluded):
    rules = packager.IgnoreRules.parse(patterns)
    assert rules.git_excludes(path.split("/"), is_dir) is excluded


TREE = ["a.log", "notes.txt", "build/x.o", "build/sub/y.o", "src/build/z.c", "src/a.py", "src/a.pyc", "src/build.txt",
        "docs/index.md", "docs/api/ref.md", "docs/api/x/deep.md", "a/b/c/d.txt", "a/x/y/b/e.txt", "x/a/b.txt",
        "foo", "bar/foo/q.txt", "bar/foo.txt", "tests/t.py", "tests/data/t.bin", "abc.txt", "abd.txt", "#notes",
        "deep/er/build/k.o", "lib/foo/bar/baz.txt", "models/llm/a.yaml", "models/llm/_position.yaml"]
PATTERN_SETS = [
    "build/\n*.log\n/tests/data\ndocs/**/*.md",
    "/build\nsrc/*.pyc\n**/foo\nab[cd].txt",
    "build\ndocs/api/\nx/a\n\\#notes\n# a comment\n\nnotes.txt",
    "foo/\n*/build/\ndeep/**/build/\nlib/**/baz.txt\n_position.yaml",
    "a/**\n**/x/**\ndocs/*\n!abc.txt",
    "*\n",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("patterns", PATTERN_SETS)
def test_matcher_keeps_what_git_keeps(tmp_path, patterns):
    for rel in TREE:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/.git/\n" + patterns)
    git = subprocess.run(["git", "-C", str(tmp_path), "ls-files", "-o", "--exclude-standard", "-z"],
                         capture_output=True, check=True).stdout.decode().split("\0")
    ours = [f.path for f in packager.collect_files(tmp_path, packager.IgnoreRules.load(tmp_path))]
    assert ours == sorted(p for p in git if p)


# ---------------------------------------------------------------------------------------------
# Installed the way Dify installs it (slow: a fresh venv and a pip install)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """The package unpacked and installed as Dify does: <plugin>/.venv with Python 3.12 and
    requirements.txt (stdlib venv + pip: uv is not on these machines; pip's cache is reused)."""
    plugin_dir = tmp_path_factory.mktemp("installed") / f"{MANIFEST['name']}-{MANIFEST['version']}"
    with zipfile.ZipFile(built[0]) as zf:
        zf.extractall(plugin_dir)
    env = _clean_env()
    subprocess.run([find_python312(), "-m", "venv", str(plugin_dir / ".venv")], check=True, env=env, timeout=120)
    python = plugin_dir / ".venv" / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r",
                          "requirements.txt"], cwd=plugin_dir, capture_output=True, text=True, env=env, timeout=600)
    if pip.returncode != 0:
        pytest.fail("pip install -r requirements.txt failed:\n" + (pip.stdout + pip.stderr)[-4000:])
    return plugin_dir, str(python)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_installed_package_compiles_like_the_installer(installed):
    plugin_dir, python = installed
    proc = subprocess.run([python, "-m", "compileall", "-q", "."], cwd=plugin_dir, capture_output=True, text=True,
                          timeout=300, env=_clean_env())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert (plugin_dir / "gigachat_dify" / "__pycache__").is_dir()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_serverless_start_passes_the_marketplace_check(installed):
    """Marketplace CI: INSTALL_METHOD=serverless, pass when "Serving Flask app" is printed and
    GET / answers 200 or 404 within 20 s."""
    plugin_dir, python = installed
    port = _free_port()
    env = _clean_env(INSTALL_METHOD="serverless", SERVERLESS_HOST="127.0.0.1", SERVERLESS_PORT=str(port),
                     PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.Popen([python, "-m", "main"], cwd=plugin_dir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []

    def read() -> None:
        for raw in proc.stdout:
            output.append(raw.decode("utf-8", "replace").rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    serving_after = status = None
    try:
        while time.monotonic() - started < 20 and proc.poll() is None:
            if serving_after is None and any("Serving Flask app" in line for line in list(output)):
                serving_after = time.monotonic() - started
            if serving_after is not None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                        status = resp.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    pass
                if status is not None:
                    break
            time.sleep(0.1)
        answered_after = time.monotonic() - started
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        reader.join(5)
    log = "\n".join(output[-40:])
    assert serving_after is not None, f"no 'Serving Flask app' within 20 s (exit code {proc.returncode}):\n{log}"
    assert status in (200, 404), f"GET / answered {status!r}:\n{log}"
    assert answered_after <= 20, answered_after


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_stdio_validates_provider_credentials_against_the_emulator(installed):
    plugin_dir, python = installed
    with Emulator() as emu:
        credentials = {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS", "base_url": emu.base_url,
                       "auth_url": emu.auth_url, "verify_ssl": True, "timeout": "20"}
        plugin = PluginProcess(python=python, plugin_dir=plugin_dir).start(timeout=90)
        try:
            result = plugin.validate_provider(credentials, timeout=60)
        finally:
            plugin.stop()
    assert result.ok, (result.error, plugin.stderr_lines[-20:])
    assert result.chunks[-1]["result"] is True
    assert not plugin.protocol_errors, plugin.protocol_errors
    assert plugin.manifest and plugin.manifest.get("version") == MANIFEST["version"]
    assert emu.stats.oauth_calls == 1
