"""Client certificate mode (mutual TLS) end to end through Dify's stdio protocol, against the
emulator serving HTTPS with a server certificate of a private CA and verifying client certificates
signed by that CA: validation, a streamed chat and embeddings work without any token; each
problem with the certificate has its own message; the key never reaches the disk."""

import datetime
import os

import pytest

from emulator import Emulator
from tests.support.certs import https_emulator, make_ca
from tests.support.daemon import collect_text, user

CA = make_ca("Test Corporate Root CA")


@pytest.fixture(scope="module")
def mtls(tmp_path_factory):
    with https_emulator(CA, str(tmp_path_factory.mktemp("mtls")), verify_clients=True) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _clean(mtls):
    mtls.reset()


@pytest.fixture
def private_tmp(plugin):
    """The plugin's temp dir: it must stay empty (key material never written to a file)."""
    return plugin.tmp_dir


def creds(emu, client, **extra):
    return client.form(base_url=emu.base_url, ca_certificate=CA.cert_pem, timeout="15", **extra)


def test_validation_chat_and_embeddings_work_with_the_certificate_alone(mtls, plugin, private_tmp):
    client = CA.issue_client_cert("corp-account")
    c = creds(mtls, client)
    assert plugin.validate_provider(c).ok
    chat = plugin.invoke_llm("GigaChat-2-Max", c, [user("через сертификат")], stream=True)
    assert chat.ok, chat.error
    assert collect_text(chat) == "Echo: через сертификат" and len(chat.chunks) > 2
    emb = plugin.invoke_embedding("Embeddings", c, ["один", "два"])
    assert emb.ok, emb.error
    assert len(emb.chunks[0]["embeddings"]) == 2
    assert mtls.stats.oauth_calls == 0 and mtls.stats.token_calls == 0
    api = [r for r in mtls.log if r.path in ("/models", "/chat/completions", "/embeddings")]
    assert len(api) == 3 and all(r.auth_scheme is None for r in api), "mutual TLS sends no Authorization"
    assert os.listdir(private_tmp) == []


@pytest.mark.parametrize("key_format", ["pkcs8", "legacy"])
def test_an_encrypted_key_pasted_on_one_line_works_with_its_password(mtls, plugin, key_format):
    client = CA.issue_client_cert(password="корп-пароль-1", key_format=key_format)
    c = creds(mtls, client, client_certificate=" ".join(client.cert_pem.splitlines()),
              client_private_key=" ".join(client.key_pem.splitlines()))
    result = plugin.invoke_llm("GigaChat-2", c, [user("hi")], stream=False)
    assert result.ok, result.error


def _expired_client():
    now = datetime.datetime.now(datetime.timezone.utc)
    return CA.issue_client_cert(not_before=now - datetime.timedelta(days=90), not_after=now - datetime.timedelta(hours=1))


