"""connection/tls.py: pasted PEMs (keys too), certificate dates read without a library, client
certificates loaded into one SSL context with no key material ever left on disk."""

import datetime
import os
import ssl
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify.connection import tls
from gigachat_dify.connection.tls import (
    PRIVATE_KEY_KINDS,
    ClientCertificateError,
    ClientIdentity,
    PemError,
    build_ssl_context,
    certificate_validity,
    load_client_identity,
    normalize_pem,
    private_file,
    shared_context,
)
from tests.support.certs import make_ca

CA = make_ca("TLS Unit Test CA")
UTC = datetime.timezone.utc


def flatten(pem: str) -> str:
    """What a one-line form field makes of a PEM: line breaks become spaces."""
    return " ".join(pem.splitlines())


@pytest.mark.parametrize("key_format, password", [("pkcs8", None), ("pkcs8", "pw-123456"),
                                                   ("legacy", None), ("legacy", "pw-123456")],
                         ids=["pkcs8", "pkcs8-encrypted", "rsa", "rsa-encrypted-with-headers"])
def test_a_private_key_pasted_without_line_breaks_is_rebuilt_exactly(key_format, password):
    client = CA.issue_client_cert(password=password, key_format=key_format)
    assert normalize_pem(flatten(client.key_pem), kinds=PRIVATE_KEY_KINDS) == client.key_pem
    assert normalize_pem(client.key_pem.replace("\n", "\\n"), kinds=PRIVATE_KEY_KINDS) == client.key_pem


def test_a_key_field_without_a_key_block_says_to_paste_the_key():
    with pytest.raises(PemError, match="BEGIN PRIVATE KEY"):
        normalize_pem(CA.cert_pem, kinds=PRIVATE_KEY_KINDS)


dates = st.datetimes(min_value=datetime.datetime(1951, 1, 1), max_value=datetime.datetime(2098, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC))


@settings(max_examples=25, deadline=None)
@given(start=dates, days=st.integers(1, 20000))
def test_certificate_dates_are_read_from_the_der_in_both_time_encodings(start, days):
    # RFC 5280: UTCTime until 2049, GeneralizedTime from 2050 on: cryptography picks per date.
    end = min(start + datetime.timedelta(days=days), datetime.datetime(2099, 1, 1, tzinfo=UTC))
    client = CA.issue_client_cert(not_before=start, not_after=end)
    assert certificate_validity(client.cert_pem) == (start, end)


def test_something_that_is_not_a_certificate_inside_the_block_is_a_pem_error():
    with pytest.raises(PemError, match="not an X.509 certificate"):
        certificate_validity("-----BEGIN CERTIFICATE-----\nQUJDRA==\n-----END CERTIFICATE-----\n")


