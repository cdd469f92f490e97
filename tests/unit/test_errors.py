import json
import ssl

import gigachat.exceptions as gx

import httpx
import pytest
from dify_plugin.errors.model import (
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
)

from gigachat_dify import redaction
from gigachat_dify.errors import to_invoke_error

URL = "https://gigachat.devices.sberbank.ru/api/v1/chat/completions"


def api_error(cls, status, body, headers=None):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return cls(URL, status, content, httpx.Headers(headers or {"content-type": "application/json"}))


@pytest.mark.parametrize(
    "exc, dify_error, phrase",
    [
        (api_error(gx.AuthenticationError, 401, {"code": 6, "message": "credentials doesn't match db data"}),
         InvokeAuthorizationError, "does not recognise this authorization key"),
        (api_error(gx.AuthenticationError, 401, {"code": 7, "message": "scope"}),
         InvokeAuthorizationError, "GIGACHAT_API_B2B for prepaid"),
        (api_error(gx.AuthenticationError, 401, {"status": 401, "message": "Unauthorized"}),
         InvokeAuthorizationError, "rejected the credentials"),
        (api_error(gx.ForbiddenError, 403, {"status": 403, "message": "Forbidden"}),
         InvokeAuthorizationError, "not allowed to use this model"),
        (api_error(gx.ResponseError, 402, {"status": 402, "message": "Payment Required"}),
         InvokeRateLimitError, "quota of this account is used up"),
        (api_error(gx.RateLimitError, 429, {"status": 429, "message": "Too many requests"},
                   {"content-type": "application/json", "retry-after": "3"}),
         InvokeRateLimitError, "retry after 3 s"),
        (api_error(gx.NotFoundError, 404, {"status": 404, "message": "No such model"}),
         InvokeBadRequestError, "No such model"),
        (api_error(gx.NotFoundError, 404, b"<html>nginx</html>", {"content-type": "text/html"}),
         InvokeBadRequestError, "does not point to the GigaChat API"),
        (api_error(gx.UnprocessableEntityError, 422,
                   {"status": 422, "message": "Invalid params: system message must be the first message"}),
         InvokeBadRequestError, "system message must be the first message"),
        (api_error(gx.RequestEntityTooLargeError, 413, {"status": 413, "message": "too large"}),
         InvokeBadRequestError, "too large"),
        (api_error(gx.ServerError, 503, {"status": 503, "message": "Service Unavailable"}),
         InvokeServerUnavailableError, "temporarily unavailable"),
        (httpx.ConnectError("Connection refused"), InvokeConnectionError, "Could not connect"),
        (httpx.ReadTimeout("timed out"), InvokeConnectionError, "did not answer in time"),
        (httpx.RemoteProtocolError("peer closed connection"), InvokeConnectionError, "interrupted"),
        (RuntimeError("boom"), InvokeServerUnavailableError, "Unexpected failure"),
        (json.JSONDecodeError("Expecting value", "<html>", 0), InvokeServerUnavailableError,
         "could not read it. Retry; if it repeats, check that 'Base URL' (and 'Proxy URL', if set) lead to"),
    ],
)
def test_every_failure_maps_to_the_right_dify_error_with_advice(exc, dify_error, phrase):
    err = to_invoke_error(exc)
    assert type(err) is dify_error
    assert phrase in str(err)
    assert "Traceback" not in str(err)


def test_certificate_failure_points_to_the_ca_field():
    try:
        raise httpx.ConnectError("tls") from ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")
    except httpx.ConnectError as exc:
        err = to_invoke_error(exc)
    assert isinstance(err, InvokeConnectionError)
    assert "CA certificate" in str(err)


def test_registered_secrets_never_reach_a_message():
    secret = "c2VjcmV0LWtleS1mb3ItdGVzdHM="
    redaction.register(secret)
    exc = api_error(gx.BadRequestError, 400, {"status": 400, "message": f"bad key {secret}"})
    assert secret not in str(to_invoke_error(exc))


# ---- transport failures: one classification for invocations and validation -----------------------

import logging  # noqa: E402

from gigachat_dify.connection.proxy import ProxyUnreachable  # noqa: E402
from gigachat_dify.failures import Transport, transport_failure  # noqa: E402

REQUEST = httpx.Request("POST", URL)


