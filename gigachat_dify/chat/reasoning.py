"""Reasoning effort: whether a request asks for it, and the setting's label messages name.

GigaChat documents ``reasoning_effort`` (low|medium|high) with GigaChat-2-Max at api.giga.chat and
it is recorded with GigaChat-3-Ultra; whether a host and account offer it for a model is only
known from its answer. Its refusal is recognised by THE refusal classifier
(``failures.refusal``, told from a refused schema or tool) and worded by the error table, which
names this setting to clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The model parameter's label as Dify shows it (models/llm/*.yaml, reasoning_effort).
SETTING = "Reasoning effort"


def asked(model_parameters: Mapping[str, Any]) -> bool:
    effort = model_parameters.get("reasoning_effort")
    return isinstance(effort, str) and effort.strip().lower() in ("low", "medium", "high")
