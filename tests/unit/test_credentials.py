import base64

import pytest
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.credentials import DEFAULT_AUTH_URL, DEFAULT_BASE_URL, parse_credentials
from tests.support.certs import make_ca

KEY = base64.b64encode(b"client-id:client-secret-123").decode()


def test_defaults_fill_everything_but_the_key():
    s = parse_credentials({"authorization_key": KEY})
    assert (s.base_url, s.auth_url, s.auth.scope, s.verify_ssl) == (DEFAULT_BASE_URL, DEFAULT_AUTH_URL, "GIGACHAT_API_PERS", True)
    assert s.embedding_concurrency == 1  # documented: individuals get 1 concurrent request


def test_business_scopes_get_more_embedding_concurrency():
    assert parse_credentials({"authorization_key": KEY, "scope": "GIGACHAT_API_CORP"}).embedding_concurrency == 6


@pytest.mark.parametrize(
    "creds, phrase",
    [
        ({}, "Enter the authorization key"),
        ({"authorization_key": "not base64 !!"}, "base64 'Authorization key'"),
        ({"authorization_key": base64.b64encode(b"no-colon").decode()}, "client_id:client_secret"),
        ({"authorization_key": KEY, "scope": "GIGACHAT_API_FOO"}, "'Scope (account type)' must be one of"),
        ({"authorization_key": KEY, "base_url": "gigachat.devices.sberbank.ru/api/v1"}, "must start with https://"),
        ({"authorization_key": KEY, "auth_url": "ftp://x"}, "OAuth URL"),
        ({"authorization_key": KEY, "base_url": "https://api.giga.chat/v1?x=1"},
         "The 'Base URL' https://api.giga.chat/v1?x=1 has a query string"),
        ({"authorization_key": KEY, "base_url": "https://api.giga.chat/v1#models"}, "e.g. https://api.giga.chat/v1."),
        ({"authorization_key": KEY, "timeout": "soon"}, "'Request timeout (seconds)' must be a number"),
        ({"authorization_key": KEY, "base_url": "https://127.0.0.1:abc/api/v1"}, "The 'Base URL' has an invalid port 'abc'"),
        ({"authorization_key": KEY, "auth_url": "http://127.0.0.1:9443x/api/v2/oauth"},
         "The 'OAuth URL' has an invalid port '9443x'"),
        ({"authorization_key": KEY, "base_url": "http://admin:BaseUrlPassw0rd@127.0.0.1:8080/api/v1"},
         "The 'Base URL' contains '@' (user:password@)"),
        ({"authorization_key": KEY, "auth_url": "https://admin:BaseUrlPassw0rd@ngw.local/api/v2/oauth"},
         "The 'OAuth URL' contains '@' (user:password@)"),
        ({"authorization_key": KEY, "ca_certificate": "garbage"}, "BEGIN CERTIFICATE"),
    ],
)
def test_malformed_credentials_say_what_to_fix(creds, phrase):
    with pytest.raises(CredentialsValidateFailedError) as err:
        parse_credentials(creds)
    assert phrase in str(err.value)
    assert "client-secret" not in str(err.value) and "Passw0rd" not in str(err.value)


def test_key_pasted_with_basic_prefix_and_spaces_is_accepted():
    s = parse_credentials({"authorization_key": f" Basic {KEY[:10]} {KEY[10:]} "})
    assert s.auth.key == KEY


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


# ---- authentication modes -------------------------------------------------------------------------

import datetime  # noqa: E402

from gigachat_dify import redaction  # noqa: E402
from gigachat_dify.connection.auth.client_certificate import ClientCertificate  # noqa: E402
from gigachat_dify.connection.auth.user_password import UserPassword  # noqa: E402

CA = make_ca("Credentials Test CA")
CLIENT = CA.issue_client_cert()
ENCRYPTED = CA.issue_client_cert(password="key-pass-123", key_format="legacy")


