"""The limits of Dify's stdio protocol that every answer the plugin writes must respect.

dify_plugin 0.10.2 writes each LLM chunk and each ``TextEmbeddingResult`` as one JSON line (its
``model_dump_json()`` inside the session envelope, raw UTF-8); the daemon's scanner stops at
``PLUGIN_RUNTIME_MAX_BUFFER_SIZE`` (5 MiB by default) and then kills the plugin process with every
session in flight on it. So no single line may be longer than ``MAX_LINE`` bytes: sizes here are
UTF-8 bytes of that very line (a Cyrillic letter is two bytes, a control character six), never
characters.
"""

from __future__ import annotations

#: The daemon's default line buffer (internal/types/app/config.go, PLUGIN_RUNTIME_MAX_BUFFER_SIZE).
DAEMON_LINE_LIMIT = 5 * 1024 * 1024
#: The longest line the daemon accepts: 5,242,879 bytes, plus the newline.
MAX_LINE = DAEMON_LINE_LIMIT - 1
#: Bytes of one line the plugin plans to fill with payload (embedding vectors, generated images):
#: the envelope, the other fields and the text beside them need the rest.
LINE_BUDGET = DAEMON_LINE_LIMIT - 256 * 1024

# The longest JSON form of one character is a \u00XX escape: 6 bytes (a Cyrillic letter takes 2,
# a character beyond the BMP 4).
_MAX_BYTES_PER_CHAR = 6
#: Room for everything of a chunk besides its texts and images (the session envelope, model name,
#: usage, tool-call ids), and for the fixed fields of each content item.
_FIXED_OVERHEAD = 16 * 1024
_ITEM_OVERHEAD = 1024
#: dify_plugin writes the daemon's session id into every line: a UUID (36 characters); room for more.
_SESSION_ID = "s" * 64


def line_bytes(chunk) -> int:
    """UTF-8 bytes of the line dify_plugin writes for this LLM chunk (the newline excluded):
    ``StreamOutputMessage(session, SessionMessage(stream, chunk))``, as its response writer does."""
    from dify_plugin.core.entities.message import SessionMessage  # local: keeps this module import-light
    from dify_plugin.core.server.__base.writer_entities import Event, StreamOutputMessage

    data = SessionMessage(type=SessionMessage.Type.STREAM, data=chunk.model_dump()).model_dump()
    return len(StreamOutputMessage(event=Event.SESSION, session_id=_SESSION_ID, data=data).model_dump_json().encode())


def _upper_bound(message) -> int:
    """Bytes the message can take on a line at most, without serialising it."""
    content = message.content
    size = _FIXED_OVERHEAD
    if isinstance(content, str):
        size += _MAX_BYTES_PER_CHAR * len(content)
    else:
        for item in content or []:
            size += _ITEM_OVERHEAD + _MAX_BYTES_PER_CHAR * len(_text(item) or "")
            size += len(getattr(item, "base64_data", "") or "")  # base64: one byte a character
            size += _MAX_BYTES_PER_CHAR * sum(len(getattr(item, f, "") or "") for f in ("url", "filename"))
    for call in message.tool_calls or []:
        size += _MAX_BYTES_PER_CHAR * (len(call.function.name) + len(call.function.arguments) + len(call.id))
    return size


def _text(item) -> str | None:
    """The text of a content item (a plain string or a text item); None for a file."""
    return item if isinstance(item, str) else item.data if getattr(item, "type", None) == "text" else None


def _excess(message, chunk_of) -> int | None:
    """Bytes of the line of ``chunk_of()`` (the chunk that carries ``message``) when they are over
    MAX_LINE, else None. An ordinary message is settled by its bound: no chunk made, nothing serialised."""
    if _upper_bound(message) <= MAX_LINE:
        return None
    size = line_bytes(chunk_of())
    return size if size > MAX_LINE else None


def fits(chunk) -> bool:
    """The chunk's line is at most MAX_LINE bytes (ordinary chunks are not serialised for it)."""
    return _excess(chunk.delta.message, lambda: chunk) is None


def fit_stream(chunks):
    """LLM stream chunks, each sure to fit one protocol line: a chunk too long for one line is sent
    as several consecutive chunks (Dify joins a stream's texts; an image gets a chunk of its own);
    the last keeps the tool calls, finish reason and usage."""
    for chunk in chunks:
        if fits(chunk):
            yield chunk
        else:
            yield from _split(chunk)


def _split(chunk):
    message = chunk.delta.message
    step = (MAX_LINE - _FIXED_OVERHEAD) // _MAX_BYTES_PER_CHAR
    parts = []
    for item in [message.content] if isinstance(message.content, str) else message.content:
        text = _text(item)
        parts += [text[i:i + step] for i in range(0, len(text), step)] if text is not None else [[item]]
    # No text at all (tool calls alone): still one piece, so the tool calls are sent or refused, never dropped.
    parts = parts or [message.content]
    for n, content in enumerate(parts):
        last = n == len(parts) - 1
        part = chunk.model_copy(deep=False)
        part.delta = chunk.delta.model_copy(update={
            "message": message.model_copy(update={"content": content, "tool_calls": message.tool_calls if last else []}),
            "finish_reason": chunk.delta.finish_reason if last else None,
            "usage": chunk.delta.usage if last else None,
        })
        size = _excess(part.delta.message, lambda: part)
        if size is not None:  # one image, or the tool calls alone: nothing left to split
            raise _too_large("This part of GigaChat's answer", size)
        yield part


def check_result(result):
    """A blocking LLM result as it travels: dify_plugin writes it as one chunk and Dify reads a
    blocking answer from the first chunk only, so it cannot be split. One that cannot fit one line
    is refused with what to do instead. An ordinary answer is neither converted nor serialised for it."""
    size = _excess(result.message, result.to_llm_result_chunk)
    if size is None:
        return result
    raise _too_large("GigaChat's answer", size, "Turn on streaming for this node, or lower Max tokens.")


def _too_large(what: str, size: int, advice: str = "Lower Max tokens."):
    from dify_plugin.errors.model import InvokeBadRequestError  # local: keeps this module import-light

    return InvokeBadRequestError(
        f"{what} is {size / 1048576:.1f} MB as Dify's plugin protocol carries it (UTF-8), more than one "
        f"message holds ({MAX_LINE:,} bytes, 5 MiB). {advice}"
    )
