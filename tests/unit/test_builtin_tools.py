"""The table of built-in tools (gigachat_dify/chat/builtin_tools.py) is what every copy of it says:
the model YAMLs, the customizable-model form, the contract choice, the v2 request, refusals; and
the files the catalogue depends on are the ones Dify reads."""

from __future__ import annotations

import json

import pytest
from dify_plugin.errors.model import InvokeBadRequestError
import yaml
from dify_plugin.entities.model import ModelFeature

from gigachat_dify.chat import builtin_tools, catalogue, invocation, parameters
from gigachat_dify.chat.custom_models import llm_entity
from gigachat_dify.chat.v1 import call as v1
from gigachat_dify.chat.v2 import call as v2
from gigachat_dify.chat.v2.params import tools_and_config

PROVIDER = yaml.safe_load((catalogue.PLUGIN_ROOT / "provider" / "gigachat.yaml").read_text(encoding="utf-8"))
FORM = PROVIDER["model_credential_schema"]["credential_form_schemas"]


def rules_of(model: str) -> dict[str, dict]:
    return {r["name"]: r for r in catalogue.model_yaml(model)["parameter_rules"]}


def as_yaml(value) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=200)


@pytest.mark.parametrize("tool", builtin_tools.SWITCHED, ids=lambda t: t.switch)
def test_each_switch_is_in_exactly_the_yamls_of_its_models_as_the_table_gives_it(tool):
    for m in catalogue.predefined():
        rule = rules_of(m["model"]).get(tool.switch)
        if m["model"] in tool.models:
            assert rule == tool.parameter_rule(), (
                f"{m['model']}.yaml: the '{tool.switch}' rule should read\n{as_yaml([tool.parameter_rule()])}")
        else:
            assert rule is None, f"{m['model']}.yaml offers '{tool.switch}', which the table does not give it"


@pytest.mark.parametrize("tool", builtin_tools.SWITCHED, ids=lambda t: t.switch)
def test_each_switch_has_its_field_in_the_customizable_model_form_as_the_table_gives_it(tool):
    field = next((f for f in FORM if isinstance(f, dict) and f.get("variable") == tool.form_field), None)
    assert field == tool.form_schema(), f"provider/gigachat.yaml should have\n{as_yaml([tool.form_schema()])}"


def test_the_form_has_no_tool_field_the_table_does_not_know():
    fields = {f["variable"] for f in FORM if isinstance(f, dict) and f.get("variable", "").endswith("_tool")}
    assert fields == {t.form_field for t in builtin_tools.SWITCHED}


def test_names_are_unique_and_labels_given_in_both_languages():
    for attribute in ("api_name", "switch", "human"):
        values = [getattr(t, attribute) for t in builtin_tools.TOOLS if getattr(t, attribute)]
        assert len(values) == len(set(values)), attribute
    for tool in builtin_tools.SWITCHED:
        assert tool.label["en_US"] and tool.label["zh_Hans"] and tool.help["en_US"] and tool.help["zh_Hans"]
        assert tool.models and all(m in {p["model"] for p in catalogue.predefined()} for m in tool.models)


@pytest.mark.parametrize("tool", builtin_tools.SWITCHED, ids=lambda t: t.switch)
def test_each_switch_sends_its_tool_on_v2_and_a_refusal_names_its_label(tool):
    value = "auto" if tool.modes else True
    assert invocation.choose_contract({tool.switch: value}) is v2
    on = builtin_tools.enabled({tool.switch: value})
    tools, config = tools_and_config(on, [], question_turn=True)
    assert tools == [tool.entry()] and config == {"mode": "auto"}
    assert on.labels() == {tool.api_name: tool.label["en_US"]}
    assert not builtin_tools.enabled({tool.switch: "off" if tool.modes else False}).any


def test_without_switches_requests_stay_on_v1():
    assert invocation.choose_contract({}) is v1
    assert invocation.choose_contract({"tool_ranking": True, "web_search": "off"}) is v1


def test_a_tool_set_to_always_is_forced_only_on_a_question():
    on = builtin_tools.enabled({"web_search": "always"})
    assert tools_and_config(on, [], question_turn=True)[1] == {"mode": "forced", "tool_name": "web_search"}
    assert tools_and_config(on, [], question_turn=False)[1] == {"mode": "auto"}


