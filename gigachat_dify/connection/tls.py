"""TLS for GigaChat hosts: custom CA bundles pasted as text, never a silent 'verify off'.

GigaChat's hosts use the Russian Trusted Root CA, which most systems do not trust. Instead of
switching verification off, the administrator pastes the CA's PEM into the provider form; the
paste often loses its line breaks, so the PEM is rebuilt here before use.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl

import certifi

_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----",
    re.DOTALL,
)


class PemError(ValueError):
    """The text is not a usable PEM; the message says what to paste instead."""


def normalize_pem(text: str, *, kinds: tuple[str, ...] = ("CERTIFICATE",)) -> str:
    """Return canonical PEM (64-column base64 lines) for every block of the given kinds.

    Accepts PEM with or without line breaks (spaces, '\\n' typed literally, CRLF).
    """
    text = (text or "").replace("\\n", "\n").replace("\r", "")
    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        raise PemError(
            "it contains no '-----BEGIN CERTIFICATE-----' block; paste the whole PEM file "
            "of the CA (e.g. russian_trusted_root_ca.cer in PEM form), including the BEGIN/END lines"
        )
    out = []
    for kind, body in blocks:
        if kind not in kinds:
            continue
        b64 = re.sub(r"\s+", "", body)
        try:
            der = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise PemError(f"the {kind.lower()} block is not valid base64; paste it again unchanged") from None
        if not der:
            raise PemError(f"the {kind.lower()} block is empty")
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        out.append(f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n")
    if not out:
        raise PemError(f"it contains no block of type {' or '.join(kinds)}")
    return "".join(out)


def build_ssl_context(*, verify: bool = True, ca_pem: str | None = None) -> ssl.SSLContext:
    """A context trusting the public roots plus the pasted CA; verification is ON unless asked off."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        try:
            ctx.load_verify_locations(cadata=ca_pem)
        except ssl.SSLError as exc:
            raise PemError(f"it could not be loaded as a CA certificate ({exc.reason or exc})") from None
    return ctx
