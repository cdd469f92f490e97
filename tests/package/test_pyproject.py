"""How Dify installs the plugin, and what the plugin needs installed.

With a pyproject.toml in the package, Dify's plugin daemon creates `.venv` with `uv venv --python 3.12`
and runs `uv sync --no-dev` in the plugin directory (`--frozen` when uv.lock is packaged too; without
the lock, or with a pip mirror, it resolves afresh or installs requirements.txt), then
`python -m compileall` (langgenius/dify-plugin-daemon, internal/core/local_runtime/
setup_python_environment.go). So pyproject.toml, uv.lock and requirements.txt must all describe the
same dependencies, and each must name every package the plugin's code imports.
"""

from __future__ import annotations

import ast
import importlib.metadata
import io
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from emulator import DEFAULT_KEY, Emulator
from tests.package.test_package import _clean_env
from tests.support.daemon import PluginProcess, find_python312, user

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirements_txt(text: str) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def by_name(requirements: list[Requirement]) -> dict[str, tuple]:
    """{canonical name: (specifiers, extras, marker)}; a name given twice is an error."""
    out: dict[str, tuple] = {}
    for r in requirements:
        name = canonicalize_name(r.name)
        assert name not in out, f"{r.name} is named twice"
        out[name] = (sorted(str(s) for s in r.specifier), sorted(r.extras), str(r.marker or ""))
    return out


REQUIREMENTS = by_name(requirements_txt((ROOT / "requirements.txt").read_text(encoding="utf-8")))


def imported_modules(sources: dict[str, str]) -> dict[str, set[str]]:
    """{top-level module: files importing it} for absolute imports anywhere in the code (also inside
    functions), less the standard library and the code's own top-level packages."""
    own = {Path(path).parts[0].removesuffix(".py") for path in sources}
    found: dict[str, set[str]] = {}
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text, filename=path)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top not in sys.stdlib_module_names and top != "__future__" and top not in own:
                    found.setdefault(top, set()).add(path)
    return found


def uncovered(modules: dict[str, set[str]], required: set[str]) -> dict[str, str]:
    """{module: why} for each module that no required distribution provides."""
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in modules.items():
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & required:
            who = ", ".join(sorted(dists)) or "no installed distribution"
            missing[module] = f"imported by {', '.join(sorted(files))}; provided by {who}"
    return missing


@pytest.fixture(scope="module")
def packaged_sources(built) -> dict[str, str]:
    with zipfile.ZipFile(built[0]) as zf:
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.endswith(".py")}


# ---------------------------------------------------------------------------------------------
# One list of dependencies, in three files
# ---------------------------------------------------------------------------------------------
def test_pyproject_and_requirements_txt_name_the_same_dependencies_and_ranges():
    assert by_name([Requirement(d) for d in PYPROJECT["project"]["dependencies"]]) == REQUIREMENTS


def test_pyproject_has_the_plugin_version_and_the_runner_python():
    project = PYPROJECT["project"]
    assert project["version"] == MANIFEST["version"]
    runner = MANIFEST["meta"]["runner"]["version"]
    assert f"{runner}.0" in SpecifierSet(project["requires-python"]), (project["requires-python"], runner)
    assert canonicalize_name(project["name"]) not in REQUIREMENTS, "the project would depend on itself"
    # Run from its directory (python -m main), never built: uv must not try to install it as a package.
    assert PYPROJECT["tool"]["uv"]["package"] is False
    assert not PYPROJECT.get("dependency-groups") and "optional-dependencies" not in project, \
        "development tools belong in requirements-dev.txt: the installed plugin must not carry them"


def test_every_third_party_module_the_packaged_code_imports_is_a_requirement(packaged_sources):
    modules = imported_modules(packaged_sources)
    assert "dify_plugin" in modules and "gigachat" in modules, sorted(modules)  # the walk saw the code
    assert uncovered(modules, set(REQUIREMENTS)) == {}


def test_every_requirement_is_imported_by_the_packaged_code(packaged_sources):
    providers = importlib.metadata.packages_distributions()
    provided = {canonicalize_name(d) for module in imported_modules(packaged_sources) for d in providers.get(module, [])}
    assert set(REQUIREMENTS) - provided == set(), "a requirement the plugin never imports"


def test_the_import_check_sees_imports_inside_functions_and_names_what_is_missing():
    sources = {"pkg/a.py": "import os\nfrom pkg import b\ndef f():\n    import yaml.constructor\n",
               "pkg/b.py": "from . import a\ndef g():\n    from requests import Session\n"}
    modules = imported_modules(sources)
    assert modules == {"yaml": {"pkg/a.py"}, "requests": {"pkg/b.py"}}
    missing = uncovered(modules, {"pyyaml"})
    assert list(missing) == ["requests"] and "pkg/b.py" in missing["requests"]


