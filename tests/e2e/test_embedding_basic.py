"""Basic embedding call through Dify's stdio protocol: GigaChat's raw vectors, in order, their
float16 values in the short form (rounded to float16, each is GigaChat's value bit for bit)."""

import math

from emulator.embeddings import vector as emulator_vector
from tests.support.halves import as_halves


def test_embedding_returns_gigachats_own_vector_per_text_in_order(plugin, credentials, emulator):
    texts = ["первый", "second text", "третий текст"]
    result = plugin.invoke_embedding("Embeddings", credentials, texts)
    assert result.ok, result.error
    out = result.chunks[-1]
    assert len(out["embeddings"]) == 3
    for text, vector in zip(texts, out["embeddings"]):
        served = emulator_vector("Embeddings", text)
        assert len(vector) == 1024
        # raw: exactly the served values as float16, not normalised (|v| ~ 29, as GigaChat's)
        assert as_halves(vector) == served
        assert vector != served  # the short form, not the 14-character one
        assert 20 < math.hypot(*vector) < 40
    # order: each text alone gives the same vector as in the batch
    single = plugin.invoke_embedding("Embeddings", credentials, [texts[1]]).chunks[-1]["embeddings"][0]
    assert single == out["embeddings"][1]
    assert out["usage"]["tokens"] > 0


def test_every_model_returns_vectors_of_its_own_dimensions(plugin, credentials):
    for model, dimensions in {"Embeddings": 1024, "Embeddings-2": 1024, "GigaEmbeddings-3B-2025-09": 2048,
                              "EmbeddingsGigaR": 2560}.items():
        result = plugin.invoke_embedding(model, credentials, ["текст"])
        assert result.ok, result.error
        (vector,) = result.chunks[-1]["embeddings"]
        assert as_halves(vector) == emulator_vector(model, "текст"), model
        assert len(vector) == dimensions
