"""TLS for GigaChat hosts: pasted PEMs, one shared SSL context per distinct trust/identity, client
certificates loaded without leaving key material on disk, never a silent 'verify off'.

GigaChat's hosts use the Russian Trusted Root CA, which most systems do not trust. Instead of
switching verification off, the administrator pastes the CA's PEM into the provider form; the
paste often loses its line breaks, so every PEM (CA, client certificate, private key) is rebuilt
here before use.

Why one SSLContext for everything (CA, verification and client certificate): httpx given a CA
bundle file together with ``cert=`` silently sends no client certificate with this SDK, while a
context with ``load_cert_chain`` does. Contexts are also what a client costs (~0.7 MiB each, the
trust store): clients with the same material share one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import hmac
import os
import re
import ssl
import tempfile
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import httpx

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
# RFC 1421 headers of a legacy encrypted key ("Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-256-CBC,<iv>"):
# values hold no spaces, so they survive a paste that turned line breaks into spaces.
_PEM_HEADER = re.compile(r"\s*([A-Za-z][A-Za-z-]*):[ \t]*([^\s]+)")

CERTIFICATE_KINDS = ("CERTIFICATE",)
PRIVATE_KEY_KINDS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")


class PemError(ValueError):
    """The text is not a usable PEM; the message says what to paste instead."""


class ClientCertificateError(ValueError):
    """The client certificate and key cannot be used; the message says what is wrong (no secret)."""


class KeyMismatchError(ClientCertificateError):
    """The first certificate is not the one the private key belongs to."""


# ---- PEM text ----------------------------------------------------------------------------------


def normalize_pem(text: str, *, kinds: tuple[str, ...] = CERTIFICATE_KINDS) -> str:
    """Return canonical PEM (headers kept, 64-column base64 lines) for every block of the given kinds.

    Accepts PEM with or without line breaks (spaces, '\\n' typed literally, CRLF).
    """
    text = (text or "").replace("\\n", "\n").replace("\r", "")
    blocks = _PEM_BLOCK.findall(text)
    what = "certificate" if kinds == CERTIFICATE_KINDS else "private key"
    if not blocks:
        raise PemError(
            f"it contains no '-----BEGIN {kinds[0]}-----' block; paste the whole PEM file "
            f"of the {what}, including the BEGIN/END lines"
        )
    out = []
    for kind, body in blocks:
        if kind not in kinds:
            continue
        headers, body = _split_headers(body)
        b64 = re.sub(r"\s+", "", body)
        try:
            der = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise PemError(f"the {kind.lower()} block is not valid base64; paste it again unchanged") from None
        if not der:
            raise PemError(f"the {kind.lower()} block is empty")
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        head = "".join(f"{name}: {value}\n" for name, value in headers) + ("\n" if headers else "")
        out.append(f"-----BEGIN {kind}-----\n{head}" + "\n".join(lines) + f"\n-----END {kind}-----\n")
    if not out:
        found = " and ".join(sorted({kind.lower() for kind, _ in blocks}))
        raise PemError(f"it holds a {found} but no '-----BEGIN {kinds[0]}-----' block; paste the {what} there")
    return "".join(out)


def _split_headers(body: str) -> tuple[list[tuple[str, str]], str]:
    headers = []
    while match := _PEM_HEADER.match(body):
        headers.append((match.group(1), match.group(2)))
        body = body[match.end() :]
    return headers, body


def pem_body(pem: str) -> str:
    """The base64 of a canonical PEM without BEGIN/END lines and headers (what redaction masks)."""
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----") and ": " not in line)


def is_encrypted_key(key_pem: str) -> bool:
    return "ENCRYPTED" in key_pem.split("\n", 2)[0] or "Proc-Type: 4,ENCRYPTED" in key_pem


# ---- certificate validity (a minimal DER reader: the stdlib parses no certificate text) ----------


def certificate_validity(cert_pem: str) -> tuple[datetime.datetime, datetime.datetime]:
    """(notBefore, notAfter) of the first certificate in the PEM, as aware UTC datetimes."""
    der = base64.b64decode(pem_body(cert_pem.split("-----END CERTIFICATE-----")[0]))
    try:
        _, start, _ = _tlv(der, 0)  # Certificate
        _, pos, _ = _tlv(der, start)  # TBSCertificate
        tag, _, end = _tlv(der, pos)
        if tag == 0xA0:  # [0] version
            pos = end
        for _ in range(3):  # serialNumber, signature, issuer
            pos = _tlv(der, pos)[2]
        _, pos, _ = _tlv(der, pos)  # Validity
        times = []
        for _ in range(2):
            tag, vstart, vend = _tlv(der, pos)
            times.append(_asn1_time(tag, der[vstart:vend].decode("ascii")))
            pos = vend
    except (IndexError, ValueError, UnicodeDecodeError):
        raise PemError("the certificate block is not an X.509 certificate; paste the certificate PEM") from None
    return times[0], times[1]


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at pos."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if not 0 < n <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _asn1_time(tag: int, text: str) -> datetime.datetime:
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ; RFC 5280: YY >= 50 means 19YY
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("not a time")
    if not re.fullmatch(r"\d{14}Z", text):
        raise ValueError("not an RFC 5280 time")
    return datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


# ---- key material: never left on disk ------------------------------------------------------------

#: How key material reaches OpenSSL, best first (load_cert_chain reads files only).
#: memfd: an anonymous in-memory file, never on disk, gone with the process even after SIGKILL;
#: unlinked: a 0600 temp file removed before anything is written, read through /dev/fd/N;
#: named: a 0600 temp file removed right after loading, also on failure (platforms without the
#: above; only there could a SIGKILL at the wrong instant leave it behind).
FILE_STRATEGIES = ("memfd", "unlinked", "named")


@contextlib.contextmanager
def private_file(data: bytes, strategy: str | None = None) -> Iterator[str]:
    """A path OpenSSL can read `data` from while the block runs; nothing of it stays afterwards."""
    strategies = (strategy,) if strategy else FILE_STRATEGIES
    for name in strategies:
        opened = _OPENERS[name](data)
        if opened is None:
            continue
        path, cleanup = opened
        try:
            yield path
        finally:
            cleanup()
        return
    raise OSError(f"no way to hand key material to OpenSSL ({', '.join(strategies)})")


def _memfd(data: bytes):
    if not hasattr(os, "memfd_create"):
        return None
    try:
        fd = os.memfd_create("gigachat-client-key", os.MFD_CLOEXEC)
    except OSError:
        return None
    path = f"/proc/self/fd/{fd}"
    if not os.path.exists(path):
        os.close(fd)
        return None
    os.write(fd, data)
    return path, lambda: os.close(fd)


def _temp_file(data: bytes, *, unlink_first: bool):
    fd, name = tempfile.mkstemp(prefix="gigachat-")  # 0600
    path = name
    if unlink_first:
        os.unlink(name)  # before the key is written: no name ever points at key material
        path = f"/dev/fd/{fd}"
        if not os.path.exists(path):
            os.close(fd)
            return None

    def cleanup():
        os.close(fd)
        if not unlink_first:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    try:
        os.write(fd, data)
    except BaseException:
        cleanup()
        raise
    return path, cleanup


_OPENERS = {
    "memfd": _memfd,
    "unlinked": lambda data: _temp_file(data, unlink_first=True),
    "named": lambda data: _temp_file(data, unlink_first=False),
}


# ---- SSL contexts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate (chain PEM) and its private key (PEM, maybe encrypted)."""

    cert_pem: str
    key_pem: str = field(repr=False)
    key_password: str = field(default="", repr=False)


