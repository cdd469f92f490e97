"""GigaChat's own tools in Dify, end to end through the stdio protocol: web search with working
source links, generated images as image content items, the code interpreter's code and output,
Dify tools together with built-in tools on the v2 contract, refusals, cached tokens."""

import base64
import json
import re
import uuid

import pytest

from emulator.v2_images import make_jpeg
from gigachat_dify.protocol import DAEMON_LINE_LIMIT
from tests.support.daemon import assistant, message, tool, tool_result, user

MODEL = "GigaChat-3-Ultra"
V2 = "/api/v2/chat/completions"
WEATHER = tool("get-weather", "Current weather for a city",
               {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
BOTH = pytest.mark.parametrize("stream", [True, False], ids=["streaming", "blocking"])


def contents(result) -> list:
    return [c["delta"]["message"]["content"] for c in result.chunks]


def text_of(result) -> str:
    out = []
    for content in contents(result):
        if isinstance(content, str):
            out.append(content)
        else:
            out += [item["data"] for item in content if item["type"] == "text"]
    return "".join(out)


def images_of(result) -> list[dict]:
    return [item for content in contents(result) if isinstance(content, list) for item in content
            if item["type"] == "image"]


def assert_daemon_accepts(result, plugin) -> None:
    """The daemon's rules: content is a string or a list of content items; no line over 5 MiB."""
    assert result.ok, result.error
    for content in contents(result):
        assert isinstance(content, str) or (
            isinstance(content, list) and content and all(isinstance(i, dict) and i.get("type") in ("text", "image")
                                                          for i in content)), content
    assert max(len(line.encode()) for line in plugin.stdout_lines) < DAEMON_LINE_LIMIT


def v2_requests(emulator) -> list:
    return [r for r in emulator.log if r.path == V2]


def sent_v2(emulator) -> dict:
    return v2_requests(emulator)[-1].json


# ---- web search --------------------------------------------------------------------------------


def test_streamed_web_search_answer_links_its_sources_and_lists_them(plugin, credentials, emulator):
    result = plugin.invoke_llm(MODEL, credentials, [user("What is the latest news about Python?")],
                               model_parameters={"web_search": "auto"}, stream=True)
    assert_daemon_accepts(result, plugin)
    assert len(result.chunks) > 5  # really streamed: the markers were split across chunks
    text = text_of(result)
    assert "[sources=" not in text
    sent = sent_v2(emulator)
    assert sent["tools"] == [{"web_search": {"type": "actual_info_web_search"}}]
    assert sent["tool_config"] == {"mode": "auto"}
    urls = re.findall(r"\[\[(\d)\]\]\((https://[^)]+)\)", text)
    assert [n for n, _ in urls] == ["1", "2"]
    listing = text.split("Sources:\n", 1)[1]
    for n, url in urls:  # each link in the text points at the source listed under its number
        assert re.search(rf"^{n}\. \[[^\]]+\]\({re.escape(url)}\)$", listing, re.M)
    assert all(url.startswith("https://") and "example" in url for _, url in urls)


def test_always_forces_the_search_on_a_question(plugin, credentials, emulator):
    result = plugin.invoke_llm(MODEL, credentials, [user("Hello there")], model_parameters={"web_search": "always"},
                               stream=False)
    assert result.ok, result.error
    assert sent_v2(emulator)["tool_config"] == {"mode": "forced", "tool_name": "web_search"}
    assert "Sources:" in text_of(result)


def test_requests_without_built_in_tools_stay_on_v1(plugin, credentials, emulator):
    assert plugin.invoke_llm(MODEL, credentials, [user("hi")], model_parameters={"web_search": "off"}).ok
    assert not v2_requests(emulator) and [r for r in emulator.log if r.path == "/chat/completions"]


# ---- generated images ----------------------------------------------------------------------------


@BOTH
def test_generated_image_arrives_as_an_image_item_with_the_bytes_the_api_served(plugin, credentials, emulator, stream):
    result = plugin.invoke_llm(MODEL, credentials, [user("Draw a square icon for a Python SDK release")],
                               model_parameters={"image_generation": True}, stream=stream)
    assert_daemon_accepts(result, plugin)
    assert sent_v2(emulator)["tools"] == [{"image_generate": {}}]
    images = images_of(result)
    assert len(images) == 1
    image = images[0]
    file_id = [r.path for r in emulator.log if r.path.endswith("/content")][-1].split("/")[2]
    assert base64.b64decode(image["base64_data"]) == emulator.files[file_id].data
    assert image["mime_type"] == "image/jpeg" and image["url"] == ""
    text = text_of(result)
    assert "GigaChat generated an image" in text  # basic chat apps ignore image items: say it in text
    assert image["base64_data"][:40] not in text and "<img" not in text


@BOTH
def test_v1_img_tag_becomes_an_image_item_even_when_split_across_chunks(plugin, credentials, emulator, stream):
    data = make_jpeg("a v1 text2image answer")
    file_id = emulator._files.add("image.jpg", data, "general", "image/jpeg")
    tag = f'<img src="{file_id}" fuse="true"/>'
    emulator.enqueue_reply(content=f"Here it is: {tag} Enjoy.",
                           chunks=["Here it is: <i", tag[2:20], tag[20:-1], "> Enjoy."])
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("draw a cat")], stream=stream)
    assert_daemon_accepts(result, plugin)
    assert [base64.b64decode(i["base64_data"]) for i in images_of(result)] == [data]
    text = text_of(result)
    assert "<img" not in text and "fuse" not in text and file_id not in text
    assert text.startswith("Here it is: ") and text.rstrip().endswith("Enjoy.")


