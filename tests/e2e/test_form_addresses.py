"""A wrong address in the provider form is named by its field ('Base URL', 'OAuth URL'), as the form
labels it, in validation and in every invocation (issue 17 #10: each answered "No such model (404).
Check the model name"). A query string is refused before any request; a missing /api/v1 and a
wrong OAuth path only GigaChat's answer can tell."""

import pytest

from tests.support.daemon import user

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])


def _root(emulator) -> str:
    return emulator.base_url.rsplit("/api/v1", 1)[0]


def _every_call(plugin, creds, stream=False):
    return [plugin.validate_provider(creds),
            plugin.invoke_llm("GigaChat-2", creds, [user("hi")], stream=stream),
            plugin.invoke_embedding("Embeddings", creds, ["a"])]


@STREAM
def test_a_base_url_without_the_api_path_is_named_as_the_base_url(plugin, credentials, emulator, stream):
    root = _root(emulator)
    validation, chat, embedding = _every_call(plugin, dict(credentials, base_url=root), stream)
    for result in (validation, chat, embedding):
        assert f"The 'Base URL' ({root}) lacks the API's path" in result.error_message, result.error_message
        assert "/api/v1" in result.error_message and "model name" not in result.error_message
    assert validation.error_type == "CredentialsValidateFailedError"
    assert chat.error_type == embedding.error_type == "InvokeBadRequestError"


def test_a_base_url_with_a_query_string_is_refused_before_any_request(plugin, credentials, emulator):
    url = emulator.base_url + "?tenant=1"
    emulator.stats.reset()
    for result in _every_call(plugin, dict(credentials, base_url=url)):
        assert result.error_message.startswith(f"The 'Base URL' {url} has a query string"), result.error_message
        assert emulator.base_url in result.error_message  # what to write instead
    assert emulator.stats.oauth_calls == 0 and not emulator.stats.requests


@STREAM
def test_an_oauth_url_with_a_wrong_path_is_named_as_the_oauth_url(plugin, credentials, emulator, stream):
    wrong = emulator.auth_url.replace("/api/v2/oauth", "/api/v2")
    validation, chat, embedding = _every_call(plugin, dict(credentials, auth_url=wrong), stream)
    for result in (validation, chat, embedding):
        assert f"The 'OAuth URL' ({wrong}) is not GigaChat's OAuth service" in result.error_message, result.error_message
        assert "Base URL" not in result.error_message and "No such model" not in result.error_message
    assert validation.error_type == "CredentialsValidateFailedError"
    assert chat.error_type == embedding.error_type == "InvokeAuthorizationError"


def test_a_versioned_base_url_of_another_server_is_not_a_gigachat_api(plugin, credentials, emulator):
    url = _root(emulator) + "/website/v1"
    validation, chat, embedding = _every_call(plugin, dict(credentials, base_url=url))
    assert f"The 'Base URL' ({url}) is not a GigaChat API" in validation.error_message
    for result in (chat, embedding):
        assert "the 'Base URL' does not point to the GigaChat API" in result.error_message, result.error_message


@pytest.mark.parametrize(("path", "instead"), [("/api/v2", "/api/v1"), ("/v2/", "/v1"), ("/API/V2", "/API/v1")])
def test_a_base_url_of_the_v2_api_is_refused_before_any_request(plugin, credentials, emulator, path, instead):
    # The plugin appends v1's endpoints (and the SDK turns /v1 into /v2 itself): a /v2 Base URL sent
    # every v1 request to v2's endpoint, refused with a message about the request's content.
    url = _root(emulator) + path
    emulator.stats.reset()
    for result in _every_call(plugin, dict(credentials, base_url=url)):
        assert result.error_message.startswith(f"The 'Base URL' {url.rstrip('/')} is the address of GigaChat's API v2"), \
            result.error_message
        assert f"e.g. {_root(emulator) + instead}" in result.error_message
    assert emulator.stats.oauth_calls == 0 and not emulator.stats.requests


@pytest.mark.parametrize(("field", "value", "message"), [
    ("base_url", "https://127.0.0.1:abc/api/v1", "The 'Base URL' has an invalid port 'abc'"),
    ("auth_url", "http://127.0.0.1:9443x/api/v2/oauth", "The 'OAuth URL' has an invalid port '9443x'"),
    ("proxy_url", "http://u:Proxy\tPass55@127.0.0.1:3128", "The 'Proxy URL' contains a tab"),
])
def test_an_address_the_http_client_cannot_read_is_refused_naming_its_field(plugin, credentials, emulator, field,
                                                                             value, message):
    # The form took these and httpx refused them inside the client: "Unexpected failure in the GigaChat plugin".
    emulator.stats.reset()
    for result in _every_call(plugin, dict(credentials, **{field: value})):
        assert result.error_message.startswith(message), result.error_message
        assert "Pass55" not in result.error_message
    assert emulator.stats.oauth_calls == 0 and not emulator.stats.requests


def test_a_user_and_password_in_the_base_url_are_refused_and_never_quoted(plugin, credentials, emulator):
    # httpx sent them as Basic auth in place of the token: GigaChat's 401 blamed the authorization key.
    url = emulator.base_url.replace("http://", "http://admin:BaseUrlPassw0rd@")
    emulator.stats.reset()
    for result in _every_call(plugin, dict(credentials, base_url=url)):
        assert result.error_message.startswith("The 'Base URL' contains '@' (user:password@)"), result.error_message
        assert "'Proxy URL'" in result.error_message and "BaseUrlPassw0rd" not in result.error_message
    assert emulator.stats.oauth_calls == 0 and not emulator.stats.requests
