"""What the plugin's start pays: dify_plugin imports main.py, the provider and the model classes'
modules at start (it registers the classes by loading the files the provider YAML names), so what
they import is paid by every start and every process's memory. They import dify_plugin only;
gigachat_dify and the gigachat SDK load with the first request that needs them. And dify_plugin's
reading of the plugin's YAML at start goes through libyaml (gigachat_dify/startup.py), which must
give exactly what PyYAML's own loader gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.startup import write_minimal_plugin
from gigachat_dify.startup import libyaml_loading

ROOT = Path(__file__).resolve().parents[2]
#: The plugin's own modules a start may import: its entry modules and what main.py needs.
ENTRY_MODULES = {"provider.gigachat", "models", "models.llm", "models.llm.llm", "models.text_embedding",
                 "models.text_embedding.text_embedding", "gigachat_dify", "gigachat_dify.redaction",
                 "gigachat_dify.startup"}
#: Loaded on first use only: the SDK (its v2 models with it), JSON Schema, the fast JSON codecs, numpy, the emulator.
NOT_AT_START = ("gigachat", "jsonschema", "orjson", "simdjson", "csimdjson", "numpy", "emulator")

PROBE = "import json, sys\nimport main\njson.dump(sorted(sys.modules), open(sys.argv[1], 'w'))\n"


def modules_at_start(plugin_dir: Path, out: Path) -> set[str]:
    """Every module loaded once dify_plugin has registered the plugin in `plugin_dir` (what
    `python -m main` does before it first reads stdin), in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGACHAT_")}
    env["INSTALL_METHOD"] = "local"
    subprocess.run([sys.executable, "-c", PROBE, str(out)], cwd=plugin_dir, env=env, stdin=subprocess.DEVNULL,
                   capture_output=True, check=True, timeout=120)
    return set(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> tuple[set[str], set[str]]:
    tmp = tmp_path_factory.mktemp("startup")
    minimal = write_minimal_plugin(tmp / "minimal")
    return modules_at_start(ROOT, tmp / "ours.json"), modules_at_start(minimal, tmp / "minimal.json")


def test_start_imports_nothing_a_minimal_plugin_does_not_but_the_entry_modules(started):
    ours, minimal = started
    assert sorted(ours - minimal - ENTRY_MODULES) == []


def test_start_imports_neither_the_sdk_nor_what_only_some_requests_need(started):
    ours, _ = started
    loaded = sorted(m for m in ours if m.split(".")[0] in NOT_AT_START)
    assert loaded == []
    assert {m for m in ours if m.startswith("gigachat_dify.")} <= ENTRY_MODULES


PLUGIN_YAML = sorted(p for top in ("manifest.yaml", "provider", "models") for p in
                     ([ROOT / top] if top.endswith(".yaml") else (ROOT / top).rglob("*.yaml")))


@pytest.mark.parametrize("path", PLUGIN_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_the_plugin_ships_loads_the_same_through_libyaml(path):
    text = path.read_text(encoding="utf-8")
    with path.open(encoding="utf-8") as stream, libyaml_loading():
        fast = yaml.safe_load(stream)  # as dify_plugin's loader calls it: an open text file
    own = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 (a safe loader)
    assert fast == own and repr(fast) == repr(own)  # the same values, types (True is not 1) and key order


def test_libyaml_is_used_only_within_the_block_even_when_it_fails():
    own = yaml.safe_load
    with pytest.raises(RuntimeError), libyaml_loading():
        assert yaml.safe_load is not own
        assert yaml.safe_load("a: [1, 2]") == {"a": [1, 2]}
        raise RuntimeError("dify_plugin refused the manifest")
    assert yaml.safe_load is own


def test_a_yaml_error_is_still_a_yaml_error_for_dify_plugin_to_report():
    with pytest.raises(yaml.YAMLError), libyaml_loading():
        yaml.safe_load("a: [1, 2")