def test_v1_video_tag_shows_its_cover_and_says_a_video_was_made(plugin, credentials, emulator):
    cover = make_jpeg("video cover")
    cover_id = emulator._files.add("cover.jpg", cover, "general", "image/jpeg")
    emulator.enqueue_reply(content=f'<video cover="{cover_id}" src="{uuid.uuid4()}" fuse="true"/>')
    result = plugin.invoke_llm("GigaChat-2-Pro", credentials, [user("make a video")], stream=True)
    assert_daemon_accepts(result, plugin)
    assert [base64.b64decode(i["base64_data"]) for i in images_of(result)] == [cover]
    assert "video" in text_of(result) and "<video" not in text_of(result)


@BOTH
def test_image_too_large_for_a_protocol_line_becomes_a_note_not_a_dead_plugin(plugin, credentials, emulator, stream):
    big = make_jpeg("huge", padding=4 * 1024 * 1024)  # base64 of 4 MiB is over the line budget
    file_id = emulator._files.add("big.jpg", big, "general", "image/jpeg")
    emulator.enqueue_reply(content=f'<img src="{file_id}" fuse="true"/>')
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("draw")], stream=stream)
    assert_daemon_accepts(result, plugin)
    assert images_of(result) == []
    assert "too large" in text_of(result) and "4.0 MB" in text_of(result)
    assert plugin.invoke_llm("GigaChat-2", credentials, [user("still alive?")]).ok


def test_image_that_cannot_be_downloaded_is_explained_in_the_answer(plugin, credentials, emulator):
    gone = str(uuid.uuid4())
    emulator.enqueue_reply(content=f'<img src="{gone}" fuse="true"/>')
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("draw")], stream=True)
    assert_daemon_accepts(result, plugin)
    assert "could not be downloaded" in text_of(result) and gone in text_of(result)


HTML_ANSWER = (
    'Вставьте <img src="cat.png" alt="кот"/> в страницу; с абсолютным адресом: '
    '<img src="https://example.com/cat.png">.\n\n```html\n<img src="../../models" fuse="true"/>\n'
    '<video src="clip.mp4" controls></video>\n```\nГотово.'
)


@BOTH
@pytest.mark.parametrize("parameters", [{}, {"image_generation": True}], ids=["v1", "v2"])
def test_an_answer_explaining_html_keeps_its_tags_and_nothing_is_downloaded(plugin, credentials, emulator, stream,
                                                                               parameters):
    emulator.enqueue_reply(content=HTML_ANSWER)
    result = plugin.invoke_llm(MODEL, credentials, [user("Как вставить картинку в HTML?")],
                               model_parameters=parameters, stream=stream)
    assert_daemon_accepts(result, plugin)
    assert text_of(result) == HTML_ANSWER and images_of(result) == []
    assert not [r.path for r in emulator.log if "/files" in r.path or r.path.endswith("/content")]


MARKER_ANSWER = ("С веб-поиском GigaChat помечает источник так: [sources=[1]] или [sources=[1, 2]]; "
                 "без поиска такой текст — просто текст [sources=[3]].")


