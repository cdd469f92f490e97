"""The emulator's v2 contract beyond the recordings: validation, built-in tools, named SSE events,
generated image bytes, refusals, caching, attachments, faults; and v1's built-in text2image."""

import hashlib
import json

import gigachat.exceptions as gx
import httpx
import pytest

from emulator.v2 import run_code
from emulator.v2_images import make_jpeg

from .conftest import SHARED_SSL, get_token, make_client

PATH = "/api/v2/chat/completions"
MODEL = "GigaChat-3-Ultra"


@pytest.fixture
def v2(emu):
    with httpx.Client(base_url=emu.origin, headers={"Authorization": f"Bearer {get_token(emu)}"}, timeout=10,
                      verify=SHARED_SSL) as c:
        yield lambda body, **kw: c.post(PATH, json=body, **kw)


def ask(text: str, **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def events(response) -> list[tuple[str, dict]]:
    out, name = [], None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"model": "GigaChat-Imaginary", "messages": [{"role": "user", "content": [{"text": "q"}]}]}, 404, "No such model"),
    ({"model": MODEL, "messages": []}, 422, "messages must not be empty"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "q"}]}, 422, "must be a list of content parts"),
    ({"model": MODEL, "messages": [{"role": "robot", "content": [{"text": "q"}]}]}, 422, "role must be one of"),
    (ask("q", model_options={"temperature": 0}), 422, "temperature must be in range (0, +inf)"),
    (ask("q", model_options={"response_format": {"type": "regex", "regex": "("}}), 422, "regex is not a valid regular expression"),
    (ask("q", tools=[{"web_search": {}, "image_generate": {}}]), 422, "must name exactly one tool"),
    (ask("q", tools=[{"functions": {"specifications": [{"name": "f", "parameters": {"anyOf": []}}]}}]), 422,
     "functions[0].parameters.anyOf: anyOf is not supported"),
    (ask("q", tools=[{"code_interpreter": {}}], tool_config={"mode": "forced", "tool_name": "web_search"}), 422,
     "tool_name 'web_search' is not among the tools"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"files": [{"id": "nope"}]}]}]}, 400,
     "file nope not found"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"text": "q"}]},
                                   {"role": "assistant", "content": [{"function_call": {"name": "f", "arguments": {}}}]}]},
     422, "every assistant function call must have a result"),
])
def test_requests_the_api_rejects_get_its_status_and_message(v2, body, status, message):
    r = v2(body)
    assert r.status_code == status and message in r.json()["message"] and r.json()["status"] == status


def test_wrong_method_on_the_v2_path_is_405(emu):
    assert httpx.get(emu.origin + PATH, verify=SHARED_SSL).status_code == 405


def test_without_a_token_it_is_401(emu):
    assert httpx.post(emu.origin + PATH, json=ask("q"), verify=SHARED_SSL).status_code == 401


def test_a_stream_is_named_events_without_done(v2):
    r = v2(ask("Count from 1 to 30", stream=True))
    assert r.headers["content-type"] == "text/event-stream" and "[DONE]" not in r.text
    names = [n for n, _ in events(r)]
    assert names[-1] == "response.message.done" and set(names[:-1]) == {"response.message.delta"} and len(names) > 3
    done = events(r)[-1][1]
    assert done["finish_reason"] == "stop" and set(done["usage"]) == {"input_tokens", "input_tokens_details",
                                                                      "output_tokens", "total_tokens"}
    text = "".join(p["text"] for _, d in events(r)[:-1] for m in d["messages"] for p in m["content"])
    assert text == "Echo: Count from 1 to 30"


def test_web_search_sources_come_with_the_first_text_delta(v2):
    r = v2(ask("latest news?", tools=[{"web_search": {"type": "actual_info_web_search"}}], stream=True))
    deltas = [d for n, d in events(r) if n == "response.message.delta"]
    first = deltas[0]["messages"][0]
    assert first["tool_state_id"] and set(first["content"][0]["inline_data"]["sources"]) == {"1", "2"}
    text = "".join(p["text"] for d in deltas for p in d["messages"][0]["content"])
    assert "[sources=[1]]" in text and "[sources=[2]]" in text
    assert events(r)[-1][1]["usage"]["input_tokens"] > 2000  # search results enter the prompt


