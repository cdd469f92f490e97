"""Benchmarks: figures, not assertions. Run one with `python -m bench.<name>` (e.g. bench.embeddings)."""
