"""(e) cold start to the first heartbeat and resident memory, this plugin vs a minimal
model-provider plugin on the same dify_plugin, generated in a temporary directory; starts
interleaved.

On its own it also measures what a deferred import costs later: the first request of each kind
(validation, blocking chat, first streamed chunk, embedding) in a fresh process, and the same
request again; optionally against the plugin at another commit (`--baseline main`):

    .venv/bin/python -m bench.startup [--starts 9] [--rounds 5] [--baseline REF]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.chat import BLOCKING_MESSAGES, MODEL, STREAM_MESSAGES, credentials
from bench.common import ROOT, archive_plugin, check, cpu_seconds, median, out, p90, rss_mb
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


_CLIENTS = {}


def _sdk(credentials):
    # The bare SDK inside the plugin: one client per account, as a plugin must keep it.
    key = (credentials["base_url"], credentials["key"])
    if key not in _CLIENTS:
        from gigachat import GigaChat

        _CLIENTS[key] = GigaChat(base_url=credentials["base_url"], auth_url=credentials["auth_url"],
                                 credentials=credentials["key"], scope=credentials["scope"])
    return _CLIENTS[key]


class MinimalLargeLanguageModel(LargeLanguageModel):
    def _invoke(self, model, credentials, prompt_messages, model_parameters, tools=None, stop=None,
                stream=True, user=None):
        if "payload" in credentials:  # bench/chat.py: send this body with the bare SDK, relay the answer
            return self._sdk_answer(model, credentials, stream)
        text = "Echo: " + str(prompt_messages[-1].content)
        if not stream:
            return LLMResult(model=model, prompt_messages=[], message=AssistantPromptMessage(content=text),
                             usage=LLMUsage.empty_usage())
        return self._stream(model, text)

    def _sdk_answer(self, model, credentials, stream):
        import json

        from gigachat.context import session_id_cvar

        client, payload = _sdk(credentials), json.loads(credentials["payload"])
        session = payload.pop("__x_session_id", None)  # sent as X-Session-ID, as the plugin sent it
        if session:
            session_id_cvar.set(session)  # this request's own context (one greenlet per request)
        if not stream:
            text = client.chat(payload).choices[0].message.content
            return LLMResult(model=model, prompt_messages=[], message=AssistantPromptMessage(content=text),
                             usage=LLMUsage.empty_usage())
        return (LLMResultChunk(model=model, prompt_messages=[], delta=LLMResultChunkDelta(
                    index=i, message=AssistantPromptMessage(content=chunk.choices[0].delta.content or "")))
                for i, chunk in enumerate(client.stream(payload)))

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


#: The embedding model of the minimal plugin's `embedding=True` variant: the protocol's own cost
#: (bench/embeddings.py `run_protocol_floor`): it answers every request at once, with no vectors.
MINIMAL_EMBEDDING_YAML = """\
model: nothing
label:
  en_US: nothing
model_type: text-embedding
model_properties:
  context_size: 512
  max_chunks: 90
