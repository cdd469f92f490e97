"""Keeps secrets out of every log line and error message.

Defence in depth behind the rule that no code formats a secret into text. Two scopes, so that what
one workspace types can never garble another's messages:
- the request: every value typed into a secret field of the form being served (checked or not,
  even `GigaChat` typed as a key) is masked in what this request logs and answers, and nowhere
  else. A request runs in its own context (thread or greenlet), so a contextvar carries it;
- the process: only values that passed their format check (an authorization key that decodes to
  `id:secret`, a private key that parsed as PEM) are masked everywhere, e.g. in records logged by
  worker threads. They cannot be ordinary words, and the set is bounded (least recently
  registered dropped first), so it never grows with the number of credentials seen.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

MASK = "***"
MIN_REQUEST_SECRET_LEN = 4  # shorter strings would mask ordinary text even in the request's own messages
MIN_PROCESS_SECRET_LEN = 16  # process-wide secrets are long random strings by construction
MAX_PROCESS_SECRETS = 1024

_lock = threading.Lock()
_process: OrderedDict[str, None] = OrderedDict()
_request: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("gigachat_request_secrets", default=())


def register(*values: str | None) -> None:
    """Mask these checked, high-entropy values everywhere in this process (bounded)."""
    with _lock:
        for v in values:
            if isinstance(v, str) and len(v) >= MIN_PROCESS_SECRET_LEN:
                _process[v] = None
                _process.move_to_end(v)
        while len(_process) > MAX_PROCESS_SECRETS:
            _process.popitem(last=False)


def scope_request(values: Iterable[str | None]) -> tuple[str, ...]:
    """The secrets of the request being served in this context: replaces the previous request's.
    Returns the scope as kept, for ``enter_request_scope`` to set again for the same form."""
    scope = tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_REQUEST_SECRET_LEN},
                         key=len, reverse=True))
    _request.set(scope)
    return scope


def enter_request_scope(scope: tuple[str, ...]) -> None:
    """A scope ``scope_request`` returned, for another request of the same form."""
    _request.set(scope)


def redact(text: str) -> str:
    if not text:
        return text
    for s in _request.get():
        if s in text:
            text = text.replace(s, MASK)
    with _lock:
        known = list(_process)
    for s in sorted((s for s in known if s in text), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


#: Characters of a server's text quoted in a message.
EXCERPT = 300


def excerpt(text: str) -> str:
    """Text from elsewhere (GigaChat's words, an unreadable event) fit to quote in a message:
    redacted, on one line, at most EXCERPT characters."""
    text = redact(" ".join(text.split()))
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not break logging
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None


_installed = False


def install_log_filter() -> None:
    """Mask secrets in every log record as it is created: whichever logger or handler it goes
    through (the runtime adds its own handlers), it never carries a secret."""
    global _installed
    if _installed:
        return
    old_factory = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = old_factory(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
