"""The predefined chat models as their YAMLs (``models/llm/*.yaml``) declare them, read once.

What a model takes (files, structured output...) is decided from these declarations only, never
from model names typed into code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LLM_DIR = Path(__file__).resolve().parents[2] / "models" / "llm"


@lru_cache(maxsize=None)
def model_yaml(filename: str) -> dict:
    with open(LLM_DIR / filename, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=1)
def predefined() -> tuple[dict, ...]:
    """Every predefined chat model's YAML, in the order of ``_position.yaml``."""
    with open(LLM_DIR / "_position.yaml", encoding="utf-8") as fh:
        order = yaml.safe_load(fh) or []
    return tuple(model_yaml(f"{name}.yaml") for name in order if (LLM_DIR / f"{name}.yaml").exists())


def models_with(feature: str) -> list[str]:
    """Names of the predefined models that declare ``feature`` (e.g. "vision", "document")."""
    return [m["model"] for m in predefined() if feature in (m.get("features") or [])]
