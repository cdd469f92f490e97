"""THE parser of values typed into Dify's forms (provider credentials, model credentials, parameters).

Dify sends form values as strings, booleans or numbers depending on the field type and its
version; every module reads them through these functions, so a value means the same everywhere.
Each raises ``FormValueError`` with a message naming the field and what it accepts; callers turn
it into the Dify error of their context (credentials -> CredentialsValidateFailedError, a model
parameter -> InvokeBadRequestError). A switch never silently flips: an unknown value is an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FormValueError", "choice", "get", "is_blank", "number", "switch", "text", "url", "whole_number"]

_TRUE = frozenset({"true", "1", "yes", "on", "support", "enabled"})
_FALSE = frozenset({"false", "0", "no", "off", "no_support", "disabled"})


class FormValueError(ValueError):
    """A form value is unusable; ``str(exc)`` says which field and what it accepts."""


def _shown(value: Any) -> str:
    """A value as quoted back in a message: short (a pasted blob or 10**400 must not flood it)."""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _range(lo: float, hi: float) -> str:
    if math.isinf(lo) and math.isinf(hi):
        return "a finite number"
    return f"a number between {lo:g} and {hi:g}"


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: Any) -> str:
    """The value as stripped text ('' for None)."""
    return "" if value is None else str(value).strip()


def switch(value: Any, label: str, default: bool) -> bool:
    """A yes/no field (Dify's switch sends true/false, old forms 'true'/'1', selects 'support')."""
    if is_blank(value):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise FormValueError(f"{label} must be on or off (true/false), got '{_shown(value)}'.")


def _parsed(value: Any, label: str, expected: str) -> float:
    """A value typed into a number field as a float (never a switch's true/false)."""
    if not isinstance(value, bool):
        try:
            return float(str(value).strip())
        except (TypeError, ValueError, OverflowError):
            pass
    raise FormValueError(f"{label} must be {expected}, got '{_shown(value)}'.")


def number(value: Any, label: str, default: float, lo: float, hi: float) -> float:
    """A finite number within [lo, hi]."""
    if is_blank(value):
        return default
    result = _parsed(value, label, _range(lo, hi))
    if not math.isfinite(result) or not lo <= result <= hi:
        raise FormValueError(f"{label} must be {_range(lo, hi).replace('a number ', '')}, got {_shown(value)}.")
    return result


def whole_number(value: Any, label: str, default: int, lo: int, hi: int) -> int:
    """A whole number within [lo, hi] ('12', 12 and 12.0 are accepted; 12.5 is not)."""
    if is_blank(value):
        return default
    expected = f"a whole number between {lo} and {hi}"
    as_float = _parsed(value, label, expected)
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise FormValueError(f"{label} must be {expected}, got '{_shown(value)}'.")
    result = int(as_float)
    if not lo <= result <= hi:
        raise FormValueError(f"{label} must be between {lo} and {hi}, got {_shown(result)}.")
    return result


def choice(value: Any, label: str, options: Iterable[str], default: str) -> str:
    """One of the select's options."""
    if is_blank(value):
        return default
    options = tuple(options)
    word = str(value).strip()
    if word not in options:
        raise FormValueError(f"{label} must be one of {', '.join(options)}, got '{_shown(value)}'.")
    return word


def url(value: Any, label: str, default: str) -> str:
    """An http(s) URL without a trailing slash."""
    raw = text(value) or default
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. "Invalid IPv6 URL" for https://[::1
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise FormValueError(f"{label} '{raw}' is not a URL: it must start with https:// (for example {default}).")
    return raw.rstrip("/")


def get(form: Mapping[str, Any] | None, key: str) -> Any:
    """A field of a form that may be None."""
    return (form or {}).get(key)