@pytest.mark.parametrize("other", [t for t in builtin_tools.SWITCHED if not t.modes], ids=lambda t: t.switch)
def test_a_tool_set_to_always_beside_another_tool_is_refused_naming_both_switches(other):
    # Forced, GigaChat runs that tool and answers from it: the other would never act.
    with pytest.raises(InvokeBadRequestError) as refused:
        builtin_tools.enabled({"web_search": "always", other.switch: True})
    assert "'Web search'" in str(refused.value) and f"'{other.label['en_US']}'" in str(refused.value)


# ---- what the catalogue and the customizable models depend on -------------------------------------


def test_the_catalogue_reads_the_folder_the_provider_yaml_points_dify_to():
    llm = PROVIDER["models"]["llm"]
    assert (catalogue.PLUGIN_ROOT / llm["position"]).resolve() == (catalogue.LLM_DIR / "_position.yaml").resolve()
    assert all((catalogue.PLUGIN_ROOT / p).parent.resolve() == catalogue.LLM_DIR.resolve() for p in llm["predefined"])
    assert [m["model"] for m in catalogue.predefined()] == yaml.safe_load(
        (catalogue.LLM_DIR / "_position.yaml").read_text())


def test_the_template_lends_every_general_rule_and_no_tool_switch():
    names = {r["name"] for r in catalogue.template_rules()}
    assert {"temperature", "top_p", "max_tokens", "repetition_penalty", "profanity_check", "response_format",
            "json_schema", parameters.RANKER, parameters.RANKER_TOP_N} <= names
    assert not names & {t.switch for t in builtin_tools.SWITCHED}


@pytest.mark.parametrize("tool", builtin_tools.SWITCHED, ids=lambda t: t.switch)
def test_a_customizable_model_offers_a_switch_exactly_when_its_form_field_is_on(tool):
    rules = {r.name: r for r in llm_entity("GigaChat-2-Max-preview", {tool.form_field: "support"}).parameter_rules}
    assert tool.switch in rules and rules[tool.switch].label.en_us == tool.label["en_US"]
    others = {t.switch for t in builtin_tools.SWITCHED} - {tool.switch}
    assert not others & set(rules)
    assert tool.switch not in {r.name for r in llm_entity("GigaChat-2-Max-preview", {}).parameter_rules}


# ---- the tool ranker -------------------------------------------------------------------------------


def test_every_model_with_tools_offers_the_ranker_off_by_default():
    for m in catalogue.predefined():
        rules = rules_of(m["model"])
        assert ("tool-call" in m["features"]) == (parameters.RANKER in rules), m["model"]
        ranker, top_n = rules[parameters.RANKER], rules[parameters.RANKER_TOP_N]
        assert ranker["type"] == "boolean" and ranker["default"] is False
        assert ranker["label"]["en_US"] == parameters.RANKER_LABEL and ranker["label"]["zh_Hans"]
        assert top_n["label"]["en_US"] == parameters.RANKER_TOP_N_LABEL and top_n["type"] == "int"
        assert (top_n["default"], top_n["min"], top_n["max"]) == (
            parameters.RANKER_DEFAULT_TOP_N, 1, parameters.RANKER_MAX_TOP_N)


def test_a_customizable_model_offers_the_ranker_only_with_function_calling():
    def names(form):
        return {r.name for r in llm_entity("GigaChat-2-Max-preview", form).parameter_rules}

    assert parameters.RANKER in names({}) and parameters.RANKER_TOP_N in names({})
    without = llm_entity("GigaChat-2-Max-preview", {"function_calling": "no_support"})
    assert ModelFeature.TOOL_CALL not in without.features
    assert not {parameters.RANKER, parameters.RANKER_TOP_N} & {r.name for r in without.parameter_rules}


FUNCTION = {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}


