"""The stand-in daemon (tests/support/daemon.py) applies the real daemon's local-runtime rules, so the
other e2e tests can rely on them: the line limit, the kill and restart, sessions left hanging, the
silence rule, and the Go types the server decodes every answer into. A fake plugin (a few lines of
Python speaking the protocol, no dify_plugin) produces exactly the output each rule is about.

Each rule was also run once against the real daemon (0.6.10 built from source, not in CI): the same
fake plugin installed into its server gave the same outcomes."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.daemon import (
    MAX_LINE_BYTES,
    PLUGIN_DIR,
    DaemonRefused,
    PluginProcess,
    ProtocolError,
    SessionHung,
    go_type_error,
    install_commands,
)

FAKE_MAIN = r'''
import json, os, sys, threading, time

lock = threading.Lock()
beating = threading.Event()
beating.set()


def write(raw):
    with lock:
        sys.stdout.write(raw + "\n")
        sys.stdout.flush()


def event(sid, kind, data):
    return json.dumps({"event": "session", "session_id": sid, "data": {"type": kind, "data": data}},
                      separators=(",", ":"))


def heartbeat():
    while True:
        if beating.is_set():
            write('{"event":"heartbeat","session_id":null,"data":{}}')
        time.sleep(float(os.environ.get("FAKE_HEARTBEAT_EVERY", "0.2")))


def handle(sid, data):
    d = data.get("credentials") or {}  # the instructions: a field the daemon forwards as it is
    do = d.get("do")
    if "chunk" in d:  # exactly this stream chunk
        write(event(sid, "stream", d["chunk"]))
    elif do == "echo":  # the request as received, in an LLM chunk's text
        chunk = {"model": "m", "delta": {"index": 0, "message": {"role": "assistant", "content": json.dumps(data)}}}
        write(event(sid, "stream", chunk))
    elif do == "line":  # a stream message of exactly `size` bytes before its newline
        head = event(sid, "stream", {"pad": ""})
        write(head.replace('"pad":""', '"pad":"' + "x" * (d["size"] - len(head)) + '"'))
    elif do == "file":  # a file left in the working folder
        with open(d["name"], "w") as f:
            f.write(d["text"])
    elif do == "stderr":
        sys.stderr.write("e" * d["size"] + "\n")
        sys.stderr.flush()
    elif do == "wait":  # a first chunk, then a long computation
        write(event(sid, "stream", {"partial": True}))
        time.sleep(d["seconds"])
    elif do == "silent":  # blocked: no heartbeat, at most blank lines
        beating.clear()
        for _ in range(int(d["seconds"] * 10)):
            if d.get("blank_lines"):
                write("")
            time.sleep(0.1)
        beating.set()
    write(event(sid, "end", {}))


write(json.dumps({"name": "fake"}))  # the manifest line
threading.Thread(target=heartbeat, daemon=True).start()
for raw in sys.stdin:
    msg = json.loads(raw)
    threading.Thread(target=handle, args=(msg["session_id"], msg["data"]), daemon=True).start()
'''


@pytest.fixture
def fake_dir(tmp_path) -> Path:
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "main.py").write_text(FAKE_MAIN)
    return tmp_path / "plugin"


def fake(fake_dir: Path, **kw) -> PluginProcess:
    return PluginProcess(plugin_dir=fake_dir, **{"restart_after": 0.3, **kw}).start(timeout=30)


def wait_for(condition, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def ask(plugin: PluginProcess, **instructions):
    return plugin.request({"action": "fake", "credentials": instructions}, timeout=30)


def invoke_llm(plugin: PluginProcess, prompt_messages=(), **fields):
    """An invoke_llm request with the fake plugin's instructions in its credentials."""
    data = {"user_id": "u1", "type": "model", "action": "invoke_llm", "provider": "p", "model": "m",
            "model_type": "llm", "model_parameters": {}, "prompt_messages": list(prompt_messages), "tools": None,
            "stop": None, "json_schema": None, "stream": True, **fields}
    return plugin.request(data, timeout=30)


