"""Provider validation through Dify's stdio protocol: it costs nothing and explains every failure."""

import base64
import contextlib
import http.server
import socket
import threading
import time

from emulator import B2B_KEY, DEFAULT_KEY
from tests.support.net import closed_port, dribbling_host


def test_valid_credentials_pass_with_one_token_and_a_model_list_only(fresh_plugin, credentials, emulator):
    emulator.stats.reset()
    result = fresh_plugin.validate_provider(credentials)
    assert result.ok, result.error
    assert result.chunks[-1]["result"] is True
    assert emulator.stats.oauth_calls == 1
    paid = [k for k in emulator.stats.requests if "chat/completions" in k or "embeddings" in k]
    assert paid == [], "validation must never send a chat or embedding request"


def test_wrong_key_is_reported_as_unrecognised(plugin, credentials):
    credentials["authorization_key"] = base64.b64encode(b"unknown-client:wrong-secret").decode()
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "does not recognise this authorization key" in result.error_message
    assert credentials["authorization_key"] not in result.error_message


def test_key_of_another_scope_names_the_scopes(plugin, credentials):
    credentials["authorization_key"] = B2B_KEY  # a key whose project is B2B, validated as PERS
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "not for the chosen scope" in result.error_message
    assert B2B_KEY not in result.error_message


def test_key_that_is_not_base64_is_caught_before_any_request(plugin, credentials, emulator):
    emulator.stats.reset()
    credentials["authorization_key"] = "this is my client secret"
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "Authorization key" in result.error_message
    assert emulator.stats.oauth_calls == 0




def test_unreachable_host_is_reported_with_the_address(plugin, credentials):
    port = closed_port()
    credentials["auth_url"] = f"http://127.0.0.1:{port}/api/v2/oauth"
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "Could not connect to the 'OAuth URL'" in result.error_message
    assert str(port) in result.error_message


def test_host_that_never_answers_times_out_with_a_clear_message(plugin, credentials):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        credentials["auth_url"] = f"http://127.0.0.1:{silent.getsockname()[1]}/api/v2/oauth"
        credentials["timeout"] = "2"
        result = plugin.validate_provider(credentials, timeout=30)
    finally:
        silent.close()
    assert result.error_type == "CredentialsValidateFailedError"
    assert "did not answer in time" in result.error_message


def test_base_url_that_trickles_its_answer_times_out_within_the_timeout(plugin, credentials):
    # A gateway sending 200 and then a byte a second: every read is in time, the answer never is.
    with dribbling_host(0.5) as host:
        credentials["base_url"] = f"{host}/api/v1"
        credentials["timeout"] = "2"
        started = time.monotonic()
        result = plugin.validate_provider(credentials, timeout=30)
        took = time.monotonic() - started
    assert result.error_type == "CredentialsValidateFailedError"
    assert result.error_message.startswith("The 'Base URL'") and "did not answer in time" in result.error_message
    assert "raise 'Request timeout (seconds)'" in result.error_message
    assert took < 4, f"validation took {took:.1f}s with a 2 s timeout"


def test_malformed_url_is_rejected_with_an_example(plugin, credentials):
    credentials["base_url"] = "gigachat.devices.sberbank.ru/api/v1"
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "https://" in result.error_message


def test_default_key_works_for_its_scope(plugin, credentials):
    assert plugin.validate_provider(dict(credentials, authorization_key=DEFAULT_KEY)).ok


def test_a_word_typed_as_a_key_in_one_workspace_never_garbles_another_workspaces_errors(plugin, credentials):
    # issue 10 item 2: every 6+ character value typed as a key was masked for the process's life.
    typo = dict(credentials, authorization_key="GigaChat")
    assert plugin.validate_provider(typo).error_type == "CredentialsValidateFailedError"
    plugin.secrets_sent.discard("GigaChat")  # a public word typed as a key: not a secret for the leak scan
    other = plugin.invoke_llm("GigaChat-Nonexistent", credentials, [
        {"role": "user", "content": "hi", "name": "", "tool_calls": [], "tool_call_id": ""}], stream=True)
    assert other.error_type == "InvokeBadRequestError"
    assert "GigaChat: No such model" in other.error_message and "***" not in other.error_message