def _leftovers(directory: str) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("strategy", tls.FILE_STRATEGIES)
def test_each_way_of_handing_the_key_to_openssl_leaves_nothing_on_disk(strategy, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    client = CA.issue_client_cert()
    seen = {}
    with private_file((client.cert_pem + client.key_pem).encode(), strategy) as path:
        seen["files_during"] = _leftovers(str(tmp_path))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(path, password=lambda: b"")
        if strategy != "named":
            assert not path.startswith(str(tmp_path))  # read through a descriptor, not a name
    assert _leftovers(str(tmp_path)) == []
    if strategy == "named":
        assert len(seen["files_during"]) == 1  # the last resort: a name only while loading
    else:
        assert seen["files_during"] == [], "key material must never have a name on disk"


@pytest.mark.parametrize("strategy", tls.FILE_STRATEGIES)
def test_a_failed_load_leaves_nothing_on_disk_either(strategy, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    client, other = CA.issue_client_cert(), CA.issue_client_cert()
    with pytest.raises(ClientCertificateError, match="do not match"):
        load_client_identity(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
                             ClientIdentity(client.cert_pem, other.key_pem), strategy)
    assert _leftovers(str(tmp_path)) == []


def test_the_named_fallback_file_is_private_while_it_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with private_file(b"secret", "named") as path:
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_without_memfd_the_unlinked_file_serves(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delattr(os, "memfd_create")
    client = CA.issue_client_cert()
    with private_file((client.cert_pem + client.key_pem).encode()) as path:
        assert path.startswith("/dev/fd/")
        assert _leftovers(str(tmp_path)) == []


@pytest.mark.parametrize("key_format", ["pkcs8", "legacy"])
def test_an_encrypted_key_with_the_right_password_loads_and_a_wrong_one_is_named(key_format):
    client = CA.issue_client_cert(password="right-password", key_format=key_format)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_client_identity(ctx, ClientIdentity(client.cert_pem, client.key_pem, "right-password"))
    with pytest.raises(ClientCertificateError, match="password is wrong") as err:
        load_client_identity(ctx, ClientIdentity(client.cert_pem, client.key_pem, "wrong-password"))
    assert "wrong-password" not in str(err.value) and "right-password" not in str(err.value)


def test_a_certificate_and_a_foreign_key_are_told_apart_from_a_bad_password():
    client, other = CA.issue_client_cert(), CA.issue_client_cert()
    with pytest.raises(ClientCertificateError, match="do not match"):
        load_client_identity(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ClientIdentity(client.cert_pem, other.key_pem))


@pytest.mark.parametrize("password", ["", "right-password"])
def test_a_key_of_another_type_than_the_certificates_is_a_mismatch_not_a_bad_key_or_password(password):
    rsa = CA.issue_client_cert(key_format="legacy", password=password or None)  # the CA's own key is EC
    with pytest.raises(tls.KeyMismatchError, match="do not match"):
        load_client_identity(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ClientIdentity(CA.cert_pem, rsa.key_pem, password))


def test_the_certificate_the_key_belongs_to_is_put_first_and_a_chain_pasted_root_first_reversed():
    client, other = CA.issue_client_cert(), make_ca("Another Unit Test CA")
    identity = ClientIdentity(other.cert_pem + CA.cert_pem + client.cert_pem, client.key_pem)
    assert tls.leaf_first(identity).cert_pem == client.cert_pem + CA.cert_pem + other.cert_pem
    middle = ClientIdentity(CA.cert_pem + client.cert_pem + other.cert_pem, client.key_pem)
    assert tls.leaf_first(middle).cert_pem == client.cert_pem + CA.cert_pem + other.cert_pem
    in_order = ClientIdentity(client.cert_pem + CA.cert_pem, client.key_pem)
    assert tls.leaf_first(in_order) == in_order


def test_a_chain_without_the_keys_certificate_is_a_mismatch_and_a_wrong_password_stays_one():
    client, other = CA.issue_client_cert(), CA.issue_client_cert(password="right-password")
    with pytest.raises(tls.KeyMismatchError, match="do not match"):
        tls.leaf_first(ClientIdentity(CA.cert_pem + client.cert_pem, other.key_pem, "right-password"))
    with pytest.raises(ClientCertificateError, match="password is wrong"):
        tls.leaf_first(ClientIdentity(CA.cert_pem + other.cert_pem, other.key_pem, "wrong-password"))


def test_one_context_carries_verification_the_pasted_ca_and_the_client_certificate():
    client = CA.issue_client_cert()
    ctx = build_ssl_context(verify=True, ca_pem=CA.cert_pem, client=ClientIdentity(client.cert_pem, client.key_pem))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert any("TLS Unit Test CA" in str(c["subject"]) for c in ctx.get_ca_certs())


def test_clients_with_the_same_material_share_one_context_and_others_do_not():
    a = shared_context(True, CA.cert_pem, None)
    assert shared_context(True, CA.cert_pem, None) is a
    assert shared_context(True, None, None) is not a
    assert shared_context(False, CA.cert_pem, None) is not a
    client = CA.issue_client_cert()
    with_cert = shared_context(True, CA.cert_pem, ClientIdentity(client.cert_pem, client.key_pem))
    assert with_cert is not a
    assert shared_context(True, CA.cert_pem, ClientIdentity(client.cert_pem, client.key_pem)) is with_cert
