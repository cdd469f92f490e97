"""Customizable LLMs (any model name the account has): their schema built from the model credential form.

Parameter rules are those of the predefined template model (``catalogue.PARAMETER_TEMPLATE``), so
predefined and custom models offer the same parameters; features come from the form's switches;
each built-in tool's switch is offered when its form field (``builtin_tools.py``) is on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import AIModelEntity, FetchFrom, ModelFeature, ModelPropertyKey, ModelType, ParameterRule

from gigachat_dify import form, model_form
from gigachat_dify.chat import builtin_tools
from gigachat_dify.chat.catalogue import template_rules
from gigachat_dify.chat.parameters import RANKER, RANKER_TOP_N

logger = logging.getLogger(__name__)

_STRUCTURED_RULES = ("response_format", "json_schema")
#: Rules that only mean something with Dify tools (the function ranker).
_TOOL_RULES = (RANKER, RANKER_TOP_N)

#: The LLM fields' labels (en_US) in provider/gigachat.yaml's model form, so a message names what to fix.
LABELS = {
    "max_tokens": "Maximum output tokens",
    "function_calling": "Function calling (tools)",
    "vision_support": "Accepts images (vision)",
    "document_support": "Accepts documents (pdf, docx, txt...)",
    "audio_support": "Accepts audio (mp3, m4a, wav, ogg, opus...)",
    "structured_output": "Structured output (JSON schema)",
}
MAX_TOKENS = 10_000_000  # what the form accepts as a context size or output limit
DEFAULT_CONTEXT, DEFAULT_MAX_OUT = 32768, 8192  # the form's placeholder and default


@dataclass(frozen=True)
class ModelForm:
    """What a customizable model's schema is built from: the model credential form's values, read.
    No secret is among them, so it can key the schema cache."""

    context: int
    max_out: int
    tools: bool
    vision: bool
    document: bool
    audio: bool
    structured: bool
    builtin_tools: tuple[str, ...]  # form fields of the built-in tools switched on


def read_form(credentials: dict, strict: bool = False) -> ModelForm:
    """The form's values. Strict (validation): every unusable value, by its field's label, in one
    form.FormValueError. Otherwise (Dify building the schema to list the model) each falls back to
    its field's default, logged: a saved form must not hide the model."""
    problems = model_form.Problems()
    read = problems.read

    def on(key: str, default: bool = False, label: str | None = None) -> bool:
        return read(lambda: form.switch(credentials.get(key), label or LABELS[key], default), default)

    context = read(lambda: model_form.context_size(credentials, DEFAULT_CONTEXT, MAX_TOKENS), DEFAULT_CONTEXT)
    default_out = min(DEFAULT_MAX_OUT, context)  # a blank field follows a small context
    max_out = read(lambda: form.whole_number(credentials.get("max_tokens"), LABELS["max_tokens"], default_out,
                                             1, MAX_TOKENS), default_out)
    if max_out > context:  # no answer is longer than the context it is written in
        problems.add(f"{LABELS['max_tokens']} ({max_out:,}) is larger than {model_form.CONTEXT_SIZE_LABEL} "
                     f"({context:,}): lower it, or raise the context size if the model has more.")
        max_out = context
    read_out = ModelForm(
        context=context,
        max_out=max_out,
        tools=on("function_calling", True),
        vision=on("vision_support"),
        document=on("document_support"),
        audio=on("audio_support"),
        # Structured output works on any chat model (natively or by the plugin's fallback): on unless
        # the form switches it off; its rules are offered only with the feature.
        structured=on("structured_output", True),
        builtin_tools=tuple(t.form_field for t in builtin_tools.SWITCHED if on(t.form_field, label=t.form_label)),
    )
    if strict:
        problems.raise_any()
    for problem in problems.found:
        logger.warning("customizable model: %s The field's default is used until the form is corrected.", problem)
    return read_out


def check_form(credentials: dict) -> None:
    """The model form's LLM values are usable (CredentialsValidateFailedError naming each field otherwise)."""
    model_form.check(lambda: read_form(credentials, strict=True))


def llm_entity(model: str, credentials: dict) -> AIModelEntity:
    """The schema of a customizable chat model. Dify asks for it several times per request (the
    parameters' check, the invocation, the price of each side), so it is built once per model and
    form, and each caller gets its own copy of the rules (dify_plugin fills template values in them)."""
    entity = _entity(model, read_form(credentials))
    return entity.model_copy(update={"parameter_rules": [r.model_copy() for r in entity.parameter_rules]})


@lru_cache(maxsize=256)  # a model name and form per customizable model a workspace has added
def _entity(model: str, f: ModelForm) -> AIModelEntity:
    features = []
    if f.tools:
        features += [ModelFeature.TOOL_CALL, ModelFeature.STREAM_TOOL_CALL, ModelFeature.AGENT_THOUGHT]
    if f.vision:
        features.append(ModelFeature.VISION)
    if f.document:
        features.append(ModelFeature.DOCUMENT)
    if f.audio:
        features.append(ModelFeature.AUDIO)
    rules = [dict(r) for r in template_rules()
             if (f.structured or r["name"] not in _STRUCTURED_RULES) and (f.tools or r["name"] not in _TOOL_RULES)]
    if f.structured:
        features.append(ModelFeature.STRUCTURED_OUTPUT)
    rules += [t.parameter_rule() for t in builtin_tools.SWITCHED if t.form_field in f.builtin_tools]
    for rule in rules:
        if rule["name"] == "max_tokens":
            rule["max"] = f.max_out
            rule["default"] = min(rule.get("default", 2048), f.max_out)
    return AIModelEntity(
        model=model,
        label=I18nObject(en_US=model, zh_Hans=model),
        model_type=ModelType.LLM,
        fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
        features=features,
        model_properties={ModelPropertyKey.MODE: "chat", ModelPropertyKey.CONTEXT_SIZE: f.context},
        parameter_rules=[ParameterRule(**r) for r in rules],
    )
