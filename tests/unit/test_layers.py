"""The plugin's parts import each other without a cycle: no module through other modules, no
package (connection/, chat/, embeddings/) through a top-level module, and the failure layer (what
a failure means, how it is worded, whether it is repeated) imports nothing of the layers that use
it (issue 18: errors.py imported connection/ while connection/ imported errors.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gigachat_dify"
#: What every other layer reads; it must not read them.
FAILURE_LAYER = ("gigachat_dify.failures", "gigachat_dify.errors", "gigachat_dify.retry", "gigachat_dify.hosts")
USERS = ("gigachat_dify.connection", "gigachat_dify.chat", "gigachat_dify.embeddings")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def _target(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str) -> set[str]:
    """The plugin modules `module` imports when it runs (annotations-only imports left out)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(t for a in node.names if (t := _target(a.name)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                target = _target(f"{node.module}.{alias.name}")
                if target:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")))
    found.discard(module)
    return {m for m in found if m.startswith("gigachat_dify.") and not module.startswith(m + ".")}


GRAPH = {m: imports(m) for m in MODULES}


def part(module: str) -> str:
    """A package directly under gigachat_dify/, or a top-level module."""
    return ".".join(module.split(".")[:2])


def parts_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        graph.setdefault(part(module), set()).update(part(t) for t in targets if part(t) != part(module))
    return graph


def cycles(graph: dict[str, set[str]] | None = None) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan); the modules' graph by default."""
    graph = GRAPH if graph is None else graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def test_no_module_imports_itself_through_others():
    assert cycles() == []


def test_no_package_imports_itself_through_a_top_level_module():
    assert cycles(parts_graph()) == []


def test_the_failure_layer_imports_none_of_its_users():
    leaks = {m: sorted(t for t in GRAPH[m] if t.startswith(USERS)) for m in FAILURE_LAYER}
    assert leaks == {m: [] for m in FAILURE_LAYER}


def test_the_check_sees_the_old_cycle():
    # errors.py imported connection/credentials.py (the hosts); connection/clients.py imports errors.py.
    GRAPH["gigachat_dify.errors"].add("gigachat_dify.connection.credentials")
    try:
        assert ["gigachat_dify.connection", "gigachat_dify.errors"] in cycles(parts_graph())
    finally:
        GRAPH["gigachat_dify.errors"].discard("gigachat_dify.connection.credentials")


AUTH = "gigachat_dify.connection.auth"


def test_only_the_auth_package_reaches_a_modes_module():
    # Shared code asks the mode through auth/protocol.py's interface, never a mode's own module
    # (connection/clients.py took the key mode's default scope for every mode).
    modes = {m for m in MODULES if m.startswith(AUTH + ".") and m != AUTH + ".protocol"}
    leaks = {m: sorted(GRAPH[m] & modes) for m in MODULES if not m.startswith(AUTH)}
    assert {m: t for m, t in leaks.items() if t} == {}
