"""THE classification of a failure: what an exception of the SDK, httpx or a socket means, given
which request failed (its address, and what it asked for beyond a plain answer).

Every reader decides from this, never from statuses or wordings of its own: ``errors.py`` turns a
Failure into Dify's error and words, ``retry.py`` decides what is worth repeating, provider
validation names the address on top, structured output falls back when the schema was refused,
re-uploads follow a lost file, and embeddings re-split a batch GigaChat found too long.

Pure: it knows GigaChat's answers, not Dify, the form or the connection layer (no import of them).

Which request failed is read from the failed URL: every API call ends in an endpoint the plugin
knows (``/chat/completions``, ``/embeddings``...), appended to the Base URL; the one request to an
address the administrator typed whole is the OAuth token request. What the request asked for
(``Asked``: structured output, reasoning, built-in tools, the model) comes from its caller.
"""

from __future__ import annotations

import enum
import json
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit

import gigachat.exceptions as gx
import httpx
import pydantic

from gigachat_dify.hosts import PREVIEW_SUFFIX, SPEC_HOST

# ---- the failed request --------------------------------------------------------------------------


#: The on-premise token endpoint under the Base URL (user and password mode; the SDK posts there).
TOKEN_PATH = "/token"


class Endpoint(enum.Enum):
    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    MODELS = "models"
    FILES = "files"
    TOKENS_COUNT = "tokens count"
    TOKEN = "token"  # on-premise user and password: {Base URL}/token
    BALANCE = "balance"


_ENDPOINTS = tuple((re.compile(pattern + r"$"), endpoint) for pattern, endpoint in (
    (r"/chat/completions", Endpoint.CHAT),
    (r"/embeddings", Endpoint.EMBEDDINGS),
    (r"/models(?:/[^/]+)?", Endpoint.MODELS),
    (r"/files(?:/[^/]+(?:/content|/delete)?)?", Endpoint.FILES),
    (r"/tokens/count", Endpoint.TOKENS_COUNT),
    (TOKEN_PATH, Endpoint.TOKEN),
    (r"/balance", Endpoint.BALANCE),
))
#: The API's version at the end of a Base URL's path (/api/v1, /v1); the SDK rewrites it to /v2.
_VERSIONED = re.compile(r"/v\d+$")


@dataclass(frozen=True)
class Address:
    """Where a failed HTTP request went: the endpoint and the Base URL's part of its path."""

    url: str
    host: str
    path: str
    endpoint: Endpoint | None  # None: not an API endpoint, so the OAuth URL
    base_path: str = ""

    @property
    def versioned(self) -> bool:
        """The Base URL ends with the API's version (/api/v1, /v1), as every GigaChat API does."""
        return bool(_VERSIONED.search(self.base_path))

    @property
    def model_list(self) -> bool:
        """GET /models itself (no model named): every GigaChat API serves it to any account."""
        return self.endpoint is Endpoint.MODELS and self.path.rstrip("/").endswith("/models")


def address(exc: BaseException) -> Address | None:
    url = getattr(exc, "url", None)
    if url is None:
        try:
            url = exc.request.url  # httpx errors
        except (AttributeError, RuntimeError):
            return None
    parts = urlsplit(str(url))
    path = parts.path.rstrip("/")
    for pattern, endpoint in _ENDPOINTS:
        match = pattern.search(path)
        if match:
            return Address(str(url), parts.netloc, parts.path, endpoint, path[:match.start()])
    return Address(str(url), parts.netloc, parts.path, None)


# ---- below HTTP ----------------------------------------------------------------------------------


class ProxyUnreachable(httpx.ConnectError):
    """Connecting failed while a proxy was in use: the proxy itself did not accept the connection
    (the target is reached by the proxy, so a connect failure can only be the proxy's).
    ``from_environment``: the proxy came from Dify's HTTP(S)_PROXY, not from the form."""

    def __init__(self, message: str, *, proxy: str, request: httpx.Request | None = None,
                 from_environment: bool = False):
        super().__init__(message, request=request)
        self.proxy = proxy  # host:port, never credentials
        self.from_environment = from_environment