# ---------------------------------------------------------------------------------------------
# The line limit, the kill and the restart
# ---------------------------------------------------------------------------------------------
def test_the_longest_line_is_5242879_bytes_and_one_byte_more_kills_the_plugin_which_is_restarted(fake_dir):
    plugin = fake(fake_dir)
    try:
        first_pid = plugin.proc.pid
        longest = ask(plugin, do="line", size=MAX_LINE_BYTES)
        assert longest.ok and len(longest.chunks[0]["pad"]) > 5_000_000
        assert plugin.kills == [] and plugin.protocol_errors == []

        with pytest.raises(SessionHung) as hung:
            ask(plugin, do="line", size=MAX_LINE_BYTES + 1)
        assert "5,242,880 bytes" in str(hung.value) and "will never end" in str(hung.value)
        assert len(plugin.kills) == 1 and "stdout line of 5,242,880 bytes" in plugin.kills[0]
        assert plugin.protocol_errors and "killed" in plugin.protocol_errors[0]

        # a request during the restart waits for the new instance, as the daemon retries writes
        after = ask(plugin, do="line", size=100)
        assert after.ok and plugin.proc.pid != first_pid and plugin.restarts == 1
    finally:
        plugin.stop()


def test_every_session_in_flight_on_a_killed_plugin_hangs_with_what_it_had_received(fake_dir):
    plugin = fake(fake_dir)
    outcome: dict = {}

    def slow():
        try:
            outcome["result"] = ask(plugin, do="wait", seconds=20)
        except SessionHung as exc:
            outcome["hung"] = exc

    try:
        waiter = threading.Thread(target=slow)
        waiter.start()
        time.sleep(0.5)
        with pytest.raises(SessionHung):
            ask(plugin, do="line", size=MAX_LINE_BYTES + 10)
        waiter.join(10)
        assert "result" not in outcome, "a session on the killed process ended"
        assert isinstance(outcome["hung"], TimeoutError)  # what Dify's caller sees: its own timeout
        assert outcome["hung"].result.chunks == [{"partial": True}] and not outcome["hung"].result.ended
    finally:
        plugin.stop()


def test_without_a_restart_a_request_is_refused_after_the_daemons_retry_budget(fake_dir):
    plugin = fake(fake_dir, restart_after=None)
    try:
        with pytest.raises(SessionHung):
            ask(plugin, do="line", size=MAX_LINE_BYTES + 1)
        started = time.monotonic()
        with pytest.raises(DaemonRefused, match="no proper instance"):
            ask(plugin, do="line", size=10)
        assert 5.5 < time.monotonic() - started < 10
    finally:
        plugin.stop()


def test_a_plugin_that_exits_by_itself_is_a_protocol_error_and_is_restarted(fake_dir):
    plugin = fake(fake_dir)
    try:
        crashed = plugin.proc
        crashed.kill()  # as if it crashed
        crashed.wait()
        wait_for(lambda: plugin.restarts == 1)
        after = ask(plugin, do="line", size=50)
        assert after.ok and plugin.restarts == 1
        assert any("exited by itself" in e for e in plugin.protocol_errors)
        assert plugin.kills == []
    finally:
        plugin.stop()


# ---------------------------------------------------------------------------------------------
# stderr and the silence rule
# ---------------------------------------------------------------------------------------------
def test_an_over_long_stderr_line_stops_stderr_reading_for_good_but_not_the_plugin(fake_dir):
    plugin = fake(fake_dir)
    try:
        assert ask(plugin, do="stderr", size=MAX_LINE_BYTES).ok
        time.sleep(0.5)
        assert len(plugin.stderr_lines) == 1 and len(plugin.stderr_lines[0]) == MAX_LINE_BYTES
        assert ask(plugin, do="stderr", size=MAX_LINE_BYTES + 1).ok
        assert ask(plugin, do="stderr", size=10).ok
        time.sleep(0.5)
        assert len(plugin.stderr_lines) == 1, "stderr was read after the over-long line"
        assert any("never reads stderr again" in e for e in plugin.protocol_errors)
        assert plugin.kills == [] and ask(plugin, do="line", size=50).ok
    finally:
        plugin.stop()


