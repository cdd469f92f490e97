import os
import ssl

import gigachat
import httpx
import pytest

from emulator import DEFAULT_KEY, Emulator
from tests.support.recordings import RECORDINGS

assert RECORDINGS.is_dir(), f"the recorded GigaChat traffic is missing: {RECORDINGS}"

DEFAULT_TEST_TIMEOUT = 30
# Building an SSL context (certifi) costs ~70 ms per httpx client: share one across test clients.
SHARED_SSL = ssl.create_default_context()


def pytest_collection_modifyitems(items):
    # Nothing here may hang: every emulator test gets a timeout unless it sets its own.
    for item in items:
        if "tests/emulator" in str(item.fspath).replace(os.sep, "/") and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


@pytest.fixture(autouse=True)
def _no_gigachat_env(monkeypatch):
    # The SDK fills constructor arguments left as None from GIGACHAT_* variables.
    for key in list(os.environ):
        if key.startswith("GIGACHAT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def emu():
    with Emulator() as e:
        yield e


def make_client(emu: Emulator, **kw) -> gigachat.GigaChat:
    settings = dict(
        base_url=emu.base_url,
        auth_url=emu.auth_url,
        credentials=DEFAULT_KEY,
        scope="GIGACHAT_API_PERS",
        verify_ssl_certs=True,
        model="GigaChat",
        timeout=10,
        ssl_context=SHARED_SSL,
    )
    settings.update(kw)
    return gigachat.GigaChat(**settings)


@pytest.fixture
def client(emu):
    c = make_client(emu)
    yield c
    c.close()


def get_token(emu: Emulator, key: str = DEFAULT_KEY, scope: str = "GIGACHAT_API_PERS") -> str:
    r = httpx.post(
        emu.auth_url,
        verify=SHARED_SSL,
        data={"scope": scope},
        headers={"Authorization": f"Basic {key}", "RqUID": "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e"},
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def api(emu):
    """httpx client on the API base with a valid bearer token (raw HTTP, no SDK in between)."""
    headers = {"Authorization": f"Bearer {get_token(emu)}"}
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=10, verify=SHARED_SSL) as c:
        yield c
