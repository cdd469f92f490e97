"""`bash scripts/conformance.sh` without a key: it runs every scenario against the bundled emulator,
finds nothing wrong, spends nothing, and writes cassettes that replay through the emulator exactly as
the real recordings do (a real run's cassettes become fidelity checks the same way)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from gigachat.models.chat_completions import ChatCompletionChunk, ChatCompletionResponse

from emulator import Emulator

from .conftest import SHARED_SSL, get_token
from .test_recordings import replay, shape

ROOT = Path(__file__).resolve().parents[2]
SECRET_MARKERS = ("access_token\": \"ey", "Basic MGEx", "Bearer ey")


def _run(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGACHAT_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "scripts/conformance.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _conformance(tmp_path_factory, host: str):
    out = tmp_path_factory.mktemp(f"conformance-{host}")
    proc = _run("--out", str(out), "--builtin-tools", "--emulator-host", host)
    return proc, out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _conformance(tmp_path_factory, "recorded")


@pytest.fixture(scope="module")
def giga_run(tmp_path_factory):
    return _conformance(tmp_path_factory, "giga")


@pytest.fixture(params=["recorded", "giga"])
def any_run(request):
    return request.getfixturevalue("run" if request.param == "recorded" else "giga_run")


def findings(out: Path, scenario: str) -> list[str]:
    report = json.loads((out / "report.json").read_text())
    return [f"{f['level']} {f['text']}" for s in report["scenarios"] if s["scenario"] == scenario for f in s["findings"]]


def test_without_a_key_every_scenario_runs_against_the_emulator_and_nothing_fails(any_run):
    proc, out = any_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "against the bundled emulator" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["target"] == "emulator"
    names = {s["scenario"] for s in report["scenarios"]}
    assert names >= {"validation", "chat", "stream", "tool_round_trip", "structured_output", "reasoning",
                     "embeddings", "embedding_limits", "v2", "v2_dialect", "url_reading", "ranker", "builtin_tools"}
    assert all(s["findings"] and s["requests"] for s in report["scenarios"])
    assert not [f for s in report["scenarios"] for f in s["findings"] if f["level"] == "FAIL"]


def test_it_finds_each_hosts_form_of_function_results_its_ids_and_parallel_calls(run, giga_run):
    recorded, giga = findings(run[1], "v2_dialect"), findings(giga_run[1], "v2_dialect")
    assert "INFO results as role tool: accepted" in recorded and "PASS the plugin's rule for this host (role tool) is accepted" in recorded
    assert any(f.startswith("INFO results as role tool: refused (HTTP 400") for f in giga)
    assert "INFO results as role function: accepted" in giga
    assert any("call ids: present" in f for f in giga) and any("call ids: absent" in f for f in recorded)
    assert "INFO a question naming two functions: 2 call(s) in one step" in giga
    assert any(f.startswith("PASS answer after 2 result(s)") for f in giga)


def test_it_checks_url_reading_and_what_the_ranker_saves(any_run):
    _, out = any_run
    assert any(f.startswith("PASS page read") for f in findings(out, "url_reading"))
    ranker = findings(out, "ranker")
    assert [f.split(":")[0] for f in ranker] == ["PASS v1", "PASS v2"]


def test_against_the_emulator_it_says_that_nothing_is_spent(run):
    proc, _ = run
    first = proc.stdout.splitlines()[0]
    assert "nothing is spent" in first and "on a real account" in first, first


def test_with_a_key_it_prints_the_budget_and_sends_nothing_without_yes(tmp_path):
    with Emulator() as emu:
        proc = _run("--out", str(tmp_path), env_extra={
            "GIGACHAT_DEMO_KEY": "bm90LWEta2V5Om5vdC1hLXNlY3JldA==", "GIGACHAT_DEMO_BASE_URL": emu.base_url,
            "GIGACHAT_DEMO_AUTH_URL": emu.auth_url})
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "token budget" in proc.stdout and "--yes" in proc.stdout
        assert emu.stats.oauth_calls == 0 and not emu.log  # not even a free call
    assert not any(tmp_path.iterdir())


def test_recorded_cassettes_are_redacted(any_run):
    _, out = any_run
    for cassette in out.glob("*.yaml"):
        text = cassette.read_text()
        assert not any(m in text for m in SECRET_MARKERS), cassette.name
        for it in yaml.safe_load(text)["interactions"]:
            auth = [v for k, vs in it["request"]["headers"].items() if k.lower() == "authorization" for v in vs]
            assert all(v.endswith(" REDACTED") for v in auth)


def test_its_v1_cassettes_replay_through_the_emulator_like_the_real_recordings(run):
    _, out = run
    replayed = sum(replay(c) for c in sorted(out.glob("conformance_*.yaml")))
    assert replayed >= 20


def test_its_v2_cassettes_replay_with_the_recorded_statuses_shapes_and_events(any_run, emu):
    _, out = any_run
    token = get_token(emu)
    seen = 0
    for cassette in sorted(out.glob("conformance_*.yaml")):
        for it in yaml.safe_load(cassette.read_text())["interactions"]:
            if not it["request"]["uri"].endswith("/v2/chat/completions"):
                continue
            body = json.loads(it["request"]["body"])
            # to the same host's path: /api/v2/... as recorded, /v2/... as api.giga.chat
            path = urlsplit(it["request"]["uri"]).path
            r = httpx.post(emu.origin + path, json=body, verify=SHARED_SSL, timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == it["response"]["status"]["code"]
            recorded = it["response"]["body"]["string"]
            if r.status_code >= 400:  # a refusal (a form, a tool the account lacks): the API's error body
                assert r.json() == json.loads(recorded)
            elif body.get("stream"):
                names = [line.split(":", 1)[1].strip() for line in r.text.splitlines() if line.startswith("event:")]
                rec_names = [line.split(":", 1)[1].strip() for line in recorded.splitlines() if line.startswith("event:")]
                assert names[-1] == rec_names[-1] == "response.message.done" and set(names) == set(rec_names)
                for line in r.text.splitlines():
                    if line.startswith("data:"):
                        ChatCompletionChunk.model_validate_json(line.split(":", 1)[1])
            else:
                ChatCompletionResponse.model_validate(r.json())
                assert shape(r.json()) == shape(json.loads(recorded))
            seen += 1
    assert seen >= 5  # plain, stream, web search, image, code interpreter