class StreamCutOff(httpx.RemoteProtocolError):
    """An event stream ended before GigaChat said the answer was complete (``connection/sse.py``):
    below HTTP, like a dropped connection, so it is repeated while nothing was shown."""

    def __init__(self, events: int, last_words: str = ""):
        super().__init__(f"event stream ended after {events} events without its end")
        #: Data the server sent in an event the contract does not read (redacted, bounded), if any:
        #: often a gateway's own explanation.
        self.events, self.last_words = events, last_words


class StreamEventError(Exception):
    """GigaChat sent ``event: error`` in a stream; ``message``: its own words (redacted, bounded)."""

    def __init__(self, message: str, events: int):
        super().__init__(message)
        self.message, self.events = message, events


class UnreadableEvent(Exception):
    """A stream event the contract does not send; ``excerpt``: its data (redacted, bounded)."""

    def __init__(self, quoted: str, events: int):
        super().__init__(quoted)
        self.excerpt, self.events = quoted, events


class AnswerTooDeep(Exception):
    """GigaChat's answer (a stream event or a blocking answer) is JSON nested deeper than the plugin
    can read (``connection/answer_json.py``); ``events``: a stream's events read before it."""

    def __init__(self, events: int = 0):
        super().__init__("an answer nested too deeply to read")
        self.events = events


class EmbeddingResponseError(Exception):
    """GigaChat answered embeddings 200 with something that is not one embedding per input (its
    message says what, never quoting the answer's values; embeddings/http.py and execution.py raise
    it, execution.py repeats and words it). `not_api`: the answer was a web page, so the Base URL
    (or a proxy in front of it) is not the GigaChat API."""

    def __init__(self, message: str, *, not_api: bool = False) -> None:
        super().__init__(message)
        self.not_api = not_api


class Transport(enum.Enum):
    """What went wrong below HTTP."""

    SERVER_CERTIFICATE_UNTRUSTED = "server certificate untrusted"
    CLIENT_CERTIFICATE_REQUIRED = "client certificate required"
    CLIENT_CERTIFICATE_REFUSED = "client certificate refused"
    PROXY_AUTHENTICATION = "proxy authentication"
    PROXY_REFUSED = "proxy refused the connection"
    PROXY_UNREACHABLE = "proxy unreachable"
    CONNECT_TIMEOUT = "no connection in time"
    TIMEOUT = "no answer in time"
    UNREACHABLE = "unreachable"
    NOT_A_STREAM = "not a stream"
    DROPPED = "connection dropped"  # closed by the other side: a stale keep-alive connection, a restart
    CUT_OFF = "stream cut off"  # a stream ended properly but before GigaChat's end of the answer
    INTERRUPTED = "interrupted"


# TLS alerts a server sends about the client's certificate (OpenSSL reason codes, as received).
_CERTIFICATE_REQUIRED_ALERTS = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED"})
_CERTIFICATE_REFUSED_ALERTS = frozenset({
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "TLSV1_ALERT_ACCESS_DENIED",
})


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def ssl_failure(exc: BaseException) -> bool:
    """A TLS failure anywhere in the exception's causes."""
    return any(isinstance(e, ssl.SSLError) for e in _chain(exc))


def _ssl_reasons(exc: BaseException) -> set[str]:
    return {e.reason for e in _chain(exc) if isinstance(e, ssl.SSLError) and getattr(e, "reason", None)}


def is_tls_verification_failure(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e) for e in _chain(exc)
    )


def proxy_status(exc: BaseException | None) -> int | None:
    """The status a proxy refused with (0: unknown), or None when no proxy refused."""
    # httpx reports a refused CONNECT as ProxyError("<status> <reason>"); a plain-HTTP request
    # through a proxy gets the proxy's answer as a response (407 only ever comes from a proxy).
    if isinstance(exc, gx.ResponseError) and exc.status_code == 407:
        return 407
    if isinstance(exc, httpx.ProxyError):
        match = re.match(r"\s*(\d{3})\b", str(exc))
        return int(match.group(1)) if match else 0
    return None


def error_body(exc: gx.ResponseError) -> dict:
    """The JSON object GigaChat answered with, or {} when it answered something else."""
    try:
        data = json.loads(exc.content or b"")
        return data if isinstance(data, dict) else {}
    except (ValueError, TypeError):
        return {}


