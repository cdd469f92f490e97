"""THE classification of failures (gigachat_dify/failures.py) and its readers: the refusal
classifier (which feature was refused), the error table's words for it, the retry policy."""

import json
import ssl

import gigachat.api.auth as auth_api
import gigachat.api.utils as sdk_utils
import gigachat.exceptions as gx
import gigachat.models.auth as sdk_auth
import gigachat.models.models as sdk_models
import httpx
import pytest
from dify_plugin.errors.model import InvokeAuthorizationError, InvokeBadRequestError

from gigachat_dify import retry
from gigachat_dify.errors import to_invoke_error
from gigachat_dify.failures import Asked, Feature, Kind, Transport, classify, refusal, too_long

API = "https://gigachat.devices.sberbank.ru/api/v1"
CHAT, CHAT_V2 = f"{API}/chat/completions", "https://api.giga.chat/v2/chat/completions"
STATUS_CLASSES = {400: gx.BadRequestError, 401: gx.AuthenticationError, 403: gx.ForbiddenError,
                  404: gx.NotFoundError, 413: gx.RequestEntityTooLargeError, 422: gx.UnprocessableEntityError,
                  500: gx.ServerError, 503: gx.ServerError}

TOOLS = {"web_search": "Web search", "code_interpreter": "Code interpreter"}
EVERYTHING = Asked(model="GigaChat-2-Max", json_schema=True, reasoning="Reasoning effort", tools=TOOLS)


def answer(status: int, message: str | None = None, url: str = CHAT, body: bytes | None = None):
    content = body if body is not None else json.dumps({"status": status, "message": message}).encode()
    ctype = "text/html" if content.lstrip()[:1] == b"<" else "application/json"
    return STATUS_CLASSES.get(status, gx.ResponseError)(url, status, content, httpx.Headers({"content-type": ctype}))


# ---- the refusal classifier: which feature ------------------------------------------------------------


@pytest.mark.parametrize(("exc", "asked", "features", "tools"), [
    # the live wordings of Sept 2026 (api.giga.chat, GigaChat-2-Max, PERS)
    (answer(422, "Tool code_interpreter is unavailable", CHAT_V2), Asked(tools=TOOLS), (Feature.TOOL,),
     ("code_interpreter",)),
    (answer(404, "Unknown tool code_interpreter", CHAT_V2), Asked(tools=TOOLS), (Feature.TOOL,), ("code_interpreter",)),
    # the emulator's and earlier tolerated wordings
    (answer(422, "Invalid params: tool web_search is not available"), Asked(tools=TOOLS), (Feature.TOOL,),
     ("web_search",)),
    (answer(403, "tools are not allowed for this scope"), Asked(tools=TOOLS), (Feature.TOOL,),
     ("web_search", "code_interpreter")),
    # a request asking for everything: the answer's words decide, not the first feature asked
    (answer(400, "Invalid params: reasoning is not supported for model GigaChat-2-Max"), EVERYTHING,
     (Feature.REASONING,), ()),
    (answer(422, "Invalid params: response_format json_schema is not supported"), EVERYTHING,
     (Feature.STRUCTURED_OUTPUT,), ()),
    (answer(404, "No such model"), EVERYTHING, (Feature.MODEL,), ()),
    (answer(403, "Access to model GigaChat-2-Max is denied"), EVERYTHING, (Feature.MODEL,), ()),
    # naming nothing: every feature that could be the reason (never a tool)
    (answer(422, "Invalid params"), EVERYTHING, (Feature.STRUCTURED_OUTPUT, Feature.REASONING), ()),
    (answer(400, "Your request contains invalid JSON syntax."), Asked(json_schema=True),
     (Feature.STRUCTURED_OUTPUT,), ()),
    # the 403 decision: an unnamed 403 is taken as an unnamed 400/422 is
    (answer(403, "Forbidden"), EVERYTHING, (Feature.STRUCTURED_OUTPUT, Feature.REASONING), ()),
    (answer(403, "Forbidden"), Asked(model="GigaChat-3-Ultra"), (Feature.MODEL,), ()),
    (answer(403, "Forbidden"), Asked(model="GigaChat-3-Ultra", json_schema=True),
     (Feature.STRUCTURED_OUTPUT, Feature.MODEL), ()),
])
def test_the_refusal_classifier_names_what_was_refused(exc, asked, features, tools):
    refused = refusal(exc, asked)
    assert refused is not None and refused.features == features and refused.tools == tools