@contextlib.contextmanager
def redirecting(status: int, location: str):
    """A host answering every request with a redirect to `location` (which a test can watch)."""
    class Redirect(http.server.BaseHTTPRequestHandler):
        def _go(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _go

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed_and_its_field_target_and_fix_are_named(fresh_plugin, credentials, emulator):
    # The redirects point at the emulator: followed, validation would pass and the emulator see the key.
    with redirecting(301, emulator.base_url + "/models?sig=Secr3tSig") as origin:
        emulator.stats.reset()
        result = fresh_plugin.validate_provider(dict(credentials, base_url=origin + "/api/v1"))
        assert result.error_type == "CredentialsValidateFailedError"
        assert result.error_message.startswith(
            f"The 'Base URL' ({origin}/api/v1) redirects (301) to {emulator.base_url}/models.")
        assert f"if {emulator.base_url} is the GigaChat API, enter it as the 'Base URL'" in result.error_message
        assert "Secr3tSig" not in result.error_message
        assert not [r for r in emulator.stats.requests if "/models" in r], "the redirect was followed"
    with redirecting(302, emulator.auth_url) as origin:
        emulator.stats.reset()
        result = fresh_plugin.validate_provider(dict(credentials, auth_url=origin + "/api/v2/oauth"))
        assert result.error_type == "CredentialsValidateFailedError"
        assert result.error_message.startswith(
            f"The 'OAuth URL' ({origin}/api/v2/oauth) redirects (302) to {emulator.auth_url}.")
        assert emulator.stats.oauth_calls == 0, "the key was sent where the redirect pointed"


def test_json_that_is_not_an_object_is_named_like_any_answer_that_is_not_gigachats(fresh_plugin, credentials, emulator):
    emulator.faults.inject(status=200, path="/api/v2/oauth", body=[])
    result = fresh_plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert result.error_message.startswith(
        f"The 'OAuth URL' ({emulator.auth_url}) did not answer like GigaChat's OAuth service"), result.error_message
    for body in ([], "null"):
        emulator.faults.inject(status=200, path="/models", body=body)
        result = fresh_plugin.validate_provider(credentials)
        assert result.error_message.startswith(
            f"The 'Base URL' ({emulator.base_url}) is not a GigaChat API"), result.error_message


def test_a_gateways_403_page_on_the_model_list_names_the_base_url_not_a_model(plugin, credentials, emulator):
    emulator.faults.inject(status=403, path="/models", body="<html><body>Access denied by corporate gateway</body></html>")
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert result.error_message.startswith(f"The 'Base URL' ({emulator.base_url}) refused access to the API (403")
    assert "model is in your plan" not in result.error_message


def test_a_json_404_on_the_model_list_says_the_base_url_is_not_the_api(plugin, credentials, emulator):
    emulator.faults.inject(status=404, path="/models", body={"status": 404, "message": "Not found"})
    result = plugin.validate_provider(credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert result.error_message.startswith(f"The 'Base URL' ({emulator.base_url}) is not a GigaChat API")
def test_form_messages_name_the_fields_as_labelled_and_a_bad_ca_says_what_to_paste(plugin, credentials):
    not_der = base64.b64encode(b"hello world, not DER").decode()
    cases = {
        "scope": ("gigachat_api_pers", "'Scope (account type)' must be one of GIGACHAT_API_PERS"),
        "auth_mode": ("api_key", "'Authentication' must be one of authorization_key"),
        "ca_certificate": (f"-----BEGIN CERTIFICATE-----\n{not_der}\n-----END CERTIFICATE-----\n",
                           "The 'CA certificate (PEM)' is not usable: the text between its BEGIN CERTIFICATE and "
                           "END CERTIFICATE lines is not a certificate; paste the CA certificate's PEM file"),
    }
    for field, (value, message) in cases.items():
        result = plugin.validate_provider(dict(credentials, **{field: value}))
        assert result.error_type == "CredentialsValidateFailedError"
        assert result.error_message.startswith(message), result.error_message
        assert "_ssl.c" not in result.error_message and "start line" not in result.error_message
