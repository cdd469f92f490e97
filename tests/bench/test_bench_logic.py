"""The benchmark's own decisions: when docs/benchmarks.md is older than the code (`bench.run
--check`), and issue 9's rule for the short float16 form."""

import subprocess

import pytest

from bench.embeddings import short_form_verdict
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


def run(cpu_ms, bytes_per_value):
    return {"cpu_per_1000_vectors": cpu_ms / 1000, "bytes_per_value": bytes_per_value}


@pytest.mark.parametrize("short, pays", [
    (run(250, 7.0), True),     # fewer bytes and less CPU: keep it
    (run(380, 7.0), False),    # fewer bytes, more CPU (what was measured in December 2026)
    (run(250, 15.0), False),   # less CPU, more bytes
    (run(300, 14.0), False),   # equal is not less
])
def test_the_short_form_pays_only_with_fewer_bytes_and_less_cpu(short, pays):
    verdict = short_form_verdict(run(300, 14.0), short)
    assert verdict["pays"] is pays
    assert verdict["bytes_ratio"] == pytest.approx(short["bytes_per_value"] / 14.0)
