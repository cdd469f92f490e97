"""Models as Dify sees them through the protocol: predefined schemas and customizable models."""

import base64
import hashlib

import pytest

from tests.e2e.test_llm_features import png
from tests.support.daemon import collect_text, image_part, text_part, user


@pytest.mark.parametrize("model", ["GigaChat-2", "GigaChat-2-Pro", "GigaChat-2-Max", "GigaChat-3-Ultra"])
def test_predefined_model_schema_has_filled_parameter_templates(plugin, credentials, model):
    result = plugin.model_schema(model, "llm", credentials)
    assert result.ok, result.error
    schema = result.chunks[-1]["model_schema"]
    assert schema["model"] == model
    rules = {r["name"]: r for r in schema["parameter_rules"]}
    assert rules["temperature"]["label"]["en_US"]  # template resolved by the SDK
    assert rules["max_tokens"]["max"] == 32768


def test_custom_preview_model_with_vision_takes_images(plugin, credentials, emulator):
    custom = dict(credentials, context_size="65536", max_tokens="4096", vision_support="support")
    schema = plugin.model_schema("GigaChat-2-Max-preview", "llm", custom).chunks[-1]["model_schema"]
    assert "vision" in schema["features"] and schema["model_properties"]["context_size"] == 65536
    assert plugin.validate_model("GigaChat-2-Max-preview", "llm", custom).ok
    image = png(6, 6)
    msg = user([text_part("what is it"), image_part(base64.b64encode(image).decode())])
    result = plugin.invoke_llm("GigaChat-2-Max-preview", custom, [msg], stream=True)
    assert result.ok, result.error
    assert hashlib.sha256(image).hexdigest() in collect_text(result)


def test_custom_model_without_vision_refuses_images(plugin, credentials):
    custom = dict(credentials, context_size="32768", max_tokens="4096")
    msg = user([text_part("what is it"), image_part(base64.b64encode(png(2, 2)).decode())])
    result = plugin.invoke_llm("GigaChat-2-preview", custom, [msg], stream=False)
    assert result.error_type == "InvokeBadRequestError"


def test_custom_model_the_account_lacks_fails_validation_clearly(plugin, credentials):
    result = plugin.validate_model("GigaChat-Imaginary", "llm", dict(credentials, context_size="32768"))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "No such model" in result.error_message


@pytest.mark.parametrize(("model", "model_type"), [(" GigaChat-2-Max ", "llm"), (" Embeddings ", "text-embedding")])
def test_a_model_name_with_spaces_around_it_is_refused_at_validation(plugin, credentials, emulator, model, model_type):
    # The model list was compared stripped, so validation passed; every invocation then got 404 No such model.
    emulator.stats.reset()
    result = plugin.validate_model(model, model_type, credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert result.error_message.startswith(f"The model name '{model}' has spaces around it: remove them"), \
        result.error_message
    assert not emulator.stats.requests


# --- validation of customizable models: the free model list, a paid call only when it must -------

PAID = ("POST /chat/completions", "POST /embeddings", "POST /tokens/count")


def paid_requests(emulator) -> dict:
    return {key: n for key, n in emulator.stats.requests.items() if key in PAID or key.startswith("POST /v2")}


@pytest.mark.parametrize(("model", "model_type"), [
    ("GigaChat-2-Max-preview", "llm"),
    ("GigaChat-Pro", "llm"),
    ("EmbeddingsGigaR", "text-embedding"),
    ("Embeddings-2", "text-embedding"),
])
def test_a_listed_custom_model_is_validated_without_any_paid_request(plugin, credentials, emulator, model, model_type):
    result = plugin.validate_model(model, model_type, dict(credentials, context_size="4096"))
    assert result.ok, result.error
    assert emulator.stats.requests["GET /models"] == 1
    assert paid_requests(emulator) == {}


@pytest.mark.parametrize(("model", "model_type", "advice"), [
    ("Embeddings", "llm", "'Embeddings' is an embedding model in GigaChat's model list, not a chat model: "
                          "add it as a Text Embedding model"),
    ("GigaChat-2", "text-embedding", "'GigaChat-2' is a chat model in GigaChat's model list, not an embedding "
                                     "model: add it as an LLM"),
])
def test_a_model_added_as_the_wrong_kind_is_refused_without_any_paid_request(
    plugin, credentials, emulator, model, model_type, advice
):
    result = plugin.validate_model(model, model_type, credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    assert advice in result.error_message
    assert paid_requests(emulator) == {}


def test_a_model_the_account_lacks_gets_the_names_it_has_closest_first(plugin, credentials, emulator):
    result = plugin.validate_model("GigaChat-2-Maxx", "llm", credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    message = result.error_message
    assert "does not name 'GigaChat-2-Maxx', and one minimal paid test request failed" in message
    offered = message.split("Chat models this account has, closest first: ")[1].rstrip(".").split(", ")
    assert offered[0] == "GigaChat-2-Max"
    assert "Embeddings" not in offered and "GigaFilter" not in offered  # only chat models
    assert paid_requests(emulator) == {"POST /chat/completions": 1}  # exactly the one minimal call
    (probe,) = [e for e in emulator.log if e.path == "/chat/completions"]
    assert probe.json["max_tokens"] == 1


def test_an_embedding_model_the_account_lacks_gets_embedding_names(plugin, credentials, emulator):
    result = plugin.validate_model("EmbeddingsGigaRR", "text-embedding", credentials)
    assert result.error_type == "CredentialsValidateFailedError"
    offered = result.error_message.split("Embedding models this account has, closest first: ")[1]
    assert offered.startswith("EmbeddingsGigaR, ") and "GigaChat" not in offered
    assert paid_requests(emulator) == {"POST /embeddings": 1}


@pytest.mark.parametrize(("model", "model_type", "paid"), [
    ("GigaChat-2-Pro-preview", "llm", "POST /chat/completions"),
    ("Embeddings-2", "text-embedding", "POST /embeddings"),
])
def test_a_model_the_list_does_not_name_is_checked_with_one_minimal_paid_request(
    plugin, credentials, emulator, monkeypatch, model, model_type, paid
):
    from emulator import catalog

    full = catalog.models_list()
    monkeypatch.setattr(catalog, "models_list",
                        lambda: {**full, "data": [m for m in full["data"] if m["id"] != model]})
    result = plugin.validate_model(model, model_type, credentials)
    assert result.ok, result.error
    assert paid_requests(emulator) == {paid: 1}


def test_a_malformed_customizable_llm_form_is_refused_by_its_labels_before_any_request(plugin, credentials, emulator):
    bad = dict(credentials, context_size="65,536", max_tokens="16k", vision_support="maybe")
    result = plugin.validate_model("GigaChat-2-Max:2.0.28.2", "llm", bad)
    assert result.error_type == "CredentialsValidateFailedError"
    for label in ("Context size (tokens)", "Maximum output tokens", "Accepts images (vision)"):
        assert f"{label} must be" in result.error_message
    assert dict(emulator.stats.requests) == {} and emulator.stats.oauth_calls == 0
    # the saved form still lists the model, with the defaults
    schema = plugin.model_schema("GigaChat-2-Max:2.0.28.2", "llm", bad).chunks[-1]["model_schema"]
    assert schema["model_properties"]["context_size"] == 32768
