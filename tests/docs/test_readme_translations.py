"""The Russian and Chinese pages carry the same content as the English one and stay in step with it.

Compared by structure, which any drift breaks: the sequence of headings (their levels), every table's
shape (columns and rows) and its first column where it holds code or model names, every code block
(commands must be identical), and every link target.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = ROOT / "README.md"
TRANSLATIONS = sorted((ROOT / "readme").glob("README_*.md"))


# A fenced block, also one indented inside a list item (its lines compared without the indentation).
_FENCE = re.compile(r"^([ \t]*)```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)


def _strip_code(text: str) -> tuple[str, list[str]]:
    blocks = [textwrap.dedent(m.group(2)).strip() for m in _FENCE.finditer(text)]
    return _FENCE.sub("", text), blocks


def structure(path: Path) -> dict:
    prose, code = _strip_code(path.read_text(encoding="utf-8"))
    headings = [len(m.group(1)) for m in re.finditer(r"^(#{1,6}) ", prose, re.M)]
    tables, current = [], []
    for line in prose.splitlines() + [""]:
        if line.strip().startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    table_shapes = [(len(t), len(t[0])) for t in tables]
    # Cells that are code (`...`) or model names stay untranslated in every language.
    literal_cells = [[row[0] for row in t[2:] if row and (row[0].startswith("`") or "GigaChat" in row[0]
                                                            or "Embeddings" in row[0])] for t in tables]
    links = sorted(set(re.findall(r"\]\((https?://[^)\s]+)\)", prose)))
    inline_commands = sorted(set(re.findall(r"`(bash [^`]+)`", prose)))
    return {"headings": headings, "tables": table_shapes, "literal cells": literal_cells, "code blocks": code,
            "links": links, "commands": inline_commands}


def test_there_are_russian_and_chinese_pages():
    assert {p.name for p in TRANSLATIONS} >= {"README_ru_RU.md", "README_zh_Hans.md"}


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=lambda p: p.name)
@pytest.mark.parametrize("part", ["headings", "tables", "literal cells", "code blocks", "links", "commands"])
def test_translation_has_the_structure_of_the_english_page(translation, part):
    assert structure(translation)[part] == structure(ENGLISH)[part]


def test_the_english_page_opens_with_its_title_and_carries_the_two_commands():
    text = ENGLISH.read_text(encoding="utf-8")
    assert text.startswith("# "), "the page Dify shows must open with its title"
    assert "bash scripts/demo.sh" in text and "bash scripts/test.sh" in text


def test_links_to_files_that_are_not_packaged_are_absolute():
    # Inside Dify only the package exists: a relative link to docs/, emulator/ or tests/ is broken.
    for page in [ENGLISH, *TRANSLATIONS]:
        relative = re.findall(r"\]\((?!https?://|#)([^)\s]+)\)", page.read_text(encoding="utf-8"))
        unpackaged = [r for r in relative if r.split("/")[0].lstrip("./") in ("docs", "emulator", "tests", "bench", "scripts")]
        assert not unpackaged, (page.name, unpackaged)


RELEASES = "https://github.com/gigachat-community/dify-plugin-gigachat/releases"
# What only a clone of the repository has: an administrator who installs the package cannot run these.
_REPOSITORY_ONLY = re.compile(r"bash scripts/|\.venv/|python -m ")


def _level_two_sections(text: str) -> list[str]:
    return re.split(r"(?m)^(?=## )", _strip_code(text)[0])[1:]


@pytest.mark.parametrize("page", [ENGLISH, *TRANSLATIONS], ids=lambda p: p.name)
def test_the_administrators_part_comes_first_and_development_after_it(page):
    text = page.read_text(encoding="utf-8")
    sections = _level_two_sections(text)
    development = next(i for i, s in enumerate(sections) if "bash scripts/demo.sh" in s)
    install = next(i for i, s in enumerate(sections) if f"]({RELEASES})" in s and "`docker compose up -d`" in s)
    assert install < development == len(sections) - 2, "development is the last part before the licence"
    before = "".join(sections[:development])
    assert not _REPOSITORY_ONLY.findall(before), "a repository-only command in the administrator's part"
    # The page says at once where the package is; a reader does not scroll to Install to find out.
    assert RELEASES in text[:text.index("\n## ")]