@pytest.mark.parametrize(("exc", "asked"), [
    (answer(422, "Invalid params: temperature must be in range"), Asked(tools=TOOLS)),  # tools: only when named
    (answer(500, "tool web_search crashed"), Asked(tools=TOOLS)),
    (answer(422, "tool web_search"), Asked()),  # nothing asked
    (answer(403, "Forbidden"), Asked(model="GigaChat-2-Max")),  # the account's access, nothing asked
    (answer(404, "Not Found"), EVERYTHING),  # names nothing: an address problem
    (answer(400, "Invalid params: file 4a5b not found"), EVERYTHING),  # a lost attachment
    (answer(404, body=b"<html>404</html>"), EVERYTHING),  # not the API's answer
    (answer(404, "No such model", url="https://x/chat/completions"), EVERYTHING),  # no /v1: the Base URL's fault
    (answer(422, "Invalid params", url=f"{API}/files"), EVERYTHING),  # not a chat request
])
def test_what_is_not_a_refusal(exc, asked):
    assert refusal(exc, asked) is None


def test_an_installation_whose_base_url_has_no_version_still_has_its_refusals_recognised():
    refused = refusal(answer(422, "Invalid params", "https://gigachat.company.local/gigachat/chat/completions"),
                      Asked(json_schema=True))
    assert refused is not None and Feature.STRUCTURED_OUTPUT in refused


# ---- the error table's words for a refusal ----------------------------------------------------------


@pytest.mark.parametrize(("exc", "phrases"), [
    (answer(422, "Tool code_interpreter is unavailable", CHAT_V2),
     ["to this account or model (422: Tool code_interpreter is unavailable)", "Turn off 'Code interpreter'"]),
    (answer(404, "Unknown tool code_interpreter", CHAT_V2),
     ["on this host (api.giga.chat; 404: Unknown tool code_interpreter)", "Turn off 'Code interpreter'"]),
])
def test_a_refused_tool_is_a_bad_request_naming_its_switch(exc, phrases):
    err = to_invoke_error(exc, asked=Asked(model="GigaChat-2-Max", tools=TOOLS))
    assert type(err) is InvokeBadRequestError
    assert all(p in str(err) for p in phrases), str(err)
    assert "'Web search'" not in str(err) and "model name" not in str(err) and "No such model" not in str(err)


def test_reasoning_named_in_a_403_names_the_setting_not_the_plan():
    err = to_invoke_error(answer(403, "reasoning is not available for your scope"), asked=EVERYTHING)
    assert type(err) is InvokeBadRequestError
    assert "Clear the 'Reasoning effort' parameter" in str(err) and "refused access" not in str(err)


def test_a_bare_403_on_a_reasoning_request_adds_the_setting_to_clear():
    err = to_invoke_error(answer(403, "Forbidden"), asked=Asked(model="GigaChat-2-Max", reasoning="Reasoning effort"))
    assert type(err) is InvokeAuthorizationError
    assert "refused access (403: Forbidden)" in str(err)
    assert "If this model or host does not offer reasoning, clear the 'Reasoning effort' parameter" in str(err)


@pytest.mark.parametrize("exc", [answer(403, "Forbidden"), answer(404, "No such model"),
                                 answer(403, "Forbidden", CHAT_V2)])
def test_gigachat_3_ultra_refused_names_the_freemium_rule(exc):
    err = str(to_invoke_error(exc, asked=Asked(model="GigaChat-3-Ultra", json_schema=True)))
    assert "GigaChat-3-Ultra is offered only to individuals on the freemium plan" in err
    assert "legal entities have no access" in err and "business" not in err