def test_the_key_is_needed_only_in_its_own_mode():
    s = parse_credentials(CLIENT.form())
    assert isinstance(s.auth, ClientCertificate) and not hasattr(s.auth, "key") and not hasattr(s.auth, "scope")
    s = parse_credentials({"auth_mode": "user_password", "username": "svc-dify", "password": "p@ss word"})
    assert s.auth == UserPassword("svc-dify", "p@ss word")
    assert s.auth.sdk_arguments() == {"user": "svc-dify", "password": "p@ss word"}


def test_client_certificate_and_key_pasted_on_one_line_are_accepted():
    form = ENCRYPTED.form(client_certificate=" ".join(ENCRYPTED.cert_pem.splitlines()),
                          client_private_key=" ".join(ENCRYPTED.key_pem.splitlines()))
    identity = parse_credentials(form).auth.identity
    assert (identity.cert_pem, identity.key_pem, identity.key_password) == (
        ENCRYPTED.cert_pem, ENCRYPTED.key_pem, "key-pass-123")


def test_a_chain_pasted_ca_first_is_used_with_the_accounts_certificate_first():
    form = CLIENT.form(client_certificate=CA.cert_pem + CLIENT.cert_pem)
    assert parse_credentials(form).auth.identity.cert_pem == CLIENT.cert_pem + CA.cert_pem
    encrypted = ENCRYPTED.form(client_certificate=" ".join((CA.cert_pem + ENCRYPTED.cert_pem).splitlines()))
    assert parse_credentials(encrypted).auth.identity.cert_pem == ENCRYPTED.cert_pem + CA.cert_pem


def test_a_chain_in_the_documented_order_stays_as_it_is():
    form = CLIENT.form(client_certificate=CLIENT.cert_pem + CA.cert_pem)
    assert parse_credentials(form).auth.identity.cert_pem == CLIENT.cert_pem + CA.cert_pem


def _expired():
    now = datetime.datetime.now(datetime.timezone.utc)
    return CA.issue_client_cert(not_before=now - datetime.timedelta(days=400), not_after=now - datetime.timedelta(days=1))


def _future():
    now = datetime.datetime.now(datetime.timezone.utc)
    return CA.issue_client_cert(not_before=now + datetime.timedelta(days=3), not_after=now + datetime.timedelta(days=30))


@pytest.mark.parametrize(
    "creds, phrase",
    [
        ({"auth_mode": "kerberos"}, "'Authentication' must be one of authorization_key, client_certificate"),
        ({"auth_mode": "client_certificate"}, "Paste the client certificate"),
        ({**CLIENT.form(), "client_private_key": ""}, "Paste the private key"),
        ({**CLIENT.form(), "client_certificate": "garbage"}, "BEGIN CERTIFICATE"),
        ({**CLIENT.form(), "client_private_key": CLIENT.cert_pem}, "paste the whole PEM private key"),
        (_expired().form(), "The client certificate expired on"),
        ({**(expired := _expired()).form(), "client_certificate": CA.cert_pem + expired.cert_pem},
         "The client certificate expired on"),
        ({**(future := _future()).form(), "client_certificate": CA.cert_pem + future.cert_pem}, "is valid only from"),
        ({**CLIENT.form(), "client_certificate": CA.cert_pem + _expired().cert_pem}, "do not match"),
        ({**ENCRYPTED.form(), "client_certificate": CA.cert_pem + ENCRYPTED.cert_pem,
          "client_private_key_password": "wrong-pass"}, "the private key password is wrong"),
        ({**CLIENT.form(), "client_certificate": CLIENT.cert_pem
          + "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"},
         "is not an X.509 certificate"),
        (_future().form(), "is valid only from"),
        ({**ENCRYPTED.form(), "client_private_key_password": ""}, "The private key is encrypted: enter its password"),
        ({"auth_mode": "user_password", "password": "secret-pass"}, "Enter the user name"),
        ({"auth_mode": "user_password", "username": "svc"}, "Enter the password of the user 'svc'"),
        ({"authorization_key": KEY, "proxy_url": "proxy.local:3128"}, "http://[user:password@]host:port"),
        ({"authorization_key": KEY, "proxy_url": "socks5://proxy.local:1080"}, "http://[user:password@]host:port"),
        ({"authorization_key": KEY, "proxy_url": "http://u:proxy-pass-1@proxy.local"}, "has no port"),
        ({"authorization_key": KEY, "proxy_url": "http://u:proxy-pass-1@proxy.local:3128/x"}, "without a path"),
        ({"authorization_key": KEY, "proxy_url": "http://u:proxy-pass-1\t@proxy.local:3128"}, "The 'Proxy URL' contains a tab"),
        ({"authorization_key": KEY, "proxy_url": "http://u:proxy-pass-1@proxy.local:31x28"},
         "The 'Proxy URL' has an invalid port"),
        ({"authorization_key": KEY, "verify_ssl": "ture"}, "'Verify TLS certificates' must be on or off"),
    ],
)
def test_each_mode_says_what_to_fix(creds, phrase):
    with pytest.raises(CredentialsValidateFailedError) as err:
        parse_credentials(creds)
    message = str(err.value)
    assert phrase in message
    for secret in ("proxy-pass-1", "secret-pass", "key-pass-123", "BEGIN PRIVATE KEY-----\n"):
        assert secret not in message


