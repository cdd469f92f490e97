"""docs/architecture.md lists every module and folder of gigachat_dify/ where it really is, and
nothing that is not there: its tree is read back into paths and compared with the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = "gigachat_dify"
# An entry of the tree: its indentation (two spaces a level) and a name ending in .py or /.
ENTRY = re.compile(r"^( *)([\w.]+(?:\.py|/))(?:\s|$)")
DESCRIPTION_COLUMN = 28  # text from here on is a description (or its continuation), not an entry


def documented_tree(text: str) -> set[str]:
    tree = text.split("```", 2)[1]
    paths, stack, inside = set(), [], False
    for line in tree.splitlines():
        match = ENTRY.match(line)
        if not match or len(match.group(1)) >= DESCRIPTION_COLUMN:
            continue
        depth, name = len(match.group(1)) // 2, match.group(2)
        if depth == 0:
            inside = name == PACKAGE + "/"
            stack = [PACKAGE]
            continue
        if not inside:
            continue
        del stack[depth:]
        path = "/".join([*stack, name.rstrip("/")])
        paths.add(path + ("/" if name.endswith("/") else ""))
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
    return paths


def actual_tree() -> set[str]:
    out = set()
    for p in (ROOT / PACKAGE).rglob("*.py"):
        rel = p.relative_to(ROOT)
        if "__pycache__" in rel.parts:
            continue
        if p.name != "__init__.py":
            out.add(rel.as_posix())
        out |= {"/".join(rel.parts[:i]) + "/" for i in range(2, len(rel.parts))}
    return out


def test_the_architecture_lists_every_module_and_folder_of_the_plugin_where_it_is():
    documented, actual = documented_tree(DOC.read_text(encoding="utf-8")), actual_tree()
    assert not actual - documented, f"not in docs/architecture.md: {sorted(actual - documented)}"
    assert not documented - actual, f"in docs/architecture.md but not in the code: {sorted(documented - actual)}"


def test_the_tree_reader_places_nested_entries_under_their_folder():
    text = ("```\nmain.py   x\ngigachat_dify/  y\n  a.py  z\n  sub/   w\n    b.py   v\n"
            "                            c.py is a description\n  d.py  u\nother/\n  e.py\n```")
    assert documented_tree(text) == {"gigachat_dify/a.py", "gigachat_dify/sub/", "gigachat_dify/sub/b.py",
                                     "gigachat_dify/d.py"}