def test_another_model_unknown_to_the_account_is_told_to_check_its_name():
    err = str(to_invoke_error(answer(404, "No such model"), asked=Asked(model="GigaChat-2-Max")))
    assert err.startswith("GigaChat: No such model (404). Check the model name") and "freemium" not in err
    assert "giga.chat" not in err  # no host is where every model lives


def test_a_preview_model_asked_of_api_giga_chat_is_sent_to_its_host():
    err = str(to_invoke_error(answer(404, "No such model", "https://api.giga.chat/v1/chat/completions"),
                              asked=Asked(model="GigaChat-2-Max-preview")))
    assert "served only at https://gigachat.devices.sberbank.ru/api/v1" in err and "'Base URL'" in err


# ---- which request: the address -----------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "kind"), [
    # issue 17 #10: these answered "No such model (404). Check the model name ..."
    (answer(404, "No such model", "https://gigachat.devices.sberbank.ru/chat/completions"), Kind.BASE_URL_PATH),
    (answer(404, body=b"<html>404</html>", url="https://gigachat.devices.sberbank.ru/api/embeddings"),
     Kind.BASE_URL_PATH),
    (answer(404, "No such model", "https://ngw.devices.sberbank.ru:9443/api/v2"), Kind.OAUTH_URL),
    (answer(405, body=b"<html>405</html>", url="https://ngw.devices.sberbank.ru:9443/"), Kind.OAUTH_URL),
    (answer(404, body=b"<html>404</html>", url="https://example.com/api/v1/models"), Kind.NOT_GIGACHAT),
    (answer(404, "File not found", f"{API}/files/4a5b/content"), Kind.NOT_FOUND),
    (answer(404, "Not Found", "https://onprem.local/api/v1/token"), Kind.NO_TOKEN_ENDPOINT),
    (answer(401, "Unauthorized", "https://onprem.local/api/v1/token"), Kind.LOGIN_REFUSED),
    (answer(401, body=b'{"code": 6, "message": "credentials doesn\'t match db data"}',
            url="https://ngw.devices.sberbank.ru:9443/api/v2/oauth"), Kind.OAUTH_REFUSED),
    (answer(401, "Unauthorized"), Kind.CREDENTIALS_REFUSED),
    (answer(400, "Invalid params: file 4a5b not found"), Kind.FILE_GONE),
    (answer(422, "Invalid params: input too long", f"{API}/embeddings"), Kind.TOO_LARGE),
    (answer(413, "too large"), Kind.TOO_LARGE),
    (answer(422, "Invalid params: input too long"), Kind.INVALID_REQUEST),  # a chat's 422 is no size problem
])
def test_the_failed_address_tells_which_request_failed(exc, kind):
    assert classify(exc).kind is kind


def test_a_base_url_without_the_api_path_names_the_base_url_not_the_model():
    err = str(to_invoke_error(answer(404, "No such model", "https://gigachat.devices.sberbank.ru/chat/completions"),
                              asked=Asked(model="GigaChat-2")))
    assert err.startswith("The 'Base URL' (https://gigachat.devices.sberbank.ru) lacks the API's path")
    assert "model name" not in err


def test_an_oauth_url_with_a_wrong_path_names_the_oauth_url():
    err = to_invoke_error(answer(404, "No such model", "https://ngw.devices.sberbank.ru:9443/api/v2"))
    assert type(err) is InvokeAuthorizationError
    assert str(err).startswith("The 'OAuth URL' (https://ngw.devices.sberbank.ru:9443/api/v2) is not GigaChat's OAuth")
    assert "https://ngw.devices.sberbank.ru:9443/api/v2/oauth" in str(err)


def test_embeddings_resplit_only_what_gigachat_found_too_long():
    assert too_long(answer(413, "too large", f"{API}/embeddings"))
    assert too_long(answer(422, "Invalid params: input too long", f"{API}/embeddings"))
    assert not too_long(answer(422, "Invalid params", CHAT))
    assert not too_long(answer(400, "bad", f"{API}/embeddings"))


# ---- the retry policy reads the same classification ------------------------------------------------


def _caused_by(outer: Exception, cause: BaseException) -> Exception:
    try:
        raise outer from cause
    except Exception as exc:
        return exc


