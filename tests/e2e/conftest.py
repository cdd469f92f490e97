"""End-to-end fixtures: the emulator on loopback and the plugin as a subprocess speaking Dify's stdio
protocol, run from its package as Dify's daemon installs it (tests/support/daemon.py)."""

import pytest

from emulator import DEFAULT_KEY, Emulator
from tests.support.daemon import PluginProcess, installed_plugin


@pytest.fixture(scope="session", autouse=True)
def installed_package():
    """The package built and installed once for the session (uv venv, uv sync --no-dev --frozen,
    compileall): every PluginProcess() and the demo's subprocesses run this folder."""
    return installed_plugin()


@pytest.fixture(scope="session")
def emulator():
    emu = Emulator()
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def _fresh_emulator_state(emulator):
    emulator.reset()
    yield
    emulator.reset()


@pytest.fixture(scope="session")
def plugin():
    """One plugin process for the session, as the daemon keeps one per installed plugin."""
    proc = PluginProcess().start()
    yield proc
    proc.stop()
    assert not proc.protocol_errors, proc.protocol_errors


@pytest.fixture
def fresh_plugin():
    """A plugin process of its own, for tests that count per-process effects (OAuth calls)."""
    proc = PluginProcess().start()
    yield proc
    proc.stop()
    assert not proc.protocol_errors, proc.protocol_errors


@pytest.fixture
def credentials(emulator):
    return {
        "authorization_key": DEFAULT_KEY,
        "scope": "GIGACHAT_API_PERS",
        "base_url": emulator.base_url,
        "auth_url": emulator.auth_url,
        "verify_ssl": True,
        "timeout": "20",
    }
