"""Uploaded files: multipart parsing, type and size rules (public docs, Oct 2025), the store."""

from __future__ import annotations

import mimetypes
import re
import threading
import time
import uuid
from typing import NamedTuple
from urllib.parse import unquote

from emulator.errors import ApiError, invalid

MB = 1024 * 1024
IMAGE_LIMIT = 15 * MB
DOCUMENT_LIMIT = 40 * MB
AUDIO_LIMIT = 35 * MB
MEDIA_PER_REQUEST_LIMIT = 80 * MB  # images + audio attached to one chat request

IMAGE_TYPES = {"image/jpeg", "image/png", "image/tiff", "image/bmp"}
DOCUMENT_TYPES = {
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/pdf",
    "application/epub+zip",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
AUDIO_TYPES = {
    "audio/mp4",
    "audio/mpeg",
    "audio/mp3",  # the files API reference (Oct 2025) lists mp3 as audio/mp3 and ogg as audio/x-ogg
    "audio/x-ogg",
    "audio/x-pn-wav",
    "audio/x-m4a",
    "audio/m4a",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/webm",
    "audio/ogg",
    "audio/opus",
}
# Extensions the docs list, for uploads sent as application/octet-stream.
_EXTENSIONS = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "tif": "image/tiff", "tiff": "image/tiff",
    "bmp": "image/bmp", "txt": "text/plain", "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf", "epub": "application/epub+zip", "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "mp4": "audio/mp4", "mp3": "audio/mpeg", "m4a": "audio/x-m4a", "wav": "audio/wav", "weba": "audio/webm",
    "ogg": "audio/ogg", "opus": "audio/opus",
}  # fmt: skip


def kind_of(mime: str) -> str | None:
    """"image" | "document" | "audio" | None (unsupported)."""
    if mime in IMAGE_TYPES:
        return "image"
    if mime in DOCUMENT_TYPES:
        return "document"
    if mime in AUDIO_TYPES:
        return "audio"
    return None


def resolve_mime(filename: str, declared: str | None) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _EXTENSIONS.get(ext) or mimetypes.guess_type(filename)[0] or "application/octet-stream"


def check_upload(filename: str, mime: str, size: int, purpose: str) -> None:
    """Raise ApiError unless the upload is acceptable.

    Unsupported types get 400: the public error list has no 415, and 400 is its status for
    malformed requests. Oversized files get 413, the documented status for that."""
    if purpose not in ("general", "assistant"):
        raise invalid("purpose must be one of: general, assistant")
    kind = kind_of(mime)
    if kind is None:
        raise ApiError(400, f"Unsupported file type: {mime} ({filename})")
    limit = {"image": IMAGE_LIMIT, "document": DOCUMENT_LIMIT, "audio": AUDIO_LIMIT}[kind]
    if size > limit:
        raise ApiError(413, f"File is too large: {size} bytes, the limit for {kind} files is {limit // MB} MB")
    if size == 0:
        raise invalid("file is empty")


class Part(NamedTuple):
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


_PARAM = re.compile(r';\s*([\w*]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """multipart/form-data parts (enough for what httpx and browsers send). ApiError 400 if malformed."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise ApiError(400, "Expected a multipart/form-data body")
    delimiter = b"--" + match.group(1).encode()
    parts: list[Part] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Malformed multipart body")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        params = {k.lower(): _unquote(v) for k, v in _PARAM.findall(";" + headers.get("content-disposition", "").partition(";")[2])}
        filename = params.get("filename")
        if "filename*" in params:  # RFC 5987: utf-8''name
            filename = unquote(params["filename*"].split("''", 1)[-1])
        parts.append(Part(params.get("name", ""), filename, headers.get("content-type"), data))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value.replace("%22", '"')


class StoredFile(NamedTuple):
    filename: str
    data: bytes
    purpose: str
    mime: str


class FileStore:
    """emu.files is `files`: id -> StoredFile (a tuple: filename, bytes, purpose, mime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files: dict[str, StoredFile] = {}
        self._created: dict[str, int] = {}

    def add(self, filename: str, data: bytes, purpose: str, mime: str) -> str:
        file_id = str(uuid.uuid4())
        with self._lock:
            self.files[file_id] = StoredFile(filename, data, purpose, mime)
            self._created[file_id] = int(time.time())
        return file_id

    def get(self, file_id: str) -> StoredFile | None:
        return self.files.get(file_id)

    def delete(self, file_id: str) -> bool:
        with self._lock:
            self._created.pop(file_id, None)
            return self.files.pop(file_id, None) is not None

    def describe(self, file_id: str) -> dict:
        """The UploadedFile shape (fixtures get_file.json / post_files.json)."""
        f = self.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(f.data),
            "access_policy": "private",
            "created_at": self._created.get(file_id, int(time.time())),
            "filename": f.filename,
            "purpose": f.purpose,
        }

    def listing(self) -> dict:
        return {"data": [self.describe(i) for i in list(self.files)]}
