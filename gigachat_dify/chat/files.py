"""Images, documents and audio for GigaChat: checked against its limits, uploaded once, attached by id.

GigaChat takes files only as ids from its files API. Each distinct file (by content hash) is
uploaded once per credentials and the id reused, so a conversation that repeats an image in
every turn's history does not upload it again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx
from dify_plugin.errors.model import InvokeBadRequestError

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# Public GigaChat limits (docs, Oct 2025).
IMAGE_TYPES = {"jpeg": "image/jpeg", "jpg": "image/jpeg", "png": "image/png", "tiff": "image/tiff",
               "tif": "image/tiff", "bmp": "image/bmp"}
DOCUMENT_TYPES = {
    "txt": "text/plain", "pdf": "application/pdf", "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "epub": "application/epub+zip", "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# Audio: the MIME types of the files API reference (Oct 2025): mp3 is "audio/mp3", ogg "audio/x-ogg".
AUDIO_TYPES = {"mp3": "audio/mp3", "m4a": "audio/x-m4a", "wav": "audio/wav", "ogg": "audio/x-ogg",
               "opus": "audio/opus", "mp4": "audio/mp4", "weba": "audio/webm"}
_AUDIO_MIMES = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/x-m4a": "m4a", "audio/m4a": "m4a",
                "audio/mp4": "mp4", "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
                "audio/ogg": "ogg", "audio/x-ogg": "ogg", "audio/opus": "opus", "audio/webm": "weba"}
IMAGE_MAX_BYTES = 15 * MB
DOCUMENT_MAX_BYTES = 40 * MB
AUDIO_MAX_BYTES = 35 * MB
#: Images and audio of one request together must stay under this (public docs, Oct 2025).
MEDIA_PER_REQUEST_MAX_BYTES = 80 * MB
DOWNLOAD_TIMEOUT = 30.0
DOWNLOAD_CHUNK = 256 * 1024
_MIME_TO_EXT = {v: k for k, v in {**IMAGE_TYPES, **DOCUMENT_TYPES}.items()}
_MIME_TO_EXT["image/jpeg"] = "jpg"
_MIME_TO_EXT.update(_AUDIO_MIMES)


@dataclass(frozen=True)
class FilePayload:
    kind: str  # "image" | "document" | "audio"
    filename: str
    mime: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _ext(part) -> str:
    fmt = (getattr(part, "format", "") or "").lower().lstrip(".")
    if fmt:
        return fmt
    mime = (getattr(part, "mime_type", "") or "").lower()
    if mime in _MIME_TO_EXT:
        return _MIME_TO_EXT[mime]
    name = getattr(part, "filename", "") or ""
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def file_kind(part) -> str:
    t = str(getattr(part, "type", "")).rsplit(".", 1)[-1].lower()
    return "image" if t == "image" else "document" if t == "document" else t


#: The model feature (YAML ``features``, Dify's ModelFeature values) that lets a model take each kind.
FEATURE_OF_KIND = {"image": "vision", "document": "document", "audio": "audio", "video": "video"}
_FORM_SWITCH = {"image": "Accepts images (vision)", "document": "Accepts documents", "audio": "Accepts audio"}
_PLURAL = {"image": "images", "document": "documents", "audio": "audio files", "video": "videos"}


def accepted_kinds(features) -> frozenset[str]:
    """The file kinds a model takes, from its declared features (enum members or their values)."""
    values = {getattr(f, "value", f) for f in features or ()}
    return frozenset(kind for kind, feature in FEATURE_OF_KIND.items() if feature in values)


def unaccepted(part, accepts: frozenset[str]) -> str | None:
    """THE rule "this model takes no files of this kind": the refusal message, or None when the
    model takes the file. Which models do is read from their YAML declarations."""
    kind = file_kind(part)
    if kind in accepts:
        return None
    from gigachat_dify.chat.catalogue import models_with  # local: files.py stays free of YAML at import

    name = getattr(part, "filename", "") or getattr(part, "mime_type", "") or kind
    plural = _PLURAL.get(kind, f"{kind} files")
    models = models_with(FEATURE_OF_KIND.get(kind, kind))
    if models:
        switch = _FORM_SWITCH.get(kind)
        custom = f", or turn on '{switch}' in a customizable model's settings" if switch else ""
        advice = f"Choose a model that does ({', '.join(models)}){custom}; otherwise remove the {kind}."
    else:
        advice = (f"No GigaChat model of this plugin takes {plural}: remove the {kind}, or turn it into text "
                  "first (for example with a speech-to-text tool) and send the text.")
    return f"This model does not support {plural}: the request contains a {kind} ({name}). {advice}"


def check_type(part) -> tuple[str, str, str]:
    """(kind, extension, mime) or a clear error naming the accepted types."""
    kind, ext = file_kind(part), _ext(part)
    table = {"image": IMAGE_TYPES, "document": DOCUMENT_TYPES, "audio": AUDIO_TYPES}.get(kind)
    if table is None:
        raise InvokeBadRequestError(
            f"GigaChat cannot take {kind} content here; remove the {kind} file or describe it in text."
        )
    if ext not in table:
        accepted = ", ".join(sorted(set(table) - {"jpg", "tif"}))
        raise InvokeBadRequestError(
            f"GigaChat does not accept {ext or 'this'} {kind}s; accepted {kind} types: {accepted}. Convert the file first."
        )
    return kind, ext, table[ext]


def max_bytes(kind: str) -> int:
    """THE size limit of one file of this kind."""
    return {"image": IMAGE_MAX_BYTES, "audio": AUDIO_MAX_BYTES}.get(kind, DOCUMENT_MAX_BYTES)


def too_large(kind: str, size: str) -> InvokeBadRequestError:
    """The refusal of a file over its kind's limit; `size` as known ("16.2 MB", "more than 15 MB")."""
    return InvokeBadRequestError(
        f"The {kind} is {size}; GigaChat accepts {kind}s up to {max_bytes(kind) // MB} MB. Use a smaller file."
    )