@BOTH
@pytest.mark.parametrize("parameters", [{}, {"image_generation": True}, {"code_interpreter": True}],
                         ids=["v1", "v2-image", "v2-code"])
def test_an_answer_quoting_source_markers_without_a_citing_tool_keeps_them(plugin, credentials, emulator, stream,
                                                                           parameters):
    # Only web search and URL reading cite sources: a marker in any other answer is the answer's text
    # (it was dropped, and a stream held everything after it back to the end).
    emulator.enqueue_reply(content=MARKER_ANSWER, chunks=[MARKER_ANSWER[:45], MARKER_ANSWER[45:60],
                                                          MARKER_ANSWER[60:]])
    result = plugin.invoke_llm(MODEL, credentials, [user("Как GigaChat помечает источники?")],
                               model_parameters=parameters, stream=stream)
    assert_daemon_accepts(result, plugin)
    assert MARKER_ANSWER in text_of(result) and "Sources:" not in text_of(result)
    if stream:  # streamed as it came, not held to the end
        assert "[sources=[3]]" in text_of(result.__class__(result.session_id, result.chunks[:-1]))


def test_a_streamed_web_search_answer_citing_a_source_never_listed_streams_on(plugin, credentials, emulator):
    # Everything after such a marker came in one chunk at the very end (3 Dify chunks instead of 484).
    answer = "Answer [sources=[9]] " + "".join(f"sentence {i}. " for i in range(600))
    pieces = [answer[i:i + 60] for i in range(0, len(answer), 60)]
    emulator.enqueue_reply(content=answer, chunks=pieces)
    result = plugin.invoke_llm(MODEL, credentials, [user("search the web")], model_parameters={"web_search": "always"},
                               stream=True)
    assert_daemon_accepts(result, plugin)
    assert text_of(result).startswith(answer.replace(" [sources=[9]]", ""))  # dropped, as at an answer's end
    assert len(result.chunks) >= len(pieces) - 5
    assert max(len(c["delta"]["message"]["content"]) for c in result.chunks) < 400


@BOTH
def test_an_answer_full_of_unclosed_markers_and_tags_is_read_once_not_over_and_over(plugin, credentials, emulator,
                                                                                   stream):
    # Each "[sources=[" (and "<img") was read on to the answer's end: 40,000 of them in one answer
    # took over 100 s of the process's CPU, stalling every other workspace.
    answer = "[sources=[1 " * 40_000 + "<img " * 40_000 + "конец"
    emulator.enqueue_reply(content=answer)
    result = plugin.invoke_llm(MODEL, credentials, [user("Повтори шаблон")], model_parameters={"web_search": "auto"},
                               stream=stream, timeout=30)
    assert_daemon_accepts(result, plugin)
    assert text_of(result) == answer


@pytest.mark.parametrize("parameters", [{}, {"image_generation": True}], ids=["v1", "v2"])
def test_a_later_turn_carrying_the_generated_image_back_still_works(plugin, credentials, emulator, parameters):
    first = plugin.invoke_llm(MODEL, credentials, [user("Draw an icon")], model_parameters={"image_generation": True})
    image = images_of(first)[0]
    history = [user("Draw an icon"), message("assistant", [{"type": "text", "data": "Here you are."}, image]),
               user("Thanks! What colour is it mostly?")]
    result = plugin.invoke_llm(MODEL, credentials, history, model_parameters=parameters, stream=True)
    assert result.ok, result.error


# ---- code interpreter ------------------------------------------------------------------------------


@BOTH
def test_code_interpreter_answer_shows_the_code_and_its_output(plugin, credentials, emulator, stream):
    result = plugin.invoke_llm(MODEL, credentials, [user("Calculate the sum of the first 20 prime numbers. Use code.")],
                               model_parameters={"code_interpreter": True}, stream=stream)
    assert_daemon_accepts(result, plugin)
    assert sent_v2(emulator)["tools"] == [{"code_interpreter": {}}]
    text = text_of(result)
    code = re.search(r"```python\n(.*?)\n```", text, re.S)
    assert code and "primes" in code.group(1) and "print(sum(primes))" in code.group(1)
    assert re.search(r"Output:\n\n```\n639\n```", text)
    assert text.rstrip().endswith("The sum of the first 20 prime numbers is 639.")


# ---- Dify tools with built-in tools (agent loop) ------------------------------------------------------------


