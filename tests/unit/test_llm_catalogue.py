"""The LLM catalogue: every YAML loads through dify_plugin's own schema with the right names,
positions, features and parameter rules."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from dify_plugin.core.utils.yaml_loader import load_yaml_file
from dify_plugin.entities.model import AIModelEntity, ModelFeature, ModelPropertyKey, ModelType
from dify_plugin.interfaces.model.ai_model import AIModel

FOLDER = Path(__file__).resolve().parents[2] / "models" / "llm"
MODEL_FILES = sorted(p for p in FOLDER.glob("*.yaml") if p.name != "_position.yaml")
GIGACHAT_PARAMETERS = {"temperature", "top_p", "max_tokens", "repetition_penalty", "profanity_check"}


def load(path: Path) -> AIModelEntity:
    return AIModelEntity(**load_yaml_file(str(path)))


def test_the_current_gigachat_line_is_predefined():
    assert {p.stem for p in MODEL_FILES} == {"GigaChat-2", "GigaChat-2-Pro", "GigaChat-2-Max", "GigaChat-3-Ultra"}


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_yaml_loads_through_the_sdk_schema(path):
    entity = load(path)
    assert entity.model == path.stem and entity.model_type == ModelType.LLM
    assert entity.label.en_us and entity.label.zh_hans
    assert entity.model_properties[ModelPropertyKey.MODE] == "chat"
    assert entity.model_properties[ModelPropertyKey.CONTEXT_SIZE] >= 32768
    assert entity.pricing is None  # no public RUB per-token source was found: none is invented


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_every_model_offers_gigachat_parameters_and_tools(path):
    entity = load(path)
    names = {r.name for r in entity.parameter_rules}
    assert GIGACHAT_PARAMETERS <= names
    assert {ModelFeature.TOOL_CALL, ModelFeature.STREAM_TOOL_CALL} <= set(entity.features)
    rules = {r.name: r for r in entity.parameter_rules}
    assert rules["top_p"].max == 1 and rules["repetition_penalty"].min > 0


def test_parallel_tool_calls_are_declared_only_where_they_were_shown():
    # One call per turn on v1 (documented); several in one step on v2 at api.giga.chat, probed live
    # with GigaChat-2-Max (Sep 2026) and passed whole to Dify (tests/e2e/test_v2_dialects.py).
    declared = [load(p).model for p in MODEL_FILES if ModelFeature.MULTI_TOOL_CALL in load(p).features]
    assert declared == ["GigaChat-2-Max"]


def test_vision_only_where_documented_and_structured_output_with_its_rules():
    by_name = {load(p).model: load(p) for p in MODEL_FILES}
    assert [m for m, e in by_name.items() if ModelFeature.VISION in e.features] == ["GigaChat-2-Max"]
    for model, entity in by_name.items():
        names = {r.name for r in entity.parameter_rules}
        if ModelFeature.STRUCTURED_OUTPUT in entity.features:
            assert {"response_format", "json_schema"} <= names, model
            fmt = next(r for r in entity.parameter_rules if r.name == "response_format")
            assert "json_schema" in fmt.options
        else:
            assert "json_schema" not in names, model


def test_position_file_lists_exactly_the_yaml_models_once():
    positions = load_yaml_file(str(FOLDER / "_position.yaml"))
    assert len(positions) == len(set(positions))
    assert set(positions) == {p.stem for p in MODEL_FILES}


def test_the_model_source_defines_exactly_one_model_class():
    module = importlib.import_module("models.llm.llm")
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, AIModel) and obj.__module__ == module.__name__]
    assert len(classes) == 1
    visible = [obj for _, obj in inspect.getmembers(module, inspect.isclass) if issubclass(obj, AIModel)]
    assert all(not inspect.isabstract(c) or c.__module__ != module.__name__ for c in visible)


@pytest.mark.parametrize(("form", "structured"), [({}, True), ({"structured_output": "support"}, True),
                                                  ({"structured_output": "no_support"}, False)])
def test_a_customizable_model_offers_structured_output_unless_its_form_turns_it_off(form, structured):
    from gigachat_dify.chat.custom_models import llm_entity

    entity = llm_entity("GigaChat-2-Max-preview", form)
    names = [r.name for r in entity.parameter_rules]
    assert len(names) == len(set(names))
    assert (ModelFeature.STRUCTURED_OUTPUT in entity.features) is structured
    assert ({"response_format", "json_schema"} <= set(names)) is structured
    assert not ({"response_format", "json_schema"} & set(names)) or structured


def test_every_predefined_model_declares_structured_output_with_the_json_schema_option():
    for path in MODEL_FILES:
        entity = load(path)
        assert ModelFeature.STRUCTURED_OUTPUT in entity.features, path.name
        fmt = next(r for r in entity.parameter_rules if r.name == "response_format")
        assert fmt.options == ["text", "json_schema"]
        assert any(r.name == "json_schema" for r in entity.parameter_rules)


# Dify asks for a customizable model's schema several times per request (the parameters' check, the
# invocation, each side's price): built once per model and form, each caller with rules of its own.
CUSTOM_FORM = {"authorization_key": "a-key-of-the-workspace", "context_size": "65536", "max_tokens": "4096",
               "vision_support": "support", "web_search": "support"}


def test_a_customizable_models_schema_is_built_once_per_model_and_form(monkeypatch):
    from gigachat_dify.chat import custom_models

    custom_models._entity.cache_clear()
    built = []
    real = custom_models.AIModelEntity
    monkeypatch.setattr(custom_models, "AIModelEntity", lambda **kw: built.append(kw["model"]) or real(**kw))
    first = custom_models.llm_entity("GigaChat-2-Max-preview", dict(CUSTOM_FORM))
    again = custom_models.llm_entity("GigaChat-2-Max-preview", {**CUSTOM_FORM, "authorization_key": "another key"})
    assert built == ["GigaChat-2-Max-preview"]
    assert again.model_dump() == first.model_dump()
    other = custom_models.llm_entity("GigaChat-2-Max-preview", {**CUSTOM_FORM, "max_tokens": "2048"})
    assert built == ["GigaChat-2-Max-preview"] * 2
    assert {r.name: r.max for r in other.parameter_rules}["max_tokens"] == 2048
    assert custom_models.llm_entity("GigaChat-2-Pro-preview", dict(CUSTOM_FORM)).model == "GigaChat-2-Pro-preview"


def test_the_schema_cache_is_keyed_by_no_secret():
    from gigachat_dify.chat.custom_models import read_form

    key = read_form(dict(CUSTOM_FORM))
    assert key == read_form({**CUSTOM_FORM, "authorization_key": "another key", "password": "p4ss"})
    assert "a-key-of-the-workspace" not in repr(key)


def test_what_one_caller_does_to_a_customizable_schema_no_other_sees():
    from gigachat_dify.chat.custom_models import llm_entity

    first = llm_entity("GigaChat-2-Max-preview", dict(CUSTOM_FORM))
    fresh = first.model_dump()
    first.parameter_rules[0].max = 99.0  # as dify_plugin fills a template rule in place
    first.parameter_rules = first.parameter_rules[:1]
    assert llm_entity("GigaChat-2-Max-preview", dict(CUSTOM_FORM)).model_dump() == fresh


def test_dify_sees_the_same_customizable_schema_every_time():
    module = importlib.import_module("models.llm.llm")
    model = module.GigaChatLargeLanguageModel([load(p) for p in MODEL_FILES])
    schemas = [model.get_model_schema("GigaChat-2-Max-preview", dict(CUSTOM_FORM)).model_dump() for _ in range(3)]
    assert schemas[0] == schemas[1] == schemas[2]
    assert schemas[0]["model_properties"][ModelPropertyKey.CONTEXT_SIZE] == 65536
