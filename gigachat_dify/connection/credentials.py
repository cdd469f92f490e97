"""THE credentials parser: Dify's provider form -> one immutable ConnectionSettings.

Every field that changes how the plugin connects is part of the fingerprint, so two forms that
differ in anything (mode, key, certificate, user, scope, hosts, CA, proxy, timeouts...) never share
a client or its token. Values are read through gigachat_dify.form (one meaning per value
everywhere); the authentication fields through the mode's own module (connection/auth/).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import hmac
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify import form, redaction
from gigachat_dify.connection import proxy
from gigachat_dify.connection.auth import Auth, parse_auth, secret_fields
from gigachat_dify.connection.tls import PemError, normalize_pem
from gigachat_dify.hosts import DEFAULT_AUTH_URL as DEFAULT_AUTH_URL
from gigachat_dify.hosts import DEFAULT_BASE_URL as DEFAULT_BASE_URL

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2

# Keyed per process so a fingerprint (which may appear in logs) reveals nothing about the secrets.
_FINGERPRINT_SALT = os.urandom(32)


@dataclass(frozen=True)
class ConnectionSettings:
    base_url: str
    auth_url: str
    auth: Auth = field(repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    verify_ssl: bool = True
    proxy_url: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    embedding_concurrency: int = 2

    @functools.cached_property  # a request reads it several times (client, token, session id, files)
    def fingerprint(self) -> str:
        material = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hmac.new(_FINGERPRINT_SALT, material.encode(), hashlib.sha256).hexdigest()[:32]


def _fail(message: str) -> CredentialsValidateFailedError:
    # Messages may quote what was typed; redaction masks the form's secrets (request scope).
    return CredentialsValidateFailedError(redaction.redact(message))


def request_secrets(credentials: dict) -> list[str]:
    """What this form holds in its secret fields, as typed and as the parsers read it."""
    values = []
    for key in (*secret_fields(), "proxy_url"):
        raw = credentials.get(key)
        if isinstance(raw, str) and raw.strip():
            values += [raw, raw.strip(), "".join(raw.split())]
            values += [piece for piece in raw.split() if len(piece) >= 16]  # a PEM's lines, however re-wrapped
            if raw.strip()[:6].lower() == "basic ":  # how the key parser reads 'Basic <key>'
                values.append("".join(raw.strip()[6:].split()))
    try:
        values += proxy.password_spellings(form.text(credentials.get("proxy_url")))
    except ValueError:  # a URL urlsplit cannot read: no password to take from it
        pass
    return values


@dataclass(frozen=True)
class _Parsed:
    settings: ConnectionSettings
    request_scope: tuple[str, ...]  # redaction's request scope for this form (secrets as typed)
    process_secrets: tuple[str, ...]
    size: int  # bytes of the form's JSON: what keeping it costs, about


#: Forms parsed, by a keyed hash of their whole content: Dify sends a workspace's unchanged form
#: with every request, so each distinct form is parsed (and its fingerprint computed) once, not per
#: request. Bounded in number and in the size of the forms kept (a pasted CA bundle can be large),
#: least recently used dropped; a dropped form is simply parsed again.
MAX_PARSED = 256
MAX_PARSED_BYTES = 4 * 1024 * 1024
_parsed: OrderedDict[bytes, _Parsed] = OrderedDict()
_parsed_bytes = 0
_parsed_lock = threading.Lock()


#: One encoder for every form: json.dumps with options builds a new encoder on each call.
_FORM_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


def _form_key(credentials: dict) -> tuple[bytes, int] | None:
    """A keyed hash of every value of the form, whatever the field (a mode reads its own), and the
    form's size; None when it is not JSON-shaped (then it is parsed without the cache). Hashed with
    the process's key, so the cache holds no second copy of a secret."""
    try:
        text = _FORM_JSON(credentials).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text, key=_FINGERPRINT_SALT, digest_size=32).digest(), len(text)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_credentials(credentials: dict) -> ConnectionSettings:
    """Parse and check the provider form; raise CredentialsValidateFailedError saying what to fix.

    A form seen before gives the same ConnectionSettings without parsing again (until the mode's
    ``valid_until``, e.g. a client certificate's expiry: then it is checked again and refused);
    every call still scopes the request's secrets (redaction) and re-registers the process ones."""
    global _parsed_bytes
    credentials = credentials or {}
    key, size = _form_key(credentials) or (None, 0)
    with _parsed_lock:
        hit = _parsed.get(key) if key is not None else None
        if hit is not None:
            _parsed.move_to_end(key)
    valid_until = hit.settings.auth.valid_until if hit is not None else None
    if hit is not None and (valid_until is None or _now() <= valid_until):
        redaction.enter_request_scope(hit.request_scope)
        redaction.register(*hit.process_secrets)
        return hit.settings
    scope = redaction.scope_request(request_secrets(credentials))
    settings = _parse(credentials)
    if key is not None and size <= MAX_PARSED_BYTES // 16:
        parsed = _Parsed(settings, scope, tuple(settings.auth.process_secrets()), size)
        with _parsed_lock:
            old = _parsed.pop(key, None)
            _parsed_bytes -= old.size if old is not None else 0
            _parsed[key] = parsed
            _parsed_bytes += size
            while len(_parsed) > MAX_PARSED or _parsed_bytes > MAX_PARSED_BYTES:
                _parsed_bytes -= _parsed.popitem(last=False)[1].size
    return settings


