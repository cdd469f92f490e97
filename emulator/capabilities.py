"""What this emulated host and account offer: features can be refused per model, as a real host does.

GigaChat's structured output, reasoning and built-in tools depend on the host (gigachat.devices...
or api.giga.chat), the account and the model, not on the model name alone. One emulator instance
plays one host; ``Emulator.refuse`` takes a feature away (for one model or all), so the plugin's
fallbacks and its "switch this off" messages are testable. The status and wording of a refusal
are unverified (no recording shows one): 422 "Invalid params: ..." is the API's usual answer to a
request it cannot serve.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from emulator.errors import ApiError

#: Feature names the endpoints ask about.
FEATURES = (
    "json_schema",  # response_format json_schema (v1 and v2)
    "reasoning",  # reasoning_effort (v1) / model_options.reasoning (v2)
    "web_search",
    "image_generate",
    "code_interpreter",
    "url_content_extraction",
    "model_3d_generate",
    "text2image",  # v1 built-in function (function_call "auto" without functions)
    "audio",  # audio attachments
)

_DEFAULT_MESSAGES = {
    "json_schema": "Invalid params: response_format json_schema is not supported for model {model}",
    "reasoning": "Invalid params: reasoning is not supported for model {model}",
    "audio": "Invalid params: audio files are not supported for model {model}",
}


@dataclass(frozen=True)
class Refusal:
    feature: str
    model: str | None  # None: every model
    status: int
    message: str | None


class Capabilities:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refusals: list[Refusal] = []

    def refuse(self, feature: str, model: str | None = None, status: int = 422, message: str | None = None) -> None:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; known: {', '.join(FEATURES)}")
        with self._lock:
            self._refusals.append(Refusal(feature, model, status, message))

    def clear(self) -> None:
        with self._lock:
            self._refusals.clear()

    def check(self, feature: str, model: str) -> None:
        """Raise the refusal's ApiError when this host does not offer `feature` for `model`."""
        with self._lock:
            rule = next((r for r in self._refusals if r.feature == feature and r.model in (None, model)), None)
        if rule is not None:
            template = rule.message or _DEFAULT_MESSAGES.get(feature, "Invalid params: tool {feature} is not available")
            raise ApiError(rule.status, template.format(model=model, feature=feature))
