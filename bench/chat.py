"""(a) blocking chat latency and (b) streaming, plugin vs the bare `gigachat` SDK sending the very
same request body; (c) OAuth calls per 1,000 invocations vs a new SDK client per invocation.

On its own it runs (a) and (b), optionally with the plugin at another commit interleaved
(`--baseline main`), or profiles the plugin process serving those requests (`--profile`: cProfile
inside the plugin, started and stopped around the measured requests only):

    .venv/bin/python -m bench.chat [--rounds 40] [--baseline REF] [--profile /tmp/chat.prof]
"""

from __future__ import annotations

import argparse
import contextlib
import pstats
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import ROOT, archive_plugin, check, median, out, p90
from emulator import B2B_KEY, Emulator
from tests.support.daemon import PluginProcess, system, user

MODEL = "GigaChat-2"
# A business account (10 requests in flight): the account's limit never throttles a comparison.
KEY, SCOPE = B2B_KEY, "GIGACHAT_API_B2B"

# The same conversation for both sides. The emulator answers "Echo: <last user message>", ~4
# tokens per stream chunk: the blocking answer is short, the streamed one ~60 chunks.
BLOCKING_MESSAGES = [system("You are a concise assistant."),
                     user("Сколько планет в Солнечной системе? Ответь одним предложением.")]
STREAM_MESSAGES = [system("You are a helpful assistant."),
                   user("Расскажи подробно, как работает индексация базы знаний: "
                        + "разбиение документа на фрагменты, векторы, поиск ближайших соседей, ранжирование. " * 12)]
# For the relay ceiling: ten times as long (~600 chunks), so the rate is not one burst's.
RELAY_MESSAGES = [system("You are a helpful assistant."),
                  user("Перечисли шаги индексации ещё раз, подробно. " + STREAM_MESSAGES[1]["content"] * 10)]


def credentials(emu: Emulator, timeout: str = "30") -> dict:
    """The provider form. Any difference (here: the timeout) is a different fingerprint, so a new
    client and a new OAuth token in the plugin."""
    return {"authorization_key": KEY, "scope": SCOPE, "base_url": emu.base_url,
            "auth_url": emu.auth_url, "verify_ssl": True, "timeout": timeout}


def sdk_client(emu: Emulator):
    from gigachat import GigaChat

    return GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=KEY, scope=SCOPE)


# --- (a) + (b) -------------------------------------------------------------------------------


def plugin_blocking(plugin: PluginProcess, creds: dict) -> float:
    t0 = time.perf_counter()
    result = plugin.invoke_llm(MODEL, creds, BLOCKING_MESSAGES, stream=False, timeout=60)
    elapsed = time.perf_counter() - t0
    check(result, "plugin blocking chat")
    return elapsed


def sdk_blocking(client, payload: dict) -> float:
    with same_session(payload) as body:
        t0 = time.perf_counter()
        response = client.chat(body)
        elapsed = time.perf_counter() - t0
    if not response.choices[0].message.content:
        raise SystemExit("SDK blocking chat returned no content")
    return elapsed


def _stream_figures(t0: float, stamps: list[float]) -> dict:
    first, last = stamps[0], stamps[-1]
    return {"ttfc": first - t0, "total": last - t0, "chunks": len(stamps),
            "chunks_per_s": (len(stamps) - 1) / (last - first) if last > first else float("nan")}


def plugin_stream(plugin: PluginProcess, creds: dict, messages: list[dict] = STREAM_MESSAGES) -> dict:
    stamps: list[float] = []
    t0 = time.perf_counter()
    result = plugin.invoke_llm(MODEL, creds, messages, stream=True, timeout=60,
                               on_chunk=lambda _c: stamps.append(time.perf_counter()))
    check(result, "plugin streaming chat")
    return _stream_figures(t0, stamps)


def sdk_stream(client, payload: dict) -> dict:
    stamps: list[float] = []
    with same_session(payload) as body:
        t0 = time.perf_counter()
        for _chunk in client.stream(body):
            stamps.append(time.perf_counter())
    return _stream_figures(t0, stamps)