def _tls_alert(reason: str) -> httpx.ReadError:
    alert = ssl.SSLError(1, f"[SSL: {reason}] alert")
    alert.reason = reason
    try:
        raise httpx.ReadError("tls") from alert
    except httpx.ReadError as exc:
        return exc


@pytest.mark.parametrize(
    "exc, kind, dify_error, phrase",
    [
        (httpx.ProxyError("407 Proxy Authentication Required", request=REQUEST), Transport.PROXY_AUTHENTICATION,
         InvokeAuthorizationError, "The proxy refused the credentials (407"),
        (api_error(gx.ResponseError, 407, b"", {"proxy-authenticate": "Basic"}), Transport.PROXY_AUTHENTICATION,
         InvokeAuthorizationError, "The proxy refused the credentials (407"),
        (httpx.ProxyError("403 Forbidden", request=REQUEST), Transport.PROXY_REFUSED,
         InvokeConnectionError, "The proxy refused to connect to gigachat.devices.sberbank.ru (403)"),
        (ProxyUnreachable("refused", proxy="proxy.local:3128", request=REQUEST), Transport.PROXY_UNREACHABLE,
         InvokeConnectionError, "The proxy proxy.local:3128 cannot be reached"),
        (_tls_alert("TLSV13_ALERT_CERTIFICATE_REQUIRED"), Transport.CLIENT_CERTIFICATE_REQUIRED,
         InvokeAuthorizationError, "requires a client certificate"),
        (_tls_alert("TLSV1_ALERT_UNKNOWN_CA"), Transport.CLIENT_CERTIFICATE_REFUSED,
         InvokeAuthorizationError, "refused the client certificate"),
        (_tls_alert("SSLV3_ALERT_CERTIFICATE_EXPIRED"), Transport.CLIENT_CERTIFICATE_REFUSED,
         InvokeAuthorizationError, "refused the client certificate"),
        (api_error(gx.BadRequestError, 400, b"<html>400 No required SSL certificate was sent</html>",
                   {"content-type": "text/html"}), Transport.CLIENT_CERTIFICATE_REFUSED,
         InvokeAuthorizationError, "refused the client certificate"),
        (httpx.ConnectError("Connection refused", request=REQUEST), Transport.UNREACHABLE,
         InvokeConnectionError, "Could not connect to gigachat.devices.sberbank.ru"),
    ],
)
def test_transport_failures_are_classified_once_and_say_what_to_do(exc, kind, dify_error, phrase):
    assert transport_failure(exc) is kind
    err = to_invoke_error(exc)
    assert type(err) is dify_error and phrase in str(err)


def test_a_refused_user_or_password_is_told_from_a_refused_key():
    token_url = "https://gigachat.company.local/api/v1/token"
    exc = gx.AuthenticationError(token_url, 401, b'{"status": 401, "message": "Unauthorized"}', httpx.Headers({}))
    assert "rejected the user name or password" in str(to_invoke_error(exc))
    missing = gx.NotFoundError(token_url, 404, b"<html>404</html>", httpx.Headers({"content-type": "text/html"}))
    # an on-premise host: its Base URL is the likelier mistake, not the mode
    assert "check the 'Base URL' is the API address of your on-premise" in str(to_invoke_error(missing))


def test_a_file_gigachat_does_not_have_is_not_blamed_on_the_model_name():
    # A generated image's download (GET /files/{id}/content) answering 404 was told "Check the model name".
    gone = gx.NotFoundError(URL.replace("chat/completions", "files/4a5b/content"), 404,
                            b'{"status": 404, "message": "File not found"}', httpx.Headers({}))
    assert str(to_invoke_error(gone)) == "GigaChat: File not found (404 for /api/v1/files/4a5b/content)."


def test_an_unexpected_failure_is_logged_with_its_traceback_and_no_secret(caplog):
    # issue 10 item 10: the generic message promised details in the log and logged nothing.
    secret = "c2VjcmV0LWtleS1mb3ItbG9ncy0x"
    redaction.register(secret)

    def deep():
        raise KeyError(f"lookup of {secret} failed")

    try:
        deep()
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="gigachat_dify.errors"):
            err = to_invoke_error(exc)
    assert "Unexpected failure" in str(err)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "KeyError" in logged and "in deep" in logged and "Traceback" in logged
    assert secret not in logged and "***" in logged