#: OpenSSL's reasons when the key is not the certificate's: another key of its type, or a key of
#: another type (an RSA key for an EC certificate lands in a slot no certificate holds).
_MISMATCH_REASONS = frozenset({"KEY_VALUES_MISMATCH", "KEY_TYPE_MISMATCH", "NO_CERTIFICATE_ASSIGNED"})


def load_client_identity(ctx: ssl.SSLContext, identity: ClientIdentity, strategy: str | None = None) -> None:
    """Load the certificate and key into ctx; ClientCertificateError says precisely what is wrong."""
    password = identity.key_password.encode()
    try:
        with private_file((identity.cert_pem + identity.key_pem).encode(), strategy) as path:
            # A callable, never None: OpenSSL would otherwise prompt on a terminal for the password.
            ctx.load_cert_chain(path, password=lambda: password)
    except ssl.SSLError as exc:
        if exc.reason in _MISMATCH_REASONS:
            raise KeyMismatchError(
                "the client certificate and the private key do not match: paste the private key that was "
                "issued together with this certificate"
            ) from None
        if is_encrypted_key(identity.key_pem):
            raise ClientCertificateError(
                "the private key password is wrong: enter the password the key was exported with"
            ) from None
        raise ClientCertificateError(
            "the private key could not be loaded: paste the PEM private key (-----BEGIN PRIVATE KEY-----) "
            "that belongs to the certificate"
        ) from None


