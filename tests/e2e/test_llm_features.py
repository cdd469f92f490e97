"""Images, documents, structured output, stop words, reasoning and prompt caching, end to end."""

import base64
import hashlib
import json
import struct
import threading
import zlib

import jsonschema
import pytest

from tests.support.daemon import assistant, collect_text, document_part, image_part, system, text_part, user
from tests.support.net import file_service


def png(width: int, height: int, rgb=(200, 30, 30)) -> bytes:
    """A real PNG image (so nothing here depends on a fixture file)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def uploads(emulator) -> int:
    return sum(1 for r in emulator.log if r.method == "POST" and r.path == "/files")


def test_image_question_is_answered_with_the_image_provably_attached(plugin, credentials, emulator):
    image = png(16, 16)
    msg = user([text_part("What is in this picture?"), image_part(base64.b64encode(image).decode(), filename="red.png")])
    result = plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=True)
    assert result.ok, result.error
    # the emulator describes each attachment it received, with the sha256 of the bytes it stored
    assert f"sha256={hashlib.sha256(image).hexdigest()}" in collect_text(result)
    assert uploads(emulator) == 1
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json["messages"]
    assert len(sent[-1]["attachments"]) == 1

    # the next turn repeats the image in history: it is not uploaded again
    follow = [msg, assistant(collect_text(result)), user("And its colour?")]
    assert plugin.invoke_llm("GigaChat-2-Max", credentials, follow, stream=False).ok
    assert uploads(emulator) == 1


def test_two_images_in_one_message_each_reach_the_model(plugin, credentials, emulator):
    a, b = png(8, 8, (1, 2, 3)), png(8, 8, (4, 5, 6))
    msg = user([image_part(base64.b64encode(a).decode(), filename="a.png"),
                image_part(base64.b64encode(b).decode(), filename="b.png"), text_part("Compare them")])
    result = plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=False)
    assert result.ok, result.error  # GigaChat allows one image per message: the plugin splits the message
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json["messages"]
    assert sum(len(m.get("attachments") or []) for m in sent) == 2


def test_image_sent_to_a_model_without_vision_is_refused_before_any_request(plugin, credentials, emulator):
    msg = user([text_part("look"), image_part(base64.b64encode(png(4, 4)).decode())])
    result = plugin.invoke_llm("GigaChat-2", credentials, [msg], stream=True)
    assert result.error_type == "InvokeBadRequestError"
    assert "GigaChat-2-Max" in result.error_message
    assert not [r for r in emulator.log if r.path in ("/files", "/chat/completions")]


def test_image_sent_to_a_documents_only_model_is_refused_not_uploaded(plugin, credentials, emulator):
    msg = user([text_part("look"), image_part(base64.b64encode(png(4, 4)).decode())])
    result = plugin.invoke_llm("GigaChat-2-Pro", credentials, [msg], stream=False)
    assert result.error_type == "InvokeBadRequestError"
    assert "does not support images" in result.error_message
    assert uploads(emulator) == 0


def test_too_many_images_are_refused_with_the_limit(plugin, credentials, emulator):
    parts = [image_part(base64.b64encode(png(2, 2, (i, i, i))).decode(), filename=f"{i}.png") for i in range(11)]
    result = plugin.invoke_llm("GigaChat-2-Max", credentials, [user(parts)], stream=False)
    assert result.error_type == "InvokeBadRequestError"
    assert "10" in result.error_message
    assert uploads(emulator) == 0


def test_unsupported_image_type_names_the_accepted_types(plugin, credentials):
    part = image_part(base64.b64encode(b"GIF89a....").decode(), fmt="gif", mime="image/gif", filename="x.gif")
    result = plugin.invoke_llm("GigaChat-2-Max", credentials, [user([part])], stream=False)
    assert result.error_type == "InvokeBadRequestError"
    assert "png" in result.error_message and "jpeg" in result.error_message


def test_document_reaches_the_model(plugin, credentials, emulator):
    doc = b"Quarterly report: revenue grew 12%."
    msg = user([text_part("Summarise the file"),
                document_part(base64.b64encode(doc).decode(), fmt="txt", mime="text/plain", filename="report.txt")])
    result = plugin.invoke_llm("GigaChat-2-Pro", credentials, [msg], stream=True)
    assert result.ok, result.error
    assert f"sha256={hashlib.sha256(doc).hexdigest()}" in collect_text(result)


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["answer", "n", "tags"], "additionalProperties": False}


@pytest.mark.parametrize("stream", [False, True], ids=["blocking", "streaming"])
def test_structured_output_is_valid_json_for_the_schema(plugin, credentials, emulator, stream):
    params = {"response_format": "json_schema", "json_schema": json.dumps({"name": "out", "schema": SCHEMA})}
    result = plugin.invoke_llm("GigaChat-3-Ultra", credentials, [user("Give me the answer")],
                               model_parameters=params, stream=stream)
    assert result.ok, result.error
    jsonschema.validate(json.loads(collect_text(result)), SCHEMA)
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json
    assert sent["response_format"]["type"] == "json_schema"


def test_stop_word_split_across_chunks_cuts_the_answer(plugin, credentials, emulator):
    emulator.enqueue_reply(content="Answer: 42\nObservation: should not be seen", chunks=[
        "Answer: 42\nObs", "erva", "tion: should not", " be seen"])
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("q")], stop=["Observation:"], stream=True)
    assert result.ok, result.error
    assert collect_text(result) == "Answer: 42\n"
    assert result.chunks[-1]["delta"]["finish_reason"] == "stop"


def test_stop_word_applies_to_blocking_answers_too(plugin, credentials, emulator):
    emulator.enqueue_reply(content="one two STOP three")
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("q")], stop=["STOP"], stream=False)
    assert collect_text(result) == "one two "


def test_thousands_of_long_stop_words_still_cut_the_answer_without_stalling_other_requests(plugin, credentials,
                                                                                          emulator):
    # Every prefix of every stop word went into one pattern, rebuilt per request: 500 stop words of
    # 200 characters took 20 s of the process's CPU, and a plain request meanwhile 15.5 s.
    stop = [f"{i:05d}" + "x" * 195 for i in range(2000)]
    answer = "Answer: 42 " + stop[1234] + " not to be seen"
    emulator.enqueue_reply(content=answer, chunks=[answer[:14], answer[14:100], answer[100:]])
    results = {}
    worker = threading.Thread(target=lambda: results.update(
        stopped=plugin.invoke_llm("GigaChat-2", credentials, [user("q")], stop=stop, stream=True, timeout=20)))
    worker.start()
    plain = plugin.invoke_llm("GigaChat-2", credentials, [user("unrelated")], stream=True, timeout=20)
    worker.join()
    assert plain.ok, plain.error
    assert results["stopped"].ok, results["stopped"].error
    assert collect_text(results["stopped"]) == "Answer: 42 "


def test_reasoning_is_shown_as_a_think_block(plugin, credentials, emulator):
    emulator.enqueue_reply(content="Ответ: 4", reasoning_content="2+2 is 4.", chunks=["Отв", "ет: 4"])
    result = plugin.invoke_llm("GigaChat-3-Ultra", credentials, [user("2+2?")], stream=True,
                               model_parameters={"reasoning_effort": "high"})
    assert collect_text(result) == "<think>\n2+2 is 4.\n</think>\nОтвет: 4"
    assert [r for r in emulator.log if r.path == "/chat/completions"][-1].json["reasoning_effort"] == "high"


def test_truncated_answer_reports_length(plugin, credentials):
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("a long question with many many words")],
                               model_parameters={"max_tokens": 2}, stream=True)
    assert result.chunks[-1]["delta"]["finish_reason"] == "length"


def test_second_turn_of_a_conversation_is_billed_from_the_prompt_cache(plugin, credentials, emulator):
    long_system = system("You are the support bot of ACME. " * 40)
    turn1 = [long_system, user("first question")]
    r1 = plugin.invoke_llm("GigaChat-2", credentials, turn1, stream=True, conversation_id="conv-42")
    turn2 = turn1 + [assistant(collect_text(r1)), user("second question")]
    r2 = plugin.invoke_llm("GigaChat-2", credentials, turn2, stream=True, conversation_id="conv-42")
    sessions = [r.headers.get("X-Session-ID") for r in emulator.log if r.path == "/chat/completions"]
    assert sessions[0] and sessions[0] == sessions[1]
    assert "conv-42" not in sessions[0]  # Dify's ids never leave: a one-way derivation
    report = r2.chunks[-1]["delta"]["message"]["opaque_body"]["gigachat"]
    assert report["precached_prompt_tokens"] > 100
    other = plugin.invoke_llm("GigaChat-2", credentials, turn1, stream=False, conversation_id="conv-43")
    assert other.ok
    assert [r.headers.get("X-Session-ID") for r in emulator.log if r.path == "/chat/completions"][-1] != sessions[0]


def test_two_accounts_with_the_same_system_prompt_or_conversation_never_share_a_session(plugin, credentials, emulator):
    # issue 17 item 9: the session id hashed only the prompt, so two accounts shared one (and, if
    # GigaChat's prompt cache is not scoped by account, one another's cached prompts)
    from emulator import B2B_KEY

    other = {**credentials, "authorization_key": B2B_KEY, "scope": "GIGACHAT_API_B2B"}
    prompt = [system("You are the support bot of ACME. Answer briefly."), user("q")]
    for creds in (credentials, other, credentials):
        assert plugin.invoke_llm("GigaChat-2", creds, prompt, stream=False).ok
    for creds in (credentials, other, credentials):
        assert plugin.invoke_llm("GigaChat-2", creds, prompt, stream=True, conversation_id="conv-7").ok
    chats = [r for r in emulator.log if r.path == "/chat/completions"]
    assert len({r.client_id for r in chats}) == 2
    by_prompt, by_conversation = [r.headers.get("X-Session-ID") for r in chats[:3]], [r.headers.get("X-Session-ID") for r in chats[3:]]
    # one account: the same id every time (the prompt cache works); two accounts: two ids
    assert by_prompt[0] == by_prompt[2] and by_prompt[1] not in (by_prompt[0], None)
    assert by_conversation[0] == by_conversation[2] and by_conversation[1] not in (by_conversation[0], None)
    assert by_conversation[0] != by_prompt[0]


def test_temperature_zero_is_sent_as_greedy_decoding_not_rejected(plugin, credentials, emulator):
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("q")], model_parameters={"temperature": 0}, stream=False)
    assert result.ok, result.error
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json
    assert "temperature" not in sent and sent["top_p"] < 0.01


def test_declared_parameters_reach_the_api_with_gigachat_names(plugin, credentials, emulator):
    params = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "repetition_penalty": 1.1, "profanity_check": True}
    assert plugin.invoke_llm("GigaChat-2", credentials, [user("q")], model_parameters=params, stream=True).ok
    sent = [r for r in emulator.log if r.path == "/chat/completions"][-1].json
    assert {k: sent[k] for k in params} == params


def test_image_given_as_a_url_is_downloaded_and_attached(plugin, credentials, emulator):
    image = png(10, 10, (9, 9, 9))
    with file_service(lambda: [image], {"Content-Type": "image/png", "Content-Length": str(len(image))}) as files:
        msg = user([text_part("describe"), image_part(url=files.url)])
        result = plugin.invoke_llm("GigaChat-2-Max", credentials, [msg], stream=False)
    assert result.ok, result.error
    assert hashlib.sha256(image).hexdigest() in collect_text(result)
