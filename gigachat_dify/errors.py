"""THE error table: every failure, as ``failures.py`` classifies it -> one Dify error with an
actionable message.

Dify shows `message` to the app builder as is, so each message says what happened and what to
do, names the form field or setting to change as the form labels it, names no Python type, and
never contains a secret (messages pass through redaction). What a failure *means* is decided in
``failures.py``; this module only words it. It imports nothing of the connection layer (which
imports it): the credentials describe themselves through the ``auth`` they are given.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import gigachat.exceptions as gx
import httpx
from dify_plugin.errors.model import (
    CredentialsValidateFailedError,
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
)

from gigachat_dify.failures import (
    FREEMIUM_ONLY_MODELS,
    NOTHING_ASKED,
    Asked,
    Failure,
    Feature,
    Kind,
    Transport,
    api_message,
    classify,
    preview_model_elsewhere,
    proxy_status,
)
from gigachat_dify.hosts import DEFAULT_AUTH_URL, DEFAULT_BASE_URL, HOSTS_HINT, SPEC_HOST, login_hint
from gigachat_dify.redaction import redact

if TYPE_CHECKING:  # annotation only: the connection layer imports this module
    from gigachat_dify.connection.auth import Auth

logger = logging.getLogger(__name__)

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


def _host(failure: Failure) -> str:
    return failure.where.host if failure.where and failure.where.host else "the GigaChat host"


def transport_message(kind: Transport, where: str, exc: BaseException | None = None) -> str:
    """What to tell for a transport failure at `where` (a host, or "the 'OAuth URL' (...)")."""
    proxy_name = getattr(exc, "proxy", None) or "the proxy"
    status = proxy_status(exc)
    if kind is Transport.PROXY_UNREACHABLE and getattr(exc, "from_environment", False):
        # The form's field is empty: the proxy came from the variables Dify's plugin daemon passes on.
        return (
            f"The proxy {proxy_name} cannot be reached (on the way to {where}): check HTTPS_PROXY / "
            "HTTP_PROXY (and NO_PROXY) in the environment of Dify's plugin daemon, which passes them to the "
            "plugin, or enter a reachable proxy in 'Proxy URL'."
        )
    late = f"{where} did not answer in time. Check the address, network and proxy, or raise 'Request timeout (seconds)'."
    cut = f"The connection to {where} was interrupted before the answer was complete. Retry the request."
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
        Transport.CONNECT_TIMEOUT: late,
        Transport.TIMEOUT: late,
        Transport.UNREACHABLE: f"Could not connect to {where}. Check the address, DNS, proxy and firewall.",
        Transport.NOT_A_STREAM: (
            f"{where} did not answer with a GigaChat stream: check the 'Base URL' points to the GigaChat API."
        ),
        Transport.DROPPED: cut,
        Transport.INTERRUPTED: cut,
        Transport.CUT_OFF: (
            "GigaChat's answer was cut off: its stream ended before GigaChat marked the answer complete, so "
            f"what was shown is incomplete.{_last_words(exc)} Retry the request; if it keeps happening, ask the "
            "network administrator whether a proxy between Dify and GigaChat closes long responses."
        ),
    }[kind]


def _last_words(exc: BaseException | None) -> str:
    words = getattr(exc, "last_words", "")
    return f' The last the server sent: "{words}".' if words else ""


def _base_url(failure: Failure) -> str:
    """The Base URL a failed API request was made under (scheme, host and the path before the endpoint)."""
    parts = urlsplit(failure.where.url)
    return f"{parts.scheme}://{parts.netloc}{failure.where.base_path}"


def _with_api_path(failure: Failure) -> str:
    """The Base URL a failed request was made under, with the API's path its host uses added."""
    host = urlsplit(failure.where.url).hostname or ""
    return _base_url(failure) + ("/v1" if host == SPEC_HOST else "/api/v1")


