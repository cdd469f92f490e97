"""The benchmark's own decisions: when docs/benchmarks.md is older than the code (`bench.run
--check`), and whether issue 20's embedding targets were met."""

import subprocess

import pytest

from bench.embeddings import targets
from bench.run import check_fresh


def git(root, *args):
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.org",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository whose docs/benchmarks.md was generated on the commit before it, as bench.run leaves it."""
    git(tmp_path, "init", "-q")
    (tmp_path / "gigachat_dify").mkdir()
    (tmp_path / "gigachat_dify" / "engine.py").write_text("SPEED = 1\n")
    (tmp_path / "main.py").write_text("print('plugin')\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "code")
    measured = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "benchmarks.md").write_text(f"# Benchmarks\n\n<!-- measured-commit: {measured} -->\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "figures")
    return tmp_path


def test_figures_committed_after_the_code_they_measured_are_fresh(repo, capsys):
    assert check_fresh(repo / "docs" / "benchmarks.md", repo) == 0
    assert "no code changed" in capsys.readouterr().out


def test_a_docs_only_change_keeps_the_figures_fresh(repo):
    (repo / "docs" / "architecture.md").write_text("# Architecture\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "docs")
    assert check_fresh(repo / "docs" / "benchmarks.md", repo) == 0


def test_a_code_change_after_the_measurement_makes_the_figures_stale_and_names_the_file(repo, capsys):
    (repo / "gigachat_dify" / "engine.py").write_text("SPEED = 2\n")
    git(repo, "commit", "-q", "-am", "faster")
    assert check_fresh(repo / "docs" / "benchmarks.md", repo) == 1
    assert "gigachat_dify/engine.py" in capsys.readouterr().out


def test_uncommitted_and_new_code_files_count_as_changes(repo, capsys):
    (repo / "gigachat_dify" / "new_module.py").write_text("X = 1\n")
    assert check_fresh(repo / "docs" / "benchmarks.md", repo) == 1
    assert "gigachat_dify/new_module.py" in capsys.readouterr().out


def test_figures_measured_on_uncommitted_code_are_never_fresh(repo):
    doc = repo / "docs" / "benchmarks.md"
    doc.write_text(doc.read_text().replace(" -->", "-dirty -->"))
    assert check_fresh(doc, repo) == 1


def test_a_page_without_a_marker_or_with_an_unknown_commit_is_stale(repo):
    doc = repo / "docs" / "benchmarks.md"
    doc.write_text("# Benchmarks, assembled by hand\n")
    assert check_fresh(doc, repo) == 1
    doc.write_text(f"<!-- measured-commit: {'0' * 40} -->\n")
    assert check_fresh(doc, repo) == 1


def record(cpu_ms, bytes_per_value, gigar_texts=162):
    return {
        "median_runs": {"before (9c3c185)": {"cpu_per_1000_vectors": 0.348, "bytes_per_value": 14.1},
                        "after": {"cpu_per_1000_vectors": cpu_ms / 1000, "bytes_per_value": bytes_per_value}},
        "sdk_cpu_per_1000_vectors": 0.2,
        "texts_per_call": [{"model": "Embeddings", "dimensions": 1024, "before": 194, "after": 405, "target": 300},
                           {"model": "EmbeddingsGigaR", "dimensions": 2560, "before": 77, "after": gigar_texts,
                            "target": 150},
                           {"model": "GigaEmbeddings-3B-2025-09", "dimensions": 2048, "before": 97, "after": 202,
                            "target": None}],
    }


@pytest.mark.parametrize("figures, met", [
    (record(190, 7.0), [True, True, True, True]),      # everything reached
    (record(260, 7.0), [True, True, True, False]),     # more CPU than the bare SDK
    (record(190, 9.0), [True, True, False, True]),     # the bytes not halved
    (record(190, 7.0, 140), [True, False, True, True]),  # too few GigaR texts per call
])
def test_each_target_is_met_or_not_by_the_figures_alone(figures, met):
    verdicts = targets(figures)
    assert [v["target"].split(",")[0].split(" (")[0] for v in verdicts] == [
        "texts per call", "texts per call", "bytes per value on the line", "plugin CPU per 1"]
    assert [v["met"] for v in verdicts] == met


def test_the_cpu_target_says_what_the_plugin_spends_above_the_protocols_own_cost():
    figures = {**record(260, 7.0), "floor_cpu_per_1000_vectors": 0.02}
    cpu = targets(figures)[-1]
    assert cpu["met"] is False  # the target is the plugin's whole CPU against the SDK's; the floor only explains
    assert cpu["above_floor_vs_sdk"] == pytest.approx((0.26 - 0.02) / 0.2)
    assert cpu["measured"] == "1.30x (1.20x above the protocol's own cost)"