def load(part, *, fetch: Callable[[str], bytes] | None = None) -> FilePayload:
    """Read an image/document/audio content part (base64 or URL) and check it against GigaChat's
    limits. A URL is downloaded by `download` (no further than the limit), or by `fetch` (tests)."""
    kind, ext, mime = check_type(part)
    raw_b64 = getattr(part, "base64_data", "") or ""
    url = getattr(part, "url", "") or ""
    if raw_b64:
        if raw_b64.startswith("data:"):
            raw_b64 = raw_b64.split(",", 1)[-1]
        try:
            data = base64.b64decode(raw_b64, validate=False)
        except (binascii.Error, ValueError):
            raise InvokeBadRequestError(f"The {kind} could not be read: its base64 data is damaged. Upload it again.") from None
    elif url.startswith("data:"):
        try:
            data = base64.b64decode(url.split(",", 1)[-1])
        except (binascii.Error, ValueError):
            raise InvokeBadRequestError(f"The {kind} data URL is damaged. Upload the file again.") from None
    elif url:
        data = fetch(url) if fetch is not None else download(url, kind)
    else:
        raise InvokeBadRequestError(f"The {kind} has neither data nor a URL; upload it again.")
    if len(data) > max_bytes(kind):
        raise too_large(kind, f"{len(data) / MB:.1f} MB")
    if not data:
        raise InvokeBadRequestError(f"The {kind} is empty; upload it again.")
    name = getattr(part, "filename", "") or f"{kind}.{ext}"
    if "." not in name:
        name = f"{name}.{ext}"
    return FilePayload(kind=kind, filename=name, mime=mime, data=data)


