"""Every combination of the switches and features a Dify node can set at once (structured output,
reasoning, web search auto/always, image generation, code interpreter, tools, stop words, files),
streamed and blocking, end to end through the stdio protocol: each one works, or is refused before
any request with a message that names the combination. "Works" is checked, not assumed: a
structured answer is the JSON alone, a generated image arrives, no marker or tag is left over."""

import base64
import itertools
import json

import pytest

from emulator.v2_images import make_jpeg
from gigachat_dify.chat.builtin_tools import MODES, SWITCHED
from tests.support.daemon import image_part, text_part, tool, user

MODEL = "GigaChat-2-Max"  # offers every switch and takes images
PAGE = "https://example.org/cats"
#: Asks for every built-in tool (the page address for URL reading).
QUESTION = f"Нарисуй кота, посчитай кодом длину вопроса, найди новости и прочитай {PAGE}"
WEATHER = tool("get-weather", "Current weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
STOP = ["\nUser:"]
PICTURE = base64.b64encode(make_jpeg("a picture the user sent")).decode()
#: The switches as the model's parameter form labels them (a refusal names them so): every built-in
#: tool of the one table, so a new tool joins the combinations by itself.
LABELS = {**{t.switch: t.label["en_US"] for t in SWITCHED},
          "reasoning": "Reasoning effort", "structured": "Response format"}
OPTIONS = {
    "reasoning": (False, True),
    **{t.switch: (MODES if t.modes else (False, True)) for t in SWITCHED},
    "tools": (False, True),
    "stop": (False, True),
    "files": (False, True),
}


def combinations():
    for values in itertools.product(*OPTIONS.values()):
        yield dict(zip(OPTIONS, values, strict=True))


def invoke(plugin, credentials, combo: dict, *, structured: bool, stream: bool):
    params = {t.switch: combo[t.switch] for t in SWITCHED}
    if combo["reasoning"]:
        params["reasoning_effort"] = "high"
    if structured:
        params.update(response_format="json_schema", json_schema=json.dumps({"name": "out", "schema": SCHEMA}))
    content = [text_part(QUESTION), image_part(PICTURE, fmt="jpeg", mime="image/jpeg", filename="cat.jpg")] \
        if combo["files"] else QUESTION
    return plugin.invoke_llm(MODEL, credentials, [user(content)], model_parameters=params,
                             tools=[WEATHER] if combo["tools"] else None, stop=STOP if combo["stop"] else None,
                             stream=stream)


def pieces(result) -> tuple[str, list[dict], list]:
    """(the answer's text, its image items, its tool calls) as Dify assembles them."""
    text, images, calls = [], [], []
    for chunk in result.chunks:
        message = chunk["delta"]["message"]
        content = message["content"]
        items = [content] if isinstance(content, str) else content
        text += [i if isinstance(i, str) else i["data"] for i in items if isinstance(i, str) or i["type"] == "text"]
        images += [i for i in items if not isinstance(i, str) and i["type"] == "image"]
        calls += message.get("tool_calls") or []
    return "".join(text), images, calls


def problem(combo: dict, structured: bool, stream: bool, result, chat_requests: int) -> str | None:
    """What is wrong with this combination's outcome, or None."""
    if not result.ok:
        if chat_requests:
            return f"failed after {chat_requests} request(s): {result.error_type}: {result.error_message[:200]}"
        named = [label for key, label in LABELS.items() if combo.get(key, structured) not in (False, "off")
                 and f"'{label}'" in result.error_message]
        return None if len(named) >= 2 else f"refused without naming the combination: {result.error_message[:200]}"
    text, images, calls = pieces(result)
    if stream and result.chunks[-1]["delta"]["finish_reason"] not in ("stop", "tool_calls"):
        return f"finish_reason {result.chunks[-1]['delta']['finish_reason']!r}"
    if "[sources=" in text or "<img" in text:
        return "a marker or tag reached the user"
    if structured and not calls:
        try:
            answer = json.loads(text)
        except ValueError:
            return f"the structured answer is not the JSON alone: {text[:200]!r}"
        if not isinstance(answer.get("answer"), str):
            return f"the structured answer does not match the schema: {text[:200]!r}"
    if combo["image_generation"] and not images:
        return "no generated image arrived"
    if combo["code_interpreter"] and not structured and "Code run by GigaChat" not in text:
        return "the code GigaChat ran is not shown"
    if combo["web_search"] != "off" and not structured and "Sources:" not in text:
        return "the web sources are not listed"
    if combo["url_reading"] and not structured and combo["web_search"] == "off" and "example.org" not in text:
        return "the page read is not cited"
    return None


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "blocking"])
@pytest.mark.parametrize("structured", [False, True], ids=["text", "structured"])
def test_every_combination_of_switches_works_or_is_refused_up_front(plugin, credentials, emulator, structured, stream):
    problems = []
    for combo in combinations():
        emulator.reset()
        result = invoke(plugin, credentials, combo, structured=structured, stream=stream)
        chats = [r for r in emulator.log if r.path.endswith("/chat/completions")]
        found = problem(combo, structured, stream, result, len(chats))
        if found:
            problems.append(f"{combo}: {found}")
    assert not plugin.protocol_errors
    assert not problems, f"{len(problems)} combinations fail:\n" + "\n".join(problems[:20])


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "blocking"])
def test_a_structured_answer_with_an_image_keeps_the_image_beside_the_json(plugin, credentials, emulator, stream):
    # v1: GigaChat names a generated image with its own tag in the text (issue 17 #3: streamed, this crashed)
    picture = make_jpeg("a generated cat")
    file_id = emulator._files.add("cat.jpg", picture, "general", "image/jpeg")
    emulator.enqueue_reply(content=f'<img src="{file_id}" fuse="true"/>{{"answer": "кот"}}')
    params = {"response_format": "json_schema", "json_schema": json.dumps({"name": "out", "schema": SCHEMA})}
    result = plugin.invoke_llm(MODEL, credentials, [user("Нарисуй кота и ответь в JSON")], model_parameters=params,
                               stream=stream)
    assert result.ok, result.error
    text, images, _ = pieces(result)
    assert json.loads(text) == {"answer": "кот"}
    assert [base64.b64decode(i["base64_data"]) for i in images] == [picture]
