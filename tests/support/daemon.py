"""A stand-in for the Dify plugin daemon: starts the plugin as a subprocess and speaks its stdio protocol.

Exactly what the daemon does for a locally installed plugin: `python -m main` in the plugin
directory with INSTALL_METHOD=local, wait for the first heartbeat, then one JSON line per request
on stdin, and JSON event lines back on stdout, demultiplexed by session id.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLUGIN_DIR = Path(__file__).resolve().parents[2]
#: PLUGIN_RUNTIME_MAX_BUFFER_SIZE of dify-plugin-daemon (internal/types/app/config.go), default 5 MiB.
DAEMON_LINE_LIMIT = 5 * 1024 * 1024
# When set, every plugin process leaves here all it wrote (stdout, stderr), every secret it was
# sent, and any file it created (its TMPDIR/HOME): tests/security scans it for leaked secrets.
CAPTURE_ENV = "PLUGIN_TEST_CAPTURE_DIR"


SECRET_FIELDS = ("authorization_key", "password", "client_private_key", "client_private_key_password", "proxy_url")


def secrets_of(credentials: dict) -> set[str]:
    """What of a credentials form must never come back: every secret field, each line of a private
    key's base64 (a fragment is a leak too), and the password inside a proxy URL."""
    out = set()
    for key in SECRET_FIELDS:
        value = credentials.get(key)
        if not isinstance(value, str) or len(value.strip()) < 8:
            continue
        out.add(value.strip())
        if key == "client_private_key":
            out |= {line for line in value.split() if len(line) >= 16 and "-----" not in line}
        if key == "proxy_url":
            password = urlsplit(value.strip()).password
            if password and len(unquote(password)) >= 8:
                out |= {password, unquote(password)}
    return out


def without_validation_echo(line: str) -> str:
    """A stdout line without dify_plugin's own echo of a validation request: it answers
    validate_*_credentials with {"result": true, "credentials": <what the daemon sent>}, the daemon's
    own data going back to it, not written by plugin code."""
    try:
        msg = json.loads(line)
        data = msg["data"]["data"]
        if msg.get("event") == "session" and isinstance(data, dict) and "credentials" in data and "result" in data:
            data["credentials"] = "<echo of the daemon's request>"
            return json.dumps(msg)
    except (ValueError, KeyError, TypeError):
        pass
    return line


def written_by_plugin(proc: "PluginProcess") -> list[str]:
    """Every line the plugin wrote (stdout less the validation echo, stderr): what a leak would be in."""
    return [without_validation_echo(line) for line in proc.stdout_lines] + list(proc.stderr_lines)


class ProtocolError(AssertionError):
    """The plugin broke the protocol (non-JSON stdout, null content, missing end...)."""


@dataclass
class SessionResult:
    session_id: str
    chunks: list[dict] = field(default_factory=list)  # `data` of every {"type": "stream"} message
    error: dict | None = None  # {"error_type", "message", "args"} of a {"type": "error"} message
    ended: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.ended

    @property
    def error_type(self) -> str | None:
        return self.error and self.error.get("error_type")

    @property
    def error_message(self) -> str:
        return (self.error or {}).get("message", "")