def _alert(reason: str) -> ssl.SSLError:
    alert = ssl.SSLError(1, f"[SSL: {reason}] alert")
    alert.reason = reason
    return alert


@pytest.mark.parametrize(("exc", "transport", "transient"), [
    (httpx.ConnectError("refused"), Transport.UNREACHABLE, True),
    (httpx.ConnectTimeout("slow to connect"), Transport.CONNECT_TIMEOUT, True),
    (httpx.ReadTimeout("slow"), Transport.TIMEOUT, False),
    (httpx.ReadError("reset"), Transport.DROPPED, True),
    (httpx.RemoteProtocolError("Server disconnected"), Transport.DROPPED, True),
    (httpx.WriteError("broken pipe"), Transport.INTERRUPTED, False),
    # a certificate refused now is refused on every repeat (these were repeated with back-off)
    (_caused_by(httpx.ConnectError("tls"), ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")),
     Transport.SERVER_CERTIFICATE_UNTRUSTED, False),
    (_caused_by(httpx.ReadError("tls"), _alert("TLSV13_ALERT_CERTIFICATE_REQUIRED")),
     Transport.CLIENT_CERTIFICATE_REQUIRED, False),
    (_caused_by(httpx.ConnectError("tls"), _alert("SSLV3_ALERT_CERTIFICATE_EXPIRED")),
     Transport.CLIENT_CERTIFICATE_REFUSED, False),
])
def test_connections_are_repeated_only_when_a_repeat_can_help(exc, transport, transient):
    assert classify(exc).transport is transport
    assert retry.is_transient(exc) is transient


@pytest.mark.parametrize("failure", [
    # a 401 of {Base URL}/token was taken for a rotated API token and asked twice more
    answer(401, "Unauthorized", "https://onprem.local/api/v1/token"),
    # an untrusted server certificate was connected to twice more, with back-off
    _caused_by(httpx.ConnectError("tls"), ssl.SSLCertVerificationError(1, "CERTIFICATE_VERIFY_FAILED")),
], ids=["wrong-password", "untrusted-certificate"])
def test_what_a_repeat_cannot_change_is_tried_once(failure):
    attempts = []

    def call():
        attempts.append(1)
        raise failure

    with pytest.raises(type(failure)):
        retry.call_with_retries(call, 2, sleep=lambda s: None)
    assert len(attempts) == 1


def test_the_apis_own_401_is_repeated_with_a_renewed_token():
    assert retry.is_transient(answer(401, "Unauthorized"))


# ---- what a host answered instead of GigaChat (credential validation's cases) ------------------------

OAUTH = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
ONPREM = "https://gigachat.company.local"


def _sdk_reading(read, body: bytes, url: str):
    """What the SDK raises reading a 200 answer with ``body`` (its own code, as the plugin calls it)."""
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"},
                              request=httpx.Request("GET", url))
    try:
        read(response)
    except Exception as exc:
        return exc
    raise AssertionError("the SDK read it")


@pytest.mark.parametrize(("read", "body", "url"), [
    (auth_api._build_auth_response, b"[]", OAUTH),
    (auth_api._build_auth_response, b"null", OAUTH),
    (auth_api._build_auth_response, b'{"tok": "t"}', f"{ONPREM}/api/v1/token"),  # no "exp"
    (lambda r: sdk_utils.build_response(r, sdk_models.Models), b"[]", f"{API}/models"),
    (lambda r: sdk_utils.build_response(r, sdk_models.Models), b"null", f"{API}/models"),
    (lambda r: sdk_utils.build_response(r, sdk_auth.Token), b'"tok"', f"{ONPREM}/api/v1/token"),
], ids=["oauth-list", "oauth-null", "token-without-exp", "models-list", "models-null", "token-string"])
def test_json_that_is_not_the_expected_object_is_an_unreadable_answer_not_a_crash(read, body, url):
    exc = _sdk_reading(read, body, url)
    assert classify(exc).kind is Kind.UNREADABLE
    assert "Unexpected failure" not in str(to_invoke_error(exc))


def test_a_type_error_of_the_plugins_own_stays_unexpected():
    try:
        dict(**[])  # raised in this (non-SDK) module
    except TypeError as exc:
        assert classify(exc).kind is Kind.UNEXPECTED


