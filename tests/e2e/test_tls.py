"""TLS with a private CA (the Russian Trusted Root CA case), against the emulator serving HTTPS."""

import pytest

from emulator import DEFAULT_KEY, Emulator
from tests.support.certs import make_ca


@pytest.fixture(scope="module")
def tls_setup(tmp_path_factory):
    ca = make_ca("Test Russian Trusted Root CA")
    certfile, keyfile = ca.issue_server_cert(str(tmp_path_factory.mktemp("tls")))
    emu = Emulator(tls=(certfile, keyfile))
    emu.start()
    assert emu.base_url.startswith("https://")
    yield emu, ca
    emu.stop()


def creds(emu, **extra):
    return {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS", "base_url": emu.base_url,
            "auth_url": emu.auth_url, "timeout": "10", **extra}


def test_untrusted_certificate_points_to_the_ca_field(plugin, tls_setup):
    emu, _ = tls_setup
    result = plugin.validate_provider(creds(emu))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "could not be verified" in result.error_message
    assert "CA certificate" in result.error_message


@pytest.mark.parametrize("flatten", [False, True], ids=["pem-with-line-breaks", "pem-pasted-on-one-line"])
def test_pasted_ca_makes_it_work_with_verification_on(plugin, tls_setup, flatten):
    emu, ca = tls_setup
    pem = " ".join(ca.cert_pem.splitlines()) if flatten else ca.cert_pem
    c = creds(emu, ca_certificate=pem, verify_ssl=True)
    assert plugin.validate_provider(c).ok
    result = plugin.invoke_llm("GigaChat-2", c, [{"role": "user", "content": "over tls", "name": "",
                                                  "tool_calls": [], "tool_call_id": ""}], stream=True)
    assert result.ok, result.error


def test_a_different_ca_is_still_refused(plugin, tls_setup):
    emu, _ = tls_setup
    result = plugin.validate_provider(creds(emu, ca_certificate=make_ca("Some other CA").cert_pem))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "could not be verified" in result.error_message


def test_verification_off_works_and_is_logged_as_unsafe(fresh_plugin, tls_setup):
    emu, _ = tls_setup
    assert fresh_plugin.validate_provider(creds(emu, verify_ssl=False)).ok
    logged = "\n".join([str(l.get("message")) for l in fresh_plugin.logs] + fresh_plugin.stderr_lines)
    assert "verification is OFF" in logged
