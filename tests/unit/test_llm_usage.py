"""The usage of an answer: the LLM class skips dify_plugin's two price lookups for a model without
prices, and gives exactly what dify_plugin's own calculation gives (latency aside)."""

from __future__ import annotations

import decimal
import importlib
from pathlib import Path

import pytest
from dify_plugin.core.utils.yaml_loader import load_yaml_file
from dify_plugin.entities.model import AIModelEntity, PriceConfig
from dify_plugin.interfaces.model.large_language_model import LargeLanguageModel

FOLDER = Path(__file__).resolve().parents[2] / "models" / "llm"
MODELS = sorted(p.stem for p in FOLDER.glob("*.yaml") if p.name != "_position.yaml")
CUSTOM_FORM = {"authorization_key": "a-key-of-the-workspace", "context_size": "65536", "max_tokens": "4096"}


def llm_class():
    module = importlib.import_module("models.llm.llm")
    return module.GigaChatLargeLanguageModel(
        [AIModelEntity(**load_yaml_file(str(FOLDER / f"{name}.yaml"))) for name in MODELS])


def both(llm, model: str, credentials: dict, prompt: int, completion: int):
    with llm.timing_context():
        ours = llm._calc_response_usage(model, credentials, prompt, completion)
        difys = LargeLanguageModel._calc_response_usage(llm, model, credentials, prompt, completion)
    return (ours.model_dump(mode="json", exclude={"latency"}), difys.model_dump(mode="json", exclude={"latency"}),
            ours.latency)


@pytest.mark.parametrize("model", [*MODELS, "GigaChat-2-Max-preview"])
@pytest.mark.parametrize("tokens", [(0, 0), (17, 5), (120_000, 32_768)])
def test_an_unpriced_models_usage_is_dify_plugins_own(model, tokens):
    llm = llm_class()
    ours, difys, latency = both(llm, model, dict(CUSTOM_FORM), *tokens)
    assert ours == difys
    assert ours["total_tokens"] == sum(tokens)
    assert latency >= 0


def test_a_model_with_prices_is_priced_by_dify_plugin():
    llm = llm_class()
    priced = llm.model_schemas[0].model_copy(update={"pricing": PriceConfig(
        input=decimal.Decimal("0.5"), output=decimal.Decimal("1.5"), unit=decimal.Decimal("0.001"), currency="RUB")})
    llm.model_schemas = [priced, *llm.model_schemas[1:]]
    ours, difys, _ = both(llm, priced.model, {}, 1000, 2000)
    assert ours == difys
    assert ours["currency"] == "RUB" and decimal.Decimal(ours["total_price"]) == decimal.Decimal("3.5")
