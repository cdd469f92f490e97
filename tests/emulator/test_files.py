import pytest

from emulator.files import IMAGE_LIMIT, check_upload, parse_multipart, resolve_mime
from emulator.errors import ApiError


def upload(api, name, data, mime=None, purpose="general"):
    file = (name, data, mime) if mime else (name, data)
    return api.post("/files", files={"file": file}, data={"purpose": purpose})


def test_upload_returns_the_uploaded_file_shape(api, emu):
    r = upload(api, "doc.docx", b"PK\x03\x04...", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "file" and body["bytes"] == 7 and body["access_policy"] == "private"
    assert emu.files[body["id"]].filename == "doc.docx"


def test_type_comes_from_extension_when_sent_as_octet_stream(api, emu):
    r = upload(api, "song.mp3", b"ID3....", "application/octet-stream")
    assert r.status_code == 200
    assert emu.files[r.json()["id"]].mime == "audio/mpeg"


def test_unsupported_type_is_400(api):
    r = upload(api, "archive.zip", b"PK..", "application/zip")
    assert r.status_code == 400
    assert r.json() == {"status": 400, "message": "Unsupported file type: application/zip (archive.zip)"}


def test_image_over_15_mb_is_413(api):
    r = upload(api, "big.png", b"\0" * (IMAGE_LIMIT + 1), "image/png")
    assert r.status_code == 413
    assert r.json()["status"] == 413 and "15 MB" in r.json()["message"]
    assert upload(api, "ok.png", b"\0" * IMAGE_LIMIT, "image/png").status_code == 200


def test_purpose_must_be_general_or_assistant(api):
    assert upload(api, "a.txt", b"x", "text/plain", purpose="assistant").status_code == 200
    r = upload(api, "a.txt", b"x", "text/plain", purpose="training")
    assert r.status_code == 422 and r.json()["message"] == "Invalid params: purpose must be one of: general, assistant"


def test_missing_file_part_and_unknown_ids(api):
    r = api.post("/files", files={"other": ("a.txt", b"x")}, data={"purpose": "general"})
    assert r.status_code == 400
    assert api.get("/files/nope").json() == {"status": 404, "message": "File not found"}
    assert api.post("/files/nope/delete").status_code == 404


def test_non_ascii_filenames_survive(api, emu):
    r = upload(api, "отчёт.pdf", b"%PDF", "application/pdf")
    assert r.json()["filename"] == "отчёт.pdf"


@pytest.mark.parametrize(
    "size,mime,status",
    [(40 * 1024 * 1024 + 1, "application/pdf", 413), (35 * 1024 * 1024 + 1, "audio/wav", 413), (35 * 1024 * 1024, "audio/wav", None)],
)
def test_size_limits_per_kind(size, mime, status):
    if status is None:
        check_upload("f", mime, size, "general")
    else:
        with pytest.raises(ApiError) as err:
            check_upload("f", mime, size, "general")
        assert err.value.status == status


def test_parse_multipart_handles_quotes_and_rfc5987():
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename*=utf-8\'\'%D1%84.txt\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="purpose"\r\n\r\ngeneral\r\n--XyZ--\r\n'
    )
    parts = parse_multipart('multipart/form-data; boundary="XyZ"', body)
    assert parts[0].filename == "ф.txt" and parts[0].data == b"hello" and parts[0].content_type == "text/plain"
    assert parts[1].name == "purpose" and parts[1].data == b"general"
    with pytest.raises(ApiError):
        parse_multipart("application/json", b"{}")


def test_resolve_mime():
    assert resolve_mime("a.JPG", None) == "image/jpeg"
    assert resolve_mime("a.bin", "image/png; charset=x") == "image/png"
    assert resolve_mime("noext", None) == "application/octet-stream"


# ---- audio attachments on v1 user messages ---------------------------------------------------------

MB = 1024 * 1024


def chat_with(api, file_ids, model="GigaChat-2-Max", role="user"):
    return api.post("/chat/completions", json={"model": model, "messages": [
        {"role": role, "content": "listen", "attachments": file_ids}]})


@pytest.mark.parametrize("name,declared,mime", [("voice.mp3", "audio/mpeg", "audio/mpeg"), ("memo.ogg", None, "audio/ogg"),
                                                ("clip.m4a", "application/octet-stream", "audio/x-m4a"),
                                                ("note.wav", "audio/wav", "audio/wav"), ("talk.opus", "application/octet-stream", "audio/opus")])
def test_audio_attachments_reach_the_model(api, emu, name, declared, mime):
    up = upload(api, name, b"RIFF....WAVEfmt audio bytes", declared)
    assert up.status_code == 200 and emu.files[up.json()["id"]].mime == mime
    r = chat_with(api, [up.json()["id"]])
    assert r.status_code == 200, r.text
    first, last = r.json()["choices"][0]["message"]["content"].split("\n")
    assert first.startswith(f"Attachment {up.json()['id']} {name} {mime} 27 bytes sha256=")
    assert last == "Echo: listen"


def test_audio_over_35_mb_is_refused_at_upload(api):
    r = upload(api, "long.mp3", b"\0" * (35 * MB + 1), "audio/mpeg")
    assert r.status_code == 413 and "35 MB" in r.json()["message"]


def test_a_host_can_refuse_audio_for_one_model(api, emu):
    audio = upload(api, "voice.mp3", b"ID3 audio", "audio/mpeg").json()["id"]
    image = upload(api, "pic.png", b"\x89PNG....", "image/png").json()["id"]
    emu.refuse("audio", model="GigaChat-2")
    refused = chat_with(api, [audio], model="GigaChat-2")
    assert refused.status_code == 422
    assert refused.json() == {"status": 422, "message": "Invalid params: audio files are not supported for model GigaChat-2"}
    assert chat_with(api, [image], model="GigaChat-2").status_code == 200  # images are not audio
    assert chat_with(api, [audio], model="GigaChat-2-Max").status_code == 200  # another model still takes it
    emu.reset()
    assert chat_with(api, [audio], model="GigaChat-2").status_code == 200


def test_audio_is_allowed_only_in_user_messages(api):
    audio = upload(api, "voice.mp3", b"ID3 audio", "audio/mpeg").json()["id"]
    r = chat_with(api, [audio], role="assistant")
    assert r.status_code == 422 and "only in user messages" in r.json()["message"]


def test_images_and_audio_of_one_request_must_stay_under_80_mb(api, emu):
    # stored directly: the rule under test is the chat request's total, not the upload
    a1 = emu._files.add("a1.mp3", b"\0" * (35 * MB), "general", "audio/mpeg")
    a2 = emu._files.add("a2.mp3", b"\0" * (35 * MB), "general", "audio/mpeg")
    img = emu._files.add("i.png", b"\0" * (10 * MB - 1), "general", "image/png")
    doc = emu._files.add("d.pdf", b"\0" * (40 * MB), "general", "application/pdf")
    messages = [{"role": "user", "content": "one", "attachments": [a1]},
                {"role": "user", "content": "two", "attachments": [a2, img, doc]}]  # documents do not count
    ok = api.post("/chat/completions", json={"model": "GigaChat-2-Max", "messages": messages})
    assert ok.status_code == 200, ok.text
    emu._files.files[img] = emu._files.files[img]._replace(data=b"\0" * (10 * MB))  # exactly 80 MB now
    over = api.post("/chat/completions", json={"model": "GigaChat-2-Max", "messages": messages})
    assert over.status_code == 413
    assert over.json()["message"] == "Attachments are too large: images and audio of one request must be under 80 MB"
