"""The function ranker: among many offered functions, the model gets only the most relevant ones.

v1 ``function_ranker {enabled, top_n}`` (SDK 0.2.3), v2 ``ranker_options {enabled, top_n,
embeddings_model}`` (the Sept 2026 spec: "the number of tools passed to the model after
ranking"). The real ranker compares embeddings; this one is deterministic: a function's relevance
is how many words of the last user message (words of 3 or more letters, case-folded; "a", "in",
"и" do not count) it shares with the function's name (split at ``_ . -`` and camelCase),
description and parameter names and descriptions; ties keep the offered order. Only the kept
functions count toward prompt tokens and can be called; a function the request forces
(``function_call {"name"}``, ``tool_config.function_name``) is always kept. Assumed: ranking is
on only with ``enabled: true``; ``top_n`` defaults to 4 (the spec's example value).
"""

from __future__ import annotations

import re
from typing import Any

from emulator import catalog
from emulator.errors import NO_SUCH_MODEL, ApiError, invalid

DEFAULT_TOP_N = 4
MIN_WORD = 3
_WORD = re.compile(r"[^\W\d_]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def validate(options: Any, field: str) -> None:
    """422 for a malformed ranker object; for v2, 404/422 for an embeddings model that is not one."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise invalid(f"{field} must be an object")
    if options.get("enabled") is not None and not isinstance(options["enabled"], bool):
        raise invalid(f"{field}.enabled must be a boolean")
    top_n = options.get("top_n")
    if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
        raise invalid(f"{field}.top_n must be in range [1, +inf)")
    model = options.get("embeddings_model")
    if model is not None:
        if model not in catalog.MODEL_TYPES:
            raise ApiError(404, NO_SUCH_MODEL)
        if model not in catalog.EMBEDDING_MODELS:
            raise invalid(f"{field}.embeddings_model {model!r} is not an embeddings model")


def words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(_CAMEL.sub(" ", text)) if len(w) >= MIN_WORD}


def _function_words(function: dict) -> set[str]:
    text = [str(function.get("name") or ""), str(function.get("description") or "")]
    params = function.get("parameters")
    properties = params.get("properties") if isinstance(params, dict) else None
    for name, schema in (properties or {}).items() if isinstance(properties, dict) else ():
        text.append(str(name))
        if isinstance(schema, dict):
            text.append(str(schema.get("description") or ""))
    return words(" ".join(text))


def relevance(function: dict, question: str) -> int:
    return len(words(question) & _function_words(function))


def select(functions: list[dict], question: str, options: Any, forced: str | None = None) -> list[dict] | None:
    """The functions the model gets, most relevant first; None when the request asks for no ranking."""
    if not isinstance(options, dict) or options.get("enabled") is not True:
        return None
    top_n = options.get("top_n") or DEFAULT_TOP_N
    ranked = sorted(range(len(functions)), key=lambda i: -relevance(functions[i], question))
    kept = [functions[i] for i in ranked[:top_n]]
    if forced is not None and all(f.get("name") != forced for f in kept):
        kept += [f for f in functions if f.get("name") == forced]
    return kept
