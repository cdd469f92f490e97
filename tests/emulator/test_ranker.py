"""The function ranker (v1 function_ranker, v2 ranker_options): only the top_n functions most relevant
to the last user message reach the model: they alone count toward prompt tokens and can be called."""

import gigachat.exceptions as gx
import pytest

from emulator import B2B_KEY
from emulator.ranker import DEFAULT_TOP_N, relevance, select

from .conftest import make_client

TOPICS = ["weather forecast", "currency exchange rate", "train timetable", "flight status", "hotel booking",
          "restaurant menu", "movie showtimes", "stock quotes", "news headlines", "calendar events",
          "email inbox", "contact lookup", "translation service", "unit conversion", "package tracking",
          "parking spots", "taxi order", "pharmacy search", "library catalog", "museum tickets",
          "sports scores", "traffic jams", "recipe search", "music playlist", "podcast episodes",
          "bank balance", "utility bills", "fitness tracker", "sleep statistics", "air quality"]
FUNCTIONS = [{"name": "tool_" + "_".join(t.split()), "description": f"Returns the {t} for a given city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                             "required": ["city"]}} for t in TOPICS]
QUESTION = "What is the air quality in Moscow today?"


@pytest.fixture
def business(emu):
    c = make_client(emu, credentials=B2B_KEY, scope="GIGACHAT_API_B2B", model="GigaChat-2-Max")
    yield c
    c.close()


def v1_body(**extra) -> dict:
    return {"model": "GigaChat-2-Max", "messages": [{"role": "user", "content": QUESTION}], "functions": FUNCTIONS,
            "function_call": "auto", **extra}


def v2_body(**extra) -> dict:
    return {"model": "GigaChat-2-Max", "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
            "tools": [{"functions": {"specifications": FUNCTIONS}}], **extra}


def test_relevance_is_the_words_a_function_shares_with_the_question():
    air, weather = FUNCTIONS[-1], FUNCTIONS[0]
    # "the", "air", "quality" (name and description), "city" is not asked; "is", "in" are too short
    assert relevance(air, QUESTION) == 3 and relevance(weather, QUESTION) == 1
    assert relevance({"name": "getExchangeRate"}, "exchange rate today") == 2  # camelCase splits


def test_select_keeps_the_top_n_most_relevant_and_a_forced_function():
    kept = select(FUNCTIONS, QUESTION, {"enabled": True, "top_n": 3})
    assert [f["name"] for f in kept][0] == "tool_air_quality" and len(kept) == 3
    assert len(select(FUNCTIONS, QUESTION, {"enabled": True})) == DEFAULT_TOP_N
    forced = select(FUNCTIONS, QUESTION, {"enabled": True, "top_n": 1}, forced="tool_taxi_order")
    assert [f["name"] for f in forced] == ["tool_air_quality", "tool_taxi_order"]
    assert select(FUNCTIONS, QUESTION, {"top_n": 3}) is None and select(FUNCTIONS, QUESTION, None) is None


def test_v1_function_ranker_cuts_prompt_tokens_and_calls_only_a_kept_function(emu, business):
    plain = business.chat(v1_body())
    ranked = business.chat(v1_body(function_ranker={"enabled": True, "top_n": 3}))
    assert plain.choices[0].message.function_call.name == "tool_weather_forecast"  # the first offered
    assert ranked.choices[0].message.function_call.name == "tool_air_quality"  # the most relevant
    assert ranked.usage.prompt_tokens < plain.usage.prompt_tokens / 5
    assert emu.log[-1].ranked_functions[0] == "tool_air_quality" and len(emu.log[-1].ranked_functions) == 3
    assert emu.log[-2].ranked_functions is None


def test_a_function_ranked_out_cannot_be_called_unless_forced(business):
    functions = [{"name": "taxi", "description": "Order a cab"},
                 {"name": "air_quality", "description": "Air pollution index and smog level"}]
    body = {"model": "GigaChat-2-Max", "functions": functions, "function_ranker": {"enabled": True, "top_n": 1},
            "messages": [{"role": "user", "content": "How bad are smog and pollution today, taxi?"}]}
    assert business.chat({**body, "function_ranker": None}).choices[0].message.function_call.name == "taxi"  # named
    assert business.chat(body).choices[0].message.function_call.name == "air_quality"  # taxi ranked out
    forced = {**body, "function_call": {"name": "taxi"}}
    assert business.chat(forced).choices[0].message.function_call.name == "taxi"


@pytest.mark.parametrize("base", ["base_url", "giga_base_url"])
def test_v2_ranker_options_cut_prompt_tokens_on_both_hosts(emu, base):
    client = make_client(emu, base_url=getattr(emu, base), credentials=B2B_KEY, scope="GIGACHAT_API_B2B")
    plain = client.chat.create(v2_body())
    ranked = client.chat.create(v2_body(ranker_options={"enabled": True, "top_n": 4, "embeddings_model": "Embeddings"}))
    assert plain.messages[0].content[0].function_call.name == "tool_weather_forecast"
    assert ranked.messages[0].content[0].function_call.name == "tool_air_quality"
    assert ranked.usage.input_tokens < plain.usage.input_tokens / 4
    assert len(emu.log[-1].ranked_functions) == 4


@pytest.mark.parametrize(("options", "status", "message"), [
    ({"enabled": True, "top_n": 0}, 422, "Invalid params: ranker_options.top_n must be in range [1, +inf)"),
    ({"enabled": True, "embeddings_model": "Nope"}, 404, "No such model"),
    ({"enabled": True, "embeddings_model": "GigaChat"}, 422,
     "Invalid params: ranker_options.embeddings_model 'GigaChat' is not an embeddings model"),
])
def test_malformed_ranker_options_are_refused(business, options, status, message):
    with pytest.raises(gx.ResponseError) as e:
        business.chat.create(v2_body(ranker_options=options))
    assert e.value.status_code == status and message in e.value.content.decode()


def test_malformed_v1_function_ranker_is_refused(business, api):
    with pytest.raises(gx.UnprocessableEntityError, match=r"function_ranker.top_n must be in range"):
        business.chat(v1_body(function_ranker={"enabled": True, "top_n": -1}))
    r = api.post("/chat/completions", json=v1_body(function_ranker={"enabled": "yes"}))  # the SDK would coerce it
    assert r.status_code == 422 and r.json()["message"] == "Invalid params: function_ranker.enabled must be a boolean"


def test_ranking_without_functions_changes_nothing(emu, business):
    answer = business.chat.create({"model": "GigaChat-2-Max", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                                   "ranker_options": {"enabled": True}})
    assert answer.messages[0].tools_state_id is None and answer.messages[0].content[0].text == "Echo: hi"
    assert emu.log[-1].ranked_functions == []
