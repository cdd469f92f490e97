"""Embeddings benchmark: index a knowledge base the way Dify does, through the plugin's stdio
protocol, against the GigaChat emulator with realistic latency and a concurrency cap.

    .venv/bin/python -m bench.embeddings                 # 10,000 chunks, 150 ms per request, cap 4
    .venv/bin/python -m bench.embeddings --cap 2 --latency 0.3 --chunks 2000

Figures, not assertions. What it does:

1. Starts the emulator in this process (`--latency` seconds per request; more than `--cap`
   requests in flight are answered 429 with Retry-After `--retry-after`). Its answers for the
   benchmark's texts are JSON-encoded before the clock starts (`PreEncodedAnswers`): encoding
   1,024 floats per text would otherwise cost this 2-core machine as much CPU as the plugin.
2. Starts the plugin as Dify's daemon does (`python -m main`, tests/support/daemon.py), with
   credentials whose `embedding_concurrency` is `--concurrency` (default: the cap).
3. Sends `--chunks` knowledge-base chunks (500-1,500 characters, Russian and English, generated
   deterministically) as Dify's indexing does (api/core/indexing_runner.py `_load`): the chunks
   are spread over 10 worker threads by the hash of their text; each thread embeds its share
   through `CacheEmbedding.embed_documents` (via `Vector.create`, 1,000 texts at a time), which
   calls `invoke_text_embedding` sequentially with `max_chunks` texts each (90 for the built-in
   models: the model YAML). So up to 10 invocations of 90 texts run at once.
4. Measures a naive client on the same emulator: the bare gigachat SDK sending each Dify batch
   as one request, one after the other (on the first `--naive-batches` batches, extrapolated).
5. Times the plugin's own CPU work per step in a separate process (`--no-components` skips it);
   `--sample-plugin` also shows where the plugin's one (gevent) thread spent the run.

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
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
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


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def credentials_for(emu, concurrency: int) -> dict:
    from emulator import DEFAULT_KEY

    return {
        "authorization_key": DEFAULT_KEY,
        "scope": "GIGACHAT_API_PERS",
        "base_url": emu.base_url,
        "auth_url": emu.auth_url,
        "verify_ssl": True,
        "timeout": "60",
        "embedding_concurrency": str(concurrency),
    }


def embedding_posts(emu) -> int:
    return emu.stats.requests.get("POST /embeddings", 0)


def restart_counting(emu, latency: float, cap: int | None, retry_after: float) -> None:
    """Counters and log from zero; `emu.reset()` also clears the faults, so they are set again."""
    emu.reset()
    emu.faults.latency = latency
    emu.faults.concurrency_cap = cap
    emu.faults.retry_after = retry_after


# --- the emulator's answers, pre-encoded ---------------------------------------------------------


def _encode_answer(item: tuple[str, str]) -> tuple[str, int]:
    from emulator.embeddings import EMBEDDING_TOKEN_OVERHEAD, vector
    from emulator.tokens import count_tokens

    model, text = item
    return json.dumps(vector(model, text)), count_tokens(text) + EMBEDDING_TOKEN_OVERHEAD


class PreEncodedAnswers:
    """The emulator's /embeddings answers for the benchmark's texts, JSON-encoded in advance.

    Deriving and JSON-encoding 90 x 1,024 floats costs the emulator ~0.1-0.2 s of CPU per request,
    on the same two cores as the plugin (real GigaChat does that on Sber's servers), and holding
    the GIL that long also stalls the emulator's other connections. Answers for known texts are
    assembled from fragments encoded before the clock starts: the same JSON the emulator sends
    (checked at install). Anything else (unknown texts, over-long ones, other models) goes to the
    emulator's own endpoint. Latency, the concurrency cap, 429s and auth run as usual (they are
    handled before the endpoint)."""

    def __init__(self, model: str, texts: list[str]) -> None:
        from emulator import catalog
        from emulator.embeddings import MAX_BATCH
        from emulator.tokens import count_tokens

        import multiprocessing

        limit = catalog.EMBEDDING_TOKEN_LIMITS[model]
        texts = [t for t in dict.fromkeys(texts) if t.strip() and count_tokens(t) <= limit]
        ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with ctx.Pool(os.cpu_count() or 1) as pool:
            encoded = pool.map(_encode_answer, [(model, t) for t in texts], chunksize=256)
        self.model, self.max_batch = model, MAX_BATCH
        self.fragments = dict(zip(texts, encoded))

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

        from emulator.api import Response

        api = emu._api
        original = api._ep_embeddings

        def endpoint(req, *, scope):
            try:
                body = json.loads(req.body)
            except ValueError:
                body = None
            raw = self._answer(body) if isinstance(body, dict) else None
            return Response(200, raw) if raw is not None else original(req, scope=scope)

        sample = {"model": self.model, "input": list(self.fragments)[:3]}
        req = SimpleNamespace(body=json.dumps(sample).encode())
        if json.loads(endpoint(req, scope=None).body) != json.loads(original(req, scope=None).body):
            raise SystemExit("pre-encoded answers differ from the emulator's own: not installed")
        api._ep_embeddings = endpoint  # this emulator instance only (the server looks it up per request)


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
    ("decoder.py", "", "SDK: JSON decode of GigaChat's answer"),
    ("main.py", "model_dump", "Dify protocol: encode the result"),
    ("pydantic", "", "pydantic models (SDK answer, Dify result)"),
    ("_socketcommon.py", "", "HTTP client (sockets, h11, httpcore)"),
    ("httpcore", "", "HTTP client (sockets, h11, httpcore)"),
    ("h11", "", "HTTP client (sockets, h11, httpcore)"),
    ("request_reader.py", "", "reading requests from stdin"),
    ("embedding.py", "", "engine (plan, pack, check, normalise)"),
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


def run_plugin(emu, chunks: list[str], schedule, model: str, concurrency: int, faults: tuple,
               sample_dir: Path | None = None) -> dict:
    from emulator.embeddings import vector as emulator_vector
    from tests.support.daemon import PluginProcess

    creds = credentials_for(emu, concurrency)
    plugin = PluginProcess(env=sampler_env(sample_dir) if sample_dir else None).start()
    try:
        warm = plugin.invoke_embedding(model, creds, ["warm-up"], timeout=60)  # OAuth token, connection
        if not warm.ok:
            raise SystemExit(f"warm-up failed: {warm.error}")
        restart_counting(emu, *faults)
        lock = threading.Lock()
        outcome = {"vectors": 0, "wrong": 0, "failed": [], "dims": set(), "invocations": 0}

        def dify_thread(calls: list[list[int]]) -> None:
            for indices in calls:
                result = plugin.invoke_embedding(model, creds, [chunks[i] for i in indices], timeout=300)
                plugin.stdout_lines.clear()  # the driver keeps every line; these are ~2 MB each
                if not result.ok:
                    with lock:
                        outcome["invocations"] += 1
                        outcome["failed"].append(result.error_message[:200])
                    continue
                vectors = result.chunks[0]["embeddings"]
                # spot check (every vector would cost this process ~1 ms each): the first and the
                # last vector of the call belong to their texts, so nothing was shifted or lost
                wrong = len(vectors) != len(indices) or any(
                    max(abs(a - b) for a, b in zip(vectors[k], emulator_vector(model, chunks[indices[k]]))) > 1e-9
                    for k in (0, len(indices) - 1)
                )
                with lock:
                    outcome["invocations"] += 1
                    outcome["vectors"] += len(vectors)
                    outcome["dims"].update(len(v) for v in vectors)
                    outcome["wrong"] += int(wrong)

        samples = sample_dir / "samples.json" if sample_dir else None
        if samples:
            time.sleep(0.6)  # the counts so far (start-up, warm-up) are taken off at the end
            before = json.loads(samples.read_text()) if samples.exists() else {}
        cpu_plugin0 = proc_cpu_seconds(plugin.proc.pid)
        cpu_self0 = time.process_time()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=DIFY_INDEXING_WORKERS) as pool:
            list(pool.map(dify_thread, schedule))
        wall = time.perf_counter() - started
        outcome.update(
            wall=wall,
            cpu_plugin=proc_cpu_seconds(plugin.proc.pid) - cpu_plugin0,
            cpu_bench=time.process_time() - cpu_self0,
            requests=embedding_posts(emu),
            rate_limited=emu.stats.rate_limited,
            max_concurrency=emu.stats.max_concurrency,
            statuses=dict(emu.stats.status_counts),
            oauth_calls=emu.stats.oauth_calls,
        )
        if samples:
            time.sleep(0.6)
            after = json.loads(samples.read_text()) if samples.exists() else {}
            outcome["samples"] = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
        return outcome
    finally:
        plugin.stop()


# --- the naive client ----------------------------------------------------------------------------


def run_naive(emu, chunks: list[str], schedule, model: str, sample_batches: int, faults: tuple) -> dict:
    """The bare SDK, each Dify batch as one request, strictly one after another."""
    from gigachat import GigaChat

    from emulator import DEFAULT_KEY

    batches = [b for calls in schedule for b in calls]
    sample = batches if sample_batches <= 0 else batches[:sample_batches]
    restart_counting(emu, *faults)
    with GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=DEFAULT_KEY,
                  scope="GIGACHAT_API_PERS", verify_ssl_certs=False, timeout=60, max_retries=0) as sdk:
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


def components(chunks_n: int, model: str, seed: int) -> dict:
    """CPU seconds of each step the plugin performs for `chunks_n` chunks, single-threaded, outside
    the protocol: best of 3 on a sample (10 requests' worth; 2,000 chunks for planning), scaled."""
    from dify_plugin.core.server.__base.writer_entities import Event, StreamOutputMessage  # gevent-patches, as in the plugin
    from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult
    from gigachat.models.embeddings import Embeddings

    from emulator.embeddings import embeddings as emulator_answer
    from gigachat_dify.embeddings.engine import l2_normalize, parse_response, plan_batches, resolve_config
    from gigachat_dify.tokens import estimate_tokens

    chunks = make_chunks(chunks_n, seed)
    config = resolve_config(model, {}, 4)
    out: dict[str, float] = {}

    batches = plan_batches(chunks, config.limit_tokens, config.max_per_request)
    sample = [[p.text for p in b.pieces] for b in batches[:10]]
    raws = [json.dumps(emulator_answer({"model": model, "input": texts}), ensure_ascii=False).encode() for texts in sample]

    def best(step, scale: float) -> float:
        times = []
        for _ in range(3):
            t = time.process_time()
            step()
            times.append(time.process_time() - t)
        return min(times) * scale

    few = chunks[:2000]
    out["plan: split + pack"] = best(lambda: plan_batches(few, config.limit_tokens, config.max_per_request), len(chunks) / len(few))
    out["  token estimates alone (in the plan)"] = best(lambda: [estimate_tokens(c) for c in few], len(chunks) / len(few))
    scale = len(batches) / len(sample)

    # What the plugin does now (gigachat_dify/embeddings_http.py): orjson, and a plain dict for a
    # well-formed answer; the SDK's stdlib json + pydantic path is timed for comparison.
    from gigachat_dify.embeddings.http import _loads

    decoded = [json.loads(raw) for raw in raws]
    out["plugin: orjson decode of the answer"] = best(lambda: [_loads(raw) for raw in raws], scale)
    out["  (SDK path it replaced: stdlib json)"] = best(lambda: [json.loads(raw) for raw in raws], scale)
    out["  (SDK path it replaced: pydantic model)"] = best(lambda: [Embeddings(**d) for d in decoded], scale)
    answers = decoded

    def engine() -> list:
        done = []
        for answer, texts in zip(answers, sample):
            vectors, _ = parse_response(answer, len(texts))
            done.append([l2_normalize(v) for v in vectors])
        return done

    results = engine()
    out["engine: check + normalise"] = best(engine, scale)
    usage = EmbeddingUsage(tokens=1, total_tokens=1, unit_price=0, price_unit=0, total_price=0, currency="RUB", latency=0.0)

    def protocol() -> None:
        for vectors in results:
            result = TextEmbeddingResult(model=model, embeddings=vectors, usage=usage)
            message = StreamOutputMessage(event=Event.SESSION, session_id="s", data={"type": "stream", "data": result.model_dump()})
            (message.model_dump_json() + "\n\n").encode()

    out["Dify protocol: result -> JSON line"] = best(protocol, scale)
    out["sum"] = sum(v for k, v in out.items() if not k.startswith(" "))
    return out


def run_components(chunks_n: int, model: str, seed: int) -> dict | None:
    cmd = [sys.executable, "-m", "bench.embeddings", "--_components", str(chunks_n), "--model", model, "--seed", str(seed)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"(component timings failed: {proc.stderr.strip()[-300:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.embeddings", description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=10_000, help="knowledge-base chunks to embed (10000)")
    ap.add_argument("--latency", type=float, default=0.15, help="emulator seconds per request (0.15)")
    ap.add_argument("--cap", type=int, default=4, help="emulator: requests in flight before 429 (4)")
    ap.add_argument("--retry-after", type=float, default=1.0, help="emulator Retry-After on 429, seconds (1)")
    ap.add_argument("--concurrency", type=int, default=None, help="plugin 'Parallel embedding requests' (default: --cap)")
    ap.add_argument("--model", default="Embeddings")
    ap.add_argument("--naive-batches", type=int, default=40, help="batches timed for the naive loop, then extrapolated (0: all)")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--no-components", action="store_true", help="skip the per-step CPU timings")
    ap.add_argument("--sample-plugin", action="store_true",
                    help="sample where the plugin's thread spends its time (a sitecustomize on its PYTHONPATH)")
    ap.add_argument("--live-emulator-json", action="store_true",
                    help="let the emulator derive and encode every answer while timed (costs its CPU; see PreEncodedAnswers)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file (e.g. bench/results/x.json)")
    ap.add_argument("--_components", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._components is not None:
        print(json.dumps(components(args._components, args.model, args.seed)))
        return

    sys.path.insert(0, str(ROOT))
    from emulator import Emulator

    concurrency = args.concurrency or args.cap
    max_chunks = model_max_chunks(args.model)
    t = time.perf_counter()
    chunks = make_chunks(args.chunks, args.seed)
    gen_seconds = time.perf_counter() - t
    schedule = dify_schedule(chunks, max_chunks)
    invocations = sum(len(calls) for calls in schedule)
    sizes = [len(c) for c in chunks]

    print("Embeddings benchmark (GigaChat plugin via Dify's stdio protocol, emulator on loopback)")
    print(f"  machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
          f"{_dt.date.today().isoformat()}")
    print(f"  workload: {len(chunks):,} chunks, {min(sizes)}-{max(sizes)} chars (mean {sum(sizes) / len(sizes):.0f}), "
          f"~60% Russian / 40% English, model {args.model} (generated in {gen_seconds:.1f} s)")
    print(f"  emulator: {args.latency * 1000:.0f} ms per request, 429 above {args.cap} in flight (Retry-After {args.retry_after:g} s)")
    print(f"  Dify: {DIFY_INDEXING_WORKERS} indexing threads, invoke_text_embedding with max_chunks={max_chunks} texts "
          f"-> {invocations} invocations; plugin embedding_concurrency={concurrency}")

    emu = Emulator()
    if not args.live_emulator_json:
        t = time.perf_counter()
        PreEncodedAnswers(args.model, chunks).install(emu)
        print(f"  emulator answers pre-encoded in {time.perf_counter() - t:.1f} s (--live-emulator-json: encode while timed)")
    emu.start()
    try:
        faults = (args.latency, args.cap, args.retry_after)
        restart_counting(emu, *faults)
        with tempfile.TemporaryDirectory(prefix="bench-embeddings-") as tmp:
            sample_dir = Path(tmp) if args.sample_plugin else None
            plugin = run_plugin(emu, chunks, schedule, args.model, concurrency, faults, sample_dir)
        naive = None if args.no_naive else run_naive(emu, chunks, schedule, args.model, args.naive_batches, faults)
    finally:
        emu.stop()

    per_request = max_chunks  # the plugin's texts per request (MAX_TEXTS_PER_REQUEST, also max_chunks)
    needed = math.ceil(len(chunks) / per_request)
    ideal = needed * args.latency / args.cap
    wall = plugin["wall"]
    print()
    print("Plugin (as Dify indexes a knowledge base)")
    print(f"  wall time:                {wall:.1f} s")
    print(f"  chunks/s:                 {len(chunks) / wall:.0f}")
    print(f"  vectors returned:         {plugin['vectors']:,} of {len(chunks):,} (dims {sorted(plugin['dims'])}), "
          f"calls out of order: {plugin['wrong']}, failed calls: {len(plugin['failed'])}")
    print(f"  requests sent:            {plugin['requests']} (minimum {needed} at {per_request} texts per request; "
          f"Dify's {invocations} invocations)")
    print(f"  429s seen:                {plugin['rate_limited']}")
    print(f"  max concurrency seen:     {plugin['max_concurrency']} (cap {args.cap})")
    print(f"  ideal time:               {ideal:.1f} s = {needed} requests x {args.latency:g} s / {args.cap}")
    print(f"  ratio to ideal:           {ideal / wall:.2f} (ideal / actual)")
    print(f"  CPU: plugin process       {plugin['cpu_plugin']:.1f} s ({plugin['cpu_plugin'] / wall:.0%} of one core)")
    print(f"  CPU: bench process        {plugin['cpu_bench']:.1f} s (emulator + Dify stand-in, {plugin['cpu_bench'] / wall:.0%} of one core)")
    if plugin["failed"]:
        print(f"  first failure:            {plugin['failed'][0]}")
    if plugin.get("samples"):
        total = sum(plugin["samples"].values())
        print(f"  where the plugin's thread spent the run ({total} samples, every 5 ms):")
        for label, n in sorted(plugin["samples"].items(), key=lambda kv: -kv[1])[:9]:
            print(f"    {n / total:5.0%}  {label}")
    if naive:
        print()
        how = (f"extrapolated from {naive['sample_batches']} of {naive['total_batches']} batches "
               f"({naive['sample_wall']:.1f} s)") if naive["extrapolated"] else "all batches"
        print("Naive loop (bare gigachat SDK, one request per Dify batch, sequential)")
        print(f"  wall time:                {naive['wall']:.1f} s ({how})")
        print(f"  chunks/s:                 {len(chunks) / naive['wall']:.0f}")
        print(f"  plugin speed-up:          {naive['wall'] / wall:.1f}x (naive / plugin)")
    comp = None
    if not args.no_components:
        comp = run_components(len(chunks), args.model, args.seed)
        if comp:
            print()
            print(f"Plugin CPU per step for {len(chunks):,} chunks (single-threaded, separate process)")
            for name, seconds in comp.items():
                print(f"  {name + ':':40s}{seconds:6.2f} s")
            print(f"  {'measured plugin CPU in the run:':40s}{plugin['cpu_plugin']:6.2f} s (the rest: HTTP, stdin, gevent)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if not k.startswith("_")},
            "plugin": {k: (sorted(v) if isinstance(v, set) else v) for k, v in plugin.items()},
            "naive": naive, "components": comp, "ideal": ideal, "needed_requests": needed,
        }
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
