"""Embedding model facts (limits, dimensions, query instructions) and one request's configuration.

Facts are per base model name: GigaChat echoes versioned names ("Embeddings:2.0.1"), and a
customizable model may be a predefined one added under its own name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dify_plugin.entities.model import EmbeddingInputType

from gigachat_dify import form, model_form

# Maximum tokens per input text. Third-party, unverified figures (GIGACHAT_API.md): Embeddings
# 512, EmbeddingsGigaR 4096. Embeddings-2 is assumed to share Embeddings' limit and
# GigaEmbeddings-3B-2025-09 the 4096 of its open-weights sibling ai-sage/Giga-Embeddings-instruct
# (max_seq_length 4096). A too-low figure only costs extra pieces; a too-high one is caught by
# the 413/422 re-split (execution.py).
EMBEDDING_LIMITS: dict[str, int] = {
    "Embeddings": 512,
    "Embeddings-2": 512,
    "EmbeddingsGigaR": 4096,
    "GigaEmbeddings-3B-2025-09": 4096,
}
DEFAULT_LIMIT_TOKENS = 512  # unknown / custom models without a usable `context_size` credential
MAX_CONTEXT_TOKENS = 1_000_000  # what the model form accepts as tokens per text

# Values per vector (GIGACHAT_API.md: recorded 1,024 for Embeddings; gpt2giga's capability table,
# May 2026, for the others). Model YAML `model_properties` cannot carry a dimension, so it is here.
DIMENSIONS: dict[str, int] = {
    "Embeddings": 1024,
    "Embeddings-2": 1024,
    "EmbeddingsGigaR": 2560,
    "GigaEmbeddings-3B-2025-09": 2048,
}
MAX_DIMENSIONS = 65_536  # what the model form accepts; far above any embedding model

# Models whose values are float16-exact, so their answers travel in the short form (values.py):
# recorded for Embeddings (GIGACHAT_API.md, Jan 2026), assumed for GigaChat's other models. Any
# other model is planned with the long form's bound until its first answer shows what it sends
# (size.py); an answer that is not all halves is sent as it came, whatever this table says.
HALF_VALUES: frozenset[str] = frozenset(DIMENSIONS)

# Texts per request. GigaChat documents no maximum; 90 is what Sber's own LangChain integration
# (ai-forever/langchain-gigachat, MAX_BATCH_SIZE_PARTS) sends. An assumption, not a documented limit.
MAX_TEXTS_PER_REQUEST = 90
# UTF-8 bytes of text per request (our judgement, not a documented limit): keeps one request's body
# and its latency far below the client timeout even for 4096-token texts (about seven of them in
# Cyrillic). Counted in bytes, not estimated tokens: packing needs no token estimate.
MAX_BYTES_PER_REQUEST = 256 * 1024

DEFAULT_CONCURRENCY = 2  # used only when the caller gives none (the credentials always do)
MAX_CONCURRENCY = 32

# Instruction put before QUERIES (never documents) for asymmetric models.
# - EmbeddingsGigaR: the retrieval instruction GigaChat integrations use with this model ("given a
#   question, find the paragraph that answers it"). Sber's LangChain integration ships a different,
#   opt-in default ("Дано предложение, необходимо найти его парафраз \nпредложение: "), a
#   paraphrase (symmetric) task; Dify's query -> chunk search is question -> passage. Unverified
#   against Sber's documentation here.
# - GigaEmbeddings-3B-2025-09: assumed to be the API deployment of ai-sage/Giga-Embeddings-instruct
#   (GigaChat-3B based, arXiv 2510.22369), whose model card requires "Instruct: {task}\nQuery: "
#   on queries and nothing on passages; task text from that card. Unverified for the API model.
# - Embeddings, Embeddings-2: symmetric, no instruction documented.
# Override per model with the model credential `query_prefix` ("none" switches it off).
QUERY_PREFIXES: dict[str, str] = {
    "EmbeddingsGigaR": "Дан вопрос, необходимо найти абзац текста с ответом \nвопрос: ",
    "GigaEmbeddings-3B-2025-09": (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: "
    ),
}
_PREFIX_OFF = frozenset({"none", "off", "no", "-"})

# Labels of the model form's fields (provider/gigachat.yaml), so a message names what to fix.
MAX_CHUNKS_LABEL = "Texts per request"
DIMENSIONS_LABEL = "Vector dimensions"


def base_model(model: str) -> str:
    return model.split(":", 1)[0].strip()


def _fact(table: Mapping[str, Any], model: str) -> Any:
    return table.get(model) or table.get(base_model(model))


def known_limit(model: str) -> int | None:
    return _fact(EMBEDDING_LIMITS, model)


def known_dimensions(model: str) -> int | None:
    return _fact(DIMENSIONS, model)


def known_halves(model: str) -> bool:
    """The model is known to answer float16-exact values."""
    return model in HALF_VALUES or base_model(model) in HALF_VALUES


@dataclass(frozen=True)
class EmbeddingConfig:
    limit_tokens: int  # per text
    max_per_request: int  # texts per API request
    concurrency: int
    query_prefix_override: str | None
    dimensions: int | None  # from the model form (customizable models); None when not given
    max_chunks: int | None  # texts per Dify call the form asks for; None when not given


def form_dimensions(credentials: Mapping[str, Any]) -> int | None:
    """The model form's `dimensions` (None when blank). Raises form.FormValueError."""
    value = credentials.get("dimensions")
    if form.is_blank(value):
        return None
    return form.whole_number(value, DIMENSIONS_LABEL, 0, 1, MAX_DIMENSIONS)


