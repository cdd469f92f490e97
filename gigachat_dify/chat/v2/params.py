"""Dify model parameters -> the v2 request's ``model_options``, ``tools`` and ``tool_config``.

The meaning of every generation parameter (greedy decoding for temperature 0, ranges, the JSON
schema, reasoning effort) is decided once, in ``chat/v1/params.py``; here its result is moved
to where v2 expects it (``model_options``). What is v2's own: the built-in tool switches.

Switches (model parameters, declared in the model YAMLs and, for customizable models, through
the model credential form):

* ``web_search``: ``off`` (default) | ``auto`` (the model decides) | ``always`` (forced on a
  user's question: ``tool_config {"mode": "forced", "tool_name": "web_search"}``, as recorded);
* ``image_generation``: boolean, default off (``{"image_generate": {}}``);
* ``code_interpreter``: boolean, default off (``{"code_interpreter": {}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify import form
from gigachat_dify.chat.v1.params import build_chat_payload

WEB_SEARCH_MODES = ("off", "auto", "always")

#: Built-in tool (its name in the API) -> the switch's label as Dify shows it (en_US).
SWITCH_LABELS = {
    "web_search": "Web search",
    "image_generate": "Image generation",
    "code_interpreter": "Code interpreter",
}
#: Every built-in tool name the API has (calls and results of these are GigaChat's, not Dify's).
BUILTIN_TOOLS = frozenset({*SWITCH_LABELS, "url_content_extraction", "model_3d_generate"})
#: Recorded June 2026 (test_primary_chat_builtin_tools): the web search type GigaChat's SDK sends.
WEB_SEARCH_TYPE = "actual_info_web_search"

# v1 payload field -> v2 model_options field
_OPTIONS = ("temperature", "top_p", "max_tokens", "repetition_penalty")


@dataclass(frozen=True)
class BuiltinTools:
    web_search: str = "off"
    image_generation: bool = False
    code_interpreter: bool = False

    @property
    def any(self) -> bool:
        return self.web_search != "off" or self.image_generation or self.code_interpreter

    def api_names(self) -> list[str]:
        names = ["web_search"] if self.web_search != "off" else []
        if self.image_generation:
            names.append("image_generate")
        if self.code_interpreter:
            names.append("code_interpreter")
        return names


def builtin_tools(model_parameters: Mapping[str, Any] | None) -> BuiltinTools:
    """The switches of this request (THE form-value parser reads them); a value Dify could not
    have sent from the declared rules is a clear error, never silently ignored."""
    params = model_parameters or {}
    try:
        web = form.choice(params.get("web_search"), "web_search", WEB_SEARCH_MODES, "off")
        image = form.switch(params.get("image_generation"), "image_generation", False)
        code = form.switch(params.get("code_interpreter"), "code_interpreter", False)
    except form.FormValueError as exc:
        raise InvokeBadRequestError(f"{exc} Fix the model parameter.") from None
    switches = BuiltinTools(web, image, code)
    others = " and ".join(f"'{SWITCH_LABELS[name]}'" for name in switches.api_names() if name != "web_search")
    if web == "always" and others:
        # Forced, GigaChat searches and answers from the results: the other tools never act.
        raise InvokeBadRequestError(
            f"'Web search' set to 'always' makes GigaChat search and answer from the results, so {others} cannot "
            f"work in the same request. Set 'Web search' to 'auto' (GigaChat then searches when a question needs "
            f"it), or switch off {others}."
        )
    return switches


def tools_and_config(
    switches: BuiltinTools, functions: list[dict[str, Any]], *, question_turn: bool
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``tools`` and ``tool_config``. ``question_turn``: the last message is the user's; only then
    is web search forced ("always" means every question is searched, not every step of an agent
    loop that continues after a tool result)."""
    tools: list[dict[str, Any]] = []
    if functions:
        tools.append({"functions": {"specifications": functions}})
    if switches.web_search != "off":
        tools.append({"web_search": {"type": WEB_SEARCH_TYPE}})
    if switches.image_generation:
        tools.append({"image_generate": {}})
    if switches.code_interpreter:
        tools.append({"code_interpreter": {}})
    if not tools:
        return [], None
    if switches.web_search == "always" and question_turn:
        return tools, {"mode": "forced", "tool_name": "web_search"}
    return tools, {"mode": "auto"}


def model_options(model: str, model_parameters: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``model_options``, other top-level fields) from Dify's parameters, through the v1 rules.

    A JSON-object answer requested without a schema is an instruction the v1 rules put in a
    system message; it is returned as ``{"system_instruction": text}`` for the message
    conversion to merge."""
    flat = build_chat_payload(model, [], model_parameters, None, False)
    options = {k: flat[k] for k in _OPTIONS if k in flat}
    if "reasoning_effort" in flat:
        options["reasoning"] = {"effort": flat["reasoning_effort"]}
    if "response_format" in flat:
        options["response_format"] = flat["response_format"]
    extra: dict[str, Any] = {}
    if "profanity_check" in flat:
        extra["profanity_check"] = flat["profanity_check"]  # the SDK sends it as disable_filter
    instruction = [m["content"] for m in flat["messages"] if m.get("role") == "system"]
    if instruction:
        extra["system_instruction"] = instruction[0]
    return options, extra