def refusal_message(failure: Failure, asked: Asked) -> str:
    """What to switch off (or choose instead) when GigaChat refused part of the request."""
    refused, status, text = failure.refusal, failure.status, failure.message
    if Feature.TOOL in refused:
        switches = " / ".join(f"'{asked.tools.get(name, name)}'" for name in refused.tools)
        names = ", ".join(refused.tools)
        if refused.by_host:
            return (f"GigaChat does not offer the built-in tool {names} on this host ({_host(failure)}; "
                    f"{status}: {text}). Turn off {switches} in the model parameters, or use a host that offers it.")
        return (f"GigaChat does not offer the built-in tool {names} to this account or model ({status}: {text}). "
                f"Turn off {switches} in the model parameters, or use a model and account that offer it.")
    if refused.named and Feature.REASONING in refused:
        return (f"GigaChat does not offer reasoning for this model on this host and account ({status}: {text}). "
                f"Clear the '{asked.reasoning}' parameter of the model (leave it empty) and retry.")
    # The model, or nothing named (structured output never ends here named: the plugin answers
    # without the schema): GigaChat's words, and the settings that may be the reason.
    if Feature.MODEL in refused:
        message = _model_refused(failure, asked.model)
    elif status == 403:
        message = _forbidden(failure)
    else:
        message = f"GigaChat rejected the request ({status}: {text})."
    if Feature.REASONING in refused:
        message += f" If this model or host does not offer reasoning, clear the '{asked.reasoning}' parameter."
    return message


def _model_refused(failure: Failure, model: str | None) -> str:
    status, text = failure.status, failure.message
    if model in FREEMIUM_ONLY_MODELS:
        return (f"GigaChat does not give this account {model} ({status}: {text}): {model} is offered only to "
                "individuals on the freemium plan (GigaChat documentation, 17 Jul 2026); paid individual accounts "
                "and legal entities have no access to it. Choose another model, such as GigaChat-2-Max.")
    if preview_model_elsewhere(failure, model):
        return (f"GigaChat: {text} ({status}). {model} is a preview model: preview models are served only at "
                f"{DEFAULT_BASE_URL}; set 'Base URL' to it for this model.")
    if status == 403:
        return _forbidden(failure)
    return (f"GigaChat: {text} ({status}). Check the model name is available to this account (it must be one "
            "GigaChat lists for it).")


def _forbidden(failure: Failure) -> str:
    if failure.where is not None and failure.where.model_list:
        # GET /models names no model: a refusal of it is about reaching the API at all.
        return (f"The 'Base URL' ({_base_url(failure)}) refused access to the API (403: {failure.message}) for "
                "its model list, which any GigaChat account may read: a gateway or firewall in front of the API "
                "may block Dify's server, or the account has no access to this API (its scope). Check the "
                "'Base URL', and with your network administrator that Dify's server may reach it.")
    return (f"GigaChat refused access (403: {failure.message}): this account is not allowed to use this model or "
            "method. Check the model is in your plan in GigaChat Studio, or use an account that has it.")


def _redirected(failure: Failure) -> tuple[type[InvokeError], str]:
    """A 3xx: which field's address redirects, where to, and what to enter instead."""
    where, target, status = failure.where, failure.location, failure.status
    never = "The plugin does not follow redirects, so that the credentials are never sent to an address you did not enter"
    if where.endpoint is None:  # the OAuth request, to the address typed whole
        return InvokeAuthorizationError, (
            f"The 'OAuth URL' ({where.url}) redirects ({status}) to {target}. {never}: if that is GigaChat's OAuth "
            f"service, enter it as the 'OAuth URL'; otherwise check the address (a login page means a portal in "
            f"between, not the OAuth service). The default is {DEFAULT_AUTH_URL}."
        )
    tail = where.path.rstrip("/")[len(where.base_path):]  # the endpoint the request added, e.g. /models
    suggested = target[:-len(tail)] if tail and target.endswith(tail) else target
    return InvokeBadRequestError, (
        f"The 'Base URL' ({_base_url(failure)}) redirects ({status}) to {target}. {never}: if {suggested} is the "
        "GigaChat API, enter it as the 'Base URL'; otherwise check the address."
    )


