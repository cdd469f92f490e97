"""Shared, thread-safe state of one emulator: counters, request log, tokens, prompt-cache sessions,
scripted replies, and `State`, the one object the endpoints read and change (the Emulator object
is its public face)."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from emulator.capabilities import Capabilities
from emulator.dialects import Hosts, plan_of
from emulator.faults import Faults
from emulator.files import FileStore
from emulator.wire import Headers


class Stats:
    """Counters tests read directly. Updated only through the methods (under one lock); a test
    that must see an update made after its client got an answer waits for it with `wait_until`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.in_flight = 0
        self.in_flight_by_account: Counter[str] = Counter()
        self.sleeping = 0  # requests in a fault delay right now
        self.reset()

    def reset(self) -> None:
        with self._cond:
            self.oauth_calls = 0  # POST /api/v2/oauth, any outcome
            self.token_calls = 0  # POST {base}/token (user/password), any outcome
            self.requests: Counter[str] = Counter()  # "METHOD /path" (path relative to the API base)
            self.status_counts: Counter[int] = Counter()
            self.max_concurrency = self.in_flight
            self.rate_limited = 0  # 429s sent, whatever the cause
            self.faults: Counter[str] = Counter()  # injected faults by kind ("status:503", "cut_stream", ...)
            self.tls_refused = 0  # TLS handshakes that failed (no/unverified client certificate, not TLS at all)
            self.fault_sleeps = 0  # fault delays begun (latency, slow, stall, each chunk latency gap)
            # account id -> most API requests it had in flight at once
            self.max_concurrency_by_account: Counter[str] = Counter(self.in_flight_by_account)
            self.over_concurrency: Counter[str] = Counter()  # account id -> 429s for its concurrency limit
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[Stats], bool], timeout: float = 10.0) -> bool:
        """Block until predicate(self) holds (re-checked on every update); False after `timeout`
        seconds, which only guards against a hang."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def _update(self, change: Callable[[], Any]) -> Any:
        with self._cond:
            result = change()
            self._cond.notify_all()
            return result

    def count_request(self, key: str) -> None:
        self._update(lambda: self.requests.update((key,)))

    def count_oauth(self) -> None:
        def change():
            self.oauth_calls += 1

        self._update(change)

    def count_token(self) -> None:
        def change():
            self.token_calls += 1

        self._update(change)

    def count_tls_refused(self) -> None:
        def change():
            self.tls_refused += 1

        self._update(change)

    def count_status(self, status: int) -> None:
        def change():
            self.status_counts[status] += 1
            if status == 429:
                self.rate_limited += 1

        self._update(change)

    def count_fault(self, kind: str) -> None:
        self._update(lambda: self.faults.update((kind,)))

    def enter(self) -> int:
        """An API request starts; returns how many are in flight now (this one included)."""

        def change():
            self.in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self.in_flight)
            return self.in_flight

        return self._update(change)

    def leave(self) -> None:
        def change():
            self.in_flight -= 1

        self._update(change)

    def enter_account(self, account: str, limit: int | None) -> bool:
        """An API request of `account` starts, unless it already has `limit` in flight (None: no
        limit): then False and nothing is counted."""

        def change():
            if limit is not None and self.in_flight_by_account[account] >= limit:
                return False
            self.in_flight_by_account[account] += 1
            self.max_concurrency_by_account[account] = max(
                self.max_concurrency_by_account[account], self.in_flight_by_account[account]
            )
            return True

        return self._update(change)

    def begin_sleep(self) -> None:
        def change():
            self.sleeping += 1
            self.fault_sleeps += 1

        self._update(change)

    def end_sleep(self) -> None:
        def change():
            self.sleeping -= 1

        self._update(change)

    def count_over_concurrency(self, account: str) -> None:
        self._update(lambda: self.over_concurrency.update((account,)))

    def leave_account(self, account: str) -> None:
        def change():
            self.in_flight_by_account[account] -= 1
            if self.in_flight_by_account[account] <= 0:
                del self.in_flight_by_account[account]

        self._update(change)


class RateWindow:
    """At most `limit` admissions per key within any `per` seconds (a sliding window). `clock` is
    replaceable so tests can count admissions without depending on how fast the machine is."""

    def __init__(self, limit: int | None, per: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.per = per
        self.clock = clock
        self._lock = threading.Lock()
        self._times: dict[Any, deque[float]] = {}

    def admit(self, key: Any) -> float | None:
        """None: admitted (and counted). Else the seconds until the oldest admission leaves the window."""
        if self.limit is None:
            return None
        now = self.clock()
        with self._lock:
            times = self._times.setdefault(key, deque())
            while times and times[0] <= now - self.per:
                times.popleft()
            if len(times) >= self.limit:
                return max(times[0] + self.per - now, 0.0)
            times.append(now)
            return None


@dataclass
class RecordedRequest:
    method: str
    path: str  # relative to the API base for API paths ("/chat/completions"), else the raw path
    headers: Headers  # Authorization replaced by "REDACTED"
    json: Any  # parsed JSON body, or None
    time: float
    auth_scheme: str | None = None  # "Bearer" / "Basic" of the redacted Authorization header
    form: dict[str, str] | None = None  # url-encoded form body (OAuth), or None
    status: int | None = None  # filled in when the response is sent (None: connection dropped)
    client_id: str | None = None  # whose token authorised this API call (tests check for cross-talk)
    dialect: str | None = None  # the dialect of the base path it came to (emulator/dialects.py)
    ranked_functions: list[str] | None = None  # the functions the ranker let the model see (None: no ranking)


@dataclass
class TokenInfo:
    expires_at_ms: int
    scope: str | None  # None: a user/password token
    owner: str | None = None  # client id of the key (or the user) the token was issued to


@dataclass(frozen=True)
class Account:
    """Who an API request is from, for limits counted per account."""

    id: str  # the key's client id, the user name (user/password) or "cert:<CN>:<serial>" (mutual TLS)
    kind: str  # the key of Emulator.concurrency: the token's scope, "user" or "certificate"
    scope: str | None = None
    plan: str = "business"  # "freemium" | "paid" (personal accounts) | "business" (dialects.plan_of)


class TokenStore:
    """Access tokens issued by OAuth or /token, with expiry and scope."""

    # Real tokens are JWE strings (~1.2 KB); similar-looking ones exercise the plugin's redaction.
    _JWE_HEADER = "eyJjdHkiOiJqd3QiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwiYWxnIjoiUlNBLU9BRVAtMjU2In0"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # unix seconds; tests may pass a fake one
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenInfo] = {}
        self.issued: list[str] = []

    def issue(self, ttl_ms: int, scope: str | None, owner: str | None = None) -> tuple[str, int]:
        parts = [self._JWE_HEADER] + [
            base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=") for n in (256, 16, 600, 32)
        ]
        token = ".".join(parts)
        expires_at = int(self.clock() * 1000) + int(ttl_ms)
        with self._lock:
            self._tokens[token] = TokenInfo(expires_at, scope, owner)
            self.issued.append(token)
        return token, expires_at

    def check(self, token: str) -> TokenInfo | None:
        """The token's info if it was issued here and has not expired."""
        with self._lock:
            info = self._tokens.get(token)
        if info is None or info.expires_at_ms <= self.clock() * 1000:
            return None
        return info

    def expire(self, token: str | None = None) -> None:
        """Expire one token, or every token issued so far."""
        now = int(self.clock() * 1000) - 1
        with self._lock:
            for t, info in self._tokens.items():
                if token is None or t == token:
                    info.expires_at_ms = min(info.expires_at_ms, now)