def resolve_config(model: str, credentials: Mapping[str, Any], concurrency: int | None = None) -> EmbeddingConfig:
    """Limits for this model: the table for known models (a custom `context_size` may only lower
    it: the provider form's default is an LLM context), the credential for others, else 512.
    Raises form.FormValueError naming every field whose value is unusable."""
    problems = model_form.Problems()
    table = known_limit(model)
    default = table or DEFAULT_LIMIT_TOKENS
    custom = problems.read(lambda: model_form.context_size(credentials, default, MAX_CONTEXT_TOKENS), default)
    limit = min(custom, table) if table else custom
    chunks_value = credentials.get("max_chunks")
    chunks = None if form.is_blank(chunks_value) else problems.read(
        lambda: form.whole_number(chunks_value, MAX_CHUNKS_LABEL, 0, 1, 1_000_000), None)
    dimensions = problems.read(lambda: form_dimensions(credentials), None)
    problems.raise_any()
    per_request = min(MAX_TEXTS_PER_REQUEST, chunks or MAX_TEXTS_PER_REQUEST)
    workers = max(1, min(MAX_CONCURRENCY, int(concurrency or DEFAULT_CONCURRENCY)))
    prefix = credentials.get("query_prefix")
    return EmbeddingConfig(limit, per_request, workers, prefix if isinstance(prefix, str) else None,
                           dimensions, chunks)


def query_prefix(model: str, override: str | None = None) -> str:
    """The instruction for queries: the override if set ('none' = no prefix), else the model's default.
    A literal backslash-n typed into the form becomes a line break."""
    if override is not None and override.strip():
        if override.strip().lower() in _PREFIX_OFF:
            return ""
        return override.replace("\\n", "\n")
    return _fact(QUERY_PREFIXES, model) or ""


def apply_input_type(
    model: str, texts: Sequence[str], input_type: EmbeddingInputType | str | None, override: str | None = None
) -> list[str]:
    """Queries get the model's instruction prefix; documents are sent as they are. Blank texts stay
    blank (they are handled as empty texts, not as a bare instruction)."""
    kind = input_type.value if isinstance(input_type, EmbeddingInputType) else str(input_type or "document")
    if kind.lower() != EmbeddingInputType.QUERY.value:
        return list(texts)
    prefix = query_prefix(model, override)
    if not prefix:
        return list(texts)
    return [prefix + t if t and t.strip() else t for t in texts]