@BOTH
def test_agent_loop_mixes_a_dify_tool_with_web_search_and_keeps_the_tool_state(plugin, credentials, emulator, stream):
    history = [user("Search the web for today's weather in Moscow, then call get_weather.")]
    params = {"web_search": "auto"}
    first = plugin.invoke_llm(MODEL, credentials, history, model_parameters=params, tools=[WEATHER], stream=stream)
    assert_daemon_accepts(first, plugin)
    calls = [tc for c in first.chunks for tc in c["delta"]["message"]["tool_calls"]]
    assert len(calls) == 1 and calls[0]["function"]["name"] == "get-weather"
    assert json.loads(calls[0]["function"]["arguments"])["city"]
    text = text_of(first)
    assert "Sources:" in text and "[sources=" not in text  # the search is not lost beside the tool call
    sent = sent_v2(emulator)
    assert {"web_search": {"type": "actual_info_web_search"}} in sent["tools"]
    assert sent["tools"][0]["functions"]["specifications"][0]["name"] == "get_weather"
    state_id = calls[0]["id"].removeprefix("gcfs_")
    assert state_id != calls[0]["id"]

    history += [assistant(text, tool_calls=calls), tool_result(calls[0]["id"], "Sunny, +21")]
    second = plugin.invoke_llm(MODEL, credentials, history, model_parameters=params, tools=[WEATHER], stream=stream)
    assert_daemon_accepts(second, plugin)
    assert "Sunny, +21" in text_of(second)
    echoed = sent_v2(emulator)["messages"]
    call_msg = next(m for m in echoed if any("function_call" in p for p in m["content"]))
    result_msg = next(m for m in echoed if m["role"] == "tool")
    assert call_msg["tools_state_id"] == result_msg["tools_state_id"] == state_id
    assert result_msg["content"] == [{"function_result": {"name": "get_weather", "result": {"result": "Sunny, +21"}}}]


# ---- refusals, usage, schemas ---------------------------------------------------------------------


@pytest.mark.parametrize(("parameters", "tool_name", "label"), [
    ({"web_search": "auto"}, "web_search", "Web search"),
    ({"image_generation": True}, "image_generate", "Image generation"),
    ({"code_interpreter": True}, "code_interpreter", "Code interpreter"),
])
@BOTH
def test_a_tool_the_host_does_not_offer_is_explained_with_the_switch_to_turn_off(
        plugin, credentials, emulator, parameters, tool_name, label, stream):
    emulator.refuse(tool_name, model=MODEL)
    result = plugin.invoke_llm(MODEL, credentials, [user("q")], model_parameters=parameters, stream=stream)
    assert result.error_type == "InvokeBadRequestError"
    assert f"'{label}'" in result.error_message and "Turn off" in result.error_message
    assert plugin.invoke_llm(MODEL, credentials, [user("q")], stream=stream).ok  # the switch off: it works


@pytest.mark.parametrize(("status", "message", "says"), [
    (422, "Tool code_interpreter is unavailable", "to this account or model"),  # the account lacks it
    (404, "Unknown tool code_interpreter", "on this host"),  # the host does not know it
], ids=["unavailable-422", "unknown-404"])
@BOTH
def test_the_live_refusals_of_a_tool_name_its_switch(plugin, credentials, emulator, status, message, says, stream):
    # Sept 2026 on api.giga.chat (GIGACHAT_API.md); the 404 was told "No such model ... Check the model name".
    emulator.refuse("code_interpreter", model=MODEL, status=status, message=message)
    result = plugin.invoke_llm(MODEL, credentials, [user("run it")], model_parameters={"code_interpreter": True},
                               stream=stream)
    assert result.error_type == "InvokeBadRequestError"
    assert "Turn off 'Code interpreter'" in result.error_message and says in result.error_message
    assert f"{status}: {message}" in result.error_message and "model name" not in result.error_message
    assert len(v2_requests(emulator)) == 1  # a refusal is not repeated


def test_v2_cached_prompt_tokens_reach_the_usage_report(plugin, credentials, emulator):
    long_system = message("system", "You are the research assistant of ACME. " * 40)
    params = {"code_interpreter": True}
    turn1 = [long_system, user("compute 2+2 with code")]
    r1 = plugin.invoke_llm(MODEL, credentials, turn1, model_parameters=params, conversation_id="conv-v2")
    turn2 = turn1 + [assistant(text_of(r1)), user("and now 3+3 with code")]
    r2 = plugin.invoke_llm(MODEL, credentials, turn2, model_parameters=params, conversation_id="conv-v2")
    report = r2.chunks[-1]["delta"]["message"]["opaque_body"]["gigachat"]
    assert report["precached_prompt_tokens"] > 100
    assert report["model_version"].startswith(MODEL + ":")