def test_a_plugin_silent_for_longer_than_the_limit_is_killed_as_hung_and_restarted(fake_dir):
    plugin = fake(fake_dir, silence_limit=1.0, silence_check_every=0.25)
    try:
        started = time.monotonic()
        with pytest.raises(SessionHung, match="taken for hung"):
            ask(plugin, do="silent", seconds=10)
        assert 1.0 < time.monotonic() - started < 4
        assert len(plugin.kills) == 1 and "no stdout or stderr activity" in plugin.kills[0]
        assert ask(plugin, do="line", size=50).ok and plugin.restarts == 1
    finally:
        plugin.stop()


def test_blank_lines_are_not_activity_but_heartbeats_are(fake_dir):
    plugin = fake(fake_dir, silence_limit=1.0, silence_check_every=0.25)
    try:
        assert ask(plugin, do="wait", seconds=2).ok  # heartbeats go on: alive
        assert plugin.kills == []
        with pytest.raises(SessionHung):
            ask(plugin, do="silent", seconds=10, blank_lines=True)
        assert len(plugin.kills) == 1
    finally:
        plugin.stop()


# ---------------------------------------------------------------------------------------------
# The Go types the server decodes every answer into
# ---------------------------------------------------------------------------------------------
USAGE = {"prompt_tokens": 3, "prompt_unit_price": "0", "prompt_price_unit": "0", "prompt_price": "0",
         "completion_tokens": 2, "completion_unit_price": "0", "completion_price_unit": "0", "completion_price": "0",
         "total_tokens": 5, "total_price": "0", "currency": "RUB", "latency": 0.1}
IMAGE = {"type": "image", "base64_data": "/9j/", "url": "", "data": "", "format": "jpeg", "mime_type": "image/jpeg",
         "detail": "", "filename": "a.jpg"}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}


def llm_chunk(content="", usage=None, tool_calls=(), **delta) -> dict:
    message = {"role": "assistant", "content": content, "name": "", "tool_calls": list(tool_calls), "tool_call_id": ""}
    return {"model": "GigaChat-2", "system_fingerprint": "",
            "delta": {"index": 0, "message": message, "usage": usage, "finish_reason": None, **delta}}


@pytest.mark.parametrize("chunk", [
    llm_chunk("Echo: hi"),
    llm_chunk(""),  # an empty string is content
    llm_chunk([IMAGE, {"type": "text", "data": "a cat"}]),  # missing item fields decode as empty strings
    llm_chunk("", usage=USAGE, finish_reason="stop"),
    llm_chunk("", tool_calls=[CALL], finish_reason="tool_calls"),
    llm_chunk("x", usage={**USAGE, "prompt_price": 0.0015}),  # a decimal may be a JSON number too
    llm_chunk("x", usage={**USAGE, "total_tokens": 5.0}),  # an integral number decodes into an int
], ids=["text", "empty", "image and text items", "usage", "tool call", "numeric price", "integral float"])
def test_chunks_the_servers_llm_result_chunk_decodes_are_accepted(chunk):
    assert go_type_error("invoke_llm", chunk) is None


@pytest.mark.parametrize("chunk, says", [
    (llm_chunk(None), "content field is required"),
    (llm_chunk({"text": "x"}), "a string or an array"),
    (llm_chunk([{**IMAGE, "type": "file"}]), "'file' is not one of"),
    (llm_chunk("", tool_calls=[{**CALL, "function": {"name": "f", "arguments": {"a": 1}}}]), "arguments must be a JSON string"),
    (llm_chunk("", usage={k: v for k, v in USAGE.items() if k != "latency"}), "usage.latency is required"),
    (llm_chunk("", usage={**USAGE, "total_tokens": 5.5}), "total_tokens"),
    (llm_chunk("", usage={**USAGE, "prompt_price": "free"}), "decimal"),
    ({**llm_chunk("x"), "model": ""}, "model is required"),
    ({"model": "m", "delta": {"message": llm_chunk("x")["delta"]["message"]}}, "index is required"),
    (llm_chunk("x", finish_reason=1), "finish_reason"),
], ids=["null content", "object content", "unknown item type", "object arguments", "usage without latency",
        "fractional token count", "price not a number", "empty model", "no index", "numeric finish reason"])
