"""Keeps secrets out of every log line and error message.

Each parsed credentials object registers its secrets here; a logging filter installed on the
root logger replaces them with a mask wherever they would appear, as defence in depth behind
the rule that no code formats a secret into text in the first place.
"""

from __future__ import annotations

import logging
import threading

MASK = "***"
_MIN_SECRET_LEN = 6  # shorter strings would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    with _lock:
        for v in values:
            if v and len(v) >= _MIN_SECRET_LEN:
                _secrets.add(v)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with every registered secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_installed = False


def install_log_filter() -> None:
    """Attach the filter to the root logger's handlers (and future records via the root logger)."""
    global _installed
    root = logging.getLogger()
    flt = RedactingFilter()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    if not _installed:
        root.addFilter(flt)
        # Records from named loggers bypass root's own filters but pass root's handlers:
        # keep a factory hook so handlers added later by the runtime are covered too.
        old_factory = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = old_factory(*args, **kwargs)
            flt.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
