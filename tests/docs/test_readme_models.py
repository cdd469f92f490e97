"""The README's model tables say what the plugin declares: each predefined model's row is read back
and compared with its YAML (features, parameter rules, context, output and max_chunks) and with the
embedding facts the plugin plans with (dimensions, query instructions). The translations have the
same tables (test_readme_translations.py), so they follow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gigachat_dify.chat import builtin_tools
from gigachat_dify.chat.parameters import RANKER, RANKER_LABEL, RANKER_TOP_N, RANKER_TOP_N_LABEL
from gigachat_dify.embeddings.config import DIMENSIONS, QUERY_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def table(first_header: str) -> list[dict[str, str]]:
    lines = [l for l in README.splitlines() if l.startswith("|")]
    start = next(i for i, l in enumerate(lines) if l.split("|")[1].strip() == first_header)
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(header) or cells == header:
            break
        rows.append(dict(zip(header, cells)))
    return rows


def models(kind: str) -> list[dict]:
    folder = ROOT / "models" / kind
    order = yaml.safe_load((folder / "_position.yaml").read_text())
    return [yaml.safe_load((folder / f"{name}.yaml").read_text()) for name in order]


def number(cell: str) -> int:
    return int(re.sub(r"[^\d]", "", cell))


def mark(cell: str) -> bool:
    assert cell[:1] in ("✓", "–"), cell
    return cell.startswith("✓")


def test_the_chat_model_table_is_what_the_yamls_declare():
    rows = {r["Model"]: r for r in table("Model")}
    for m in models("llm"):
        row = rows.pop(m["model"])
        features = set(m.get("features") or [])
        rules = {r["name"]: r for r in m["parameter_rules"]}
        assert number(row["Context (tokens)"]) == m["model_properties"]["context_size"], m["model"]
        assert number(row["Max output"]) == rules["max_tokens"]["max"], m["model"]
        declared = {
            "Vision": "vision" in features, "Documents": "document" in features, "Tools": "tool-call" in features,
            "Structured output": "structured-output" in features, "Audio": "audio" in features,
            "Reasoning effort": "reasoning_effort" in rules,
            # one column per built-in tool, headed by its switch's label (chat/builtin_tools.py)
            **{t.label["en_US"]: t.switch in rules for t in builtin_tools.SWITCHED},
        }
        assert {column: mark(row[column]) for column in declared} == declared, m["model"]
    assert list(rows) == ["Customizable model"], f"rows for models the plugin does not declare: {list(rows)}"


def test_the_parameter_and_customizable_model_tables_name_every_switch_with_its_label():
    parameters = {r["Parameter"]: r["In Dify"] for r in table("Parameter")}
    fields = {r["Field"]: r["In Dify"] for r in table("Field")}
    for tool in builtin_tools.SWITCHED:
        assert parameters[f"`{tool.switch}`"] == tool.label["en_US"]
        assert fields[f"`{tool.form_field}`"] == tool.form_schema()["label"]["en_US"]
    assert parameters[f"`{RANKER}` + `{RANKER_TOP_N}`"] == f"{RANKER_LABEL}, {RANKER_TOP_N_LABEL}"


def test_the_embedding_table_is_what_the_yamls_and_the_size_plan_use():
    rows = {r["Embedding model"]: r for r in table("Embedding model")}
    for m in models("text_embedding"):
        row = rows.pop(m["model"])
        props = m["model_properties"]
        assert number(row["Tokens per text"]) == props["context_size"], m["model"]
        assert number(row["Texts per call (`max_chunks`)"]) == props["max_chunks"], m["model"]
        assert number(row["Dimensions"]) == DIMENSIONS[m["model"]], m["model"]
        assert mark(row["Query instruction"]) == (m["model"] in QUERY_PREFIXES), m["model"]
    assert not rows, f"rows for models the plugin does not declare: {list(rows)}"


def test_the_texts_per_call_the_readme_gives_other_plugins_are_the_size_plans():
    from gigachat_dify.embeddings.size import texts_per_answer

    sentence = re.search(r"plugin protocol: (\d+) texts for 1,024 dimensions, (\d+) for 2,048, (\d+) for 2,560", README)
    assert sentence, "the README no longer states the per-call limits"
    assert [int(n) for n in sentence.groups()] == [texts_per_answer(d, True) for d in (1024, 2048, 2560)]
    long_form = re.search(r"recognised from its first answer and takes (\d+), (\d+) and (\d+)", README)
    assert long_form, "the README no longer states the limits of a model whose values are not float16"
    assert [int(n) for n in long_form.groups()] == [texts_per_answer(d, False) for d in (1024, 2048, 2560)]
