"""Test-time certificate authority, server certificates for the HTTPS emulator, and client
certificates (mutual TLS) in the shapes people paste: PKCS#8, encrypted, legacy RSA, expired."""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclass
class CA:
    cert_pem: str
    key: object
    cert: object

    def issue_server_cert(self, directory: str | None = None, host: str = "127.0.0.1") -> tuple[str, str]:
        """Write a server certificate and key for `host` signed by this CA; returns (certfile, keyfile)."""
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")])
        cert = self._sign(host, key, san)
        directory = directory or tempfile.mkdtemp(prefix="emu-tls-")
        certfile, keyfile = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
        with open(certfile, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(keyfile, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        return certfile, keyfile

    def _sign(self, name, key, extension, not_before=None, not_after=None):
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after or now + datetime.timedelta(days=1))
            .add_extension(extension, critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue_client_cert(
        self,
        name: str = "gigachat-client",
        *,
        password: str | None = None,
        key_format: str = "pkcs8",
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        key: object | None = None,
    ) -> "ClientCert":
        """A client certificate signed by this CA. key_format: 'pkcs8' (BEGIN [ENCRYPTED] PRIVATE KEY)
        or 'legacy' (BEGIN RSA PRIVATE KEY with Proc-Type/DEK-Info headers when encrypted, an RSA key)."""
        if key is None:
            key = rsa.generate_private_key(65537, 2048) if key_format == "legacy" else ec.generate_private_key(ec.SECP256R1())
        usage = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
        cert = self._sign(name, key, usage, not_before, not_after)
        encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                      else serialization.NoEncryption())
        fmt = serialization.PrivateFormat.TraditionalOpenSSL if key_format == "legacy" else serialization.PrivateFormat.PKCS8
        return ClientCert(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode(),
            password=password or "",
            cert=cert,
        )


@dataclass
class ClientCert:
    cert_pem: str
    key_pem: str
    password: str
    cert: object

    def form(self, **extra) -> dict:
        """The client-certificate fields of the provider form."""
        fields = {"auth_mode": "client_certificate", "client_certificate": self.cert_pem,
                  "client_private_key": self.key_pem}
        if self.password:
            fields["client_private_key_password"] = self.password
        return {**fields, **extra}


def write_pem(directory: str, name: str, pem: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        fh.write(pem)
    return path


def make_ca(name: str = "Test Trusted Root CA") -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CA(cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(), key=key, cert=cert)


def https_emulator(ca: CA, directory: str, *, verify_clients: bool = False, **kwargs):
    """An emulator serving HTTPS with a server certificate of `ca` (and, with verify_clients, taking
    client certificates signed by `ca` as the account); not started."""
    from emulator import Emulator

    certfile, keyfile = ca.issue_server_cert(directory)
    tls = (certfile, keyfile, write_pem(directory, "client-ca.pem", ca.cert_pem)) if verify_clients else (certfile, keyfile)
    return Emulator(tls=tls, **kwargs)