class PluginProcess:
    def __init__(self, env: dict | None = None, plugin_dir: Path = PLUGIN_DIR, python: str | None = None):
        self.plugin_dir = Path(plugin_dir)
        self.python = python or sys.executable
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.manifest: dict | None = None
        self.stdout_lines: list[str] = []  # everything the plugin wrote, for protocol and leak checks
        self.stderr_lines: list[str] = []
        self.logs: list[dict] = []
        self.heartbeats = 0
        self._ready = threading.Event()
        self._sessions: dict[str, queue.Queue] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.protocol_errors: list[str] = []
        self.started_at = 0.0
        self.ready_after: float | None = None
        self.secrets_sent: set[str] = set()
        self.secret_fields_sent: set[str] = set()  # which kinds of secret the scan covers
        self.capture_dir: Path | None = None
        self.tmp_dir: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "PluginProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIGACHAT_")}
        env.update({"INSTALL_METHOD": "local", "PYTHONUNBUFFERED": "1"})
        if os.environ.get(CAPTURE_ENV):
            self.capture_dir = Path(os.environ[CAPTURE_ENV]) / f"plugin-{uuid.uuid4().hex[:12]}"
            (self.capture_dir / "home").mkdir(parents=True)
            self.tmp_dir = self.capture_dir / "home"
            env["HOME"] = str(self.tmp_dir)
        else:
            self.tmp_dir = Path(tempfile.mkdtemp(prefix="plugin-tmp-"))
        env["TMPDIR"] = str(self.tmp_dir)  # its own, so tests can see what it leaves behind
        env.update(self.extra_env)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [self.python, "-m", "main"],
            cwd=self.plugin_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ProtocolError(
                f"no heartbeat within {timeout}s; stderr:\n" + "\n".join(self.stderr_lines[-40:])
            )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.tmp_dir and not self.capture_dir:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        if self.capture_dir:
            time.sleep(0.2)  # let the reader threads drain the pipes
            (self.capture_dir / "stdout.txt").write_text("\n".join(self.stdout_lines))
            (self.capture_dir / "stderr.txt").write_text("\n".join(self.stderr_lines))
            (self.capture_dir / "secrets.json").write_text(json.dumps(sorted(self.secrets_sent)))
            (self.capture_dir / "secret_fields.json").write_text(json.dumps(sorted(self.secret_fields_sent)))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- reading ---------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            if len(raw.rstrip(b"\r\n")) > DAEMON_LINE_LIMIT:
                # What the daemon does: its scanner fails (bufio.ErrTooLong) and the plugin is killed.
                self.protocol_errors.append(f"stdout line of {len(raw):,} bytes exceeds the daemon's limit: plugin killed")
                self.proc.kill()
                break
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            self.stdout_lines.append(line)
            try:
                msg = json.loads(line)
            except ValueError:
                self.protocol_errors.append(f"non-JSON stdout line: {line[:200]}")
                continue
            if "event" not in msg:
                if self.manifest is None:
                    self.manifest = msg
                else:
                    self.protocol_errors.append(f"unexpected non-event line: {line[:200]}")
                continue
            event = msg["event"]
            if event == "heartbeat":
                self.heartbeats += 1
                if not self._ready.is_set():
                    self.ready_after = time.monotonic() - self.started_at
                    self._ready.set()
            elif event == "log":
                self.logs.append(msg.get("data") or {})
            elif event == "session":
                sid = msg.get("session_id")
                with self._lock:
                    q = self._sessions.get(sid)
                if q is None:
                    self.protocol_errors.append(f"message for unknown session {sid}")
                else:
                    q.put(msg.get("data") or {})
            elif event == "error":
                self.protocol_errors.append(f"plugin error event: {line[:300]}")
        with self._lock:
            for q in self._sessions.values():
                q.put(None)  # process ended: wake every waiter

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    # -- requests --------------------------------------------------------------------------
    def request(self, data: dict, *, timeout: float = 60.0, conversation_id: str | None = None,
                on_chunk=None) -> SessionResult:
        sid = str(uuid.uuid4())
        credentials = data.get("credentials") or {}
        self.secrets_sent |= secrets_of(credentials)
        self.secret_fields_sent |= {k for k in SECRET_FIELDS if isinstance(credentials.get(k), str) and credentials[k]}
        q: queue.Queue = queue.Queue()
        with self._lock:
            self._sessions[sid] = q
        line = json.dumps(
            {
                "session_id": sid,
                "conversation_id": conversation_id,
                "message_id": None,
                "app_id": None,
                "endpoint_id": None,
                "context": None,
                "event": "request",
                "data": data,
            },
            ensure_ascii=False,
        )
        assert self.proc and self.proc.stdin
        with self._write_lock:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        result = SessionResult(sid)
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"session {sid} did not end within {timeout}s (a hang)")
                try:
                    item = q.get(timeout=remaining)
                except queue.Empty:
                    continue
                if item is None:
                    raise ProtocolError("plugin process exited mid-session:\n" + "\n".join(self.stderr_lines[-40:]))
                kind = item.get("type")
                if kind == "stream":
                    result.chunks.append(item.get("data"))
                    if on_chunk:
                        on_chunk(item.get("data"))
                elif kind == "error":
                    result.error = item.get("data") or {}
                elif kind == "end":
                    result.ended = True
                    return result
                else:
                    raise ProtocolError(f"unknown session message type {kind!r}")
        finally:
            with self._lock:
                self._sessions.pop(sid, None)

    # -- the model actions Dify sends ------------------------------------------------------
    def validate_provider(self, credentials: dict, **kw) -> SessionResult:
        return self.request(
            {"user_id": "u1", "type": "model", "action": "validate_provider_credentials",
             "provider": "gigachat", "credentials": credentials}, **kw)

    def validate_model(self, model: str, model_type: str, credentials: dict, **kw) -> SessionResult:
        return self.request(
            {"user_id": "u1", "type": "model", "action": "validate_model_credentials", "provider": "gigachat",
             "model_type": model_type, "model": model, "credentials": credentials}, **kw)

    def invoke_llm(self, model: str, credentials: dict, prompt_messages: list[dict], *,
                   model_parameters: dict | None = None, tools: list[dict] | None = None,
                   stop: list[str] | None = None, stream: bool = True, **kw) -> SessionResult:
        return self.request(
            {"user_id": "u1", "type": "model", "action": "invoke_llm", "provider": "gigachat",
             "model_type": "llm", "model": model, "credentials": credentials,
             "model_parameters": model_parameters or {}, "prompt_messages": prompt_messages,
             "tools": tools, "stop": stop, "json_schema": None, "stream": stream}, **kw)

    def invoke_embedding(self, model: str, credentials: dict, texts: list[str], input_type: str = "document",
                         **kw) -> SessionResult:
        return self.request(
            {"user_id": "u1", "type": "model", "action": "invoke_text_embedding", "provider": "gigachat",
             "model_type": "text-embedding", "model": model, "credentials": credentials, "texts": texts,
             "input_type": input_type}, **kw)

    def llm_num_tokens(self, model: str, credentials: dict, prompt_messages: list[dict], tools=None, **kw):
        return self.request(
            {"user_id": "u1", "type": "model", "action": "get_llm_num_tokens", "provider": "gigachat",
             "model_type": "llm", "model": model, "credentials": credentials,
             "prompt_messages": prompt_messages, "tools": tools}, **kw)

    def embedding_num_tokens(self, model: str, credentials: dict, texts: list[str], **kw):
        return self.request(
            {"user_id": "u1", "type": "model", "action": "get_text_embedding_num_tokens", "provider": "gigachat",
             "model_type": "text-embedding", "model": model, "credentials": credentials, "texts": texts}, **kw)

    def model_schema(self, model: str, model_type: str, credentials: dict, **kw):
        return self.request(
            {"user_id": "u1", "type": "model", "action": "get_ai_model_schemas", "provider": "gigachat",
             "model_type": model_type, "model": model, "credentials": credentials}, **kw)


