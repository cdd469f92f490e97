"""A corporate proxy end to end: the plugin reaches the OAuth host and the API host only through a
real forward proxy (pproxy in its own process), with and without proxy authentication; the proxy's
own log counts what it forwarded. The emulator serves HTTPS (a private CA), so every connection is
a CONNECT tunnel, as to GigaChat's real hosts; the OAuth URL names `localhost` and the API
`127.0.0.1`, so the proxy's log tells the two hosts apart."""

import pytest

from emulator import DEFAULT_KEY, Emulator
from tests.support.certs import https_emulator as https_emulator_for
from tests.support.certs import make_ca
from tests.support.daemon import PluginProcess, collect_text, user, written_by_plugin
from tests.support.proxy import ForwardProxy

CA = make_ca("Proxy Test Root CA")
PROXY_USER, PROXY_PASSWORD = "dify-gw", "s3cr:t@proxy/9"  # characters that must be %-escaped


@pytest.fixture(scope="module")
def https_emulator(tmp_path_factory):
    with https_emulator_for(CA, str(tmp_path_factory.mktemp("proxy-tls"))) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _clean(https_emulator):
    https_emulator.reset()


@pytest.fixture(scope="module")
def open_proxy():
    with ForwardProxy() as p:
        yield p


@pytest.fixture(scope="module")
def auth_proxy():
    with ForwardProxy(PROXY_USER, PROXY_PASSWORD) as p:
        yield p


def hosts(emu):
    api = f"127.0.0.1:{emu.port}"
    return api, f"localhost:{emu.port}"


def creds(emu, proxy_url, **extra):
    return {"authorization_key": DEFAULT_KEY, "base_url": emu.base_url,
            "auth_url": emu.auth_url.replace("127.0.0.1", "localhost"), "ca_certificate": CA.cert_pem,
            "proxy_url": proxy_url, "timeout": "15", **extra}


def _every_call_of_a_session(plugin, c):
    assert plugin.validate_provider(c).ok
    chat = plugin.invoke_llm("GigaChat-2-Pro", c, [user("через прокси")], stream=True)
    assert chat.ok, chat.error
    assert collect_text(chat) == "Echo: через прокси"
    emb = plugin.invoke_embedding("Embeddings", c, ["a", "b", "c"])
    assert emb.ok, emb.error


@pytest.mark.parametrize("authenticated", [False, True], ids=["open-proxy", "proxy-with-authentication"])
def test_validation_chat_and_embeddings_go_through_the_proxy(https_emulator, open_proxy, auth_proxy, authenticated):
    proxy = auth_proxy if authenticated else open_proxy
    api, oauth = hosts(https_emulator)
    before_api, before_oauth = len(proxy.tunnels(api)), len(proxy.tunnels(oauth))
    with PluginProcess() as plugin:
        _every_call_of_a_session(plugin, creds(https_emulator, proxy.url()))
    proxy.wait_for(before_oauth + 1, lambda: len(proxy.tunnels(oauth)))
    served = https_emulator.stats.requests
    assert https_emulator.stats.oauth_calls == 1
    assert served["GET /models"] == 1 and served["POST /chat/completions"] == 1 and served["POST /embeddings"] == 1
    # one tunnel per OAuth request (no keep-alive kept for a token asked every 30 minutes) ...
    assert len(proxy.tunnels(oauth)) - before_oauth == 1
    # ... and the API's three requests over kept-alive tunnels: at least one, never more than requests
    assert 1 <= len(proxy.tunnels(api)) - before_api <= 3


def test_the_proxy_password_in_the_url_is_never_shown(https_emulator, auth_proxy):
    with PluginProcess() as plugin:
        _every_call_of_a_session(plugin, creds(https_emulator, auth_proxy.url()))
        written = "\n".join(written_by_plugin(plugin))
    for secret in (PROXY_PASSWORD, auth_proxy.url().split("@")[0].split(":")[-1]):
        assert secret not in written


@pytest.mark.parametrize("user_, password", [("", ""), (PROXY_USER, "wrong-proxy-pass")],
                         ids=["no-credentials", "wrong-password"])
def test_a_proxy_that_refuses_the_credentials_says_so(plugin, https_emulator, auth_proxy, user_, password):
    refused_before = auth_proxy.refused()
    url = auth_proxy.url(user_, password) if user_ else f"http://127.0.0.1:{auth_proxy.port}"
    result = plugin.validate_provider(creds(https_emulator, url))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "The proxy refused the credentials (407" in result.error_message
    assert "wrong-proxy-pass" not in result.error_message
    auth_proxy.wait_for(refused_before + 1, auth_proxy.refused)
    assert auth_proxy.refused() > refused_before
    assert https_emulator.stats.oauth_calls == 0, "nothing reached GigaChat"
    chat = plugin.invoke_llm("GigaChat-2", creds(https_emulator, url), [user("hi")], stream=True)
    assert chat.error_type == "InvokeAuthorizationError" and "(407" in chat.error_message


