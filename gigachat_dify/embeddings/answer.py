"""The embeddings answer on Dify's protocol line, its vectors' text encoded by the plugin.

dify_plugin writes a returned `TextEmbeddingResult` as one line: it validates the result, dumps it
twice into the session envelope and lets pydantic write every value (plugin.py `_execute_request`,
response_writer.py `put`): ~170 ns a value, more than decoding GigaChat's answer took, and only
the floats it is given. So the plugin writes that same line itself, through the request's own
writer: the envelope and the result's other fields from dify_plugin's own `session_message_text`
(with no vectors), the vectors' text from values.json_text spliced in. For the same floats the
line is byte for byte what dify_plugin would write (tests/unit/test_embedding_answer.py). Its exact
UTF-8 size is checked before it is written: the daemon reads lines of at most 5,242,879 bytes and
a newline. `_invoke` then returns a result that dify_plugin does not write (plugin.py writes a
response only `if response:`; dify_plugin is pinned <0.11 and tests/e2e checks one answer line per
call).

Without a current session (a direct call, as in unit tests) the result is returned the ordinary
way, its floats the short form's, which pydantic writes as the same characters.
"""

from __future__ import annotations

from typing import Any

from dify_plugin.core.server.__base.response_writer import ResponseWriter
from dify_plugin.core.session_context import get_current_session
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult

from gigachat_dify.embeddings import size
from gigachat_dify.protocol import MAX_LINE

_EMPTY = '"embeddings":[]'


class WrittenResult(TextEmbeddingResult):
    """The answer's line is already written: dify_plugin writes nothing more for it."""

    def __bool__(self) -> bool:
        return False


class _Envelope(ResponseWriter):
    """dify_plugin's own envelope methods, for a line built outside a request."""

    def write(self, data: str) -> None:  # pragma: no cover - never written
        raise NotImplementedError

    def done(self) -> None:  # pragma: no cover
        pass


def line(writer: ResponseWriter, session_id: str | None, model: str, block: Any, usage: EmbeddingUsage) -> str | None:
    """The session line (with its blank-line terminator) dify_plugin would write for this answer,
    or None if its envelope is not the one this module knows. Raises InvokeBadRequestError when
    the line would be longer than the daemon reads."""
    from gigachat_dify.embeddings import values  # numpy on first use: start-up stays fast

    empty = TextEmbeddingResult(model=model, embeddings=[], usage=usage)
    envelope = writer.session_message_text(session_id=session_id, data=writer.stream_object(empty))
    head, found, tail = envelope.partition(_EMPTY)
    vectors = values.json_text(block)
    if len(envelope.rstrip("\n").encode()) - len("[]") + len(vectors) > MAX_LINE:
        raise size.too_many_texts(model, len(block), size.Shape(block.shape[1], values.is_short(block)), spent=True)
    if not found or _EMPTY in tail:
        return None
    return head + '"embeddings":' + vectors.decode("ascii") + tail


def deliver(model: str, block: Any, usage: EmbeddingUsage) -> TextEmbeddingResult:
    """Write the answer's line through the current request's writer and return a result
    dify_plugin will not write again; without a request, the result to return (its size checked
    all the same)."""
    session = get_current_session()
    writer = getattr(session, "writer", None)
    text = line(writer or _Envelope(), getattr(session, "session_id", None), model, block, usage)
    if writer is not None and text is not None:
        writer.write(text)
        return WrittenResult(model=model, embeddings=[], usage=usage)
    from gigachat_dify.embeddings import values

    return TextEmbeddingResult(model=model, embeddings=values.short_floats(block), usage=usage)
