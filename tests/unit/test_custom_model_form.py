"""The customizable-model form of an LLM: validation refuses values it cannot use, naming each field
by its label in provider/gigachat.yaml, before any request; the schema of a saved form still builds."""

from __future__ import annotations

import importlib
import logging

import pytest
import yaml
from dify_plugin.entities.model import ModelFeature, ModelPropertyKey
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify import model_form
from gigachat_dify.chat import builtin_tools, catalogue, custom_models
from gigachat_dify.chat.custom_models import check_form, llm_entity

PROVIDER = yaml.safe_load((catalogue.PLUGIN_ROOT / "provider" / "gigachat.yaml").read_text(encoding="utf-8"))
FORM_LABELS = {f["variable"]: f["label"]["en_US"]
               for f in PROVIDER["model_credential_schema"]["credential_form_schemas"] if isinstance(f, dict)}
MODEL = "GigaChat-2-Max:2.0.28.2"
BAD = {"context_size": "65,536", "max_tokens": "16k", "vision_support": "maybe"}


def test_every_label_a_message_names_is_the_fields_label_in_the_model_form():
    named = {"context_size": model_form.CONTEXT_SIZE_LABEL, **custom_models.LABELS,
             **{t.form_field: t.form_label for t in builtin_tools.SWITCHED}}
    assert {key: FORM_LABELS.get(key) for key in named} == named


def test_a_malformed_llm_form_is_refused_naming_each_field_by_its_label():
    with pytest.raises(CredentialsValidateFailedError) as refused:
        check_form(dict(BAD))
    message = str(refused.value)
    assert "Context size (tokens) must be a whole number between 1 and 10000000, got '65,536'." in message
    assert "Maximum output tokens must be a whole number between 1 and 10000000, got '16k'." in message
    assert "Accepts images (vision) must be on or off (true/false), got 'maybe'." in message
    assert "context_size" not in message and "vision_support" not in message


@pytest.mark.parametrize(("field", "value", "label"), [
    ("context_size", "0", "Context size (tokens)"),
    ("max_tokens", "2.5", "Maximum output tokens"),
    ("function_calling", "perhaps", "Function calling (tools)"),
    ("document_support", "maybe", "Accepts documents (pdf, docx, txt...)"),
    ("audio_support", "sometimes", "Accepts audio (mp3, m4a, wav, ogg, opus...)"),
    ("structured_output", "json", "Structured output (JSON schema)"),
    ("web_search_tool", "auto", "Built-in web search (GigaChat API v2)"),
])
def test_each_unusable_llm_field_is_refused_by_its_label(field, value, label):
    with pytest.raises(CredentialsValidateFailedError, match=f"^{label.replace('(', '[(]').replace(')', '[)]')}"):
        check_form({field: value})


@pytest.mark.parametrize("good", [{}, {"context_size": "65536", "max_tokens": "4096", "vision_support": "support",
                                       "function_calling": "no_support", "web_search_tool": "support"},
                                  {"context_size": "", "max_tokens": " ", "vision_support": True}])
def test_a_usable_llm_form_passes_the_check(good):
    check_form(good)


def test_the_schema_of_an_already_saved_bad_form_still_builds_with_the_defaults(caplog):
    custom_models._entity.cache_clear()
    with caplog.at_level(logging.WARNING):
        entity = llm_entity(MODEL, dict(BAD))
    assert entity.model_properties[ModelPropertyKey.CONTEXT_SIZE] == 32768
    assert {r.name: r.max for r in entity.parameter_rules}["max_tokens"] == 8192
    assert ModelFeature.VISION not in entity.features
    assert "Maximum output tokens must be" in caplog.text


def test_llm_validation_refuses_the_form_before_any_request(monkeypatch):
    from gigachat_dify.connection import validation

    monkeypatch.setattr(validation, "validate_model", lambda *a: pytest.fail("a request was made"))
    llm = importlib.import_module("models.llm.llm").GigaChatLargeLanguageModel([])
    with pytest.raises(CredentialsValidateFailedError, match=r"^Context size \(tokens\) must be"):
        llm.validate_credentials(MODEL, {"authorization_key": "a-key", **BAD})


def test_an_output_limit_larger_than_the_context_is_refused_naming_both_fields():
    with pytest.raises(CredentialsValidateFailedError) as refused:
        check_form({"context_size": "4096", "max_tokens": "8192"})
    assert str(refused.value).startswith(
        "Maximum output tokens (8,192) is larger than Context size (tokens) (4,096): lower it")


def test_a_blank_output_limit_follows_a_context_smaller_than_its_default():
    check_form({"context_size": "4096"})
    custom_models._entity.cache_clear()
    entity = llm_entity(MODEL, {"context_size": "4096"})
    assert {r.name: r.max for r in entity.parameter_rules}["max_tokens"] == 4096


def test_a_saved_form_whose_output_limit_exceeds_its_context_lists_the_model_with_the_context_as_limit(caplog):
    custom_models._entity.cache_clear()
    with caplog.at_level(logging.WARNING):
        entity = llm_entity(MODEL, {"context_size": "4096", "max_tokens": "100000"})
    rules = {r.name: r for r in entity.parameter_rules}
    assert rules["max_tokens"].max == 4096 and rules["max_tokens"].default <= 4096
    assert "is larger than Context size (tokens)" in caplog.text