def test_a_stray_verify_value_never_switches_verification_off():
    # issue 10 item 8: "_bool" read every unknown value as false.
    for stray in ("maybe", "2", "enable", "tru"):
        with pytest.raises(CredentialsValidateFailedError):
            parse_credentials({"authorization_key": KEY, "verify_ssl": stray})
    assert parse_credentials({"authorization_key": KEY, "verify_ssl": "on"}).verify_ssl is True


def test_a_proxy_url_is_kept_and_its_password_never_shows():
    s = parse_credentials({"authorization_key": KEY, "proxy_url": "http://dify:p%40ss-word-9@proxy.local:3128/"})
    assert s.proxy_url == "http://dify:p%40ss-word-9@proxy.local:3128"
    assert "p%40ss" not in repr(s) and "p@ss" not in repr(s)


FORMS = {
    "key": {"authorization_key": KEY},
    "other key": {"authorization_key": base64.b64encode(b"client-id:other-secret").decode()},
    "scope": {"authorization_key": KEY, "scope": "GIGACHAT_API_CORP"},
    "base url": {"authorization_key": KEY, "base_url": "https://api.giga.chat/v1"},
    "auth url": {"authorization_key": KEY, "auth_url": "https://ngw.example/api/v2/oauth"},
    "ca": {"authorization_key": KEY, "ca_certificate": CA.cert_pem},
    "verify": {"authorization_key": KEY, "verify_ssl": False},
    "proxy": {"authorization_key": KEY, "proxy_url": "http://proxy.local:3128"},
    "proxy password": {"authorization_key": KEY, "proxy_url": "http://u:other@proxy.local:3128"},
    "timeout": {"authorization_key": KEY, "timeout": "5"},
    "retries": {"authorization_key": KEY, "max_retries": "0"},
    "concurrency": {"authorization_key": KEY, "embedding_concurrency": "3"},
    "certificate": CLIENT.form(),
    "other certificate": CA.issue_client_cert().form(),
    "key password": ENCRYPTED.form(),
    "user": {"auth_mode": "user_password", "username": "a", "password": "pw-one"},
    "other user": {"auth_mode": "user_password", "username": "b", "password": "pw-one"},
    "user password": {"auth_mode": "user_password", "username": "a", "password": "pw-two"},
}


