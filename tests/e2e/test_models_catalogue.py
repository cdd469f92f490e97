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
