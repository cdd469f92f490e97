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