# -- message builders in the daemon's exact shapes ----------------------------------------
def _content_item(kind: str, **kw) -> dict:
    item = {"type": kind, "data": "", "base64_data": "", "url": "", "format": "", "mime_type": "",
            "detail": "", "filename": ""}
    item.update(kw)
    return item


def text_part(text: str) -> dict:
    return _content_item("text", data=text)


def image_part(b64: str = "", *, url: str = "", fmt: str = "png", mime: str = "image/png",
               filename: str = "image.png") -> dict:
    return _content_item("image", base64_data=b64, url=url, format=fmt, mime_type=mime, detail="low",
                         filename=filename)


def document_part(b64: str, *, fmt: str = "pdf", mime: str = "application/pdf", filename: str = "doc.pdf") -> dict:
    return _content_item("document", base64_data=b64, format=fmt, mime_type=mime, filename=filename)


def message(role: str, content, *, tool_calls: list[dict] | None = None, tool_call_id: str = "",
            name: str = "") -> dict:
    return {"role": role, "content": content, "name": name, "tool_calls": tool_calls or [],
            "tool_call_id": tool_call_id}


def system(text: str) -> dict:
    return message("system", text)


def user(content) -> dict:
    return message("user", content)


def assistant(text: str = "", tool_calls: list[dict] | None = None) -> dict:
    return message("assistant", text, tool_calls=tool_calls)


def tool_result(tool_call_id: str, content: str) -> dict:
    return message("tool", content, tool_call_id=tool_call_id)


def tool(name: str, description: str, parameters: dict) -> dict:
    return {"name": name, "description": description, "parameters": parameters}


#: Topics of an agent's many tools (what a Dify agent with a few MCP servers passes), in this order.
TOOL_TOPICS = ("weather", "currency", "flights", "hotels", "news", "stocks", "recipes", "movies", "music", "books",
               "sports", "traffic", "health", "law", "taxes", "jobs", "cars", "pets", "garden", "travel", "maps",
               "translation", "calendar", "email", "notes", "files", "photos", "shopping", "banking", "insurance")


def many_tools(n: int = 30) -> list[dict]:
    """``n`` tools of one query argument each, ``tool_<i>_<topic>``: the first answers about the weather."""
    return [tool(f"tool_{i}_{topic}", f"Answers questions about {topic}",
                 {"type": "object", "properties": {"query": {"type": "string", "description": f"{topic} question"}},
                  "required": ["query"]})
            for i, topic in enumerate(TOOL_TOPICS[:n])]


def collect_text(result: SessionResult) -> str:
    """The answer text as Dify assembles it from stream chunks."""
    return "".join(c["delta"]["message"]["content"] for c in result.chunks if isinstance(c["delta"]["message"]["content"], str))
