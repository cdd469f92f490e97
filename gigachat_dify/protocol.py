"""The limits of Dify's stdio protocol that every answer the plugin writes must respect.

dify_plugin 0.10.2 writes each LLM chunk and each ``TextEmbeddingResult`` as one JSON line; the
daemon's scanner stops at ``PLUGIN_RUNTIME_MAX_BUFFER_SIZE`` (5 MiB by default) and then kills the
plugin process with every session in flight on it. So no single answer may come near that size.
"""

from __future__ import annotations

#: The daemon's default line limit (internal/types/app/config.go, PLUGIN_RUNTIME_MAX_BUFFER_SIZE).
DAEMON_LINE_LIMIT = 5 * 1024 * 1024
#: Bytes of one line the plugin may fill with payload: the envelope ({"event":"session",
#: "session_id":..., "data":{"type":"stream","data":{...}}}) and JSON escaping need the rest.
LINE_BUDGET = DAEMON_LINE_LIMIT - 256 * 1024

# The longest JSON form of one character is a \u00XX escape: 6 bytes.
_MAX_BYTES_PER_CHAR = 6
#: Room for everything of a chunk besides its texts and images (model name, usage, tool-call ids).
_FIXED_OVERHEAD = 16 * 1024


def _upper_bound(message) -> int:
    """Bytes the message can take on a line at most, without serialising it."""
    content = message.content
    size = _FIXED_OVERHEAD
    if isinstance(content, str):
        size += _MAX_BYTES_PER_CHAR * len(content)
    else:
        for item in content or []:
            size += _MAX_BYTES_PER_CHAR * (len(getattr(item, "data", "") or "") + len(getattr(item, "url", "") or ""))
            size += len(getattr(item, "base64_data", "") or "")
    for call in message.tool_calls or []:
        size += _MAX_BYTES_PER_CHAR * (len(call.function.name) + len(call.function.arguments) + len(call.id))
    return size


def fit_stream(chunks):
    """LLM stream chunks, each sure to fit one protocol line: a text chunk too long for one line is
    sent as several consecutive chunks (Dify joins a stream's texts); the last keeps the tool calls,
    finish reason and usage."""
    for chunk in chunks:
        message = chunk.delta.message
        if _upper_bound(message) <= LINE_BUDGET or not isinstance(message.content, str):
            yield chunk
            continue
        step = (LINE_BUDGET - _FIXED_OVERHEAD) // _MAX_BYTES_PER_CHAR
        text = message.content
        pieces = [text[i:i + step] for i in range(0, len(text), step)]
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            part = chunk.model_copy(deep=False)
            part.delta = chunk.delta.model_copy(update={
                "message": message.model_copy(update={"content": piece, "tool_calls": message.tool_calls if last else []}),
                "finish_reason": chunk.delta.finish_reason if last else None,
                "usage": chunk.delta.usage if last else None,
            })
            yield part


def check_result(result):
    """A blocking LLM result as it travels: Dify reads a blocking answer from the first chunk only,
    so it cannot be split. One that cannot fit one line is refused with what to do instead."""
    if _upper_bound(result.message) <= LINE_BUDGET:
        return result
    size = len(result.model_dump_json())
    if size <= LINE_BUDGET:
        return result
    from dify_plugin.errors.model import InvokeBadRequestError  # local: keeps this module import-light

    raise InvokeBadRequestError(
        f"GigaChat's answer is {size / 1048576:.1f} MB, more than Dify's plugin protocol carries in one "
        f"message ({DAEMON_LINE_LIMIT // 1048576} MiB). Turn on streaming for this node, or lower Max tokens."
    )
