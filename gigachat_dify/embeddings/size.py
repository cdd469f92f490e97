"""The protocol-size plan: how many vectors one answer can carry, decided before any request.

dify_plugin writes a whole `TextEmbeddingResult` as one stdout line, and Dify's daemon kills the
plugin (every session on it) at a line over 5 MiB (gigachat_dify/protocol.py). An answer is its
texts x the model's dimensions x the characters of a value, and no value can be longer than
`MAX_VALUE_CHARS` as pydantic writes it, so the plugin knows, before it sends anything, whether an
answer can fit. The dimensions come from the model table (config.DIMENSIONS), the model form, or
the first answer of a customizable model, remembered per (base URL, model) for the process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.embeddings.config import MAX_TEXTS_PER_REQUEST, known_dimensions
from gigachat_dify.protocol import DAEMON_LINE_LIMIT, LINE_BUDGET

#: The longest JSON text pydantic writes for any finite float (`-0.000012345678901234568`,
#: `-1.7976931348623157e+308`); GigaChat's float16 values reach it too (`-0.000010013580322265625`).
MAX_VALUE_CHARS = 24
VALUE_BYTES = MAX_VALUE_CHARS + 1  # and its comma
#: The result's other fields (model name, usage) next to the vectors; the envelope is outside LINE_BUDGET.
RESULT_OVERHEAD = 2048
#: Dimensions assumed for a customizable model not yet seen, in the schema Dify batches by: the
#: largest of GigaChat's models (EmbeddingsGigaR), so its batches fit unless it is larger still.
ASSUMED_DIMENSIONS = 2560

_MEMORY_SIZE = 1024  # (base URL, model) pairs remembered
_lock = threading.Lock()
_learned: OrderedDict[tuple[str, str], int] = OrderedDict()


def vector_bytes(dimensions: int) -> int:
    """The most one vector can take on the line: its values with their commas, brackets, a comma."""
    return dimensions * VALUE_BYTES + 2


def texts_per_answer(dimensions: int) -> int:
    """The most texts one answer can carry and still fit the line."""
    return max(0, (LINE_BUDGET - RESULT_OVERHEAD) // vector_bytes(dimensions))


def max_chunks(dimensions: int) -> int:
    """What a model declares as `max_chunks`, the texts Dify sends per call: what one answer can
    carry, at most one request's worth (larger calls do not speed indexing up: each request is
    90 texts anyway, and ten parallel indexing calls would only hold larger answers in memory)."""
    return max(1, min(MAX_TEXTS_PER_REQUEST, texts_per_answer(dimensions)))


def remember(base_url: str, model: str, dimensions: int) -> None:
    with _lock:
        _learned[(base_url, model)] = dimensions
        _learned.move_to_end((base_url, model))
        while len(_learned) > _MEMORY_SIZE:
            _learned.popitem(last=False)


def forget_all() -> None:
    """Tests."""
    with _lock:
        _learned.clear()


def dimensions_for(base_url: str, model: str, form_dimensions: int | None) -> int | None:
    """What an answer showed, else the model form, else the table; None when nothing is known yet
    (the first answer will tell)."""
    with _lock:
        seen = _learned.get((base_url, model))
    return seen or form_dimensions or known_dimensions(model)


def too_many_texts(model: str, count: int, dimensions: int, *, spent: bool = False) -> InvokeBadRequestError:
    most = texts_per_answer(dimensions)
    mib = DAEMON_LINE_LIMIT // (1024 * 1024)
    what = "answered" if spent else "would have answered"
    return InvokeBadRequestError(
        f"{model} takes at most {most} texts per call: it {what} {count} vectors of {dimensions:,} numbers, "
        f"more than Dify's plugin protocol carries in one answer ({mib} MiB; a longer one stops the plugin). "
        f"Send the texts in calls of at most {most} (a knowledge base does this by itself: the model's "
        f"'max_chunks' is {max_chunks(dimensions)})."
        + (" GigaChat has already counted the tokens of this call." if spent else " Nothing was sent to GigaChat.")
    )


def check(model: str, count: int, dimensions: int, *, spent: bool = False) -> None:
    """Raise InvokeBadRequestError when `count` vectors cannot fit one line."""
    if count > texts_per_answer(dimensions):
        raise too_many_texts(model, count, dimensions, spent=spent)