def sdk_in_plugin(plugin: PluginProcess, emu: Emulator, payload: dict, stream: bool):
    """The bare SDK sending `payload` from inside a minimal dify_plugin plugin (bench/startup.py),
    its answer relayed as plain chunks: the least any plugin that calls GigaChat can cost, the
    protocol, dify_plugin's request handling and the SDK in its gevent-patched process included."""
    import json

    creds = {"api_key": "bench-key", "base_url": emu.base_url, "auth_url": emu.auth_url, "key": KEY,
             "scope": SCOPE, "payload": json.dumps(payload, ensure_ascii=False)}
    stamps: list[float] = []
    t0 = time.perf_counter()
    result = plugin.request(
        {"user_id": "u1", "type": "model", "action": "invoke_llm", "provider": "minimal", "model_type": "llm",
         "model": "echo", "credentials": creds, "model_parameters": {}, "prompt_messages": BLOCKING_MESSAGES,
         "tools": None, "stop": None, "json_schema": None, "stream": stream},
        timeout=60, on_chunk=lambda _c: stamps.append(time.perf_counter()))
    elapsed = time.perf_counter() - t0
    check(result, "the bare SDK inside a minimal plugin")
    return _stream_figures(t0, stamps) if stream else elapsed


def captured_payload(emu: Emulator, plugin: PluginProcess, creds: dict, messages: list[dict], stream: bool) -> dict:
    """The body the plugin sends for `messages`: the SDK side sends exactly this."""
    emu.clear_log()
    check(plugin.invoke_llm(MODEL, creds, messages, stream=stream, timeout=60), "capture")
    sent = [e for e in emu.log if e.path.endswith("/chat/completions")][-1]
    body = dict(sent.json)
    body.pop("stream", None)  # client.stream() sets it
    # The prompt-cache header too: the emulator does work for a session, so every side sends it
    session = {k.lower(): v for k, v in dict(sent.headers).items()}.get("x-session-id")
    if session:
        body[SESSION_KEY] = session
    return body


#: Where a captured body keeps the X-Session-ID the plugin sent (taken out before sending).
SESSION_KEY = "__x_session_id"


@contextlib.contextmanager
def same_session(payload: dict):
    """The body without the captured session id, sent with it as X-Session-ID, as the plugin sent it."""
    from gigachat.context import session_id_cvar

    body = {k: v for k, v in payload.items() if k != SESSION_KEY}
    token = session_id_cvar.set(payload[SESSION_KEY]) if SESSION_KEY in payload else None
    try:
        yield body
    finally:
        if token is not None:
            session_id_cvar.reset(token)


def measure_chat(emu: Emulator, plugin: PluginProcess, creds: dict, rounds: int, warmup: int,
                 others: dict[str, PluginProcess] | None = None, extra: dict | None = None,
                 minimal: PluginProcess | None = None) -> dict:
    """`others`: more plugin processes (another commit's) measured in the same rounds, as
    "<name>_blocking" and "<name>_stream"; `extra`: {"<name>_blocking": a step timing itself};
    `minimal`: a minimal plugin (bench/startup.py) measured as "minimal_blocking" (its echo: the
    protocol alone) and "floor_blocking" / "floor_stream" (the bare SDK inside it)."""
    blocking_payload = captured_payload(emu, plugin, creds, BLOCKING_MESSAGES, stream=False)
    stream_payload = captured_payload(emu, plugin, creds, STREAM_MESSAGES, stream=True)
    client = sdk_client(emu)
    steps = {
        "plugin_blocking": lambda: plugin_blocking(plugin, creds),
        "sdk_blocking": lambda: sdk_blocking(client, blocking_payload),
        "plugin_stream": lambda: plugin_stream(plugin, creds),
        "sdk_stream": lambda: sdk_stream(client, stream_payload),
    }
    if minimal is not None:
        from bench.startup import minimal_invoke  # it imports this module

        steps["minimal_blocking"] = lambda: timed(minimal_invoke, minimal, False)
        steps["floor_blocking"] = lambda: sdk_in_plugin(minimal, emu, blocking_payload, stream=False)
        steps["floor_stream"] = lambda: sdk_in_plugin(minimal, emu, stream_payload, stream=True)
    for name, other in (others or {}).items():
        steps[f"{name}_blocking"] = lambda p=other: plugin_blocking(p, creds)
        steps[f"{name}_stream"] = lambda p=other: plugin_stream(p, creds)
    steps.update(extra or {})
    data = {k: [] for k in steps}
    blocking = [k for k in steps if k.endswith("_blocking")]
    streams = [k for k in steps if k.endswith("_stream")]
    for r in range(warmup + rounds):
        # each side leads in turn: none always follows another
        order = blocking[r % len(blocking):] + blocking[:r % len(blocking)] + \
            streams[r % len(streams):] + streams[:r % len(streams)]
        for name in order:
            value = steps[name]()
            if r >= warmup:
                data[name].append(value)
        if r >= warmup and (r - warmup + 1) % 10 == 0:
            out(f"  chat rounds: {r - warmup + 1}/{rounds}")
    client.close()
    return data