def _redirect(status: int, url: str, location: str):
    return gx.ResponseError(url, status, b"", httpx.Headers({"location": location}))


def test_a_base_url_that_redirects_names_the_field_where_to_and_what_to_enter():
    exc = _redirect(301, "http://gigachat.company.local/api/v1/models",
                    "https://admin:S3cretPass@gigachat.company.local/api/v1/models?ticket=T0ken#x")
    failure = classify(exc)
    assert failure.kind is Kind.REDIRECTED and failure.location == "https://gigachat.company.local/api/v1/models"
    err = to_invoke_error(exc)
    assert type(err) is InvokeBadRequestError
    text = str(err)
    assert text.startswith("The 'Base URL' (http://gigachat.company.local/api/v1) redirects (301) to "
                           "https://gigachat.company.local/api/v1/models.")
    assert "if https://gigachat.company.local/api/v1 is the GigaChat API, enter it as the 'Base URL'" in text
    assert "does not follow redirects" in text
    assert "S3cretPass" not in text and "T0ken" not in text and "admin" not in text


def test_an_oauth_url_that_redirects_to_a_login_page_names_the_oauth_url():
    exc = _redirect(302, "http://auth.company.local/api/v2/oauth", "/sso/login?return=%2Fapi")
    err = to_invoke_error(exc)
    assert type(err) is InvokeAuthorizationError
    text = str(err)
    assert text.startswith("The 'OAuth URL' (http://auth.company.local/api/v2/oauth) redirects (302) to "
                           "http://auth.company.local/sso/login.")
    assert "enter it as the 'OAuth URL'" in text and "return=" not in text


def test_a_redirect_without_a_location_is_just_another_status():
    assert classify(gx.ResponseError(f"{API}/models", 302, b"", httpx.Headers({}))).kind is Kind.OTHER_STATUS


def test_a_token_endpoint_under_a_base_url_without_the_api_path_is_the_base_urls_path_not_the_mode():
    exc = answer(404, body=b"<html>404</html>", url=f"{ONPREM}/token")
    assert classify(exc).kind is Kind.BASE_URL_PATH  # the rule every mode's requests get
    text = str(to_invoke_error(exc))
    assert text.startswith(f"The 'Base URL' ({ONPREM}) lacks the API's path") and f"{ONPREM}/api/v1" in text
    assert "authorization key" not in text


@pytest.mark.parametrize(("url", "phrase", "not_phrase"), [
    (f"{ONPREM}/api/v1/token", "check the 'Base URL' is the API address of your on-premise", "authorization key"),
    (f"{API}/token", "For GigaChat's public hosts use the authorization key", "on-premise GigaChat installation (the"),
])
def test_no_token_endpoint_advises_another_mode_only_on_gigachats_public_hosts(url, phrase, not_phrase):
    exc = answer(404, body=b"<html>404</html>", url=url)
    assert classify(exc).kind is Kind.NO_TOKEN_ENDPOINT
    text = str(to_invoke_error(exc))
    assert phrase in text and not_phrase not in text


def test_a_403_on_the_model_list_is_about_reaching_the_api_not_a_model():
    exc = answer(403, body=b"<html><body>Access denied by corporate gateway</body></html>", url=f"{API}/models")
    err = to_invoke_error(exc)
    assert type(err) is InvokeAuthorizationError
    text = str(err)
    assert text.startswith(f"The 'Base URL' ({API}) refused access to the API (403: the server answered with a web page")
    assert "gateway or firewall" in text and "model is in your plan" not in text and "this model" not in text


def test_a_json_404_on_the_model_list_says_the_base_url_is_not_the_api():
    exc = answer(404, "Not found", f"{ONPREM}/api/v1/models")
    assert classify(exc).kind is Kind.NOT_GIGACHAT
    assert "the 'Base URL' does not point to the GigaChat API" in str(to_invoke_error(exc))
    # a file GigaChat does not have is still the API's own 404
    assert classify(answer(404, "File not found", f"{API}/files/4a5b")).kind is Kind.NOT_FOUND
