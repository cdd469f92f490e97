"""What every benchmark section shares: statistics, /proc readings, the machine and the code measured."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from tests.support.tenants import open_descriptors, rss_bytes

ROOT = Path(__file__).resolve().parents[1]
#: What the figures describe: a change under these paths makes a committed report stale.
CODE_PATHS = ("main.py", "manifest.yaml", "requirements.txt", "provider", "models", "gigachat_dify",
              "emulator", "bench", "tests/support")


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def p90(xs: list[float]) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process in MiB, from /proc; NaN when unreadable."""
    try:
        return rss_bytes(pid) / 2**20
    except (OSError, LookupError):
        return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (/proc/<pid>/stat), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def open_fds(pid: int) -> int:
    """Open descriptors of a process; -1 when unreadable."""
    try:
        return open_descriptors(pid)
    except OSError:
        return -1


def check(result, what: str) -> None:
    if not result.ok:
        raise SystemExit(f"{what} failed: {result.error_type}: {result.error_message[:300]}")


def _git(*args: str, root: Path = ROOT) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.rstrip()
    except (OSError, subprocess.CalledProcessError):
        return ""


#: The files of the packaged plugin a variant needs to start (the rest is development only).
PLUGIN_FILES = ("main.py", "manifest.yaml", "_assets", "provider", "models", "gigachat_dify")


def archive_plugin(ref: str, directory: Path) -> Path:
    """The plugin as it was at `ref` (a `git archive` of its files), in `directory`: a "before" to
    measure side by side with this checkout."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, *PLUGIN_FILES],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory


def code_state() -> dict:
    """The commit measured and whether the working tree's code differs from it (then the report
    says so: figures of uncommitted code describe no commit)."""
    dirty = _git("status", "--porcelain", "--", *CODE_PATHS)
    return {"commit": _git("rev-parse", "HEAD"), "short": _git("rev-parse", "--short=10", "HEAD"),
            "subject": _git("log", "-1", "--format=%s"), "committed_at": _git("log", "-1", "--format=%cI"),
            "uncommitted": [line[3:] for line in dirty.splitlines()]}


def changed_since(commit: str, root: Path = ROOT) -> list[str] | None:
    """Code files that differ between `commit` and the working tree (empty: the figures still
    hold; None: `commit` is unknown here)."""
    if not _git("cat-file", "-t", commit, root=root):
        return None
    listed = _git("diff", "--name-only", commit, "--", *CODE_PATHS, root=root)
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS, root=root)
    return sorted(set(listed.splitlines()) | set(untracked.splitlines()))


def machine() -> dict:
    mem_kb = 0
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "dify_plugin": version("dify_plugin"),
        "gigachat": version("gigachat"),
        "httpx": version("httpx"),
        "pydantic": version("pydantic"),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": load,
    }