def summarise_chat(chat: dict) -> dict:
    pb, sb = [x * 1000 for x in chat["plugin_blocking"]], [x * 1000 for x in chat["sdk_blocking"]]
    ps, ss = chat["plugin_stream"], chat["sdk_stream"]

    def col(rows, key, scale=1.0):
        return [r[key] * scale for r in rows]

    def both(plugin_values, sdk_values):
        return {"plugin": {"median": median(plugin_values), "p90": p90(plugin_values)},
                "sdk": {"median": median(sdk_values), "p90": p90(sdk_values)}}

    pairs = [a - b for a, b in zip(pb, sb)]
    ttfc_pairs = [(a["ttfc"] - b["ttfc"]) * 1000 for a, b in zip(ps, ss)]
    return {
        "rounds": len(pb),
        "blocking_ms": both(pb, sb),
        "paired_overhead_ms": median(pairs),
        "paired_overhead_range_ms": [min(pairs), max(pairs)] if pairs else [],
        "ttfc_ms": both(col(ps, "ttfc", 1000), col(ss, "ttfc", 1000)),
        "paired_ttfc_overhead_ms": median(ttfc_pairs),
        "stream_total_ms": both(col(ps, "total", 1000), col(ss, "total", 1000)),
        "chunks_per_s": both(col(ps, "chunks_per_s"), col(ss, "chunks_per_s")),
        "chunks": {"plugin": median(col(ps, "chunks")), "sdk": median(col(ss, "chunks"))},
        # a minimal dify_plugin plugin's blocking echo in the same rounds: what the protocol alone costs
        "protocol_floor_ms": median([x * 1000 for x in chat["minimal_blocking"]]) if chat.get("minimal_blocking") else None,
        # the bare SDK inside that minimal plugin: the least a plugin that calls GigaChat can measure
        "floor": {"blocking_ms": median([x * 1000 for x in chat["floor_blocking"]]),
                  "ttfc_ms": median(col(chat["floor_stream"], "ttfc", 1000))} if chat.get("floor_blocking") else None,
    }


