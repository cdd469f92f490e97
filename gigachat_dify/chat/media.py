"""Files GigaChat generates (images, videos) -> Dify image content items, on both contracts.

GigaChat returns a generated image as a file id: on v2 as a ``files`` content part
(``{"id", "mime": "image/jpeg", "target": "image"}``, recorded June 2026), on v1 as a tag in the
text, ``<img src="<file id>" fuse="true"/>`` (text2image; ``<video cover="<id>" src="<id>"
fuse="true"/>`` likewise, as langchain-gigachat parses them). The bytes come from
``GET /files/{id}/content`` (the SDK's ``get_image``). Dify's LLM node saves an
``ImagePromptMessageContent`` (base64 data, mime type, empty url) as a file and shows it; Dify's
basic chat apps ignore such items, so a one-line note in the text says an image was generated.

Every Dify chunk is one line of the stdio protocol (at most ``protocol.MAX_LINE`` bytes): an image
too large for a line becomes a note instead, and in a blocking answer (one line for everything)
the images share one budget.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from dify_plugin.entities.model.message import ImagePromptMessageContent

from gigachat_dify.chat.holdback import MORE, HoldBack, Token
from gigachat_dify.errors import describe
from gigachat_dify.protocol import MAX_LINE
from gigachat_dify.redaction import redact

logger = logging.getLogger(__name__)

#: Bytes left in a line for the answer's text, tool calls, the item's other fields and the JSON
#: envelope around an image (``protocol.fit_stream`` and ``check_result`` measure the real line).
TEXT_MARGIN = 512 * 1024
#: Bytes of base64 (one byte a character) the images of one line may take.
IMAGE_BUDGET = MAX_LINE - TEXT_MARGIN
MB = 1024 * 1024

#: A file id as GigaChat issues them (a UUID, recorded: "c757a9c5-de04-498f-baa3-efcc54de7853").
#: Nothing else is ever put into a request path.
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
FILE_ID = re.compile(_UUID)
#: GigaChat's own tags, exactly as it writes them (langchain-gigachat reads the same forms); any
#: other <img> or <video> (an answer explaining HTML, a code sample) is text and stays as it is.
_GIGACHAT_TAGS = (
    re.compile(rf'<img\s+src="(?P<src>{_UUID})"\s+fuse="true"\s*/>'),
    re.compile(rf'<video\s+cover="(?P<cover>{_UUID})"\s+src="(?P<src>{_UUID})"\s+fuse="true"\s*/>'),
)
#: A tag start that has not closed within this many characters is ordinary text, streamed or not.
_MAX_TAG = 512


def is_file_id(value: object) -> bool:
    return isinstance(value, str) and FILE_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class FileRef:
    """A file GigaChat generated, named in its answer."""

    kind: str  # "image" | "video"
    file_id: str
    mime: str = "image/jpeg"
    cover_id: str | None = None  # a video's cover image


Piece = str | FileRef


class TagScanner:
    """Finds GigaChat's ``<img .../>`` / ``<video .../>`` tags in streamed text, also when a tag is
    split across chunks; ``feed`` returns text and FileRef pieces in answer order."""

    def __init__(self) -> None:
        self._scanner = HoldBack(("<img", "<video"), _complete_tag)

    def feed(self, text: str, *, final: bool = False) -> list[Piece]:
        pieces = self._scanner.push(text, final=final)
        return [p.value if isinstance(p, Token) else p for p in pieces]


def _complete_tag(text: str, start: int, final: bool):
    end = text.find(">", start, start + _MAX_TAG)  # bounded: an answer of unclosed "<img" is read once
    if end == -1:
        return MORE if not final and len(text) - start < _MAX_TAG else None
    for pattern in _GIGACHAT_TAGS:
        tag = pattern.fullmatch(text, start, end + 1)
        if tag is not None:
            if "cover" in pattern.groupindex:
                return end + 1, FileRef("video", tag["src"], "video/mp4", tag["cover"])
            return end + 1, FileRef("image", tag["src"])
    return None


def sniff_mime(data: bytes, declared: str | None) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return declared or "image/jpeg"


def _format(mime: str) -> str:
    return {"image/jpeg": "jpg", "image/png": "png"}.get(mime, mime.rsplit("/", 1)[-1] or "jpg")


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{max(1, round(n / 1024))} KB"


class Images:
    """Turns FileRefs into what the Dify user sees: image content items and one-line notes.

    ``download(file_id) -> base64 text`` fetches a file (the SDK's ``get_image`` with the retry
    policy); ``remember(file_id, data, mime)`` lets a later request that sends the image back
    reuse the id instead of uploading it. ``cumulative``: one budget for all images (a blocking
    answer is a single protocol line). ``notes``: False for an answer read as data (structured
    output), where text beside the JSON would break it: images only, what went wrong in the log."""

    def __init__(
        self,
        download: Callable[[str], str] | None,
        *,
        remember: Callable[[str, bytes, str], None] | None = None,
        cumulative: bool = False,
        budget: int = IMAGE_BUDGET,
        notes: bool = True,
    ):
        self._download = download
        self._remember = remember
        self._cumulative = cumulative
        self._budget = self._full_budget = budget
        self._notes = notes

    def pieces(self, ref: FileRef) -> list[str | ImagePromptMessageContent]:
        pieces = self._pieces(ref)
        if self._notes:
            return pieces
        for note in (p for p in pieces if isinstance(p, str)):
            logger.info("not shown in a structured answer: %s", note.strip())
        return [p for p in pieces if not isinstance(p, str)]

    def _pieces(self, ref: FileRef) -> list[str | ImagePromptMessageContent]:
        if ref.kind == "video":
            note = (f"[GigaChat generated a video (file {ref.file_id}); Dify cannot show videos returned by a "
                    "model" + ("; its cover image is shown below.]" if ref.cover_id else ".]"))
            shown = self._image(ref.cover_id, "image/jpeg", what="the video's cover", note=False) if ref.cover_id else []
            return ["\n\n" + note + "\n\n", *shown]
        return self._image(ref.file_id, ref.mime, what="an image")

    def _image(self, file_id: str, mime: str, *, what: str, note: bool = True) -> list[str | ImagePromptMessageContent]:
        if not is_file_id(file_id):
            # The id goes into the request path (/files/{id}/content): only GigaChat's own form.
            logger.warning("generated file id of unexpected form (%d characters) not downloaded", len(str(file_id)))
            return [f"\n\n[GigaChat generated {what}, but named it with a file id of a form it does not issue; "
                    "it was not downloaded.]\n\n"]
        if self._download is None:
            return [f"\n\n[GigaChat generated {what} (file {file_id}), which could not be fetched here.]\n\n"]
        try:
            b64 = self._download(file_id)
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            logger.warning("generated file %s is not valid base64", file_id)
            return [f"\n\n[GigaChat generated {what} (file {file_id}), but its data was damaged.]\n\n"]
        except Exception as exc:  # the answer goes on without the image, and says why
            reason = redact(describe(exc)[1])
            logger.warning("generated file %s could not be downloaded: %s", file_id, reason)
            return [f"\n\n[GigaChat generated {what} (file {file_id}), but it could not be downloaded: {reason}]\n\n"]
        if not data:
            return [f"\n\n[GigaChat generated {what} (file {file_id}), but the file is empty.]\n\n"]
        if len(b64) > self._budget:
            logger.warning("generated file %s (%d bytes) exceeds the protocol line budget", file_id, len(data))
            if len(b64) <= self._full_budget:  # it would fit alone: the answer's earlier images fill the line
                why = ("too large to fit in this blocking answer beside the images before it (a streaming call "
                       "shows each image in a message of its own)")
            else:
                why = f"too large to pass through Dify's plugin protocol (at most {_size(self._full_budget * 3 // 4)} per message)"
            return [f"\n\n[GigaChat generated {what} of {_size(len(data))} (file {file_id}): {why}, so it is not shown.]\n\n"]
        if self._cumulative:
            self._budget -= len(b64)
        mime = sniff_mime(data, mime)
        if self._remember is not None:
            try:
                self._remember(file_id, data, mime)
            except Exception:  # a cache miss later only costs an upload
                logger.debug("could not remember generated file %s", file_id, exc_info=True)
        item = ImagePromptMessageContent(format=_format(mime), base64_data=b64, url="", mime_type=mime,
                                         filename=f"gigachat-{file_id[:8]}.{_format(mime)}")
        if not note:
            return [item]
        return [item, f"\n\n[GigaChat generated an image: {_format(mime).upper()}, {_size(len(data))}.]\n\n"]
