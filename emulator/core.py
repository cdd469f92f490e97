"""The Emulator object tests and benchmarks use."""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any, Callable

from emulator.api import API_PREFIX, OAUTH_PATH, Api
from emulator.dialects import BASE_PATHS, GIGA_CHAT_BASE
from emulator.oauth import DEFAULT_KEYS, OAUTH_REQUESTS_PER_SECOND, PAID_CLIENT_ID, TOKEN_SHAPES
from emulator.server import Connections, EmulatorHTTPServer
from emulator.state import RecordedRequest, ScriptedReply, State


# API requests one account may have in flight (documentation, Nov 2025: individuals 1, legal
# entities 10 by default). Keys: token scopes, "user" (on-premise user/password tokens) and
# "certificate" (mutual TLS, corporate clients); those two are assumed to be business accounts.
DEFAULT_CONCURRENCY: dict[str, int | None] = {
    "GIGACHAT_API_PERS": 1,
    "GIGACHAT_API_B2B": 10,
    "GIGACHAT_API_CORP": 10,
    "user": 10,
    "certificate": 10,
}


RESET_DRAIN_SECONDS = 5.0  # reset() waits at most this long for requests in flight to end


def _of_state(name: str, settable: bool = False, allowed: tuple[str, ...] | None = None) -> property:
    """An Emulator attribute that is the State's of that name (settable: assignable too)."""

    def set_value(self: Emulator, value: Any) -> None:
        if allowed is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}")
        setattr(self.state, name, value)

    return property(lambda self: getattr(self.state, name), set_value if settable else None)