def _uv() -> str:
    try:
        import uv
    except ImportError:
        pytest.fail("uv is not installed: requirements-dev.txt installs it (bash scripts/test.sh sets it up)")
    return uv.find_uv_bin()


def _uv_env(**extra: str) -> dict:
    # The interpreter is always given (the one scripts/env.sh finds); never a download from GitHub.
    return _clean_env(UV_PYTHON_DOWNLOADS="never", **extra)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_uv_lock_is_in_step_with_pyproject(tmp_path):
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    lock = (tmp_path / "uv.lock").read_bytes()
    proc = subprocess.run([_uv(), "lock", "--check", "--python", find_python312()], cwd=tmp_path,
                          capture_output=True, text=True, timeout=500, env=_uv_env())
    assert proc.returncode == 0, "uv.lock is out of step with pyproject.toml: run `uv lock`\n" + proc.stderr[-3000:]
    assert (tmp_path / "uv.lock").read_bytes() == lock


# ---------------------------------------------------------------------------------------------
# Installed the way Dify installs it with PLUGIN_IGNORE_UV_LOCK: uv sync --no-dev resolving
# pyproject.toml afresh (slow: a fresh venv). The locked install (--frozen) is what every e2e test
# runs on: tests/support/daemon.py installs the package that way once per session.
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_uv_sync_no_dev_without_the_lock_installs_a_plugin_that_starts_and_answers(built, tmp_path):
    plugin_dir = tmp_path / f"{MANIFEST['name']}-{MANIFEST['version']}"
    with zipfile.ZipFile(built[0]) as zf:
        zf.extractall(plugin_dir)
    assert (plugin_dir / "pyproject.toml").is_file() and (plugin_dir / "uv.lock").is_file(), "not packaged"
    (plugin_dir / "uv.lock").unlink()  # what PLUGIN_IGNORE_UV_LOCK does: resolve pyproject.toml afresh
    args = ["sync", "--no-dev"]
    uv, env = _uv(), _uv_env(VIRTUAL_ENV=str(plugin_dir / ".venv"))
    for cmd in (["venv", ".venv", "--python", find_python312()], args):
        proc = subprocess.run([uv, *cmd], cwd=plugin_dir, capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, f"uv {' '.join(cmd)} failed:\n" + (proc.stdout + proc.stderr)[-4000:]
    python = str(plugin_dir / ".venv" / "bin" / "python")
    compiled = subprocess.run([python, "-m", "compileall", "-q", "-x", r"\.venv|\.uv-cache", "."], cwd=plugin_dir,
                              capture_output=True, text=True, timeout=300, env=_clean_env())
    assert compiled.returncode == 0, (compiled.stdout + compiled.stderr)[-4000:]
    # --no-dev: nothing of the test tools came along
    probe = subprocess.run([python, "-c", "import importlib.util as u; print([m for m in ('pytest', 'hypothesis', "
                            "'pproxy', 'cryptography') if u.find_spec(m)])"], capture_output=True, text=True,
                           timeout=60, env=_clean_env())
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr

    with Emulator() as emu:
        credentials = {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS", "base_url": emu.base_url,
                       "auth_url": emu.auth_url}
        plugin = PluginProcess(python=python, plugin_dir=plugin_dir).start(timeout=90)
        try:
            validated = plugin.validate_provider(credentials, timeout=60)
            chat = plugin.invoke_llm("GigaChat-2", credentials, [user("Привет")], stream=True, timeout=60)
            embedded = plugin.invoke_embedding("Embeddings", credentials, ["one", "two"], timeout=60)
        finally:
            plugin.stop()
    assert validated.ok and validated.chunks[-1]["result"] is True, (validated.error, plugin.stderr_lines[-20:])
    assert chat.ok and "Привет" in "".join(c["delta"]["message"]["content"] for c in chat.chunks), chat.error
    assert embedded.ok and len(embedded.chunks[-1]["embeddings"]) == 2, embedded.error
    assert not plugin.protocol_errors, plugin.protocol_errors
    assert emu.stats.oauth_calls == 1


def test_the_lock_names_the_versions_the_pins_allow():
    """uv.lock is what a --frozen install gets: every required package is locked within its range."""
    lock = tomllib.load(io.BytesIO((ROOT / "uv.lock").read_bytes()))
    locked = {canonicalize_name(p["name"]): p["version"] for p in lock["package"]}
    for name, (specifiers, _, _) in REQUIREMENTS.items():
        assert name in locked, f"{name} is not in uv.lock"
        assert locked[name] in SpecifierSet(",".join(specifiers)), (name, locked[name], specifiers)
