"""A bounded soak: several hundred mixed invocations through Dify's stdio protocol while the
emulator injects faults at random from a fixed seed. Prints what happened; exit 1 on any
wrong/unmapped error, hang, duplicated/reordered output or incomplete embedding batch.

    .venv/bin/python -m bench.soak [--invocations 400] [--seed 7] [--workers 6] [--refuse-windows]

Reproducible: invocation i is drawn from Random(seed * 1000 + i) and carries "[seed:i]" in what it
sends, and the emulator's fault for each request is a function of (seed, the request's bytes, how
often it was seen; emulator/faults.py `decide`), not of arrival order or timing. So the same seed
gives the same figures (`figures()`) whatever the thread interleaving. Not reproducible, so not in
`figures()`: the wall time and the OAuth calls (the plugin's client cache may evict a client and
make a new one, which fetches a new token). `--refuse-windows` adds short windows, on a timer, in
which connections are refused outright: closer to a restarting server, not reproducible.
Each invocation authenticates as an account of its own (as the workspaces of a Dify instance
do): the SDK shares one token between the concurrent requests of a client, and when one of them
renews it, whether another still gets the SDK's own repeat after a 401 depends on timing (SDK
0.2.3 `_with_auth`: no repeat for a call that started while the token was being renewed), which
changes how many of the plugin's retries are left. `--shared-account` runs every invocation on
one account instead: more sharing, figures no longer reproducible. The emulator runs without
per-account concurrency limits and OAuth rate limit: they would turn timing into 429s, and they
have tests of their own.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from emulator import DEFAULT_KEY, Emulator, make_key
from emulator.embeddings import vector
from tests.support.daemon import PluginProcess, collect_text, system, tool, user
from tests.support.halves import as_halves

DIFY_ERRORS = {"InvokeConnectionError", "InvokeServerUnavailableError", "InvokeRateLimitError",
               "InvokeAuthorizationError", "InvokeBadRequestError"}
# What a fault can legitimately become; a bad request or an auth error would mean a wrong mapping here.
EXPECTED_UNDER_FAULTS = {"InvokeConnectionError", "InvokeServerUnavailableError", "InvokeRateLimitError"}
RATES = {"429": 0.05, "500": 0.03, "502": 0.03, "503": 0.03, "cut_stream": 0.04, "slow": 0.02,
         "expire_token": 0.04, "reset": 0.02}
PLUGIN_TIMEOUT = 3.0  # the provider's request timeout; "slow" faults exceed it
WEATHER = tool("get_weather", "Weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@dataclass
class Tally:
    invocations: int = 0
    succeeded: int = 0
    mapped_failures: Counter = field(default_factory=Counter)
    wrong_errors: list = field(default_factory=list)
    hangs: list = field(default_factory=list)
    duplicated_or_reordered: list = field(default_factory=list)
    incomplete_embeddings: list = field(default_factory=list)
    by_kind: Counter = field(default_factory=Counter)
    outcomes: dict = field(default_factory=dict)  # "#i kind" -> "ok" or the Dify error type
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def clean(self) -> bool:
        return not (self.wrong_errors or self.hangs or self.duplicated_or_reordered or self.incomplete_embeddings)


def _unit(v: list[float]) -> list[float]:
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def _check_error(result, tally: Tally, label: str) -> None:
    msg = result.error_message
    if result.error_type not in EXPECTED_UNDER_FAULTS or not msg or "Traceback" in msg or "Error:" in msg:
        tally.wrong_errors.append(f"{label}: {result.error_type}: {msg[:160]}")
    else:
        tally.mapped_failures[result.error_type] += 1


def one_invocation(plugin: PluginProcess, creds: dict, seed: int, i: int, tally: Tally) -> None:
    rng = random.Random(seed * 1000 + i)
    tag = f"[{seed}:{i}]"  # every request of this invocation differs from every other invocation's
    kind = rng.choice(["blocking", "streaming", "streaming", "tool", "embedding"])
    label = f"#{i} {kind}"
    try:
        if kind == "embedding":
            texts = [f"chunk {tag}-{k} " + "слово " * rng.randint(1, 60) for k in range(rng.randint(1, 40))]
            result = plugin.invoke_embedding("Embeddings", creds, texts, timeout=120)
        elif kind == "tool":
            result = plugin.invoke_llm("GigaChat-2", creds, [user(f"weather {tag} via get_weather")],
                                       tools=[WEATHER], stream=rng.random() < 0.5, timeout=120)
        else:
            question = f"question {tag} " + "подробно " * rng.randint(5, 40)
            result = plugin.invoke_llm("GigaChat-2", creds, [system("soak"), user(question)],
                                       stream=kind == "streaming", timeout=120)
    except TimeoutError:
        with tally.lock:
            tally.hangs.append(label)
        return
    with tally.lock:
        tally.invocations += 1
        tally.by_kind[kind] += 1
        tally.outcomes[label] = "ok" if result.ok else result.error_type
        if kind == "embedding":
            if result.ok:
                got = result.chunks[-1]["embeddings"]
                if len(got) != len(texts) or any(  # by direction: the plugin may pass vectors raw or unit;
                        # float16 values in their short form (rounded to float16: GigaChat's own)
                        max(abs(a - b) for a, b in zip(_unit(as_halves(g)), _unit(vector("Embeddings", t)))) > 1e-9
                        for g, t in zip(got, texts)):
                    tally.incomplete_embeddings.append(label)
                else:
                    tally.succeeded += 1
            else:
                _check_error(result, tally, label)
                if result.chunks:  # an error must not come with a partial batch
                    tally.incomplete_embeddings.append(label + " (partial output with an error)")
            return
        text = collect_text(result)
        if kind == "tool":
            calls = [tc for c in result.chunks for tc in c["delta"]["message"]["tool_calls"]]
            if result.ok:
                if len(calls) != 1 or json.loads(calls[0]["function"]["arguments"]).get("city") is None:
                    tally.duplicated_or_reordered.append(f"{label}: {len(calls)} tool calls")
                else:
                    tally.succeeded += 1
            else:
                _check_error(result, tally, label)
            return
        expected = f"Echo: {question}"
        if result.ok and text == expected:
            tally.succeeded += 1
        elif result.ok or not expected.startswith(text):
            tally.duplicated_or_reordered.append(f"{label}: got {text[:80]!r}")
        else:
            _check_error(result, tally, label)


def account_key(seed: int, i: int, shared: bool) -> str:
    return DEFAULT_KEY if shared else make_key(f"soak-{seed}-{i:05d}", f"secret-{seed}-{i}")


def run_soak(invocations: int = 400, seed: int = 7, workers: int = 6, refuse_windows: bool = False,
             shared_account: bool = False) -> tuple[Tally, dict]:
    keys = {account_key(seed, i, shared_account): {"GIGACHAT_API_PERS"} for i in range(invocations)}
    emu = Emulator(keys=keys, concurrency=None, oauth_rate_limit=None)
    emu.start()
    emu.faults.random(seed, RATES, slow_seconds=PLUGIN_TIMEOUT + 2)

    def creds(i: int) -> dict:
        return {"authorization_key": account_key(seed, i, shared_account), "scope": "GIGACHAT_API_PERS",
                "base_url": emu.base_url, "auth_url": emu.auth_url, "timeout": str(PLUGIN_TIMEOUT), "max_retries": "2"}

    plugin = PluginProcess().start()
    tally, stop = Tally(), threading.Event()

    def refuser():  # short windows in which connections are refused outright
        r = random.Random(seed + 1)
        while not stop.wait(r.uniform(2, 5)):
            emu.faults.refuse_connections(True, mode="refuse")
            time.sleep(r.uniform(0.05, 0.3))
            emu.faults.refuse_connections(False, mode="refuse")

    if refuse_windows:
        threading.Thread(target=refuser, daemon=True).start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: one_invocation(plugin, creds(i), seed, i, tally), range(invocations)))
    finally:
        stop.set()
        emu.faults.refuse_connections(False, mode="refuse")
        plugin.stop()
        emu.faults.clear()  # wakes requests still sleeping in a "slow" fault
        emu.stop()
    info = {"seconds": time.monotonic() - started, "faults": dict(emu.stats.faults), "log": list(emu.log),
            "oauth_calls": emu.stats.oauth_calls, "protocol_errors": plugin.protocol_errors}
    return tally, info


def figures(tally: Tally, info: dict) -> dict:
    """What a run with a given seed always reproduces (everything report() prints but the wall
    time and the OAuth calls)."""
    return {
        "invocations": tally.invocations,
        "by_kind": dict(tally.by_kind),
        "outcomes": dict(sorted(tally.outcomes.items())),
        "succeeded": tally.succeeded,
        "mapped_failures": dict(tally.mapped_failures),
        "wrong_errors": sorted(tally.wrong_errors),
        "hangs": sorted(tally.hangs),
        "duplicated_or_reordered": sorted(tally.duplicated_or_reordered),
        "incomplete_embeddings": sorted(tally.incomplete_embeddings),
        "faults": info["faults"],
        "protocol_errors": len(info["protocol_errors"]),
    }


def report(tally: Tally, info: dict) -> str:
    lines = [
        f"invocations                          {tally.invocations}  ({dict(tally.by_kind)})",
        f"succeeded                            {tally.succeeded}",
        f"failed with the correct Dify error   {sum(tally.mapped_failures.values())}  ({dict(tally.mapped_failures)})",
        f"failed with a wrong/unmapped error   {len(tally.wrong_errors)}  (must be 0)",
        f"hangs                                {len(tally.hangs)}  (must be 0)",
        f"duplicated or reordered output       {len(tally.duplicated_or_reordered)}  (must be 0)",
        f"embedding batches incomplete         {len(tally.incomplete_embeddings)}  (must be 0)",
        f"protocol errors                      {len(info['protocol_errors'])}  (must be 0)",
        f"faults injected                      {info['faults']}",
        f"OAuth calls                          {info['oauth_calls']}  (varies with timing)",
        f"wall time                            {info['seconds']:.1f} s",
    ]
    for name in ("wrong_errors", "hangs", "duplicated_or_reordered", "incomplete_embeddings"):
        for item in getattr(tally, name)[:10]:
            lines.append(f"  {name}: {item}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invocations", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--refuse-windows", action="store_true",
                    help="also refuse connections in short timed windows (not reproducible)")
    ap.add_argument("--shared-account", action="store_true",
                    help="every invocation on one account (more sharing; not reproducible)")
    args = ap.parse_args()
    tally, info = run_soak(args.invocations, args.seed, args.workers, args.refuse_windows, args.shared_account)
    sys.stdout.write(report(tally, info) + "\n")
    return 0 if tally.clean and not info["protocol_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
