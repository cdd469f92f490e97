"""THE client cache: one gigachat SDK client per credentials fingerprint, shared by all requests.

Dify builds a new model instance for every request, so a client kept on the instance would
re-authenticate every call. Kept here at module level instead, one client (and so one OAuth
token, refreshed by the SDK under its own lock shortly before expiry) serves every request made
with the same credentials for the life of the plugin process.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from gigachat import GigaChat

from gigachat_dify.connection.credentials import ConnectionSettings
from gigachat_dify.connection.tls import build_ssl_context

logger = logging.getLogger(__name__)

MAX_CLIENTS = 64  # distinct credentials kept; the least recently used is dropped beyond that

_lock = threading.Lock()
_clients: OrderedDict[str, GigaChat] = OrderedDict()


def sdk_kwargs(settings: ConnectionSettings) -> dict:
    """Constructor arguments for the SDK. Every field is explicit: the SDK fills any argument left
    as None from GIGACHAT_* environment variables, which must never leak into a Dify credential."""
    uses_tls = any(urlsplit(u).scheme == "https" for u in (settings.base_url, settings.auth_url))
    ssl_context = None
    if uses_tls and (settings.ca_pem or not settings.verify_ssl):
        ssl_context = build_ssl_context(verify=settings.verify_ssl, ca_pem=settings.ca_pem)
    if not settings.verify_ssl:
        logger.warning(
            "TLS certificate verification is OFF for %s: traffic can be intercepted. "
            "Paste the CA certificate into 'CA certificate' and switch verification back on.",
            urlsplit(settings.base_url).netloc,
        )
    return dict(
        base_url=settings.base_url,
        auth_url=settings.auth_url,
        credentials=settings.authorization_key,
        scope=settings.scope,
        user="",
        password="",
        access_token="",
        model="",
        timeout=settings.timeout,
        verify_ssl_certs=settings.verify_ssl,
        ssl_context=ssl_context,
        ca_bundle_file="",
        cert_file="",
        key_file="",
        key_file_password="",
        flags=[],
        # Retries are ours (gigachat_dify.retry): the SDK's stream retry can repeat a stream
        # after chunks were already delivered, which would duplicate output.
        max_retries=0,
    )


def get_client(settings: ConnectionSettings) -> GigaChat:
    key = settings.fingerprint
    with _lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    # Built outside the lock (building an SSL context is slow); the first one stored wins.
    candidate = GigaChat(**sdk_kwargs(settings))
    with _lock:
        client = _clients.setdefault(key, candidate)
        _clients.move_to_end(key)
        while len(_clients) > MAX_CLIENTS:
            # Not closed: a request may still be using it; its connections close when collected.
            _clients.popitem(last=False)
    if client is not candidate:
        candidate.close()
    return client


def clear() -> None:
    """Forget every client (tests)."""
    with _lock:
        _clients.clear()
