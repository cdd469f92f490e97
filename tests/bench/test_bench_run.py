"""`python -m bench.run` end to end, at tiny sizes (`--quick`): one command measures every section
and writes docs/benchmarks.md and the chart from that run alone, naming the code it measured;
its conclusions follow the figures. The figures of a quick run mean nothing, only their presence."""

import copy
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import report
from bench.common import code_state

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["(a) Blocking chat latency", "(b) Streaming", "(c) OAuth calls per 1,000 invocations",
            "(d) Embeddings", "(e) Cold start and memory", "(f) The v2 built-in tools", "(g) The soak",
            "(h) Many workspaces", "(i) The tool ranker"]

pytestmark = pytest.mark.slow  # a whole (tiny) benchmark run: ~30 s, a dozen plugin processes


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out),
                           "--results", str(out / "raw.json")], cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out, proc.stdout, json.loads((out / "raw.json").read_text())


def test_one_command_writes_every_section_of_the_page_and_the_chart(quick_run):
    out, _, raw = quick_run
    page = (out / "benchmarks.md").read_text()
    headings = [line for line in page.splitlines() if line.startswith("## ")]
    for section in SECTIONS:
        assert any(h.startswith(f"## {section}") for h in headings), (section, headings)
    assert page.count("**How to read this.**") == len(SECTIONS)
    assert "![" in page and "(benchmarks.svg)" in page
    # every headline figure was measured: no empty cell, no NaN
    headline = page.split("## Headline figures", 1)[1].split("\n## ", 1)[0]
    assert "–" not in headline and "nan" not in headline.lower(), headline
    assert raw["soak"]["same_figures"] is True
    assert raw["embeddings"]["plugin"]["vectors"] == raw["embeddings"]["chunks"]


def test_the_page_names_the_machine_and_the_commit_it_measured(quick_run):
    out, _, raw = quick_run
    page = (out / "benchmarks.md").read_text()
    state = code_state()
    marker = re.search(r"measured-commit: ([0-9a-f]{40})(-dirty)?", page)
    assert marker and marker.group(1) == state["commit"]
    assert bool(marker.group(2)) == bool(state["uncommitted"])  # uncommitted code is said, never hidden
    assert state["short"] in page and "--quick" in page  # a quick run says its figures mean nothing
    for key in ("cores", "python", "dify_plugin", "gigachat"):
        assert str(raw["machine"][key]) in page


def test_the_chart_is_valid_svg_with_a_bar_per_figure(quick_run):
    out, _, raw = quick_run
    root = ET.fromstring((out / "benchmarks.svg").read_text())
    ns = "{http://www.w3.org/2000/svg}"
    groups = report.chart_groups(raw)
    texts = [t.text for t in root.iter(f"{ns}text")]
    for group in groups:
        assert group["title"] in texts
    bars = [r for r in root.iter(f"{ns}rect") if r.get("height") == "18"]
    assert len(bars) == sum(len(g["bars"]) for g in groups)
    assert raw["code"]["short"] in " ".join(texts)


def _section(page: str, name: str) -> str:
    return page.split(f"## {name} ", 1)[1].split("\n## ", 1)[0]


def test_the_chat_and_start_up_targets_follow_the_figures(quick_run):
    _, _, raw = quick_run
    summary = report.summarise(raw)

    def section_a(plugin_over_sdk: float) -> str:
        figures = copy.deepcopy(raw)
        figures["summary"] = copy.deepcopy(summary)
        for side in ("blocking_ms", "ttfc_ms"):
            times = figures["summary"]["chat"][side]
            times["plugin"]["median"] = plugin_over_sdk * times["sdk"]["median"]
        return "\n".join(report._section_a(figures))

    assert section_a(2.0).count("**not met**") == 2 and "**Why not met**" in section_a(2.0)
    assert "not met" not in section_a(1.0) and "Why not met" not in section_a(1.0)
    e = _section(report.render_markdown(raw), "(e)")
    assert "**Issue 20's targets** for start-up" in e


def test_the_conclusions_follow_the_figures_not_the_text(quick_run):
    _, _, raw = quick_run
    flipped = copy.deepcopy(raw)
    for target in flipped["embeddings"]["targets"]:
        target["met"] = not target["met"]
    page, other = report.render_markdown(raw), report.render_markdown(flipped)
    d, other_d = _section(page, "(d)"), _section(other, "(d)")
    assert d.count("**not met**") + other_d.count("**not met**") == len(raw["embeddings"]["targets"])
    assert ("**Why not met:**" in d) == any(not t["met"] for t in raw["embeddings"]["targets"])
    flipped["soak"]["same_figures"] = False
    assert "**different**" in report.render_markdown(flipped) and "**identical**" in page


def test_the_console_prints_the_headline_table(quick_run):
    _, stdout, raw = quick_run
    for section, figure, *_ in report.headline_rows(raw):
        assert f"{section} {figure}" in stdout
