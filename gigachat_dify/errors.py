"""THE error table: every SDK and transport failure -> one Dify error with an actionable message.

Dify shows `message` to the app builder as is, so each message says what happened and what to
do, names no Python type, and never contains a secret (messages pass through redaction).
"""

from __future__ import annotations

import enum
import json
import logging
import re
import ssl
import traceback
from urllib.parse import urlsplit

import gigachat.exceptions as gx
import httpx
import pydantic
from dify_plugin.errors.model import (
    CredentialsValidateFailedError,
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
)

from gigachat_dify.connection import sse
from gigachat_dify.connection.credentials import BUSINESS_BASE_URL, HOSTS_HINT
from gigachat_dify.connection.proxy import ProxyUnreachable
from gigachat_dify.redaction import redact

logger = logging.getLogger(__name__)

#: The on-premise token endpoint under the API's base URL (user and password mode).
TOKEN_PATH = "/token"

CA_HINT = (
    "GigaChat's hosts use the Russian Trusted Root CA: paste that CA's PEM into the provider's "
    "'CA certificate' field (see the plugin README) and keep verification on."
)

_OAUTH_CODES = {
    1: "The OAuth scope is not valid (OAuth code 1): choose GIGACHAT_API_PERS, GIGACHAT_API_B2B or GIGACHAT_API_CORP.",
    4: "GigaChat could not read the authorization key (OAuth code 4): copy the 'Authorization key' "
    "from GigaChat Studio again, without spaces or quotes.",
    5: "The OAuth scope is empty (OAuth code 5): choose the scope of your GigaChat account.",
    6: "GigaChat does not recognise this authorization key (OAuth code 6): it is wrong or was revoked. "
    "Create a new key in GigaChat Studio and paste it here.",
    7: "The authorization key is valid but not for the chosen scope (OAuth code 7): pick the scope of your "
    "account: GIGACHAT_API_PERS for individuals, GIGACHAT_API_B2B for prepaid business, GIGACHAT_API_CORP "
    "for postpaid business.",
}


def error_body(exc: gx.ResponseError) -> dict:
    """The JSON object GigaChat answered with, or {} when it answered something else."""
    try:
        data = json.loads(exc.content or b"")
        return data if isinstance(data, dict) else {}
    except (ValueError, TypeError):
        return {}


def is_oauth_error(exc: gx.ResponseError) -> bool:
    """An error of the OAuth service ({"code", "message"}), not of the API ({"status", "message"})."""
    body = error_body(exc)
    return "code" in body and "status" not in body


def _is_html(exc: gx.ResponseError) -> bool:
    ctype = (exc.headers or {}).get("content-type", "") if exc.headers is not None else ""
    return "html" in ctype or (exc.content or b"").lstrip()[:1] == b"<"


def _host(exc: BaseException) -> str:
    url = getattr(exc, "url", None)
    if url is None:
        try:
            url = exc.request.url  # httpx errors
        except (AttributeError, RuntimeError):
            url = None
    return urlsplit(str(url)).netloc if url else "the GigaChat host"


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


class Transport(enum.Enum):
    """What went wrong below HTTP: THE classification (validation names the address on top)."""

    SERVER_CERTIFICATE_UNTRUSTED = "server certificate untrusted"
    CLIENT_CERTIFICATE_REQUIRED = "client certificate required"
    CLIENT_CERTIFICATE_REFUSED = "client certificate refused"
    PROXY_AUTHENTICATION = "proxy authentication"
    PROXY_REFUSED = "proxy refused the connection"
    PROXY_UNREACHABLE = "proxy unreachable"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    NOT_A_STREAM = "not a stream"
    INTERRUPTED = "interrupted"


# TLS alerts a server sends about the client's certificate (OpenSSL reason codes, as received).
_CERTIFICATE_REQUIRED_ALERTS = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED"})
_CERTIFICATE_REFUSED_ALERTS = frozenset({
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "TLSV1_ALERT_ACCESS_DENIED",
})


def ssl_failure(exc: BaseException) -> bool:
    """A TLS failure anywhere in the exception's causes."""
    return any(isinstance(e, ssl.SSLError) for e in _chain(exc))


def _ssl_reasons(exc: BaseException) -> set[str]:
    return {e.reason for e in _chain(exc) if isinstance(e, ssl.SSLError) and getattr(e, "reason", None)}


