"""What a structured answer must be: Dify's ``json_schema`` parameter read, the plugin's own
instruction for models that cannot be given the schema natively, and the check of an answer.

Pure: no network, no Dify model classes. ``chat/structured.py`` runs the strategy with these.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dify_plugin.entities.model.message import AssistantPromptMessage, SystemPromptMessage, UserPromptMessage
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.chat.json_values import coerce

logger = logging.getLogger(__name__)

__all__ = ["Spec", "Verdict", "check", "parse_json_schema_parameter", "requested"]

#: The longest schema problem quoted back to the model or to the user.
_PROBLEM_CHARS = 300
#: Positions in an answer where a JSON value is looked for (text around the JSON, several values).
_MAX_CANDIDATES = 64
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)

INSTRUCTION = (
    "Answer with one JSON value that is valid against the JSON Schema below and nothing else: no text "
    "before or after it, no Markdown code fences, no comments. Use exactly the property names of the "
    "schema, include every required property, and give every value the type the schema declares.\n"
    "JSON Schema:\n{schema}"
)
REPAIR = (
    "Your previous answer does not match the JSON Schema: {problem}. Answer again with only the corrected "
    "JSON value."
)


def _invalid(message: str) -> InvokeBadRequestError:
    return InvokeBadRequestError(f"{message} Fix the JSON Schema of the structured output.")


def parse_json_schema_parameter(raw: Any) -> dict[str, Any]:
    """The schema inside Dify's ``json_schema`` parameter.

    Accepts a JSON string or a dict, either ``{"name": ..., "schema": {...}}`` (what Dify's LLM node
    sends), the OpenAI shape ``{"json_schema": {"schema": ...}}``, or the bare schema. A boolean
    schema is JSON Schema's shorthand: ``true`` accepts any JSON (``{}``), ``false`` none (refused)."""
    value = raw
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise _invalid(f"The json_schema parameter is not valid JSON ({e.msg} at line {e.lineno}, "
                           f"column {e.colno}).") from e
        except RecursionError:
            raise _invalid("The json_schema parameter is nested too deeply to be read.") from None
    if value is True:
        return {}
    if value is False:
        raise _invalid("The JSON Schema of the structured output is `false`: no answer can match it.")
    if not isinstance(value, Mapping):
        raise _invalid('The json_schema parameter must be a JSON object (a JSON Schema, or {"name": ..., "schema": {...}}).')
    if isinstance(value.get("json_schema"), Mapping):
        value = value["json_schema"]
    if "schema" in value:  # the wrapper: its "schema" is the schema, whatever its type
        inner = value["schema"]
        return dict(inner) if isinstance(inner, Mapping) else parse_json_schema_parameter(inner)
    return dict(value)


@dataclass(frozen=True)
class Spec:
    """A request's structured output: the schema as Dify sent it (its booleans already strings)."""

    schema: dict[str, Any]

    def instruction(self) -> str:
        return INSTRUCTION.format(schema=json.dumps(self.schema, ensure_ascii=False))

    def instructed(self, prompt_messages: Sequence) -> list:
        """The conversation with the plugin's instruction as a system message: the converters merge
        system messages into the one GigaChat takes, so it follows the user's own instructions."""
        return [*prompt_messages, SystemPromptMessage(content=self.instruction())]

    @staticmethod
    def repaired(prompt_messages: Sequence, answer: str, problem: str) -> list:
        """The conversation, the answer that did not match, and what was wrong with it."""
        return [*prompt_messages, AssistantPromptMessage(content=answer),
                UserPromptMessage(content=REPAIR.format(problem=problem))]

    @staticmethod
    def without_schema(model_parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters without native structured output (the fallback's own call)."""
        return {k: v for k, v in model_parameters.items() if k not in ("response_format", "json_schema")}


def requested(model_parameters: Mapping[str, Any]) -> Spec | None:
    """The structured output a request asks for, or None.

    ``response_format="json_schema"`` with a ``json_schema`` parameter (Dify's LLM node), or a
    ``json_schema`` parameter without any response format."""
    response_format = model_parameters.get("response_format")
    response_format = response_format.strip() if isinstance(response_format, str) else response_format
    raw = model_parameters.get("json_schema")
    has_schema = raw not in (None, "", {})
    if not (response_format == "json_schema" or (has_schema and response_format in (None, ""))):
        return None
    if not has_schema:
        raise InvokeBadRequestError(
            "response_format is json_schema but no JSON schema was given: fill in the JSON Schema "
            "(structured output) or choose another response format."
        )
    return Spec(parse_json_schema_parameter(raw))


@dataclass(frozen=True)
class Verdict:
    """An answer checked: ``value`` (converted to the declared types) and ``problem`` (None: valid)."""

    value: Any
    problem: str | None
    found_json: bool

    @property
    def ok(self) -> bool:
        return self.problem is None

    def text(self) -> str:
        return json.dumps(self.value, ensure_ascii=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _candidates(text: str):
    """JSON values in an answer: the whole text, fenced blocks, then values starting at each { or [."""
    stripped = text.strip()
    blocks = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(stripped))]
    for block in blocks:
        try:
            value, end = _DECODER.raw_decode(block)
        except (ValueError, RecursionError):
            continue
        if not block[end:].strip():
            yield value
    for i, m in enumerate(re.finditer(r"[\[{]", stripped)):
        if i >= _MAX_CANDIDATES:
            return
        try:
            yield _DECODER.raw_decode(stripped, m.start())[0]
        except (ValueError, RecursionError):
            continue


def schema_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    """Why ``value`` does not match ``schema`` ("at $.n: 'x' is not of type 'integer'"), or None."""
    from jsonschema import exceptions, validators  # local: the import costs ~50 ms at start-up

    try:
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        error = exceptions.best_match(cls(schema).iter_errors(value))
    except Exception as exc:  # an arbitrary user schema: unresolvable $ref, bad keyword values...
        logger.warning("the structured output schema cannot be checked (%s); the answer is taken as it is",
                       type(exc).__name__)
        return None
    if error is None:
        return None
    return f"at {error.json_path}: {error.message}"[:_PROBLEM_CHARS]


def check(answer: str, schema: Mapping[str, Any]) -> Verdict:
    """The answer's JSON value that matches ``schema`` (after ``coerce``), or the first JSON value
    found with its problem, or "not JSON"."""
    first: Verdict | None = None
    for raw in _candidates(answer):
        value = coerce(raw, schema)
        problem = schema_problem(value, schema)
        verdict = Verdict(value, problem, True)
        if verdict.ok:
            return verdict
        first = first or verdict
    return first or Verdict(None, "the answer is not a JSON value", False)
