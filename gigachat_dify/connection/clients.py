"""THE client cache: one gigachat SDK client per credentials fingerprint, shared by all requests.

Dify builds a new model instance for every request, so a client kept on the instance would
re-authenticate every call. Kept here at module level instead, one client serves every request made
with the same credentials while it is cached. Its token (refreshed under the SDK's lock shortly
before expiry) is kept by connection/token_cache.py for far more credential sets than there are
clients, so a credential set whose client was evicted gets its token back, not a new one.

`GigaChatClient` is the SDK's client with what the plugin needs and the SDK lacks, without copying
its logic (its own helpers build the httpx arguments):
- settings only from the form: the SDK fills any argument left as None from GIGACHAT_* variables
  of the process (Dify's daemon passes its whole environment on), so every setting is explicit;
- the proxy of the form (the SDK has no proxy argument) on both its httpx clients;
- a token expiry given in seconds (the `{tok, exp}` answers) read as such: the SDK takes it as
  milliseconds, so the token looks expired at once and is fetched again before every call;
- its chat streams read by `sse.py` (lines split at line feeds only, cut-off streams and GigaChat's
  error events reported);
- its v1 blocking chat sends the plugin's payload as it is (`v1_chat.py`), not read into the SDK's
  model and dumped back;
- 'Request timeout (seconds)' bounds each request as a whole (`deadline.py`), not each read: a host
  trickling its answer a byte at a time gives up in time;
- it knows which HTTP requests are in flight, so the cache can close an evicted client's sockets
  as soon as none is, without cutting a stream another request is still reading.

The cache is bounded by memory (the manifest declares 256 MiB) and by descriptors: SSL contexts
(the trust store, ~0.7 MiB each) are shared by clients with the same TLS material, so a client
costs little unless it brings a context of its own (a client certificate, a pasted CA).
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import urllib.request
import weakref
from collections import Counter, OrderedDict

import gigachat.client as sdk_client
import httpx
from dify_plugin.errors.model import CredentialsValidateFailedError
from gigachat import GigaChat
from gigachat.models.auth import AccessToken
from gigachat.settings import Settings

from gigachat_dify import failures, form, redaction
from gigachat_dify.retry import RETRY_STATUSES
from gigachat_dify.connection import deadline, proxy
from gigachat_dify.connection.credentials import ConnectionSettings, ca_unusable
from gigachat_dify.connection.sse import EventStreams
from gigachat_dify.connection.v1_chat import PlainChat
from gigachat_dify.connection.tls import ClientCertificateError, PemError, context_key, shared_context
from gigachat_dify.connection.token_cache import TOKENS

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DECLARED_MEMORY = 256 * MIB  # manifest.yaml resource.memory (tests keep the two equal)
CACHE_MEMORY_BUDGET = DECLARED_MEMORY // 4  # the rest: the runtime (~60 MiB) and requests in flight
CLIENT_COST = 256 * 1024  # measured ~10 KiB idle; an open TLS connection's buffers on top, generously
CONTEXT_COST = 1 * MIB  # measured 0.67 MiB per SSL context holding the system trust store
# Each cached client may keep a keep-alive connection (one descriptor) open: far below the usual
# 1024-descriptor limit even with requests in flight.
MAX_CLIENTS = 64

TOKEN_EXPIRY_BUFFER_MS = 60_000  # the SDK's default: renew a token a minute before it expires
_SECONDS_BEFORE = 10**11  # as Unix time: year 5138 in seconds, 1973 in milliseconds


def expiry_ms(expires_at: int) -> int:
    """A token's expiry in Unix milliseconds, whether it was given in seconds or milliseconds.

    OAuth's `{"access_token", "expires_at"}` carries milliseconds; the `{"tok", "exp"}` shape (recorded
    June 2026: `"exp": 4102444800`, the instant of `"expires_at": 4102444800000`) carries seconds.
    0 keeps the SDK's meaning (a token given as is, never renewed)."""
    return expires_at * 1000 if 0 < expires_at < _SECONDS_BEFORE else expires_at


class _PluginSettings(Settings):
    """The SDK's settings from the plugin's arguments only, never from GIGACHAT_* variables."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_environment_sources):
        return (init_settings,)


def sdk_settings(settings: ConnectionSettings, ssl_context: ssl.SSLContext) -> dict:
    """Every field of the SDK's Settings, explicit (tests check none is missing)."""
    values = dict(
        base_url=settings.base_url,
        auth_url=settings.auth_url,
        credentials=None,
        scope=Settings.model_fields["scope"].default,  # the SDK's own; a mode with a scope sets it (sdk_arguments)
        access_token=None,
        model=None,
        profanity_check=None,  # sent only when the model parameter asks for it
        user=None,
        password=None,
        timeout=settings.timeout,
        verify_ssl_certs=settings.verify_ssl,
        # One context for verification, the pasted CA and the client certificate: with a CA file next
        # to cert_file the SDK's httpx client would silently send no certificate.
        ssl_context=ssl_context,
        ca_bundle_file=None,
        cert_file=None,
        key_file=None,
        key_file_password=None,
        flags=[],
        max_connections=None,
        # Retries are ours (gigachat_dify.retry): the SDK's stream retry can repeat a stream
        # after chunks were already delivered, which would duplicate output.
        max_retries=0,
        retry_backoff_factor=0.5,
        retry_on_status_codes=tuple(sorted(RETRY_STATUSES)),  # unused with max_retries=0; named from our table
        token_expiry_buffer_ms=TOKEN_EXPIRY_BUFFER_MS,
    )
    values.update(settings.auth.sdk_arguments())
    return values


