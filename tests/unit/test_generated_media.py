"""Generated files -> image content items (gigachat_dify/chat/media.py) and how the shared assembler
puts them into Dify chunks (gigachat_dify/chat/assembly.py)."""

import base64

import httpx
import pytest
from dify_plugin.entities.model.llm import LLMUsage
from dify_plugin.entities.model.message import ImagePromptMessageContent, TextPromptMessageContent
from gigachat.exceptions import NotFoundError
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.v2_images import make_jpeg
from gigachat_dify.chat.assembly import Assembler, message_content, to_result
from gigachat_dify.chat.media import IMAGE_BUDGET, FileRef, Images, TagScanner
from tests.unit.test_holdback import joined

JPEG = make_jpeg("unit test image")
# File ids as GigaChat issues them (UUIDs); nothing else is ever downloaded.
F1, C2, V3, F7, F9 = (f"{n:08x}-6c1e-4d3b-9f2a-1b2c3d4e5f60" for n in (1, 2, 3, 7, 9))
A, B, C = (f"0000000{x}-6c1e-4d3b-9f2a-1b2c3d4e5f60" for x in "abc")
TEXT = f'Look: <img src="{F1}" fuse="true"/> and <video cover="{C2}" src="{V3}" fuse="true"/> done <b>bold</b> a<b'


def scan(pieces):
    scanner = TagScanner()
    return joined([p for piece in pieces for p in scanner.feed(piece)] + scanner.feed("", final=True))


def test_tags_become_file_refs_in_answer_order():
    assert scan([TEXT]) == ["Look: ", FileRef("image", F1), " and ",
                            FileRef("video", V3, "video/mp4", C2), " done <b>bold</b> a<b"]


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(0, len(TEXT)), max_size=6))
def test_tags_split_across_chunks_are_found_the_same(cuts):
    points = sorted(set(cuts))
    assert scan([TEXT[a:b] for a, b in zip([0, *points], [*points, len(TEXT)], strict=True)]) == scan([TEXT])


def test_an_unclosed_tag_is_text_at_the_end_and_after_a_long_wait():
    assert scan(['<img src="x" fuse="tr']) == ['<img src="x" fuse="tr']
    scanner = TagScanner()
    assert scanner.feed("<img ") == []
    assert "".join(scanner.feed("x" * 600)) == "<img " + "x" * 600  # not a tag: not held forever


HTML_ANSWERS = [
    'Вставьте <img src="cat.png" alt="кот"/> в страницу.',
    "```html\n<img src=\"https://example.com/cat.png\">\n<video src=\"a.mp4\" controls></video>\n```",
    '<img src="../../models" fuse="true"/>',
    '<img src="/api/v1/files/x" fuse="true"/>',
    f'<img src="{F1}"/>',  # no fuse: not GigaChat's
    f'<IMG SRC="{F1}" FUSE="TRUE"/>',
    f'<img src="{F1}x" fuse="true"/>',
    f'<img src="{F1}" fuse="false"/>',
    f'<video src="{V3}" fuse="true"/>',
]


@pytest.mark.parametrize("text", HTML_ANSWERS)
def test_tags_that_are_not_gigachats_own_pass_unchanged(text):
    assert scan([text]) == [text]
    assert scan(list(text)) == [text]  # also when every character comes alone


def test_only_a_file_id_of_gigachats_form_is_ever_downloaded():
    asked = []
    shown = Images(lambda file_id: asked.append(file_id) or "").pieces(FileRef("image", "../../models"))
    assert asked == [] and "not downloaded" in shown[0] and "models" not in shown[0]
    Images(lambda file_id: asked.append(file_id) or "").pieces(FileRef("video", V3, "video/mp4", "../x"))
    assert asked == []


def images(data=JPEG, **kw):
    return Images(lambda file_id: base64.b64encode(data).decode(), **kw)


def test_an_image_becomes_an_item_with_its_bytes_and_a_one_line_note():
    item, note = images().pieces(FileRef("image", F1, "image/jpeg"))
    assert isinstance(item, ImagePromptMessageContent)
    assert base64.b64decode(item.base64_data) == JPEG and item.url == "" and item.mime_type == "image/jpeg"
    assert note.strip().startswith("[GigaChat generated an image") and note.count("\n") <= 4


def test_the_mime_type_is_read_from_the_bytes():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    item = images(png).pieces(FileRef("image", F1, "image/jpeg"))[0]
    assert item.mime_type == "image/png" and item.format == "png"


def test_a_video_shows_its_cover_and_says_what_it_is():
    note, cover = images().pieces(FileRef("video", V3, "video/mp4", C2))
    assert "video" in note and V3 in note and isinstance(cover, ImagePromptMessageContent)


def test_an_image_too_large_for_a_protocol_line_is_a_note():
    big = images(b"\xff\xd8\xff" + bytes(IMAGE_BUDGET))
    (note,) = big.pieces(FileRef("image", F9))
    assert "too large" in note and F9 in note


