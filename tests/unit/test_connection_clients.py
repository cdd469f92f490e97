"""connection/clients.py against the in-process emulator: settings only from the form, a token per
lifetime whatever unit its expiry comes in and whatever the cache evicts, a cache bounded by memory
whose evicted clients close their sockets once no request uses them."""

import base64
from pathlib import Path

import gigachat.api.auth as sdk_auth
import httpx
import pytest
import yaml
from dify_plugin.errors.model import CredentialsValidateFailedError
from gigachat.models.auth import AccessToken
from gigachat.settings import Settings
from hypothesis import given
from hypothesis import strategies as st

from emulator import DEFAULT_KEY, Emulator, make_key
from gigachat_dify import redaction
from gigachat_dify.connection import clients
from gigachat_dify.connection.clients import (
    CACHE_MEMORY_BUDGET,
    DECLARED_MEMORY,
    MAX_CLIENTS,
    cache_cost,
    expiry_ms,
    get_client,
    sdk_settings,
)
from gigachat_dify.connection.credentials import parse_credentials
from gigachat_dify.connection.proxy import ProxyUnreachable
from gigachat_dify.connection.token_cache import TOKENS
from tests.support.certs import make_ca
from tests.support.net import closed_port

ROOT = Path(__file__).resolve().parents[2]
CA = make_ca("Clients Test CA")


@pytest.fixture(scope="module")
def emu():
    with Emulator(users={"svc": "svc-password"}) as e:
        yield e


@pytest.fixture(autouse=True)
def _empty_cache():
    clients.clear()
    yield
    clients.clear()


def form(emu, **extra):
    return {"authorization_key": DEFAULT_KEY, "base_url": emu.base_url, "auth_url": emu.auth_url, **extra}


def test_every_setting_of_the_sdk_is_given_explicitly(emu):
    settings = parse_credentials(form(emu))
    assert set(sdk_settings(settings, None)) == set(Settings.model_fields), "a new SDK setting would come from GIGACHAT_*"


def test_gigachat_variables_of_the_process_change_nothing(emu, monkeypatch):
    # issue 10 item 11: profanity_check, max_connections and token_expiry_buffer_ms came from the environment.
    for name, value in {"PROFANITY_CHECK": "true", "MAX_CONNECTIONS": "1", "TOKEN_EXPIRY_BUFFER_MS": "99999999999",
                        "CREDENTIALS": make_key("env", "env-secret"), "USER": "env-user", "PASSWORD": "env-pass",
                        "BASE_URL": "http://203.0.113.1/api/v1", "VERIFY_SSL_CERTS": "false",
                        "CA_BUNDLE_FILE": "/nonexistent", "MODEL": "GigaChat-Env", "FLAGS": '["env"]',
                        "MAX_RETRIES": "7", "ACCESS_TOKEN": "env-token"}.items():
        monkeypatch.setenv(f"GIGACHAT_{name}", value)
    client = get_client(parse_credentials(form(emu, auth_mode="user_password", username="u", password="form-pass")))
    s = client._settings
    assert (s.profanity_check, s.max_connections, s.token_expiry_buffer_ms) == (None, None, 60_000)
    assert (s.credentials, s.user, s.password, s.access_token, s.model) == (None, "u", "form-pass", None, None)
    assert (s.base_url, s.verify_ssl_certs, s.ca_bundle_file, s.flags, s.max_retries) == (emu.base_url, True, None, [], 0)
    assert client._client._transport._pool._max_connections > 1


@pytest.mark.parametrize("name", ["TOKEN_EXPIRY_BUFFER_MS", "TIMEOUT", "MAX_CONNECTIONS", "VERIFY_SSL_CERTS", "FLAGS"])
def test_a_malformed_gigachat_variable_breaks_nothing(emu, monkeypatch, name):
    monkeypatch.setenv(f"GIGACHAT_{name}", "not-a-value")
    assert get_client(parse_credentials(form(emu))).get_models().data


@given(seconds=st.integers(946_684_800, 7_258_118_400))  # 2000 .. 2200
def test_an_expiry_in_seconds_and_the_same_in_milliseconds_mean_the_same_instant(seconds):
    assert expiry_ms(seconds) == expiry_ms(seconds * 1000) == seconds * 1000
    assert expiry_ms(0) == 0