def forget_parsed() -> None:
    """Forget every parsed form (tests)."""
    global _parsed_bytes
    with _parsed_lock:
        _parsed.clear()
        _parsed_bytes = 0


def _parse(credentials: dict) -> ConnectionSettings:
    try:
        auth = parse_auth(credentials)
        redaction.register(*auth.process_secrets())
        ca_pem = None
        if form.text(credentials.get("ca_certificate")):
            try:
                ca_pem = normalize_pem(form.text(credentials.get("ca_certificate")))
            except PemError as exc:
                raise form.FormValueError(ca_unusable(exc)) from None
        return ConnectionSettings(
            base_url=base_url(credentials.get("base_url")),
            auth_url=form.url(credentials.get("auth_url"), form.field_label("auth_url"), DEFAULT_AUTH_URL),
            auth=auth,
            ca_pem=ca_pem,
            verify_ssl=form.switch(credentials.get("verify_ssl"), form.field_label("verify_ssl"), True),
            proxy_url=proxy.parse_proxy_url(credentials.get("proxy_url")),
            timeout=form.number(credentials.get("timeout"), form.field_label("timeout"), DEFAULT_TIMEOUT, 1, 600),
            max_retries=form.whole_number(credentials.get("max_retries"), form.field_label("max_retries"),
                                         DEFAULT_MAX_RETRIES, 0, 10),
            embedding_concurrency=form.whole_number(
                credentials.get("embedding_concurrency"), form.field_label("embedding_concurrency"), auth.embedding_concurrency, 1, 32
            ),
        )
    except form.FormValueError as exc:
        raise _fail(str(exc)) from None


def ca_unusable(exc: PemError) -> str:
    """What is wrong with the pasted CA certificate (PemError says what, and what to paste)."""
    return f"The {form.field_label('ca_certificate')} is not usable: {exc}."


def base_url(value) -> str:
    """The form's Base URL: the prefix every endpoint path is appended to, so a query string or a
    fragment cannot be part of it (the SDK would send the endpoint inside them: every request
    404s), nor can v2's path (v1's endpoints would go to v2: the SDK derives v2's address from
    v1's). Said here, before any request; a missing /api/v1 only GigaChat's answer can tell."""
    label = form.field_label("base_url")
    url = form.url(value, label, DEFAULT_BASE_URL)
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        kept = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        raise form.FormValueError(
            f"The {label} {url} has a query string or fragment ('?...' or '#...'): GigaChat's endpoints are "
            f"appended to the Base URL, so it must end with the API's path, e.g. {kept or DEFAULT_BASE_URL}."
        )
    head, _, last = parts.path.rstrip("/").rpartition("/")
    if last.lower() == "v2":
        raise form.FormValueError(
            f"The {label} {url} is the address of GigaChat's API v2: give the v1 address, e.g. "
            f"{parts.scheme}://{parts.netloc}{head}/v1. The plugin sends each request to the version it needs "
            "(v2 for the built-in tools) itself."
        )
    return url