def measure_relay_ceiling(emu: Emulator, plugin: PluginProcess, creds: dict, rounds: int) -> dict:
    """(b) without the emulator's pause between chunks: how many chunks/s the plugin itself relays,
    next to the SDK reading the same stream (interleaved)."""
    saved = emu.faults.chunk_latency
    emu.faults.chunk_latency = 0.0
    try:
        payload = captured_payload(emu, plugin, creds, RELAY_MESSAGES, stream=True)
        client = sdk_client(emu)
        plugin_runs, sdk_runs = [], []
        for r in range(rounds):
            sides = [("plugin", lambda: plugin_stream(plugin, creds, RELAY_MESSAGES)),
                     ("sdk", lambda: sdk_stream(client, payload))]
            for name, step in sides if r % 2 == 0 else sides[::-1]:
                (plugin_runs if name == "plugin" else sdk_runs).append(step())
        client.close()
    finally:
        emu.faults.chunk_latency = saved
    plugin_total = median([x["total"] * 1000 for x in plugin_runs])
    sdk_total = median([x["total"] * 1000 for x in sdk_runs])
    chunks = median([x["chunks"] for x in plugin_runs])
    return {"rounds": rounds, "chunks": chunks,
            "plugin_chunks_per_s": median([x["chunks_per_s"] for x in plugin_runs]),
            "sdk_chunks_per_s": median([x["chunks_per_s"] for x in sdk_runs]),
            "plugin_total_ms": plugin_total, "sdk_total_ms": sdk_total,
            # what the whole stream costs more through the plugin, per chunk
            "extra_ms_per_chunk": (plugin_total - sdk_total) / chunks if chunks else float("nan")}


