"""The corporate proxy: the form's `proxy_url`, and how it combines with Dify's environment.

Decision (documented in the form's help and the README):
- `proxy_url` set: every request to both GigaChat hosts (OAuth and API) goes through it, whatever
  HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY say. The administrator chose it for this
  provider explicitly; a NO_PROXY entry such as `.sberbank.ru` must not silently bypass it.
- `proxy_url` empty: the environment applies exactly as httpx reads it (HTTPS_PROXY for https
  hosts, HTTP_PROXY for http, ALL_PROXY, NO_PROXY exceptions). Dify's plugin daemon passes its own
  HTTP_PROXY / HTTPS_PROXY / NO_PROXY to every plugin process it starts, so a daemon configured
  for a proxy keeps working with no form change.
The proxy's password is a secret: it is never shown; messages name the proxy by host:port only.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from gigachat_dify import form
from gigachat_dify.failures import ProxyUnreachable as ProxyUnreachable  # raised by the client, classified there

EXAMPLE = "http://proxy.company.local:3128"
SHAPE = f"http://[user:password@]host:port, e.g. {EXAMPLE}"
LABEL = form.field_label("proxy_url")


def parse_proxy_url(value) -> str | None:
    """The proxy URL as httpx takes it, or None when the field is blank. Raises FormValueError."""
    raw = form.text(value)
    if not raw:
        return None
    url = form.url(raw, LABEL, EXAMPLE, userinfo=True, schemes=("http",), example=SHAPE)
    parts = urlsplit(url)
    if parts.port is None:
        raise form.FormValueError(f"The {LABEL} {display(url)} has no port: add it, like {EXAMPLE}.")
    if parts.path or parts.query or parts.fragment:
        raise form.FormValueError(
            f"The {LABEL} {display(url)} must be only http://[user:password@]host:port, without a path."
        )
    return url


def display(url: str) -> str:
    """host:port of the proxy, never its user or password."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "?", parts.port
    except ValueError:
        return "the proxy"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def password_spellings(url: str | None) -> tuple[str, ...]:
    """The proxy password written in the URL, as typed (%-escaped) and decoded; () when none."""
    password = urlsplit(url).password if url else None
    return (password, unquote(password)) if password else ()
