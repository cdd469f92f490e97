"""Embeddings benchmark: index a knowledge base the way Dify does, through the plugin's stdio
protocol, against the GigaChat emulator with realistic latency and a concurrency cap.

    .venv/bin/python -m bench.embeddings                 # 10,000 chunks, 150 ms per request, cap 4
    .venv/bin/python -m bench.embeddings --cap 2 --latency 0.3 --chunks 2000

Figures, not assertions. What it does:

1. Starts the emulator in this process (`--latency` seconds per request; more than `--cap`
   requests in flight are answered 429 with Retry-After `--retry-after`). Its answers for the
   benchmark's texts are encoded before the clock starts (`PreEncodedAnswers`).
2. Starts the plugin as Dify's daemon does (`python -m main`, tests/support/daemon.py), with
   business-account credentials (10 requests in flight per account, so `--cap` is the limit that
   binds) whose `embedding_concurrency` is `--concurrency` (default: the cap).
3. Sends `--chunks` knowledge-base chunks (500-1,500 characters, Russian and English, generated
   deterministically) as Dify's indexing does (api/core/indexing_runner.py `_load`): the chunks
   are spread over 10 worker threads by the hash of their text; each thread embeds its share
   through `CacheEmbedding.embed_documents` (via `Vector.create`, 1,000 texts at a time), which
   calls `invoke_text_embedding` sequentially with `max_chunks` texts each (90 for the built-in
   models: the model YAML). So up to 10 invocations of 90 texts run at once.
4. Runs it again with the plugin as it was at `--baseline` ("before": a `git archive` of that
   commit, where dify_plugin's pydantic wrote GigaChat's values as they came, ~14 bytes each, and
   every text's tokens were estimated), in the same run and on the same batches (`--no-variants`
   skips it). For each: plugin CPU per 1,000 vectors, bytes per vector value on the protocol line
   (UTF-8), and the ratio of that CPU to the bare gigachat SDK's on the same batches
   (`client.embeddings`, measured in a child process of its own, one batch after another), and
   the CPU of the protocol alone: a minimal dify_plugin plugin answering the same invocations with
   no vectors (`run_protocol_floor`), what any plugin pays and the bare SDK does not.
5. Measures a naive client on the same emulator: the bare gigachat SDK sending each Dify batch
   as one request, one after the other (on the first `--naive-batches` batches, extrapolated).
6. Indexes the same chunks with a personal account (`--no-personal` skips it): the plugin's
   default concurrency for it (1) against the account's documented limit of 1 request in flight.
7. Times the plugin's own CPU work per step in a separate process (`--no-components` skips it),
   and computes the most texts per call of each model before and after (its protocol-size plan);
   `--sample-plugin` also shows where the plugin's one (gevent) thread spent the run.
8. Says which of issue 20's targets were met (`targets`), each with the figures that decide it.

`measure()` does all of it and returns the figures; bench/run.py calls it for its section (d).
Figures vary by +-25% from run to run on a shared 2-core machine: compare runs made together.
The main process never imports the plugin (dify_plugin would gevent-patch it, emulator included).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT, cpu_seconds

#: The plugin before issue 20 (values as they came, written by pydantic; every text estimated), for "before".
BASELINE_COMMIT = "9c3c185"
#: Issue 20's targets.
TARGET_TEXTS_PER_CALL = {1024: 300, 2560: 150}
TARGET_CPU_VS_SDK = 1.00
TARGET_BYTES_RATIO = 0.55  # the short form halves the bytes per value
#: What a plugin directory needs to run (`python -m main`).
PLUGIN_FILES = ("main.py", "manifest.yaml", "_assets", "provider", "models", "gigachat_dify")
DIFY_INDEXING_WORKERS = 10  # IndexingRunner._load: ThreadPoolExecutor(max_workers=10)
DIFY_VECTOR_BATCH = 1000  # Vector.create: embed_documents 1,000 texts at a time

RU_WORDS = (
    "база знаний документ фрагмент поиск вектор модель запрос ответ система пользователь настройка "
    "сервер интеграция индексация качество точность результат данные обработка текст раздел "
    "инструкция договор клиент сотрудник отчёт процесс правило требование описание пример "
    "необходимо позволяет обеспечивает используется содержит определяет выполняется быстро "
    "надёжно подробно кратко всегда обычно также однако поэтому если когда чтобы который "
    "этот новый важный основной отдельный каждый несколько"
).split()
EN_WORDS = (
    "knowledge base document chunk search vector model query answer system user settings server "
    "integration indexing quality accuracy result data processing text section guide contract "
    "customer employee report process rule requirement description example must allows provides "
    "is used contains defines runs quickly reliably in detail briefly always usually also however "
    "therefore if when so that which this new important main separate each several the a of to and"
).split()
TERMS = ["GigaChat", "Dify", "API", "OAuth", "JSON", "HTTP 429", "Retry-After", "RAG", "SDK", "TLS"]


# --- workload ------------------------------------------------------------------------------------


def make_chunks(n: int, seed: int = 2026) -> list[str]:
    """`n` distinct chunks of 500-1,500 characters: 60% Russian (with English terms), 40% English."""
    rng = random.Random(seed)
    chunks = []
    for i in range(n):
        russian = rng.random() < 0.6
        words = RU_WORDS if russian else EN_WORDS
        target = rng.randint(500, 1500)
        parts = [f"{'Раздел' if russian else 'Section'} {i}."]
        length = len(parts[0])
        sentences = 0
        while length < target:
            k = rng.randint(6, 18)
            sentence = [rng.choice(words) for _ in range(k)]
            if rng.random() < 0.3:
                sentence.insert(rng.randrange(k), rng.choice(TERMS))
            text = " ".join(sentence) + rng.choice(".....!?")
            text = text[0].upper() + text[1:]
            sentences += 1
            sep = "\n\n" if sentences % 5 == 0 else " "
            parts.append(sep + text)
            length += len(sep) + len(text)
        chunk = "".join(parts)
        if len(chunk) > target:
            cut = chunk.rfind(" ", 500, target - 1)
            chunk = chunk[: cut if cut > 0 else target - 1] + "."
        chunks.append(chunk)
    return chunks


def dify_text_hash(text: str) -> str:
    """libs.helper.generate_text_hash (what IndexingRunner groups chunks by)."""
    return hashlib.sha256((str(text) + "None").encode()).hexdigest()


def dify_schedule(chunks: list[str], max_chunks: int) -> list[list[list[int]]]:
    """Per indexing thread, its invoke_text_embedding calls in order (each a list of chunk indices)."""
    groups: list[list[int]] = [[] for _ in range(DIFY_INDEXING_WORKERS)]
    for i, chunk in enumerate(chunks):
        groups[int(dify_text_hash(chunk), 16) % DIFY_INDEXING_WORKERS].append(i)
    schedule = []
    for group in groups:
        calls = []
        for v in range(0, len(group), DIFY_VECTOR_BATCH):
            part = group[v : v + DIFY_VECTOR_BATCH]
            calls.extend(part[j : j + max_chunks] for j in range(0, len(part), max_chunks))
        if calls:
            schedule.append(calls)
    return schedule


def model_max_chunks(model: str) -> int:
    path = ROOT / "models" / "text_embedding" / f"{model}.yaml"
    return int(yaml.safe_load(path.read_text())["model_properties"]["max_chunks"])


# --- measuring helpers ---------------------------------------------------------------------------


def credentials_for(emu, concurrency: int | None, personal: bool = False) -> dict:
    """A business account with `concurrency` parallel embedding requests, or a personal account
    with the plugin's default (concurrency None)."""
    from emulator import B2B_KEY, DEFAULT_KEY

    creds = {
        "authorization_key": DEFAULT_KEY if personal else B2B_KEY,
        "scope": "GIGACHAT_API_PERS" if personal else "GIGACHAT_API_B2B",
        "base_url": emu.base_url,
        "auth_url": emu.auth_url,
        "verify_ssl": True,
        "timeout": "60",
    }
    if concurrency is not None:
        creds["embedding_concurrency"] = str(concurrency)
    return creds


