"""THE credentials parser: Dify's provider form -> one immutable ConnectionSettings.

Every field that changes how the plugin connects is part of the fingerprint, so two forms that
differ in anything (mode, key, certificate, user, scope, hosts, CA, proxy, timeouts...) never share
a client or its token. Values are read through gigachat_dify.form (one meaning per value
everywhere); the authentication fields through the mode's own module (connection/auth/).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify import form, redaction
from gigachat_dify.connection import proxy
from gigachat_dify.connection.auth import SECRET_FIELDS, Auth, parse_auth
from gigachat_dify.connection.auth.authorization_key import AuthorizationKey
from gigachat_dify.connection.auth.authorization_key import DEFAULT_SCOPE as DEFAULT_SCOPE
from gigachat_dify.connection.auth.authorization_key import SCOPES as SCOPES
from gigachat_dify.connection.tls import PemError, normalize_pem

# THE GigaChat addresses (every module that names one imports it from here).
DEFAULT_BASE_URL = "https://gigachat.devices.sberbank.ru/api/v1"
#: GigaChat's second host (the SDK's default since 0.2.3): where GigaChat-3-Ultra, structured output
#: and reasoning are offered to "Салют для Бизнеса" business clients.
BUSINESS_BASE_URL = "https://api.giga.chat/v1"
DEFAULT_AUTH_URL = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
HOSTS_HINT = (
    f"Use {DEFAULT_BASE_URL} (GigaChat's main host), or {BUSINESS_BASE_URL} for business clients of "
    "'Салют для Бизнеса' (GigaChat-3-Ultra, structured output and reasoning are offered there), or your "
    "on-premise installation's address."
)
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
# Documented (Nov 2025): individuals get 1 concurrent request, legal entities 10 by default. Client
# certificates are issued to corporate accounts; on-premise limits are the installation's own
# (assumed business-like); both get the business default.
DEFAULT_EMBEDDING_CONCURRENCY = {"GIGACHAT_API_PERS": 1, "GIGACHAT_API_B2B": 6, "GIGACHAT_API_CORP": 6}
BUSINESS_EMBEDDING_CONCURRENCY = 6

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

    @property
    def auth_mode(self) -> str:
        return self.auth.mode

    @property
    def scope(self) -> str:
        """The OAuth scope (authorization key mode), else ''."""
        return getattr(self.auth, "scope", "")

    @property
    def authorization_key(self) -> str:
        return self.auth.key if isinstance(self.auth, AuthorizationKey) else ""

    @property
    def fingerprint(self) -> str:
        material = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hmac.new(_FINGERPRINT_SALT, material.encode(), hashlib.sha256).hexdigest()[:32]


def _fail(message: str) -> CredentialsValidateFailedError:
    # Messages may quote what was typed; redaction masks the form's secrets (request scope).
    return CredentialsValidateFailedError(redaction.redact(message))


def request_secrets(credentials: dict) -> list[str]:
    """What this form holds in its secret fields, as typed and as the parsers read it."""
    values = []
    for key in SECRET_FIELDS:
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


def parse_credentials(credentials: dict) -> ConnectionSettings:
    """Parse and check the provider form; raise CredentialsValidateFailedError saying what to fix."""
    credentials = credentials or {}
    redaction.scope_request(request_secrets(credentials))
    try:
        auth = parse_auth(credentials)
        redaction.register(*auth.process_secrets())
        ca_pem = None
        if form.text(credentials.get("ca_certificate")):
            try:
                ca_pem = normalize_pem(form.text(credentials.get("ca_certificate")))
            except PemError as exc:
                raise form.FormValueError(f"The CA certificate is not usable: {exc}.") from None
        scope = getattr(auth, "scope", None)
        concurrency = DEFAULT_EMBEDDING_CONCURRENCY.get(scope, BUSINESS_EMBEDDING_CONCURRENCY)
        return ConnectionSettings(
            base_url=form.url(credentials.get("base_url"), "Base URL", DEFAULT_BASE_URL),
            auth_url=form.url(credentials.get("auth_url"), "OAuth URL", DEFAULT_AUTH_URL),
            auth=auth,
            ca_pem=ca_pem,
            verify_ssl=form.switch(credentials.get("verify_ssl"), "Verify TLS certificates", True),
            proxy_url=proxy.parse_proxy_url(credentials.get("proxy_url")),
            timeout=form.number(credentials.get("timeout"), "Request timeout (seconds)", DEFAULT_TIMEOUT, 1, 600),
            max_retries=form.whole_number(credentials.get("max_retries"), "Retries on temporary errors", DEFAULT_MAX_RETRIES, 0, 10),
            embedding_concurrency=form.whole_number(
                credentials.get("embedding_concurrency"), "Parallel embedding requests", concurrency, 1, 32
            ),
        )
    except form.FormValueError as exc:
        raise _fail(str(exc)) from None