def test_auto_mode_searches_only_when_asked_and_never_with_tool_config_none(v2):
    tools = [{"web_search": {}}]
    assert "inline_data" not in v2(ask("hello", tools=tools)).json()["messages"][0]["content"][0]
    assert "inline_data" in v2(ask("search for it", tools=tools)).json()["messages"][0]["content"][0]
    none = v2(ask("search for it", tools=tools, tool_config={"mode": "none"})).json()
    assert "inline_data" not in none["messages"][0]["content"][0]


def test_generated_image_is_a_real_jpeg_served_by_the_files_api(emu, v2):
    answer = v2(ask("Draw a fox", tools=[{"image_generate": {}}])).json()
    (file,) = answer["messages"][0]["content"][0]["files"]
    assert file["mime"] == "image/jpeg" and file["target"] == "image"
    client = make_client(emu)
    data = __import__("base64").b64decode(client.get_image(file["id"]).content)
    assert data == make_jpeg("Draw a fox") and data[:3] == b"\xff\xd8\xff" and data.endswith(b"\xff\xd9")
    sof = data.index(b"\xff\xc0")
    assert data[sof + 5:sof + 9] == b"\x00\x40\x00\x40"  # 64 x 64 pixels
    assert make_jpeg("Draw a cat") != data


def test_image_stream_reports_the_tool_then_the_file(v2):
    r = v2(ask("draw a fox", tools=[{"image_generate": {}}], stream=True))
    first_name, first = events(r)[0]
    assert first_name == "response.tool.completed"
    assert first["messages"][0]["content"][0]["tool_execution"] == {"name": "image_generate", "status": "success",
                                                                    "censored": False}
    assert any("files" in p for _, d in events(r)[1:-1] for m in d.get("messages", []) for p in m["content"])


def test_code_interpreter_blocking_answer_is_the_final_text_as_recorded_and_the_stream_shows_the_code(v2):
    body = ask("Calculate the sum of the first 20 prime numbers. Use code.", tools=[{"code_interpreter": {}}],
               tool_config={"mode": "auto"})
    blocking = v2(body).json()
    assert blocking["messages"][0]["content"] == [{"text": "The sum of the first 20 prime numbers is 639."}]
    name, tool_event = events(v2({**body, "stream": True}))[0]
    assert name == "response.tool.completed"
    parts = tool_event["messages"][0]["content"]
    assert tool_event["messages"][0]["role"] == "reasoning"
    assert "primes" in parts[0]["function_call"]["arguments"]["code"]
    assert parts[1]["function_result"] == {"name": "code_interpreter", "result": {"stdout": "639\n", "stderr": ""}}


def test_the_code_the_emulator_shows_computes_what_it_reports():
    code, output, _ = run_code("sum of the first 7 prime numbers")
    printed = []
    exec(code, {"print": lambda v: printed.append(str(v))})  # noqa: S102 - our own generated code
    assert printed == [output.strip()] == ["58"]


def test_a_function_named_in_the_question_is_called_beside_the_search(v2):
    spec = {"name": "get_weather", "description": "w", "parameters": {"type": "object",
                                                                        "properties": {"city": {"type": "string"}},
                                                                        "required": ["city"]}}
    answer = v2(ask("search the web and call get_weather", tools=[{"functions": {"specifications": [spec]}},
                                                                  {"web_search": {}}])).json()
    parts = answer["messages"][0]["content"]
    assert "inline_data" in parts[0] and parts[1]["function_call"]["name"] == "get_weather"
    assert answer["finish_reason"] == "function_call" and answer["messages"][0]["tool_state_id"]


@pytest.mark.parametrize("tool", ["web_search", "image_generate", "code_interpreter", "url_content_extraction"])
def test_a_refused_tool_is_refused_for_that_model_only(emu, v2, tool):
    emu.refuse(tool, model=MODEL)
    r = v2(ask("q", tools=[{tool: {}}]))
    assert r.status_code == 422 and tool in r.json()["message"]
    assert v2({**ask("q", tools=[{tool: {}}]), "model": "GigaChat-2-Max"}).status_code == 200
    assert v2(ask("q")).status_code == 200