class Emulator:
    """A GigaChat API on loopback: the transport (server.py) under the request pipeline (api.py), whose
    endpoints read and change one `State` (state.py); this object starts and stops the server and is
    the State's public face for tests. `tls`: (certfile, keyfile) serves HTTPS; a third item, a CA
    file, makes client certificates verified when presented (then they authenticate API calls
    without a token, as mutual TLS does); `require_client_cert=True` refuses every TLS handshake
    without a client certificate signed by that CA.

    `oauth_shape`: how OAuth answers a token, "access_token" ({"access_token", "expires_at"}
    in ms, documented) or "tok" ({"tok", "exp"} in seconds, recorded June 2026); see oauth.py.
    `oauth_rate_limit`: token requests per second and client id (None: unlimited); the window
    is `emu.oauth_limit` (its `clock` is replaceable).
    `concurrency`: API requests in flight per account by account kind (DEFAULT_CONCURRENCY;
    a dict overrides the kinds it names, a value None lifts that limit, concurrency=None lifts
    all); beyond it 429 "Too many requests" + Retry-After (`faults.retry_after`). Tests may
    change `emu.concurrency[...]`; reset() restores the constructed limits. `faults.concurrency_cap`
    is a separate cap on all requests together.
    `clock`: unix seconds for issuing and expiring tokens (tests pass a fake one).

    Two hosts on one port, each with its dialect (emulator/dialects.py): `base_url` speaks as the
    recordings show gigachat.devices.sberbank.ru, `giga_base_url` as api.giga.chat was probed in
    September 2026; `set_dialect(base_url, name)` switches one. `paid_accounts`: client ids of
    personal keys on a paid plan (PAID_KEY's by default)."""

    def __init__(
        self,
        keys: dict[str, set[str]] | None = None,
        users: dict[str, str] | None = None,
        token_ttl_ms: int = 1_800_000,
        tls: tuple[str, ...] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        oauth_shape: str = "access_token",
        oauth_rate_limit: int | None = OAUTH_REQUESTS_PER_SECOND,
        require_client_cert: bool = False,
        concurrency: dict[str, int | None] | None = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.time,
    ):
        if oauth_shape not in TOKEN_SHAPES:
            raise ValueError(f"oauth_shape must be one of {TOKEN_SHAPES}")
        if require_client_cert and not (tls and len(tls) > 2 and tls[2]):
            raise ValueError("require_client_cert needs tls=(certfile, keyfile, client_ca_file)")
        self.require_client_cert = require_client_cert
        # None: no account limit at all; a dict overrides the defaults it names
        limits = {k: None for k in DEFAULT_CONCURRENCY} if concurrency is None else {**DEFAULT_CONCURRENCY, **concurrency}
        self.state = State(keys if keys is not None else DEFAULT_KEYS, users or {}, token_ttl_ms, oauth_shape,
                           oauth_rate_limit, limits, {PAID_CLIENT_ID}, clock)
        self.host = host
        self.port = port
        self._api = Api(self.state)
        self._connections = Connections()
        self._ssl_context = _server_context(tls, require_client_cert) if tls else None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.faults._on_expire = self._expire_all
        self.faults._on_refuse = self._on_refuse

    # ---- the state's public face: the same objects, so tests may change them in place ----------

    stats = _of_state("stats")
    faults = _of_state("faults")
    capabilities = _of_state("capabilities")
    keys = _of_state("keys")
    users = _of_state("users")
    oauth_limit = _of_state("oauth_limit")
    paid_accounts = _of_state("paid_accounts")
    _files = _of_state("files")  # tests add files directly and check tokens' scopes
    _tokens = _of_state("tokens")
    concurrency = _of_state("concurrency", settable=True)
    token_ttl_ms = _of_state("token_ttl_ms", settable=True)
    oauth_shape = _of_state("oauth_shape", settable=True, allowed=TOKEN_SHAPES)

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        with self._lock:
            if self._server is None:
                self._listen()
        return self

    def stop(self) -> None:
        with self._lock:
            self._unlisten()
        self._connections.close_all()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _listen(self) -> None:
        server = EmulatorHTTPServer((self.host, self.port), self._api, self._connections, self._ssl_context)
        self.port = server.server_address[1]  # keep the port: a restart (refuse mode) reuses it
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.name = f"gigachat-emulator:{self.port}"
        self._thread.start()

    def _unlisten(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _expire_all(self) -> None:
        self.state.tokens.expire()
        self.stats.count_fault("expire_tokens")

    def _on_refuse(self, on: bool, mode: str) -> None:
        if on:
            self._connections.close_all()  # kept-alive connections go too
        if mode != "refuse":
            return
        with self._lock:
            if on and self._server is not None:
                self._unlisten()
            elif not on and self._server is None:
                self._listen()

    # ---- addresses ----------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The recorded host's base URL (gigachat.devices.sberbank.ru's dialect unless switched)."""
        return self.origin + API_PREFIX

    @property
    def giga_base_url(self) -> str:
        """The second host's base URL (api.giga.chat's dialect unless switched): `{origin}/v1`, its
        v2 chat at `{origin}/v2/chat/completions`, as on the real host."""
        return self.origin + GIGA_CHAT_BASE.v1

    def base_url_for(self, dialect: str) -> str:
        """The base URL whose default dialect is `dialect` (emulator.dialects.RECORDED or GIGA_CHAT)."""
        base = next((b for b in BASE_PATHS if b.default == dialect), None)
        if base is None:
            raise ValueError(f"unknown dialect {dialect!r}")
        return self.origin + base.v1

    def set_dialect(self, base_url: str, dialect: str) -> None:
        """The base path of `base_url` (either base URL, or its path) speaks `dialect` from now on
        (a host that changed); reset() restores both defaults."""
        path = base_url[len(self.origin):] if base_url.startswith(self.origin) else base_url
        self.state.hosts.set(path.rstrip("/"), dialect)

    def dialect_of(self, base_url: str) -> str:
        path = base_url[len(self.origin):] if base_url.startswith(self.origin) else base_url
        base = self.state.hosts.base_of(path.rstrip("/") + "/")
        if base is None:
            raise ValueError(f"{base_url!r} is not a base URL of this emulator")
        return self.state.hosts.dialect(base).name

    @property
    def auth_url(self) -> str:
        return self.origin + OAUTH_PATH

    # ---- inspection and scripting -------------------------------------------------------------

    @property
    def log(self) -> list[RecordedRequest]:
        return self.state.log.entries

    def clear_log(self) -> None:
        self.state.log.clear()

    @property
    def files(self) -> dict:
        """id -> (filename, bytes, purpose, mime)."""
        return self.state.files.files

    @property
    def issued_tokens(self) -> list[str]:
        return self.state.tokens.issued

    def enqueue_reply(
        self,
        content: str = "",
        reasoning_content: str | None = None,
        function_call: dict | None = None,
        finish_reason: str | None = None,
        chunks: list[str] | None = None,
        usage: dict | None = None,
        function_calls: list[dict] | None = None,
    ) -> None:
        """The next valid chat request gets this reply (FIFO). finish_reason defaults to
        "function_call" with a function_call, else "stop"; `chunks` splits a stream.
        `function_calls`: several calls in one answer (a parallel step; v2 only: a v1 request
        that meets it gets 422), after `function_call` if both are given."""
        self.state.replies.put(ScriptedReply(content, reasoning_content, function_call, finish_reason, chunks, usage,
                                        function_calls))

    def refuse(self, feature: str, model: str | None = None, status: int = 422, message: str | None = None) -> None:
        """This host stops offering `feature` (see emulator/capabilities.py) for `model` (None: all)."""
        self.capabilities.refuse(feature, model, status, message)

    def reset(self) -> None:
        """Healthy and empty again (tokens and files stay): faults, refusals, concurrency limits as
        constructed, both base paths' dialects, counters, log, scripted replies."""
        self.state.reset(RESET_DRAIN_SECONDS)


def _server_context(tls: tuple[str, ...], require_client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls[0], tls[1])
    if len(tls) > 2 and tls[2]:
        ctx.load_verify_locations(tls[2])
        # OPTIONAL still refuses a presented certificate the CA did not sign; REQUIRED also
        # refuses a handshake without one (a host that serves certificate clients only).
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx
