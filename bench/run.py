"""The benchmark suite: one command, every comparison measured in one run, medians and ratios printed.

    .venv/bin/python -m bench.run [--rounds 40] [--out docs/] [--latency 0.05] [--chunk-latency 0.01]

Figures, not assertions. One GigaChat emulator on loopback (in this process) with a small,
realistic latency, and the plugin as Dify's daemon starts it (`python -m main`, stdio protocol,
tests/support/daemon.py). Measured:

  (a) blocking chat latency: the plugin through the protocol vs the bare `gigachat` SDK sending
      the very same request body (captured from the plugin's own request), interleaved
      (plugin, SDK, SDK, plugin, ... so drift and noise hit both alike);
  (b) streaming: time to first chunk and chunks/s after the first, plugin vs `client.stream`;
  (c) OAuth calls per 1,000 invocations through the plugin (blocking, streaming and embedding
      mixed, 4 at a time, fresh credentials), vs a new SDK client per invocation;
  (d) embeddings: chunks/s as Dify indexes a knowledge base vs the emulator's ceiling
      (bench/embeddings.py's measurement, on fewer chunks);
  (e) cold start to first heartbeat and resident memory after warm-up, vs a minimal plugin on
      the same dify_plugin, generated in a temporary directory (starts interleaved).

Writes the raw figures to bench/results/latest.json and a chart to <out>/benchmarks.svg.
The main process never imports dify_plugin (it would gevent-patch the emulator and the SDK).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

from emulator import DEFAULT_KEY, Emulator
from tests.support.daemon import PluginProcess, collect_text, system, user

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"
MODEL = "GigaChat-2"
SCOPE = "GIGACHAT_API_PERS"

# The same conversation for both sides. The emulator answers "Echo: <last user message>", ~4
# tokens per stream chunk: the blocking answer is short, the streamed one ~60 chunks.
BLOCKING_MESSAGES = [system("You are a concise assistant."),
                     user("Сколько планет в Солнечной системе? Ответь одним предложением.")]
STREAM_MESSAGES = [system("You are a helpful assistant."),
                   user("Расскажи подробно, как работает индексация базы знаний: "
                        + "разбиение документа на фрагменты, векторы, поиск ближайших соседей, ранжирование. " * 12)]


# --- small helpers -----------------------------------------------------------------------------


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p90(xs: list[float]) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process in MiB, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (/proc/<pid>/stat), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine() -> dict:
    mem_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "dify_plugin": version("dify_plugin"),
        "gigachat": version("gigachat"),
        "httpx": version("httpx"),
        "date": _dt.date.today().isoformat(),
    }


def credentials(emu: Emulator, timeout: str = "30") -> dict:
    """The provider form. Any difference (here: the timeout) is a different fingerprint, so a new
    client and a new OAuth token in the plugin."""
    return {"authorization_key": DEFAULT_KEY, "scope": SCOPE, "base_url": emu.base_url,
            "auth_url": emu.auth_url, "verify_ssl": True, "timeout": timeout}


def sdk_client(emu: Emulator):
    from gigachat import GigaChat

    return GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=DEFAULT_KEY, scope=SCOPE)


def check(result, what: str) -> None:
    if not result.ok:
        raise SystemExit(f"{what} failed: {result.error_type}: {result.error_message[:300]}")


# --- (a) + (b): plugin vs SDK, interleaved ------------------------------------------------------


def plugin_blocking(plugin: PluginProcess, creds: dict) -> float:
    t0 = time.perf_counter()
    result = plugin.invoke_llm(MODEL, creds, BLOCKING_MESSAGES, stream=False, timeout=60)
    elapsed = time.perf_counter() - t0
    check(result, "plugin blocking chat")
    return elapsed


def sdk_blocking(client, payload: dict) -> float:
    t0 = time.perf_counter()
    response = client.chat(payload)
    elapsed = time.perf_counter() - t0
    if not response.choices[0].message.content:
        raise SystemExit("SDK blocking chat returned no content")
    return elapsed


def _stream_figures(t0: float, stamps: list[float]) -> dict:
    first, last = stamps[0], stamps[-1]
    return {"ttfc": first - t0, "total": last - t0, "chunks": len(stamps),
            "chunks_per_s": (len(stamps) - 1) / (last - first) if last > first else float("nan")}


def plugin_stream(plugin: PluginProcess, creds: dict) -> dict:
    stamps: list[float] = []
    t0 = time.perf_counter()
    result = plugin.invoke_llm(MODEL, creds, STREAM_MESSAGES, stream=True, timeout=60,
                               on_chunk=lambda _c: stamps.append(time.perf_counter()))
    check(result, "plugin streaming chat")
    return _stream_figures(t0, stamps)


def sdk_stream(client, payload: dict) -> dict:
    stamps: list[float] = []
    t0 = time.perf_counter()
    for _chunk in client.stream(payload):
        stamps.append(time.perf_counter())
    return _stream_figures(t0, stamps)


def captured_payloads(emu: Emulator, plugin: PluginProcess, creds: dict) -> tuple[dict, dict]:
    """The bodies the plugin sends for the two conversations: the SDK side sends exactly these."""
    emu.clear_log()
    check(plugin.invoke_llm(MODEL, creds, BLOCKING_MESSAGES, stream=False, timeout=60), "capture (blocking)")
    check(plugin.invoke_llm(MODEL, creds, STREAM_MESSAGES, stream=True, timeout=60), "capture (stream)")
    bodies = [e.json for e in emu.log if e.path.endswith("/chat/completions")]
    blocking, streaming = dict(bodies[-2]), dict(bodies[-1])
    blocking.pop("stream", None)
    streaming.pop("stream", None)  # client.stream() sets it
    return blocking, streaming


def measure_chat(emu: Emulator, plugin: PluginProcess, creds: dict, rounds: int, warmup: int) -> dict:
    blocking_payload, stream_payload = captured_payloads(emu, plugin, creds)
    client = sdk_client(emu)
    data = {k: [] for k in ("plugin_blocking", "sdk_blocking", "plugin_stream", "sdk_stream")}
    steps = {
        "plugin_blocking": lambda: plugin_blocking(plugin, creds),
        "sdk_blocking": lambda: sdk_blocking(client, blocking_payload),
        "plugin_stream": lambda: plugin_stream(plugin, creds),
        "sdk_stream": lambda: sdk_stream(client, stream_payload),
    }
    for r in range(warmup + rounds):
        # plugin first on even rounds, SDK first on odd ones: neither always follows the other
        order = (["plugin_blocking", "sdk_blocking", "plugin_stream", "sdk_stream"] if r % 2 == 0
                 else ["sdk_blocking", "plugin_blocking", "sdk_stream", "plugin_stream"])
        for name in order:
            value = steps[name]()
            if r >= warmup:
                data[name].append(value)
        if r >= warmup and (r - warmup + 1) % 10 == 0:
            out(f"  chat rounds: {r - warmup + 1}/{rounds}")
    client.close()
    return data


# --- (c): OAuth calls per 1,000 invocations ---------------------------------------------------


def measure_oauth(emu: Emulator, plugin: PluginProcess, invocations: int, naive_sample: int) -> dict:
    saved = (emu.faults.latency, emu.faults.chunk_latency)
    emu.faults.latency = emu.faults.chunk_latency = 0.0  # cheap invocations: only the counting matters
    creds = credentials(emu, timeout="29")  # credentials this plugin process has not seen yet
    before, requests_before = emu.stats.oauth_calls, sum(emu.stats.requests.values())
    kinds = {"blocking": 0, "streaming": 0, "embedding": 0}
    failures: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        kind = ("blocking", "streaming", "embedding")[i % 3]
        if kind == "embedding":
            result = plugin.invoke_embedding("Embeddings", creds, [f"text {i}", f"другой текст {i}"], timeout=60)
        else:
            result = plugin.invoke_llm(MODEL, creds, [user(f"question {i}")], stream=kind == "streaming", timeout=60)
        with lock:
            kinds[kind] += 1
            if not result.ok:
                failures.append(f"{kind}: {result.error_type}: {result.error_message[:120]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(invocations)))
    wall = time.perf_counter() - started
    plugin_oauth = emu.stats.oauth_calls - before
    api_requests = sum(emu.stats.requests.values()) - requests_before - plugin_oauth

    # The naive way: a new SDK client per invocation (what a provider keeping its client on the
    # model instance gets, since Dify builds a new instance for every request).
    from gigachat import GigaChat

    before = emu.stats.oauth_calls
    for i in range(naive_sample):
        with GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=DEFAULT_KEY, scope=SCOPE) as c:
            c.chat({"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}]})
    naive_oauth = emu.stats.oauth_calls - before
    emu.faults.latency, emu.faults.chunk_latency = saved
    return {
        "invocations": invocations, "kinds": kinds, "failures": failures, "wall": wall,
        "plugin_oauth_calls": plugin_oauth, "plugin_api_requests": api_requests,
        "plugin_per_1000": plugin_oauth * 1000 / invocations,
        "naive_sample": naive_sample, "naive_oauth_calls": naive_oauth,
        "naive_per_1000": naive_oauth * 1000 / naive_sample if naive_sample else float("nan"),
    }


# --- (d): embeddings, via bench/embeddings.py ----------------------------------------------------


class EmbeddingsBench:
    """bench/embeddings.py's own measurement (run_plugin: Dify's indexing schedule through the
    plugin), on fewer chunks. Prepared before the emulator starts: pre-encoding its answers forks."""

    def __init__(self, chunks_n: int, latency: float, cap: int, retry_after: float, model: str = "Embeddings"):
        self.chunks_n, self.latency, self.cap, self.retry_after, self.model = chunks_n, latency, cap, retry_after, model
        self.error: str | None = None
        try:
            from bench import embeddings as emb

            self.emb = emb
            self.max_chunks = emb.model_max_chunks(model)
            self.chunks = emb.make_chunks(chunks_n)
            self.schedule = emb.dify_schedule(self.chunks, self.max_chunks)
            self.answers = emb.PreEncodedAnswers(model, self.chunks) if chunks_n else None
        except (ImportError, AttributeError, TypeError, SyntaxError) as exc:  # the module changed shape
            self.error = f"bench/embeddings.py not usable here ({type(exc).__name__}: {exc})"

    def install(self, emu: Emulator) -> None:
        if self.error is None and self.answers is not None:
            self.answers.install(emu)

    def run(self, emu: Emulator) -> dict:
        if self.error is not None:
            return {"skipped": self.error + "; run `python -m bench.embeddings` separately"}
        if not self.chunks_n:
            return {"skipped": "--embedding-chunks 0; run `python -m bench.embeddings` separately"}
        faults = (self.latency, self.cap, self.retry_after)
        self.emb.restart_counting(emu, *faults)  # clears faults and counters: the caller sets its own again
        # ==== the call into bench/embeddings.py (its main measurement) ====
        result = self.emb.run_plugin(emu, self.chunks, self.schedule, self.model, self.cap, faults)
        # ==================================================================
        needed = -(-len(self.chunks) // self.max_chunks)
        ideal = needed * self.latency / self.cap  # the emulator's ceiling for this workload
        result = {k: (sorted(v) if isinstance(v, set) else v) for k, v in result.items()}
        result.update(chunks=len(self.chunks), latency=self.latency, cap=self.cap, model=self.model,
                      texts_per_request=self.max_chunks, needed_requests=needed, ideal_wall=ideal,
                      chunks_per_s=len(self.chunks) / result["wall"], ceiling_chunks_per_s=len(self.chunks) / ideal)
        return result


# --- (e): cold start and memory, ours vs a minimal plugin --------------------------------------


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


# --- report ------------------------------------------------------------------------------------


def summarise(raw: dict) -> dict:
    chat, cold = raw["chat"], raw["cold_start"]
    pb, sb = [x * 1000 for x in chat["plugin_blocking"]], [x * 1000 for x in chat["sdk_blocking"]]
    ps, ss = chat["plugin_stream"], chat["sdk_stream"]

    def col(rows, key, scale=1.0):
        return [r[key] * scale for r in rows]

    s = {
        "blocking_ms": {"plugin": {"median": median(pb), "p90": p90(pb)}, "sdk": {"median": median(sb), "p90": p90(sb)}},
        "paired_overhead_ms": median([a - b for a, b in zip(pb, sb)]),
        "ttfc_ms": {"plugin": {"median": median(col(ps, "ttfc", 1000)), "p90": p90(col(ps, "ttfc", 1000))},
                    "sdk": {"median": median(col(ss, "ttfc", 1000)), "p90": p90(col(ss, "ttfc", 1000))}},
        "stream_total_ms": {"plugin": {"median": median(col(ps, "total", 1000)), "p90": p90(col(ps, "total", 1000))},
                            "sdk": {"median": median(col(ss, "total", 1000)), "p90": p90(col(ss, "total", 1000))}},
        "chunks_per_s": {"plugin": {"median": median(col(ps, "chunks_per_s")), "p90": p90(col(ps, "chunks_per_s"))},
                         "sdk": {"median": median(col(ss, "chunks_per_s")), "p90": p90(col(ss, "chunks_per_s"))}},
        "chunks": {"plugin": median(col(ps, "chunks")), "sdk": median(col(ss, "chunks"))},
        "cold_start_ms": {"ours": {"median": median([x * 1000 for x in cold["ours_ready"]]),
                                   "p90": p90([x * 1000 for x in cold["ours_ready"]])},
                          "minimal": {"median": median([x * 1000 for x in cold["minimal_ready"]]),
                                      "p90": p90([x * 1000 for x in cold["minimal_ready"]])}},
        "cold_start_cpu_ms": {"ours": median([x * 1000 for x in cold["ours_cpu_ready"]]),
                              "minimal": median([x * 1000 for x in cold["minimal_cpu_ready"]])},
        "rss_ready_mb": {"ours": median(cold["ours_rss_ready"]), "minimal": median(cold["minimal_rss_ready"])},
        "rss_warm_mb": {"ours": cold.get("ours_rss_warm"), "minimal": cold.get("minimal_rss_warm")},
    }
    return s


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None or x != x:
        return "–"
    return f"{x:,.{digits}f}"


def table(raw: dict, s: dict) -> list[str]:
    rows: list[tuple[str, str, str, str, str]] = []

    def pair(label, ours, ref, unit, digits=1, ratio=True, diff=True):
        r = f"{ours / ref:.2f}x" if ratio and ref else "–"
        d = f"{ours - ref:+,.{digits}f} {unit}" if diff else ""
        rows.append((label, f"{fmt(ours, digits)} {unit}", f"{fmt(ref, digits)} {unit}", r, d))

    b, t, c, st = s["blocking_ms"], s["ttfc_ms"], s["chunks_per_s"], s["stream_total_ms"]
    pair("(a) blocking chat, median", b["plugin"]["median"], b["sdk"]["median"], "ms")
    pair("(a) blocking chat, p90", b["plugin"]["p90"], b["sdk"]["p90"], "ms")
    rows.append(("(a) overhead, median of pairs", f"{fmt(s['paired_overhead_ms'])} ms", "", "", ""))
    pair("(b) time to first chunk, median", t["plugin"]["median"], t["sdk"]["median"], "ms")
    pair("(b) time to first chunk, p90", t["plugin"]["p90"], t["sdk"]["p90"], "ms")
    pair("(b) whole stream, median", st["plugin"]["median"], st["sdk"]["median"], "ms")
    pair("(b) chunks/s after the first, median", c["plugin"]["median"], c["sdk"]["median"], "/s")
    o = raw["oauth"]
    rows.append(("(c) OAuth calls per 1,000 invocations", fmt(o["plugin_per_1000"], 0),
                 fmt(o["naive_per_1000"], 0), "", "ref: new client per call"))
    e = raw["embeddings"]
    if "skipped" in e:
        rows.append(("(d) embeddings chunks/s", "skipped", "", "", ""))
    else:
        rows.append(("(d) embeddings chunks/s (ref: ceiling)", fmt(e["chunks_per_s"], 0),
                     fmt(e["ceiling_chunks_per_s"], 0), f"{e['chunks_per_s'] / e['ceiling_chunks_per_s']:.2f}x", ""))
    cs, rr, rw = s["cold_start_ms"], s["rss_ready_mb"], s["rss_warm_mb"]
    pair("(e) cold start to heartbeat, median", cs["ours"]["median"], cs["minimal"]["median"], "ms", 0)
    pair("(e) CPU time to heartbeat, median", s["cold_start_cpu_ms"]["ours"], s["cold_start_cpu_ms"]["minimal"], "ms", 0)
    pair("(e) RSS at first heartbeat, median", rr["ours"], rr["minimal"], "MiB")
    if rw["ours"] is not None:
        pair(f"(e) RSS after {raw['cold_start']['warm_requests']} requests", rw["ours"], rw["minimal"], "MiB")
    if raw.get("rss_long_run_mb") is not None:
        rows.append((f"    ours after the whole run ({raw['invocations_long_run']:,} inv.)",
                     f"{fmt(raw['rss_long_run_mb'])} MiB", "", "", ""))

    head = ("figure", "ours (plugin)", "reference", "ratio", "difference")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
              for r in rows]
    lines.append("reference: bare gigachat SDK for (a)/(b), a new SDK client per call for (c), "
                 "the emulator's ceiling for (d), a minimal dify_plugin plugin for (e)")
    return lines


# --- chart: hand-written SVG ---------------------------------------------------------------------


OURS_COLOUR, REF_COLOUR = "#21A038", "#9AA5B1"  # Sber green; neutral grey


def chart_groups(raw: dict, s: dict) -> list[dict]:
    b, t, c, cs, rw = s["blocking_ms"], s["ttfc_ms"], s["chunks_per_s"], s["cold_start_ms"], s["rss_warm_mb"]
    groups = [
        {"title": "Blocking chat latency, median (lower is better)", "unit": "ms", "digits": 1,
         "bars": [("plugin", b["plugin"]["median"], True), ("bare SDK", b["sdk"]["median"], False)]},
        {"title": "Time to first chunk, median (lower is better)", "unit": "ms", "digits": 1,
         "bars": [("plugin", t["plugin"]["median"], True), ("bare SDK", t["sdk"]["median"], False)]},
        {"title": "Stream chunks/s after the first, median (higher is better)", "unit": "chunks/s", "digits": 0,
         "bars": [("plugin", c["plugin"]["median"], True), ("bare SDK", c["sdk"]["median"], False)]},
        {"title": "OAuth calls per 1,000 invocations (lower is better)", "unit": "", "digits": 0,
         "bars": [("plugin", raw["oauth"]["plugin_per_1000"], True),
                  ("new client per call", raw["oauth"]["naive_per_1000"], False)]},
    ]
    e = raw["embeddings"]
    if "skipped" not in e:
        groups.append({"title": f"Embeddings, {e['chunks']:,} chunks, {e['latency'] * 1000:.0f} ms/request, {e['cap']} in flight (higher is better)", "unit": "chunks/s", "digits": 0,
                       "bars": [("plugin", e["chunks_per_s"], True), ("emulator ceiling", e["ceiling_chunks_per_s"], False)]})
    groups.append({"title": "Cold start to first heartbeat, median (lower is better)", "unit": "ms", "digits": 0,
                   "bars": [("this plugin", cs["ours"]["median"], True), ("minimal plugin", cs["minimal"]["median"], False)]})
    groups.append({"title": "CPU time to first heartbeat, median (lower is better)", "unit": "ms", "digits": 0,
                   "bars": [("this plugin", s["cold_start_cpu_ms"]["ours"], True),
                            ("minimal plugin", s["cold_start_cpu_ms"]["minimal"], False)]})
    if rw["ours"] is not None:
        groups.append({"title": f"Resident memory after {raw['cold_start']['warm_requests']} requests (lower is better)",
                       "unit": "MiB", "digits": 1,
                       "bars": [("this plugin", rw["ours"], True), ("minimal plugin", rw["minimal"], False)]})
    return groups


def render_svg(groups: list[dict], subtitle: str) -> str:
    width, label_w, bar_w, bar_h, gap = 820, 170, 480, 20, 6
    x0 = 20 + label_w
    y = 96
    body: list[str] = []
    for g in groups:
        body.append(f'<text x="20" y="{y}" class="title">{escape(g["title"])}</text>')
        y += 10
        top = max((v for _, v, _ in g["bars"] if v == v), default=1) or 1
        for label, value, ours in g["bars"]:
            w = 0 if value != value else max(1.5, bar_w * value / top)
            colour = OURS_COLOUR if ours else REF_COLOUR
            text = "–" if value != value else f"{value:,.{g['digits']}f} {g['unit']}".rstrip()
            body.append(f'<text x="{x0 - 8}" y="{y + bar_h - 6}" class="label">{escape(label)}</text>')
            body.append(f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{colour}"/>')
            body.append(f'<text x="{x0 + w + 6:.1f}" y="{y + bar_h - 6}" class="value">{escape(text)}</text>')
            y += bar_h + gap
        y += 22
    height = y + 10
    legend_y = 66
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        "<style>.h{font-size:17px;font-weight:bold;fill:#1f2933}.sub{font-size:11px;fill:#52606d}"
        ".title{font-size:13px;font-weight:bold;fill:#1f2933}.label{font-size:12px;fill:#323f4b;text-anchor:end}"
        ".value{font-size:12px;fill:#1f2933}.legend{font-size:12px;fill:#323f4b}</style>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        '<text x="20" y="26" class="h">GigaChat plugin for Dify: benchmarks</text>',
        f'<text x="20" y="44" class="sub">{escape(subtitle)}</text>',
        f'<rect x="20" y="{legend_y - 10}" width="12" height="12" fill="{OURS_COLOUR}"/>',
        f'<text x="38" y="{legend_y}" class="legend">this plugin</text>',
        f'<rect x="130" y="{legend_y - 10}" width="12" height="12" fill="{REF_COLOUR}"/>',
        f'<text x="148" y="{legend_y}" class="legend">reference (bars scaled per group)</text>',
    ]
    return "\n".join(head + body + ["</svg>"]) + "\n"


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40, help="measured chat rounds, each 4 requests (40)")
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured rounds first (5)")
    ap.add_argument("--latency", type=float, default=0.05, help="emulator seconds per response (0.05)")
    ap.add_argument("--chunk-latency", type=float, default=0.01, help="emulator seconds between stream chunks (0.01)")
    ap.add_argument("--oauth-invocations", type=int, default=1000, help="cheap invocations counted for (c) (1000)")
    ap.add_argument("--naive-oauth", type=int, default=200, help="invocations with a new SDK client each (200)")
    ap.add_argument("--embedding-chunks", type=int, default=2000, help="0 skips (d)")
    ap.add_argument("--embedding-latency", type=float, default=0.15, help="emulator seconds per embeddings request in (d)")
    ap.add_argument("--embedding-cap", type=int, default=4, help="emulator: embeddings requests in flight before 429 in (d)")
    ap.add_argument("--starts", type=int, default=9, help="cold starts of each plugin (9)")
    ap.add_argument("--warm-requests", type=int, default=10, help="requests before reading memory (10)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.svg goes (docs/)")
    args = ap.parse_args(argv)

    began = time.perf_counter()
    info = machine()
    out("GigaChat plugin benchmarks (figures, not assertions)")
    out(f"  machine: {info['cores']} cores ({info['cpu']}), {info['ram_gib']} GiB RAM, {info['os']}, "
        f"Python {info['python']}, dify_plugin {info['dify_plugin']}, gigachat {info['gigachat']}, {info['date']}")
    out(f"  emulator: {args.latency * 1000:.0f} ms per response, {args.chunk_latency * 1000:.0f} ms between stream chunks; "
        f"{args.rounds} rounds (+{args.warmup} warm-up), plugin and SDK interleaved")

    t = time.perf_counter()
    embeddings = EmbeddingsBench(args.embedding_chunks, args.embedding_latency, args.embedding_cap, 1.0)
    out(f"  embeddings workload prepared in {time.perf_counter() - t:.1f} s"
        + (f" ({embeddings.error})" if embeddings.error else ""))

    emu = Emulator()
    embeddings.install(emu)  # answers for (d)'s texts pre-encoded; every other request as usual
    emu.start()
    raw: dict = {"machine": info, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    plugin = None
    try:
        emu.faults.latency, emu.faults.chunk_latency = args.latency, args.chunk_latency
        creds = credentials(emu)
        plugin = PluginProcess().start(timeout=120)
        out("(a)+(b) chat: plugin vs bare SDK ...")
        raw["chat"] = measure_chat(emu, plugin, creds, args.rounds, args.warmup)
        out(f"(c) OAuth: {args.oauth_invocations:,} invocations through the plugin ...")
        raw["oauth"] = measure_oauth(emu, plugin, args.oauth_invocations, args.naive_oauth)
        raw["invocations_long_run"] = (args.rounds + args.warmup) * 2 + 2 + args.oauth_invocations
        raw["rss_long_run_mb"] = rss_mb(plugin.proc.pid)
        raw["protocol_errors"] = list(plugin.protocol_errors)
        plugin.stop()
        plugin = None
        out(f"(e) cold start: {args.starts} starts each, this plugin and a minimal one ...")
        raw["cold_start"] = measure_cold_start(emu, args.starts, args.warm_requests)
        out(f"(d) embeddings: {args.embedding_chunks:,} chunks through bench/embeddings.py ...")
        raw["embeddings"] = embeddings.run(emu)
    finally:
        if plugin is not None:
            plugin.stop()
        emu.stop()

    s = summarise(raw)
    raw["summary"] = s
    raw["wall_seconds"] = time.perf_counter() - began
    out()
    for line in table(raw, s):
        out(line)
    o, e = raw["oauth"], raw["embeddings"]
    out()
    out(f"(b) chunks per stream: plugin {s['chunks']['plugin']:.0f}, SDK {s['chunks']['sdk']:.0f}")
    out(f"(c) {o['invocations']:,} invocations {o['kinds']} in {o['wall']:.1f} s: {o['plugin_oauth_calls']} OAuth "
        f"call(s), {o['plugin_api_requests']} API requests, {len(o['failures'])} failed; new client per call: "
        f"{o['naive_oauth_calls']} OAuth calls for {o['naive_sample']} invocations")
    if "skipped" in e:
        out(f"(d) skipped: {e['skipped']}")
    else:
        out(f"(d) {e['chunks']:,} chunks in {e['wall']:.2f} s ({e['requests']} requests, {e['rate_limited']} 429s, "
            f"{e['vectors']:,} vectors, {len(e['failed'])} failed calls); ceiling {e['ideal_wall']:.2f} s = "
            f"{e['needed_requests']} requests x {e['latency'] * 1000:.0f} ms / {e['cap']} in flight; "
            f"plugin CPU {e['cpu_plugin']:.1f} s")
    if raw["protocol_errors"]:
        out(f"protocol errors: {raw['protocol_errors'][:3]}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(raw, indent=2, ensure_ascii=False, default=str))
    args.out.mkdir(parents=True, exist_ok=True)
    svg_path = args.out / "benchmarks.svg"
    subtitle = (f"{info['cores']} cores, Python {info['python']}, dify_plugin {info['dify_plugin']}, gigachat "
                f"{info['gigachat']}, {info['date']}; emulator {args.latency * 1000:.0f} ms/response, "
                f"{args.chunk_latency * 1000:.0f} ms/chunk; medians")
    svg_path.write_text(render_svg(chart_groups(raw, s), subtitle))
    out()
    out(f"raw results: {RESULTS.relative_to(ROOT)}; chart: {svg_path}; wall time {raw['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
