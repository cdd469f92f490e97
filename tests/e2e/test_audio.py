"""Audio questions: the file is uploaded through the files API and attached, limits checked first."""

import base64
import hashlib

from tests.support.daemon import message, text_part, user

CUSTOM = "GigaChat-2-Max-preview"


def audio_part(data: bytes, fmt: str = "mp3", mime: str = "audio/mpeg", filename: str = "question.mp3") -> dict:
    return {"type": "audio", "data": "", "base64_data": base64.b64encode(data).decode(), "url": "", "format": fmt,
            "mime_type": mime, "detail": "", "filename": filename}


def audio_model(credentials) -> dict:
    return dict(credentials, context_size="32768", max_tokens="4096", audio_support="support")


def text_of(result) -> str:
    return "".join(c["delta"]["message"]["content"] for c in result.chunks)


def test_audio_question_reaches_gigachat_with_the_file_attached(plugin, credentials, emulator):
    sound = b"ID3\x04\x00" + bytes(range(256)) * 40
    schema = plugin.model_schema(CUSTOM, "llm", audio_model(credentials)).chunks[-1]["model_schema"]
    assert "audio" in schema["features"]
    result = plugin.invoke_llm(CUSTOM, audio_model(credentials), [user([text_part("What is said here?"), audio_part(sound)])])
    assert result.ok, result.error
    # the emulator describes each attachment it received, with the sha256 of the bytes it stored
    assert f"sha256={hashlib.sha256(sound).hexdigest()}" in text_of(result)
    upload = next(r for r in emulator.log if r.method == "POST" and r.path == "/files")
    assert upload.status == 200
    stored = next(f for f in emulator.files.values() if f.data == sound)
    assert stored.mime == "audio/mp3" and stored.filename == "question.mp3"  # the files API's documented type


def test_audio_with_a_built_in_tool_goes_to_v2_as_a_files_part(plugin, credentials, emulator):
    sound = b"OggS" + bytes(300)
    creds = dict(audio_model(credentials), web_search_tool="support")
    result = plugin.invoke_llm(CUSTOM, creds, [user([audio_part(sound, "ogg", "audio/ogg", "a.ogg"), text_part("hello")])],
                               model_parameters={"web_search": "auto"}, stream=False)
    assert result.ok, result.error
    sent = [r for r in emulator.log if r.path == "/api/v2/chat/completions"][-1].json
    parts = sent["messages"][-1]["content"]
    assert parts[0]["files"][0]["id"] in emulator.files and parts[1] == {"text": "hello"}
    assert hashlib.sha256(sound).hexdigest() in text_of(result)


def test_audio_to_a_model_without_audio_is_refused_before_any_request(plugin, credentials, emulator):
    result = plugin.invoke_llm(CUSTOM, dict(credentials, context_size="32768", max_tokens="4096"),
                               [user([text_part("listen"), audio_part(b"ID3" + bytes(10))])])
    assert result.error_type == "InvokeBadRequestError" and "audio" in result.error_message
    assert not [r for r in emulator.log if r.path in ("/files", "/chat/completions")]


def test_audio_over_35_mb_is_refused_before_upload(plugin, credentials, emulator):
    big = bytes(36 * 1024 * 1024)
    result = plugin.invoke_llm(CUSTOM, audio_model(credentials), [user([audio_part(big)])], timeout=120)
    assert result.error_type == "InvokeBadRequestError" and "35 MB" in result.error_message
    assert not [r for r in emulator.log if r.path == "/files"]


def test_images_and_audio_over_80_mb_in_one_request_are_refused_before_upload(plugin, credentials, emulator):
    parts = [audio_part(bytes(30 * 1024 * 1024) + bytes([i]), filename=f"{i}.mp3") for i in range(3)]
    history = [user([text_part("part 1"), parts[0]]), message("assistant", "ok"), user([text_part("rest"), *parts[1:]])]
    result = plugin.invoke_llm(CUSTOM, audio_model(credentials), history, timeout=120)
    assert result.error_type == "InvokeBadRequestError" and "80 MB" in result.error_message
    assert not [r for r in emulator.log if r.path == "/files"]