@pytest.mark.parametrize("model", ["GigaChat-3-Ultra", "GigaChat-2-Max"])
def test_models_documented_with_the_tools_offer_the_switches(plugin, credentials, model):
    rules = {r["name"]: r for r in plugin.model_schema(model, "llm", credentials).chunks[-1]["model_schema"]["parameter_rules"]}
    assert rules["web_search"]["options"] == ["off", "auto", "always"] and rules["web_search"]["default"] == "off"
    assert rules["image_generation"]["type"] == "boolean" and rules["image_generation"]["default"] is False
    assert rules["code_interpreter"]["type"] == "boolean"
    assert rules["web_search"]["label"]["zh_Hans"] and rules["code_interpreter"]["help"]["en_US"]


def test_customizable_model_offers_exactly_the_tools_its_form_enables(plugin, credentials):
    custom = dict(credentials, context_size="32768", max_tokens="4096", web_search_tool="support",
                  code_interpreter_tool="support")
    schema = plugin.model_schema("GigaChat-2-Max-preview", "llm", custom).chunks[-1]["model_schema"]
    names = {r["name"] for r in schema["parameter_rules"]}
    assert {"web_search", "code_interpreter"} <= names and "image_generation" not in names
    plain = plugin.model_schema("GigaChat-2-Max-preview", "llm", dict(credentials, context_size="32768", max_tokens="4096"))
    assert not {"web_search", "image_generation", "code_interpreter"} & {
        r["name"] for r in plain.chunks[-1]["model_schema"]["parameter_rules"]}


@BOTH
def test_several_large_images_each_fit_their_line(plugin, credentials, emulator, stream):
    """Streaming: one image per chunk, so both fit; blocking: one line for the whole answer, so the
    second image that would overflow it becomes a note."""
    ids = [emulator._files.add(f"{i}.jpg", make_jpeg(f"big {i}", padding=2 * 1024 * 1024), "general", "image/jpeg")
           for i in range(2)]
    emulator.enqueue_reply(content="".join(f'<img src="{i}" fuse="true"/>' for i in ids))
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("draw two")], stream=stream)
    assert_daemon_accepts(result, plugin)
    assert len(images_of(result)) == (2 if stream else 1)
    if stream:
        assert all(sum(i["type"] == "image" for i in c) <= 1 for c in contents(result) if isinstance(c, list))
    else:
        assert "too large" in text_of(result)


@BOTH
def test_structured_output_works_beside_a_built_in_tool_on_v2(plugin, credentials, emulator, stream):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
              "required": ["answer", "n"]}
    params = {"web_search": "auto", "response_format": "json_schema",
              "json_schema": json.dumps({"name": "llm_response", "schema": schema})}
    result = plugin.invoke_llm(MODEL, credentials, [user("Search the news and answer in JSON")],
                               model_parameters=params, stream=stream)
    assert_daemon_accepts(result, plugin)
    answer = json.loads(text_of(result))
    assert isinstance(answer["answer"], str) and isinstance(answer["n"], int)
    assert sent_v2(emulator)["model_options"]["response_format"]["type"] == "json_schema"



def test_a_generated_image_sent_back_as_a_user_file_is_not_uploaded_again(plugin, credentials, emulator):
    first = plugin.invoke_llm("GigaChat-2-Max", credentials, [user("Draw a lighthouse")],
                              model_parameters={"image_generation": True})
    image = images_of(first)[0]
    file_id = [r.path for r in emulator.log if r.path.endswith("/content")][-1].split("/")[2]
    emulator.clear_log()
    msg = user([{"type": "text", "data": "Describe this picture", "base64_data": "", "url": "", "format": "",
                 "mime_type": "", "detail": "", "filename": ""}, {**image, "filename": "lighthouse.jpg"}])
    result = plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=True)
    assert result.ok, result.error
    assert not [r for r in emulator.log if r.method == "POST" and r.path == "/files"]
    assert f"Attachment {file_id} " in text_of(result)  # GigaChat's own id for the image it made