FAILURES = {
    "certificate and key do not match": (
        lambda: {**CA.issue_client_cert().form(), "client_private_key": CA.issue_client_cert().key_pem},
        "the client certificate and the private key do not match"),
    "wrong key password": (
        lambda: {**CA.issue_client_cert(password="right-pass-1").form(), "client_private_key_password": "wrong-pass-1"},
        "the private key password is wrong"),
    "expired certificate": (lambda: _expired_client().form(), "The client certificate expired on"),
    "certificate of a CA the server does not trust": (
        lambda: make_ca("Some Other CA").issue_client_cert().form(), "refused the client certificate"),
    "key encrypted, no password": (
        lambda: {**CA.issue_client_cert(password="right-pass-1").form(), "client_private_key_password": ""},
        "The private key is encrypted: enter its password"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_each_certificate_problem_has_its_own_message_and_no_secret(mtls, plugin, private_tmp, case):
    make_form, phrase = FAILURES[case]
    form = make_form()
    c = {**form, "base_url": mtls.base_url, "ca_certificate": CA.cert_pem, "timeout": "15"}
    result = plugin.validate_provider(c)
    assert result.error_type == "CredentialsValidateFailedError", result.error
    assert phrase in result.error_message
    others = [p for name, (_, p) in FAILURES.items() if name != case]
    assert not any(p in result.error_message for p in others)
    for secret in ("right-pass-1", "wrong-pass-1", "PRIVATE KEY"):
        assert secret not in result.error_message
    assert os.listdir(private_tmp) == [], "no key material left behind, also when loading failed"
    # the same problem during a chat is an authorization error with the same advice
    chat = plugin.invoke_llm("GigaChat-2", c, [user("hi")], stream=True)
    assert chat.error_type == "InvokeAuthorizationError" and phrase in chat.error_message


def test_a_chain_pasted_ca_first_serves_the_accounts_certificate_and_its_expiry_is_named(mtls, plugin, private_tmp):
    client = CA.issue_client_cert("corp-chain")
    c = creds(mtls, client, client_certificate=CA.cert_pem + client.cert_pem)
    assert plugin.validate_provider(c).ok
    chat = plugin.invoke_llm("GigaChat-2", c, [user("chain")], stream=False)
    assert chat.ok, chat.error
    api = [r for r in mtls.log if r.path in ("/models", "/chat/completions")]
    assert len(api) == 2 and all(r.client_id.startswith("cert:corp-chain:") for r in api)
    expired = _expired_client()
    result = plugin.validate_provider(creds(mtls, expired, client_certificate=CA.cert_pem + expired.cert_pem))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "The client certificate expired on" in result.error_message
    assert os.listdir(private_tmp) == []


def test_the_server_certificate_is_still_verified_in_certificate_mode(mtls, plugin):
    c = {**CA.issue_client_cert().form(), "base_url": mtls.base_url, "timeout": "15"}  # no CA pasted
    result = plugin.validate_provider(c)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "could not be verified" in result.error_message and "CA certificate" in result.error_message


def test_a_host_that_does_not_take_the_certificate_as_a_login_says_so(mtls, plugin):
    # A certificate the TLS layer accepts, but the API answers 401: here, plain HTTP without mTLS.
    with Emulator() as plain:
        c = {**CA.issue_client_cert().form(), "base_url": plain.base_url, "timeout": "15"}
        result = plugin.validate_provider(c)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "not the client certificate as a login (401)" in result.error_message


@pytest.fixture(scope="module")
def mtls_required(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("mtls-required"))
    with https_emulator(CA, directory, verify_clients=True, require_client_cert=True) as emu:
        yield emu


def test_a_host_that_requires_a_certificate_serves_the_certificate_as_the_account(plugin, mtls_required):
    mtls_required.reset()
    client = CA.issue_client_cert("corp-required")
    c = creds(mtls_required, client)
    assert plugin.validate_provider(c).ok
    chat = plugin.invoke_llm("GigaChat-2", c, [user("required")], stream=True)
    assert chat.ok, chat.error
    assert plugin.invoke_embedding("Embeddings", c, ["x"]).ok
    api = [r for r in mtls_required.log if r.path in ("/chat/completions", "/embeddings")]
    serial = format(client.cert.serial_number, "X")
    assert len(api) == 2 and all(r.client_id.startswith("cert:corp-required:") for r in api)
    assert all(r.client_id.upper().endswith(serial) for r in api)


def test_the_key_mode_against_a_host_that_requires_a_certificate_points_to_the_certificate_mode(plugin, mtls_required):
    from emulator import DEFAULT_KEY

    c = {"authorization_key": DEFAULT_KEY, "base_url": mtls_required.base_url, "auth_url": mtls_required.auth_url,
         "ca_certificate": CA.cert_pem, "timeout": "15"}
    result = plugin.validate_provider(c)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "requires a client certificate: choose the 'Client certificate' authentication mode" in result.error_message
    chat = plugin.invoke_llm("GigaChat-2", c, [user("hi")], stream=True)
    assert chat.error_type == "InvokeAuthorizationError" and "requires a client certificate" in chat.error_message