def is_html(exc: gx.ResponseError) -> bool:
    ctype = (exc.headers or {}).get("content-type", "") if exc.headers is not None else ""
    return "html" in ctype or (exc.content or b"").lstrip()[:1] == b"<"


def _nginx_client_certificate_page(exc: BaseException) -> bool:
    # nginx with ssl_verify_client answers 400 with this page (assumed front of mTLS hosts).
    return (isinstance(exc, gx.ResponseError) and exc.status_code in (400, 495, 496)
            and is_html(exc) and b"SSL certificate" in (exc.content or b""))


def misread_by_sdk(exc: BaseException) -> bool:
    """The SDK failed reading a 200 answer that is JSON but not the object it expects (``[]``, ``null``,
    a token answer without ``exp``...): it unpacks the decoded JSON into its models (``Model(**data)``,
    ``data["tok"]``), which raises TypeError or KeyError in its own code, not a validation error.
    Decided by where it was raised (the SDK's frame), so a TypeError of the plugin's own stays unexpected."""
    if not isinstance(exc, (TypeError, KeyError)) or exc.__traceback__ is None:
        return False
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith("gigachat.")


def redirect_target(exc: gx.ResponseError) -> str:
    """Where a 3xx answer points (its Location, made absolute), without user, password, query or
    fragment: a login portal's address may carry tokens. '' when there is none."""
    location = (exc.headers or {}).get("location", "") if exc.headers is not None else ""
    if not location:
        return ""
    try:
        parts = urlsplit(urljoin(str(exc.url), location.strip()))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


def transport_failure(exc: BaseException) -> Transport | None:
    """The kind of a failure below HTTP, or None for an answer of the API itself."""
    status = proxy_status(exc)
    if status == 407:
        return Transport.PROXY_AUTHENTICATION
    if status is not None:
        return Transport.PROXY_REFUSED
    if isinstance(exc, ProxyUnreachable):
        return Transport.PROXY_UNREACHABLE
    if _nginx_client_certificate_page(exc):
        return Transport.CLIENT_CERTIFICATE_REFUSED
    if not isinstance(exc, (httpx.TransportError, ConnectionError, ssl.SSLError)):
        return None
    reasons = _ssl_reasons(exc)
    if is_tls_verification_failure(exc):
        return Transport.SERVER_CERTIFICATE_UNTRUSTED
    if reasons & _CERTIFICATE_REQUIRED_ALERTS:
        return Transport.CLIENT_CERTIFICATE_REQUIRED
    if reasons & _CERTIFICATE_REFUSED_ALERTS:
        return Transport.CLIENT_CERTIFICATE_REFUSED
    if isinstance(exc, httpx.ConnectTimeout):
        return Transport.CONNECT_TIMEOUT
    if isinstance(exc, httpx.TimeoutException):
        return Transport.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Transport.UNREACHABLE
    if isinstance(exc, StreamCutOff):
        return Transport.CUT_OFF
    if isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError)):
        return Transport.DROPPED
    if isinstance(exc, httpx.TransportError) and "text/event-stream" in str(exc):
        return Transport.NOT_A_STREAM  # the SDK's words for a 200 answer that is not a stream
    return Transport.INTERRUPTED


# ---- what the request asked for, and what GigaChat refused ------------------------------------------


class Feature(enum.Enum):
    STRUCTURED_OUTPUT = "structured output"
    REASONING = "reasoning"
    TOOL = "built-in tool"
    MODEL = "model"


@dataclass(frozen=True)
class Asked:
    """What a chat request asked for beyond a plain answer: what a refusal can be about. Labels are
    the settings as Dify shows them, for messages that say what to switch off.

    ``reasoning``: the label of the setting that asked for reasoning ('' when not asked);
    ``tools``: the built-in tools it switched on, API name -> the switch's label."""

    model: str | None = None
    json_schema: bool = False
    reasoning: str = ""
    tools: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


NOTHING_ASKED = Asked()

#: Offered only to individuals on the freemium plan (GigaChat docs, updated 17 Jul 2026): paid
#: individuals and legal entities have no access, whatever the host.
FREEMIUM_ONLY_MODELS = frozenset({"GigaChat-3-Ultra"})


