"""One Dify embedding invocation: THE seam between Dify's text-embedding model and GigaChat.

``embed`` takes what Dify sent and returns the vectors and the tokens GigaChat counted, or raises
the Dify error that fits; ``models/text_embedding/text_embedding.py`` hands them to answer.py,
which writes Dify's line. In order: the form values, the size plan (an answer that could not fit
Dify's protocol line is refused before anything is sent), the query instruction, the shared client
and limiter, the run (execution.py: an answer whose vectors are not the model's dimensions, from the
form or the model table, is refused there), whose first answer shows what a model not yet seen on
this connection answers (dimensions, float16 or not: remembered per credentials, size.py, and
checked against the plan before any other request), and a last check of the answer's size against what it really is. The vectors are
GigaChat's values; float16 ones travel in the short form (values.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dify_plugin.entities.model import EmbeddingInputType
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeBadRequestError

from gigachat_dify import form, model_form
from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import ConnectionSettings, parse_credentials
from gigachat_dify.embeddings import size
from gigachat_dify.embeddings.config import (
    DEFAULT_LIMIT_TOKENS,
    MAX_CONTEXT_TOKENS,
    EmbeddingConfig,
    apply_input_type,
    known_dimensions,
    known_limit,
    resolve_config,
)
from gigachat_dify.embeddings.execution import embed_texts
from gigachat_dify.embeddings.http import embeddings as post_embeddings
from gigachat_dify.embeddings.limiter import shared_limiter


@dataclass(frozen=True)
class Embedded:
    block: Any  # numpy (texts, dims), one row per text in order: GigaChat's values (values.py)
    prompt_tokens: int

    @property
    def vectors(self) -> list[list[float]]:
        """GigaChat's values as Python floats, exactly as they came."""
        from gigachat_dify.embeddings import values

        return values.exact(self.block)


def _config(model: str, credentials: Mapping[str, Any], settings: ConnectionSettings) -> EmbeddingConfig:
    try:
        return resolve_config(model, credentials, settings.embedding_concurrency)
    except form.FormValueError as exc:
        raise InvokeBadRequestError(str(exc)) from None


def embed(model: str, credentials: Mapping[str, Any], texts: Sequence[str],
          input_type: EmbeddingInputType | str | None = EmbeddingInputType.DOCUMENT) -> Embedded:
    settings = parse_credentials(dict(credentials))
    config = _config(model, credentials, settings)
    connection = settings.fingerprint  # what one connection's answers showed plans only its own calls
    planned = size.shape_for(connection, model, config.dimensions)
    if texts:
        size.check(model, len(texts), planned)  # before any request

    def first_answer(dimensions: int, short: bool) -> None:  # not seen yet: its first answer decides
        seen = size.Shape(dimensions, short)
        size.remember(connection, model, seen)
        size.check(model, len(texts), seen, spent=True)

    client = get_client(settings)
    outcome = embed_texts(
        lambda batch, timeout: post_embeddings(client, batch, model, timeout),
        apply_input_type(model, texts, input_type, config.query_prefix_override),
        limit_tokens=config.limit_tokens,
        max_per_request=config.max_per_request,
        concurrency=config.concurrency,
        limiter=shared_limiter(client, config.concurrency),
        max_retries=settings.max_retries,  # the form's "Retries on temporary errors"
        context=f"model {model}",
        check_first_answer=None if size.seen(connection, model) else first_answer,
        auth=settings.auth,
        dimensions=config.dimensions or known_dimensions(model),
        request_timeout=settings.timeout,
    )
    from gigachat_dify.embeddings import values

    block = outcome.block
    if len(block):  # what the whole answer was (a later batch may differ from the first); its
        # exact line is checked when it is written (answer.py)
        size.remember(connection, model, size.Shape(block.shape[1], values.is_short(block)))
    return Embedded(block, outcome.prompt_tokens)


def check_form(model: str, credentials: Mapping[str, Any]) -> None:
    """The model form's embedding values are usable (CredentialsValidateFailedError otherwise)."""
    model_form.check(lambda: resolve_config(model, credentials))


def schema_properties(model: str, credentials: Mapping[str, Any]) -> tuple[int, int]:
    """(context_size, max_chunks) of a customizable model: the form's values, max_chunks no more
    than one answer carries for what the model answers (what an answer showed, else the form's or
    the table's dimensions, else the largest GigaChat model's; the long form's bound until its
    values are known to be float16). An unusable value falls back to the default here; validation
    and invocation report it."""
    try:
        context = model_form.context_size(credentials, known_limit(model) or DEFAULT_LIMIT_TOKENS, MAX_CONTEXT_TOKENS)
    except form.FormValueError:
        context = known_limit(model) or DEFAULT_LIMIT_TOKENS
    try:
        config = resolve_config(model, credentials)
    except form.FormValueError:
        config = None
    try:
        connection = parse_credentials(dict(credentials)).fingerprint
    except CredentialsValidateFailedError:
        connection = ""  # nothing learnt for it: invocation reports the form's mistake
    shape = size.shape_for(connection, model, config.dimensions if config else None)
    chunks = size.max_chunks(shape.dimensions or size.ASSUMED_DIMENSIONS, shape.short)
    if config and config.max_chunks:
        chunks = min(chunks, config.max_chunks)
    return context, chunks