def embedding_posts(emu) -> int:
    return emu.stats.requests.get("POST /embeddings", 0)


def restart_counting(emu, latency: float, cap: int | None, retry_after: float) -> None:
    """Counters and log from zero; `emu.reset()` also clears the faults, so they are set again."""
    emu.reset()
    emu.faults.latency = latency
    emu.faults.concurrency_cap = cap
    emu.faults.retry_after = retry_after


# --- the emulator's answers, pre-encoded ---------------------------------------------------------


class PreEncodedAnswers:
    """The emulator's /embeddings answers for the benchmark's texts, encoded in advance.

    The emulator prints its float16 values from a table (`emulator.embeddings.embeddings_json`),
    but an answer of 90 x 1,024 values still costs it ~20 ms of CPU, on the same two cores as the
    plugin (real GigaChat does that on Sber's servers), holding the GIL of the process that also
    plays Dify's daemon. Measured on 10,000 chunks (1 December 2026): +2.3 s of CPU in the
    benchmark's process, two thirds of the plugin's own, and a 35% longer wall time (1,150 instead
    of 1,570 chunks/s). So answers for known texts are assembled from per-text fragments the
    emulator's own encoder printed before the clock starts (the same bytes: checked at install).
    Anything else (unknown texts, over-long ones, other models) goes to the emulator's own
    endpoint. Latency, the concurrency caps, 429s and auth run as usual (they come before the
    endpoint). `--live-emulator-json` measures without it."""

    def __init__(self, model: str, texts: list[str]) -> None:
        from emulator import catalog
        from emulator.embeddings import EMBEDDING_TOKEN_OVERHEAD, MAX_BATCH, _vector_json
        from emulator.tokens import count_tokens

        limit = catalog.EMBEDDING_TOKEN_LIMITS[model]
        self.model, self.max_batch = model, MAX_BATCH
        self.fragments: dict[str, tuple[str, int]] = {}
        for text in dict.fromkeys(texts):
            tokens = count_tokens(text)
            if text.strip() and tokens <= limit:
                self.fragments[text] = (_vector_json(model, text), tokens + EMBEDDING_TOKEN_OVERHEAD)

    def _answer(self, body: dict) -> bytes | None:
        texts = body.get("input") if isinstance(body, dict) else None
        if body.get("model") != self.model or not isinstance(texts, list) or not 0 < len(texts) <= self.max_batch:
            return None
        parts = []
        for i, text in enumerate(texts):
            found = self.fragments.get(text) if isinstance(text, str) else None
            if found is None:
                return None
            parts.append('{"object": "embedding", "index": %d, "embedding": %s, "usage": {"prompt_tokens": %d}}'
                         % (i, found[0], found[1]))
        return ('{"object": "list", "model": %s, "data": [%s]}' % (json.dumps(self.model), ", ".join(parts))).encode()

    def install(self, emu) -> None:
        from types import SimpleNamespace

        from emulator.wire import Response

        endpoints = emu._api.endpoints
        original = endpoints["embeddings"]

        def endpoint(call, state):
            try:
                body = json.loads(call.body)
            except ValueError:
                body = None
            raw = self._answer(body) if isinstance(body, dict) else None
            return Response(200, raw) if raw is not None else original(call, state)

        sample = {"model": self.model, "input": list(self.fragments)[:3]}
        call = SimpleNamespace(body=json.dumps(sample).encode())
        if json.loads(endpoint(call, emu.state).body) != json.loads(original(call, emu.state).body):
            raise SystemExit("pre-encoded answers differ from the emulator's own: not installed")
        endpoints["embeddings"] = endpoint  # this emulator instance only (the pipeline looks it up per request)


# --- where the plugin's one thread spends its time (optional: --sample-plugin) --------------------

