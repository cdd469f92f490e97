"""THE table of GigaChat's built-in tools (v2 contract): every fact about each one, in one row.

A row says how Dify offers the tool (the model parameter, its label and help in en_US and
zh_Hans, the customizable-model form field derived from it), how GigaChat names it (its entry in
the v2 ``tools`` list, the name in answers and refusals), how a sentence names it, and which
predefined models offer it. Everything else is derived from this table or checked against it:
which contract serves a request (``chat/invocation.py``), the ``tools`` list and ``tool_config``
(``chat/v2/params.py``), which function calls in an answer are GigaChat's own
(``chat/v2/stream.py``), the refusal naming the switch (``invocation.asked`` for ``failures.refusal``), the
customizable-model schema (``chat/custom_models.py``); the model YAMLs, the provider form and the
README are checked against it (tests/unit/test_builtin_tools.py, tests/docs/test_readme_models.py).

Adding a tool: a row here, then what the failing tests print to paste into the YAMLs and README,
its answer handling in ``chat/v2/stream.py`` / ``chat/v2/tools.py`` and its emulator behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify import form

#: The predefined models GigaChat documents with its built-in tools (GigaChat-2-Max: live probes
#: Sep 2026; GigaChat-3-Ultra: the June 2026 recordings).
TOOL_MODELS = ("GigaChat-3-Ultra", "GigaChat-2-Max")
#: Values of a tool offered as off / auto / always (the others are on/off switches).
MODES = ("off", "auto", "always")
#: Recorded June 2026 (test_primary_chat_builtin_tools): the web search type GigaChat's SDK sends.
WEB_SEARCH_TYPE = "actual_info_web_search"


@dataclass(frozen=True, eq=False)  # a row is itself: compared and hashed by identity
class BuiltinTool:
    api_name: str  # in the v2 ``tools`` list, in answers and in refusals
    human: str  # in a sentence: "GigaChat's {human} failed"
    switch: str | None = None  # the model parameter; None: GigaChat has it, the plugin does not offer it
    label: Mapping[str, str] = field(default_factory=dict)  # en_US, zh_Hans: the parameter as Dify shows it
    help: Mapping[str, str] = field(default_factory=dict)
    modes: bool = False  # off / auto / always instead of on / off
    models: tuple[str, ...] = ()  # predefined models that offer the switch
    config: Mapping[str, Any] = field(default_factory=dict)  # the body of its v2 ``tools`` entry
    #: What it did (e.g. the code it ran) comes only in stream events: a blocking answer is read
    #: from a stream (the recorded blocking answer of the code interpreter has the final text only).
    read_from_stream: bool = False
    #: Its answers cite what it read with ``[sources=[n]]`` markers (``chat/sources.py``); in an
    #: answer no citing tool was asked for, such text is the answer's own and stays as it is.
    cites: bool = False

    @property
    def form_field(self) -> str:
        """The customizable-model form field that offers the switch."""
        return f"{self.switch}_tool"

    @property
    def form_label(self) -> str:
        """That field's label (en_US), as messages about its value name it."""
        return f"Built-in {self.human} (GigaChat API v2)"

    def entry(self) -> dict[str, Any]:
        """Its item of the v2 ``tools`` list."""
        return {self.api_name: dict(self.config)}

    def parameter_rule(self) -> dict[str, Any]:
        """The switch as a model YAML's parameter rule (the predefined YAMLs hold exactly this)."""
        rule: dict[str, Any] = {"name": self.switch, "label": dict(self.label),
                                "type": "string" if self.modes else "boolean", "required": False,
                                "default": "off" if self.modes else False}
        if self.modes:
            rule["options"] = list(MODES)
        rule["help"] = dict(self.help)
        return rule

    def form_schema(self) -> dict[str, Any]:
        """The customizable-model form field (provider/gigachat.yaml holds exactly this)."""
        en, zh = self.label["en_US"], self.label["zh_Hans"]
        return {
            "variable": self.form_field,
            "show_on": [{"variable": "__model_type", "value": "llm"}],
            "label": {"en_US": self.form_label, "zh_Hans": f"内置{zh}（GigaChat API v2）"},
            "type": "select",
            "required": False,
            "default": "no_support",
            "options": [{"value": "support", "label": {"en_US": "Yes", "zh_Hans": "是"}},
                        {"value": "no_support", "label": {"en_US": "No", "zh_Hans": "否"}}],
            "help": {"en_US": f"Offers the '{en}' parameter. Turn on only if GigaChat offers this tool for this "
                              "model and account.",
                     "zh_Hans": f"提供“{zh}”参数。仅当 GigaChat 为此模型和账户提供该工具时开启。"},
        }


