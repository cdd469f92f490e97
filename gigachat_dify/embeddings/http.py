"""The embeddings request without the SDK's JSON decoding: same request, same errors, less CPU.

`GigaChat.embeddings` decodes the answer with `response.json()` (stdlib json) and builds a pydantic
`Embeddings` model: for 90 texts x 1,024 floats that is ~45 ms of CPU per request, about half the
plugin's CPU while indexing a knowledge base. `post_embeddings` sends the request the SDK would send
and decodes the answer with orjson (~7 ms), returning the decoded dict (`Decoded`: with its vectors
already in one buffer of doubles), which `gigachat_dify.embeddings.execution` reads like the SDK's
model (`data[i].embedding`, `.index`, `.usage.prompt_tokens`). Anything else is unchanged:

- the token: the SDK client's public `get_token()` (refreshed under the SDK's lock shortly before
  expiry); a 401 resets it and retries once with a fresh one, as the SDK's `_with_auth` does;
- the headers: the SDK's own `build_headers` (Bearer token, User-Agent, context-variable headers)
  plus `Content-Type: application/json`; the body: the SDK's `json.dumps(..., ensure_ascii=False)`;
- non-200 answers raise the SDK's exception types (`_raise_for_status`), so the error table, the
  retry rules and the engine's 429/5xx/413 handling see what they saw before;
- transport failures propagate as the same httpx exceptions;
- each request's timeout is the one the engine gives (the form's, or less: the call's deadline);
- an answer that is not plainly well formed goes through what the SDK does (stdlib json, then the
  pydantic model), except that what the SDK would coerce into wrong vectors (booleans or strings
  as values) is refused, and an answer it cannot read (not JSON, cut short, a web page, fields
  missing or of the wrong type) is `EmbeddingResponseError`, the engine's malformed answer: retried,
  and worded as what the answer was, not as the SDK's exception.

Relies on SDK internals (`_client`, `_reset_token`, `api.utils._raise_for_status`): the SDK is
pinned `<0.3` in requirements.txt; tests/unit/test_embeddings_http.py checks them against the
emulator.
"""

from __future__ import annotations

import json
import struct
import time
from http import HTTPStatus
from typing import Any

import httpx
import numpy as np
from gigachat.api import utils as sdk_utils
from gigachat.client import GigaChatSyncClient
from gigachat.models.embeddings import Embeddings

import orjson
import pydantic

from gigachat_dify.embeddings import values
from gigachat_dify.failures import EmbeddingResponseError

EMBEDDINGS_PATH = "/embeddings"  # relative to the client's base_url, as the SDK sends it


def embeddings(client: Any, texts: list[str], model: str, timeout: float | None = None) -> Any:
    """One embeddings request: the fast path for the SDK's sync client, the SDK's own method for
    anything else (test doubles, a client type whose internals are not the ones relied on here,
    which keep their own timeout)."""
    if isinstance(client, GigaChatSyncClient):
        return post_embeddings(client, texts, model, timeout)
    return client.embeddings(texts, model=model)


def post_embeddings(client: GigaChatSyncClient, texts: list[str], model: str,
                    timeout: float | None = None) -> dict[str, Any] | Embeddings:
    """POST /embeddings with the SDK client's connection and token; the decoded answer.

    `timeout`: seconds this request may take (httpx's per-request timeout, in place of the client's;
    a repeat after a 401 gets what is left of it). Returns the answer as a dict shaped like the SDK's
    `Embeddings` model or, for an answer that is not plainly well formed, the SDK's model itself.
    Raises what `client.embeddings` raises, and EmbeddingResponseError for an unusable 200 answer."""
    # The SDK's own body: identical bytes on the wire.
    body = json.dumps({"input": texts, "model": model}, ensure_ascii=False)
    ends = None if timeout is None else time.monotonic() + timeout
    token = client.get_token()
    response = _post(client, body, token, ends)
    if response.status_code == HTTPStatus.UNAUTHORIZED and token is not None:
        # As the SDK's `_with_auth`: the token was revoked or expired early; renew it once.
        # `_reset_token` is part of the SDK's AuthClientProtocol (what `_with_auth` calls).
        client._reset_token()
        response = _post(client, body, client.get_token(), ends)
    if response.status_code != HTTPStatus.OK:
        # Private, but it is the SDK's own status -> exception table (BadRequestError,
        # AuthenticationError, RequestEntityTooLargeError, RateLimitError with retry_after, ...).
        sdk_utils._raise_for_status(response.url, response.status_code, response.content, response.headers)
    return _decode(response)


def _post(client: GigaChatSyncClient, body: str, token: Any, ends: float | None) -> httpx.Response:
    headers = sdk_utils.build_headers(token.access_token if token is not None else None)
    headers["Content-Type"] = "application/json"
    # `client._client` is the SDK's own httpx.Client (base_url, timeout, TLS settings / ssl context,
    # connection pool), built lazily under the SDK's lock: private, used so this request goes out
    # exactly as `client.embeddings` would send it. The SDK is pinned <0.3 (requirements.txt).
    timeout = httpx.USE_CLIENT_DEFAULT if ends is None else max(0.001, ends - time.monotonic())
    return client._client.request("POST", EMBEDDINGS_PATH, content=body, headers=headers, timeout=timeout)


