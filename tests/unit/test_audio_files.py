"""Audio attachments (gigachat_dify/chat/files.py) and the switches of customizable models."""

import base64

import pytest
from dify_plugin.entities.model import ModelFeature
from dify_plugin.entities.model.message import AudioPromptMessageContent, ImagePromptMessageContent, UserPromptMessage
from dify_plugin.errors.model import InvokeBadRequestError
from hypothesis import given
from hypothesis import strategies as st

from gigachat_dify.chat import files
from gigachat_dify.chat.custom_models import llm_entity

MB = files.MB


def audio(data: bytes = b"ID3", fmt="mp3", mime="audio/mpeg", url="", filename="a.mp3"):
    return AudioPromptMessageContent(format=fmt, mime_type=mime, base64_data=base64.b64encode(data).decode() if data else "",
                                     url=url, filename=filename)


@pytest.mark.parametrize(("fmt", "mime", "sent"), [
    ("mp3", "audio/mpeg", "audio/mp3"), ("m4a", "audio/x-m4a", "audio/x-m4a"), ("wav", "audio/wav", "audio/wav"),
    ("ogg", "audio/ogg", "audio/x-ogg"), ("opus", "audio/opus", "audio/opus"), ("mp4", "audio/mp4", "audio/mp4"),
    ("weba", "audio/webm", "audio/webm"), ("", "audio/mpeg", "audio/mp3"),
])
def test_every_documented_audio_type_is_uploaded_with_the_files_api_mime_type(fmt, mime, sent):
    payload = files.load(audio(fmt=fmt, mime=mime, filename="voice"))
    assert (payload.kind, payload.mime) == ("audio", sent) and payload.filename.startswith("voice.")


def test_an_audio_type_gigachat_does_not_take_names_the_accepted_ones():
    with pytest.raises(InvokeBadRequestError, match="accepted audio types: .*mp3.*opus"):
        files.load(audio(fmt="flac", mime="audio/flac"))


def test_audio_up_to_35_mb_is_taken_and_beyond_refused():
    assert files.load(audio(bytes(35 * MB))).kind == "audio"
    with pytest.raises(InvokeBadRequestError, match="35 MB"):
        files.load(audio(bytes(35 * MB + 1)))


def test_images_and_audio_of_a_request_are_limited_to_80_mb_together():
    image = ImagePromptMessageContent(format="png", mime_type="image/png", base64_data=base64.b64encode(bytes(10 * MB)).decode())
    history = [UserPromptMessage(content=[audio(bytes(35 * MB)), image]), UserPromptMessage(content=[audio(bytes(35 * MB))])]
    files.check_request_media(history)  # exactly 80 MB is fine
    history.append(UserPromptMessage(content=[audio(b"x")]))
    with pytest.raises(InvokeBadRequestError, match="80 MB"):
        files.check_request_media(history)


def test_files_given_by_url_are_left_to_the_api():
    files.check_request_media([UserPromptMessage(content=[audio(b"", url="https://dify/files/1") for _ in range(100)])])


@given(data=st.binary(max_size=200))
def test_the_size_is_read_from_base64_without_decoding(data):
    text = base64.b64encode(data).decode()
    assert files._base64_size(text) == len(data)
    assert files._base64_size("data:audio/mpeg;base64," + text) == len(data)


def test_customizable_models_get_audio_and_the_tool_switches_from_their_form():
    entity = llm_entity("GigaChat-2-Max-preview", {"audio_support": "support", "image_generation_tool": "support"})
    names = [r.name for r in entity.parameter_rules]
    assert ModelFeature.AUDIO in entity.features
    assert "image_generation" in names and "web_search" not in names and "code_interpreter" not in names
    plain = llm_entity("GigaChat-2-Max-preview", {})
    assert ModelFeature.AUDIO not in plain.features
    assert not {"web_search", "image_generation", "code_interpreter"} & {r.name for r in plain.parameter_rules}
