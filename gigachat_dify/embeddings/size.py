"""The protocol-size plan: how many vectors one answer can carry, decided before any request.

The plugin writes a whole embeddings answer as one stdout line (answer.py), and Dify's daemon
kills the plugin (every session on it) at a line over 5 MiB (gigachat_dify/protocol.py). An
answer is its texts x the model's dimensions x the characters of a value: float16 values travel
in the short form, at most `values.SHORT_VALUE_CHARS` each; any other value as it came, at most
`values.LONG_VALUE_CHARS`. So the plugin knows, before it sends anything, whether an answer can fit.

What a model answers (its dimensions, and whether its values are halves) comes from what its
answers showed, remembered per (connection, model) for an hour (memory.py): a connection is the
credentials' fingerprint, so what one workspace's proxy or host answered never plans another
workspace's calls. Only an answer the engine accepted is remembered (its dimensions those of the
model table or the form, at most `config.MAX_DIMENSIONS`: execution.py refuses any other), and
never a shape that would leave no text per call. Before any answer, the model form and the model
tables (config.DIMENSIONS, config.HALF_VALUES) decide. A model the tables do not know is planned
with the long form's bound until its first answer shows short values.
"""

from __future__ import annotations

from typing import NamedTuple

from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.embeddings.config import MAX_DIMENSIONS, MAX_TEXTS_PER_REQUEST, known_dimensions, known_halves
from gigachat_dify.memory import Memory
from gigachat_dify.protocol import DAEMON_LINE_LIMIT, LINE_BUDGET

#: The longest short form of a half (values.py; `-0.00001013`, every half checked by the tests).
SHORT_VALUE_CHARS = 11
#: The longest JSON text pydantic (and orjson: the same characters) writes for a finite float
#: (`-0.000012345678901234568`, `-1.7976931348623157e+308`).
LONG_VALUE_CHARS = 24
#: The result's other fields (model name, usage) next to the vectors; the envelope is outside LINE_BUDGET.
RESULT_OVERHEAD = 2048
#: Dimensions assumed for a customizable model not yet seen, in the schema Dify batches by: the
#: largest of GigaChat's models (EmbeddingsGigaR), so its batches fit unless it is larger still.
ASSUMED_DIMENSIONS = 2560

_MEMORY_SIZE = 1024  # (connection, model) pairs remembered
#: Seconds a learnt shape is kept: a deployment may change what a model answers.
_MEMORY_TTL = 3600.0


class Shape(NamedTuple):
    """What a model's answers are like: values per vector (None: not known yet), short form or not."""

    dimensions: int | None
    short: bool


_learned: Memory[tuple[str, str], Shape] = Memory(_MEMORY_SIZE, _MEMORY_TTL)


def vector_bytes(dimensions: int, short: bool) -> int:
    """The most one vector can take on the line: its values with their commas, brackets, a comma."""
    return dimensions * ((SHORT_VALUE_CHARS if short else LONG_VALUE_CHARS) + 1) + 2


def texts_per_answer(dimensions: int, short: bool) -> int:
    """The most texts one answer can carry and still fit the line."""
    return max(0, (LINE_BUDGET - RESULT_OVERHEAD) // vector_bytes(dimensions, short))


def max_chunks(dimensions: int, short: bool) -> int:
    """What a model declares as `max_chunks`, the texts Dify sends per call: what one answer can
    carry, at most one request's worth (larger calls do not speed indexing up: each request is
    90 texts anyway, and ten parallel indexing calls would only hold larger answers in memory)."""
    return max(1, min(MAX_TEXTS_PER_REQUEST, texts_per_answer(dimensions, short)))


def remember(connection: str, model: str, shape: Shape) -> None:
    """Remember what an accepted answer showed; a shape no call could use is never learnt (the
    engine refuses such answers: this only keeps a slip from planning "at most 0 texts")."""
    if shape.dimensions and 0 < shape.dimensions <= MAX_DIMENSIONS and texts_per_answer(*shape) > 0:
        _learned.learn((connection, model), shape)


def seen(connection: str, model: str) -> Shape | None:
    """What this model's answers showed on this connection (the credentials' fingerprint) lately."""
    return _learned.get((connection, model))


def shape_for(connection: str, model: str, form_dimensions: int | None) -> Shape:
    """What an answer showed, else the model form's dimensions or the table's and the table's
    value form (dimensions None when nothing is known yet: the first answer will tell)."""
    return seen(connection, model) or Shape(form_dimensions or known_dimensions(model), known_halves(model))


def too_many_texts(model: str, count: int, shape: Shape, *, spent: bool = False) -> InvokeBadRequestError:
    dimensions = shape.dimensions or ASSUMED_DIMENSIONS
    most = texts_per_answer(dimensions, shape.short)
    mib = DAEMON_LINE_LIMIT // (1024 * 1024)
    what = "answered" if spent else "would have answered"
    form = "" if shape.short else " (values that are not float16 take up to 24 characters each)"
    return InvokeBadRequestError(
        f"{model} takes at most {most} texts per call: it {what} {count} vectors of {dimensions:,} numbers{form}, "
        f"more than Dify's plugin protocol carries in one answer ({mib} MiB; a longer one stops the plugin). "
        f"Send the texts in calls of at most {most} (a knowledge base does this by itself: the model's "
        f"'max_chunks' is {max_chunks(dimensions, shape.short)})."
        + (" GigaChat has already counted the tokens of this call." if spent else " Nothing was sent to GigaChat.")
    )


def check(model: str, count: int, shape: Shape, *, spent: bool = False) -> None:
    """Raise InvokeBadRequestError when `count` vectors of this shape cannot fit one line."""
    if shape.dimensions and count > texts_per_answer(shape.dimensions, shape.short):
        raise too_many_texts(model, count, shape, spent=spent)