def test_chunks_the_server_cannot_decode_are_refused_naming_the_field(chunk, says):
    problem = go_type_error("invoke_llm", chunk)
    assert problem and says in problem, problem


def test_embedding_results_are_checked_against_text_embedding_result():
    good = {"model": "Embeddings", "embeddings": [[0.1, -2], []],
            "usage": {"tokens": 3, "total_tokens": 3, "unit_price": "0", "price_unit": "0", "total_price": "0",
                      "currency": "RUB", "latency": 0.2}}
    assert go_type_error("invoke_text_embedding", good) is None
    assert "currency is required" in go_type_error(
        "invoke_text_embedding", {**good, "usage": {**good["usage"], "currency": None}})
    assert "[]float64" in go_type_error("invoke_text_embedding", {**good, "embeddings": [["0.1"]]})
    assert "num_tokens" in go_type_error("get_text_embedding_num_tokens", {"num_tokens": None})
    assert go_type_error("get_llm_num_tokens", {"num_tokens": 12}) is None
    assert "bool" in go_type_error("validate_provider_credentials", {"result": "true"})


def test_a_chunk_the_server_would_refuse_ends_the_session_with_its_unmarshal_error(fake_dir):
    plugin = fake(fake_dir)
    try:
        refused = invoke_llm(plugin, credentials={"chunk": llm_chunk(None)})
        assert refused.error_type == "unmarshal_error" and "content field is required" in refused.error_message
        assert refused.chunks == [] and any("refuses" in e for e in plugin.protocol_errors)
        accepted = invoke_llm(plugin, credentials={"chunk": llm_chunk("", usage=USAGE)})
        assert accepted.ok and accepted.chunks[0]["delta"]["usage"]["total_tokens"] == 5
    finally:
        plugin.stop()