# Installed as sitecustomize.py on the plugin's PYTHONPATH: a native thread that looks at the main
# thread's stack every 5 ms. The plugin runs every request as a gevent greenlet on that one thread,
# so this is where all of its requests' time goes. Bias: the sampler needs the GIL, so a long C
# call that holds it (JSON decoding) is seen about once instead of once per 5 ms: read it with
# the CPU-per-step table.
_SAMPLER = r"""
import _thread, json, os, sys, time
_out = os.environ.get("BENCH_PLUGIN_SAMPLES")
_main = _thread.get_ident()
_sleep = time.sleep
_RULES = (  # most specific first: the first rule that matches anywhere on the stack wins
    ("response_writer.py", "write", "writing the answer to stdout (blocks the whole process)"),
    ("tokens.py", "", "token estimates"),
    ("token_batch.py", "", "token estimates"),
    ("embeddings/http.py", "_read", "embeddings: the answer read into one buffer (simdjson)"),
    ("decoder.py", "", "SDK: JSON decode of GigaChat's answer"),
    ("main.py", "model_dump", "Dify protocol: encode the result"),
    ("pydantic", "", "pydantic models (SDK answer, Dify result)"),
    ("_socketcommon.py", "", "HTTP client (sockets, h11, httpcore)"),
    ("httpcore", "", "HTTP client (sockets, h11, httpcore)"),
    ("h11", "", "HTTP client (sockets, h11, httpcore)"),
    ("request_reader.py", "", "reading requests from stdin"),
    ("answer.py", "", "embeddings: the answer's line, pre-encoded"),
    ("values.py", "", "embeddings: vector blocks and the short form (numpy)"),
    ("embeddings/", "", "embeddings engine (plan, pack, check, encode)"),
    ("embedding.py", "", "embeddings engine (plan, pack, check, encode)"),
    ("hub.py", "", "idle: gevent hub waiting for I/O or timers"),
)

def _classify(frame):
    names = []
    while frame is not None:
        names.append((frame.f_code.co_filename, frame.f_code.co_name))
        frame = frame.f_back
    for file, func, label in _RULES:
        for filename, name in names:
            if file in filename and func in name:
                return label
    return "other: " + os.path.basename(names[0][0]) + ":" + names[0][1] if names else "other"

def _run():
    counts, last = {}, time.monotonic()
    while True:
        _sleep(0.005)
        frame = sys._current_frames().get(_main)
        if frame is not None:
            label = _classify(frame)
            counts[label] = counts.get(label, 0) + 1
        if time.monotonic() - last > 0.5:
            last = time.monotonic()
            with open(_out + ".tmp", "w") as fh:
                json.dump(counts, fh)
            os.replace(_out + ".tmp", _out)

if _out:
    _thread.start_new_thread(_run, ())
"""


def sampler_env(directory: Path) -> dict:
    (directory / "sitecustomize.py").write_text(_SAMPLER)
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "BENCH_PLUGIN_SAMPLES": str(directory / "samples.json")}


# --- the plugin, driven like Dify ----------------------------------------------------------------


