"""Request routing: OAuth, bearer auth, fault injection, then the endpoints. Transport-free: the
HTTP server hands in a Request and writes back whatever reply this returns."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs

from emulator import catalog, chat, embeddings, files, oauth, v2
from emulator import finish as rare
from emulator.dialects import INVALID_JSON, RECORDED_BASE, BasePath, Dialect, plan_of
from emulator.errors import NO_SUCH_MODEL, ApiError
from emulator.faults import Hold, Injection, StreamFault
from emulator.state import Account, Headers, RecordedRequest

if TYPE_CHECKING:
    from emulator.core import Emulator

API_PREFIX = RECORDED_BASE.v1  # the recorded host's base path; emulator/dialects.py has both
OAUTH_PATH = "/api/v2/oauth"

STATUS_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# What a web server that is not the GigaChat API answers for an unknown path.
def nginx_page(status: str) -> bytes:
    return (f"<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()


NOT_FOUND_HTML = nginx_page("404 Not Found")
FORBIDDEN_HTML = nginx_page("403 Forbidden")  # api.giga.chat's /v2/files (observed: "403 Forbidden (nginx)")


# ---- what goes in and out -------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str  # without the query string
    headers: Headers
    body: bytes
    peer_cert: dict | None = None  # verified TLS client certificate (mutual TLS)
    record: RecordedRequest | None = None
    in_flight: bool = False
    account: Account | None = None  # set while it counts against its account's concurrency
    base: BasePath | None = None  # the base path (host) it came to
    dialect: Dialect | None = None  # how that host speaks

    @property
    def plan(self) -> str | None:
        return self.account.plan if self.account is not None else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    events: list[bytes]  # encoded SSE events, [DONE] last
    headers: dict[str, str] = field(default_factory=dict)
    fault: StreamFault | None = None
    chunk_latency: float = 0.0
    hold: Hold | None = None  # waits after hold.after_events data events
    wake: threading.Event | None = None  # ends the stream's fault sleeps early (faults.clear())


@dataclass
class Drop:
    """Close the connection without answering."""


Reply = Response | Stream | Drop


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), headers=dict(headers or {}))


def error_response(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"status": status, "message": message or STATUS_MESSAGES.get(status, "Error")}, headers)


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


# ---- routing ----------------------------------------------------------------------------------------

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


class Api:
    def __init__(self, emu: Emulator):
        self.emu = emu

    # The server calls handle(), writes the reply, then finished() with the status sent (None: none).
    def handle(self, req: Request) -> Reply:
        emu = self.emu
        req.base = emu._hosts.base_of(req.path)
        req.dialect = emu._hosts.dialect(req.base) if req.base is not None else None
        rel, under_api = relative_path(req.path, req.base)
        headers, scheme = _redacted(req.headers)
        req.record = RecordedRequest(req.method, rel, headers, None, time.time(), scheme,
                                     dialect=req.dialect.name if req.dialect else None)
        content_type = req.headers.get("Content-Type", "") or ""
        if "json" in content_type and req.body:
            try:
                req.record.json = json.loads(req.body)
            except ValueError:
                pass
        elif "x-www-form-urlencoded" in content_type or req.path == OAUTH_PATH:
            req.record.form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        emu._log.add(req.record)
        emu.stats.count_request(f"{req.method} {rel}")

        if req.path == OAUTH_PATH:
            return self._oauth(req) if req.method == "POST" else error_response(405, "Method Not Allowed")
        if under_api and rel == "/token" and req.dialect.offers_token_endpoint:
            return self._token(req) if req.method == "POST" else error_response(405, "Method Not Allowed")
        if req.base is not None and req.path == req.base.v2_chat:  # the SDK rewrites the base's /v1 to /v2
            return self._api(req, rel, "chat_v2", ()) if req.method == "POST" else error_response(405, "Method Not Allowed")
        if req.base is not None and req.dialect.v2_files_forbidden and (
                req.path == req.base.v2_root + "/files" or req.path.startswith(req.base.v2_root + "/files/")):
            return Response(403, FORBIDDEN_HTML, "text/html")
        route = self._route(req.method, rel) if under_api else None
        if route is None:
            if under_api and any(p.match(rel) for _, p, _ in _ROUTES):
                return error_response(405, "Method Not Allowed")
            return Response(404, NOT_FOUND_HTML, "text/html")
        name, args = route
        return self._api(req, rel, name, args)

    def finished(self, req: Request, status: int | None) -> None:
        if req.in_flight:
            req.in_flight = False
            self.emu.stats.leave()
        if req.account is not None:
            account, req.account = req.account, None
            self.emu.stats.leave_account(account.id)
        if req.record is not None:
            req.record.status = status
        if status is not None:
            self.emu.stats.count_status(status)

    @staticmethod
    def _route(method: str, rel: str) -> tuple[str, tuple[str, ...]] | None:
        for m, pattern, name in _ROUTES:
            match = pattern.match(rel)
            if match and m == method:
                return name, match.groups()
        return None

    # ---- auth endpoints --------------------------------------------------------------------------

    def _oauth(self, req: Request) -> Reply:
        emu = self.emu
        emu.stats.count_oauth()
        injected = emu.faults.take_injection(OAUTH_PATH, is_api=False)
        if injected:
            return self._injected(injected)
        owner = oauth.client_id(req.headers.get("Authorization"))
        wait = emu.oauth_limit.admit(owner)
        if wait is not None:
            return json_response(429, oauth.RATE_LIMITED_BODY, {"Retry-After": str(max(1, math.ceil(wait)))})
        form = req.record.form if req.record and req.record.form else {}
        try:
            scope = oauth.check_oauth(req.headers.get("RqUID"), req.headers.get("Authorization"), form.get("scope"), emu.keys)
        except oauth.OAuthError as e:
            return json_response(e.status, e.body())
        token, expires_at = emu._tokens.issue(emu.token_ttl_ms, scope, owner)
        return json_response(200, oauth.token_body(emu.oauth_shape, token, expires_at))

    def _token(self, req: Request) -> Reply:
        emu = self.emu
        emu.stats.count_token()
        injected = emu.faults.take_injection("/token", is_api=False)
        if injected:
            return self._injected(injected)
        user = oauth.check_user_password(req.headers.get("Authorization"), emu.users)
        if user is None:
            return error_response(401, "Unauthorized", self._x_headers(req))
        token, expires_at = emu._tokens.issue(emu.token_ttl_ms, None, user)
        # exp in seconds, as the OAuth endpoint's tok/exp answer (inferred: no /token recording)
        return json_response(200, oauth.token_body("tok", token, expires_at), self._x_headers(req))

    # ---- API endpoints ---------------------------------------------------------------------------

    def _api(self, req: Request, rel: str, name: str, args: tuple[str, ...]) -> Reply:
        emu, faults = self.emu, self.emu.faults
        x_headers = self._x_headers(req)
        wake = faults.waker()  # this request's fault sleeps end when faults are cleared
        req.in_flight = True
        in_flight = emu.stats.enter()
        cap = faults.concurrency_cap
        if cap is not None and in_flight > cap:
            emu.stats.count_fault("concurrency_cap")
            return error_response(429, "Too many requests", {**x_headers, "Retry-After": _seconds(faults.retry_after)})
        injected = faults.take_injection(rel, is_api=True)
        if injected:
            return self._injected(injected, x_headers)

        account = self._authorize(req)
        if account is None:
            return error_response(401, "Unauthorized", x_headers)
        if not emu.stats.enter_account(account.id, emu.concurrency.get(account.kind)):
            # the account's own limit (personal 1, business 10): the API's 429 with Retry-After
            emu.stats.count_over_concurrency(account.id)
            return error_response(429, "Too many requests", {**x_headers, "Retry-After": _seconds(faults.retry_after)})
        req.account = account

        # Random mode decides after authorization: a request turned away with 401 (its token
        # really expired) takes no decision, so its retry gets the decision it would have got.
        delay = faults.latency
        cut_random: StreamFault | None = None
        decision = faults.roll(f"{req.method} {rel}\0".encode() + req.body)
        if decision is not None:
            emu.stats.count_fault(f"random:{decision.kind}")
            if decision.kind in ("429", "500", "502", "503"):
                status = int(decision.kind)
                extra = {"Retry-After": _seconds(faults.retry_after)} if status == 429 else {}
                return error_response(status, None, {**x_headers, **extra})
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

        hold = faults.take_hold(rel)
        if hold is not None and hold.after_events is None:
            hold.block()
        if delay > 0:
            self.fault_sleep(delay, wake)
        if cut_random is not None and not (name in ("chat", "chat_v2") and self._wants_stream(req)):
            return Drop()
        try:
            handler: Callable[..., Reply] = getattr(self, f"_ep_{name}")
            reply = handler(req, *args, scope=account.scope)
        except ApiError as e:
            return json_response(e.status, e.body(), {**x_headers, **e.headers})
        if hold is not None and hold.after_events is not None:
            if isinstance(reply, Stream):
                reply.hold = hold
            else:
                hold.block()
        if isinstance(reply, Stream):
            reply.fault = cut_random or faults.take_stream_fault()
            reply.chunk_latency = faults.chunk_latency
            reply.wake = wake
            if reply.fault is not None and cut_random is None:
                emu.stats.count_fault(f"{reply.fault.kind}_stream")
        reply.headers = {**x_headers, **reply.headers}
        return reply

    def fault_sleep(self, seconds: float, wake: threading.Event) -> None:
        """A fault's delay (latency, slow, stall, chunk latency): over early when faults are cleared.
        `emu.stats.sleeping` lets tests see a request waiting in one, without timing it."""
        self.emu.stats.begin_sleep()
        try:
            wake.wait(seconds)
        finally:
            self.emu.stats.end_sleep()

    def _authorize(self, req: Request) -> Account | None:
        """Whose request this is (a verified client certificate, else the bearer token), or None:
        unauthorized."""
        if req.peer_cert:
            account = Account(certificate_id(req.peer_cert), "certificate")
        else:
            token = _bearer(req.headers.get("Authorization"))
            info = self.emu._tokens.check(token) if token else None
            if info is None:
                return None
            if info.scope is None:
                account = Account(str(info.owner), "user")  # the user name (client ids are uuids)
            else:
                plan = plan_of(info.scope, info.owner, self.emu.paid_accounts)
                account = Account(str(info.owner), info.scope, info.scope, plan)
        if req.record is not None:
            req.record.client_id = account.id
        return account

    def _injected(self, rule: Injection, x_headers: dict[str, str] | None = None) -> Reply:
        self.emu.stats.count_fault(f"status:{rule.status}")
        headers = dict(x_headers or {})
        if rule.retry_after is not None or rule.status == 429:
            headers["Retry-After"] = _seconds(rule.retry_after if rule.retry_after is not None else self.emu.faults.retry_after)
        if rule.body is None:
            return error_response(rule.status, None, headers)
        if isinstance(rule.body, (dict, list)):
            return json_response(rule.status, rule.body, headers)
        raw = rule.body.encode() if isinstance(rule.body, str) else bytes(rule.body)
        return Response(rule.status, raw, "text/html", headers)

    @staticmethod
    def _x_headers(req: Request) -> dict[str, str]:
        # Echo the caller's ids, else make new ones (the real API always answers with both).
        return {
            "X-Request-Id": req.headers.get("X-Request-ID") or str(uuid.uuid4()),
            "X-Session-Id": req.headers.get("X-Session-ID") or str(uuid.uuid4()),
        }

    @staticmethod
    def _json(req: Request) -> Any:
        try:
            return json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, INVALID_JSON) from None

    def _wants_stream(self, req: Request) -> bool:
        try:
            return bool(json.loads(req.body).get("stream"))
        except (ValueError, AttributeError):
            return False

    def _chat_body(self, req: Request) -> Any:
        body = self._json(req)
        if isinstance(body, dict):  # a model this account's plan does not get is no model at all
            req.dialect.check_model(body.get("model"), req.plan)
        return body

    def _finish_fault(self, req: Request, contract: str) -> str | None:
        reason = self.emu.faults.take_finish(req.record.path if req.record else req.path)
        if reason is None:
            return None
        self.emu.stats.count_fault(f"finish:{reason}")
        return rare.for_contract(reason, contract)

    def _ep_chat(self, req: Request, *, scope: Any) -> Reply:
        emu = self.emu
        body = self._chat_body(req)
        chat.validate_chat(body, emu._files)
        chat.check_capabilities(body, emu.capabilities, emu._files)
        body, ranked = chat.rank_functions(body)
        req.record.ranked_functions = ranked
        finish_reason = self._finish_fault(req, "v1")
        scripted = emu._replies.take() if finish_reason is None else None
        session = req.headers.get("X-Session-ID")
        previous = emu._sessions.swap(session, chat.serialize_messages(body["messages"])) if session else []
        completion = chat.complete(body, emu._files, scripted, previous, finish_reason)
        if body.get("stream"):
            events = [sse(c) for c in chat.stream_chunks(completion, body["model"])] + [b"data: [DONE]\n\n"]
            return Stream(events)
        return json_response(200, chat.response_body(completion, body["model"]))

    def _ep_chat_v2(self, req: Request, *, scope: Any) -> Reply:
        emu = self.emu
        body = self._chat_body(req)
        v2.validate(body, emu._files, req.dialect, req.plan)
        v2.check_capabilities(body, emu.capabilities, emu._files)
        body, ranked = v2.rank_functions(body)
        req.record.ranked_functions = ranked
        finish_reason = self._finish_fault(req, "v2")
        scripted = emu._replies.take() if finish_reason is None else None
        session = req.headers.get("X-Session-ID")
        previous = emu._sessions.swap(session, v2.serialize_messages(body["messages"])) if session else []
        answer = v2.complete(body, emu._files, scripted, previous, req.dialect, finish_reason)
        if body.get("stream"):
            return Stream(v2.stream_events(answer, body["model"], req.dialect))
        return json_response(200, v2.response_body(answer, body["model"]))

    def _ep_embeddings(self, req: Request, *, scope: Any) -> Reply:
        return Response(200, embeddings.embeddings_json(self._json(req)))

    def _ep_tokens_count(self, req: Request, *, scope: Any) -> Reply:
        return json_response(200, embeddings.tokens_count(self._chat_body(req)))

    def _ep_models(self, req: Request, *, scope: Any) -> Reply:
        return json_response(200, req.dialect.models_list(req.plan))

    def _ep_model(self, req: Request, model_id: str, *, scope: Any) -> Reply:
        if model_id not in catalog.MODEL_TYPES or not req.dialect.offers_model(model_id, req.plan):
            raise ApiError(404, NO_SUCH_MODEL)
        return json_response(200, catalog.model_entry(model_id))

    def _ep_upload(self, req: Request, *, scope: Any) -> Reply:
        parts = files.parse_multipart(req.headers.get("Content-Type", ""), req.body)
        upload = next((p for p in parts if p.name == "file"), None)
        if upload is None:
            raise ApiError(400, "Invalid params: file is required")
        purpose_part = next((p for p in parts if p.name == "purpose"), None)
        purpose = purpose_part.data.decode("utf-8", "replace") if purpose_part else "general"
        filename = upload.filename or "file"
        mime = files.resolve_mime(filename, upload.content_type)
        files.check_upload(filename, mime, len(upload.data), purpose)
        file_id = self.emu._files.add(filename, upload.data, purpose, mime)
        return json_response(200, req.dialect.describe_upload(self.emu._files.describe(file_id), mime))

    def _ep_list_files(self, req: Request, *, scope: Any) -> Reply:
        return json_response(200, self.emu._files.listing())

    def _known_file(self, file_id: str) -> files.StoredFile:
        stored = self.emu._files.get(file_id)
        if stored is None:
            raise ApiError(404, "File not found")
        return stored

    def _ep_get_file(self, req: Request, file_id: str, *, scope: Any) -> Reply:
        self._known_file(file_id)
        return json_response(200, self.emu._files.describe(file_id))

    def _ep_delete_file(self, req: Request, file_id: str, *, scope: Any) -> Reply:
        self._known_file(file_id)
        self.emu._files.delete(file_id)
        return json_response(200, {"id": file_id, "object": "file", "deleted": True})

    def _ep_file_content(self, req: Request, file_id: str, *, scope: Any) -> Reply:
        stored = self._known_file(file_id)
        return Response(200, stored.data, stored.mime)

    def _ep_balance(self, req: Request, *, scope: Any) -> Reply:
        # Postpaid (CORP) accounts have no balance: the SDK documents 403 for them.
        if scope == "GIGACHAT_API_CORP":
            raise ApiError(403, "Forbidden")
        return json_response(200, {"balance": [{"usage": usage, "value": value} for usage, value in BALANCE]})


BALANCE = [("embeddings", 9_999_967), ("GigaChat-Pro", 991_490), ("GigaChat-Max", 50_000), ("GigaChat", 900_000)]


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
