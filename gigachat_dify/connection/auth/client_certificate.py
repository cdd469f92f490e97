"""Client certificate mode: mutual TLS (corporate accounts). The certificate authenticates every
call; no token is requested and no Authorization header is sent (the SDK's `_use_auth` is false
with neither a key nor a user).

Checked here, locally and for free, before any connection: both PEMs parse (also pasted without
line breaks), an encrypted key has a password, the account's certificate is within its validity
dates. Whether the key matches the certificate and the password is right is what OpenSSL says when
the pair is loaded (tls.load_client_identity), once per distinct form; a pasted chain is loaded
here first to find the account's certificate among its blocks (tls.leaf_first) and put it first.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gigachat_dify import form
from gigachat_dify.connection.tls import (
    CERTIFICATE_KINDS,
    PRIVATE_KEY_KINDS,
    ClientCertificateError,
    ClientIdentity,
    PemError,
    certificate_blocks,
    certificate_validity,
    is_encrypted_key,
    leaf_first,
    normalize_pem,
    pem_body,
)

NAME = "client_certificate"
SECRET_FIELDS = ("client_private_key", "client_private_key_password")
# Client certificates are issued to corporate accounts: a legal entity's limit (10), less 4 for chats.
EMBEDDING_CONCURRENCY = 6


@dataclass(frozen=True)
class ClientCertificate:
    identity: ClientIdentity = field(repr=False)
    mode: str = NAME
    #: The certificate's notAfter: a parsed form holds until then (credentials.py parses it again after).
    valid_until: datetime.datetime | None = None

    embedding_concurrency = EMBEDDING_CONCURRENCY

    @property
    def tls_identity(self) -> ClientIdentity:
        return self.identity

    def sdk_arguments(self) -> dict[str, Any]:
        return {}

    def token_check(self, base_url: str, auth_url: str) -> None:
        return None  # the TLS handshake is the login: validation goes straight to GET /models

    def api_refusal(self, host: str, reason: str) -> str:
        return (f"The GigaChat API ({host}) accepted the TLS connection but not the client certificate as a "
                "login (401): the certificate is not registered for GigaChat API access at this host. "
                "Use the certificate issued for your GigaChat account, or the authorization key mode.")

    def summary(self) -> str:
        return NAME

    def process_secrets(self) -> tuple[str, ...]:
        """The key's base64 (a parsed PEM, never an ordinary word)."""
        return (pem_body(self.identity.key_pem),)


def parse(credentials: Mapping[str, Any], now: datetime.datetime | None = None) -> ClientCertificate:
    cert_text = form.text(credentials.get("client_certificate"))
    key_text = form.text(credentials.get("client_private_key"))
    password = form.text(credentials.get("client_private_key_password"))
    if not cert_text:
        raise form.FormValueError(
            "Paste the client certificate (PEM, -----BEGIN CERTIFICATE-----) issued for your GigaChat "
            "account, or choose another authentication mode."
        )
    if not key_text:
        raise form.FormValueError(
            "Paste the private key of the client certificate (PEM, -----BEGIN PRIVATE KEY-----)."
        )
    try:
        cert_pem = normalize_pem(cert_text, kinds=CERTIFICATE_KINDS)
    except PemError as exc:
        raise form.FormValueError(f"The client certificate is not usable: {exc}.") from None
    try:
        key_pem = normalize_pem(key_text, kinds=PRIVATE_KEY_KINDS)
    except PemError:
        # The PemError text could quote the block kind only, but say it plainly: no detail of a key.
        raise form.FormValueError(
            "The client private key is not usable: paste the whole PEM private key, including the "
            "-----BEGIN PRIVATE KEY----- and -----END PRIVATE KEY----- lines (a .p12/.pfx file must be "
            "converted to PEM first)."
        ) from None
    if key_pem.count("-----BEGIN") > 1:
        raise form.FormValueError("The client private key field holds more than one key: paste only the key.")
    if is_encrypted_key(key_pem) and not password:
        raise form.FormValueError(
            "The private key is encrypted: enter its password in 'Private key password'."
        )
    try:  # every block read before OpenSSL sees them: its words for a bad block would blame the key
        validity = {block: certificate_validity(block) for block in certificate_blocks(cert_pem)}
    except PemError as exc:
        raise form.FormValueError(f"The client certificate is not usable: {exc}.") from None
    identity = ClientIdentity(cert_pem, key_pem, password)
    if len(validity) > 1:  # a chain: the account's certificate may not be first
        try:
            identity = leaf_first(identity)
        except ClientCertificateError as exc:
            raise form.FormValueError(f"The client certificate cannot be used: {exc}.") from None
    not_before, not_after = validity[certificate_blocks(identity.cert_pem)[0]]  # the account's dates
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now > not_after:
        raise form.FormValueError(
            f"The client certificate expired on {not_after:%Y-%m-%d %H:%M} UTC: ask for a new certificate "
            "for your GigaChat account and paste it with its key."
        )
    if now < not_before:
        raise form.FormValueError(
            f"The client certificate is valid only from {not_before:%Y-%m-%d %H:%M} UTC: check this "
            "server's clock, or wait until then."
        )
    return ClientCertificate(identity, valid_until=not_after)