def test_a_token_whose_expiry_is_in_seconds_is_fetched_once_per_lifetime(emu, monkeypatch):
    calls = []
    real = sdk_auth.auth_sync

    def seconds_shape(client, **kwargs):
        token = real(client, **kwargs)
        calls.append(token)
        return AccessToken(access_token=token.access_token, expires_at=token.expires_at // 1000)  # {tok, exp}

    monkeypatch.setattr(sdk_auth, "auth_sync", seconds_shape)
    client = get_client(parse_credentials(form(emu)))
    for _ in range(5):
        client.get_models()
    assert len(calls) == 1
    assert client._access_token.expires_at == calls[0].expires_at // 1000 * 1000


def test_the_budget_is_a_quarter_of_the_memory_the_manifest_declares():
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    assert manifest["resource"]["memory"] == DECLARED_MEMORY
    assert cache_cost(MAX_CLIENTS, 1) <= CACHE_MEMORY_BUDGET


def test_clients_share_the_ssl_context_of_identical_tls_material(emu):
    a = get_client(parse_credentials(form(emu)))
    b = get_client(parse_credentials(form(emu, authorization_key=make_key("other", "other-secret"))))
    c = get_client(parse_credentials(form(emu, ca_certificate=CA.cert_pem)))
    assert a is not b and a._settings.ssl_context is b._settings.ssl_context
    assert c._settings.ssl_context is not a._settings.ssl_context
    assert clients.cached() == (3, 2)


def test_the_cache_holds_at_most_what_its_budget_allows(emu):
    for i in range(MAX_CLIENTS + 20):
        get_client(parse_credentials(form(emu, authorization_key=make_key(f"c{i}", f"secret-{i}"))))
    assert clients.cached() == (MAX_CLIENTS, 1)
    for i in range(60):  # each with its own context (a pasted CA each)
        get_client(parse_credentials(form(emu, ca_certificate=make_ca(f"CA {i}").cert_pem)))
    count, contexts = clients.cached()
    assert cache_cost(count, contexts) <= CACHE_MEMORY_BUDGET
    assert contexts < 60


def _open_connections(client) -> int:
    return sum(len(t._pool.connections) for h in client._usage.http for t in (h._transport, *h._mounts.values()) if t)


def test_an_evicted_client_closes_its_sockets_once_its_last_stream_ends(emu):
    emu.keys[make_key("evicted", "evicted-secret")] = {"GIGACHAT_API_PERS"}
    victim = get_client(parse_credentials(form(emu, authorization_key=make_key("evicted", "evicted-secret"))))
    stream = victim.stream({"model": "GigaChat-2", "messages": [{"role": "user", "content": "a long answer " * 20}]})
    first = next(stream)
    assert victim.in_flight == 1 and _open_connections(victim) >= 1
    for i in range(MAX_CLIENTS):  # push it out of the cache
        get_client(parse_credentials(form(emu, authorization_key=make_key(f"n{i}", f"secret-{i}"))))
    assert _open_connections(victim) >= 1, "a stream in use must not be cut"
    rest = list(stream)
    assert first.choices and rest[-1].choices[0].finish_reason == "stop"
    assert victim.in_flight == 0 and _open_connections(victim) == 0
    # a late request on the evicted client still works, and closes its socket again afterwards
    assert victim.get_models().data
    assert _open_connections(victim) == 0


def test_an_idle_evicted_client_is_closed_at_once(emu):
    first = get_client(parse_credentials(form(emu)))
    first.get_models()
    assert _open_connections(first) == 1
    for i in range(MAX_CLIENTS):
        get_client(parse_credentials(form(emu, authorization_key=make_key(f"m{i}", f"secret-{i}"))))
    assert _open_connections(first) == 0




def test_a_proxy_that_refuses_connections_is_named_as_the_proxy(emu):
    port = closed_port()
    client = get_client(parse_credentials(form(emu, proxy_url=f"http://u:proxy-secret-1@127.0.0.1:{port}")))
    with pytest.raises(ProxyUnreachable) as err:
        client.get_token()
    assert err.value.proxy == f"127.0.0.1:{port}" and "proxy-secret-1" not in str(err.value)
    assert isinstance(err.value, httpx.ConnectError)  # still retried like any failed connection


def test_an_environment_proxy_applies_when_the_form_has_none(emu, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = get_client(parse_credentials(form(emu)))
    with pytest.raises(ProxyUnreachable) as err:
        client.get_models()
    assert f"127.0.0.1:{port}" in err.value.proxy and "environment" in err.value.proxy


def test_the_form_proxy_wins_over_the_environment_and_its_no_proxy(emu, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    port = closed_port()
    client = get_client(parse_credentials(form(emu, proxy_url=f"http://127.0.0.1:{port}")))
    with pytest.raises(ProxyUnreachable) as err:
        client.get_models()
    assert err.value.proxy == f"127.0.0.1:{port}"


def test_no_proxy_anywhere_goes_direct(emu, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert get_client(parse_credentials(form(emu))).get_models().data


def test_an_evicted_client_is_freed_as_soon_as_nothing_uses_it_not_at_a_later_full_collection(emu):
    # A cached client lives long, so a reference cycle would keep it (and its SSL context, ~0.7 MiB)
    # until a rare full collection: the SDK's cached namespaces and the usage tracker made one.
    import gc
    import weakref

    client = get_client(parse_credentials(form(emu, ca_certificate=make_ca("Freed CA").cert_pem)))
    client.chat({"model": "GigaChat-2", "messages": [{"role": "user", "content": "hi"}]})  # builds `chat`
    assert "chat" in client.__dict__
    ref = weakref.ref(client)
    del client
    gc.disable()
    try:
        for i in range(MAX_CLIENTS):
            get_client(parse_credentials(form(emu, authorization_key=make_key(f"f{i}", f"secret-{i}"))))
        assert ref() is None
    finally:
        gc.enable()


def _evict_all(emu):
    for i in range(MAX_CLIENTS):
        get_client(parse_credentials(form(emu, authorization_key=make_key(f"evict-{i}", f"secret-{i}"))))


@pytest.mark.parametrize("mode", ["authorization_key", "user_password"])
def test_an_evicted_credential_set_gets_its_kept_token_back_not_a_new_one(emu, monkeypatch, mode):
    counted = {"auth_sync": 0, "token_sync": 0}
    for name in counted:
        real = getattr(sdk_auth, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            counted[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(sdk_auth, name, counting)
    extra = {"auth_mode": "user_password", "username": "svc", "password": "svc-password"} if mode == "user_password" else {}
    settings = parse_credentials(form(emu, **extra))
    first = get_client(settings)
    assert first.get_models().data
    _evict_all(emu)
    second = get_client(settings)
    assert second is not first and second.get_models().data
    assert second.token == first.token
    assert sum(counted.values()) == 1, counted


def test_the_same_key_with_another_scope_gets_a_token_of_its_own(emu):
    key = make_key("two-scopes", "two-scopes-secret")
    emu.keys[key] = {"GIGACHAT_API_PERS", "GIGACHAT_API_B2B"}
    personal = get_client(parse_credentials(form(emu, authorization_key=key)))
    business = get_client(parse_credentials(form(emu, authorization_key=key, scope="GIGACHAT_API_B2B")))
    personal.get_models(), business.get_models()
    assert personal.token != business.token
    assert emu.state.tokens.check(personal.token).scope == "GIGACHAT_API_PERS"
    assert emu.state.tokens.check(business.token).scope == "GIGACHAT_API_B2B"


def test_a_client_certificate_keeps_no_token(emu):
    client = get_client(parse_credentials(CA.issue_client_cert("no-token").form(base_url=emu.base_url)))
    assert client.get_token() is None and len(TOKENS) == 0


def test_a_streamed_answer_leaves_its_connection_to_the_next_request(emu, monkeypatch):
    # The plugin's stream reader stopped at the answer's last event and closed the response before
    # the body's end: every stream cost the next request a new connection (with TLS: a handshake).
    from emulator import server

    accepted = []
    real = server.Connections.add
    monkeypatch.setattr(server.Connections, "add", lambda self, sock: accepted.append(1) or real(self, sock))
    client = get_client(parse_credentials(form(emu)))
    v1 = {"model": "GigaChat-2", "messages": [{"role": "user", "content": "a long answer " * 20}]}
    v2 = {"model": "GigaChat-2", "messages": [{"role": "user", "content": [{"text": "a long answer " * 20}]}]}
    assert client.chat(v1).choices  # the token and the connection
    opened = len(accepted)
    for _ in range(3):
        assert len(list(client.stream(v1))) > 1
        assert client.chat(v1).choices
        assert len(list(client.chat.stream(v2))) > 1
    assert len(accepted) == opened, "a stream closed its connection"


def test_a_ca_that_is_not_a_certificate_is_named_by_its_label_without_openssl_internals(emu):
    not_der = base64.b64encode(b"hello world, not DER").decode()
    ca = f"-----BEGIN CERTIFICATE-----\n{not_der}\n-----END CERTIFICATE-----\n"
    with pytest.raises(CredentialsValidateFailedError) as exc:
        get_client(parse_credentials(form(emu, ca_certificate=ca)))
    message = str(exc.value)
    assert message.startswith("The 'CA certificate (PEM)' is not usable: "), message
    assert "is not a certificate" in message and "paste the CA certificate's PEM file" in message
    assert "_ssl.c" not in message and "no start line" not in message and "cadata" not in message


@pytest.mark.parametrize("extra", [{}, {"auth_mode": "user_password", "username": "svc", "password": "svc-password"}],
                         ids=["oauth", "user-password"])
def test_an_access_token_the_plugin_fetched_is_masked_wherever_it_is_quoted(emu, extra):
    client = get_client(parse_credentials(form(emu, **extra)))
    client.get_token()
    token = client._access_token.access_token
    quoted = f"502 from the gateway: Authorization: Bearer {token} was refused"
    assert token not in redaction.redact(quoted)
    assert redaction.excerpt(quoted).startswith("502 from the gateway: Authorization: Bearer ***")
