"""The embedding model catalogue: every YAML loads through dify_plugin's own schema, agrees with
the model tables (limits, dimensions), declares the max_chunks derived from the protocol line
budget and the per-request limit, and _position.yaml lists exactly these models."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from dify_plugin.core.utils.yaml_loader import load_yaml_file
from dify_plugin.entities.model import AIModelEntity, ModelPropertyKey, ModelType
from dify_plugin.interfaces.model.ai_model import AIModel

from gigachat_dify.embeddings import size
from gigachat_dify.embeddings.config import DIMENSIONS, EMBEDDING_LIMITS, MAX_TEXTS_PER_REQUEST, known_halves

FOLDER = Path(__file__).resolve().parents[2] / "models" / "text_embedding"
MODEL_FILES = sorted(p for p in FOLDER.glob("*.yaml") if p.name != "_position.yaml")


def load(path: Path) -> AIModelEntity:
    return AIModelEntity(**load_yaml_file(str(path)))


def test_there_is_one_yaml_per_known_embedding_model_and_each_has_limit_and_dimensions():
    assert {p.stem for p in MODEL_FILES} == set(EMBEDDING_LIMITS) == set(DIMENSIONS)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_yaml_loads_through_the_sdk_schema(path):
    entity = load(path)
    assert entity.model == path.stem
    assert entity.model_type == ModelType.TEXT_EMBEDDING
    assert entity.label.en_us and entity.label.zh_hans
    assert set(entity.model_properties) == {ModelPropertyKey.CONTEXT_SIZE, ModelPropertyKey.MAX_CHUNKS}


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_yaml_limits_match_the_tables(path):
    entity = load(path)
    assert entity.model_properties[ModelPropertyKey.CONTEXT_SIZE] == EMBEDDING_LIMITS[entity.model]


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_yaml_max_chunks_is_derived_from_the_line_budget_and_the_request_limit(path):
    entity = load(path)
    declared = entity.model_properties[ModelPropertyKey.MAX_CHUNKS]
    dimensions = DIMENSIONS[entity.model]
    short = known_halves(entity.model)  # GigaChat's models: float16 values, the short form
    assert short
    assert declared == size.max_chunks(dimensions, short)
    # what the derivation means: one request's worth at most, and never more than one answer carries
    assert declared <= MAX_TEXTS_PER_REQUEST
    assert declared * size.vector_bytes(dimensions, short) + size.RESULT_OVERHEAD <= size.LINE_BUDGET
    assert declared == MAX_TEXTS_PER_REQUEST or (declared + 1) * size.vector_bytes(dimensions, short) > size.LINE_BUDGET


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_yaml_has_no_unsourced_pricing(path):
    assert load(path).pricing is None


def test_position_file_lists_exactly_the_yaml_models_once():
    positions = load_yaml_file(str(FOLDER / "_position.yaml"))
    assert isinstance(positions, list)
    assert len(positions) == len(set(positions))
    assert set(positions) == {load(p).model for p in MODEL_FILES}


def test_the_model_source_defines_exactly_one_model_class():
    module = importlib.import_module("models.text_embedding.text_embedding")
    classes = [
        obj for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, AIModel) and not inspect.isabstract(obj)
    ]
    assert [c.__name__ for c in classes] == ["GigaChatTextEmbeddingModel"]
    assert classes[0].model_type == ModelType.TEXT_EMBEDDING


def test_the_plugins_model_tables_agree_with_the_emulators_own_facts():
    """The emulator stands in for GigaChat and keeps its own facts (emulator/catalog.py,
    emulator/embeddings.py): the plugin's tables (config.py) are compared with them, not trusted
    to agree."""
    import struct

    from emulator import catalog
    from emulator import embeddings as served

    assert set(DIMENSIONS) == set(EMBEDDING_LIMITS) == set(catalog.EMBEDDING_MODELS)
    assert DIMENSIONS == catalog.EMBEDDING_DIMENSIONS
    assert EMBEDDING_LIMITS == catalog.EMBEDDING_TOKEN_LIMITS
    assert MAX_TEXTS_PER_REQUEST <= served.MAX_BATCH  # what the plugin sends in one request is accepted
    for model in catalog.EMBEDDING_MODELS:
        vector = served.vector(model, "a text")
        assert len(vector) == DIMENSIONS[model]
        halves = all(struct.unpack("<e", struct.pack("<e", x))[0] == x for x in vector)
        assert halves == known_halves(model), model
    for model in served.FLOAT32_MODELS:  # the emulator's stand-ins for a float32 deployment
        assert not known_halves(model)