TOOLS: tuple[BuiltinTool, ...] = (
    BuiltinTool(
        "web_search", "web search", "web_search", modes=True, models=TOOL_MODELS, cites=True,
        config={"type": WEB_SEARCH_TYPE},
        label={"en_US": "Web search", "zh_Hans": "联网搜索"},
        help={"en_US": "GigaChat's own web search: off; auto (the model decides when to search); always (every "
                       "question is searched). Answers link their sources and end with the source list.",
              "zh_Hans": "GigaChat 自带的联网搜索：off 关闭；auto 由模型决定何时搜索；always 每个问题都搜索。回答会链接来源并在末尾列出来源。"},
    ),
    BuiltinTool(
        "image_generate", "image generation", "image_generation", models=TOOL_MODELS,
        label={"en_US": "Image generation", "zh_Hans": "图像生成"},
        help={"en_US": "Let GigaChat draw images when asked. The image is returned as a file (shown by LLM nodes in "
                       "workflows and chatflows; basic chat apps show a note).",
              "zh_Hans": "允许 GigaChat 按要求生成图像。图像以文件形式返回（工作流和 Chatflow 的 LLM 节点会显示；基础聊天应用显示一条说明）。"},
    ),
    BuiltinTool(
        "code_interpreter", "code interpreter", "code_interpreter", models=TOOL_MODELS, read_from_stream=True,
        label={"en_US": "Code interpreter", "zh_Hans": "代码解释器"},
        help={"en_US": "Let GigaChat write and run Python code to compute answers; the code and its output are "
                       "shown in the answer.",
              "zh_Hans": "允许 GigaChat 编写并运行 Python 代码来计算答案；回答中会显示代码及其输出。"},
    ),
    BuiltinTool(
        # Live on api.giga.chat, GigaChat-2-Max, Sep 2026: reads a page whose address is in the message.
        "url_content_extraction", "URL reading", "url_reading", models=TOOL_MODELS, cites=True,
        label={"en_US": "URL reading", "zh_Hans": "网页读取"},
        help={"en_US": "Let GigaChat open a web page whose address (https://...) is in the message and answer "
                       "from its content.",
              "zh_Hans": "允许 GigaChat 打开消息中给出的网页地址（https://...），并根据网页内容回答。"},
    ),
    # GigaChat has it; Dify has nothing to show a 3D model in, so it is not offered. Named here so
    # that its calls and executions in an answer are recognised as GigaChat's own.
    BuiltinTool("model_3d_generate", "3D model generation"),
)

BY_API_NAME = {t.api_name: t for t in TOOLS}
#: The tools the plugin offers as switches, in the order their ``tools`` entries are sent.
SWITCHED = tuple(t for t in TOOLS if t.switch)
#: Every built-in tool name GigaChat has (calls and results of these are GigaChat's, not Dify's).
API_NAMES = frozenset(BY_API_NAME)


def cite(api_names: Iterable[str]) -> bool:
    """Whether an answer to a request with these tools on may cite sources (see ``BuiltinTool.cites``)."""
    return any(BY_API_NAME[name].cites for name in api_names if name in BY_API_NAME)


def human_name(api_name: str | None) -> str:
    tool = BY_API_NAME.get(api_name or "")
    return tool.human if tool else (api_name or "a built-in tool")


@dataclass(frozen=True)
class Enabled:
    """The built-in tools one request switches on: ``{tool: its value}`` (True, "auto" or "always")."""

    values: Mapping[BuiltinTool, Any] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.values)

    @property
    def tools(self) -> list[BuiltinTool]:
        return list(self.values)

    def forced(self) -> BuiltinTool | None:
        """The tool set to "always" (the first, if several), run on every question."""
        return next((t for t, v in self.values.items() if v == "always"), None)

    def labels(self) -> dict[str, str]:
        """{API name: the switch's label}: what a refusal needs to name the switch to turn off."""
        return {t.api_name: t.label["en_US"] for t in self.values}


#: A request that switches on no built-in tool.
NONE_ENABLED = Enabled(MappingProxyType({}))


def enabled(model_parameters: Mapping[str, Any] | None) -> Enabled:
    """The switches of this request, read by THE form-value parser; a value Dify could not have
    sent from the declared rules is a clear error naming the parameter, never silently ignored."""
    params = model_parameters or {}
    if not any(tool.switch in params for tool in SWITCHED):
        return NONE_ENABLED  # every request reads this, most switch nothing on
    on: dict[BuiltinTool, Any] = {}
    for tool in SWITCHED:
        label = f"'{tool.label['en_US']}'"
        try:
            value = (form.choice(params.get(tool.switch), label, MODES, "off") if tool.modes
                     else form.switch(params.get(tool.switch), label, False))
        except form.FormValueError as exc:
            raise InvokeBadRequestError(f"{exc} Fix the model parameter.") from None
        if value not in ("off", False):
            on[tool] = value
    switches = Enabled(on)
    forced = switches.forced()
    others = " and ".join(f"'{t.label['en_US']}'" for t in switches.tools if t is not forced)
    if forced is not None and others:
        # Forced, GigaChat runs that tool and answers from it: the other tools never act.
        name = forced.label["en_US"]
        raise InvokeBadRequestError(
            f"'{name}' set to 'always' makes GigaChat run it and answer from its results, so {others} cannot "
            f"work in the same request. Set '{name}' to 'auto' (GigaChat then uses it when a question needs it), "
            f"or switch off {others}."
        )
    return switches