def _api_message(failure: Failure, asked: Asked, auth: Auth | None) -> tuple[type[InvokeError], str]:
    kind, status, text, host = failure.kind, failure.status, failure.message, _host(failure)
    path = failure.where.path if failure.where else ""
    if kind is Kind.OAUTH_REFUSED:
        return InvokeAuthorizationError, _OAUTH_CODES.get(failure.oauth_code) or (
            f"GigaChat's OAuth service refused the authorization key ({status}: {text}). Check the "
            "'Authorization key' and the 'Scope (account type)'."
        )
    if kind is Kind.OAUTH_URL:
        return InvokeAuthorizationError, (
            f"The 'OAuth URL' ({failure.where.url}) is not GigaChat's OAuth service ({status}: {text}). Use "
            f"{DEFAULT_AUTH_URL} (the same for every public GigaChat host), or the OAuth address of your "
            "installation."
        )
    if kind is Kind.LOGIN_REFUSED:
        return InvokeAuthorizationError, (
            f"The GigaChat installation at {host} rejected the user name or password (401 from {path}): "
            "check them with its administrator."
        )
    if kind is Kind.NO_TOKEN_ENDPOINT:
        return InvokeAuthorizationError, f"{host} has no token endpoint ({status} for {path}): {login_hint(host)}"
    if kind is Kind.REDIRECTED:
        return _redirected(failure)
    if kind is Kind.CREDENTIALS_REFUSED:
        return InvokeAuthorizationError, (auth.api_refusal(host, text) if auth is not None else
                                          f"GigaChat rejected the credentials ({text}). Check the provider's credentials.")
    if kind is Kind.FORBIDDEN:
        return InvokeAuthorizationError, _forbidden(failure)
    if kind is Kind.QUOTA_EXHAUSTED:
        return InvokeRateLimitError, (
            "GigaChat answered 402 Payment Required: the token quota of this account is used up. "
            "Top up or buy a package in GigaChat Studio, or use an account with quota left."
        )
    if kind is Kind.RATE_LIMITED:
        wait = f" GigaChat asked to retry after {failure.retry_after:g} s." if failure.retry_after else ""
        return InvokeRateLimitError, (
            f"GigaChat rate limit reached (429: {text}).{wait} Lower concurrency or retry later; "
            "personal (PERS) accounts allow very few parallel requests."
        )
    if kind is Kind.BASE_URL_PATH:
        return InvokeBadRequestError, (
            f"The 'Base URL' ({_base_url(failure)}) lacks the API's path: {host} answered {status} for {path}. "
            f"GigaChat's API is under /api/v1 (/v1 at {SPEC_HOST}): enter e.g. {_with_api_path(failure)}."
        )
    if kind is Kind.NOT_GIGACHAT:
        return InvokeBadRequestError, (
            f"{host} answered {status} for {path}: the 'Base URL' does not point to the GigaChat API. {HOSTS_HINT}"
        )
    if kind is Kind.REFUSED:
        # A 403 that names no feature refuses the account access (to a model); a named feature or a
        # 400/404/422 is the request's to change.
        refused = failure.refusal
        cls = (InvokeAuthorizationError if status == 403 and (Feature.MODEL in refused or not refused.named)
               else InvokeBadRequestError)
        return cls, refusal_message(failure, asked)
    if kind is Kind.NOT_FOUND:
        return InvokeBadRequestError, f"GigaChat: {text} ({status} for {path})."
    if kind is Kind.TOO_LARGE and status == 413:
        return InvokeBadRequestError, (
            f"GigaChat refused the request as too large (413: {text}). Send less text or smaller files."
        )
    if kind in (Kind.TOO_LARGE, Kind.FILE_GONE, Kind.INVALID_REQUEST):
        return InvokeBadRequestError, f"GigaChat rejected the request ({status}: {text})."
    if kind is Kind.SERVER_ERROR:
        return InvokeServerUnavailableError, (
            f"GigaChat is temporarily unavailable ({status}: {text}). Retry in a moment."
        )
    return InvokeBadRequestError, f"GigaChat answered HTTP {status}: {text}."


