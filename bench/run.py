"""The benchmark suite: one command measures every comparison in one run and writes
docs/benchmarks.md and docs/benchmarks.svg from that run alone.

    .venv/bin/python -m bench.run                 # everything, ~8 minutes on 2 cores
    .venv/bin/python -m bench.run --quick --out /tmp/b   # tiny sizes: checks the machinery, not the figures
    .venv/bin/python -m bench.run --check         # exit 1 if the code changed since docs/benchmarks.md was measured

Figures, not assertions. One GigaChat emulator on loopback (in this process) with a small,
realistic latency, and the plugin as Dify's daemon starts it (`python -m main`, stdio protocol,
tests/support/daemon.py). Sections:

  (a) blocking chat latency, plugin vs the bare `gigachat` SDK sending the very same body;
  (b) streaming: time to first chunk, chunks/s, and the relay ceiling without pauses;
  (c) OAuth calls per 1,000 invocations vs a new SDK client per invocation (bench/chat.py);
  (d) embeddings as Dify indexes, vs the emulator's ceiling and a naive loop; issue 20's figures:
      bytes per value on the protocol line, plugin CPU per 1,000 vectors, the ratio to the bare
      SDK on the same batches, before (9c3c185) / after, the most texts per call per model and
      which targets were met (bench/embeddings.py);
  (e) cold start and memory vs a minimal plugin (bench/startup.py);
  (f) the v2 built-in tools per request vs plain v1 (bench/builtin_tools.py);
  (g) the seeded soak, run twice to show the seed fixes its figures (bench/soak.py);
  (h) memory and descriptors over many credentials (bench/tenants.py);
  (i) the tool ranker: prompt tokens with 30 tools, off and on, on both contracts (bench/ranker.py).

Raw figures go to bench/results/latest.json (git-ignored). The main process never imports
dify_plugin (it would gevent-patch the emulator and the SDK).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from bench import builtin_tools, chat, embeddings, ranker, report, soak, startup, tenants
from bench.common import ROOT, changed_since, code_state, machine, out, rss_mb
from emulator import Emulator
from tests.support.daemon import PluginProcess

RESULTS = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "benchmarks.md"
SOAK_WORKERS = (6, 3)  # the same seed twice, with other threads and so another interleaving

QUICK = {"rounds": 3, "warmup": 1, "relay_rounds": 2, "oauth_invocations": 30, "naive_oauth": 5,
         "embedding_chunks": 200, "embedding_rounds": 1, "naive_batches": 2, "starts": 1, "warm_requests": 2, "first_rounds": 1,
         "tool_rounds": 1, "soak_invocations": 12, "tenants": 8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40, help="measured chat rounds, each 4 requests (40)")
    ap.add_argument("--warmup", type=int, default=5, help="unmeasured chat rounds first (5)")
    ap.add_argument("--latency", type=float, default=0.05, help="emulator seconds per chat response (0.05)")
    ap.add_argument("--chunk-latency", type=float, default=0.01, help="emulator seconds between stream chunks (0.01)")
    ap.add_argument("--relay-rounds", type=int, default=10, help="streams without pauses for the relay ceiling (10)")
    ap.add_argument("--oauth-invocations", type=int, default=1000, help="invocations counted for (c) (1000)")
    ap.add_argument("--naive-oauth", type=int, default=200, help="invocations with a new SDK client each (200)")
    ap.add_argument("--embedding-chunks", type=int, default=10_000, help="knowledge-base chunks for (d) (10000)")
    ap.add_argument("--embedding-rounds", type=int, default=3, help="interleaved rounds of before/after (3)")
    ap.add_argument("--embedding-latency", type=float, default=0.15, help="emulator seconds per embeddings request (0.15)")
    ap.add_argument("--embedding-cap", type=int, default=4, help="emulator: embeddings requests in flight before 429 (4)")
    ap.add_argument("--naive-batches", type=int, default=40, help="batches timed for the naive loop, extrapolated (40)")
    ap.add_argument("--starts", type=int, default=9, help="cold starts of each plugin (9)")
    ap.add_argument("--warm-requests", type=int, default=10, help="requests before reading memory (10)")
    ap.add_argument("--first-rounds", type=int, default=3, help="fresh processes per kind of first request (3)")
    ap.add_argument("--tool-rounds", type=int, default=30, help="rounds of the four v2/v1 kinds, both modes (30)")
    ap.add_argument("--soak-invocations", type=int, default=400, help="invocations per soak (400)")
    ap.add_argument("--soak-seed", type=int, default=7)
    ap.add_argument("--tenants", type=int, default=300, help="distinct credentials for (h) (300)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes everywhere (a smoke test of the machinery)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.md and benchmarks.svg go (docs/)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="raw figures (bench/results/latest.json)")
    ap.add_argument("--check", action="store_true",
                    help="measure nothing: exit 1 if code changed since the commit docs/benchmarks.md was measured on")
    args = ap.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def measured_commit(doc: Path) -> str | None:
    """The commit `doc` was measured on, with "-dirty" if the code had uncommitted changes."""
    found = re.search(r"measured-commit: ([0-9a-f]{40}(?:-dirty)?)", doc.read_text()) if doc.exists() else None
    return found.group(1) if found else None


def check_fresh(doc: Path, root: Path = ROOT) -> int:
    """0 if no code changed since the commit `doc` was measured on, else 1 (and says what)."""
    commit = measured_commit(doc)
    if commit is None:
        out(f"{doc}: no measured-commit marker: regenerate it with `python -m bench.run`")
        return 1
    if commit.endswith("-dirty"):
        out(f"{doc} was measured on uncommitted code (over {commit[:10]}): regenerate it from a commit")
        return 1
    changed = changed_since(commit, root)
    if changed is None:
        out(f"{doc} describes {commit[:10]}, a commit this repository does not have: regenerate it")
        return 1
    if changed:
        out(f"{doc} describes {commit[:10]}; code changed since: {', '.join(changed[:12])}"
            + (" ..." if len(changed) > 12 else ""))
        return 1
    out(f"{doc} describes {commit[:10]}; no code changed since")
    return 0


def run_soaks(invocations: int, seed: int) -> dict:
    runs = []
    for workers in SOAK_WORKERS:
        out(f"(g) soak: {invocations} invocations, seed {seed}, {workers} at a time ...")
        tally, info = soak.run_soak(invocations=invocations, seed=seed, workers=workers)
        runs.append({"workers": workers, "figures": soak.figures(tally, info), "clean": tally.clean,
                     "seconds": info["seconds"], "oauth_calls": info["oauth_calls"], "report": soak.report(tally, info)})
    return {"invocations": invocations, "seed": seed, "rates": soak.RATES, "runs": runs,
            "same_figures": all(r["figures"] == runs[0]["figures"] for r in runs[1:])}


def measure_all(args: argparse.Namespace, log=out) -> dict:
    raw: dict = {"machine": machine(), "code": code_state(),
                 "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    t = time.perf_counter()
    chunks = embeddings.make_chunks(args.embedding_chunks)
    answers = embeddings.PreEncodedAnswers("Embeddings", chunks)
    log(f"  embeddings workload ({len(chunks):,} chunks) and the emulator's answers prepared in {time.perf_counter() - t:.1f} s")

    emu = Emulator()
    answers.install(emu)  # answers for (d)'s texts pre-encoded; every other request as usual
    emu.start()
    plugin = None
    try:
        emu.faults.latency, emu.faults.chunk_latency = args.latency, args.chunk_latency
        creds = chat.credentials(emu)
        plugin = PluginProcess().start(timeout=120)
        log("(a)+(b) chat: plugin vs bare SDK, interleaved, and a minimal plugin (its echo; the bare SDK inside it) ...")
        with tempfile.TemporaryDirectory() as tmp, \
                PluginProcess(plugin_dir=startup.write_minimal_plugin(Path(tmp) / "minimal")) as echo:
            raw["chat"] = chat.measure_chat(emu, plugin, creds, args.rounds, args.warmup, minimal=echo)
        log("(b) relay ceiling: streams without pauses ...")
        raw["relay"] = chat.measure_relay_ceiling(emu, plugin, creds, args.relay_rounds)
        log(f"(c) OAuth: {args.oauth_invocations:,} invocations through the plugin ...")
        raw["oauth"] = chat.measure_oauth(emu, plugin, args.oauth_invocations, args.naive_oauth)
        log("(f) built-in tools: v2 web search, image generation, code interpreter vs plain v1 ...")
        raw["tools"] = builtin_tools.measure_builtin_tools(emu, plugin, args.tool_rounds)
        log(f"(i) tool ranker: prompt tokens with {ranker.TOOLS} tools, off and on ...")
        raw["ranker"] = ranker.measure_ranker(emu, plugin)
        # capture 2 + 2 per chat round; capture 1 + 1 per relay round; (c); 4 kinds x 2 modes per tool round;
        # one per ranker row
        raw["long_run"] = {"invocations": 2 + 2 * (args.rounds + args.warmup) + 1 + args.relay_rounds
                           + args.oauth_invocations + 8 * (args.tool_rounds + builtin_tools.WARMUP)
                           + len(raw["ranker"]["rows"]),
                           "rss_mb": rss_mb(plugin.proc.pid)}
        raw["protocol_errors"] = list(plugin.protocol_errors)
        plugin.stop()
        plugin = None
        emu.faults.latency = emu.faults.chunk_latency = 0.0
        log(f"(e) cold start: {args.starts} starts each, this plugin and a minimal one ...")
        raw["cold_start"] = startup.measure_cold_start(emu, args.starts, args.warm_requests)
        log(f"(e) the first request of each kind after a start: {args.first_rounds} process(es) per kind ...")
        raw["first_requests"] = startup.measure_first_requests(emu, {"ours": ROOT}, args.first_rounds)["ours"]
        log(f"(d) embeddings: {len(chunks):,} chunks, {args.embedding_rounds} round(s) of before / after ...")
        raw["embeddings"] = embeddings.measure(
            emu, chunks, "Embeddings", latency=args.embedding_latency, cap=args.embedding_cap, retry_after=1.0,
            rounds=args.embedding_rounds, naive_batches=args.naive_batches, components_seed=2026,
            sample_plugin=True, log=log)
    finally:
        if plugin is not None:
            plugin.stop()
        emu.stop()
    from emulator.embeddings import dimensions

    raw["embedding_models"] = [{"model": path.stem, "max_chunks": embeddings.model_max_chunks(path.stem),
                                "dimensions": dimensions(path.stem)}
                               for path in sorted((ROOT / "models" / "text_embedding").glob("[!_]*.yaml"))]
    raw["soak"] = run_soaks(args.soak_invocations, args.soak_seed)
    log(f"(h) many credentials: {args.tenants} distinct credentials through one plugin process ...")
    raw["tenants"] = tenants.measure_tenants(args.tenants)
    return raw


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check:
        return check_fresh(args.out / "benchmarks.md")
    began = time.perf_counter()
    info = machine()
    out("GigaChat plugin benchmarks (figures, not assertions)")
    out(f"  machine: {info['cores']} cores ({info['cpu']}), {info['ram_gib']} GiB RAM, {info['os']}, "
        f"Python {info['python']}, dify_plugin {info['dify_plugin']}, gigachat {info['gigachat']}, {info['date']}")
    raw = measure_all(args)
    raw["wall_seconds"] = time.perf_counter() - began
    raw["summary"] = report.summarise(raw)

    out()
    for line in report.console_table(raw):
        out(line)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(raw, indent=2, ensure_ascii=False, default=str))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.md").write_text(report.render_markdown(raw))
    (args.out / "benchmarks.svg").write_text(report.render_svg(raw))
    out()
    out(f"wrote {args.out / 'benchmarks.md'} and {args.out / 'benchmarks.svg'} (raw: {args.results}); "
        f"wall time {raw['wall_seconds']:.0f} s")
    if raw["code"]["uncommitted"]:
        out(f"note: uncommitted code changes ({', '.join(raw['code']['uncommitted'][:6])}): the report says so")
    return 0


if __name__ == "__main__":
    sys.exit(main())