def test_a_plain_http_host_behind_the_proxy_gets_the_same_407_message(plugin, auth_proxy):
    # http targets are forwarded (no CONNECT): the proxy's 407 comes back as an HTTP answer. The
    # on-premise token request has no body, so pproxy's habit of closing right after its 407
    # (before reading a body) cannot race the answer.
    with Emulator(users={"svc": "user-password-1"}) as plain:
        c = {"auth_mode": "user_password", "username": "svc", "password": "user-password-1",
             "base_url": plain.base_url, "proxy_url": auth_proxy.url(PROXY_USER, "wrong-proxy-pass"), "timeout": "15"}
        result = plugin.validate_provider(c)
        assert "The proxy refused the credentials (407" in result.error_message
        assert plain.stats.token_calls == 0
        ok = plugin.validate_provider(dict(c, proxy_url=auth_proxy.url()))
        assert ok.ok, ok.error
        assert plain.stats.token_calls == 1


def test_a_proxy_that_cannot_be_reached_is_named_without_its_password(plugin, https_emulator):
    with ForwardProxy(PROXY_USER, PROXY_PASSWORD) as gone:
        url = gone.url()
        port = gone.port
    result = plugin.validate_provider(creds(https_emulator, url))
    assert result.error_type == "CredentialsValidateFailedError"
    assert f"The proxy 127.0.0.1:{port} cannot be reached" in result.error_message
    assert PROXY_PASSWORD not in result.error_message and "s3cr" not in result.error_message
    assert https_emulator.stats.oauth_calls == 0


def test_without_a_form_proxy_the_environment_proxy_of_dify_applies(https_emulator, open_proxy):
    api, oauth = hosts(https_emulator)
    before = len(open_proxy.tunnels(api)) + len(open_proxy.tunnels(oauth))
    with PluginProcess(env={"HTTPS_PROXY": open_proxy.url(), "NO_PROXY": ""}) as plugin:
        _every_call_of_a_session(plugin, creds(https_emulator, ""))
    open_proxy.wait_for(before + 2, lambda: len(open_proxy.tunnels(api)) + len(open_proxy.tunnels(oauth)))
    assert len(open_proxy.tunnels(oauth)) + len(open_proxy.tunnels(api)) >= before + 2


def test_the_form_proxy_wins_over_the_environment_and_its_no_proxy(https_emulator, open_proxy, auth_proxy):
    api, _ = hosts(https_emulator)
    before_auth, before_open = len(auth_proxy.tunnels(api)), len(open_proxy.tunnels(api))
    env = {"HTTPS_PROXY": open_proxy.url(), "NO_PROXY": "127.0.0.1,localhost"}
    with PluginProcess(env=env) as plugin:
        _every_call_of_a_session(plugin, creds(https_emulator, auth_proxy.url()))
    auth_proxy.wait_for(before_auth + 1, lambda: len(auth_proxy.tunnels(api)))
    assert len(auth_proxy.tunnels(api)) > before_auth
    assert len(open_proxy.tunnels(api)) == before_open


def test_no_proxy_in_the_environment_keeps_its_meaning_without_a_form_proxy(https_emulator, open_proxy):
    api, oauth = hosts(https_emulator)
    before = len(open_proxy.tunnels(api)) + len(open_proxy.tunnels(oauth))
    with PluginProcess(env={"HTTPS_PROXY": open_proxy.url(), "NO_PROXY": "127.0.0.1,localhost"}) as plugin:
        _every_call_of_a_session(plugin, creds(https_emulator, ""))
    assert len(open_proxy.tunnels(api)) + len(open_proxy.tunnels(oauth)) == before


def test_an_unreachable_proxy_from_dify_s_environment_points_to_that_environment(https_emulator):
    # issue 17 #11: with 'Proxy URL' empty it said to check the host and port "in 'Proxy URL', or
    # clear the field"; the proxy came from HTTPS_PROXY, which Dify's plugin daemon passes on.
    with ForwardProxy() as gone:
        url, port = gone.url(), gone.port
    with PluginProcess(env={"HTTPS_PROXY": url, "NO_PROXY": ""}) as plugin:
        c = creds(https_emulator, "", max_retries="0")
        validation = plugin.validate_provider(c)
        chat = plugin.invoke_llm("GigaChat-2", c, [user("hi")], stream=True)
        embedding = plugin.invoke_embedding("Embeddings", c, ["a"])
    assert validation.error_type == "CredentialsValidateFailedError"
    assert chat.error_type == embedding.error_type == "InvokeConnectionError"
    for result in (validation, chat, embedding):
        message = result.error_message
        assert f"The proxy 127.0.0.1:{port} (from Dify's environment) cannot be reached" in message, message
        assert "HTTPS_PROXY" in message and "environment of Dify's plugin daemon" in message
        assert "clear the field" not in message
    assert https_emulator.stats.oauth_calls == 0