def is_tls_verification_failure(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e) for e in _chain(exc)
    )


def _proxy_status(exc: BaseException) -> int | None:
    # httpx reports a refused CONNECT as ProxyError("<status> <reason>"); a plain-HTTP request
    # through a proxy gets the proxy's answer as a response (407 only ever comes from a proxy).
    if isinstance(exc, gx.ResponseError) and exc.status_code == 407:
        return 407
    if isinstance(exc, httpx.ProxyError):
        match = re.match(r"\s*(\d{3})\b", str(exc))
        return int(match.group(1)) if match else 0
    return None


def _nginx_client_certificate_page(exc: BaseException) -> bool:
    # nginx with ssl_verify_client answers 400 with this page (assumed front of mTLS hosts).
    return (isinstance(exc, gx.ResponseError) and exc.status_code in (400, 495, 496)
            and _is_html(exc) and b"SSL certificate" in (exc.content or b""))


def transport_failure(exc: BaseException) -> Transport | None:
    """The kind of a failure below HTTP, or None for an answer of the API itself."""
    status = _proxy_status(exc)
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
    if isinstance(exc, httpx.TimeoutException):
        return Transport.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Transport.UNREACHABLE
    if isinstance(exc, httpx.TransportError) and "text/event-stream" in str(exc):
        return Transport.NOT_A_STREAM  # the SDK's words for a 200 answer that is not a stream
    return Transport.INTERRUPTED


def transport_message(kind: Transport, where: str, exc: BaseException | None = None) -> str:
    """What to tell for a transport failure at `where` (a host, or 'the OAuth URL (...)')."""
    proxy_name = getattr(exc, "proxy", None) or "the proxy"
    status = _proxy_status(exc) if exc is not None else None
    return {
        Transport.SERVER_CERTIFICATE_UNTRUSTED: f"The TLS certificate of {where} could not be verified. {CA_HINT}",
        Transport.CLIENT_CERTIFICATE_REQUIRED: (
            f"{where} requires a client certificate: choose the 'Client certificate' authentication mode and "
            "paste the certificate and private key issued for your GigaChat account."
        ),
        Transport.CLIENT_CERTIFICATE_REFUSED: (
            f"{where} refused the client certificate (not issued by a CA it trusts, revoked, or not registered "
            "for GigaChat): use the certificate issued for your GigaChat account."
        ),
        Transport.PROXY_AUTHENTICATION: (
            f"The proxy refused the credentials (407 Proxy Authentication Required) on the way to {where}: "
            "check the user and password in the 'Proxy URL' (http://user:password@host:port; characters "
            "such as @ : / in the password written as %40 %3A %2F)."
        ),
        Transport.PROXY_REFUSED: (
            f"The proxy refused to connect to {where}" + (f" ({status})" if status else "") +
            ": ask the network administrator to allow this GigaChat host through the proxy."
        ),
        Transport.PROXY_UNREACHABLE: (
            f"The proxy {proxy_name} cannot be reached (on the way to {where}): check the host and port in "
            "'Proxy URL', or clear the field (then the HTTPS_PROXY / HTTP_PROXY of Dify's environment apply)."
        ),
        Transport.TIMEOUT: (
            f"{where} did not answer in time. Check the address, network and proxy, or raise 'Request timeout'."
        ),
        Transport.UNREACHABLE: f"Could not connect to {where}. Check the address, DNS, proxy and firewall.",
        Transport.NOT_A_STREAM: (
            f"{where} did not answer with a GigaChat stream: check the Base URL points to the GigaChat API."
        ),
        Transport.INTERRUPTED: (
            f"The connection to {where} was interrupted before the answer was complete. Retry the request."
        ),
    }[kind]


def api_message(exc: gx.ResponseError) -> str:
    """The API's own explanation (its JSON `message`), or a short neutral one."""
    body = error_body(exc)
    msg = body.get("message") or body.get("error") or ""
    if not msg and _is_html(exc):
        return "the server answered with a web page, not the GigaChat API"
    return str(msg)[:500] if msg else f"HTTP {exc.status_code}"


def _path(exc: gx.ResponseError) -> str:
    return urlsplit(str(exc.url)).path


