"""GigaChat's tool ranker (model parameters ``tool_ranking`` / ``tool_ranking_top_n``): what it changes
in prompt tokens for an agent with 30 Dify tools, on each contract (v1 ``function_ranker``, v2
``ranker_options``), through the plugin as Dify drives it.

Figures, not timings: the prompt tokens each answer's usage reports, off and on at several
``top_n``. They are the emulator's (emulator/ranker.py: only the ranked functions count toward the
prompt, as they are all the model sees), so they show the size of the effect, not GigaChat's exact
counts. Each answer is checked: the ranked request still calls the weather tool the question asks
for.

    .venv/bin/python -m bench.ranker
"""

from __future__ import annotations

from bench.chat import credentials
from bench.common import out
from emulator import Emulator
from tests.support.daemon import PluginProcess, many_tools, user

MODEL = "GigaChat-2-Max"
QUESTION = "What is the weather in Sochi tomorrow?"
CONTRACTS = {"v1": {}, "v2 (web search on)": {"web_search": "auto"}}
TOP_NS = (3, 5, 10)
TOOLS = 30


def _prompt_tokens(result) -> int:
    return int(result.chunks[-1]["delta"]["usage"]["prompt_tokens"])


def _called(result) -> str | None:
    calls = [tc for c in result.chunks for tc in c["delta"]["message"]["tool_calls"]]
    return calls[0]["function"]["name"] if calls else None


def measure_ranker(emu: Emulator, plugin: PluginProcess, tools: int = TOOLS, top_ns=TOP_NS) -> dict:
    creds, offered = credentials(emu), many_tools(tools)
    rows = []
    for contract, params in CONTRACTS.items():
        for top_n in (None, *top_ns):
            ranker = {} if top_n is None else {"tool_ranking": True, "tool_ranking_top_n": top_n}
            result = plugin.invoke_llm(MODEL, creds, [user(QUESTION)], tools=offered, stream=False,
                                       model_parameters={**params, **ranker}, timeout=60)
            if not result.ok or _called(result) != offered[0]["name"]:
                raise SystemExit(f"ranker {contract} top_n={top_n}: {result.error or _called(result)}")
            rows.append({"contract": contract, "top_n": top_n, "prompt_tokens": _prompt_tokens(result),
                         "functions_seen": len(emu.log[-1].ranked_functions or offered)})
    for row in rows:
        off = next(r for r in rows if r["contract"] == row["contract"] and r["top_n"] is None)
        row["vs_off"] = row["prompt_tokens"] / off["prompt_tokens"]
    return {"model": MODEL, "tools": tools, "question": QUESTION, "rows": rows}


def report(figures: dict) -> None:
    out(f"Tool ranker: {figures['tools']} Dify tools, {figures['model']}, \"{figures['question']}\" "
        "(prompt tokens as the emulator's usage reports them)")
    out(f"{'contract':<20} {'ranker':<10} {'functions seen':>14} {'prompt tokens':>14} {'vs off':>8}")
    for row in figures["rows"]:
        ranker = "off" if row["top_n"] is None else f"top {row['top_n']}"
        out(f"{row['contract']:<20} {ranker:<10} {row['functions_seen']:>14} {row['prompt_tokens']:>14,} "
            f"{row['vs_off']:>8.2f}")


def main() -> None:
    with Emulator() as emu, PluginProcess() as plugin:
        emu.faults.latency = emu.faults.chunk_latency = 0.0
        report(measure_ranker(emu, plugin))


if __name__ == "__main__":
    main()