"""

MINIMAL_EMBEDDING_PY = '''\
from dify_plugin import TextEmbeddingModel
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult


class MinimalTextEmbeddingModel(TextEmbeddingModel):
    def _invoke(self, model, credentials, texts, user=None, input_type=None):
        usage = EmbeddingUsage(tokens=0, total_tokens=0, unit_price=0, price_unit=0, total_price=0,
                               currency="RUB", latency=0)
        return TextEmbeddingResult(model=model, embeddings=[], usage=usage)

    def get_num_tokens(self, model, credentials, texts):
        return [0] * len(texts)

    def validate_credentials(self, model, credentials) -> None:
        pass

    @property
    def _invoke_error_mapping(self):
        return {}
'''


def write_minimal_plugin(directory: Path, embedding: bool = False) -> Path:
    """A minimal model-provider plugin shaped like ours: manifest, provider YAML with one credential,
    a provider with a no-op validate, one trivial LLM (YAML + class), main.py, our icon; with
    `embedding`, also a text-embedding model that answers with no vectors."""
    provider = MINIMAL_PROVIDER_YAML
    files = {
        "provider/minimal.py": MINIMAL_PROVIDER_PY,
        "models/llm/echo.yaml": MINIMAL_MODEL_YAML,
        "models/llm/_position.yaml": "- echo\n",
        "models/llm/llm.py": MINIMAL_LLM_PY,
        "main.py": MINIMAL_MAIN_PY,
    }
    if embedding:
        provider = (provider.replace("  - llm\n", "  - llm\n  - text-embedding\n", 1)
                    .replace('      - "models/llm/*.yaml"\n',
                             '      - "models/llm/*.yaml"\n  text_embedding:\n    predefined:\n'
                             '      - "models/text_embedding/*.yaml"\n', 1)
                    .replace("      - models/llm/llm.py\n",
                             "      - models/llm/llm.py\n      - models/text_embedding/text_embedding.py\n", 1))
        files.update({"models/text_embedding/nothing.yaml": MINIMAL_EMBEDDING_YAML,
                      "models/text_embedding/text_embedding.py": MINIMAL_EMBEDDING_PY})
    files.update({"manifest.yaml": MINIMAL_MANIFEST, "provider/minimal.yaml": provider})
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


def compiled(directory: Path) -> Path:
    """The plugin's bytecode written, as Dify's installer does (`python -m compileall` after the
    dependencies): a start reads it instead of compiling every module it imports (this matters
    where PYTHONDONTWRITEBYTECODE is set, as a start would never write it)."""
    sources = [str(directory / name) for name in ("main.py", "provider", "models", "gigachat_dify")
               if (directory / name).exists()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True, stdout=subprocess.DEVNULL)
    return directory


def rotated(names: list[str], i: int) -> list[str]:
    """The i-th start's order: each name leads in turn, so drift hits every side alike."""
    k = i % len(names)
    return names[k:] + names[:k]


def start_once(directory: Path, data: dict, name: str) -> PluginProcess:
    """Starts the plugin in `directory` and records its time, CPU and memory at the first heartbeat."""
    proc = PluginProcess(plugin_dir=directory).start(timeout=120)
    data[f"{name}_ready"].append(proc.ready_after)
    data[f"{name}_cpu_ready"].append(cpu_seconds(proc.proc.pid))
    data[f"{name}_rss_ready"].append(rss_mb(proc.proc.pid))
    return proc


def measure_cold_start(emu: Emulator, starts: int, warm_requests: int) -> dict:
    creds = credentials(emu)
    data = {"ours_ready": [], "minimal_ready": [], "ours_cpu_ready": [], "minimal_cpu_ready": [],
            "ours_rss_ready": [], "minimal_rss_ready": []}
    with tempfile.TemporaryDirectory(prefix="dify-minimal-plugin-") as tmp:
        minimal_dir = compiled(write_minimal_plugin(Path(tmp)))
        dirs = {"ours": compiled(ROOT), "minimal": minimal_dir}
        for i in range(starts):
            for name in rotated(["ours", "minimal"], i):
                proc = start_once(dirs[name], data, name)
                try:
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


# --- on its own: what a deferred import costs the first request of each kind -------------------

EMBED_TEXTS = ["Индексация базы знаний: разбиение документа на фрагменты.", "Vectors and nearest neighbours."]


def _first_stream_chunk(plugin: PluginProcess, creds: dict):
    stamps: list[float] = []
    t0 = time.perf_counter()
    result = plugin.invoke_llm(MODEL, creds, STREAM_MESSAGES, stream=True, timeout=60,
                               on_chunk=lambda _c: stamps.append(time.perf_counter()))
    return result, (stamps[0] - t0 if stamps else float("nan"))


#: kind -> one request of it: (result, seconds) (None: the whole request's time).
FIRST_REQUESTS = {
    "validation": lambda p, c: (p.validate_provider(c, timeout=60), None),
    "blocking chat": lambda p, c: (p.invoke_llm(MODEL, c, BLOCKING_MESSAGES, stream=False, timeout=60), None),
    "first streamed chunk": _first_stream_chunk,
    "embedding": lambda p, c: (p.invoke_embedding("Embeddings", c, EMBED_TEXTS, timeout=60), None),
}


