"""Fault injection: scripted and seeded-random failures for tests and soak runs."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

RANDOM_KINDS = ("429", "500", "502", "503", "cut_stream", "slow", "expire_token", "reset")


@dataclass
class Injection:
    status: int
    count: int
    path: str | None
    retry_after: float | None
    body: Any


@dataclass
class StreamFault:
    kind: str  # "cut" | "stall" | "end"
    after: int  # data events sent before the fault
    seconds: float = 0.0
    count: int = 1
    payload: bytes = b""  # "end": raw bytes sent before the response ends


class Hold:
    """Requests that stop and wait until the test releases them, so a test can have exactly N
    requests in flight (counted against their accounts) without relying on timing."""

    def __init__(self, count: int, path: str | None, after_events: int | None):
        self.count = count  # requests still to catch
        self.path = path
        self.after_events = after_events  # None: before the endpoint runs; k: a stream after k data events
        self._arrived = threading.Semaphore(0)
        self._released = threading.Event()

    def block(self) -> None:
        """Called by the server thread of a caught request."""
        self._arrived.release()
        self._released.wait()

    def wait_arrived(self, n: int = 1, timeout: float = 10.0) -> bool:
        """Until `n` more caught requests are waiting (`timeout` only guards against a hang)."""
        return all(self._arrived.acquire(timeout=timeout) for _ in range(n))

    def release(self) -> None:
        self._released.set()


@dataclass
class Decision:
    """What the random mode picked for one request."""

    kind: str  # one of RANDOM_KINDS
    after: int = 0  # cut_stream: events sent before the cut


def decide(seed: int, digest: bytes, occurrence: int, rates: dict[str, float]) -> Decision | None:
    """Pure: the fault (or None) for the `occurrence`-th sighting of the request with `digest`."""
    h = hashlib.sha256(seed.to_bytes(16, "big", signed=True) + digest + occurrence.to_bytes(8, "big")).digest()
    x = int.from_bytes(h[:8], "big") / 2**64
    for kind in RANDOM_KINDS:
        rate = rates.get(kind, 0.0)
        if x < rate:
            return Decision(kind, h[8] % 3)
        x -= rate
    return None


class Faults:
    """Thread-safe. Plain attributes (latency, chunk_latency, concurrency_cap, retry_after) are read
    per request, so tests may set them at any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on_refuse: Callable[[bool, str], None] | None = None
        self._on_expire: Callable[[], None] | None = None
        self.clear()

    # ---- what tests call ----------------------------------------------------------------------

    def clear(self) -> None:
        """Back to a healthy server (also accepts connections again). Requests sleeping in a
        latency, slow or stall fault wake up and go on at once."""
        with self._lock:
            wake = getattr(self, "_wake", None)
            self._wake = threading.Event()
            if wake is not None:
                wake.set()
            self.latency = 0.0
            self.chunk_latency = 0.0
            self.concurrency_cap: int | None = None
            self.retry_after: float = 1
            self._injections: list[Injection] = []
            self._stream_faults: list[StreamFault] = []
            self._finishes: list[list] = []  # [reason, count, path]
            for hold in getattr(self, "_holds", []):
                hold.release()  # nobody stays stuck
            self._holds: list[Hold] = []
            self._seed: int | None = None
            self._rates: dict[str, float] = {}
            self._seen: Counter[bytes] = Counter()  # request digest -> decisions taken for it
            self.slow_seconds = 3.0
            refusing, mode = getattr(self, "refusing", False), getattr(self, "refuse_mode", "reset")
            self.refusing = False
            self.refuse_mode = "reset"
        if refusing and self._on_refuse:
            self._on_refuse(False, mode)

    def inject(
        self,
        status: int = 503,
        count: int = 1,
        path: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        """The next `count` requests matching `path` (relative to the API base, e.g.
        "/chat/completions"; None: any API path) fail with `status`. `body`: None for the API error
        shape, a dict/list sent as JSON, or str/bytes sent as text/html (like a gateway page).
        429s always carry Retry-After (`retry_after`, else `faults.retry_after`)."""
        with self._lock:
            self._injections.append(Injection(status, count, path, retry_after, body))

    def hold(self, count: int = 1, path: str | None = None, after_events: int | None = None) -> Hold:
        """The next `count` API requests matching `path` (None: any) wait, in flight, until
        `hold.release()` (or clear()). `after_events=k`: a stream waits after its k-th data event
        (other replies just before they are sent)."""
        hold = Hold(count, path, after_events)
        with self._lock:
            self._holds.append(hold)
        return hold

    def take_hold(self, path: str) -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if hold.count > 0 and hold.path in (None, path):
                    hold.count -= 1
                    return hold
        return None

    def cut_stream_after(self, k: int, count: int = 1) -> None:
        """The next `count` streams send `k` data events, then the connection closes without [DONE]."""
        with self._lock:
            self._stream_faults.append(StreamFault("cut", k, 0.0, count))

    def end_stream_after(self, k: int, payload: bytes = b"", count: int = 1) -> None:
        """The next `count` streams send `k` data events, then `payload` (raw SSE bytes, e.g. an
        `event: error`), then end the response properly, without the rest (no finish_reason, no
        [DONE] or response.message.done): what a proxy that loses the upstream may show."""
        with self._lock:
            self._stream_faults.append(StreamFault("end", k, 0.0, count, bytes(payload)))

    def stall_stream_after(self, k: int, seconds: float, count: int = 1) -> None:
        """The next `count` streams send `k` data events, then hang `seconds` before going on."""
        with self._lock:
            self._stream_faults.append(StreamFault("stall", k, float(seconds), count))

    def finish(self, reason: str, count: int = 1, path: str | None = None) -> None:
        """The next `count` chat requests matching `path` (None: any chat path) end with `reason`,
        one of emulator.finish.ON_DEMAND (blacklist, error, function_call_error, request_blacklist,
        request_whitelist, request_filter, response_blacklist), blocking or streamed; each contract
        gets its own name for it (see emulator/finish.py)."""
        from emulator.finish import ON_DEMAND  # noqa: PLC0415 - the table lives with the answers

        if reason not in ON_DEMAND:
            raise ValueError(f"unknown finish reason {reason!r}; known: {', '.join(ON_DEMAND)}")
        with self._lock:
            self._finishes.append([reason, count, path])

    def take_finish(self, path: str) -> str | None:
        with self._lock:
            for rule in self._finishes:
                if rule[1] > 0 and rule[2] in (None, path):
                    rule[1] -= 1
                    if rule[1] == 0:
                        self._finishes.remove(rule)
                    return rule[0]
        return None

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on (clients get 401 and must re-auth)."""
        if self._on_expire:
            self._on_expire()

    def refuse_connections(self, on: bool = True, mode: str = "reset") -> None:
        """mode "reset": connections are accepted and closed at once, without a response (also
        kept-alive ones). mode "refuse": the server stops listening, so connecting fails
        (ECONNREFUSED), and listens again on the same port when turned off."""
        if mode not in ("reset", "refuse"):
            raise ValueError("mode must be 'reset' or 'refuse'")
        with self._lock:
            self.refusing = bool(on)
            self.refuse_mode = mode
        if self._on_refuse:
            self._on_refuse(bool(on), mode)

    def random(self, seed: int, rates: dict[str, float], slow_seconds: float | None = None) -> None:
        """Soak mode: each authorised API request gets at most one of RANDOM_KINDS at the given
        rates. The choice is a function of (seed, sha256 of method, path and body, how many times
        that request was seen before), not of arrival order: the same requests get the same faults
        in every run, however threads interleave, and a retry gets its own. (A request whose body
        differs every time, such as a multipart upload with a random boundary, gets fresh choices.)
        "slow" delays the response by `slow_seconds` (make it exceed the client timeout);
        "cut_stream" cuts a stream after 0-2 events (a non-streaming request loses its connection
        without a response); "expire_token" answers 401 as for an expired token (the client must
        renew it; the token itself stays valid for other requests, whose outcomes would otherwise
        depend on timing); "reset" closes the connection without answering (as a restarting
        server does)."""
        unknown = set(rates) - set(RANDOM_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; known: {RANDOM_KINDS}")
        if sum(rates.values()) > 1.0 + 1e-9 or any(r < 0 for r in rates.values()):
            raise ValueError("rates must be >= 0 and add up to at most 1")
        with self._lock:
            self._seed = int(seed)
            self._rates = dict(rates)
            self._seen = Counter()
            if slow_seconds is not None:
                self.slow_seconds = float(slow_seconds)

    # ---- what the server asks -----------------------------------------------------------------

    def waker(self) -> threading.Event:
        """Set by the next clear(): a request takes it when it arrives and waits on it in its
        fault sleeps, so clear() ends those sleeps, also the ones still to come."""
        with self._lock:
            return self._wake

    def take_injection(self, path: str, is_api: bool) -> Injection | None:
        with self._lock:
            for rule in self._injections:
                if rule.count > 0 and (rule.path == path or (rule.path is None and is_api)):
                    rule.count -= 1
                    if rule.count == 0:
                        self._injections.remove(rule)
                    return rule
        return None

    def take_stream_fault(self) -> StreamFault | None:
        with self._lock:
            if not self._stream_faults:
                return None
            fault = self._stream_faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._stream_faults.pop(0)
            return StreamFault(fault.kind, fault.after, fault.seconds, 1, fault.payload)

    def roll(self, request: bytes) -> Decision | None:
        """The random mode's decision for this request (its method, path and body)."""
        digest = hashlib.sha256(request).digest()
        with self._lock:
            if self._seed is None or not self._rates:
                return None
            seed, rates = self._seed, self._rates
            occurrence = self._seen[digest]
            self._seen[digest] += 1
        return decide(seed, digest, occurrence, rates)