@dataclass(frozen=True)
class Refusal:
    """What GigaChat refused. ``features`` holds one feature when the answer names it; when it names
    none (``named`` false), every feature the request asked for that could be the reason."""

    features: tuple[Feature, ...]
    named: bool
    tools: tuple[str, ...] = ()  # API names, for Feature.TOOL
    by_host: bool = False  # 404: the host does not know it at all (else: not for this account or model)

    def __contains__(self, feature: Feature) -> bool:
        return feature in self.features


# Real wordings known (Sept 2026, api.giga.chat, LIVE_API_OBSERVATIONS): 422 "Tool code_interpreter
# is unavailable" (the account lacks the tool), 404 "Unknown tool <name>" (the host does not know
# it), 404 "No such model". Refusals of structured output and reasoning have no recorded wording:
# any mention of the feature counts.
_STRUCTURED_WORDS = ("response_format", "json_schema", "json schema", "structured")
_REFUSAL_STATUSES = (400, 403, 404, 422)
#: GigaChat's answer for an attachment id it no longer has ("Invalid params: file <id> not found";
#: the exact real wording is unverified, the issue reports "400 ... file ... not found").
_FILE_GONE = re.compile(r"\bfile\b.*\bnot found\b", re.IGNORECASE | re.DOTALL)


def _mentions(name: str, text: str) -> bool:
    """``name`` (an API name such as ``code_interpreter``) as a word of ``text``, also with spaces."""
    words = {name.lower(), name.lower().replace("_", " ")}
    return any(re.search(rf"(?<![a-z0-9_]){re.escape(w)}(?![a-z0-9_])", text) for w in words)


def refusal(exc: BaseException, asked: Asked = NOTHING_ASKED) -> Refusal | None:
    """THE refusal classifier: which feature of ``asked`` (or the model itself) GigaChat refused,
    or None when ``exc`` is not a refusal.

    Named: a 400/403/404/422 answer of the API to a chat (or embeddings) request that names the
    feature: an enabled tool by name (or "tool" while tools are on; 422 "Tool code_interpreter is
    unavailable", 404 "Unknown tool <name>" live), "reasoning" while reasoning was asked,
    ``response_format``/``json_schema``/"structured" while a schema was sent; the model, by name or
    as "model", in a 403 or 404 (404 "No such model").

    Unnamed: the real wordings of refused structured output and reasoning are unknown, so an
    answer naming nothing is taken as a refusal of every feature asked that could be its reason
    (structured output, reasoning; never a built-in tool, whose live refusals name it), and of the
    model when it is offered to a few accounts only (FREEMIUM_ONLY_MODELS). Decided for 403 as for
    400 and 422: a real refusal of a feature by account or scope may well come as a bare 403, and
    taking it for one costs at most one more free call (the structured-output fallback), whose
    own refusal is then reported, never remembered. A 404 that names nothing is an address problem.
    """
    if not isinstance(exc, gx.ResponseError) or exc.status_code not in _REFUSAL_STATUSES or is_oauth_error(exc):
        return None
    where = address(exc)
    if where is None or where.endpoint not in (Endpoint.CHAT, Endpoint.EMBEDDINGS):
        return None
    status = exc.status_code
    if status == 404 and not where.versioned:  # the Base URL lacks the API's path: nothing was refused
        return None
    if not error_body(exc):  # not the API's own answer (a web page, an empty body)
        return None
    text = api_message(exc).lower()
    if status != 404 and _FILE_GONE.search(text):
        return None
    tools = tuple(name for name in asked.tools if _mentions(name, text))
    if asked.tools and (tools or re.search(r"\btools?\b", text)):
        return Refusal((Feature.TOOL,), True, tools or tuple(asked.tools), by_host=status == 404)
    if asked.reasoning and "reasoning" in text:
        return Refusal((Feature.REASONING,), True)
    if asked.json_schema and any(w in text for w in _STRUCTURED_WORDS):
        return Refusal((Feature.STRUCTURED_OUTPUT,), True)
    if status in (403, 404) and ("model" in text or (asked.model and asked.model.lower() in text)):
        return Refusal((Feature.MODEL,), True, by_host=status == 404)
    if status == 404:
        return None
    candidates = tuple(feature for feature, on in (
        (Feature.STRUCTURED_OUTPUT, asked.json_schema),
        (Feature.REASONING, bool(asked.reasoning)),
        (Feature.MODEL, status == 403 and asked.model in FREEMIUM_ONLY_MODELS),
    ) if on)
    return Refusal(candidates, False) if candidates else None


