"""The predefined chat models as their YAMLs (``models/llm/*.yaml``) declare them, read once.

What a model takes (files, structured output...) is decided from these declarations only, never
from model names typed into code. The files this module and ``custom_models.py`` depend on are
named here, once, and checked by tests/unit/test_builtin_tools.py: the folder is the one the
provider YAML (``models.llm``) tells Dify to read, and the template has the rules it lends.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

#: The plugin's directory (what Dify runs ``python -m main`` in): gigachat_dify/chat/ is two below.
PLUGIN_ROOT = Path(__file__).resolve().parents[2]
#: Where provider/gigachat.yaml's ``models.llm`` points Dify for the predefined chat models.
LLM_DIR = PLUGIN_ROOT / "models" / "llm"
#: The predefined model whose parameter rules customizable chat models offer (the generation
#: parameters, structured output, the tool ranker); built-in tool switches come from
#: ``builtin_tools.py`` instead.
PARAMETER_TEMPLATE = "GigaChat-2"


@lru_cache(maxsize=None)
def model_yaml(model: str) -> dict:
    """A predefined chat model's YAML, by model name."""
    with open(LLM_DIR / f"{model}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=1)
def predefined() -> tuple[dict, ...]:
    """Every predefined chat model's YAML, in the order of ``_position.yaml``."""
    with open(LLM_DIR / "_position.yaml", encoding="utf-8") as fh:
        order = yaml.safe_load(fh) or []
    return tuple(model_yaml(name) for name in order if (LLM_DIR / f"{name}.yaml").exists())


def models_with(feature: str) -> list[str]:
    """Names of the predefined models that declare ``feature`` (e.g. "vision", "document")."""
    return [m["model"] for m in predefined() if feature in (m.get("features") or [])]


def template_rules() -> tuple[dict, ...]:
    """The parameter rules customizable chat models start from (``PARAMETER_TEMPLATE``'s)."""
    return tuple(model_yaml(PARAMETER_TEMPLATE)["parameter_rules"])