def stream_failure(exc: BaseException) -> tuple[type[InvokeError], str] | None:
    """An event stream that GigaChat cut off, reported an error in, or filled with something else
    (``connection/sse.py``); None for any other failure."""
    if isinstance(exc, sse.StreamCutOff):
        return InvokeConnectionError, (
            "GigaChat's answer was cut off: its stream ended before GigaChat marked the answer complete, so "
            "what was shown is incomplete. Retry the request; if it keeps happening, ask the network "
            "administrator whether a proxy between Dify and GigaChat closes long responses."
        )
    shown = "; the text shown so far is incomplete. Retry the request" if getattr(exc, "events", 0) else ""
    if isinstance(exc, sse.StreamEventError):
        return InvokeServerUnavailableError, f"GigaChat reported an error in its answer stream: \"{exc.message}\"{shown}."
    if isinstance(exc, sse.UnreadableEvent):
        if exc.events:
            return InvokeServerUnavailableError, (
                f"GigaChat's answer stream broke off with data the plugin cannot read (\"{exc.excerpt}\"){shown}."
            )
        return InvokeServerUnavailableError, (
            f"The server at the Base URL answered with an event stream the plugin cannot read (\"{exc.excerpt}\"): "
            "check the Base URL points to the GigaChat API."
        )
    return None


def describe(exc: BaseException) -> tuple[type[InvokeError], str]:
    """The single table: (Dify error class, message) for any exception."""
    if isinstance(exc, InvokeError):
        return type(exc), exc.description or str(exc)
    if isinstance(exc, CredentialsValidateFailedError):  # the form's values are unusable
        return InvokeAuthorizationError, str(exc)
    stream = stream_failure(exc)
    if stream is not None:
        return stream
    kind = transport_failure(exc)
    if kind is not None:
        cls = InvokeServerUnavailableError if kind is Transport.NOT_A_STREAM else InvokeConnectionError
        if kind in (Transport.CLIENT_CERTIFICATE_REQUIRED, Transport.CLIENT_CERTIFICATE_REFUSED,
                    Transport.PROXY_AUTHENTICATION):
            cls = InvokeAuthorizationError
        return cls, transport_message(kind, _host(exc), exc)
    if isinstance(exc, gx.ResponseError):
        body, host, status = error_body(exc), _host(exc), exc.status_code
        if is_oauth_error(exc) and body.get("code") in _OAUTH_CODES:
            return InvokeAuthorizationError, _OAUTH_CODES[body["code"]]
        if isinstance(exc, gx.AuthenticationError):
            if _path(exc).endswith(TOKEN_PATH):
                return InvokeAuthorizationError, (
                    f"The GigaChat installation at {host} rejected the user name or password (401 from "
                    f"{_path(exc)}): check them with its administrator."
                )
            return InvokeAuthorizationError, (
                f"GigaChat rejected the credentials ({api_message(exc)}). Check the authorization key and scope "
                "(or the client certificate, or the user and password, in those modes)."
            )
        if isinstance(exc, gx.ForbiddenError):
            return InvokeAuthorizationError, (
                f"GigaChat refused access (403: {api_message(exc)}): this account or scope is not allowed to use "
                "this model or method. Check the model is in your plan, or use a key with the right scope."
            )
        if status == 402:
            return InvokeRateLimitError, (
                "GigaChat answered 402 Payment Required: the token quota of this account is used up. "
                "Top up or buy a package in GigaChat Studio, or switch to a key with quota left."
            )
        if isinstance(exc, gx.RateLimitError):
            wait = f" GigaChat asked to retry after {exc.retry_after:g} s." if exc.retry_after else ""
            return InvokeRateLimitError, (
                f"GigaChat rate limit reached (429: {api_message(exc)}).{wait} Lower concurrency or retry later; "
                "personal (PERS) accounts allow very few parallel requests."
            )
        if isinstance(exc, gx.NotFoundError):
            if _path(exc).endswith(TOKEN_PATH):
                return InvokeAuthorizationError, (
                    f"{host} has no {TOKEN_PATH} endpoint: user and password work only with an on-premise GigaChat "
                    "installation. For GigaChat's public hosts use the authorization key or a client certificate."
                )
            if _is_html(exc) or not body:
                return InvokeBadRequestError, (
                    f"{host} answered 404 for {_path(exc)}: the Base URL does not point to the "
                    f"GigaChat API. {HOSTS_HINT}"
                )
            return InvokeBadRequestError, (
                f"GigaChat: {api_message(exc)} (404). Check the model name is available to this account "
                "(it must be one GigaChat lists for your key); GigaChat-3-Ultra is offered to business clients "
                f"at {BUSINESS_BASE_URL}."
            )
        if isinstance(exc, gx.RequestEntityTooLargeError):
            return InvokeBadRequestError, (
                f"GigaChat refused the request as too large (413: {api_message(exc)}). Send less text or smaller files."
            )
        if isinstance(exc, (gx.BadRequestError, gx.UnprocessableEntityError)):
            return InvokeBadRequestError, f"GigaChat rejected the request ({status}: {api_message(exc)})."
        if isinstance(exc, gx.ServerError):
            return InvokeServerUnavailableError, (
                f"GigaChat is temporarily unavailable ({status}: {api_message(exc)}). Retry in a moment."
            )
        return InvokeBadRequestError, f"GigaChat answered HTTP {status}: {api_message(exc)}."
    if isinstance(exc, (pydantic.ValidationError, json.JSONDecodeError)):
        return InvokeServerUnavailableError, (
            "GigaChat sent an answer the plugin could not read; check the Base URL points to the GigaChat API."
        )
    if isinstance(exc, gx.GigaChatException):
        return InvokeBadRequestError, redact(str(exc))
    _log_unexpected(exc)
    return InvokeServerUnavailableError, (
        "Unexpected failure in the GigaChat plugin; the plugin log has details. Retry, and report it if it repeats."
    )


