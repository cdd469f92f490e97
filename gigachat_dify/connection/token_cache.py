"""THE token cache: one access token per credentials fingerprint for its lifetime, kept apart from
the clients that use it.

The client cache (clients.py) keeps at most MAX_CLIENTS clients, bounded by memory; a token is
small, so it is kept for far more credential sets than that. A credential set whose client was
evicted gets its token back when it returns, instead of asking OAuth (or `{Base URL}/token`) again:
GigaChat allows 10 token requests a second, and hundreds of workspaces taking turns would spend them
on every request.

- Keyed by `ConnectionSettings.fingerprint` (a keyed hash of every connection setting, secrets
  included, never the secrets themselves), so a token only ever serves the credential set it was
  issued to: another key, scope, user, host or proxy is another fingerprint.
- Bounded (MAX_TOKENS, least recently used first; expired tokens go before any live one) and
  expiring with the token: a token within its renewal margin is never handed out.
- One fetch at a time per fingerprint: two clients of one credential set (an evicted client still
  serving a stream, and its successor) share one token request; other credential sets never wait.
- A token the API rejected (401) is dropped only if it is still the one kept, so a late rejection
  never throws away the token another request has just renewed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from gigachat.models.auth import AccessToken

MIB = 1024 * 1024
#: A kept token's share of memory: measured ~2.1 KiB (a ~1.3 KB JWE string, the SDK's AccessToken,
#: the entry), rounded up generously.
TOKEN_COST = 4 * 1024
TOKEN_MEMORY_BUDGET = 8 * MIB  # next to the client cache's quarter of the manifest's 256 MiB
MAX_TOKENS = TOKEN_MEMORY_BUDGET // TOKEN_COST  # 2048 credential sets; the client cache keeps 64


class _Gate:
    """A fingerprint's fetch lock and how many callers hold or wait for it (so it can be dropped)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


class TokenCache:
    def __init__(self, max_entries: int = MAX_TOKENS, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock  # unix seconds (tests pass a fake one)
        self._tokens: OrderedDict[str, AccessToken] = OrderedDict()
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()

    def _usable(self, token: AccessToken, margin_ms: int) -> bool:
        # The SDK's rule (_is_token_usable): 0 means a token given as is, never renewed.
        return token.expires_at == 0 or token.expires_at > self.clock() * 1000 + margin_ms

    def get(self, fingerprint: str, margin_ms: int) -> AccessToken | None:
        """The kept token of this credential set while it has more than `margin_ms` to live."""
        with self._lock:
            token = self._tokens.get(fingerprint)
            if token is None:
                return None
            if not self._usable(token, margin_ms):
                del self._tokens[fingerprint]
                return None
            self._tokens.move_to_end(fingerprint)
            return token

    def put(self, fingerprint: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[fingerprint] = token
            self._tokens.move_to_end(fingerprint)
            if len(self._tokens) > self.max_entries:
                for key in [k for k, t in self._tokens.items() if not self._usable(t, 0)]:
                    del self._tokens[key]
            while len(self._tokens) > self.max_entries:
                self._tokens.popitem(last=False)

    def get_or_fetch(self, fingerprint: str, fetch: Callable[[], AccessToken | None], margin_ms: int) -> AccessToken | None:
        """The kept token, or the one `fetch` gets (kept when it has one), fetched once at a time
        per credential set: a caller that waited for another's fetch takes its token."""
        token = self.get(fingerprint, margin_ms)
        if token is not None:
            return token
        with self._lock:
            gate = self._gates.setdefault(fingerprint, _Gate())
            gate.users += 1
        try:
            with gate.lock:
                token = self.get(fingerprint, margin_ms)
                if token is None:
                    token = fetch()
                    if token is not None:
                        self.put(fingerprint, token)
                return token
        finally:
            with self._lock:
                gate.users -= 1
                if not gate.users:
                    del self._gates[fingerprint]

    def drop(self, fingerprint: str, rejected: str) -> None:
        """Forget the kept token if it is `rejected` (the token string the API refused)."""
        with self._lock:
            kept = self._tokens.get(fingerprint)
            if kept is not None and kept.access_token == rejected:
                del self._tokens[fingerprint]

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()
