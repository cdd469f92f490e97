"""Files Dify passes by URL (MULTIMODAL_SEND_FORMAT=url), through Dify's stdio protocol (issue 17
item 7): a file over its kind's limit is refused with a message naming the limit, without the
plugin ever holding it: a declared Content-Length over the limit before the body is read, a body
without one as soon as it runs past the limit. Served by a local file service from a generated
body (never stored); the plugin's peak resident memory is read from /proc."""

import zlib
from pathlib import Path

import pytest

from tests.support.daemon import collect_text, image_part, text_part, user
from tests.support.net import MB, file_service, generated
from tests.support.tenants import peak_rss_bytes

LARGE = 300 * MB
MODEL = "GigaChat-2-Max"  # takes images

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc (Linux)")


def _ask_about(plugin, credentials, url):
    return plugin.invoke_llm(MODEL, credentials, [user([text_part("describe"), image_part(url=url)])], stream=True)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_an_image_url_over_the_limit_is_refused_naming_it_without_holding_the_file(
        fresh_plugin, credentials, emulator, declared):
    pid = fresh_plugin.proc.pid
    with file_service(generated(MB), {"Content-Type": "image/png"}) as small:  # the download path, warmed
        warm = _ask_about(fresh_plugin, credentials, small.url)
    assert warm.ok, warm.error
    before = peak_rss_bytes(pid)
    headers = {"Content-Type": "image/png", **({"Content-Length": str(LARGE)} if declared else {})}
    with file_service(generated(LARGE), headers) as large:
        result = _ask_about(fresh_plugin, credentials, large.url)
    grown = peak_rss_bytes(pid) - before
    print(f"\npeak resident memory {before / MB:.0f} -> {(before + grown) / MB:.0f} MiB, {large.sent / MB:.1f} MB sent")
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "GigaChat accepts images up to 15 MB" in result.error_message
    # a declared size is refused as declared, before the body; an undeclared one once past the limit
    assert ("is 300.0 MB" if declared else "is more than 15 MB") in result.error_message
    assert large.sent < LARGE // 4, "the plugin read on after the limit"
    assert grown < 32 * MB, f"the peak grew by {grown / MB:.0f} MiB"
    assert emulator.stats.requests["POST /files"] == 1  # the small image only
    after = fresh_plugin.invoke_llm(MODEL, credentials, [user("still there?")], stream=True)
    assert collect_text(after) == "Echo: still there?"


def _gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # the gzip format
    zeros = bytes(MB)
    return b"".join(packer.compress(zeros) for _ in range(size // MB)) + packer.flush()


def test_a_compressed_body_that_unpacks_past_the_limit_is_refused_without_unpacking_it(
        fresh_plugin, credentials, emulator):
    # 1 MB on the wire, 1,000 MB unpacked: httpx unpacked each piece read whole before the size was
    # checked (the peak grew by ~250 MiB, over the manifest's 256).
    pid = fresh_plugin.proc.pid
    small = _gzip_of_zeros(MB)  # a packed file within the limit is unpacked and sent whole
    with file_service(lambda: iter([small]), {"Content-Type": "image/png", "Content-Encoding": "gzip"}) as packed:
        assert _ask_about(fresh_plugin, credentials, packed.url).ok
    assert [f.data for f in emulator.files.values()][-1] == bytes(MB)
    before = peak_rss_bytes(pid)
    body = _gzip_of_zeros(1000 * MB)
    with file_service(lambda: iter([body]), {"Content-Type": "image/png", "Content-Encoding": "gzip"}) as packed:
        result = _ask_about(fresh_plugin, credentials, packed.url)
    grown = peak_rss_bytes(pid) - before
    assert result.error_type == "InvokeBadRequestError", result.error
    assert "GigaChat accepts images up to 15 MB" in result.error_message
    assert grown < 32 * MB, f"the peak grew by {grown / MB:.0f} MiB"
