"""A stand-in for Dify's plugin daemon: installs the plugin from its package, starts it, speaks its
stdio protocol, and applies the daemon's local-runtime rules. Every e2e test, the demo and the leak
scan drive the plugin through it.

Why a stand-in: the real daemon (langgenius/dify-plugin-daemon, Go) cannot be built in CI: the Go
module proxy refuses that module at every commit ("403 Forbidden, This module version is not
available"). So this module reproduces what the real one does, checked against its source (release
0.6.10, commit 1310a18b; paths below are in that repository), and says where it differs:

- Installing (internal/core/local_runtime/environment.go, setup_python_environment.go): the package
  built by scripts/package.py is extracted into a fresh folder `<author>/<name>-<version>@<checksum>`;
  `uv venv .venv --python 3.12`; `uv sync --no-dev` (`--frozen` with uv.lock) when pyproject.toml is
  packaged, else `uv pip install -r requirements.txt`, with uv's environment cut down as the daemon
  cuts it; `python -m compileall -x '\\.venv|\\.uv-cache' .`; an `import dify_plugin` warm-up. Done
  once per test session (child processes - the demo, the leak scan's inner run - reuse it through
  PLUGIN_TEST_INSTALLED_DIR). Differences: the uv cache is shared across sessions (the server shares
  one per working path too; `dify plugin run` starts an empty one each time) so only the first
  session downloads; python3.12 is put first on PATH and UV_PYTHON_DOWNLOADS=never so uv finds the
  interpreter scripts/env.sh uses instead of fetching one.
- Starting (subprocess.go getInstanceCmd): `.venv/bin/python -m main` in that folder with the
  daemon's own environment plus INSTALL_METHOD=local (the CLI and the server alike: `cmd.Environ()`).
  Here the daemon's environment is the test process's, less GIGACHAT_* (the SDK would read a
  developer's real key) and PYTHONDONTWRITEBYTECODE (not set in the daemon's image), plus a private
  TMPDIR (and HOME when capturing) so the leak scan sees every file the plugin leaves; when
  capturing, new files in the plugin folder are collected too. Ready at the first heartbeat.
- Lines (instance.go StartStdout/StartStderr): bufio.Scanners of PLUGIN_RUNTIME_MAX_BUFFER_SIZE =
  5,242,880 bytes, so the longest accepted line is 5,242,879 bytes before its newline. An over-long
  stdout line: the plugin is killed (SIGKILL) and restarted within about 5 s (control.go
  scheduleLoop); the sessions in flight on it are never closed. An over-long stderr line: stderr is
  never read again (the plugin blocks once the pipe fills). Blank lines are skipped and do not count
  as activity.
- Hung plugins (instance.go Monitor): no stdout/stderr activity for 120 s, checked every 30 s, and
  the plugin is killed and restarted the same way. Both times are constructor arguments here.
- Sessions that can never end: the real caller waits until its own timeout (the server answers
  "killed by timeout" after PLUGIN_MAX_EXECUTION_TIMEOUT). The stand-in does not make a test wait:
  `request()` raises SessionHung, a TimeoutError, as soon as the session's process is gone.
- Requests while no instance is up are retried for 6 s, then refused (io_tunnel/generic.go).
- Answers (io_tunnel/generic.go invokePluginOnce): the server decodes every stream chunk into its Go
  type (LLMResultChunk, TextEmbeddingResult...) and validates it; one that does not decode ends the
  session with an "unmarshal_error". The stand-in checks the same rules (`go_type_error`).
- Stricter than the daemon, to catch defects: a non-JSON stdout line, a message for an unknown
  session, a process that dies, a kill, an over-long stderr line and an undecodable chunk are all
  recorded in `protocol_errors`, which the fixtures require to be empty.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLUGIN_DIR = Path(__file__).resolve().parents[2]  # the repository: what scripts/package.py packages
#: PLUGIN_RUNTIME_MAX_BUFFER_SIZE (internal/types/app/config.go, default 5242880): the size of the
#: stdout/stderr scanners' buffer, which must hold a line and its newline.
DAEMON_LINE_LIMIT = 5 * 1024 * 1024
#: The longest line the daemon accepts, newline not counted (bufio.Scanner fails with ErrTooLong
#: when a full buffer holds no newline).
MAX_LINE_BYTES = DAEMON_LINE_LIMIT - 1
SILENCE_LIMIT = 120.0  # instance.go MAX_HEARTBEAT_INTERVAL: killed after this long without output
SILENCE_CHECK_EVERY = 30.0  # instance.go Monitor: its ticker
RESTART_AFTER = 5.0  # control.go ScheduleLoopInterval: a dead instance is replaced at the next tick
LAUNCH_TIMEOUT = 120.0  # subprocess.go startNewInstance: the first heartbeat must come within this
WRITE_RETRY_BUDGET = 6.0  # io_tunnel/generic.go writeRetryBudget: how long a request waits for an instance
WRITE_RETRY_INTERVAL = 0.3  # io_tunnel/generic.go writeRetryInterval
# When set, every plugin process leaves here all it wrote (stdout, stderr), every secret it was
# sent, and any file it created (its TMPDIR/HOME): tests/security scans it for leaked secrets.
CAPTURE_ENV = "PLUGIN_TEST_CAPTURE_DIR"
# The installed plugin of this test session, passed on to child processes (demo, inner pytest runs).
INSTALLED_ENV = "PLUGIN_TEST_INSTALLED_DIR"
# Where uv keeps downloaded wheels between sessions (default: ~/.cache/gigachat-dify-tests/uv).
UV_CACHE_ENV = "PLUGIN_TEST_UV_CACHE"
VALID_FLAG = ".venv/dify/plugin.json"  # environment_python.go envValidFlagFile: the install completed


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


class SessionHung(TimeoutError):
    """The session can never end: the plugin process it was sent to died (killed by the daemon's
    rules, or exited). The real daemon never closes such a session, so Dify's caller waits until its
    own timeout; the stand-in raises this at once instead. `result` holds what arrived before."""

    def __init__(self, message: str, result: "SessionResult"):
        super().__init__(message)
        self.result = result


class InstallError(ProtocolError):
    """The package could not be built or installed the way the daemon installs it."""


class DaemonRefused(Exception):
    """The daemon answers the caller itself, without the plugin: no instance to send the request
    to within its retry budget."""


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


# --------------------------------------------------------------------------------------------
# What the server's Go types accept (pkg/entities/model_entities/*.go; decoded by encoding/json and
# validated by go-playground/validator in pkg/utils/parser/json.go UnmarshalJsonBytes)
# --------------------------------------------------------------------------------------------
_ROLES = {"system", "user", "assistant", "tool"}  # llm.go isPromptMessageRole
_CONTENT_TYPES = {"text", "image", "audio", "video", "document"}  # llm.go isPromptMessageContentType
_ITEM_FIELDS = ("type", "base64_data", "url", "data", "encode_format", "format", "mime_type", "detail", "filename")
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")  # shopspring/decimal NewFromString


def _int(v) -> bool:
    """A JSON number Go decodes into an int: integral, whatever its spelling (5, 5.0, 5e0)."""
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _string_field(obj: dict, key: str, where: str, *, required: bool = False) -> str | None:
    """A Go `string` field: null leaves it empty; anything but a string does not decode."""
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        return f"{where}.{key}: {type(v).__name__} does not decode into a Go string"
    if required and not v:
        return f"{where}.{key} is required (validate:\"required\")"
    return None


def _decimal_field(obj: dict, key: str, where: str) -> str | None:
    v = obj.get(key)
    if v is None or _number(v) or (isinstance(v, str) and _DECIMAL.match(v)):
        return None
    return f"{where}.{key}: {v!r} does not decode into a decimal.Decimal"


def _required_pointer(obj: dict, key: str, where: str, check, kind: str) -> str | None:
    """A Go pointer field with validate:"required": present, not null, and of its type."""
    v = obj.get(key)
    if v is None:
        return f"{where}.{key} is required (a {kind}, not null)"
    if not check(v):
        return f"{where}.{key}: {v!r} does not decode into a Go {kind}"
    return None


def _first(*errors: str | None) -> str | None:
    return next((e for e in errors if e), None)


def _prompt_message_error(message, where: str, validate: bool = True) -> str | None:
    """llm.go PromptMessage.UnmarshalJSON, and with `validate` its validation (isPromptMessageRole,
    isPromptMessageContent), which the server applies to answers but not to invoke_llm requests."""
    if not isinstance(message, dict):
        return f"{where}: a prompt message must be an object, not {type(message).__name__}"
    role = message.get("role")
    if not isinstance(role, str) or not role:
        return f"{where}.role: role field is required"
    if validate and role not in _ROLES:
        return f"{where}.role: {role!r} is not one of {sorted(_ROLES)}"
    content = message.get("content")
    if content is None:
        return f"{where}.content: content field is required (a string, possibly empty, or a list; never null)"
    if isinstance(content, list):
        for i, item in enumerate(content):
            at = f"{where}.content[{i}]"
            if not isinstance(item, dict):
                return f"{at}: a content item must be an object"
            err = _first(*(_string_field(item, k, at) for k in _ITEM_FIELDS))
            if err:
                return err
            if validate and item.get("type") not in _CONTENT_TYPES:
                return f"{at}.type: {item.get('type')!r} is not one of {sorted(_CONTENT_TYPES)}"
    elif not isinstance(content, str):
        return f"{where}.content: content must be a string or an array of prompt message content"
    err = _first(_string_field(message, "name", where), _string_field(message, "tool_call_id", where))
    if err:
        return err
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        return f"{where}.tool_calls: must be a list"
    for i, call in enumerate(calls or []):
        at = f"{where}.tool_calls[{i}]"
        if call is None:
            continue
        if not isinstance(call, dict):
            return f"{at}: a tool call must be an object"
        err = _first(_string_field(call, "id", at), _string_field(call, "type", at))
        if err:
            return err
        function = call.get("function")
        if function is not None and not isinstance(function, dict):
            return f"{at}.function: must be an object"
        err = _first(*(_string_field(function or {}, k, at + ".function") for k in ("name", "arguments")))
        if err:
            return err + " (arguments must be a JSON string, not an object)" if "arguments" in err else err
    return None


def _llm_usage_error(usage, where: str) -> str | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return f"{where}: usage must be an object or null"
    return _first(
        *(_required_pointer(usage, k, where, _int, "int") for k in ("prompt_tokens", "completion_tokens", "total_tokens")),
        *(_decimal_field(usage, k, where) for k in ("prompt_unit_price", "prompt_price_unit", "prompt_price",
                                                   "completion_unit_price", "completion_price_unit",
                                                   "completion_price", "total_price")),
        _required_pointer(usage, "currency", where, lambda v: isinstance(v, str), "string"),
        _required_pointer(usage, "latency", where, _number, "float64"),
    )


def _llm_chunk_error(chunk) -> str | None:
    """llm.go LLMResultChunk: model, delta.index, delta.message, optional usage and finish_reason."""
    if not isinstance(chunk, dict):
        return "LLMResultChunk: must be an object"
    err = _first(_string_field(chunk, "model", "LLMResultChunk", required=True),
                 _string_field(chunk, "system_fingerprint", "LLMResultChunk"))
    if err:
        return err
    delta = chunk.get("delta")
    if not isinstance(delta, dict):
        return "LLMResultChunk.delta: must be an object"
    return _first(
        _required_pointer(delta, "index", "LLMResultChunk.delta", _int, "int"),
        _prompt_message_error(delta.get("message"), "LLMResultChunk.delta.message"),
        _llm_usage_error(delta.get("usage"), "LLMResultChunk.delta.usage"),
        _string_field(delta, "finish_reason", "LLMResultChunk.delta"),
    )


def _embedding_result_error(result) -> str | None:
    """text_embedding.go TextEmbeddingResult and EmbeddingUsage."""
    where = "TextEmbeddingResult"
    if not isinstance(result, dict):
        return f"{where}: must be an object"
    err = _string_field(result, "model", where, required=True)
    if err:
        return err
    vectors = result.get("embeddings")
    if not isinstance(vectors, list):
        return f"{where}.embeddings is required (a list of lists of numbers)"
    for i, vector in enumerate(vectors):
        if vector is not None and (not isinstance(vector, list) or not all(x is None or _number(x) for x in vector)):
            return f"{where}.embeddings[{i}]: does not decode into []float64"
    usage = result.get("usage")
    if not isinstance(usage, dict):
        return f"{where}.usage is required (an object)"
    return _first(
        *(_required_pointer(usage, k, f"{where}.usage", _int, "int") for k in ("tokens", "total_tokens")),
        *(_decimal_field(usage, k, f"{where}.usage") for k in ("unit_price", "price_unit", "total_price")),
        _required_pointer(usage, "currency", f"{where}.usage", lambda v: isinstance(v, str), "string"),
        _required_pointer(usage, "latency", f"{where}.usage", _number, "float64"),
    )


def _num_tokens_error(result, many: bool) -> str | None:
    name = "GetTextEmbeddingNumTokensResponse" if many else "LLMGetNumTokensResponse"
    if not isinstance(result, dict):
        return f"{name}: must be an object"
    v = result.get("num_tokens")
    if many:
        if not isinstance(v, list) or not all(_int(x) for x in v):
            return f"{name}.num_tokens is required (a list of ints), got {v!r}"[:300]
    elif v is not None and not _int(v):
        return f"{name}.num_tokens: {v!r} does not decode into a Go int"
    return None


def _validation_error(result) -> str | None:
    if not isinstance(result, dict):
        return "ValidateCredentialsResult: must be an object"
    if result.get("result") is not None and not isinstance(result["result"], bool):
        return f"ValidateCredentialsResult.result: {result['result']!r} does not decode into a Go bool"
    if result.get("credentials") is not None and not isinstance(result["credentials"], dict):
        return "ValidateCredentialsResult.credentials: must be an object"
    return None


#: io_tunnel/model.gen.go: the Go type each action's stream chunks are decoded into.
GO_TYPE_CHECKS = {
    "invoke_llm": _llm_chunk_error,
    "invoke_text_embedding": _embedding_result_error,
    "get_llm_num_tokens": lambda r: _num_tokens_error(r, many=False),
    "get_text_embedding_num_tokens": lambda r: _num_tokens_error(r, many=True),
    "validate_provider_credentials": _validation_error,
    "validate_model_credentials": _validation_error,
    "get_ai_model_schemas": lambda r: None if isinstance(r, dict) and isinstance(r.get("model_schema"), (dict, type(None)))
    else "GetModelSchemasResponse.model_schema: must be an object or null",
}


def go_type_error(action: str, chunk) -> str | None:
    """Why the daemon's server would refuse this stream chunk of `action`, or None if it decodes."""
    check = GO_TYPE_CHECKS.get(action)
    return check(chunk) if check else None


