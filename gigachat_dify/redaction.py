"""Keeps secrets out of every log line and error message.

Each parsed credentials object registers its secrets here; a log-record hook masks them in
every record wherever they would appear, as defence in depth behind the rule that no code
formats a secret into text in the first place.
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