def describe(exc: BaseException, asked: Asked = NOTHING_ASKED, auth: Auth | None = None) -> tuple[type[InvokeError], str]:
    """The single table: (Dify error class, message) for any exception. ``asked``: what the failed
    request asked for (names the setting a refusal is about); ``auth``: the credentials' mode,
    which words a refusal of them."""
    if isinstance(exc, InvokeError):
        return type(exc), exc.description or str(exc)
    if isinstance(exc, CredentialsValidateFailedError):  # the form's values are unusable
        return InvokeAuthorizationError, str(exc)
    failure = classify(exc, asked)
    if failure.kind is Kind.TRANSPORT:
        kind = failure.transport
        cls = InvokeServerUnavailableError if kind is Transport.NOT_A_STREAM else InvokeConnectionError
        if kind in (Transport.CLIENT_CERTIFICATE_REQUIRED, Transport.CLIENT_CERTIFICATE_REFUSED,
                    Transport.PROXY_AUTHENTICATION):
            cls = InvokeAuthorizationError
        return cls, transport_message(kind, _host(failure), exc)
    if failure.kind is Kind.UNREADABLE:
        return InvokeServerUnavailableError, (
            "The answer to this request is not one GigaChat gives (not its JSON, or fields missing): the plugin "
            "could not read it. Retry; if it repeats, check that 'Base URL' (and 'Proxy URL', if set) lead to the "
            "GigaChat API."
        )
    if failure.kind is Kind.TOO_DEEP:
        shown = " The text shown so far is incomplete." if failure.events else ""
        return InvokeServerUnavailableError, (
            "GigaChat's answer is JSON nested more deeply than the plugin can read (over a thousand levels, "
            f"e.g. in a tool call's arguments).{shown} Retry the request; if it repeats, ask for a flatter answer "
            "or simplify the tool's parameters."
        )
    if failure.kind in (Kind.STREAM_ERROR, Kind.STREAM_UNREADABLE):
        return InvokeServerUnavailableError, _stream_message(failure)
    if failure.kind is Kind.SDK:
        return InvokeBadRequestError, redact(failure.message)
    if failure.kind is Kind.UNEXPECTED:
        _log_unexpected(exc)
        return InvokeServerUnavailableError, (
            "Unexpected failure in the GigaChat plugin; the plugin log has details. Retry, and report it if it repeats."
        )
    return _api_message(failure, asked, auth)


def _stream_message(failure: Failure) -> str:
    """GigaChat's error event, or data no GigaChat stream carries, quoted (``connection/sse.py``)."""
    shown = "; the text shown so far is incomplete. Retry the request" if failure.events else ""
    if failure.kind is Kind.STREAM_ERROR:
        return f"GigaChat reported an error in its answer stream: \"{failure.message}\"{shown}."
    if failure.events:
        return f"GigaChat's answer stream broke off with data the plugin cannot read (\"{failure.message}\"){shown}."
    return (f"The server at the Base URL answered with an event stream the plugin cannot read (\"{failure.message}\"): "
            "check the 'Base URL' points to the GigaChat API.")


def _log_unexpected(exc: BaseException) -> None:
    # The generic message says "the plugin log has details": this is them. The traceback is
    # formatted here and redacted, since exception texts may quote anything.
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger.error("Unexpected failure (%s): %s", type(exc).__name__, redact(trace))


def to_invoke_error(exc: BaseException, *, context: str = "", asked: Asked = NOTHING_ASKED,
                    auth: Auth | None = None) -> InvokeError:
    cls, message = describe(exc, asked, auth)
    if context:
        message = f"{message} [{context}]"
    return cls(redact(message))


def transform_invoke_error(error: Exception, *, context: str = "") -> InvokeError:
    """For the model classes' `_transform_invoke_error`: the SDK's default would prefix our message
    and replace every authorization message with a generic 'incorrect credentials'."""
    return error if isinstance(error, InvokeError) else to_invoke_error(error, context=context)


def to_credentials_error(exc: BaseException, auth: Auth | None = None) -> CredentialsValidateFailedError:
    if isinstance(exc, CredentialsValidateFailedError):
        return exc
    _, message = describe(exc, auth=auth)
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
