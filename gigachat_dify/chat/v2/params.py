"""Generation settings and built-in tool switches -> the v2 request's ``model_options``, ``tools``,
``tool_config`` and ``ranker_options``.

What each parameter means is decided in ``chat/parameters.py`` (shared with v1) and which tools
exist in ``chat/builtin_tools.py``; here they are laid out as v2 has them:

* ``model_options {temperature, top_p, max_tokens, repetition_penalty, reasoning {effort},
  response_format}``; the profanity filter as the SDK's ``profanity_check`` (sent as
  ``disable_filter``);
* each switched-on built-in tool's entry in ``tools``, after the Dify functions;
* ``tool_config {"mode": "forced", "tool_name": ...}`` for a tool set to "always" on a user's
  question (as recorded), else ``{"mode": "auto"}``;
* ``ranker_options {enabled, top_n}`` with Dify functions when the ranker is on.
"""

from __future__ import annotations

from typing import Any

from gigachat_dify.chat.builtin_tools import Enabled
from gigachat_dify.chat.parameters import Generation

_OPTIONS = ("temperature", "top_p", "max_tokens", "repetition_penalty")


def model_options(generation: Generation) -> dict[str, Any]:
    options = {name: getattr(generation, name) for name in _OPTIONS if getattr(generation, name) is not None}
    if generation.reasoning_effort:
        options["reasoning"] = {"effort": generation.reasoning_effort}
    if generation.schema is not None:
        options["response_format"] = {"type": "json_schema", "schema": generation.schema, "strict": True}
    return options


def tools_and_config(
    enabled: Enabled, functions: list[dict[str, Any]], *, question_turn: bool
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``tools`` and ``tool_config``. ``question_turn``: the last message is the user's; only then
    is a tool forced ("always" means every question is searched, not every step of an agent loop
    that continues after a tool result)."""
    tools: list[dict[str, Any]] = []
    if functions:
        tools.append({"functions": {"specifications": functions}})
    tools += [tool.entry() for tool in enabled.tools]
    if not tools:
        return [], None
    forced = enabled.forced()
    if forced is not None and question_turn:
        return tools, {"mode": "forced", "tool_name": forced.api_name}
    return tools, {"mode": "auto"}


def ranker_options(generation: Generation, functions: list[dict[str, Any]]) -> dict[str, Any] | None:
    if generation.ranker_top_n is None or not functions:
        return None
    return {"enabled": True, "top_n": generation.ranker_top_n}