class Decoded(dict):
    """A plainly well-formed answer as decoded, with its vectors already packed, in the order they
    came, into one buffer of C doubles (`flat`: bytes, `dims` values a vector): packing is also the
    check that every value is a number, so the engine reads the values without another pass over
    Python floats."""

    flat: bytes
    dims: int


def _decode(response: httpx.Response) -> Decoded | dict[str, Any] | Embeddings:
    content = response.content
    try:
        payload = orjson.loads(content)
    except ValueError:
        # orjson refuses what stdlib json accepts (NaN, non-UTF-8 encodings, huge integers):
        # decode as the SDK does.
        try:
            payload = json.loads(content)
        except ValueError:
            raise _unreadable(response) from None
    decoded = _well_formed(payload)
    if decoded is not None and not _holds_booleans(decoded):
        return decoded
    # Anything unusual: the SDK's `build_response`, but nothing it would coerce into a vector.
    if not isinstance(payload, dict):
        raise EmbeddingResponseError(f"a JSON {type(payload).__name__}, not an object")
    _check_values(payload)
    try:
        return Embeddings(x_headers=sdk_utils.build_x_headers(response), **payload)
    except pydantic.ValidationError as exc:
        raise EmbeddingResponseError(_fields_wrong(exc)) from None


def _holds_booleans(decoded: Decoded) -> bool:
    """Packing takes a JSON boolean for 1.0 or 0.0, so an answer with one takes the slow path, which
    refuses it as a value. Only the values packed as exactly 1.0 or 0.0 are looked at (one vectorised
    comparison finds them; GigaChat's norm-29 vectors hold a few 1.0s in most answers, so a byte
    search of the answer for true/false ran on nearly every one, at a fifth of its decode)."""
    block = np.frombuffer(decoded.flat, dtype=np.float64)
    found = np.flatnonzero((block == 1.0) | (block == 0.0))
    if not len(found):
        return False
    data, dims = decoded["data"], decoded.dims
    return any(type(data[at // dims]["embedding"][at % dims]) is bool for at in found.tolist())


def _unreadable(response: httpx.Response) -> EmbeddingResponseError:
    """What a 200 answer that is not JSON was: a web page (not the API), nothing, or cut short."""
    content = response.content.strip()
    if "html" in response.headers.get("content-type", "").lower() or content[:1] == b"<":
        return EmbeddingResponseError("a web page (HTML)", not_api=True)
    if not content:
        return EmbeddingResponseError("an empty body")
    return EmbeddingResponseError(f"JSON that is cut short or broken ({len(response.content):,} bytes)")


def _check_values(payload: dict) -> None:
    """Every vector's values are JSON numbers (not booleans or strings, which the SDK's model turns
    into floats). A slow-path check: per value at C level, and only for unusual answers."""
    data = payload.get("data")
    for item in data if isinstance(data, list) else ():
        vector = item.get("embedding") if isinstance(item, dict) else None
        if type(vector) is list and not _NUMBERS.issuperset(map(type, vector)):
            raise EmbeddingResponseError(f"embedding {item.get('index')!r} has values that are not numbers")


_NUMBERS = frozenset({int, float, type(None)})  # None: the SDK's model words that one itself


def _fields_wrong(exc: pydantic.ValidationError) -> str:
    """Where the answer's fields are not an embeddings answer's (pydantic's locations and words,
    never the values)."""
    errors = exc.errors(include_url=False, include_input=False)
    shown = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"fields that are not an embeddings answer's ({shown}{more})"


def _well_formed(payload: Any) -> Decoded | None:
    """The answer as `Decoded` when it already has the types the SDK's model would give it, so
    skipping the model changes nothing: every vector a list of numbers, all of one length, every
    index and token count an int. None otherwise."""
    if not isinstance(payload, dict) or not isinstance(payload.get("object"), str):
        return None
    if not isinstance(payload.get("model", ""), (str, type(None))):
        return None
    data = payload.get("data")
    if not isinstance(data, list):
        return None
    vectors = []
    for item in data:
        if not isinstance(item, dict) or type(item.get("index")) is not int or not isinstance(item.get("object"), str):
            return None
        usage = item.get("usage")
        if not isinstance(usage, dict) or type(usage.get("prompt_tokens")) is not int:
            return None
        vector = item.get("embedding")
        if type(vector) is not list:
            return None
        if vectors and len(vector) != len(vectors[0]):
            return None  # the SDK's model takes it; the engine's own check words the error
        vectors.append(vector)
    try:
        flat = values.doubles(vectors)  # also the check that every value is a number
    except (struct.error, TypeError, OverflowError):
        return None
    decoded = Decoded(payload)
    decoded.flat, decoded.dims = flat, len(vectors[0]) if vectors else 0
    return decoded