def test_every_field_of_every_mode_is_in_the_fingerprint():
    prints = {name: parse_credentials(dict(form)).fingerprint for name, form in FORMS.items()}
    assert len(set(prints.values())) == len(FORMS), prints
    assert parse_credentials(dict(FORMS["certificate"])).fingerprint == prints["certificate"]
    # Every field of the settings (and of each mode) is covered by some form above.
    import dataclasses

    from gigachat_dify.connection.credentials import ConnectionSettings
    assert {f.name for f in dataclasses.fields(ConnectionSettings)} == {
        "base_url", "auth_url", "auth", "ca_pem", "verify_ssl", "proxy_url", "timeout", "max_retries",
        "embedding_concurrency"}


# ---- redaction: issue 10 item 2 -------------------------------------------------------------------


def test_a_word_typed_as_a_key_is_masked_in_its_own_request_only():
    with pytest.raises(CredentialsValidateFailedError):
        parse_credentials({"authorization_key": "GigaChat"})
    assert redaction.redact("GigaChat rejected the request") == "*** rejected the request"  # this request
    import contextvars

    def another_workspace():
        parse_credentials({"authorization_key": KEY})
        return redaction.redact("GigaChat rejected the request")

    assert contextvars.Context().run(another_workspace) == "GigaChat rejected the request"
    assert contextvars.Context().run(redaction.redact, "GigaChat") == "GigaChat"


def test_checked_keys_are_masked_everywhere_and_their_number_is_bounded(monkeypatch):
    import contextvars

    monkeypatch.setattr(redaction, "_process", type(redaction._process)())
    keys = [base64.b64encode(f"client-{i}:secret-{i:06d}-abcdef".encode()).decode() for i in range(1100)]
    for key in keys:
        contextvars.Context().run(parse_credentials, {"authorization_key": key})
    assert len(redaction._process) == redaction.MAX_PROCESS_SECRETS
    assert contextvars.Context().run(redaction.redact, f"x {keys[-1]} y") == "x *** y"
    assert contextvars.Context().run(redaction.redact, "secret-001099-abcdef") == "***"  # the client secret too
    assert contextvars.Context().run(redaction.redact, f"{keys[0]}") == keys[0]  # the oldest was dropped


def test_every_secret_field_is_masked_in_the_request_messages():
    form = {**ENCRYPTED.form(), "proxy_url": "http://u:pr%2Fxy-pass@proxy.local:3128", "base_url": "key-pass-123"}
    with pytest.raises(CredentialsValidateFailedError) as err:
        parse_credentials(form)
    assert "key-pass-123" not in str(err.value)
    text = f"{ENCRYPTED.key_pem} pr/xy-pass pr%2Fxy-pass {' '.join(ENCRYPTED.key_pem.split())}"
    clean = redaction.redact(text)
    assert "pr/xy-pass" not in clean and "pr%2Fxy-pass" not in clean
    assert [piece for piece in clean.split() if len(piece) >= 16] == []  # every line of the key


def test_the_fingerprint_is_computed_once_per_distinct_form(monkeypatch):
    # A request reads it for its client, its token, its session id and its files, and Dify sends
    # the same form with every request: one keyed hash per form, not per request.
    from gigachat_dify.connection import credentials as module

    module.forget_parsed()
    hashes = []
    real = module.hmac.new
    monkeypatch.setattr(module.hmac, "new", lambda *a, **kw: hashes.append(1) or real(*a, **kw))
    settings = parse_credentials({"authorization_key": KEY})
    assert settings.fingerprint == settings.fingerprint == parse_credentials({"authorization_key": KEY}).fingerprint
    assert len(hashes) == 1
    assert parse_credentials({"authorization_key": KEY, "timeout": "5"}).fingerprint != settings.fingerprint
    assert len(hashes) == 2  # another form: its own


# ---- one parse per form ----------------------------------------------------------------------------

import contextvars  # noqa: E402
import functools  # noqa: E402

from gigachat_dify.connection import credentials as credentials_module  # noqa: E402
from gigachat_dify.connection.auth import authorization_key, client_certificate  # noqa: E402

OTHER_KEY = base64.b64encode(b"other-id:other-secret-456").decode()


