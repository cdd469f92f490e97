"""The request pipeline above the transport: log, route (both base paths), OAuth and /token, bearer or
certificate auth, per-account limits, fault injection, then the endpoint (endpoints.py). It is the
wire.Handler the transport calls; it reads and changes only the emulator's `State`."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Iterator
from urllib.parse import parse_qs

from emulator.call import Call
from emulator.dialects import RECORDED_BASE, BasePath
from emulator.endpoints import API_ENDPOINTS, Endpoint, oauth_token, user_token
from emulator.errors import ApiError
from emulator.faults import Hold, Injection, StreamFault
from emulator.state import Account, RecordedRequest, State
from emulator.wire import (CUT, Cut, Drop, Headers, Reply, Request, Response, Stream, error_response,
                           json_response, nginx_page)

# Re-exported: what tests and benchmarks import from here.
__all__ = ["API_PREFIX", "OAUTH_PATH", "Api", "Drop", "Request", "Response", "Stream", "relative_path"]

API_PREFIX = RECORDED_BASE.v1  # the recorded host's base path; emulator/dialects.py has both
OAUTH_PATH = "/api/v2/oauth"

NOT_FOUND_HTML = nginx_page("404 Not Found")  # an unknown path: to detect a wrong base URL
FORBIDDEN_HTML = nginx_page("403 Forbidden")  # api.giga.chat's /v2/files (observed: "403 Forbidden (nginx)")

_ID = r"([^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/chat/completions$"), "chat"),
    ("POST", re.compile(r"^/embeddings$"), "embeddings"),
    ("POST", re.compile(r"^/tokens/count$"), "tokens_count"),
    ("GET", re.compile(r"^/models$"), "models"),
    ("GET", re.compile(rf"^/models/{_ID}$"), "model"),
    ("POST", re.compile(r"^/files$"), "upload"),
    ("GET", re.compile(r"^/files$"), "list_files"),
    ("GET", re.compile(rf"^/files/{_ID}$"), "get_file"),
    ("POST", re.compile(rf"^/files/{_ID}/delete$"), "delete_file"),
    ("GET", re.compile(rf"^/files/{_ID}/content$"), "file_content"),
    ("GET", re.compile(r"^/balance$"), "balance"),
]
STREAMING_ROUTES = ("chat", "chat_v2")


def relative_path(path: str, base: BasePath | None = RECORDED_BASE) -> tuple[str, bool]:
    """(path relative to the API base, whether it is under the API base)."""
    if base is not None and path.startswith(base.v1 + "/"):
        return path[len(base.v1) :], True
    return path, False


def _redacted(headers: Headers) -> tuple[Headers, str | None]:
    out = Headers(headers)
    scheme = None
    for key in list(out):
        if key.lower() == "authorization":
            scheme = str(out[key]).partition(" ")[0] or None
            out[key] = "REDACTED"
    return out, scheme


def _not_allowed() -> Response:
    return error_response(405, "Method Not Allowed")


class Api:
    """The wire.Handler of one emulator. `endpoints` maps route names to endpoint functions (a test
    may replace one on its own emulator)."""

    def __init__(self, state: State):
        self.state = state
        self.endpoints: dict[str, Endpoint] = dict(API_ENDPOINTS)

    # ---- wire.Handler ----------------------------------------------------------------------------

    def accepting(self) -> bool:
        return not self.state.faults.refusing

    def transport_event(self, kind: str) -> None:
        stats = self.state.stats
        if kind == "refused":
            stats.count_fault("refused")
        elif kind == "tls_refused":
            stats.count_tls_refused()
        elif kind == "too_large":
            stats.count_status(413)

    def handle(self, req: Request) -> Reply:
        call = req.context = self._call(req)
        if req.path == OAUTH_PATH:
            return self._auth(call, OAUTH_PATH, oauth_token, count=self.state.stats.count_oauth)
        base, dialect, rel = call.base, call.dialect, call.rel
        under_api = base is not None and req.path.startswith(base.v1 + "/")
        if under_api and rel == "/token" and dialect.offers_token_endpoint:
            return self._auth(call, "/token", user_token, count=self.state.stats.count_token)
        if base is not None and req.path == base.v2_chat:  # the SDK rewrites the base's /v1 to /v2
            return self._api(call, "chat_v2", ()) if req.method == "POST" else _not_allowed()
        if base is not None and dialect.v2_files_forbidden and (
                req.path == base.v2_root + "/files" or req.path.startswith(base.v2_root + "/files/")):
            return Response(403, FORBIDDEN_HTML, "text/html")
        route = self._route(req.method, rel) if under_api else None
        if route is None:
            if under_api and any(p.match(rel) for _, p, _ in _ROUTES):
                return _not_allowed()
            return Response(404, NOT_FOUND_HTML, "text/html")
        return self._api(call, *route)

    def finished(self, req: Request, status: int | None) -> None:
        call: Call | None = req.context
        stats = self.state.stats
        if call is None:
            return
        if call.in_flight:
            call.in_flight = False
            stats.leave()
        if call.account is not None:
            account, call.account = call.account, None
            stats.leave_account(account.id)
        call.record.status = status
        if status is not None:
            stats.count_status(status)

    # ---- the pipeline ------------------------------------------------------------------------------

    def _call(self, req: Request) -> Call:
        """The request recorded in the log and counted, with its base path and dialect."""
        state = self.state
        base = state.hosts.base_of(req.path)
        dialect = state.hosts.dialect(base) if base is not None else None
        rel, _ = relative_path(req.path, base)
        headers, scheme = _redacted(req.headers)
        record = RecordedRequest(req.method, rel, headers, None, time.time(), scheme,
                                 dialect=dialect.name if dialect else None)
        content_type = req.headers.get("Content-Type", "") or ""
        if "json" in content_type and req.body:
            try:
                record.json = json.loads(req.body)
            except ValueError:
                pass
        elif "x-www-form-urlencoded" in content_type or req.path == OAUTH_PATH:
            record.form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        state.log.add(record)
        state.stats.count_request(f"{req.method} {rel}")
        return Call(req, record, rel, base, dialect)

    @staticmethod
    def _route(method: str, rel: str) -> tuple[str, tuple[str, ...]] | None:
        for m, pattern, name in _ROUTES:
            match = pattern.match(rel)
            if match and m == method:
                return name, match.groups()
        return None

    def _auth(self, call: Call, path: str, endpoint: Endpoint, count) -> Reply:
        """OAuth and /token: counted, faultable by path, no bearer, no account limits."""
        if call.request.method != "POST":
            return _not_allowed()
        count()
        injected = self.state.faults.take_injection(path, is_api=False)
        if injected:
            return self._injected(injected, call.x_headers() if path == "/token" else None)
        return endpoint(call, self.state)

    def _api(self, call: Call, name: str, args: tuple[str, ...]) -> Reply:
        state, faults = self.state, self.state.faults
        x_headers = call.x_headers()
        wake = faults.waker()  # this request's fault sleeps end when faults are cleared
        call.in_flight = True
        in_flight = state.stats.enter()
        cap = faults.concurrency_cap
        if cap is not None and in_flight > cap:
            state.stats.count_fault("concurrency_cap")
            return self._too_many(x_headers)
        injected = faults.take_injection(call.rel, is_api=True)
        if injected:
            return self._injected(injected, x_headers)

        account = self._authorize(call)
        if account is None:
            return error_response(401, "Unauthorized", x_headers)
        if not state.stats.enter_account(account.id, state.concurrency.get(account.kind)):
            # the account's own limit (personal 1, business 10): the API's 429 with Retry-After
            state.stats.count_over_concurrency(account.id)
            return self._too_many(x_headers)
        call.account = account

        # Random mode decides after authorization: a request turned away with 401 (its token
        # really expired) takes no decision, so its retry gets the decision it would have got.
        delay = faults.latency
        cut_random: StreamFault | None = None
        decision = faults.roll(f"{call.request.method} {call.rel}\0".encode() + call.body)
        if decision is not None:
            state.stats.count_fault(f"random:{decision.kind}")
            if decision.kind in ("429", "500", "502", "503"):
                status = int(decision.kind)
                return self._too_many(x_headers) if status == 429 else error_response(status, None, x_headers)
            if decision.kind == "expire_token":
                # answered as an expired token is; the token keeps working for other requests, so
                # no other request's outcome depends on whether it came before or after this one
                # (faults.expire_tokens() expires every token for real)
                return error_response(401, "Unauthorized", x_headers)
            if decision.kind == "reset":
                return Drop()
            if decision.kind == "slow":
                delay += faults.slow_seconds
            elif decision.kind == "cut_stream":
                cut_random = StreamFault("cut", decision.after)

        hold = faults.take_hold(call.rel)
        if hold is not None and hold.after_events is None:
            hold.block()
        if delay > 0:
            self.fault_sleep(delay, wake)
        if cut_random is not None and not (name in STREAMING_ROUTES and _wants_stream(call.body)):
            return Drop()
        try:
            reply = self.endpoints[name](call, state, *args)
        except ApiError as e:
            return json_response(e.status, e.body(), {**x_headers, **e.headers})
        if isinstance(reply, Stream):
            fault = cut_random or faults.take_stream_fault()
            if fault is not None and cut_random is None:
                state.stats.count_fault(f"{fault.kind}_stream")
            reply.events = self._paced(list(reply.events), fault, hold, faults.chunk_latency, wake)
        elif hold is not None and hold.after_events is not None:
            hold.block()
        reply.headers = {**x_headers, **reply.headers}
        return reply

    def _paced(self, events: list[bytes], fault: StreamFault | None, hold: Hold | None, chunk_latency: float,
               wake: threading.Event) -> Iterator[bytes | Cut]:
        """A stream's events as the transport takes them, with the faults in between: a hold after
        `hold.after_events` events, a cut or a stall after `fault.after` (at the latest before the
        last event) or its early end (`fault.payload`, then nothing), chunk latency between events."""
        fault_at = min(fault.after, len(events) - 1) if fault else -1
        hold_at = min(hold.after_events, len(events) - 1) if hold is not None and hold.after_events is not None else -1
        for i, event in enumerate(events):
            if i == hold_at:
                hold.block()
            if i == fault_at:
                if fault.kind == "cut":
                    yield CUT
                    return
                if fault.kind == "end":  # the response ends properly, without the rest
                    if fault.payload:
                        yield fault.payload
                    return
                self.fault_sleep(fault.seconds, wake)
            elif i > 0 and chunk_latency > 0:
                self.fault_sleep(chunk_latency, wake)
            yield event

    def fault_sleep(self, seconds: float, wake: threading.Event) -> None:
        """A fault's delay (latency, slow, stall, chunk latency): over early when faults are cleared.
        `stats.sleeping` lets tests see a request waiting in one, without timing it."""
        self.state.stats.begin_sleep()
        try:
            wake.wait(seconds)
        finally:
            self.state.stats.end_sleep()

    def _authorize(self, call: Call) -> Account | None:
        """Whose request this is (a verified client certificate, else the bearer token), or None:
        unauthorized."""
        if call.request.peer_cert:
            account = Account(certificate_id(call.request.peer_cert), "certificate")
        else:
            token = _bearer(call.headers.get("Authorization"))
            account = self.state.account_of_token(token) if token else None
            if account is None:
                return None
        call.record.client_id = account.id
        return account

    def _too_many(self, x_headers: dict[str, str]) -> Response:
        return error_response(429, "Too many requests", {**x_headers, "Retry-After": _seconds(self.state.faults.retry_after)})

    def _injected(self, rule: Injection, x_headers: dict[str, str] | None = None) -> Reply:
        self.state.stats.count_fault(f"status:{rule.status}")
        headers = dict(x_headers or {})
        if rule.retry_after is not None or rule.status == 429:
            headers["Retry-After"] = _seconds(rule.retry_after if rule.retry_after is not None else self.state.faults.retry_after)
        if rule.body is None:
            return error_response(rule.status, None, headers)
        if isinstance(rule.body, (dict, list)):
            return json_response(rule.status, rule.body, headers)
        raw = rule.body.encode() if isinstance(rule.body, str) else bytes(rule.body)
        return Response(rule.status, raw, "text/html", headers)


def _wants_stream(body: bytes) -> bool:
    try:
        return bool(json.loads(body).get("stream"))
    except (ValueError, AttributeError):
        return False


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def certificate_id(peer_cert: dict) -> str:
    """Who a verified client certificate is: "cert:<subject CN>:<serial>"."""
    cn = next((v for rdn in peer_cert.get("subject", ()) for k, v in rdn if k == "commonName"), "")
    return f"cert:{cn}:{peer_cert.get('serialNumber', '')}"


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