# ---------------------------------------------------------------------------------------------
# What the server forwards of a request
# ---------------------------------------------------------------------------------------------
def test_requests_reach_the_plugin_as_the_daemons_server_forwards_them(fake_dir):
    plugin = fake(fake_dir)
    try:
        sent = [{"role": "user", "content": [{"type": "text", "data": "hi"}]},  # no name, tool_calls...
                {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function",
                                                                      "function": {"name": "f", "arguments": "{}"}}],
                 "opaque_body": {"state": 1}}]
        result = invoke_llm(plugin, sent, credentials={"do": "echo"}, model_parameters={"seed": 2**60, "t": 0.3},
                            tool_choice={"mode": "auto"})
        got = json.loads(result.chunks[0]["delta"]["message"]["content"])
    finally:
        plugin.stop()
    first, second = got["prompt_messages"]
    assert first == {"role": "user", "name": "", "tool_calls": None, "tool_call_id": "", "content": [
        {"type": "text", "base64_data": "", "url": "", "data": "hi", "encode_format": "", "format": "",
         "mime_type": "", "detail": "", "filename": ""}]}
    assert second["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert second["opaque_body"] == {"state": 1}
    assert "tool_choice" not in got  # not a field of 0.6.10's RequestInvokeLLM
    assert got["model_parameters"] == {"seed": 1152921504606847000, "t": 0.3}  # through a Go float64
    assert {"user_id", "type", "action"} <= set(got)


def test_what_the_daemons_server_refuses_never_reaches_the_plugin(fake_dir):
    plugin = fake(fake_dir)
    try:
        with pytest.raises(DaemonRefused, match="Name"):
            invoke_llm(plugin, [{"role": "user", "content": "hi"}], tools=[{"name": "", "parameters": {}}])
        with pytest.raises(DaemonRefused, match="input_type"):
            plugin.request({"action": "invoke_text_embedding", "provider": "p", "model": "m",
                            "model_type": "text-embedding", "credentials": {}, "texts": ["a"]})
        with pytest.raises(ProtocolError, match="cannot decode"):  # Dify's api never sends it
            invoke_llm(plugin, [{"role": "user", "content": None}])
        assert invoke_llm(plugin, [{"role": "user", "content": "hi"}], credentials={"do": "echo"}).ok
    finally:
        plugin.stop()


def test_the_leak_scan_capture_holds_the_files_a_plugin_leaves_in_its_working_folder(fake_dir, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setenv("PLUGIN_TEST_CAPTURE_DIR", str(tmp_path / "capture"))
    plugin = fake(fake_dir)
    try:
        assert ask(plugin, do="file", name="notes.txt", text="a secret").ok
    finally:
        plugin.stop()
    [captured] = (tmp_path / "capture").glob("plugin-*/home/plugin-workdir/notes.txt")
    assert captured.read_text() == "a secret"


# ---------------------------------------------------------------------------------------------
# How the plugin is installed
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("files, install", [
    (["pyproject.toml", "uv.lock", "requirements.txt"], ["sync", "--no-dev", "--frozen"]),
    (["pyproject.toml", "requirements.txt"], ["sync", "--no-dev"]),
    (["requirements.txt"], ["pip", "install", "-r", "requirements.txt"]),
])
def test_the_environment_is_built_with_the_daemons_uv_commands(tmp_path, files, install):
    for name in files:
        (tmp_path / name).write_text("")
    assert install_commands(tmp_path) == [["venv", ".venv", "--python", "3.12"], install]


def test_the_session_plugin_runs_from_its_installed_package_with_the_runtimes_environment(plugin):
    root = plugin.plugin_dir
    assert root.name.startswith("gigachat-") and "@" in root.name and root.parent.name == plugin.manifest["author"]
    assert Path(plugin.python) == root / ".venv" / "bin" / "python"
    assert not (root / "tests").exists() and not (root / "emulator").exists()  # only what was packaged
    assert (root / ".venv" / "dify" / "plugin.json").is_file()
    assert Path(f"/proc/{plugin.proc.pid}/cwd").resolve() == root.resolve()
    raw = Path(f"/proc/{plugin.proc.pid}/environ").read_bytes().decode()
    environ = dict(part.split("=", 1) for part in raw.split("\0") if "=" in part)
    assert environ["INSTALL_METHOD"] == "local"
    # the daemon's own environment plus INSTALL_METHOD; the stand-in adds only the private TMPDIR/HOME
    added = set(environ) - set(os.environ)
    assert added <= {"INSTALL_METHOD", "TMPDIR", "HOME"}, added
    assert not any(k.startswith("GIGACHAT_") for k in environ)
    # bytecode is kept, as in the daemon's image: the warm-up compiled dify_plugin once for every start
    assert "PYTHONDONTWRITEBYTECODE" not in environ
    assert list((root / ".venv" / "lib" / "python3.12" / "site-packages" / "dify_plugin").glob("__pycache__/*.pyc"))
    # uv sync --no-dev: nothing of the development tools came along
    probe = subprocess.run([plugin.python, "-c", "import importlib.util as u; print([m for m in ('pytest', "
                            "'hypothesis', 'pproxy', 'uv') if u.find_spec(m)])"], capture_output=True, text=True,
                           timeout=60, cwd=root)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr


def test_without_pypi_on_a_first_run_the_demo_says_the_package_could_not_be_installed(tmp_path):
    """A machine whose uv cache is empty and that cannot reach PyPI: a clear message, not a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIGACHAT_", "PLUGIN_TEST_"))}
    env.update(PLUGIN_TEST_UV_CACHE=str(tmp_path / "empty-uv-cache"), HTTPS_PROXY="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="")
    proc = subprocess.run(["bash", str(PLUGIN_DIR / "scripts" / "demo.sh"), "--out", str(tmp_path / "images")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "The plugin did not start: the package could not be installed as Dify's daemon installs it" in proc.stdout
    assert "needs PyPI" in proc.stdout and "uv sync --no-dev --frozen" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