# ---- the classification --------------------------------------------------------------------------


class Kind(enum.Enum):
    TRANSPORT = "below HTTP"  # Failure.transport says what
    OAUTH_REFUSED = "OAuth refused the key or scope"  # an answer of the OAuth service ({"code"})
    OAUTH_URL = "the OAuth URL is not GigaChat's OAuth service"
    LOGIN_REFUSED = "the installation refused the user or password"  # 401 from {Base URL}/token
    NO_TOKEN_ENDPOINT = "no /token endpoint"  # user and password on a host without one
    CREDENTIALS_REFUSED = "the API refused the credentials"  # 401 from the API itself
    FORBIDDEN = "access refused"  # 403 that refuses nothing the request asked for
    QUOTA_EXHAUSTED = "payment required"  # 402
    RATE_LIMITED = "rate limited"  # 429
    BASE_URL_PATH = "the Base URL lacks the API's version path"
    NOT_GIGACHAT = "the Base URL is not a GigaChat API"  # 404/405 without the API's answer, or of GET /models
    REDIRECTED = "redirected elsewhere"  # 3xx: never followed (the credentials would go with it)
    REFUSED = "refused"  # Failure.refusal says what
    NOT_FOUND = "not found"  # any other 404 of the API (a file)
    FILE_GONE = "an attached file is gone"
    TOO_LARGE = "too large"  # 413; an embeddings 422 (a text over the model's limit)
    INVALID_REQUEST = "invalid request"  # any other 400 or 422
    SERVER_ERROR = "server error"  # 5xx
    OTHER_STATUS = "another status"
    UNREADABLE = "an answer the plugin cannot read"
    STREAM_ERROR = "GigaChat reported an error in its stream"  # Failure.message: its words
    STREAM_UNREADABLE = "a stream event the plugin cannot read"  # Failure.message: the data
    TOO_DEEP = "an answer nested too deeply to read"  # valid JSON, deeper than the interpreter reads
    SDK = "the SDK refused"  # the SDK's own exceptions (its message says what)
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class Failure:
    kind: Kind
    status: int | None = None
    message: str = ""  # the API's own explanation, or a short neutral one
    where: Address | None = None
    transport: Transport | None = None
    refusal: Refusal | None = None
    oauth_code: int | None = None
    retry_after: float = 0.0
    events: int = 0  # a stream's events read before it failed (text may have been shown)
    location: str = ""  # REDIRECTED: where to (redirect_target: no user, password or query)


def is_oauth_error(exc: gx.ResponseError) -> bool:
    """An error of the OAuth service ({"code", "message"}), not of the API ({"status", "message"})."""
    body = error_body(exc)
    return "code" in body and "status" not in body


#: api.giga.chat's answer to a request of a shape it does not take, telling nothing else (live, Sep
#: 2026: function results in the recorded form, role "tool").
_SHAPE_REFUSAL = "invalid json syntax"


def says_only_shape_refused(exc: BaseException) -> bool:
    """The API refused the request's JSON shape and said nothing more (api.giga.chat's 400 "Your
    request contains invalid JSON syntax.")."""
    return isinstance(exc, gx.ResponseError) and _SHAPE_REFUSAL in api_message(exc).lower()


def api_message(exc: gx.ResponseError) -> str:
    """The API's own explanation (its JSON `message`), or a short neutral one."""
    body = error_body(exc)
    msg = body.get("message") or body.get("error") or ""
    if not msg and is_html(exc):
        return "the server answered with a web page, not the GigaChat API"
    return str(msg)[:500] if msg else f"HTTP {exc.status_code}"