# --- (c) -------------------------------------------------------------------------------------


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
    # model instance gets, since Dify builds a new instance for every request). One after another,
    # it meets the OAuth endpoint's limit (10 tokens/s): those invocations fail, and are counted.
    from gigachat import GigaChat
    from gigachat.exceptions import RateLimitError

    before, naive_refused = emu.stats.oauth_calls, 0
    for i in range(naive_sample):
        with GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=KEY, scope=SCOPE) as c:
            try:
                c.chat({"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}]})
            except RateLimitError:
                naive_refused += 1
    naive_oauth = emu.stats.oauth_calls - before
    emu.faults.latency, emu.faults.chunk_latency = saved
    return {
        "invocations": invocations, "kinds": kinds, "failures": failures, "wall": wall,
        "plugin_oauth_calls": plugin_oauth, "plugin_api_requests": api_requests,
        "plugin_per_1000": plugin_oauth * 1000 / invocations if invocations else float("nan"),
        "naive_sample": naive_sample, "naive_oauth_calls": naive_oauth, "naive_refused": naive_refused,
        "naive_per_1000": naive_oauth * 1000 / naive_sample if naive_sample else float("nan"),
    }


# --- on its own ---------------------------------------------------------------------------------

#: Loaded in the plugin process through PYTHONPATH: cProfile on at SIGUSR1, off at SIGUSR2 with the
#: stats written to BENCH_PROFILE. Signals, not a thread: a thread running while gevent patches the
#: import machinery at start breaks the import locks.
PROFILER = """\
import cProfile, os, signal

_profile = None

def _on(*_):
    global _profile
    _profile = cProfile.Profile()
    _profile.enable()

def _off(*_):
    _profile.disable()
    _profile.dump_stats(os.environ["BENCH_PROFILE"])

if os.environ.get("BENCH_PROFILE"):
    signal.signal(signal.SIGUSR1, _on)
    signal.signal(signal.SIGUSR2, _off)
"""


def profile_requests(emu: Emulator, creds: dict, requests: int, path: Path, directory: Path = ROOT,
                     kinds: tuple[str, ...] = ("blocking", "stream")) -> pstats.Stats:
    """cProfile inside a plugin process while it serves `requests` chats of each of `kinds` (after
    20 unprofiled ones); stats saved to `path`."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as site:
        Path(site, "sitecustomize.py").write_text(PROFILER)
        env = {"PYTHONPATH": site, "BENCH_PROFILE": str(path)}
        with PluginProcess(env=env, plugin_dir=directory) as plugin:
            for i in range(20):
                plugin_blocking(plugin, creds) if i % 2 else plugin_stream(plugin, creds)
            path.unlink(missing_ok=True)
            plugin.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            for _ in range(requests):
                if "blocking" in kinds:
                    plugin_blocking(plugin, creds)
                if "stream" in kinds:
                    plugin_stream(plugin, creds)
            plugin.proc.send_signal(signal.SIGUSR2)
            size = -1
            for _ in range(200):  # written when the size stops changing (dump_stats is not atomic)
                time.sleep(0.05)
                if path.exists() and path.stat().st_size == size and size > 0:
                    break
                size = path.stat().st_size if path.exists() else -1
    return pstats.Stats(str(path))


def timed(step, *args) -> float:
    t0 = time.perf_counter()
    step(*args)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    from bench.startup import write_minimal_plugin  # it imports this module

    ap = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40, help="measured rounds, each a blocking and a streamed chat (40)")
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured rounds first (5)")
    ap.add_argument("--latency", type=float, default=0.05, help="emulator seconds per chat response (0.05)")
    ap.add_argument("--chunk-latency", type=float, default=0.01, help="emulator seconds between stream chunks (0.01)")
    ap.add_argument("--baseline", help="also measure the plugin at this commit (e.g. main), interleaved")
    ap.add_argument("--profile", type=Path, help="instead: cProfile the plugin process, stats to this file")
    ap.add_argument("--profile-requests", type=int, default=200, help="chats of each kind profiled (200)")
    ap.add_argument("--profile-kinds", default="blocking,stream", help="which chats to profile (blocking,stream)")
    args = ap.parse_args(argv)
    with Emulator() as emu, tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        creds = credentials(emu)
        if args.profile:
            emu.faults.latency = emu.faults.chunk_latency = 0.0  # only the plugin's own work
            stats = profile_requests(emu, creds, args.profile_requests, args.profile,
                                     kinds=tuple(args.profile_kinds.split(",")))
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(60)
            return
        emu.faults.latency, emu.faults.chunk_latency = args.latency, args.chunk_latency
        others = {}
        if args.baseline:
            others[f"at {args.baseline}"] = PluginProcess(plugin_dir=archive_plugin(args.baseline, Path(tmp) / "base"))
        minimal = PluginProcess(plugin_dir=write_minimal_plugin(Path(tmp) / "minimal"))
        with PluginProcess() as plugin, minimal:  # entering starts it
            try:
                for other in others.values():
                    other.start(timeout=120)
                data = measure_chat(emu, plugin, creds, args.rounds, args.warmup, others, minimal=minimal)
            finally:
                for other in others.values():
                    other.stop()
    sides = {"this checkout": "plugin", **{name: name for name in others}, "SDK in minimal plugin": "floor",
             "bare SDK": "sdk"}
    sdk_blocking_ms = median(data["sdk_blocking"]) * 1000
    sdk_ttfc_ms = median([x["ttfc"] for x in data["sdk_stream"]]) * 1000
    out(f"{args.rounds} rounds after {args.warmup}, emulator {args.latency * 1000:.0f} ms per answer,"
        f" {args.chunk_latency * 1000:.0f} ms between chunks; medians:")
    out(f"{'':<18} {'blocking':>10} {'vs SDK':>7} {'paired overhead':>16} {'first chunk':>12} {'vs SDK':>7}"
        f" {'paired overhead':>16}")
    for label, key in sides.items():
        blocking = [x * 1000 for x in data[f"{key}_blocking"]]
        ttfc = [x["ttfc"] * 1000 for x in data[f"{key}_stream"]]
        paired = median([a - b * 1000 for a, b in zip(blocking, data["sdk_blocking"])])
        paired_ttfc = median([a - b["ttfc"] * 1000 for a, b in zip(ttfc, data["sdk_stream"])])
        out(f"{label:<18} {median(blocking):>7.1f} ms {median(blocking) / sdk_blocking_ms:>6.3f}x {paired:>+13.1f} ms"
            f" {median(ttfc):>9.1f} ms {median(ttfc) / sdk_ttfc_ms:>6.3f}x {paired_ttfc:>+13.1f} ms")
    out(f"The protocol's own share: a minimal plugin (bench/startup.py) answers a blocking echo, no call"
        f" to GigaChat, in {median(data['minimal_blocking']) * 1000:.1f} ms (median, in the same rounds).")


if __name__ == "__main__":
    main()
