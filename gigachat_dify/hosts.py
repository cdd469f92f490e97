"""THE GigaChat addresses, and what each host serves (every module that names a host takes it from here).

GigaChat's API spec of September 2026 lists ``https://api.giga.chat`` (``/v1``, ``/v2``) as the
server for every account, with the same OAuth URL and the same Russian Trusted Root CA (a personal
account reached it live). ``gigachat.devices.sberbank.ru`` stays in service and is the only host of
the ``-preview`` models (docs, "preview models"); it is the form's default because every recording
the plugin is built on was made there. Leaf module: imports nothing of the plugin, so the error
table can name hosts without importing the connection layer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: The form's default Base URL; the host of the ``-preview`` models.
DEFAULT_BASE_URL = "https://gigachat.devices.sberbank.ru/api/v1"
#: The API spec's server for everyone (Sept 2026).
SPEC_BASE_URL = "https://api.giga.chat/v1"
SPEC_HOST = "api.giga.chat"
DEFAULT_AUTH_URL = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
#: Model names ending so are served only at DEFAULT_BASE_URL's host.
PREVIEW_SUFFIX = "-preview"

#: GigaChat's public API hosts (every account's; no on-premise login such as {Base URL}/token).
PUBLIC_HOSTS = frozenset({"gigachat.devices.sberbank.ru", SPEC_HOST})
ON_PREMISE_EXAMPLE = "https://gigachat.company.local/api/v1"

HOSTS_HINT = (
    f"Use {SPEC_BASE_URL} (GigaChat's server for every account) or {DEFAULT_BASE_URL} (also the "
    f"host of the -preview models), or your on-premise installation's address (e.g. {ON_PREMISE_EXAMPLE})."
)


def is_public(host: str) -> bool:
    """``host`` (a URL's netloc: a host name, with a port or user) is one of GigaChat's public API hosts."""
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return False
    return name.rstrip(".") in PUBLIC_HOSTS


def login_hint(host: str) -> str:
    """What to do when ``host`` gave no token for a user and password: another mode only on a public
    host (which has no such login); elsewhere the Base URL is the likelier mistake."""
    if is_public(host):
        return ("user and password work only with an on-premise GigaChat installation. For GigaChat's public "
                "hosts use the authorization key or a client certificate.")
    return ("check the 'Base URL' is the API address of your on-premise GigaChat installation (the one whose "
            f"/token gives tokens, e.g. {ON_PREMISE_EXAMPLE}); its administrator can tell it.")
