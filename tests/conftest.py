import os

import pytest


@pytest.fixture(autouse=True)
def _no_gigachat_env(monkeypatch):
    # The gigachat SDK fills unset constructor arguments from GIGACHAT_* variables.
    for key in list(os.environ):
        if key.startswith("GIGACHAT_"):
            monkeypatch.delenv(key)