def test_the_ranker_is_sent_with_functions_only_in_each_contracts_field():
    from dify_plugin.entities.model.message import PromptMessageTool, UserPromptMessage

    tool = PromptMessageTool(name="f", description="d", parameters={"type": "object", "properties": {}})
    on = {"tool_ranking": True, "tool_ranking_top_n": 3}
    v1_payload, _ = v1.build("GigaChat-2", [UserPromptMessage(content="q")], on, [tool], False, None)
    assert v1_payload["function_ranker"] == {"enabled": True, "top_n": 3}
    v2_payload, _ = v2.build("GigaChat-2", [UserPromptMessage(content="q")], {**on, "web_search": "auto"}, [tool],
                             False, None)
    assert v2_payload["ranker_options"] == {"enabled": True, "top_n": 3}
    for params in ({"tool_ranking": False}, {}):
        assert "function_ranker" not in v1.build("GigaChat-2", [UserPromptMessage(content="q")], params, [tool],
                                                 False, None)[0]
    assert "function_ranker" not in v1.build("GigaChat-2", [UserPromptMessage(content="q")], on, None, False, None)[0]
    assert json.dumps(parameters.read({"tool_ranking": True}).ranker_top_n) == str(parameters.RANKER_DEFAULT_TOP_N)


@pytest.mark.parametrize("params", [{"tool_ranking": "maybe"}, {"tool_ranking": True, "tool_ranking_top_n": 0},
                                    {"tool_ranking": True, "tool_ranking_top_n": 2.5}])
def test_a_ranker_value_dify_could_not_send_is_an_error_naming_its_label(params):
    from dify_plugin.errors.model import InvokeBadRequestError

    with pytest.raises(InvokeBadRequestError, match="'Tool ranking'|'Tools kept by ranking'"):
        parameters.read(params)


# ---- lists of names kept elsewhere, checked against their one table ----------------------------------


def test_the_emulator_knows_exactly_the_built_in_tools_of_the_table():
    # The emulator stands in for GigaChat and keeps its own list; a tool one side lacks is a test
    # that no longer tells the truth.
    from emulator.dialects import BUILTIN_TOOLS

    assert set(BUILTIN_TOOLS) == builtin_tools.API_NAMES


def test_every_finish_reason_gigachat_sends_has_a_row_in_the_table():
    from emulator import finish

    from gigachat_dify.chat.assembly import FINISH_REASONS

    assert set(finish.V1) | set(finish.V2) <= set(FINISH_REASONS)
    assert all(FINISH_REASONS[r].sentence for r in finish.ON_DEMAND)  # each rare end is a sentence


def test_the_forms_default_addresses_are_the_hosts_table():
    from gigachat_dify import hosts

    fields = {f["variable"]: f for f in PROVIDER["provider_credential_schema"]["credential_form_schemas"]}
    assert fields["base_url"]["default"] == fields["base_url"]["placeholder"]["en_US"] == hosts.DEFAULT_BASE_URL
    assert fields["auth_url"]["default"] == fields["auth_url"]["placeholder"]["en_US"] == hosts.DEFAULT_AUTH_URL
    assert hosts.SPEC_BASE_URL in fields["base_url"]["help"]["en_US"]


def test_a_request_that_switches_nothing_on_is_read_without_parsing_each_switch(monkeypatch):
    from gigachat_dify import form

    monkeypatch.setattr(form, "switch", lambda *a, **kw: pytest.fail("a switch Dify did not send was parsed"))
    monkeypatch.setattr(form, "choice", lambda *a, **kw: pytest.fail("a switch Dify did not send was parsed"))
    nothing = builtin_tools.enabled({"temperature": 0.3, "max_tokens": 100})
    assert nothing is builtin_tools.NONE_ENABLED and not nothing.any and nothing.labels() == {}
    with pytest.raises(TypeError):
        nothing.values[builtin_tools.SWITCHED[0]] = True  # shared by every such request: it cannot change


def test_a_request_reads_its_switches_once_for_what_it_asks_and_once_for_its_contract(monkeypatch):
    from dify_plugin.entities.model.message import UserPromptMessage

    from gigachat_dify.connection.credentials import parse_credentials
    from emulator import DEFAULT_KEY

    reads = []
    real = builtin_tools.enabled
    monkeypatch.setattr(builtin_tools, "enabled", lambda params: reads.append(1) or real(params))
    params = {"web_search": "off", "temperature": 0.3}
    asked = invocation.asked("GigaChat-2", params)
    request = invocation.prepare(model="GigaChat-2", settings=parse_credentials({"authorization_key": DEFAULT_KEY}),
                                 prompt_messages=[UserPromptMessage(content="hi")], model_parameters=params,
                                 tools=None, stop=None, stream=False, accepts_files=frozenset(),
                                 conversation_id=None, asked_for=asked)
    assert request.asked is asked and request.contract is v1
    assert len(reads) == 2
