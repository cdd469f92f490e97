"""The emulator's layers stay apart: the transport knows only the wire types, nothing above the
transport reaches into the Emulator object, and both chat contracts offer the one chat flow's
interface."""

import ast
import inspect
from pathlib import Path

import pytest

from emulator import chat, chat_flow, v2

EMULATOR = Path(__file__).resolve().parents[2] / "emulator"


def emulator_imports(module: str) -> set[str]:
    """The emulator modules `module` imports (at run time or for type checking)."""
    tree = ast.parse((EMULATOR / f"{module}.py").read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emulator"):
            if node.module == "emulator":
                out |= {alias.name for alias in node.names}
            else:
                out.add(node.module.split(".", 1)[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("emulator.")}
    return out


def test_the_transport_knows_only_the_wire_types():
    assert emulator_imports("server") == {"wire"}
    assert emulator_imports("wire") == set()


@pytest.mark.parametrize("module", ["api", "call", "endpoints", "chat_flow", "chat", "v2", "dialects", "state"])
def test_nothing_above_the_transport_reaches_into_the_emulator_object(module):
    assert "core" not in emulator_imports(module)
    tree = ast.parse((EMULATOR / f"{module}.py").read_text(encoding="utf-8"))
    assert not [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in ("emu", "Emulator")]


@pytest.mark.parametrize("contract", [chat, v2], ids=["v1", "v2"])
def test_both_contracts_offer_the_chat_flows_interface(contract):
    for name, member in inspect.getmembers(chat_flow.Contract, inspect.isfunction):
        if name.startswith("_"):
            continue
        expected = list(inspect.signature(member).parameters)[1:]  # without self
        assert list(inspect.signature(getattr(contract, name)).parameters) == expected, name
    assert contract.NAME in ("v1", "v2")
