"""Basic embedding call through Dify's stdio protocol."""

import math


def test_embedding_returns_one_unit_vector_per_text_in_order(plugin, credentials):
    texts = ["первый", "second text", "третий текст"]
    result = plugin.invoke_embedding("Embeddings", credentials, texts)
    assert result.ok, result.error
    out = result.chunks[-1]
    assert len(out["embeddings"]) == 3
    for vector in out["embeddings"]:
        assert len(vector) == 1024
        assert abs(math.sqrt(sum(x * x for x in vector)) - 1) < 1e-6
    # order: each text alone gives the same vector as in the batch
    single = plugin.invoke_embedding("Embeddings", credentials, [texts[1]]).chunks[-1]["embeddings"][0]
    assert single == out["embeddings"][1]
    assert out["usage"]["tokens"] > 0
