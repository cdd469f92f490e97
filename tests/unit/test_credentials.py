import base64

import pytest
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.credentials import DEFAULT_AUTH_URL, DEFAULT_BASE_URL, parse_credentials
from tests.support.certs import make_ca

KEY = base64.b64encode(b"client-id:client-secret-123").decode()


def test_defaults_fill_everything_but_the_key():
    s = parse_credentials({"authorization_key": KEY})
    assert (s.base_url, s.auth_url, s.scope, s.verify_ssl) == (DEFAULT_BASE_URL, DEFAULT_AUTH_URL, "GIGACHAT_API_PERS", True)
    assert s.embedding_concurrency == 1  # documented: individuals get 1 concurrent request


def test_business_scopes_get_more_embedding_concurrency():
    assert parse_credentials({"authorization_key": KEY, "scope": "GIGACHAT_API_CORP"}).embedding_concurrency == 6


@pytest.mark.parametrize(
    "creds, phrase",
    [
        ({}, "Enter the authorization key"),
        ({"authorization_key": "not base64 !!"}, "base64 'Authorization key'"),
        ({"authorization_key": base64.b64encode(b"no-colon").decode()}, "client_id:client_secret"),
        ({"authorization_key": KEY, "scope": "GIGACHAT_API_FOO"}, "Scope must be one of"),
        ({"authorization_key": KEY, "base_url": "gigachat.devices.sberbank.ru/api/v1"}, "must start with https://"),
        ({"authorization_key": KEY, "auth_url": "ftp://x"}, "OAuth URL"),
        ({"authorization_key": KEY, "timeout": "soon"}, "Request timeout must be a number"),
        ({"authorization_key": KEY, "ca_certificate": "garbage"}, "BEGIN CERTIFICATE"),
    ],
)
def test_malformed_credentials_say_what_to_fix(creds, phrase):
    with pytest.raises(CredentialsValidateFailedError) as err:
        parse_credentials(creds)
    assert phrase in str(err.value)
    assert "client-secret" not in str(err.value)


def test_key_pasted_with_basic_prefix_and_spaces_is_accepted():
    s = parse_credentials({"authorization_key": f" Basic {KEY[:10]} {KEY[10:]} "})
    assert s.authorization_key == KEY


def test_fingerprint_changes_with_every_connection_field_and_hides_the_key():
    base = parse_credentials({"authorization_key": KEY})
    variants = [
        {"authorization_key": base64.b64encode(b"client-id:other-secret").decode()},
        {"authorization_key": KEY, "scope": "GIGACHAT_API_B2B"},
        {"authorization_key": KEY, "base_url": "https://proxy.local/api/v1"},
        {"authorization_key": KEY, "verify_ssl": False},
        {"authorization_key": KEY, "timeout": "5"},
        {"authorization_key": KEY, "ca_certificate": make_ca().cert_pem},
    ]
    prints = {parse_credentials(v).fingerprint for v in variants} | {base.fingerprint}
    assert len(prints) == len(variants) + 1
    assert parse_credentials({"authorization_key": KEY}).fingerprint == base.fingerprint
    assert KEY not in base.fingerprint and KEY[:8] not in base.fingerprint
    assert KEY not in repr(base)


def test_ca_pasted_without_line_breaks_is_rebuilt():
    pem = make_ca().cert_pem
    flat = " ".join(pem.splitlines())
    assert parse_credentials({"authorization_key": KEY, "ca_certificate": flat}).ca_pem == pem
