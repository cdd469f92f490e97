"""THE error table: every SDK and transport failure -> one Dify error with an actionable message.

Dify shows `message` to the app builder as is, so each message says what happened and what to
do, names no Python type, and never contains a secret (messages pass through redaction).
"""

from __future__ import annotations

import json
import ssl
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

from gigachat_dify.redaction import redact

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


def is_tls_verification_failure(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e) for e in _chain(exc)
    )


def api_message(exc: gx.ResponseError) -> str:
    """The API's own explanation (its JSON `message`), or a short neutral one."""
    body = error_body(exc)
    msg = body.get("message") or body.get("error") or ""
    if not msg and _is_html(exc):
        return "the server answered with a web page, not the GigaChat API"
    return str(msg)[:500] if msg else f"HTTP {exc.status_code}"


def describe(exc: BaseException) -> tuple[type[InvokeError], str]:
    """The single table: (Dify error class, message) for any exception."""
    if isinstance(exc, InvokeError):
        return type(exc), exc.description or str(exc)
    if isinstance(exc, CredentialsValidateFailedError):  # the form's values are unusable
        return InvokeAuthorizationError, str(exc)
    if isinstance(exc, gx.ResponseError):
        body, host, status = error_body(exc), _host(exc), exc.status_code
        if is_oauth_error(exc) and body.get("code") in _OAUTH_CODES:
            return InvokeAuthorizationError, _OAUTH_CODES[body["code"]]
        if isinstance(exc, gx.AuthenticationError):
            return InvokeAuthorizationError, (
                f"GigaChat rejected the credentials ({api_message(exc)}). Check the authorization key and scope."
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
            if _is_html(exc) or not body:
                return InvokeBadRequestError, (
                    f"{host} answered 404 for {urlsplit(str(exc.url)).path}: the Base URL does not point to the "
                    "GigaChat API. Use e.g. https://gigachat.devices.sberbank.ru/api/v1."
                )
            return InvokeBadRequestError, (
                f"GigaChat: {api_message(exc)} (404). Check the model name is available to this account "
                "(it must be one GigaChat lists for your key)."
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
    if isinstance(exc, httpx.TimeoutException):
        return InvokeConnectionError, (
            f"{_host(exc)} did not answer in time. Retry, or raise 'Request timeout' in the provider settings."
        )
    if isinstance(exc, httpx.TransportError) or isinstance(exc, (ConnectionError, ssl.SSLError)):
        host = _host(exc)
        if is_tls_verification_failure(exc):
            return InvokeConnectionError, f"The TLS certificate of {host} could not be verified. {CA_HINT}"
        if isinstance(exc, httpx.ConnectError):
            return InvokeConnectionError, (
                f"Could not connect to {host}. Check the Base URL / OAuth URL, DNS and any proxy or firewall."
            )
        if "text/event-stream" in str(exc):
            return InvokeServerUnavailableError, (
                f"{host} did not answer with a GigaChat stream: check the Base URL points to the GigaChat API."
            )
        return InvokeConnectionError, (
            f"The connection to {host} was interrupted before the answer was complete. Retry the request."
        )
    if isinstance(exc, (pydantic.ValidationError, json.JSONDecodeError)):
        return InvokeServerUnavailableError, (
            "GigaChat sent an answer the plugin could not read; check the Base URL points to the GigaChat API."
        )
    if isinstance(exc, gx.GigaChatException):
        return InvokeBadRequestError, redact(str(exc))
    return InvokeServerUnavailableError, (
        "Unexpected failure in the GigaChat plugin; the plugin log has details. Retry, and report it if it repeats."
    )


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