def _log_unexpected(exc: BaseException) -> None:
    # The generic message says "the plugin log has details": this is them. The traceback is
    # formatted here and redacted, since exception texts may quote anything.
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger.error("Unexpected failure (%s): %s", type(exc).__name__, redact(trace))


def to_invoke_error(exc: BaseException, *, context: str = "") -> InvokeError:
    cls, message = describe(exc)
    if context:
        message = f"{message} [{context}]"
    return cls(redact(message))


def transform_invoke_error(error: Exception, *, context: str = "") -> InvokeError:
    """For the model classes' `_transform_invoke_error`: the SDK's default would prefix our message
    and replace every authorization message with a generic 'incorrect credentials'."""
    return error if isinstance(error, InvokeError) else to_invoke_error(error, context=context)


def to_credentials_error(exc: BaseException) -> CredentialsValidateFailedError:
    if isinstance(exc, CredentialsValidateFailedError):
        return exc
    _, message = describe(exc)
    return CredentialsValidateFailedError(redact(message))


# For LargeLanguageModel/TextEmbeddingModel._invoke_error_mapping: the SDK maps exceptions that
# escape _invoke by these classes; ours are already converted, so they map to themselves.
INVOKE_ERROR_MAPPING: dict[type[InvokeError], list[type[Exception]]] = {
    InvokeConnectionError: [InvokeConnectionError, httpx.TransportError],
    InvokeServerUnavailableError: [InvokeServerUnavailableError, gx.ServerError],
    InvokeRateLimitError: [InvokeRateLimitError, gx.RateLimitError],
    InvokeAuthorizationError: [InvokeAuthorizationError, gx.AuthenticationError, gx.ForbiddenError],
    InvokeBadRequestError: [InvokeBadRequestError, gx.BadRequestError, gx.UnprocessableEntityError, gx.NotFoundError],
}


def builtin_tool_refusal(exc: gx.ResponseError, enabled: dict[str, str]) -> InvokeBadRequestError | None:
    """GigaChat refused a built-in tool this request switched on (``enabled``: API name -> the
    switch's label): an error that names the switch to turn off; None for any other failure.

    The real wording of such a refusal is unverified (no recording shows one): a 400/403/422
    whose message names an enabled tool, or names "tool" while tools are on, is taken for one."""
    if not enabled or exc.status_code not in (400, 403, 422):
        return None
    text = api_message(exc)
    named = [name for name in enabled if name in text.lower()]
    if not named and "tool" not in text.lower():
        return None
    names = named or list(enabled)
    switches = " / ".join(f"'{enabled[n]}'" for n in names)
    return InvokeBadRequestError(redact(
        f"GigaChat does not offer the built-in tool {', '.join(names)} to this account or model "
        f"({exc.status_code}: {text}). Turn off {switches} in the model parameters, or use a model and "
        "account that offer it."
    ))
