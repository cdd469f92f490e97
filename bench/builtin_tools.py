"""(f) GigaChat's built-in tools on the v2 contract, per request through the plugin: web search,
image generation and the code interpreter vs a plain v1 chat of the same model.

The emulator answers at once (no latency, no pause between chunks): what is timed is the work of
the plugin (and of the emulator on loopback) per request, not GigaChat's. The kinds interleave,
in an order that rotates every round; each answer is checked before it counts."""

from __future__ import annotations

import time

from bench.chat import credentials
from bench.common import median, p90
from emulator import Emulator
from tests.support.daemon import PluginProcess, user

MODEL = "GigaChat-3-Ultra"
WARMUP = 2  # unmeasured rounds first


def _text(result) -> str:
    parts = []
    for chunk in result.chunks:
        content = chunk["delta"]["message"]["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [item["data"] for item in content if item.get("type") == "text"]
    return "".join(parts)


def _images(result) -> int:
    return sum(1 for chunk in result.chunks if isinstance(chunk["delta"]["message"]["content"], list)
               for item in chunk["delta"]["message"]["content"] if item.get("type") == "image")


# name -> (question, model parameters, check of the answer, what the check means)
KINDS = {
    "plain v1 chat": ("Сколько планет в Солнечной системе?", {}, lambda r: _text(r).startswith("Echo: "),
                      "the echo answer"),
    "web search": ("What is the latest news about Python?", {"web_search": "auto"},
                   lambda r: "Sources:\n" in _text(r), "a source list"),
    "image generation": ("Draw a square icon for a Python SDK release", {"image_generation": True},
                         lambda r: _images(r) == 1, "one image item"),
    "code interpreter": ("Calculate the sum of the first 20 prime numbers. Use code.", {"code_interpreter": True},
                         lambda r: "Output:" in _text(r) and "639" in _text(r), "the code's output"),
}


def measure_builtin_tools(emu: Emulator, plugin: PluginProcess, rounds: int, warmup: int = WARMUP) -> dict:
    saved = (emu.faults.latency, emu.faults.chunk_latency)
    emu.faults.latency = emu.faults.chunk_latency = 0.0
    creds = credentials(emu, timeout="28")
    names = list(KINDS)
    times = {(name, stream): [] for name in names for stream in (False, True)}
    requests = {key: [] for key in times}
    longest = {key: 0 for key in times}
    try:
        for r in range(warmup + rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                question, params, ok, meaning = KINDS[name]
                for stream in ((False, True) if r % 2 == 0 else (True, False)):
                    lines_before = len(plugin.stdout_lines)
                    before = sum(emu.stats.requests.values()) - emu.stats.oauth_calls
                    t0 = time.perf_counter()
                    result = plugin.invoke_llm(MODEL, creds, [user(question)], model_parameters=params,
                                               stream=stream, timeout=60)
                    elapsed = time.perf_counter() - t0
                    if not result.ok or not ok(result):
                        raise SystemExit(f"(f) {name} ({'streaming' if stream else 'blocking'}) gave no "
                                         f"{meaning}: {result.error or _text(result)[:200]}")
                    if r >= warmup:
                        key = (name, stream)
                        times[key].append(elapsed)
                        requests[key].append(sum(emu.stats.requests.values()) - emu.stats.oauth_calls - before)
                        longest[key] = max([longest[key]] + [len(line.encode())
                                                             for line in plugin.stdout_lines[lines_before:]])
    finally:
        emu.faults.latency, emu.faults.chunk_latency = saved
    rows = []
    for name in names:
        for stream in (False, True):
            key = (name, stream)
            ms = [x * 1000 for x in times[key]]
            rows.append({"kind": name, "stream": stream, "median_ms": median(ms), "p90_ms": p90(ms),
                         "api_requests": median(requests[key]), "longest_line": longest[key]})
    plain = {row["stream"]: row["median_ms"] for row in rows if row["kind"] == "plain v1 chat"}
    for row in rows:
        row["vs_plain"] = row["median_ms"] / plain[row["stream"]] if plain[row["stream"]] else float("nan")
    return {"model": MODEL, "rounds": rounds, "rows": rows}