class Sessions:
    """X-Session-ID -> serialized messages of that session's previous request (prompt caching)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._previous: dict[str, list[str]] = {}

    def swap(self, session_id: str, messages: list[str]) -> list[str]:
        """Store this request's messages; return the previous request's ([] on the first)."""
        with self._lock:
            previous = self._previous.get(session_id, [])
            self._previous[session_id] = messages
            return previous


@dataclass
class ScriptedReply:
    content: str = ""
    reasoning_content: str | None = None
    function_call: dict | None = None
    finish_reason: str | None = None  # None: "function_call" with a function_call, else "stop"
    chunks: list[str] | None = None  # how a stream splits `content`
    usage: dict | None = None  # overrides the computed usage fields given
    function_calls: list[dict] | None = None  # several calls in one answer (v2 only), after function_call

    def calls(self) -> list[dict]:
        return ([self.function_call] if self.function_call else []) + list(self.function_calls or [])


class ReplyQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[ScriptedReply] = deque()

    def put(self, reply: ScriptedReply) -> None:
        with self._lock:
            self._queue.append(reply)

    def take(self) -> ScriptedReply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)


@dataclass
class RequestLog:
    entries: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: RecordedRequest) -> None:
        with self.lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


class State:
    """Everything one emulator's endpoints read and change, and the few decisions that combine it.
    Endpoints get this object, never the Emulator: its parts are FileStore, Faults, Capabilities,
    Hosts, Stats, TokenStore, Sessions, ReplyQueue, RequestLog, each with its own interface.

    `keys`: authorization key -> scopes; `users`: name -> password (on-premise /token);
    `concurrency`: API requests in flight per account kind (None: unlimited), `reset()` restores
    `default_concurrency`; `paid_accounts`: client ids of personal keys on a paid plan."""

    def __init__(
        self,
        keys: dict[str, set[str]],
        users: dict[str, str],
        token_ttl_ms: int,
        oauth_shape: str,
        oauth_rate_limit: int | None,
        concurrency: dict[str, int | None],
        paid_accounts: set[str],
        clock: Callable[[], float],
    ) -> None:
        self.keys = {k: set(v) for k, v in keys.items()}
        self.users = dict(users)
        self.token_ttl_ms = token_ttl_ms
        self.oauth_shape = oauth_shape
        self.oauth_limit = RateWindow(oauth_rate_limit, per=1.0)
        self.default_concurrency = dict(concurrency)
        self.concurrency = dict(concurrency)
        self.paid_accounts = set(paid_accounts)
        self.stats = Stats()
        self.faults = Faults()
        self.capabilities = Capabilities()
        self.hosts = Hosts()
        self.tokens = TokenStore(clock)
        self.files = FileStore()
        self.sessions = Sessions()
        self.replies = ReplyQueue()
        self.log = RequestLog()

    def account_of_token(self, token: str) -> Account | None:
        """Whose token this is, with its plan, or None: unknown or expired."""
        info = self.tokens.check(token)
        if info is None:
            return None
        if info.scope is None:
            return Account(str(info.owner), "user")  # the user name (client ids are uuids)
        return Account(str(info.owner), info.scope, info.scope, plan_of(info.scope, info.owner, self.paid_accounts))

    def issue_token(self, scope: str | None, owner: str) -> tuple[str, int]:
        return self.tokens.issue(self.token_ttl_ms, scope, owner)

    def previous_messages(self, session: str | None, messages: list[str]) -> list[str]:
        """The session's previous request's serialized messages ([] without a session or on its
        first request); this request's are kept for the next."""
        return self.sessions.swap(session, messages) if session else []

    def reset(self, drain_seconds: float) -> None:
        """Healthy and empty again (tokens and files stay)."""
        self.concurrency = dict(self.default_concurrency)
        self.faults.clear()
        self.capabilities.clear()
        self.hosts.reset()
        # requests a fault kept busy (a stall whose client has gone) end now; wait for them, so
        # they count neither against their account's concurrency nor in the fresh counters
        self.stats.wait_until(lambda s: s.in_flight == 0, timeout=drain_seconds)
        self.stats.reset()
        self.log.clear()
        self.replies.clear()
