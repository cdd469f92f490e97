"""The models the emulator serves, as GET /models listed them in the recordings (Jan 2026),
plus GigaChat-3-Ultra (answering in the April 2026 recordings)."""

from __future__ import annotations

OWNER = "salutedevices"

# (id, type) in the recorded order.
MODELS: list[tuple[str, str]] = [
    ("GigaChat", "chat"),
    ("GigaChat-2", "chat"),
    ("GigaChat-2-Max", "chat"),
    ("GigaChat-2-Max-preview", "chat"),
    ("GigaChat-2-Pro", "chat"),
    ("GigaChat-2-Pro-preview", "chat"),
    ("GigaChat-2-preview", "chat"),
    ("GigaChat-3-Ultra", "chat"),
    ("GigaChat-Max", "chat"),
    ("GigaChat-Max-preview", "chat"),
    ("GigaChat-Plus", "chat"),
    ("GigaChat-Pro", "chat"),
    ("GigaChat-Pro-preview", "chat"),
    ("GigaChat-preview", "chat"),
    ("GigaFilter", "filter"),
    ("GigaCheckClassification", "aicheck"),
    ("GigaCheckDetection", "aicheck"),
    ("Embeddings", "embedder"),
    ("Embeddings-2", "embedder"),
    ("EmbeddingsGigaR", "embedder"),
    ("GigaEmbeddings-3B-2025-09", "embedder"),
]

MODEL_TYPES: dict[str, str] = dict(MODELS)
CHAT_MODELS = frozenset(m for m, t in MODELS if t == "chat")
EMBEDDING_MODELS = frozenset(m for m, t in MODELS if t == "embedder")

# Vector sizes: 1024 recorded for Embeddings; the others from gpt2giga's capability table (May 2026).
EMBEDDING_DIMENSIONS: dict[str, int] = {
    "Embeddings": 1024,
    "Embeddings-2": 1024,
    "EmbeddingsGigaR": 2560,
    "GigaEmbeddings-3B-2025-09": 2048,
}

# Per-text token limits of the embedding models (third-party figures, unverified by recordings).
EMBEDDING_TOKEN_LIMITS: dict[str, int] = {
    "Embeddings": 512,
    "Embeddings-2": 512,
    "EmbeddingsGigaR": 4096,
    "GigaEmbeddings-3B-2025-09": 4096,
}


def model_entry(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "owned_by": OWNER, "type": MODEL_TYPES[model_id]}


def models_list() -> dict:
    return {"object": "list", "data": [model_entry(m) for m, _ in MODELS]}


def is_gigachat_3(model_id: str) -> bool:
    return model_id.startswith("GigaChat-3")


def versioned(model_id: str) -> str:
    """Responses echo a versioned name, as recorded ("GigaChat:2.0.28.2", "GigaChat-3-Ultra:32.3.7.3")."""
    version = "32.3.7.3" if is_gigachat_3(model_id) else "2.0.28.2"
    return f"{model_id}:{version}"


def completion_object(model_id: str) -> str:
    """The blocking answer's "object": recorded "chat.completion" from GigaChat (Jan 2026) and
    "chat.completions" from GigaChat-3-Ultra (Apr 2026). Stream chunks say "chat.completion"
    (the only recorded v1 stream is GigaChat's)."""
    return "chat.completions" if is_gigachat_3(model_id) else "chat.completion"
