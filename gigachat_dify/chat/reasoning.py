"""Reasoning effort: when GigaChat refuses it, say which setting to switch off.

GigaChat documents ``reasoning_effort`` (low|medium|high) with GigaChat-2-Max at api.giga.chat and
it is recorded with GigaChat-3-Ultra; whether a host and account offer it for a model is only
known from its answer. A refusal (400/422 on a request that asked for reasoning) becomes an
``InvokeBadRequestError`` naming the 'Reasoning effort' parameter; the wording of a real refusal
is unverified, so one that does not mention reasoning gets the hint appended to GigaChat's own
message instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gigachat.exceptions as gx
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.errors import api_message, to_invoke_error

SETTING = "Reasoning effort"


def asked(model_parameters: Mapping[str, Any]) -> bool:
    effort = model_parameters.get("reasoning_effort")
    return isinstance(effort, str) and effort.strip().lower() in ("low", "medium", "high")


def refusal(exc: BaseException, model_parameters: Mapping[str, Any]) -> InvokeBadRequestError | None:
    """The error for GigaChat refusing a request that asked for reasoning; None for anything else."""
    if not asked(model_parameters) or not isinstance(exc, (gx.BadRequestError, gx.UnprocessableEntityError)):
        return None
    message = api_message(exc)
    if "reasoning" in message.lower():
        return InvokeBadRequestError(
            f"GigaChat does not offer reasoning for this model on this host and account ({exc.status_code}: "
            f"{message}). Clear the '{SETTING}' parameter of the model (leave it empty) and retry; reasoning "
            "is offered on api.giga.chat to business accounts."
        )
    base = to_invoke_error(exc)
    return InvokeBadRequestError(
        f"{base.description or base} If this model or host does not offer reasoning, clear the '{SETTING}' parameter."
    )