def test_attachments_are_echoed_with_their_digest_and_audio_can_be_refused(emu, v2):
    client = make_client(emu)
    sound = b"ID3" + bytes(100)
    file_id = client.upload_file(("q.mp3", sound, "audio/mp3")).id_
    body = {"model": MODEL, "messages": [{"role": "user", "content": [{"files": [{"id": file_id}]}, {"text": "hear"}]}]}
    text = v2(body).json()["messages"][0]["content"][0]["text"]
    assert f"sha256={hashlib.sha256(sound).hexdigest()}" in text and "audio/mp3" in text
    emu.refuse("audio", model=MODEL)
    assert "audio" in v2(body).json()["message"]


def test_cached_tokens_count_the_prefix_repeated_in_a_session(v2):
    headers = {"X-Session-ID": "s-1"}
    first = ask("a long stable question " * 20)
    assert v2(first, headers=headers).json()["usage"]["input_tokens_details"]["cached_tokens"] == 0
    second = {**first, "messages": first["messages"] + [{"role": "assistant", "content": [{"text": "ok"}]},
                                                      {"role": "user", "content": [{"text": "more"}]}]}
    assert v2(second, headers=headers).json()["usage"]["input_tokens_details"]["cached_tokens"] > 80


def test_scripted_replies_and_the_token_limit_work_on_v2(emu, v2):
    emu.enqueue_reply(content="scripted words here", usage={"precached_prompt_tokens": 5})
    answer = v2(ask("q")).json()
    assert answer["messages"][0]["content"] == [{"text": "scripted words here"}]
    assert answer["usage"]["input_tokens_details"]["cached_tokens"] == 5
    cut = v2(ask("many words in this question", model_options={"max_tokens": 2})).json()
    assert cut["finish_reason"] == "length"


def test_faults_and_the_concurrency_cap_apply_to_v2(emu):
    client = make_client(emu, model=MODEL)
    emu.faults.inject(status=503, count=1, path=PATH)
    with pytest.raises(gx.ServerError):
        client.chat.create(ask("q"))
    assert client.chat.create(ask("q")).messages
    assert emu.stats.faults["status:503"] == 1


def test_v1_text2image_answers_with_an_img_tag_and_serves_the_jpeg(emu):
    client = make_client(emu)
    answer = client.chat({"model": "GigaChat-2", "function_call": "auto",
                          "messages": [{"role": "user", "content": "Нарисуй кота"}]})
    content = answer.choices[0].message.content
    file_id = content.split('src="', 1)[1].split('"', 1)[0]
    assert content.startswith(f'<img src="{file_id}" fuse="true"/>')
    assert emu.files[file_id].data == make_jpeg("Нарисуй кота") and emu.files[file_id].mime == "image/jpeg"
    plain = client.chat({"model": "GigaChat-2", "messages": [{"role": "user", "content": "Нарисуй кота"}]})
    assert "<img" not in plain.choices[0].message.content  # without function_call auto there is no drawing


def test_images_and_audio_of_one_v2_request_must_stay_under_80_mb_as_on_v1(emu, v2):
    mb = 1024 * 1024
    a1 = emu._files.add("a1.mp3", b"\0" * (35 * mb), "general", "audio/mpeg")
    a2 = emu._files.add("a2.mp3", b"\0" * (35 * mb), "general", "audio/mpeg")
    img = emu._files.add("i.png", b"\0" * (10 * mb - 1), "general", "image/png")
    body = {"model": MODEL, "messages": [
        {"role": "user", "content": [{"files": [{"id": a1}]}, {"text": "one"}]},
        {"role": "user", "content": [{"files": [{"id": a2}, {"id": img}]}, {"text": "two"}]}]}
    assert v2(body).status_code == 200
    emu._files.files[img] = emu._files.files[img]._replace(data=b"\0" * (10 * mb))  # exactly 80 MB now
    over = v2(body)
    assert over.status_code == 413
    assert over.json()["message"] == "Attachments are too large: images and audio of one request must be under 80 MB"