def _timed(kind: str, plugin: PluginProcess, creds: dict) -> float:
    t0 = time.perf_counter()
    result, seconds = FIRST_REQUESTS[kind](plugin, creds)
    elapsed = time.perf_counter() - t0
    check(result, kind)
    return elapsed if seconds is None else seconds


def measure_first_requests(emu: Emulator, dirs: dict[str, Path], rounds: int) -> dict:
    """{variant: {kind: {"first": [s], "again": [s]}}}: each kind as the first request of a fresh
    process (it pays whatever that process imports on first use, and its first token), then the
    same request again. Variants and kinds rotate start by start."""
    creds = credentials(emu)
    data = {name: {kind: {"first": [], "again": []} for kind in FIRST_REQUESTS} for name in dirs}
    i = 0
    for _ in range(rounds):
        for kind in FIRST_REQUESTS:
            for name in rotated(list(dirs), i):
                with PluginProcess(plugin_dir=dirs[name]) as proc:
                    data[name][kind]["first"].append(_timed(kind, proc, creds))
                    data[name][kind]["again"].append(_timed(kind, proc, creds))
            i += 1
    return data


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--starts", type=int, default=9, help="cold starts of each plugin (9)")
    ap.add_argument("--rounds", type=int, default=5, help="fresh processes per kind of first request (5; 0: none)")
    ap.add_argument("--baseline", help="also measure the plugin at this commit (e.g. main)")
    args = ap.parse_args(argv)
    with Emulator() as emu, tempfile.TemporaryDirectory(prefix="dify-startup-") as tmp:
        emu.faults.latency = emu.faults.chunk_latency = 0.0
        dirs = {"this checkout": ROOT}
        if args.baseline:
            dirs[f"at {args.baseline}"] = archive_plugin(args.baseline, Path(tmp) / "baseline")
        dirs["minimal plugin"] = write_minimal_plugin(Path(tmp) / "minimal")
        for directory in dirs.values():
            compiled(directory)
        starts = {k: [] for name in dirs for k in (f"{name}_ready", f"{name}_cpu_ready", f"{name}_rss_ready")}
        for i in range(args.starts):
            for name in rotated(list(dirs), i):
                start_once(dirs[name], starts, name).stop()
        out(f"Cold start to the first heartbeat, median of {args.starts} starts each (interleaved):")
        out(f"{'':<22} {'wall':>9} {'CPU':>9} {'memory':>10} {'wall vs minimal':>16} {'memory vs minimal':>18}")
        base = {k: median(starts[f"minimal plugin_{k}"]) for k in ("ready", "cpu_ready", "rss_ready")}
        for name in dirs:
            wall, cpu, rss = (median(starts[f"{name}_{k}"]) for k in ("ready", "cpu_ready", "rss_ready"))
            out(f"{name:<22} {wall * 1000:>6.0f} ms {cpu * 1000:>6.0f} ms {rss:>6.1f} MiB {wall / base['ready']:>15.2f}x"
                f" {rss - base['rss_ready']:>+14.1f} MiB")
        if args.rounds:
            ours = [name for name in dirs if name != "minimal plugin"]
            first = measure_first_requests(emu, {name: dirs[name] for name in ours}, args.rounds)
            out()
            out(f"The first request of each kind in a fresh process, then the same again; median of {args.rounds}"
                " processes each (ms):")
            out(f"{'kind':<22}" + "".join(f" {name + ' first':>22} {'again':>7}" for name in ours)
                + (f" {'first vs baseline':>18}" if len(ours) > 1 else ""))
            for kind in FIRST_REQUESTS:
                cells = [(median(first[n][kind]["first"]) * 1000, median(first[n][kind]["again"]) * 1000) for n in ours]
                line = f"{kind:<22}" + "".join(f" {a:>22.1f} {b:>7.1f}" for a, b in cells)
                if len(cells) > 1:
                    line += f" {cells[0][0] - cells[1][0]:>+15.1f} ms"
                out(line)


if __name__ == "__main__":
    main()
