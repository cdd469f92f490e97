"""(e) cold start to the first heartbeat and resident memory, this plugin vs a minimal
model-provider plugin on the same dify_plugin, generated in a temporary directory; starts
interleaved."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.chat import BLOCKING_MESSAGES, MODEL, credentials
from bench.common import ROOT, check, cpu_seconds, median, p90, rss_mb
from emulator import Emulator
from tests.support.daemon import PluginProcess, collect_text

MINIMAL_MANIFEST = """\
version: 0.0.1
type: plugin
author: bench
name: minimal
label:
  en_US: Minimal
description:
  en_US: The smallest model-provider plugin on dify_plugin, for comparing start-up time and memory.
icon: icon.svg
created_at: "2026-01-01T00:00:00Z"
resource:
  memory: 268435456
  permission:
    model:
      enabled: false
plugins:
  models:
    - provider/minimal.yaml
meta:
  version: 0.0.1
  arch:
    - amd64
    - arm64
  runner:
    language: python
    version: "3.12"
    entrypoint: main
  minimum_dify_version: 1.6.0
"""

MINIMAL_PROVIDER_YAML = """\
provider: minimal
label:
  en_US: Minimal
icon_small:
  en_US: icon.svg
supported_model_types:
  - llm
configurate_methods:
  - predefined-model
provider_credential_schema:
  credential_form_schemas:
    - variable: api_key
      label:
        en_US: API key
      type: secret-input
      required: true
models:
  llm:
    predefined:
      - "models/llm/*.yaml"
extra:
  python:
    provider_source: provider/minimal.py
    model_sources:
      - models/llm/llm.py
"""

MINIMAL_PROVIDER_PY = """\
from dify_plugin import ModelProvider


class MinimalProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        pass
"""

MINIMAL_MODEL_YAML = """\
model: echo
label:
  en_US: echo
model_type: llm
features: []
model_properties:
  mode: chat
  context_size: 4096
parameter_rules: []
"""

MINIMAL_LLM_PY = '''\
from collections.abc import Generator

from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import AssistantPromptMessage


class MinimalLargeLanguageModel(LargeLanguageModel):
    def _invoke(self, model, credentials, prompt_messages, model_parameters, tools=None, stop=None,
                stream=True, user=None):
        text = "Echo: " + str(prompt_messages[-1].content)
        if not stream:
            return LLMResult(model=model, prompt_messages=[], message=AssistantPromptMessage(content=text),
                             usage=LLMUsage.empty_usage())
        return self._stream(model, text)

    def _stream(self, model, text) -> Generator[LLMResultChunk, None, None]:
        for i in range(0, len(text), 16):
            yield LLMResultChunk(model=model, prompt_messages=[],
                                 delta=LLMResultChunkDelta(index=i, message=AssistantPromptMessage(content=text[i:i + 16])))

    def get_num_tokens(self, model, credentials, prompt_messages, tools=None) -> int:
        return 0

    def validate_credentials(self, model, credentials) -> None:
        pass

    @property
    def _invoke_error_mapping(self):
        return {}
'''

MINIMAL_MAIN_PY = """\
from dify_plugin import DifyPluginEnv, Plugin

plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=300))

if __name__ == "__main__":
    plugin.run()
"""


def write_minimal_plugin(directory: Path) -> Path:
    """A minimal model-provider plugin shaped like ours: manifest, provider YAML with one credential,
    a provider with a no-op validate, one trivial LLM (YAML + class), main.py, our icon."""
    files = {
        "manifest.yaml": MINIMAL_MANIFEST,
        "provider/minimal.yaml": MINIMAL_PROVIDER_YAML,
        "provider/minimal.py": MINIMAL_PROVIDER_PY,
        "models/llm/echo.yaml": MINIMAL_MODEL_YAML,
        "models/llm/_position.yaml": "- echo\n",
        "models/llm/llm.py": MINIMAL_LLM_PY,
        "main.py": MINIMAL_MAIN_PY,
    }
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (directory / "_assets").mkdir(exist_ok=True)
    shutil.copy(ROOT / "_assets" / "icon.svg", directory / "_assets" / "icon.svg")
    return directory


def minimal_invoke(plugin: PluginProcess, stream: bool) -> None:
    result = plugin.request(
        {"user_id": "u1", "type": "model", "action": "invoke_llm", "provider": "minimal", "model_type": "llm",
         "model": "echo", "credentials": {"api_key": "bench-key"}, "model_parameters": {},
         "prompt_messages": BLOCKING_MESSAGES, "tools": None, "stop": None, "json_schema": None,
         "stream": stream}, timeout=60)
    check(result, "minimal plugin invocation")
    if not collect_text(result).startswith("Echo: "):
        raise SystemExit("minimal plugin answered something unexpected")


def warm_up(plugin: PluginProcess, ours: bool, creds: dict, n: int) -> None:
    """The same number of blocking and streaming invocations for both plugins."""
    for i in range(n):
        stream = i % 2 == 1
        if ours:
            check(plugin.invoke_llm(MODEL, creds, BLOCKING_MESSAGES, stream=stream, timeout=60), "warm-up")
        else:
            minimal_invoke(plugin, stream)


def measure_cold_start(emu: Emulator, starts: int, warm_requests: int) -> dict:
    creds = credentials(emu)
    data = {"ours_ready": [], "minimal_ready": [], "ours_cpu_ready": [], "minimal_cpu_ready": [],
            "ours_rss_ready": [], "minimal_rss_ready": []}
    with tempfile.TemporaryDirectory(prefix="dify-minimal-plugin-") as tmp:
        minimal_dir = write_minimal_plugin(Path(tmp))
        dirs = {"ours": ROOT, "minimal": minimal_dir}
        for i in range(starts):
            order = ("ours", "minimal") if i % 2 == 0 else ("minimal", "ours")
            for name in order:
                proc = PluginProcess(plugin_dir=dirs[name]).start(timeout=120)
                try:
                    data[f"{name}_ready"].append(proc.ready_after)
                    data[f"{name}_cpu_ready"].append(cpu_seconds(proc.proc.pid))
                    data[f"{name}_rss_ready"].append(rss_mb(proc.proc.pid))
                    if i == starts - 1:  # the last start of each: warm up, then read memory
                        warm_up(proc, name == "ours", creds, warm_requests)
                        time.sleep(0.3)
                        data[f"{name}_rss_warm"] = rss_mb(proc.proc.pid)
                        if proc.protocol_errors:
                            raise SystemExit(f"{name} plugin broke the protocol: {proc.protocol_errors[:3]}")
                finally:
                    proc.stop()
    data["warm_requests"] = warm_requests
    return data


def summarise_cold_start(cold: dict) -> dict:
    def ms(key):
        values = [x * 1000 for x in cold[key]]
        return {"median": median(values), "p90": p90(values), "max": max(values) if values else float("nan")}

    return {
        "starts": len(cold["ours_ready"]),
        "cold_start_ms": {"ours": ms("ours_ready"), "minimal": ms("minimal_ready")},
        "cold_start_cpu_ms": {"ours": median([x * 1000 for x in cold["ours_cpu_ready"]]),
                              "minimal": median([x * 1000 for x in cold["minimal_cpu_ready"]])},
        "rss_ready_mb": {"ours": median(cold["ours_rss_ready"]), "minimal": median(cold["minimal_rss_ready"])},
        "rss_warm_mb": {"ours": cold.get("ours_rss_warm"), "minimal": cold.get("minimal_rss_warm")},
        "warm_requests": cold["warm_requests"],
    }
