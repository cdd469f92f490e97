"""Defects of the LLM path found by probing it as users and Dify drive it (issue 10), end to end."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from tests.e2e.test_llm_features import png
from tests.support.daemon import collect_text, image_part, text_part, tool, user

MODES = pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])


def uploads(emulator) -> list:
    return [r for r in emulator.log if r.method == "POST" and r.path == "/files"]


@MODES
def test_an_image_gigachat_has_dropped_is_uploaded_again_and_the_request_succeeds(plugin, credentials, emulator, stream):
    image = png(12, 12, (7, 70 if stream else 71, 140))
    msg = user([text_part("What is this?"), image_part(base64.b64encode(image).decode(), filename="dropped.png")])
    first = plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=stream)
    assert first.ok, first.error
    (file_id,) = [i for i, f in emulator.files.items() if f[1] == image]
    emulator._files.delete(file_id)  # its lifetime ended on GigaChat's side

    again = plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=stream)
    assert again.ok, again.error  # before: "400 file ... not found" on every request until a restart
    assert hashlib.sha256(image).hexdigest() in collect_text(again)
    assert len(uploads(emulator)) == 2
    statuses = [r.status for r in emulator.log if r.path == "/chat/completions"]
    assert statuses == [200, 400, 200]
    # ... and the new id is the cached one from now on
    assert plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=stream).ok
    assert len(uploads(emulator)) == 2


LEVELS = tool("set_level", "Set the alert level", {
    "type": "object",
    "properties": {"level": {"type": "integer", "enum": [1, 2, 3]}, "notify": {"type": "boolean"},
                   "channels": {"type": "array", "items": {"type": "integer", "enum": [10, 20]}}},
    "required": ["level", "notify", "channels"]})


@MODES
def test_tool_arguments_reach_dify_with_the_types_the_tool_declares(plugin, credentials, emulator, stream):
    # GigaChat sees the integer enums as strings and answers with what it saw.
    emulator.enqueue_reply(function_call={"name": "set_level", "arguments": {"level": "2", "notify": "true",
                                                                             "channels": ["10", "20"]}})
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("raise the level")], tools=[LEVELS], stream=stream)
    assert result.ok, result.error
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json["functions"][0]["parameters"]
    assert sent["properties"]["level"]["enum"] == ["1", "2", "3"]
    (call,) = [tc for c in result.chunks for tc in c["delta"]["message"]["tool_calls"]]
    assert json.loads(call["function"]["arguments"]) == {"level": 2, "notify": True, "channels": [10, 20]}


@MODES
def test_a_cyrillic_tool_name_reaches_the_model_readable_and_comes_back_as_dify_named_it(plugin, credentials, emulator,
                                                                                          stream):
    weather = tool("поиск_погоды", "Погода в городе", {"type": "object", "properties": {"город": {"type": "string"}},
                                                         "required": ["город"]})
    other = tool("poisk_pogody", "Weather (another tool with the transliterated name)", {"type": "object", "properties": {}})
    result = plugin.invoke_llm("GigaChat-2-Pro", credentials, [user("Какая погода в Казани? poisk_pogody_2")],
                               tools=[weather, other], stream=stream)
    assert result.ok, result.error
    names = [f["name"] for f in [r for r in emulator.log if r.path == "/chat/completions"][-1].json["functions"]]
    assert names == ["poisk_pogody_2", "poisk_pogody"]  # before: "_____________" for the first
    (call,) = [tc for c in result.chunks for tc in c["delta"]["message"]["tool_calls"]]
    assert call["function"]["name"] == "поиск_погоды"
    assert "город" in json.loads(call["function"]["arguments"])


@MODES
def test_a_conversation_far_beyond_the_context_is_refused_before_any_call(plugin, credentials, emulator, stream):
    history = [user("Расскажи о погоде. " * 60_000)]  # ~3 tokens a phrase: far beyond 131,072 tokens
    result = plugin.invoke_llm("GigaChat-2", credentials, history, stream=stream, timeout=120)
    assert result.error_type == "InvokeBadRequestError"
    assert "this model's context of 131,072 tokens" in result.error_message and "tokens over" in result.error_message
    assert [r for r in emulator.log if r.path in ("/chat/completions", "/files")] == []


def test_a_customizable_models_context_comes_from_its_form(plugin, credentials, emulator):
    custom = dict(credentials, context_size="2000", max_tokens="512")
    history = [user("слово " * 2000)]  # ~4,000 tokens
    result = plugin.invoke_llm("GigaChat-2-Max-preview", custom, history, stream=False)
    assert result.error_type == "InvokeBadRequestError" and "context of 2,000 tokens" in result.error_message
    assert not [r for r in emulator.log if r.path == "/chat/completions"]
    assert plugin.invoke_llm("GigaChat-2-Max-preview", dict(custom, context_size="32768"), history, stream=False).ok


def test_a_customizable_model_takes_files_only_when_its_form_says_so(plugin, credentials, emulator):
    msg = user([text_part("look"), image_part(base64.b64encode(png(3, 3)).decode(), filename="x.png")])
    refused = plugin.invoke_llm("GigaChat-2-Max-preview", credentials, [msg], stream=False)
    assert refused.error_type == "InvokeBadRequestError"
    assert "Accepts images (vision)" in refused.error_message and not uploads(emulator)
    vision = dict(credentials, vision_support="support")
    assert plugin.invoke_llm("GigaChat-2-Max-preview", vision, [msg], stream=False).ok