def classify(exc: BaseException, asked: Asked = NOTHING_ASKED) -> Failure:
    """What ``exc`` means, for the request that raised it (``asked``: what it asked for)."""
    transport = transport_failure(exc)
    if transport is not None:
        return Failure(Kind.TRANSPORT, getattr(exc, "status_code", None), where=address(exc), transport=transport)
    if isinstance(exc, gx.ResponseError):
        return _answer(exc, asked)
    if isinstance(exc, StreamEventError):
        return Failure(Kind.STREAM_ERROR, message=exc.message, events=exc.events)
    if isinstance(exc, UnreadableEvent):
        return Failure(Kind.STREAM_UNREADABLE, message=exc.excerpt, events=exc.events)
    if isinstance(exc, AnswerTooDeep):
        return Failure(Kind.TOO_DEEP, events=exc.events)
    if isinstance(exc, (pydantic.ValidationError, json.JSONDecodeError)) or misread_by_sdk(exc):
        return Failure(Kind.UNREADABLE)
    if isinstance(exc, gx.GigaChatException):
        return Failure(Kind.SDK, message=str(exc))
    return Failure(Kind.UNEXPECTED)


def _answer(exc: gx.ResponseError, asked: Asked) -> Failure:
    status, body, where = exc.status_code, error_body(exc), address(exc)
    endpoint = where.endpoint if where else None

    def failure(kind: Kind, **extra) -> Failure:
        return Failure(kind, status, api_message(exc), where, **extra)

    if 300 <= status < 400 and redirect_target(exc):
        # httpx follows no redirect unless told (the plugin never tells it): the bearer token, the
        # key or the password must not go to an address the administrator did not enter.
        return failure(Kind.REDIRECTED, location=redirect_target(exc))
    if is_oauth_error(exc) and status != 429 and status < 500:
        return failure(Kind.OAUTH_REFUSED, oauth_code=body["code"] if isinstance(body["code"], int) else None)
    if status == 429:
        return failure(Kind.RATE_LIMITED, retry_after=float(getattr(exc, "retry_after", 0) or 0))
    if status == 402:
        return failure(Kind.QUOTA_EXHAUSTED)
    if status in (404, 405) and where is not None and endpoint is not None and not where.versioned:
        return failure(Kind.BASE_URL_PATH)  # also /token: the Base URL is the same, whatever the mode
    if endpoint is Endpoint.TOKEN:
        if status == 401:
            return failure(Kind.LOGIN_REFUSED)
        if status in (404, 405):
            return failure(Kind.NO_TOKEN_ENDPOINT)
    if where is not None and endpoint is None and (status in (404, 405) or is_html(exc)):
        return failure(Kind.OAUTH_URL)  # the one request to a URL typed whole
    if status == 401:
        return failure(Kind.CREDENTIALS_REFUSED)
    if status in (404, 405) and where is not None and where.model_list:
        return failure(Kind.NOT_GIGACHAT)  # every GigaChat API lists its models: this is not one
    refused = refusal(exc, asked)
    if refused is not None:
        return failure(Kind.REFUSED, refusal=refused)
    if status in (404, 405):
        return failure(Kind.NOT_FOUND if body.get("status") else Kind.NOT_GIGACHAT)
    if status == 403:
        return failure(Kind.FORBIDDEN)
    if status == 413 or (status == 422 and endpoint is Endpoint.EMBEDDINGS):
        return failure(Kind.TOO_LARGE)
    if status == 400 and endpoint is Endpoint.CHAT and _FILE_GONE.search(api_message(exc)):
        return failure(Kind.FILE_GONE)
    if status in (400, 422):
        return failure(Kind.INVALID_REQUEST)
    if status >= 500:
        return failure(Kind.SERVER_ERROR)
    return failure(Kind.OTHER_STATUS)


def too_long(exc: BaseException) -> bool:
    """An embeddings request GigaChat found too long (413, or 422 for a text over the model's
    limit): the batch is worth splitting further."""
    return classify(exc).kind is Kind.TOO_LARGE


def preview_model_elsewhere(failure: Failure, model: str | None) -> bool:
    """A -preview model asked of api.giga.chat, which serves none of them."""
    return bool(model and model.endswith(PREVIEW_SUFFIX) and failure.where and failure.where.host == SPEC_HOST)
