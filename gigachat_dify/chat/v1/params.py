"""Dify model parameters -> GigaChat v1 chat payload fields.

Only parameters GigaChat knows are sent; anything else Dify passes is ignored. The payload is a
plain dict for ``client.chat(payload)`` / ``client.stream(payload)`` of the gigachat SDK.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify import form
from gigachat_dify.chat.json_answers import parse_json_schema_parameter, requested
from gigachat_dify.chat.schema_refs import inline_refs

logger = logging.getLogger(__name__)

__all__ = ["GREEDY_TOP_P", "JSON_OBJECT_INSTRUCTION", "build_chat_payload", "parse_json_schema_parameter"]

#: ``top_p`` sent for temperature <= 0 (see ``_sampling``).
GREEDY_TOP_P = 1e-6
JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object only: no text before or after it and no Markdown code fences."
)
_REASONING_EFFORTS = ("low", "medium", "high")


def _number(value: Any, name: str) -> float | None:
    """A finite number, or None: Dify's SDK has already checked declared parameters' types and
    ranges, so what is left (a caller bypassing the UI) is ignored with a log line, not refused;
    the ranges GigaChat needs are applied where each parameter is read."""
    try:
        return None if form.is_blank(value) else form.number(value, name, 0.0, -math.inf, math.inf)
    except form.FormValueError as exc:
        logger.warning("%s; ignored", exc)
        return None


def _sampling(model_parameters: Mapping[str, Any], payload: dict[str, Any]) -> None:
    temperature = _number(model_parameters.get("temperature"), "temperature")
    top_p = _number(model_parameters.get("top_p"), "top_p")
    if top_p is not None:
        payload["top_p"] = min(max(top_p, 0.0), 1.0)
    if temperature is None:
        return
    if temperature > 0:
        payload["temperature"] = temperature
        return
    # GigaChat rejects temperature <= 0, but 0 in Dify means "deterministic / greedy". A tiny
    # temperature such as 1e-6 divides the logits by 1e-6, which risks overflow (inf/NaN) in
    # half-precision inference. Nucleus sampling with a tiny top_p keeps only the most probable
    # token at every step - greedy decoding - whatever temperature the server then defaults to.
    # So temperature is left out and top_p is set to GREEDY_TOP_P.
    payload["top_p"] = GREEDY_TOP_P


def _with_json_instruction(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system":
        content = out[0].get("content") or ""
        out[0]["content"] = f"{content}\n\n{JSON_OBJECT_INSTRUCTION}" if content else JSON_OBJECT_INSTRUCTION
    else:
        out.insert(0, {"role": "system", "content": JSON_OBJECT_INSTRUCTION})
    return out


def build_chat_payload(
    model: str,
    messages: list[dict[str, Any]],
    model_parameters: Mapping[str, Any] | None,
    functions: list[dict[str, Any]] | None,
    stream: bool,
) -> dict[str, Any]:
    """The GigaChat v1 ``/chat/completions`` payload. ``messages`` is not mutated.

    * ``temperature`` <= 0 -> no temperature and ``top_p`` = ``GREEDY_TOP_P`` (greedy decoding);
    * ``top_p`` clamped to [0, 1]; ``max_tokens`` (>= 1); ``repetition_penalty`` (> 0);
      ``profanity_check`` (bool); ``reasoning_effort`` (low|medium|high);
    * ``response_format="json_schema"`` + ``json_schema`` -> ``{"type": "json_schema", "schema":
      <cleaned>, "strict": true}``; ``"json_object"``/``"json"`` -> an instruction in the system
      message (works on every GigaChat model, unlike an API-side JSON mode);
    * ``functions`` -> ``functions`` + ``function_call: "auto"``.
    """
    params = dict(model_parameters or {})
    payload: dict[str, Any] = {"model": model, "messages": list(messages)}

    _sampling(params, payload)

    max_tokens = _number(params.get("max_tokens"), "max_tokens")
    if max_tokens is not None:
        if max_tokens >= 1:
            payload["max_tokens"] = int(max_tokens)
        else:
            logger.warning("max_tokens=%s is not positive; ignored", max_tokens)

    repetition_penalty = _number(params.get("repetition_penalty"), "repetition_penalty")
    if repetition_penalty is not None:
        if repetition_penalty > 0:
            payload["repetition_penalty"] = repetition_penalty
        else:
            # The API answers 422 "repetition_penalty must be in range (0, +inf)".
            logger.warning("repetition_penalty=%s is not > 0; ignored", repetition_penalty)

    if not form.is_blank(params.get("profanity_check")):
        try:  # THE form parser: an unknown value is an error, never a silent "off"
            payload["profanity_check"] = form.switch(params["profanity_check"], "Profanity filter", False)
        except form.FormValueError as exc:
            raise InvokeBadRequestError(f"{exc} Set the model parameter again.") from None

    effort = params.get("reasoning_effort")
    if isinstance(effort, str) and effort.strip():
        effort = effort.strip().lower()
        if effort in _REASONING_EFFORTS:
            payload["reasoning_effort"] = effort
        elif effort not in ("none", "off", "default"):
            logger.warning("reasoning_effort=%r is not one of low|medium|high; ignored", effort)

    response_format = params.get("response_format")
    response_format = response_format.strip() if isinstance(response_format, str) else response_format
    spec = requested(params)
    if spec is not None:
        try:
            schema = inline_refs(spec.schema)
        except RecursionError:
            raise InvokeBadRequestError(
                "The JSON schema of the structured output is nested too deeply to be sent. Simplify it."
            ) from None
        payload["response_format"] = {"type": "json_schema", "schema": schema, "strict": True}
    elif isinstance(response_format, str) and response_format.lower() in ("json_object", "json"):
        payload["messages"] = _with_json_instruction(payload["messages"])
    elif response_format not in (None, "", "text"):
        logger.warning("response_format=%r is not supported; ignored", response_format)

    if functions:
        payload["functions"] = list(functions)
        payload["function_call"] = "auto"

    payload["stream"] = bool(stream)
    return payload