class _Usage:
    """The HTTP requests in flight on one client's connections. A retired client (evicted from the
    cache) closes its sockets whenever none is in flight; a late request may reopen one, and it is
    closed again when that request ends. Holds its httpx clients weakly: no reference cycle, so a
    dropped client is freed (its SSL context with it) at once, not at some later garbage collection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.retired = False
        self._http: list[weakref.ref[httpx.Client]] = []

    def track(self, client: httpx.Client) -> None:
        self._http.append(weakref.ref(client))

    @property
    def http(self) -> list[httpx.Client]:
        return [c for c in (ref() for ref in self._http) if c is not None]

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self.retired and self.in_flight == 0:
                self._close_sockets()

    def retire(self) -> None:
        with self._lock:
            self.retired = True
            if self.in_flight == 0:
                self._close_sockets()

    def _close_sockets(self) -> None:
        # The connection pools, not the clients: a closed httpx.Client refuses requests, while a
        # closed pool opens a new connection if a late request comes (closing sockets = closing pools).
        for client in self.http:
            for transport in (client._transport, *client._mounts.values()):
                if transport is not None:
                    transport.close()


class _ReleasingStream(httpx.SyncByteStream):
    """A streamed response body that tells _Usage when it is closed (the stream's end)."""

    def __init__(self, inner: httpx.SyncByteStream, release) -> None:
        self._inner = inner
        self._release = release

    def __iter__(self):
        yield from self._inner

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class _TrackedHttpClient(httpx.Client):
    def __init__(self, usage: _Usage, proxy_url: str | None, *, keepalive: bool = True, **kwargs) -> None:
        if proxy_url:
            kwargs["proxy"] = proxy_url  # wins over HTTP(S)_PROXY / NO_PROXY (see connection/proxy.py)
        if not keepalive:
            kwargs["limits"] = httpx.Limits(max_keepalive_connections=0)
        super().__init__(**kwargs)
        for transport in (self._transport, *self._mounts.values()):
            deadline.install(transport)  # 'Request timeout (seconds)' bounds each request as a whole
        self._usage = usage
        self._proxy_name = proxy.display(proxy_url) if proxy_url else None
        usage.track(self)

    def send(self, request: httpx.Request, **kwargs) -> httpx.Response:
        limit = deadline.start(request, self.timeout)
        in_force = deadline.enter(limit)
        self._usage.enter()
        try:
            response = super().send(request, **kwargs)
        except httpx.ConnectError as exc:
            self._usage.leave()
            via = self._proxy_used(request.url)
            if via and not failures.ssl_failure(exc):
                raise proxy.ProxyUnreachable(str(exc), proxy=via, request=request,
                                             from_environment=self._proxy_name is None) from exc
            raise
        except BaseException:
            self._usage.leave()
            raise
        finally:
            deadline.leave(in_force)
        if kwargs.get("stream"):
            response.stream = _ReleasingStream(response.stream, self._usage.leave)
            response.extensions[deadline.KEY] = limit  # renewed by its reader at each event (sse.py)
        else:
            self._usage.leave()
        return response

    def _proxy_used(self, url: httpx.URL) -> str | None:
        """host:port of the proxy this URL goes through, or None when it goes direct."""
        if self._proxy_name:
            return self._proxy_name
        if self._transport_for_url(url) is self._transport:
            return None
        env = urllib.request.getproxies().get(url.scheme)
        return f"{proxy.display(env)} (from Dify's environment)" if env else "from Dify's environment"


_constructing = threading.Lock()


class GigaChatClient(EventStreams, PlainChat, GigaChat):
    """The SDK client as the plugin uses it (see the module's docstring)."""

    def __init__(self, settings: ConnectionSettings, ssl_context: ssl.SSLContext) -> None:
        self._token_key = settings.fingerprint  # where TOKENS keeps this credential set's token
        explicit = sdk_settings(settings, ssl_context)
        # The SDK's constructor builds its Settings itself, reading GIGACHAT_* for what it is not
        # given (token_expiry_buffer_ms is no constructor argument): a malformed variable there would
        # fail every request. So its Settings class is ours while it runs (nothing else builds one).
        with _constructing:
            sdk_client.Settings = _PluginSettings
            try:
                super().__init__(**{k: v for k, v in explicit.items() if k != "token_expiry_buffer_ms"})
            finally:
                sdk_client.Settings = Settings
        self._settings = _PluginSettings(**explicit)
        self._usage = _Usage()
        self.context_key = context_key(settings.verify_ssl, settings.ca_pem, settings.auth.tls_identity)
        # Built now with the SDK's own arguments (cheap: the SSL context is shared), so its lazy
        # properties return these. OAuth is asked once per token lifetime: no idle keep-alive there.
        self._client_instance = _TrackedHttpClient(
            self._usage, settings.proxy_url, **sdk_client._get_kwargs(self._settings))
        self._auth_client_instance = _TrackedHttpClient(
            self._usage, settings.proxy_url, keepalive=False, **sdk_client._get_auth_kwargs(self._settings))

    def _is_token_usable(self) -> bool:
        """Its own token is, or the credential set's kept token is (then taken): so the SDK's
        `_with_auth` treats a kept token as one in hand, and a 401 on it renews it at once."""
        if super()._is_token_usable():
            return True
        with self._sync_token_lock:
            kept = TOKENS.get(self._token_key, self._settings.token_expiry_buffer_ms)
            if kept is not None:
                self._access_token = kept
            return kept is not None

    def _update_token(self) -> None:
        # Under the SDK's own re-entrant lock, so no request ever sees the expiry unnormalised.
        with self._sync_token_lock:
            if not self._use_auth or self._is_token_usable():
                return super()._update_token()  # no token to get (client certificate), or one in hand
            self._access_token = TOKENS.get_or_fetch(
                self._token_key, self._fetch_token, self._settings.token_expiry_buffer_ms)

    def _fetch_token(self) -> AccessToken | None:
        """A new token from OAuth or {Base URL}/token (the SDK's own request), its expiry in ms."""
        super()._update_token()
        token = self._access_token
        if token is not None:
            # A proxy or gateway echoing the Authorization header in an error body must not put it in
            # a message or a log: masked like the key it was bought with.
            redaction.register(token.access_token)
            if expiry_ms(token.expires_at) != token.expires_at:
                token = self._access_token = token.model_copy(update={"expires_at": expiry_ms(token.expires_at)})
        return token

    def _reset_token(self) -> None:
        # The SDK calls this when the API answered 401: the token is no good for anyone.
        with self._sync_token_lock:
            if self._access_token is not None:
                TOKENS.drop(self._token_key, self._access_token.access_token)
            super()._reset_token()

    def retire(self) -> None:
        """Dropped from the cache: close its sockets once no request uses them, and break the SDK's
        own reference cycles (its cached `chat`, `assistants`... namespaces point back at the client;
        they are rebuilt if a late request asks), so the client is freed when the last request ends."""
        self._usage.retire()
        for cls in type(self).__mro__:
            for name, attribute in vars(cls).items():
                if isinstance(attribute, functools.cached_property):
                    self.__dict__.pop(name, None)

    @property
    def in_flight(self) -> int:
        return self._usage.in_flight


_lock = threading.Lock()
_clients: OrderedDict[str, GigaChatClient] = OrderedDict()
_contexts_in_cache: Counter[str] = Counter()


def cache_cost(clients: int, contexts: int) -> int:
    """Estimated bytes held by `clients` cached clients sharing `contexts` distinct SSL contexts."""
    return clients * CLIENT_COST + contexts * CONTEXT_COST


def _over_budget() -> bool:
    return len(_clients) > MAX_CLIENTS or cache_cost(len(_clients), len(_contexts_in_cache)) > CACHE_MEMORY_BUDGET


def _build(settings: ConnectionSettings) -> GigaChatClient:
    try:
        context = shared_context(settings.verify_ssl, settings.ca_pem, settings.auth.tls_identity)
    except ClientCertificateError as exc:
        raise CredentialsValidateFailedError(redaction.redact(f"The client certificate cannot be used: {exc}.")) from None
    except PemError as exc:
        raise CredentialsValidateFailedError(redaction.redact(ca_unusable(exc))) from None
    if not settings.verify_ssl:
        logger.warning(
            "TLS certificate verification is OFF for %s: traffic can be intercepted. "
            "Paste the CA certificate into %s and switch verification back on.",
            httpx.URL(settings.base_url).host, form.field_label("ca_certificate"),
        )
    return GigaChatClient(settings, context)


def get_client(settings: ConnectionSettings) -> GigaChatClient:
    key = settings.fingerprint
    with _lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    # Built outside the lock (an SSL context takes ~20 ms); the first one stored wins.
    candidate = _build(settings)
    evicted = []
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = candidate
            _contexts_in_cache[candidate.context_key] += 1
            while _over_budget() and len(_clients) > 1:
                _, old = _clients.popitem(last=False)
                _contexts_in_cache[old.context_key] -= 1
                if not _contexts_in_cache[old.context_key]:
                    del _contexts_in_cache[old.context_key]
                evicted.append(old)
        else:
            _clients.move_to_end(key)
    for old in evicted:
        old.retire()
    if client is not candidate:
        candidate.retire()
    return client


def cached() -> tuple[int, int]:
    """(clients, distinct SSL contexts) held by the cache."""
    with _lock:
        return len(_clients), len(_contexts_in_cache)


def clear() -> None:
    """Forget every client and every kept token (tests)."""
    with _lock:
        old = list(_clients.values())
        _clients.clear()
        _contexts_in_cache.clear()
    TOKENS.clear()
    for client in old:
        client.retire()