def _in_own_context(fn, *args):
    """As dify_plugin serves each request: in its own context."""
    return contextvars.Context().run(fn, *args)


def test_a_form_is_parsed_once_and_each_request_still_masks_its_own_secrets(monkeypatch):
    credentials_module.forget_parsed()
    parsed = []
    real = authorization_key.parse
    monkeypatch.setattr(authorization_key, "parse", lambda form: parsed.append(form["authorization_key"]) or real(form))
    a = {"authorization_key": KEY, "proxy_url": "http://u:proxy-pass-a1@proxy.local:3128"}
    b = {"authorization_key": OTHER_KEY, "proxy_url": "http://u:proxy-pass-b2@proxy.local:3128"}

    def request(form):
        settings = parse_credentials(dict(form))  # Dify sends a new dict every time
        return settings, redaction.redact("proxy-pass-a1 proxy-pass-b2")

    first, seen_by_a = _in_own_context(request, a)
    _, seen_by_b = _in_own_context(request, b)
    again, seen_by_a_again = _in_own_context(request, a)
    assert parsed == [KEY, OTHER_KEY], "each distinct form parsed once"
    assert again is first
    # the proxy password is a request secret: masked in its own workspace's requests only, cached or not
    assert seen_by_a == seen_by_a_again == "*** proxy-pass-b2"
    assert seen_by_b == "proxy-pass-a1 ***"


def test_a_changed_form_is_parsed_again_and_a_bad_one_every_time(monkeypatch):
    credentials_module.forget_parsed()
    parsed = []
    real = authorization_key.parse
    monkeypatch.setattr(authorization_key, "parse", lambda form: parsed.append(1) or real(form))
    first = parse_credentials({"authorization_key": KEY, "timeout": 30})
    assert parse_credentials({"authorization_key": KEY, "timeout": 31}).timeout == 31
    assert parse_credentials({"authorization_key": KEY, "timeout": "30"}) is not first  # another form, same meaning
    for _ in range(2):
        with pytest.raises(CredentialsValidateFailedError, match="'Scope \\(account type\\)' must be one of"):
            parse_credentials({"authorization_key": KEY, "scope": "GIGACHAT_API_FOO"})
    assert len(parsed) == 5


def test_a_parsed_client_certificate_is_refused_once_it_expires(monkeypatch):
    credentials_module.forget_parsed()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = CA.issue_client_cert(not_before=now - datetime.timedelta(days=1), not_after=now + datetime.timedelta(hours=1))
    settings = parse_credentials(cert.form())
    assert parse_credentials(cert.form()) is settings
    later = now + datetime.timedelta(hours=2)
    monkeypatch.setattr(credentials_module, "_now", lambda: later)
    monkeypatch.setattr(client_certificate, "parse", functools.partial(client_certificate.parse, now=later))
    with pytest.raises(CredentialsValidateFailedError, match="The client certificate expired on"):
        parse_credentials(cert.form())


def test_the_parsed_forms_kept_are_bounded_in_number_and_in_size():
    module = credentials_module
    module.forget_parsed()
    for i in range(module.MAX_PARSED + 20):
        parse_credentials({"authorization_key": KEY, "timeout": 1 + i % 599, "max_retries": i // 599})
    assert len(module._parsed) == module.MAX_PARSED
    module.forget_parsed()
    parse_credentials({"authorization_key": KEY, "ca_bundle_note": "x" * (module.MAX_PARSED_BYTES // 16 + 1)})
    assert len(module._parsed) == 0, "one huge form is parsed, not kept"
    for i in range(20):  # large forms (pasted CA bundles): as many as the size allows
        parse_credentials({"authorization_key": KEY, "timeout": 1 + i, "ca_bundle_note": "x" * (module.MAX_PARSED_BYTES // 17)})
    assert 0 < len(module._parsed) < 20
    assert module._parsed_bytes == sum(p.size for p in module._parsed.values()) <= module.MAX_PARSED_BYTES