def certificate_blocks(cert_pem: str) -> list[str]:
    """The certificates of a canonical PEM (normalize_pem's output), one PEM block each, in order."""
    end = "-----END CERTIFICATE-----\n"
    return [block + end for block in cert_pem.split(end) if block.strip()]


def leaf_first(identity: ClientIdentity, strategy: str | None = None) -> ClientIdentity:
    """The identity with the certificate the private key belongs to first: TLS presents the first
    certificate as the client's and the others as its chain, and a chain is often pasted CA first.
    Which one it is, OpenSSL says by loading the pair (the stdlib reads no key); the blocks before
    it follow it reversed (a chain pasted root first, leaf last, comes out leaf, intermediate, root).
    Raises ClientCertificateError: KeyMismatchError when no certificate matches the key."""
    blocks = certificate_blocks(identity.cert_pem)
    mismatch: KeyMismatchError | None = None
    for i, leaf in enumerate(blocks):
        candidate = replace(identity, cert_pem="".join([leaf, *reversed(blocks[:i]), *blocks[i + 1 :]]))
        try:
            load_client_identity(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), candidate, strategy)
        except KeyMismatchError as exc:
            mismatch = exc
            continue
        return candidate
    raise mismatch or KeyMismatchError("the client certificate field holds no certificate")


def build_ssl_context(
    *, verify: bool = True, ca_pem: str | None = None, client: ClientIdentity | None = None
) -> ssl.SSLContext:
    """A context trusting the system roots (certifi, or SSL_CERT_FILE/SSL_CERT_DIR as httpx reads them)
    plus the pasted CA, presenting the client certificate if any. Verification is ON unless asked off."""
    ctx = httpx.create_ssl_context(verify=verify)
    if verify and ca_pem:
        try:
            ctx.load_verify_locations(cadata=ca_pem)
        except ssl.SSLError as exc:
            # OpenSSL's reason ("no start line", "wrong tag"...) means nothing to the user: say what to paste.
            raise PemError(
                "the text between its BEGIN CERTIFICATE and END CERTIFICATE lines is not a certificate; paste the "
                "CA certificate's PEM file (.crt or .pem, from -----BEGIN CERTIFICATE----- to -----END "
                "CERTIFICATE-----) unchanged"
            ) from None
    if client is not None:
        load_client_identity(ctx, client)
    return ctx


_context_lock = threading.Lock()
# Contexts live as long as a client uses them: no count to bound here, the client cache bounds it.
_contexts: weakref.WeakValueDictionary[str, ssl.SSLContext] = weakref.WeakValueDictionary()
_KEY_SALT = os.urandom(32)


def context_key(verify: bool, ca_pem: str | None, client: ClientIdentity | None) -> str:
    """Which contexts are interchangeable (a keyed hash: the key material never becomes a dict key)."""
    parts = [str(verify), ca_pem or ""]
    if client is not None:
        parts += [client.cert_pem, client.key_pem, client.key_password]
    return hmac.new(_KEY_SALT, "\0".join(parts).encode(), hashlib.sha256).hexdigest()


def shared_context(verify: bool, ca_pem: str | None, client: ClientIdentity | None) -> ssl.SSLContext:
    """The one context for this material, built once while any client uses it."""
    key = context_key(verify, ca_pem, client)
    with _context_lock:
        ctx = _contexts.get(key)
    if ctx is not None:
        return ctx
    built = build_ssl_context(verify=verify, ca_pem=ca_pem, client=client)  # outside the lock: slow
    with _context_lock:
        return _contexts.setdefault(key, built)
