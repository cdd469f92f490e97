"""Transport: unknown paths, keep-alive, the request log, TLS, gevent, the CLI."""

import datetime
import ipaddress
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gigachat.exceptions import AuthenticationError

from emulator import DEFAULT_KEY, Emulator

from .conftest import SHARED_SSL, get_token, make_client

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_paths_get_an_html_404(emu):
    for url in (emu.origin + "/", emu.origin + "/api/models", emu.origin + "/v3/models", emu.base_url + "/nothing/here", emu.origin + "/api/v2/nothing"):
        r = httpx.get(url, verify=SHARED_SSL)
        assert r.status_code == 404 and r.headers["content-type"] == "text/html"
        assert b"<html>" in r.content


def test_wrong_method_on_a_known_path_is_405(api):
    r = api.get("/chat/completions")
    assert r.status_code == 405 and r.json() == {"status": 405, "message": "Method Not Allowed"}


def test_requests_reuse_one_kept_alive_connection(emu, api):
    for _ in range(5):
        assert api.get("/models").status_code == 200
    peers = set()
    orig = emu._connections.add
    emu._connections.add = lambda s: (peers.add(s.getpeername()), orig(s))
    for _ in range(5):
        api.get("/models")
    assert len(peers) == 0  # no new connection was accepted


def test_request_log_redacts_authorization(emu, client):
    client.chat({"messages": [{"role": "user", "content": "logged"}]})
    oauth, chat = emu.log[0], emu.log[-1]
    assert oauth.path == "/api/v2/oauth" and oauth.form == {"scope": "GIGACHAT_API_PERS"}
    assert oauth.headers["Authorization"] == "REDACTED" and oauth.auth_scheme == "Basic"
    assert chat.method == "POST" and chat.path == "/chat/completions" and chat.status == 200
    assert chat.headers["authorization"] == "REDACTED" and chat.auth_scheme == "Bearer"
    assert chat.json["messages"][0]["content"] == "logged"
    text = repr(emu.log)
    assert DEFAULT_KEY not in text and all(t not in text for t in emu.issued_tokens)
    emu.clear_log()
    assert emu.log == []


def test_chunked_request_bodies_are_read(api):
    def body():
        yield b'{"model": "GigaChat", '
        yield b'"messages": [{"role": "user", "content": "chunked"}]}'

    r = api.post("/chat/completions", content=body(), headers={"Content-Type": "application/json"})
    assert r.json()["choices"][0]["message"]["content"] == "Echo: chunked"


def test_x_headers_are_echoed(api):
    r = api.get("/models", headers={"X-Request-ID": "req-1", "X-Session-ID": "ses-1"})
    assert r.headers["x-request-id"] == "req-1" and r.headers["x-session-id"] == "ses-1"


def test_stop_closes_kept_alive_connections():
    emu = Emulator().start()
    token = get_token(emu)
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {token}"}, verify=SHARED_SSL) as c:
        assert c.get("/models").status_code == 200
        emu.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/models")


def test_stats_reset_and_status_counts(emu, api):
    emu.stats.reset()
    api.get("/models")
    api.get("/models/Nope")
    assert emu.stats.status_counts == {200: 1, 404: 1}
    assert emu.stats.requests == {"GET /models": 1, "GET /models/Nope": 1}
    emu.stats.reset()
    assert emu.stats.requests == {} and emu.stats.status_counts == {} and emu.stats.oauth_calls == 0


# ---- TLS ------------------------------------------------------------------------------------------