# What the server forwards of a request (pkg/entities/requests/model.go; the request is decoded into
# the action's Go type, then io_tunnel/mapping.go GetInvokePluginMap re-encodes it with user_id,
# type and action): its fields and which of them validate:"required".
_MODEL = ("provider", "model", "model_type")
_REQUEST_FIELDS = {
    "validate_provider_credentials": (("provider", "credentials"), ("provider",)),
    "validate_model_credentials": ((*_MODEL, "credentials"), _MODEL),
    "get_ai_model_schemas": ((*_MODEL, "credentials"), _MODEL),
    "invoke_llm": ((*_MODEL, "credentials", "model_parameters", "prompt_messages", "tools", "stop", "json_schema",
                    "stream"), _MODEL),
    "get_llm_num_tokens": ((*_MODEL, "credentials", "prompt_messages", "tools"), _MODEL),
    "invoke_text_embedding": ((*_MODEL, "credentials", "texts", "input_type"), (*_MODEL, "texts", "input_type")),
    "get_text_embedding_num_tokens": ((*_MODEL, "credentials", "texts"), (*_MODEL, "texts")),
}


def _go_any(value):
    """A JSON value through Go's map[string]any: every number becomes a float64, so an integer
    beyond 2**53 comes back rounded (Go prints the shortest digits, as Python's repr does)."""
    if isinstance(value, dict):
        return {k: _go_any(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_any(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        from decimal import Decimal
        return int(Decimal(repr(float(value))))
    return value


def _go_message(message: dict) -> dict:
    """llm.go PromptMessage as decoded and re-encoded: every field present (zero values for missing
    ones, null tool_calls), content items with all their fields, opaque bodies kept."""
    out = {"role": message.get("role") or "", "content": message.get("content"), "name": message.get("name") or "",
           "tool_calls": None, "tool_call_id": message.get("tool_call_id") or ""}
    if isinstance(out["content"], list):
        items = []
        for item in out["content"]:
            full = {k: (item.get(k) or "") for k in _ITEM_FIELDS}
            if item.get("opaque_body") is not None:
                full["opaque_body"] = item["opaque_body"]
            items.append(full)
        out["content"] = items
    if message.get("tool_calls") is not None:
        out["tool_calls"] = [{"id": (c or {}).get("id") or "", "type": (c or {}).get("type") or "",
                              "function": {"name": ((c or {}).get("function") or {}).get("name") or "",
                                           "arguments": ((c or {}).get("function") or {}).get("arguments") or ""}}
                             for c in message["tool_calls"]]
    if message.get("opaque_body") is not None:
        out["opaque_body"] = message["opaque_body"]
    return out


def as_daemon_forwards(data: dict) -> dict:
    """The request data as the daemon's server hands it to the plugin: only its Go type's fields,
    prompt messages and tools re-encoded, maps through float64 numbers. Raises DaemonRefused where
    the server answers 400 itself. Actions it does not know pass unchanged (fake plugins)."""
    action = data.get("action")
    if action not in _REQUEST_FIELDS:
        return data
    fields, required = _REQUEST_FIELDS[action]
    missing = [k for k in required if data.get(k) is None or data.get(k) == ""]
    if missing:
        raise DaemonRefused(f"400: {', '.join(missing)} failed on the 'required' tag")
    out = {"user_id": data.get("user_id", ""), "type": data.get("type", "model"), "action": action}
    for key in fields:
        value = data.get(key)
        if key in ("credentials", "model_parameters", "json_schema"):
            value = _go_any(value)
        elif key == "prompt_messages":
            messages = []
            for i, message in enumerate(value or []):
                where = f"prompt_messages[{i}]"
                problem = _prompt_message_error(message, where, validate=False)
                if problem:
                    # the server ignores the decode error and forwards a zeroed message and half the
                    # request (controllers/base.go BindRequest): Dify's api never sends such input
                    raise ProtocolError(f"the test sent a prompt message Dify's daemon cannot decode: {problem}")
                problem = _prompt_message_error(message, where)
                if problem and action == "get_llm_num_tokens":  # validate:"omitempty,dive"
                    raise DaemonRefused(f"400: {problem}")
                messages.append(_go_message(message))
            value = messages if (value is not None or action == "get_llm_num_tokens") else None
        elif key == "tools":
            if value is not None:
                for tool_ in value:
                    if not tool_.get("name"):
                        raise DaemonRefused("400: Tools[].Name failed on the 'required' tag")
                value = [{"name": t["name"], "description": t.get("description") or "",
                          "parameters": _go_any(t.get("parameters"))} for t in value]
            elif action == "get_llm_num_tokens":
                value = []  # RequestGetLLMNumTokens.MarshalJSON
        out[key] = value
    if data.get("credential_type"):
        out["credential_type"] = data["credential_type"]
    return out


# --------------------------------------------------------------------------------------------
# Installing the package as the daemon does
# --------------------------------------------------------------------------------------------
def load_packager():
    """scripts/package.py as a module (it is a script, not a package)."""
    name = "gigachat_packager"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PLUGIN_DIR / "scripts" / "package.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[name]


def find_python312() -> str:
    """The interpreter scripts/env.sh would pick: its own find_python312, run without the rest."""
    snippet = 'eval "$(sed -n "/^find_python312()/,/^}/p" "$1")" && find_python312'
    proc = subprocess.run(["bash", "-c", snippet, "bash", str(PLUGIN_DIR / "scripts" / "env.sh")],
                          capture_output=True, text=True, timeout=60)
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not path:
        raise RuntimeError(f"scripts/env.sh finds no Python 3.12 (rc={proc.returncode}): {proc.stderr.strip()}")
    return path


def find_uv() -> str:
    """UV_PATH or uv on PATH, as the daemon looks (testutils/runtime.go), else the uv of requirements-dev.txt."""
    found = os.environ.get("UV_PATH") or shutil.which("uv")
    if found:
        return found
    try:
        import uv
    except ImportError:
        raise RuntimeError("uv is not installed: requirements-dev.txt installs it (bash scripts/test.sh sets it up)") from None
    return uv.find_uv_bin()


def install_commands(root: Path) -> list[list[str]]:
    """The uv commands InitPythonEnvironment runs in the plugin folder, in order
    (environment_python.go createVirtualEnvironment; setup_python_environment.go
    detectDependencyFileType, prepareSyncArgs, preparePipArgs; no pip mirror configured)."""
    if (root / "pyproject.toml").is_file():
        install = ["sync", "--no-dev"] + (["--frozen"] if (root / "uv.lock").is_file() else [])
    elif (root / "requirements.txt").is_file():
        install = ["pip", "install", "-r", "requirements.txt"]
    else:
        raise RuntimeError(f"{root}: neither pyproject.toml nor requirements.txt found in plugin directory")
    return [["venv", ".venv", "--python", "3.12"], install]


def uv_install_env(root: Path, uv_cache: Path) -> dict:
    """setup_python_environment.go buildUVCommandEnv, plus the proxies from the daemon's config."""
    env = {"VIRTUAL_ENV": str(root / ".venv"), "PATH": os.environ.get("PATH", ""), "UV_CACHE_DIR": str(uv_cache)}
    for key in ("UV_INDEX_NEXUS_USERNAME", "UV_INDEX_NEXUS_PASSWORD", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        if key in os.environ:
            env[key] = os.environ[key]
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def runtime_env() -> dict:
    """The daemon's own environment as the stand-in has it: the test process's, less GIGACHAT_*
    (the SDK would read a developer's real key from them) and less PYTHONDONTWRITEBYTECODE, which
    the daemon's image (docker/local.dockerfile) does not set: with it, no start of the plugin would
    keep the bytecode it compiled (uv installs none), and every start would compile every dependency."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIGACHAT_") and k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Installation:
    root: Path  # the plugin's working folder: <author>/<name>-<version>@<checksum>
    identity: str  # author/name:version@checksum, the plugin unique identifier
    seconds: dict  # time spent per step


def _extract(package: Path, target: Path) -> None:
    """decoder/zip.go ExtractTo: every file written 0644 under its directory."""
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            if info.filename.startswith("/") or ".." in parts:
                raise RuntimeError(f"{package}: unsafe path {info.filename!r}")
            dest = target.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(info))
            dest.chmod(0o644)


def install_package(package: Path, working_path: Path, *, uv_cache: Path, python312: str | None = None) -> Installation:
    """Install a .difypkg the way the daemon's local runtime does (module docstring) and return it."""
    import yaml

    seconds: dict[str, float] = {}
    t = time.monotonic()
    packager = load_packager()
    with zipfile.ZipFile(package) as zf:
        manifest = yaml.safe_load(zf.read("manifest.yaml"))
    checksum = packager.package_checksum(package)
    root = Path(working_path) / manifest["author"] / f"{manifest['name']}-{manifest['version']}@{checksum}"
    if root.exists():
        raise RuntimeError(f"{root} exists: the daemon installs into a fresh folder")
    _extract(package, root)
    seconds["extract"] = time.monotonic() - t

    uv = find_uv()
    python312 = python312 or find_python312()
    full_env = runtime_env()
    # ours: uv must find the 3.12 that scripts/env.sh uses, never download one
    venv_env = {**full_env, "PATH": f"{Path(python312).parent}{os.pathsep}{full_env.get('PATH', '')}",
                "UV_PYTHON_DOWNLOADS": "never"}
    create, install = install_commands(root)
    for label, args, env in (("uv venv", create, venv_env), ("uv " + install[0], install, uv_install_env(root, uv_cache))):
        t = time.monotonic()
        proc = subprocess.run([uv, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        seconds[label] = time.monotonic() - t
        if proc.returncode != 0:
            raise RuntimeError(f"`uv {' '.join(args)}` failed in {root}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    python = root / ".venv" / "bin" / "python"
    # setup_python_environment.go preCompile: failures only logged, then the warm-up import
    t = time.monotonic()
    subprocess.run([str(python), "-m", "compileall", "-q", "-x", r"\.venv|\.uv-cache", "."], cwd=root, env=full_env,
                   capture_output=True, timeout=600)
    seconds["compileall"] = time.monotonic() - t
    t = time.monotonic()
    subprocess.run([str(python), "-c", "import dify_plugin"], cwd=root, env=full_env, capture_output=True, timeout=600)
    seconds["import dify_plugin"] = time.monotonic() - t
    flag = root / VALID_FLAG  # environment_python.go markVirtualEnvironmentAsValid
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(json.dumps({"timestamp": int(time.time())}))
    identity = f"{manifest['author']}/{manifest['name']}:{manifest['version']}@{checksum}"
    return Installation(root, identity, seconds)


def default_uv_cache() -> Path:
    if os.environ.get(UV_CACHE_ENV):
        return Path(os.environ[UV_CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gigachat-dify-tests" / "uv"


_installed: Path | None = None
_install_lock = threading.Lock()


def installed_plugin() -> Path:
    """The folder of this test session's plugin, installed from a freshly built package on first use
    (and removed when the process that installed it exits)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        inherited = os.environ.get(INSTALLED_ENV)
        if inherited and (Path(inherited) / VALID_FLAG).is_file():
            _installed = Path(inherited)
            return _installed
        work = Path(tempfile.mkdtemp(prefix="plugin-run-"))
        atexit.register(shutil.rmtree, work, True)
        packager = load_packager()
        try:
            built = packager.build(PLUGIN_DIR, work / "dist")
            install = install_package(built.path, work / "cwd", uv_cache=default_uv_cache())
        except packager.PackageError as exc:
            raise InstallError(f"the plugin cannot be packaged: {exc}") from None
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            raise InstallError(f"the package could not be installed as Dify's daemon installs it (the first run "
                               f"needs PyPI to fill uv's cache, {default_uv_cache()}):\n{exc}") from None
        os.environ[INSTALLED_ENV] = str(install.root)
        _installed = install.root
        return _installed


def _workdir_files(root: Path) -> set[str]:
    """The files in a plugin folder, less its environment and bytecode (what the daemon put there)."""
    out = set()
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".venv", "__pycache__")]
        out |= {os.path.relpath(os.path.join(directory, f), root) for f in files}
    return out


# --------------------------------------------------------------------------------------------
# The runtime: one plugin, its instances, its sessions
# --------------------------------------------------------------------------------------------
_GONE = object()  # put on a session's queue when its instance is gone


class _Instance:
    """One plugin process (instance.go PluginInstance)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.ready = threading.Event()
        self.dead = threading.Event()
        self.sessions: dict[str, tuple[queue.Queue, str]] = {}  # session id -> (queue, action)
        self.last_active = time.monotonic()
        self.killed_for: str | None = None


class PluginProcess:
    """The plugin as the daemon runs it. Without `plugin_dir` it runs the session's installed package
    (`installed_plugin()`) with that installation's Python; with one (a fake plugin, the benchmark's
    minimal plugin) it runs that folder with `python` (default: this interpreter)."""

    def __init__(self, env: dict | None = None, plugin_dir: Path | None = None, python: str | None = None, *,
                 silence_limit: float = SILENCE_LIMIT, silence_check_every: float = SILENCE_CHECK_EVERY,
                 restart_after: float | None = RESTART_AFTER):
        self.plugin_dir = Path(plugin_dir) if plugin_dir is not None else None
        self.python = python
        self.extra_env = env or {}
        self.silence_limit = silence_limit
        self.silence_check_every = silence_check_every
        self.restart_after = restart_after  # None: a dead plugin stays dead
        self.proc: subprocess.Popen | None = None  # the current instance's process
        self.manifest: dict | None = None
        self.stdout_lines: list[str] = []  # everything the plugin wrote, for protocol and leak checks
        self.stderr_lines: list[str] = []
        self.logs: list[dict] = []
        self.heartbeats = 0
        self.protocol_errors: list[str] = []
        self.kills: list[str] = []  # why each instance was killed by the daemon's rules
        self.restarts = 0
        self.started_at = 0.0
        self.ready_after: float | None = None
        self.secrets_sent: set[str] = set()
        self.secret_fields_sent: set[str] = set()  # which kinds of secret the scan covers
        self.capture_dir: Path | None = None
        self.tmp_dir: Path | None = None
        self._instance: _Instance | None = None
        self._env: dict = {}
        self._stopping = False
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._closed_by_daemon: set[str] = set()  # sessions the server stopped listening to
        self._workdir_before: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> "PluginProcess":
        if self.plugin_dir is None:
            self.plugin_dir = installed_plugin()
            self.python = self.python or str(self.plugin_dir / ".venv" / "bin" / "python")
        self.python = self.python or sys.executable
        env = runtime_env()
        env["INSTALL_METHOD"] = "local"  # subprocess.go getInstanceCmd
        if os.environ.get(CAPTURE_ENV):
            self.capture_dir = Path(os.environ[CAPTURE_ENV]) / f"plugin-{uuid.uuid4().hex[:12]}"
            (self.capture_dir / "home").mkdir(parents=True)
            self.tmp_dir = self.capture_dir / "home"
            env["HOME"] = str(self.tmp_dir)
            self._workdir_before = _workdir_files(self.plugin_dir)
        else:
            self.tmp_dir = Path(tempfile.mkdtemp(prefix="plugin-tmp-"))
        env["TMPDIR"] = str(self.tmp_dir)  # its own, so tests can see what it leaves behind
        env.update(self.extra_env)
        self._env = env
        self.started_at = time.monotonic()
        inst = self._spawn()
        if not inst.ready.wait(timeout):
            self.stop()
            raise ProtocolError(f"no heartbeat within {timeout}s; stderr:\n" + "\n".join(self.stderr_lines[-40:]))
        self.ready_after = time.monotonic() - self.started_at
        return self

    def _spawn(self) -> _Instance:
        proc = subprocess.Popen([self.python, "-m", "main"], cwd=self.plugin_dir, env=self._env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        inst = _Instance(proc)
        with self._lock:
            self._instance, self.proc = inst, proc
        threading.Thread(target=self._read_stdout, args=(inst,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(inst,), daemon=True).start()
        threading.Thread(target=self._monitor, args=(inst,), daemon=True).start()
        return inst

    def stop(self) -> None:
        with self._lifecycle:
            self._stopping = True
        inst = self._instance
        if inst and inst.proc.poll() is None:
            inst.proc.terminate()
            try:
                inst.proc.wait(10)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
                inst.proc.wait(5)
        if self.tmp_dir and not self.capture_dir:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        if self.capture_dir:
            time.sleep(0.2)  # let the reader threads drain the pipes
            (self.capture_dir / "stdout.txt").write_text("\n".join(self.stdout_lines))
            (self.capture_dir / "stderr.txt").write_text("\n".join(self.stderr_lines))
            (self.capture_dir / "secrets.json").write_text(json.dumps(sorted(self.secrets_sent)))
            (self.capture_dir / "secret_fields.json").write_text(json.dumps(sorted(self.secret_fields_sent)))
            # files that appeared in the plugin's working folder (shared by the session's processes,
            # so each capture gets every new one): scanned with the rest of what it left
            for rel in sorted(_workdir_files(self.plugin_dir) - self._workdir_before):
                dest = self.tmp_dir / "plugin-workdir" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(self.plugin_dir / rel, dest)
                except FileNotFoundError:
                    pass  # gone again

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the daemon's rules ----------------------------------------------------------------
    def _kill(self, inst: _Instance, reason: str) -> None:
        """SIGKILL, as instance.go StartStdout does once its reader stops."""
        with self._lock:
            if inst.killed_for is not None:
                return
            inst.killed_for = reason
            self.kills.append(reason)
            self.protocol_errors.append(f"plugin killed by the daemon: {reason}")
        try:
            inst.proc.kill()
        except ProcessLookupError:
            pass

    def _monitor(self, inst: _Instance) -> None:
        """instance.go Monitor: from the first heartbeat on, every tick, a plugin silent for longer
        than the limit is killed as hung."""
        if not inst.ready.wait(LAUNCH_TIMEOUT) or inst.dead.is_set():
            return
        while not inst.dead.wait(self.silence_check_every):
            silent = time.monotonic() - inst.last_active
            if silent > self.silence_limit:
                self._kill(inst, f"no stdout or stderr activity for {silent:.1f} s (limit {self.silence_limit:g} s, "
                                 f"checked every {self.silence_check_every:g} s): taken for hung")
                return

    def _ended(self, inst: _Instance) -> None:
        """The stdout reader has stopped: reap the process, leave its sessions hanging, restart."""
        inst.proc.wait()
        inst.dead.set()
        with self._lock:
            sessions = list(inst.sessions.values())
            inst.sessions.clear()
            if inst.killed_for is None and not self._stopping:
                self.protocol_errors.append(f"plugin process exited by itself (exit code {inst.proc.returncode})")
        for q, _ in sessions:
            q.put(_GONE)
        if not self._stopping and self.restart_after is not None:
            timer = threading.Timer(self.restart_after, self._restart)
            timer.daemon = True
            timer.start()

    def _restart(self) -> None:
        """control.go scheduleLoop: a new instance replaces the dead one; tried again at the next
        tick if it does not become ready."""
        with self._lifecycle:  # never a new process once stop() has begun
            if self._stopping:
                return
            inst = self._spawn()
        if inst.ready.wait(LAUNCH_TIMEOUT):
            self.restarts += 1
        elif not inst.dead.is_set():
            self._kill(inst, f"no heartbeat within {LAUNCH_TIMEOUT:g} s of a restart")

    # -- reading ---------------------------------------------------------------------------
    def _read_stdout(self, inst: _Instance) -> None:
        assert inst.proc.stdout
        for raw in inst.proc.stdout:
            size = len(raw) - raw.endswith(b"\n")
            if size > MAX_LINE_BYTES:
                self._kill(inst, f"stdout line of {size:,} bytes, over the {MAX_LINE_BYTES:,} the daemon's "
                                 f"{DAEMON_LINE_LIMIT:,}-byte scanner holds with its newline")
                break
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue  # StartStdout skips empty lines before noting activity
            inst.last_active = time.monotonic()
            self.stdout_lines.append(line)
            try:
                msg = json.loads(line)
            except ValueError:
                self.protocol_errors.append(f"non-JSON stdout line: {line[:200]}")
                continue
            if not isinstance(msg, dict):
                self.protocol_errors.append(f"stdout line is not a JSON object: {line[:200]}")
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
                inst.ready.set()
            elif event == "log":
                self.logs.append(msg.get("data") or {})
            elif event == "session":
                sid = msg.get("session_id")
                with self._lock:
                    entry = inst.sessions.get(sid)
                    ignored = sid in self._closed_by_daemon
                if entry is not None:
                    entry[0].put(msg.get("data") or {})
                elif not ignored:
                    self.protocol_errors.append(f"message for unknown session {sid}")
            elif event == "error":
                self.protocol_errors.append(f"plugin error event: {line[:300]}")
        self._ended(inst)

    def _read_stderr(self, inst: _Instance) -> None:
        assert inst.proc.stderr
        for raw in inst.proc.stderr:
            size = len(raw) - raw.endswith(b"\n")
            if size > MAX_LINE_BYTES:
                # StartStderr's scanner fails and it returns: nothing more is read, the pipe fills
                # up and the plugin's next writes to stderr block
                self.protocol_errors.append(f"stderr line of {size:,} bytes: the daemon never reads stderr again")
                return
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if text:
                inst.last_active = time.monotonic()
            self.stderr_lines.append(text)

    # -- requests --------------------------------------------------------------------------
    def _send(self, sid: str, action: str, line: bytes, q: queue.Queue) -> _Instance:
        """Write the request to a live instance; while there is none, retry as the daemon does."""
        deadline = time.monotonic() + WRITE_RETRY_BUDGET
        while True:
            inst = self._instance
            if inst is not None and inst.ready.is_set() and not inst.dead.is_set():
                with self._lock:
                    inst.sessions[sid] = (q, action)
                try:
                    with self._write_lock:
                        inst.proc.stdin.write(line)
                        inst.proc.stdin.flush()
                    return inst
                except (BrokenPipeError, OSError, ValueError):
                    with self._lock:
                        inst.sessions.pop(sid, None)
            if time.monotonic() >= deadline or self._stopping:
                raise DaemonRefused("no proper instance: the plugin is not running (being restarted); "
                                    f"failed to write request after {WRITE_RETRY_BUDGET:g} s")
            time.sleep(WRITE_RETRY_INTERVAL)

    def request(self, data: dict, *, timeout: float = 60.0, conversation_id: str | None = None,
                on_chunk=None) -> SessionResult:
        sid = str(uuid.uuid4())
        data = as_daemon_forwards(data)
        action = data.get("action", "")
        credentials = data.get("credentials") or {}
        self.secrets_sent |= secrets_of(credentials)
        self.secret_fields_sent |= {k for k in SECRET_FIELDS if isinstance(credentials.get(k), str) and credentials[k]}
        q: queue.Queue = queue.Queue()
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
        inst = self._send(sid, action, line.encode() + b"\n", q)
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
                if item is _GONE:
                    why = f"was killed: {inst.killed_for}" if inst.killed_for else \
                        f"exited (code {inst.proc.returncode})"
                    raise SessionHung(
                        f"session {sid} ({action}) will never end: its plugin process {why}. The daemon never "
                        "closes such a session; Dify's caller waits until its own timeout.\n"
                        + "\n".join(self.stderr_lines[-20:]), result)
                kind = item.get("type")
                if kind == "stream":
                    chunk = item.get("data")
                    problem = go_type_error(action, chunk)
                    if problem:
                        # invokePluginOnce: the response closes with this error and the listener goes
                        message = f"unmarshal json failed: {problem}"
                        self.protocol_errors.append(f"{action} chunk the daemon's server refuses: {problem}")
                        with self._lock:
                            self._closed_by_daemon.add(sid)
                        result.error = {"error_type": "unmarshal_error", "message": message, "args": None}
                        return result
                    result.chunks.append(chunk)
                    if on_chunk:
                        on_chunk(chunk)
                elif kind == "error":
                    result.error = item.get("data") or {}
                elif kind == "end":
                    result.ended = True
                    return result
                else:
                    raise ProtocolError(f"unknown session message type {kind!r}")
        finally:
            with self._lock:
                inst.sessions.pop(sid, None)

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