class LineMeter(list):
    """Stands in for PluginProcess.stdout_lines: measures every answer line and keeps none of them
    (an indexing run writes hundreds of ~1-2 MB lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.answer_bytes = 0
        self.answers = 0
        self.longest = 0

    def append(self, line: str) -> None:  # the reader thread's only use
        if line.startswith('{"event":"session"') and len(line) > 4096:
            size = len(line) if line.isascii() else len(line.encode())  # the daemon counts UTF-8 bytes
            with self.lock:
                self.answer_bytes += size
                self.answers += 1
                self.longest = max(self.longest, size)


def run_plugin(emu, chunks: list[str], schedule, model: str, concurrency: int | None, faults: tuple,
               sample_dir: Path | None = None, plugin_dir: Path = ROOT, personal: bool = False) -> dict:
    from emulator.embeddings import vector as emulator_vector
    from tests.support.daemon import PluginProcess
    from tests.support.halves import as_halves

    creds = credentials_for(emu, concurrency, personal)
    plugin = PluginProcess(env=sampler_env(sample_dir) if sample_dir else None, plugin_dir=plugin_dir).start()
    try:
        warm = plugin.invoke_embedding(model, creds, ["warm-up"], timeout=60)  # OAuth token, connection
        if not warm.ok:
            raise SystemExit(f"warm-up failed: {warm.error}")
        restart_counting(emu, *faults)
        meter = plugin.stdout_lines = LineMeter()
        lock = threading.Lock()
        outcome = {"vectors": 0, "values": 0, "wrong": 0, "failed": [], "dims": set(), "invocations": 0}

        def dify_thread(calls: list[list[int]]) -> None:
            for indices in calls:
                result = plugin.invoke_embedding(model, creds, [chunks[i] for i in indices], timeout=300)
                if not result.ok:
                    with lock:
                        outcome["invocations"] += 1
                        outcome["failed"].append(result.error_message[:200])
                    continue
                vectors = result.chunks[0]["embeddings"]
                # spot check (every vector would cost this process ~1 ms each): the first and the
                # last vector of the call are their texts' own, as float16, so nothing was shifted or lost
                wrong = len(vectors) != len(indices) or any(
                    as_halves(vectors[k]) != emulator_vector(model, chunks[indices[k]]) for k in (0, len(indices) - 1)
                )
                with lock:
                    outcome["invocations"] += 1
                    outcome["vectors"] += len(vectors)
                    outcome["values"] += sum(len(v) for v in vectors)
                    outcome["dims"].update(len(v) for v in vectors)
                    outcome["wrong"] += int(wrong)

        samples = sample_dir / "samples.json" if sample_dir else None
        if samples:
            time.sleep(0.6)  # the counts so far (start-up, warm-up) are taken off at the end
            before = json.loads(samples.read_text()) if samples.exists() else {}
        cpu_plugin0 = cpu_seconds(plugin.proc.pid)
        cpu_self0 = time.process_time()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=DIFY_INDEXING_WORKERS) as pool:
            list(pool.map(dify_thread, schedule))
        wall = time.perf_counter() - started
        outcome.update(
            wall=wall,
            cpu_plugin=cpu_seconds(plugin.proc.pid) - cpu_plugin0,
            cpu_bench=time.process_time() - cpu_self0,
            requests=embedding_posts(emu),
            rate_limited=emu.stats.rate_limited,
            max_concurrency=emu.stats.max_concurrency,
            statuses=dict(emu.stats.status_counts),
            oauth_calls=emu.stats.oauth_calls,
            answer_bytes=meter.answer_bytes,
            answer_lines=meter.answers,
            longest_line=meter.longest,
        )
        values, vectors = outcome["values"], outcome["vectors"]
        outcome["bytes_per_value"] = meter.answer_bytes / values if values else float("nan")
        outcome["cpu_per_1000_vectors"] = outcome["cpu_plugin"] / vectors * 1000 if vectors else float("nan")
        if samples:
            time.sleep(0.6)
            after = json.loads(samples.read_text()) if samples.exists() else {}
            outcome["samples"] = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
        return outcome
    finally:
        plugin.stop()


# --- the protocol's own cost: what any plugin pays before it embeds anything -----------------------


def run_protocol_floor(chunks: list[str], schedule, plugin_dir: Path) -> dict:
    """The same invocations, from the same 10 Dify threads, answered by a minimal dify_plugin plugin
    (bench/startup.py, `embedding=True`) at once with no vectors: the CPU of reading Dify's requests
    (their texts included) from stdin, dify_plugin's dispatch of each, and a small answer line. Any
    plugin pays it before its own work; the bare SDK, called directly, does not."""
    from tests.support.daemon import PluginProcess

    def invoke(plugin, texts):
        return plugin.request({"user_id": "u1", "type": "model", "action": "invoke_text_embedding",
                               "provider": "minimal", "model_type": "text-embedding", "model": "nothing",
                               "credentials": {"api_key": "bench-key"}, "texts": texts, "input_type": "document"},
                              timeout=300)

    plugin = PluginProcess(plugin_dir=plugin_dir).start()
    try:
        warm = invoke(plugin, ["warm-up"])
        if not warm.ok:
            raise SystemExit(f"protocol floor: the minimal plugin failed: {warm.error}")
        plugin.stdout_lines = LineMeter()
        failed, texts = [], 0
        lock = threading.Lock()

        def dify_thread(calls: list[list[int]]) -> None:
            nonlocal texts
            for indices in calls:
                result = invoke(plugin, [chunks[i] for i in indices])
                with lock:
                    texts += len(indices)
                    if not result.ok:
                        failed.append(str(result.error)[:200])

        cpu0, started = cpu_seconds(plugin.proc.pid), time.perf_counter()
        with ThreadPoolExecutor(max_workers=DIFY_INDEXING_WORKERS) as pool:
            list(pool.map(dify_thread, schedule))
        wall, cpu = time.perf_counter() - started, cpu_seconds(plugin.proc.pid) - cpu0
        if failed:
            raise SystemExit(f"protocol floor: {len(failed)} invocations failed: {failed[0]}")
        return {"cpu_plugin": cpu, "wall": wall, "texts": texts, "cpu_per_1000_vectors": cpu / texts * 1000}
    finally:
        plugin.stop()


# --- the plugin's other code paths, for comparison in the same run ---------------------------------

def plugin_variants(directory: Path, baseline: str | None) -> list[tuple[str, Path]]:
    """[(name, plugin directory)]: "before" (a git archive of `baseline`), "after" (this checkout)."""
    variants = []
    if baseline:
        before = directory / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline, *PLUGIN_FILES],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        variants.append((f"before ({baseline})", before))
    variants.append(("after", ROOT))
    return variants


# --- the bare SDK's CPU on the same batches (a child process: the emulator shares this one) -------


def sdk_cpu(emu, chunks: list[str], schedule, model: str, faults: tuple, directory: Path) -> dict:
    batches = [[chunks[i] for i in indices] for calls in schedule for indices in calls]
    job = directory / "sdk-job.json"
    job.write_text(json.dumps({"base_url": emu.base_url, "auth_url": emu.auth_url, "model": model,
                               "batches": batches}, ensure_ascii=False))
    restart_counting(emu, *faults)
    cmd = [sys.executable, "-m", "bench.embeddings", "--_sdk", str(job)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"bare SDK run failed: {proc.stderr.strip()[-500:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["cpu_per_1000_vectors"] = result["cpu"] / result["vectors"] * 1000
    return result


def _sdk_child(job_path: str) -> None:
    from gigachat import GigaChat

    from emulator import B2B_KEY

    job = json.loads(Path(job_path).read_text())
    with GigaChat(base_url=job["base_url"], auth_url=job["auth_url"], credentials=B2B_KEY,
                  scope="GIGACHAT_API_B2B", verify_ssl_certs=False, timeout=60, max_retries=0) as sdk:
        sdk.embeddings(["warm-up"], model=job["model"])  # token and connection, as for the plugin
        vectors = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for batch in job["batches"]:
            vectors += len(sdk.embeddings(batch, model=job["model"]).data)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(json.dumps({"cpu": cpu, "wall": wall, "vectors": vectors, "batches": len(job["batches"])}))


# --- the naive client ----------------------------------------------------------------------------


def run_naive(emu, chunks: list[str], schedule, model: str, sample_batches: int, faults: tuple) -> dict:
    """The bare SDK, each Dify batch as one request, strictly one after another."""
    from gigachat import GigaChat

    from emulator import B2B_KEY

    batches = [b for calls in schedule for b in calls]
    sample = batches if sample_batches <= 0 else batches[:sample_batches]
    restart_counting(emu, *faults)
    with GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=B2B_KEY,
                  scope="GIGACHAT_API_B2B", verify_ssl_certs=False, timeout=60, max_retries=0) as sdk:
        sdk.embeddings(["warm-up"], model=model)  # token and connection, as for the plugin
        restart_counting(emu, *faults)
        started = time.perf_counter()
        for indices in sample:
            sdk.embeddings([chunks[i] for i in indices], model=model)
        wall = time.perf_counter() - started
    per_batch = wall / len(sample)
    return {
        "sample_batches": len(sample),
        "sample_texts": sum(len(b) for b in sample),
        "sample_wall": wall,
        "total_batches": len(batches),
        "extrapolated": len(sample) < len(batches),
        "wall": per_batch * len(batches),
        "rate_limited": emu.stats.rate_limited,
    }


# --- the plugin's own CPU work, step by step (in a child process: it imports dify_plugin) ----------


ESTIMATES = "  of which token estimates, as arrays (texts longer than the model's limit in UTF-8 bytes)"
DECODE_STEP = "plugin: the answer read into one buffer of doubles (simdjson, checks)"


def components(chunks_n: int, model: str, seed: int) -> dict:
    """CPU seconds of each step the plugin performs for `chunks_n` chunks, single-threaded, outside
    the protocol: best of 3 on a sample (10 requests' worth; 2,000 chunks for planning), scaled
    ("steps"; names starting with a space are alternatives, before or the bare SDK's, or one-time
    costs, not part of the sum), and the share of chunks whose tokens the plan estimated, for this
    model and for EmbeddingsGigaR."""
    cpu = time.process_time()
    import numpy  # noqa: F401  (what the plugin's first embeddings call pays once)

    numpy_import = time.process_time() - cpu
    from gigachat_dify.embeddings import values

    cpu = time.process_time()
    values._tables()
    values._pieces()
    table_build = time.process_time() - cpu
    from gigachat_dify import token_batch

    cpu = time.process_time()
    token_batch._class_table()
    token_table_build = time.process_time() - cpu

    from dify_plugin.core.server.__base.response_writer import ResponseWriter  # gevent-patches, as in the plugin
    from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult
    from gigachat.models.embeddings import Embeddings

    from emulator.embeddings import embeddings_json
    from gigachat_dify.embeddings import answer, http
    from gigachat_dify.embeddings.config import resolve_config
    from gigachat_dify.embeddings.execution import parse_block
    from gigachat_dify.embeddings.planning import plan_batches
    from gigachat_dify.tokens import estimate_tokens

    chunks = make_chunks(chunks_n, seed)
    config = resolve_config(model, {}, 4)
    out: dict[str, float] = {}

    batches = plan_batches(chunks, config.limit_tokens, config.max_per_request)
    sample = [[p.text for p in b.pieces] for b in batches[:10]]
    raws = [embeddings_json({"model": model, "input": texts}) for texts in sample]

    def best(step, scale: float) -> float:
        times = []
        for _ in range(3):
            t = time.process_time()
            step()
            times.append(time.process_time() - t)
        return min(times) * scale

    few = chunks[:2000]
    estimated: list[str] = []

    def counting(text: str) -> int:
        estimated.append(text)
        return estimate_tokens(text)

    def invocations(texts: list[str]) -> list[list[str]]:  # as Dify sends them: max_chunks texts a call
        return [texts[i:i + config.max_per_request] for i in range(0, len(texts), config.max_per_request)]

    plan_batches(few, config.limit_tokens, config.max_per_request, estimate=counting)
    out["plan: split + pack"] = best(
        lambda: [plan_batches(call, config.limit_tokens, config.max_per_request) for call in invocations(few)],
        len(chunks) / len(few))
    share = len(estimated) / len(few)
    out[ESTIMATES] = best(lambda: [token_batch.estimate_many(call) for call in invocations(estimated)],
                          len(chunks) / len(few))
    out["  (the same texts by the regex, one by one)"] = best(lambda: [estimate_tokens(c) for c in estimated],
                                                               len(chunks) / len(few))
    gigar = resolve_config("EmbeddingsGigaR", {}, 4)
    estimated.clear()
    plan_batches(few, gigar.limit_tokens, gigar.max_per_request, estimate=counting)
    gigar_share = len(estimated) / len(few)
    out["  (EmbeddingsGigaR's plan of the same chunks: 4,096 tokens a text)"] = \
        best(lambda: plan_batches(few, gigar.limit_tokens, gigar.max_per_request), len(chunks) / len(few))
    scale = len(batches) / len(sample)

    decoded = [json.loads(raw) for raw in raws]
    out[DECODE_STEP] = best(lambda: [http._plain(raw) for raw in raws], scale)
    out["  (orjson's decode alone, the values as Python floats: 0.3.4)"] = best(
        lambda: [http.orjson.loads(raw) for raw in raws], scale)
    out["  (bare SDK: stdlib json)"] = best(lambda: [json.loads(raw) for raw in raws], scale)
    out["  (bare SDK: pydantic model)"] = best(lambda: [Embeddings(**d) for d in decoded], scale)
    plain = [http._plain(raw) for raw in raws]
    out["engine: the answer's block (checks, order, float16)"] = best(
        lambda: [parse_block(a, len(t)) for a, t in zip(plain, sample)], scale)
    blocks = [parse_block(a, len(t))[0] for a, t in zip(plain, sample)]
    parsed = [values.exact(b) for b in blocks]
    usage = EmbeddingUsage(tokens=1, total_tokens=1, unit_price=0, price_unit=0, total_price=0, currency="RUB",
                           latency=0.0)

    class Discard(ResponseWriter):
        def write(self, data: str) -> None:
            data.encode()  # what sys.stdout does with it before the pipe

        def done(self) -> None:
            pass

    writer = Discard()

    def pydantic_line(vector_sets) -> None:
        # dify_plugin's own path: the result model, model_dump twice, the envelope's model_dump_json
        for vectors in vector_sets:
            result = TextEmbeddingResult(model=model, embeddings=vectors, usage=usage)
            writer.session_message(session_id="s" * 36, data=writer.stream_object(result))

    def plugin_line(block_sets) -> None:
        for block in block_sets:
            writer.write(answer.line(writer, "s" * 36, model, block, usage))

    out["Dify protocol: the short form's line, pre-encoded"] = best(lambda: plugin_line(blocks), scale)
    out["  (before: dify_plugin's pydantic line of the values as they came)"] = best(lambda: pydantic_line(parsed), scale)
    out["sum"] = sum(v for k, v in out.items() if not k.startswith(" "))
    out[" once per process: import numpy"] = numpy_import
    out[" once per process: the short form's tables"] = table_build
    out[" once per process: the token estimate's character classes"] = token_table_build
    return {"steps": out, "estimated_share": share, "gigar_estimated_share": gigar_share}


def texts_per_call() -> list[dict]:
    """Per model: the most texts one call may carry before (every value at its longest, 24
    characters) and after (the short form's 11 for float16 models); the YAML's max_chunks."""
    from gigachat_dify.embeddings import size
    from gigachat_dify.embeddings.config import DIMENSIONS, known_halves

    return [{"model": m, "dimensions": d, "before": size.texts_per_answer(d, False),
             "after": size.texts_per_answer(d, known_halves(m)), "max_chunks": model_max_chunks(m),
             "target": TARGET_TEXTS_PER_CALL.get(d)} for m, d in sorted(DIMENSIONS.items())]


def _child(flag: str, *args: str) -> Any:
    cmd = [sys.executable, "-m", "bench.embeddings", flag, *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"({flag} failed: {proc.stderr.strip()[-300:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_components(chunks_n: int, model: str, seed: int) -> dict | None:
    return _child("--_components", str(chunks_n), "--model", model, "--seed", str(seed))


# --- main ------------------------------------------------------------------------------------------


def _median_run(runs: list[dict]) -> dict:
    """The run with the median plugin CPU (a real run, so its figures belong together)."""
    return sorted(runs, key=lambda r: r["cpu_plugin"])[len(runs) // 2]


def targets(record: dict) -> list[dict]:
    """Issue 20's targets, each met or not by this run's figures, with what decides it."""
    out = []
    for row in record.get("texts_per_call") or []:
        if row["target"]:
            out.append({"target": f"texts per call, {row['dimensions']:,} values ({row['model']})",
                        "wanted": f">= {row['target']}", "measured": str(row["after"]),
                        "met": row["after"] >= row["target"]})
    runs = record.get("median_runs") or {}
    after = runs.get("after")
    before = next((m for n, m in runs.items() if n.startswith("before")), None)
    if after and before:
        share = after["bytes_per_value"] / before["bytes_per_value"]
        out.append({"target": "bytes per value on the line", "wanted": f"<= {TARGET_BYTES_RATIO:.2f}x before",
                    "measured": f"{after['bytes_per_value']:.2f} ({share:.2f}x)", "met": share <= TARGET_BYTES_RATIO})
    if after and record.get("sdk_cpu_per_1000_vectors"):
        vs = after["cpu_per_1000_vectors"] / record["sdk_cpu_per_1000_vectors"]
        row = {"target": "plugin CPU per 1,000 vectors vs the bare SDK", "wanted": f"<= {TARGET_CPU_VS_SDK:.2f}x",
               "measured": f"{vs:.2f}x", "met": vs <= TARGET_CPU_VS_SDK, "vs_sdk": vs}
        if record.get("floor_cpu_per_1000_vectors") is not None:
            # what the plugin spends above what any plugin pays for the same requests, against the SDK
            above = after["cpu_per_1000_vectors"] - record["floor_cpu_per_1000_vectors"]
            row["above_floor_vs_sdk"] = above / record["sdk_cpu_per_1000_vectors"]
            row["measured"] += f" ({row['above_floor_vs_sdk']:.2f}x above the protocol's own cost)"
        out.append(row)
    return out


def _plain(value):
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def measure(emu, chunks: list[str], model: str = "Embeddings", *, latency: float = 0.15, cap: int = 4,
            retry_after: float = 1.0, concurrency: int | None = None, baseline: str | None = BASELINE_COMMIT,
            variants: bool = True, rounds: int = 1, naive_batches: int | None = 40, personal: bool = True,
            components_seed: int | None = None, sample_plugin: bool = False, log=print) -> dict:
    """Every embeddings figure on `chunks`, on a started emulator: today's plugin as Dify indexes
    (and, with `variants`, "before", rounds interleaved, with the bare SDK's CPU on the same
    batches), the naive loop (`naive_batches` None: skipped), a personal account, the plugin's CPU
    per step (`components_seed`: the seed `chunks` were made with; None: skipped), the most texts
    per call per model, and issue 20's targets. Leaves the emulator's faults cleared."""
    concurrency = concurrency or cap
    max_chunks = model_max_chunks(model)
    schedule = dify_schedule(chunks, max_chunks)
    faults = (latency, cap, retry_after)
    results: dict[str, list[dict]] = {}
    sdk: list[dict] = []
    floor: list[dict] = []
    naive = personal_run = comp = None
    try:
        restart_counting(emu, *faults)
        with tempfile.TemporaryDirectory(prefix="bench-embeddings-") as tmp:
            paths = plugin_variants(Path(tmp), baseline) if variants else [("after", ROOT)]
            minimal_dir = None
            if variants:
                from bench.startup import write_minimal_plugin

                minimal_dir = write_minimal_plugin(Path(tmp) / "minimal", embedding=True)
            for round_ in range(max(1, rounds)):
                shift = round_ % len(paths)
                for name, directory in paths[shift:] + paths[:shift]:
                    sample_dir = None
                    if sample_plugin and name == "after":
                        sample_dir = Path(tmp) / f"samples-{round_}"
                        sample_dir.mkdir()
                    log(f"  embeddings round {round_ + 1}/{max(1, rounds)}: {name} ...")
                    results.setdefault(name, []).append(
                        run_plugin(emu, chunks, schedule, model, concurrency, faults, sample_dir, directory))
                if variants:
                    log(f"  embeddings round {round_ + 1}/{max(1, rounds)}: bare SDK on the same batches ...")
                    sdk.append(sdk_cpu(emu, chunks, schedule, model, faults, Path(tmp)))
                    log(f"  embeddings round {round_ + 1}/{max(1, rounds)}: the protocol alone (a minimal plugin) ...")
                    floor.append(run_protocol_floor(chunks, schedule, minimal_dir))
        if naive_batches is not None:
            log("  embeddings: the naive loop ...")
            naive = run_naive(emu, chunks, schedule, model, naive_batches, faults)
        if personal:
            log("  embeddings: a personal account ...")
            personal_run = run_plugin(emu, chunks, schedule, model, None, faults, personal=True)
            personal_run["account_limit"] = emu.concurrency.get("GIGACHAT_API_PERS") or cap
    finally:
        emu.faults.clear()
    if components_seed is not None:
        log("  embeddings: plugin CPU per step ...")
        comp = run_components(len(chunks), model, components_seed)

    needed = math.ceil(len(chunks) / max_chunks)  # the plugin's texts per request: MAX_TEXTS_PER_REQUEST = max_chunks
    ideal = needed * latency / cap
    after = _median_run(results["after"])
    record = {
        "chunks": len(chunks), "model": model, "max_chunks": max_chunks, "latency": latency, "cap": cap,
        "retry_after": retry_after, "concurrency": concurrency, "baseline": baseline, "rounds": max(1, rounds),
        "invocations": sum(len(calls) for calls in schedule), "mean_chars": sum(map(len, chunks)) / len(chunks),
        "needed_requests": needed, "ideal_wall": ideal, "ceiling_chunks_per_s": len(chunks) / ideal,
        "plugin": after, "chunks_per_s": len(chunks) / after["wall"],
        "variants": results, "median_runs": {name: _median_run(runs) for name, runs in results.items()},
        "sdk": sdk, "naive": naive, "components": comp,
    }
    if sdk:
        record["sdk_median"] = sorted(sdk, key=lambda r: r["cpu"])[len(sdk) // 2]
        record["sdk_cpu_per_1000_vectors"] = record["sdk_median"]["cpu_per_1000_vectors"]
    if floor:
        record["floor"] = floor
        record["floor_median"] = sorted(floor, key=lambda r: r["cpu_plugin"])[len(floor) // 2]
        record["floor_cpu_per_1000_vectors"] = record["floor_median"]["cpu_per_1000_vectors"]
    record["texts_per_call"] = _child("--_limits")
    record["targets"] = targets(record)
    if naive:
        record["naive_chunks_per_s"] = len(chunks) / naive["wall"]
    if personal_run:
        limit = personal_run["account_limit"]
        personal_run.update(ideal_wall=needed * latency / limit, chunks_per_s=len(chunks) / personal_run["wall"],
                            ceiling_chunks_per_s=len(chunks) / (needed * latency / limit))
        record["personal"] = personal_run
    return _plain(record)


def print_report(r: dict) -> None:
    plugin, wall = r["plugin"], r["plugin"]["wall"]
    print()
    print("Plugin (as Dify indexes a knowledge base)")
    print(f"  wall time:                {wall:.1f} s")
    print(f"  chunks/s:                 {r['chunks_per_s']:.0f}")
    print(f"  vectors returned:         {plugin['vectors']:,} of {r['chunks']:,} (dims {plugin['dims']}), "
          f"calls out of order: {plugin['wrong']}, failed calls: {len(plugin['failed'])}")
    print(f"  requests sent:            {plugin['requests']} (minimum {r['needed_requests']} at {r['max_chunks']} texts "
          f"per request; Dify's {r['invocations']} invocations)")
    print(f"  429s seen:                {plugin['rate_limited']}")
    print(f"  max concurrency seen:     {plugin['max_concurrency']} (cap {r['cap']})")
    print(f"  ideal time:               {r['ideal_wall']:.1f} s = {r['needed_requests']} requests x {r['latency']:g} s / {r['cap']}")
    print(f"  ratio to ideal:           {r['ideal_wall'] / wall:.2f} (ideal / actual)")
    print(f"  CPU: plugin process       {plugin['cpu_plugin']:.1f} s ({plugin['cpu_plugin'] / wall:.0%} of one core)")
    print(f"  CPU: bench process        {plugin['cpu_bench']:.1f} s (emulator + Dify stand-in, {plugin['cpu_bench'] / wall:.0%} of one core)")
    print(f"  protocol line:            {plugin['bytes_per_value']:.2f} bytes per vector value, longest line "
          f"{plugin['longest_line'] / 1e6:.2f} MB (the daemon's limit: 5.24 MB)")
    if plugin["failed"]:
        print(f"  first failure:            {plugin['failed'][0]}")
    if plugin.get("samples"):
        total = sum(plugin["samples"].values())
        print(f"  where the plugin's thread spent the run ({total} samples, every 5 ms):")
        for label, n in sorted(plugin["samples"].items(), key=lambda kv: -kv[1])[:9]:
            print(f"    {n / total:5.0%}  {label}")
    if r["sdk"]:
        sdk_1000 = r["sdk_cpu_per_1000_vectors"]
        print()
        print(f"Code paths on the same batches (the median of {r['rounds']} round(s) by plugin CPU; rounds interleave the paths)")
        print(f"  {'code path':34s}{'CPU s':>7s}{'CPU per 1,000 vectors':>23s}{'vs bare SDK':>13s}"
              f"{'bytes/value':>13s}{'longest line':>14s}{'wall s':>8s}{'wrong':>7s}")
        for name, m in r["median_runs"].items():
            print(f"  {name:34s}{m['cpu_plugin']:7.2f}{m['cpu_per_1000_vectors'] * 1000:20.0f} ms"
                  f"{m['cpu_per_1000_vectors'] / sdk_1000:12.2f}x{m['bytes_per_value']:13.2f}"
                  f"{m['longest_line'] / 1e6:12.2f} MB{m['wall']:8.1f}{m['wrong'] + len(m['failed']):7d}")
        s = r["sdk_median"]
        print(f"  {'bare gigachat SDK (sequential)':34s}{s['cpu']:7.2f}{sdk_1000 * 1000:20.0f} ms"
              f"{1:12.2f}x{'':13s}{'':14s}{s['wall']:8.1f}")
        if r.get("floor_median"):
            f = r["floor_median"]
            print(f"  {'protocol alone (minimal plugin)':34s}{f['cpu_plugin']:7.2f}"
                  f"{f['cpu_per_1000_vectors'] * 1000:20.0f} ms{f['cpu_per_1000_vectors'] / sdk_1000:12.2f}x"
                  f"{'':13s}{'':14s}{f['wall']:8.1f}")
            above = r["median_runs"]["after"]["cpu_per_1000_vectors"] - f["cpu_per_1000_vectors"]
            print(f"  after, above the protocol's cost: {above * 1000:.0f} ms per 1,000 vectors = "
                  f"{above / sdk_1000:.2f}x the bare SDK's")
    naive = r["naive"]
    if naive:
        print()
        how = (f"extrapolated from {naive['sample_batches']} of {naive['total_batches']} batches "
               f"({naive['sample_wall']:.1f} s)") if naive["extrapolated"] else "all batches"
        print("Naive loop (bare gigachat SDK, one request per Dify batch, sequential)")
        print(f"  wall time:                {naive['wall']:.1f} s ({how})")
        print(f"  chunks/s:                 {r['naive_chunks_per_s']:.0f}")
        print(f"  plugin speed-up:          {naive['wall'] / wall:.1f}x (naive / plugin)")
    p = r.get("personal")
    if p:
        print()
        print(f"Personal account (the plugin's default concurrency, the account's limit {p['account_limit']} in flight)")
        print(f"  wall time:                {p['wall']:.1f} s, {p['chunks_per_s']:.0f} chunks/s (ceiling "
              f"{p['ceiling_chunks_per_s']:.0f}), {p['rate_limited']} 429s, {len(p['failed'])} failed calls")
    comp = r["components"]
    if comp:
        print()
        print(f"Plugin CPU per step for {r['chunks']:,} chunks (single-threaded, separate process); tokens estimated "
              f"for {comp['estimated_share']:.0%} of the chunks ({comp['gigar_estimated_share']:.0%} for EmbeddingsGigaR)")
        for name, seconds in comp["steps"].items():
            print(f"  {name + ':':50s}{seconds:6.2f} s")
        print(f"  {'measured plugin CPU in the run:':50s}{plugin['cpu_plugin']:6.2f} s (the rest: HTTP, stdin, gevent)")
    if r.get("texts_per_call"):
        print()
        print("Most texts per call (one answer within the protocol line), before -> after; max_chunks (YAML)")
        for row in r["texts_per_call"]:
            print(f"  {row['model']:28s}{row['dimensions']:6,} values {row['before']:5d} -> {row['after']:5d}"
                  f"   max_chunks {row['max_chunks']}")
    if r.get("targets"):
        print()
        print("Issue 20's targets")
        for t in r["targets"]:
            print(f"  {t['target']:50s} wanted {t['wanted']:>14s}, measured {t['measured']:>14s}: "
                  f"{'met' if t['met'] else 'NOT met'}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.embeddings", description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=10_000, help="knowledge-base chunks to embed (10000)")
    ap.add_argument("--latency", type=float, default=0.15, help="emulator seconds per request (0.15)")
    ap.add_argument("--cap", type=int, default=4, help="emulator: requests in flight before 429 (4)")
    ap.add_argument("--retry-after", type=float, default=1.0, help="emulator Retry-After on 429, seconds (1)")
    ap.add_argument("--concurrency", type=int, default=None, help="plugin 'Parallel embedding requests' (default: --cap)")
    ap.add_argument("--model", default="Embeddings")
    ap.add_argument("--baseline", default=BASELINE_COMMIT, help=f"commit measured as 'before' ({BASELINE_COMMIT})")
    ap.add_argument("--no-variants", action="store_true", help="measure today's plugin only (no before, no bare SDK)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every code path, interleaved (1)")
    ap.add_argument("--naive-batches", type=int, default=40, help="batches timed for the naive loop, then extrapolated (0: all)")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--no-personal", action="store_true", help="skip the personal-account run")
    ap.add_argument("--no-components", action="store_true", help="skip the per-step CPU timings")
    ap.add_argument("--sample-plugin", action="store_true",
                    help="sample where the plugin's thread spends its time (a sitecustomize on its PYTHONPATH)")
    ap.add_argument("--live-emulator-json", action="store_true",
                    help="let the emulator encode every answer while timed (costs its CPU; see PreEncodedAnswers)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file (e.g. bench/results/x.json)")
    ap.add_argument("--_components", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_sdk", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_limits", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._components is not None:
        print(json.dumps(components(args._components, args.model, args.seed)))
        return
    if args._sdk is not None:
        _sdk_child(args._sdk)
        return
    if args._limits:
        print(json.dumps(texts_per_call()))
        return

    from emulator import Emulator

    t = time.perf_counter()
    chunks = make_chunks(args.chunks, args.seed)
    gen_seconds = time.perf_counter() - t
    sizes = [len(c) for c in chunks]
    print("Embeddings benchmark (GigaChat plugin via Dify's stdio protocol, emulator on loopback)")
    print(f"  machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
          f"{_dt.date.today().isoformat()}")
    print(f"  workload: {len(chunks):,} chunks, {min(sizes)}-{max(sizes)} chars (mean {sum(sizes) / len(sizes):.0f}), "
          f"~60% Russian / 40% English, model {args.model} (generated in {gen_seconds:.1f} s)")
    print(f"  emulator: {args.latency * 1000:.0f} ms per request, 429 above {args.cap} in flight (Retry-After {args.retry_after:g} s)")

    emu = Emulator()
    if not args.live_emulator_json:
        t = time.perf_counter()
        PreEncodedAnswers(args.model, chunks).install(emu)
        print(f"  emulator answers pre-encoded in {time.perf_counter() - t:.1f} s (--live-emulator-json: encode while timed)")
    emu.start()
    try:
        record = measure(emu, chunks, args.model, latency=args.latency, cap=args.cap, retry_after=args.retry_after,
                         concurrency=args.concurrency, baseline=args.baseline, variants=not args.no_variants,
                         rounds=args.rounds, naive_batches=None if args.no_naive else args.naive_batches,
                         personal=not args.no_personal, components_seed=None if args.no_components else args.seed,
                         sample_plugin=args.sample_plugin)
    finally:
        emu.stop()
    print_report(record)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
