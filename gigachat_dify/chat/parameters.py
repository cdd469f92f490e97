"""Dify model parameters -> what they mean for GigaChat, whatever the contract (THE meaning of each).

``read`` decides every rule once (greedy decoding for temperature 0, ranges, the JSON schema,
reasoning effort, the tool ranker); each contract lays the result out in its own fields
(``chat/v1/params.py``: top-level fields; ``chat/v2/params.py``: ``model_options``...). Only
parameters GigaChat knows are read; anything else Dify passes is ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify import form
from gigachat_dify.chat.json_answers import requested
from gigachat_dify.chat.schema_refs import inline_refs

logger = logging.getLogger(__name__)

__all__ = ["GREEDY_TOP_P", "JSON_OBJECT_INSTRUCTION", "RANKER_LABEL", "RANKER_TOP_N_LABEL", "Generation", "read"]

#: ``top_p`` sent for temperature <= 0 (see ``_sampling``).
GREEDY_TOP_P = 1e-6
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object only: no text before or after it and no Markdown code fences."
)
REASONING_EFFORTS = ("low", "medium", "high")
#: The tool ranker's parameters (model YAMLs, on the models with tools) and their labels.
RANKER = "tool_ranking"
RANKER_TOP_N = "tool_ranking_top_n"
RANKER_LABEL = "Tool ranking"
RANKER_TOP_N_LABEL = "Tools kept by ranking"
RANKER_DEFAULT_TOP_N = 5
RANKER_MAX_TOP_N = 100


@dataclass(frozen=True)
class Generation:
    """One request's generation settings, contract-neutral. None: not sent (GigaChat's default)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    repetition_penalty: float | None = None
    profanity_check: bool | None = None
    reasoning_effort: str | None = None
    #: ``response_format`` json_schema: the schema with its $refs inlined, sent strict.
    schema: dict[str, Any] | None = None
    #: A JSON object without a schema: an instruction in the system message (works on every
    #: model, unlike an API-side JSON mode).
    instruction: str | None = None
    #: GigaChat's tool ranker: send the model only this many of the most relevant functions.
    ranker_top_n: int | None = None


def _number(value: Any, name: str) -> float | None:
    """A finite number, or None: Dify's SDK has already checked declared parameters' types and
    ranges, so what is left (a caller bypassing the UI) is ignored with a log line, not refused;
    the ranges GigaChat needs are applied where each parameter is read."""
    try:
        return None if form.is_blank(value) else form.number(value, name, 0.0, -math.inf, math.inf)
    except form.FormValueError as exc:
        logger.warning("%s; ignored", exc)
        return None


def _sampling(params: Mapping[str, Any]) -> tuple[float | None, float | None]:
    temperature = _number(params.get("temperature"), "temperature")
    top_p = _number(params.get("top_p"), "top_p")
    if top_p is not None:
        top_p = min(max(top_p, 0.0), 1.0)
    if temperature is None or temperature > 0:
        return temperature, top_p
    # GigaChat rejects temperature <= 0, but 0 in Dify means "deterministic / greedy". A tiny
    # temperature such as 1e-6 divides the logits by 1e-6, which risks overflow (inf/NaN) in
    # half-precision inference. Nucleus sampling with a tiny top_p keeps only the most probable
    # token at every step - greedy decoding - whatever temperature the server then defaults to.
    # So temperature is left out and top_p is set to GREEDY_TOP_P.
    return None, GREEDY_TOP_P


def _max_tokens(params: Mapping[str, Any]) -> int | None:
    value = _number(params.get("max_tokens"), "max_tokens")
    if value is not None and value < 1:
        logger.warning("max_tokens=%s is not positive; ignored", value)
        return None
    return None if value is None else int(value)


def _repetition_penalty(params: Mapping[str, Any]) -> float | None:
    value = _number(params.get("repetition_penalty"), "repetition_penalty")
    if value is not None and value <= 0:
        # The API answers 422 "repetition_penalty must be in range (0, +inf)".
        logger.warning("repetition_penalty=%s is not > 0; ignored", value)
        return None
    return value


def _profanity_check(params: Mapping[str, Any]) -> bool | None:
    if form.is_blank(params.get("profanity_check")):
        return None
    try:  # THE form parser: an unknown value is an error, never a silent "off"
        return form.switch(params["profanity_check"], "Profanity filter", False)
    except form.FormValueError as exc:
        raise InvokeBadRequestError(f"{exc} Set the model parameter again.") from None


def _reasoning_effort(params: Mapping[str, Any]) -> str | None:
    effort = params.get("reasoning_effort")
    if not isinstance(effort, str) or not effort.strip():
        return None
    effort = effort.strip().lower()
    if effort in REASONING_EFFORTS:
        return effort
    if effort not in ("none", "off", "default"):
        logger.warning("reasoning_effort=%r is not one of low|medium|high; ignored", effort)
    return None


def _format(params: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    response_format = params.get("response_format")
    response_format = response_format.strip() if isinstance(response_format, str) else response_format
    spec = requested(params)
    if spec is not None:
        try:
            return inline_refs(spec.schema), None
        except RecursionError:
            raise InvokeBadRequestError(
                "The JSON schema of the structured output is nested too deeply to be sent. Simplify it."
            ) from None
    if isinstance(response_format, str) and response_format.lower() in ("json_object", "json"):
        return None, JSON_OBJECT_INSTRUCTION
    if response_format not in (None, "", "text"):
        logger.warning("response_format=%r is not supported; ignored", response_format)
    return None, None


def _ranker(params: Mapping[str, Any]) -> int | None:
    try:
        if not form.switch(params.get(RANKER), f"'{RANKER_LABEL}'", False):
            return None
        return form.whole_number(params.get(RANKER_TOP_N), f"'{RANKER_TOP_N_LABEL}'", RANKER_DEFAULT_TOP_N,
                                 1, RANKER_MAX_TOP_N)
    except form.FormValueError as exc:
        raise InvokeBadRequestError(f"{exc} Fix the model parameter.") from None


def read(model_parameters: Mapping[str, Any] | None) -> Generation:
    """The generation settings of Dify's ``model_parameters`` (see the module docstring):

    * ``temperature`` <= 0 -> no temperature and ``top_p`` = ``GREEDY_TOP_P`` (greedy decoding);
    * ``top_p`` clamped to [0, 1]; ``max_tokens`` (>= 1); ``repetition_penalty`` (> 0);
      ``profanity_check`` (bool); ``reasoning_effort`` (low|medium|high);
    * ``response_format="json_schema"`` + ``json_schema`` -> the schema (refs inlined);
      ``"json_object"``/``"json"`` -> the instruction for the system message;
    * ``tool_ranking`` on -> the ranker with ``tool_ranking_top_n`` functions.
    """
    params = model_parameters or {}
    temperature, top_p = _sampling(params)
    schema, instruction = _format(params)
    return Generation(temperature, top_p, _max_tokens(params), _repetition_penalty(params), _profanity_check(params),
                      _reasoning_effort(params), schema, instruction, _ranker(params))