def _cert(subject, issuer_name, issuer_key, key, *, ca=False, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test Root CA", "Test Root CA", ca_key, ca_key, ca=True)
    out = {}
    server_san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for name, san in (("server", server_san), ("client", None), ("client2", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, "Test Root CA", ca_key, key, san=san)
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{name}.key").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        out[name] = (str(d / f"{name}.pem"), str(d / f"{name}.key"))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out["ca"] = str(d / "ca.pem")
    # a client certificate from a CA the server does not know
    other_ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("intruder", "Other Root CA", other_ca_key, key)
    (d / "intruder.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "intruder.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    out["intruder"] = (str(d / "intruder.pem"), str(d / "intruder.key"))
    return out


def client_context(pki, identity: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if identity:
        ctx.load_cert_chain(*pki[identity])
    return ctx


def test_https_with_a_private_ca(pki):
    with Emulator(tls=pki["server"]) as emu:
        assert emu.base_url.startswith("https://127.0.0.1:")
        with make_client(emu, ca_bundle_file=pki["ca"], ssl_context=None) as c:
            assert c.chat("secure").choices[0].message.content == "Echo: secure"
        # The most reported real-world failure: the CA is not trusted.
        with make_client(emu, ssl_context=None) as untrusting:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                untrusting.chat("x")


def test_mutual_tls_client_certificate_authenticates_api_calls(pki):
    with Emulator(tls=(*pki["server"], pki["ca"])) as emu:
        ctx = ssl.create_default_context(cafile=pki["ca"])
        ctx.load_cert_chain(*pki["client"])
        with make_client(emu, credentials=None, ssl_context=ctx) as c:
            assert c.get_models().data
        assert emu.stats.oauth_calls == 0
        plain = httpx.get(emu.base_url + "/models", verify=ssl.create_default_context(cafile=pki["ca"]))
        assert plain.status_code == 401


def test_optional_client_certificates_tokens_still_work_but_a_foreign_certificate_is_refused(pki):
    with Emulator(tls=(*pki["server"], pki["ca"])) as emu:
        with httpx.Client(verify=client_context(pki)) as plain:  # no certificate: a normal TLS client
            assert plain.get(emu.base_url + "/models").status_code == 401
            token = get_token_over(plain, emu)
            assert plain.get(emu.base_url + "/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert emu.stats.tls_refused == 0
        with httpx.Client(verify=client_context(pki, "intruder")) as intruder:
            with pytest.raises(httpx.TransportError):
                intruder.get(emu.base_url + "/models")
        # the server counts the refusal just after its alert went out: wait for that event
        assert emu.stats.wait_until(lambda s: s.tls_refused == 1)
        assert emu.stats.requests == {"GET /models": 2, "POST /api/v2/oauth": 1}  # the intruder sent nothing


def test_required_client_certificate_refuses_every_handshake_without_one(pki):
    with Emulator(tls=(*pki["server"], pki["ca"]), require_client_cert=True) as emu:
        for identity in (None, "intruder"):
            with httpx.Client(verify=client_context(pki, identity)) as c:
                with pytest.raises(httpx.TransportError):
                    c.get(emu.base_url + "/models")
                with pytest.raises(httpx.TransportError):
                    c.post(emu.auth_url, data={"scope": "GIGACHAT_API_PERS"})
        assert emu.stats.wait_until(lambda s: s.tls_refused == 4)
        assert emu.log == []  # not one request got through
        with make_client(emu, credentials=None, ssl_context=client_context(pki, "client")) as c:
            assert c.get_models().data
            assert c.chat("mtls").choices[0].message.content == "Echo: mtls"
        assert emu.stats.oauth_calls == 0
        assert {r.client_id for r in emu.log} == {emu.log[0].client_id}
        assert emu.log[0].client_id.startswith("cert:client:")  # the certificate is the account


def test_certificate_accounts_are_limited_per_certificate(pki):
    with Emulator(tls=(*pki["server"], pki["ca"]), require_client_cert=True, concurrency={"certificate": 1}) as emu:
        first, second = (httpx.Client(verify=client_context(pki, n)) for n in ("client", "client2"))
        hold = emu.faults.hold(count=2)
        held = threading.Thread(target=lambda: first.get(emu.base_url + "/models"))
        held.start()
        assert hold.wait_arrived(1)
        with httpx.Client(verify=client_context(pki, "client")) as same_certificate:
            assert same_certificate.get(emu.base_url + "/models").status_code == 429
        other = threading.Thread(target=lambda: second.get(emu.base_url + "/models"))
        other.start()
        assert hold.wait_arrived(1)  # another certificate, another account
        hold.release()
        held.join(30)
        other.join(30)
        first.close()
        second.close()
        assert sorted(r.status for r in emu.log) == [200, 200, 429]
        assert len(emu.stats.over_concurrency) == 1
        assert list(emu.stats.over_concurrency)[0].startswith("cert:client:")


def test_required_client_certificate_needs_a_ca():
    with pytest.raises(ValueError):
        Emulator(tls=("cert.pem", "key.pem"), require_client_cert=True)


def get_token_over(client: httpx.Client, emu: Emulator) -> str:
    r = client.post(
        emu.auth_url,
        data={"scope": "GIGACHAT_API_PERS"},
        headers={"Authorization": f"Basic {DEFAULT_KEY}", "RqUID": "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e"},
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_sdk_drops_the_client_certificate_when_given_a_ca_bundle_file(pki):
    # Pitfall worth knowing: SDK 0.2.3 passes ca_bundle_file to httpx 0.28 as verify=<path>, and
    # httpx then ignores cert=...: the client certificate is never sent. Use ssl_context instead.
    with Emulator(tls=(*pki["server"], pki["ca"])) as emu:
        kw = dict(credentials=None, ssl_context=None, ca_bundle_file=pki["ca"], cert_file=pki["client"][0], key_file=pki["client"][1])
        with make_client(emu, **kw) as c:
            with pytest.raises(AuthenticationError):
                c.get_models()


def test_plain_http_to_a_tls_port_does_not_hang(pki):
    with Emulator(tls=pki["server"]) as emu:
        with pytest.raises(httpx.TransportError):
            httpx.get(emu.base_url.replace("https", "http") + "/models", timeout=5)
        with httpx.Client(verify=pki["ca"]) as ok:  # the server still serves others
            assert ok.get(emu.base_url + "/models").status_code == 401


# ---- gevent and the CLI ------------------------------------------------------------------------------


GEVENT_SCRIPT = textwrap.dedent(
    """
    import dify_plugin  # monkey-patches the process with gevent, as in the plugin
    import sys
    import gevent
    import gigachat
    from emulator import B2B_KEY, Emulator

    with Emulator() as emu:
        # a business account: 6 requests in flight at once are within its limit of 10
        client = gigachat.GigaChat(base_url=emu.base_url, auth_url=emu.auth_url, credentials=B2B_KEY,
                                   scope="GIGACHAT_API_B2B", verify_ssl_certs=True, model="GigaChat", timeout=10)
        client.get_models()  # the token first
        hold = emu.faults.hold(count=6)
        jobs = [gevent.spawn(client.chat, f"g{i}") for i in range(6)]
        assert hold.wait_arrived(6)  # all six in flight at once, served by greenlets
        hold.release()
        gevent.joinall(jobs, timeout=10, raise_error=True)
        texts = sorted(j.value.choices[0].message.content for j in jobs)
        parts = [c.choices[0].delta.content or "" for c in client.stream("green stream")]
        print("RESULT", texts == sorted(f"Echo: g{i}" for i in range(6)), "".join(parts), emu.stats.max_concurrency)
    """
)


@pytest.mark.timeout(60)
def test_works_in_a_gevent_patched_process():
    proc = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=50
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    _, same, *rest = line.split(" ")
    assert same == "True"
    assert " ".join(rest[:-1]) == "Echo: green stream"
    assert int(rest[-1]) == 6  # greenlets were served concurrently


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)
def test_cli_prints_urls_and_serves():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(port), "--latency", "0.01", "--concurrency-cap", "4",
         "--oauth-shape", "tok"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/api/v1" in text and f"http://127.0.0.1:{port}/api/v2/oauth" in text
        assert f"http://127.0.0.1:{port}/v1 " in text  # the second host
        assert DEFAULT_KEY in text
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v2/oauth",
            data={"scope": "GIGACHAT_API_PERS"},
            headers={"Authorization": f"Basic {DEFAULT_KEY}", "RqUID": "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e"},
        )
        assert r.status_code == 200 and set(r.json()) == {"tok", "exp"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.timeout(60)
def test_cli_serves_mutual_tls_with_a_required_client_certificate(pki):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(port), "--tls-cert", pki["server"][0], "--tls-key",
         pki["server"][1], "--tls-client-ca", pki["ca"], "--require-client-cert"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        text = "".join(proc.stdout.readline() for _ in range(4))
        assert f"https://127.0.0.1:{port}/api/v1" in text
        url = f"https://127.0.0.1:{port}/api/v1/models"
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=client_context(pki))
        assert httpx.get(url, verify=client_context(pki, "client")).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_refuses_inconsistent_tls_flags():
    for args in (["--require-client-cert"], ["--tls-client-ca", "ca.pem"]):
        proc = subprocess.run([sys.executable, "-m", "emulator", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2 and "needs" in proc.stderr