def _base64_size(text: str) -> int:
    """Bytes a base64 text decodes to, without decoding it."""
    text = text.split(",", 1)[-1] if text.startswith("data:") else text
    n = len(text) - text.count("\n") - text.count("\r")
    return max(0, n * 3 // 4 - text[-2:].count("="))


def check_request_media(prompt_messages) -> None:
    """Images and audio of one request must stay under 80 MB together: checked before anything is
    uploaded or sent (files Dify passes by URL are counted by the API itself)."""
    total = 0
    for m in prompt_messages:
        content = getattr(m, "content", None)
        for part in content if isinstance(content, list) else ():
            if file_kind(part) in ("image", "audio"):
                url = getattr(part, "url", "") or ""
                total += _base64_size(getattr(part, "base64_data", "") or (url if url.startswith("data:") else ""))
    if total > MEDIA_PER_REQUEST_MAX_BYTES:
        raise InvokeBadRequestError(
            f"The request carries {total / MB:.1f} MB of images and audio; GigaChat accepts at most "
            f"{MEDIA_PER_REQUEST_MAX_BYTES // MB} MB of them per request (including files earlier in the "
            "conversation). Send smaller or fewer files, or shorten the conversation memory."
        )


def download(url: str, kind: str) -> bytes:
    """A file Dify passes by URL, streamed and read no further than its kind's limit: a declared
    Content-Length over it is refused before the body is read, a body that runs past it (chunked,
    or decompressing to more) as soon as it does. An oversized file is never held whole: a 300 MB
    image took the process from 71 to 629 MiB when it was read before its size was checked."""
    limit = max_bytes(kind)
    try:
        # Asked unpacked; a body packed anyway is unpacked here a piece at a time (httpx unpacks
        # each piece read whole: 64 KiB of gzip can be 64 MB).
        with httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as client, \
                client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
            response.raise_for_status()
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large(kind, f"{int(declared) / MB:.1f} MB")
            body = io.BytesIO()  # getvalue() hands its buffer over without a second copy
            for chunk in _unpacked(response.iter_raw(DOWNLOAD_CHUNK), response.headers.get("Content-Encoding", ""),
                                   url, kind):
                body.write(chunk)
                if body.tell() > limit:
                    raise too_large(kind, f"more than {limit // MB} MB")
            return body.getvalue()
    except (httpx.HTTPError, zlib.error) as exc:
        raise InvokeBadRequestError(
            f"The file at {httpx.URL(url).host} could not be downloaded ({type(exc).__name__.replace('Error', ' error')}). "
            "Check Dify's FILES_URL is reachable from the plugin, or send files as base64 (MULTIMODAL_SEND_FORMAT=base64)."
        ) from None


def _unpacked(raw: Iterable[bytes], encoding: str, url: str, kind: str) -> Iterator[bytes]:
    """A body's bytes as its Content-Encoding packed them, unpacked at most DOWNLOAD_CHUNK at a time."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from raw
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise InvokeBadRequestError(
            f"The {kind} at {httpx.URL(url).host} came packed as '{encoding}', which the plugin does not unpack. "
            "Send files as base64 (MULTIMODAL_SEND_FORMAT=base64), or serve them unpacked."
        )
    unpacker = zlib.decompressobj(wbits=47)  # gzip or zlib, told apart by their header
    for piece in raw:
        while piece:
            yield unpacker.decompress(piece, DOWNLOAD_CHUNK)
            piece = unpacker.unconsumed_tail
    yield unpacker.flush()  # at most what the last piece left in its window


class UploadCache:
    """content hash -> GigaChat file id, per credentials; concurrent uploads of one file happen once."""

    def __init__(self, max_entries: int = 2048):
        self._ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._inflight: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get_or_upload(self, fingerprint: str, payload: FilePayload, upload: Callable[[FilePayload], str]) -> str:
        key = (fingerprint, payload.sha256)
        with self._lock:
            if key in self._ids:
                self._ids.move_to_end(key)
                return self._ids[key]
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._ids:
                    return self._ids[key]
            file_id = upload(payload)
            with self._lock:
                self._ids[key] = file_id
                self._inflight.pop(key, None)
                while len(self._ids) > self.max_entries:
                    self._ids.popitem(last=False)
            logger.info("uploaded a %s of %d bytes to GigaChat", payload.kind, len(payload.data))
            return file_id

    def forget(self, fingerprint: str, file_id: str) -> None:
        with self._lock:
            for key in [k for k, v in self._ids.items() if k[0] == fingerprint and v == file_id]:
                del self._ids[key]

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


UPLOADS = UploadCache()
