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

import httpx

__all__ = ["LABELS", "FormValueError", "choice", "get", "field_label", "is_blank", "number", "switch", "text", "url",
           "whole_number"]

_TRUE = frozenset({"true", "1", "yes", "on", "support", "enabled"})
_FALSE = frozenset({"false", "0", "no", "off", "no_support", "disabled"})


class FormValueError(ValueError):
    """A form value is unusable; ``str(exc)`` says which field and what it accepts."""


#: THE en_US labels of the provider form's fields (provider/gigachat.yaml; a test holds the two
#: equal): a message names a field through this table, as the user sees it in the form.
LABELS = {
    "auth_mode": "Authentication",
    "authorization_key": "Authorization key",
    "scope": "Scope (account type)",
    "client_certificate": "Client certificate (PEM)",
    "client_private_key": "Private key of the certificate (PEM)",
    "client_private_key_password": "Private key password",
    "username": "User name",
    "password": "Password",
    "base_url": "Base URL",
    "auth_url": "OAuth URL",
    "ca_certificate": "CA certificate (PEM)",
    "verify_ssl": "Verify TLS certificates",
    "proxy_url": "Proxy URL",
    "timeout": "Request timeout (seconds)",
    "max_retries": "Retries on temporary errors",
    "embedding_concurrency": "Parallel embedding requests",
}


def field_label(field: str) -> str:
    """A provider-form field as messages name it: its en_US label in quotes."""
    return f"'{LABELS[field]}'"


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


_CHARACTER_NAMES = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}


def _character(char: str) -> str:
    return _CHARACTER_NAMES.get(char) or f"an invisible character (U+{ord(char):04X})"


def url(value: Any, label: str, default: str, *, userinfo: bool = False, schemes: tuple[str, ...] = ("https", "http"),
        example: str = "") -> str:
    """An http(s) URL without a trailing slash, checked as httpx will read it, so that no address the
    form takes fails later inside the HTTP client: no space or control character anywhere (urlsplit
    silently drops a tab, httpx refuses it), a host, a port from 1 to 65535. user:password@ only
    where ``userinfo`` allows it; a URL with an '@' is never quoted back (a password may be in it,
    also where the URL is misread), only its part after the last '@'."""
    raw = text(value) or default
    example = example or default
    odd = next((c for c in raw if c.isspace() or not c.isprintable()), None)
    if odd is not None:
        raise FormValueError(f"The {label} contains {_character(odd)}: type the address without spaces, tabs or "
                             f"line breaks, like {example}.")
    secret = "@" in raw
    if secret and not userinfo:
        raise FormValueError(
            f"The {label} contains '@' (user:password@): GigaChat's addresses carry no user or password. "
            f"Put the credentials in {field_label('authorization_key')} (or {field_label('username')} and "
            f"{field_label('password')}, or {field_label('client_certificate')}); a proxy's user and password go in "
            f"the {field_label('proxy_url')}."
        )
    shown = raw
    if secret:  # the userinfo left out (also a scheme typed after it)
        scheme, sep, _ = raw.partition("://")
        after = raw.rpartition("@")[2]
        shown = f"{scheme}://{after}" if sep and "@" not in scheme else after
    escape = " (characters such as @ : / in a password written as %40 %3A %2F)" if secret else ""
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. "Invalid IPv6 URL" for https://[::1
        parts = None
    if parts is None or parts.scheme not in schemes or not parts.netloc:
        start = " or ".join(f"{s}://" for s in schemes)
        raise FormValueError(f"The {label} {_shown(shown)} must start with {start}, like {example}{escape}.")
    if not parts.hostname:
        raise FormValueError(f"The {label} {_shown(shown)} has no host name: write it like {example}.")
    port = parts.netloc.rpartition("@")[2]
    port = port.partition("]")[2] if port.startswith("[") else port
    port = port.partition(":")[2]
    try:
        number = parts.port
    except ValueError:  # not a number, or out of range
        number = None
    if port and not (number and 1 <= number <= 65535):
        what = "an invalid port" if secret else f"an invalid port '{_shown(port)}'"
        raise FormValueError(f"The {label} has {what}: a port is a number from 1 to 65535, like {example}{escape}.")
    try:
        httpx.URL(raw)  # what the client will do with it; the rules above name its common refusals
    except httpx.InvalidURL as exc:  # e.g. a host name IDNA cannot encode
        host = "" if secret else f" '{_shown(parts.hostname)}'"
        what = f"its host name{host} is not valid" if "host" in str(exc).lower() or "address" in str(exc) else \
            "the HTTP client cannot read it"
        raise FormValueError(f"The {label} is not a usable address: {what}; write it like {example}{escape}.") from None
    return raw.rstrip("/")


def get(form: Mapping[str, Any] | None, key: str) -> Any:
    """A field of a form that may be None."""
    return (form or {}).get(key)
