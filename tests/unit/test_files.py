import base64
import gzip
import threading
import time
from types import SimpleNamespace

import pytest
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.chat import files
from tests.support.net import closed_port, file_service, generated


def part(kind="image", fmt="png", mime="image/png", data=b"\x89PNG....", url="", filename="a.png"):
    return SimpleNamespace(type=kind, format=fmt, mime_type=mime, base64_data=base64.b64encode(data).decode() if data else "",
                           url=url, filename=filename)


def test_base64_image_is_loaded_with_its_type():
    p = files.load(part())
    assert (p.kind, p.mime, p.filename, p.data) == ("image", "image/png", "a.png", b"\x89PNG....")


def test_data_url_is_accepted():
    p = files.load(part(data=b"", url="data:image/png;base64," + base64.b64encode(b"xyz").decode()))
    assert p.data == b"xyz"


def test_url_is_fetched():
    p = files.load(part(data=b"", url="https://dify.local/files/1"), fetch=lambda url: b"fetched")
    assert p.data == b"fetched"


def test_image_over_15_mb_is_refused_with_the_limit():
    with pytest.raises(InvokeBadRequestError, match="up to 15 MB"):
        files.load(part(data=b"x" * (15 * files.MB + 1)))


def test_document_limit_is_40_mb():
    at_limit = part(kind="document", fmt="pdf", mime="application/pdf", data=b"x" * (40 * files.MB), filename="r.pdf")
    assert len(files.load(at_limit).data) == 40 * files.MB
    over = part(kind="document", fmt="pdf", mime="application/pdf", data=b"x" * (40 * files.MB + 1), filename="r.pdf")
    with pytest.raises(InvokeBadRequestError, match="up to 40 MB"):
        files.load(over)


def test_which_files_a_model_takes_comes_from_its_declared_features():
    from dify_plugin.entities.model import ModelFeature

    from gigachat_dify.chat.catalogue import models_with

    assert files.accepted_kinds([ModelFeature.VISION, ModelFeature.TOOL_CALL]) == {"image"}
    assert files.accepted_kinds(["document"]) == {"document"}
    assert files.accepted_kinds([]) == frozenset()
    assert files.unaccepted(part(), frozenset({"image"})) is None
    refusal = files.unaccepted(part(), frozenset({"document"}))
    # the models named are the YAMLs' own declarations, not names typed into code
    assert "does not support images" in refusal and ", ".join(models_with("vision")) in refusal
    doc = files.unaccepted(part(kind="document", fmt="pdf", filename="r.pdf"), frozenset())
    assert ", ".join(models_with("document")) in doc and "r.pdf" in doc
    assert "speech-to-text" in files.unaccepted(part(kind="audio", fmt="mp3", filename="a.mp3"), frozenset({"image"}))


@pytest.mark.parametrize("kind, fmt", [("image", "gif"), ("image", "webp"), ("document", "xlsx")])
def test_unsupported_types_name_the_accepted_ones(kind, fmt):
    with pytest.raises(InvokeBadRequestError, match="accepted"):
        files.load(part(kind=kind, fmt=fmt, mime=""))


def test_audio_loads_with_the_files_api_mime_type():
    p = files.load(part(kind="audio", fmt="mp3", mime="audio/mpeg", data=b"ID3\x04", filename="q.mp3"))
    assert (p.kind, p.mime, p.filename) == ("audio", "audio/mp3", "q.mp3")


def test_unreachable_url_explains_how_to_fix_dify():
    with pytest.raises(InvokeBadRequestError, match="MULTIMODAL_SEND_FORMAT"):
        files.load(part(data=b"", url="http://127.0.0.1:9/none.png"))


def test_each_distinct_file_uploads_once_even_when_requested_concurrently():
    cache, calls = files.UploadCache(), []

    def upload(payload):
        calls.append(payload.sha256)
        time.sleep(0.05)
        return f"id-{len(calls)}"

    payload = files.load(part())
    ids = []
    threads = [threading.Thread(target=lambda: ids.append(cache.get_or_upload("fp", payload, upload))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [payload.sha256] and set(ids) == {"id-1"}
    assert cache.get_or_upload("other-credentials", payload, upload) == "id-2"  # never shared across accounts


def test_failed_upload_is_not_cached():
    cache = files.UploadCache()
    payload = files.load(part())

    def broken(_):
        raise RuntimeError("network")

    with pytest.raises(RuntimeError):
        cache.get_or_upload("fp", payload, broken)
    assert cache.get_or_upload("fp", payload, lambda _: "ok") == "ok"


# ---- files given by URL: streamed, never read past their kind's limit (issue 17 item 7) ----------

LIMITS = [("image", "png", "image/png", 15), ("audio", "mp3", "audio/mp3", 35), ("document", "pdf", "application/pdf", 40)]


@pytest.mark.parametrize("kind,fmt,mime,limit_mb", LIMITS)
def test_a_url_file_at_its_kinds_limit_is_taken_and_one_byte_more_is_refused_naming_the_limit(kind, fmt, mime, limit_mb):
    limit = limit_mb * files.MB
    assert files.max_bytes(kind) == limit
    url_part = part(kind=kind, fmt=fmt, mime=mime, data=b"", filename=f"f.{fmt}")
    with file_service(generated(limit), {"Content-Type": mime}) as service:
        url_part.url = service.url
        assert len(files.load(url_part).data) == limit
    with file_service(generated(limit + 1), {"Content-Type": mime}) as service:
        url_part.url = service.url
        with pytest.raises(InvokeBadRequestError, match=f"is more than {limit_mb} MB; GigaChat accepts {kind}s up to {limit_mb} MB"):
            files.load(url_part)


def test_a_compressed_body_that_unpacks_past_the_limit_is_refused_while_it_unpacks():
    bomb = gzip.compress(b"\0" * (files.IMAGE_MAX_BYTES + files.MB))  # ~16 KB on the wire
    headers = {"Content-Type": "image/png", "Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
    with file_service(lambda: [bomb], headers) as service:
        with pytest.raises(InvokeBadRequestError, match="is more than 15 MB"):
            files.load(part(data=b"", url=service.url))


def test_a_url_that_fails_says_where_and_what_to_set():
    with pytest.raises(InvokeBadRequestError, match="could not be downloaded .*FILES_URL"):
        files.load(part(data=b"", url=f"http://127.0.0.1:{closed_port()}/files/1"))