def test_in_a_blocking_answer_images_share_one_line_budget():
    half = bytes(IMAGE_BUDGET * 3 // 8 - 100)  # base64: just under half the budget
    shared = images(half, cumulative=True)
    assert isinstance(shared.pieces(FileRef("image", A))[0], ImagePromptMessageContent)
    assert isinstance(shared.pieces(FileRef("image", B))[0], ImagePromptMessageContent)
    assert "beside the images before it" in shared.pieces(FileRef("image", C))[0]
    apart = images(half)  # streaming: each image has a line of its own
    assert all(isinstance(apart.pieces(FileRef("image", x))[0], ImagePromptMessageContent) for x in (A, B, C))


@pytest.mark.parametrize("failure", [
    NotFoundError("https://h/api/v1/files/x/content", 404, b'{"status":404,"message":"File not found"}', None),
    httpx.ConnectError("refused"),
])
def test_a_download_that_fails_is_explained_not_raised(failure):
    def download(file_id):
        raise failure
    (note,) = Images(download).pieces(FileRef("image", F7))
    assert "could not be downloaded" in note and F7 in note and "Error" not in note


def test_damaged_or_empty_data_is_explained():
    assert "damaged" in Images(lambda f: "***")._image(F1, "image/jpeg", what="an image")[0]
    assert "empty" in Images(lambda f: "")._image(F1, "image/jpeg", what="an image")[0]


def test_a_generated_image_is_remembered_for_a_later_upload():
    seen = []
    images(remember=lambda *a: seen.append(a)).pieces(FileRef("image", F1))
    assert seen == [(F1, JPEG, "image/jpeg")]


# ---- the assembler -----------------------------------------------------------------------------


def asm(stop=None, **kw):
    return Assembler("GigaChat-2", stop=stop, images=images(**kw))


def contents(chunks):
    return [c.delta.message.content for c in chunks]


def test_a_chunk_with_an_image_is_a_list_of_content_items_and_others_stay_strings():
    a = asm()
    out = a.add(content=f'Here <img src="{F1}" fuse="true"/> it is')
    assert len(out) == 1
    kinds = [type(i).__name__ for i in out[0].delta.message.content]
    assert kinds == ["TextPromptMessageContent", "ImagePromptMessageContent", "TextPromptMessageContent"]
    assert out[0].delta.message.content[0].data == "Here "
    assert isinstance(a.add(content="plain")[0].delta.message.content, str)


def test_each_image_gets_a_chunk_of_its_own():
    a = asm()
    out = a.add(content=f'<img src="{A}" fuse="true"/><img src="{B}" fuse="true"/><img src="{C}" fuse="true"/>')
    counts = [sum(isinstance(i, ImagePromptMessageContent) for i in c) for c in contents(out)]
    assert counts == [1, 1, 1]


def test_a_v2_file_part_is_shown_like_a_tag():
    a = asm()
    out = a.add(files=[FileRef("image", F1)])
    assert isinstance(contents(out)[0][0], ImagePromptMessageContent)


def test_a_tag_held_at_the_end_is_released_by_flush():
    a = asm()
    shown = a.add(content=f'ok <img src="{F1}" fuse="true"')
    assert '<img' not in "".join(contents(shown))  # held: the tag may still close
    flushed = a.flush()
    final = a.finish(LLMUsage.empty_usage())
    assert "".join(contents([*shown, *flushed, final])) == f'ok <img src="{F1}" fuse="true"'  # never closed: text


def test_a_stop_word_before_an_image_drops_the_image():
    a = asm(stop=["STOP"])
    out = a.add(content=f'one STOP two <img src="{F1}" fuse="true"/>')
    assert contents(out) == ["one "] and a.stopped_by_stop_word


def test_the_blocking_result_keeps_text_and_images_in_order():
    a = asm(cumulative=True)
    chunks = [*a.add(content="A "), *a.add(content=f'<img src="{F1}" fuse="true"/>'), *a.add(content=" B"), *a.flush()]
    result = to_result("m", [*chunks, a.finish(LLMUsage.empty_usage())])
    content = result.message.content
    assert isinstance(content[0], TextPromptMessageContent) and content[0].data == "A "
    assert isinstance(content[1], ImagePromptMessageContent)
    assert content[-1].data.endswith(" B")


BLOCKING_ANSWERS = [
    ["plain text"],
    ["A ", f'<img src="{F1}" fuse="true"/>', " B"],
    [f'<img src="{F1}" fuse="true"/><img src="{F7}" fuse="true"/>', "", " after"],
    ["one STOP two ", f'<img src="{F9}" fuse="true"/>'],
    ["held at the end <img src=", f'"{F1}" fuse="tr'],
    [""],
]


@pytest.mark.parametrize("pieces", BLOCKING_ANSWERS)
def test_a_collecting_assembler_gives_the_blocking_result_that_chunks_give(pieces):
    def result(collect: bool):
        a = Assembler("GigaChat-2", stop=["STOP"], images=images(cumulative=True), collect=collect)
        chunks = [c for piece in pieces for c in a.add(content=piece)] + a.flush()
        if collect:
            assert chunks == []  # nothing made a chunk: the pieces wait in a.collected
        return to_result("m", [*chunks, a.finish(LLMUsage.empty_usage())], a.collected or ())

    assert result(collect=True) == result(collect=False)


def test_message_content_is_a_string_when_it_is_all_text():
    assert message_content(["a", "", "b"]) == "ab"
    assert message_content([]) == ""


def test_an_answer_read_as_data_gets_its_images_without_notes_and_no_tool_activity():
    a = Assembler("GigaChat-2", images=images(notes=False), data=True)
    out = a.add(content=f'<img src="{F1}" fuse="true"/>{{"a": 1}}') + a.add(literal="\n\nCode run by GigaChat: ...\n")
    out += [*a.flush(), a.finish(LLMUsage.empty_usage())]
    texts = [c.delta.message.get_text_content() for c in out]
    items = [i for c in out if isinstance(c.delta.message.content, list) for i in c.delta.message.content
             if not isinstance(i, TextPromptMessageContent)]
    assert "".join(texts) == '{"a": 1}'
    assert [type(i).__name__ for i in items] == ["ImagePromptMessageContent"]


def test_without_notes_an_image_that_cannot_be_shown_leaves_no_text():
    def download(file_id):
        raise httpx.ConnectError("refused")
    assert Images(download, notes=False).pieces(FileRef("image", F7)) == []
