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
- an answer that is not plainly well formed goes through exactly what the SDK does (stdlib json,
  then the pydantic model), so it fails, or is coerced, as before.

Relies on SDK internals (`_client`, `_reset_token`, `api.utils._raise_for_status`): the SDK is
pinned `<0.3` in requirements.txt; tests/unit/test_embeddings_http.py checks them against the
emulator.
"""

from __future__ import annotations

import json
import struct
from http import HTTPStatus
from typing import Any

import httpx
from gigachat.api import utils as sdk_utils
from gigachat.client import GigaChatSyncClient
from gigachat.models.embeddings import Embeddings

import orjson

from gigachat_dify.embeddings import values

EMBEDDINGS_PATH = "/embeddings"  # relative to the client's base_url, as the SDK sends it


def embeddings(client: Any, texts: list[str], model: str) -> Any:
    """One embeddings request: the fast path for the SDK's sync client, the SDK's own method for
    anything else (test doubles, a client type whose internals are not the ones relied on here)."""
    if isinstance(client, GigaChatSyncClient):
        return post_embeddings(client, texts, model)
    return client.embeddings(texts, model=model)


def post_embeddings(client: GigaChatSyncClient, texts: list[str], model: str) -> dict[str, Any] | Embeddings:
    """POST /embeddings with the SDK client's connection and token; the decoded answer.

    Returns the answer as a dict shaped like the SDK's `Embeddings` model or, for an answer that is
    not plainly well formed, the SDK's model itself. Raises what `client.embeddings` raises."""
    # The SDK's own body: identical bytes on the wire.
    body = json.dumps({"input": texts, "model": model}, ensure_ascii=False)
    token = client.get_token()
    response = _post(client, body, token)
    if response.status_code == HTTPStatus.UNAUTHORIZED and token is not None:
        # As the SDK's `_with_auth`: the token was revoked or expired early; renew it once.
        # `_reset_token` is part of the SDK's AuthClientProtocol (what `_with_auth` calls).
        client._reset_token()
        response = _post(client, body, client.get_token())
    if response.status_code != HTTPStatus.OK:
        # Private, but it is the SDK's own status -> exception table (BadRequestError,
        # AuthenticationError, RequestEntityTooLargeError, RateLimitError with retry_after, ...).
        sdk_utils._raise_for_status(response.url, response.status_code, response.content, response.headers)
    return _decode(response)


def _post(client: GigaChatSyncClient, body: str, token: Any) -> httpx.Response:
    headers = sdk_utils.build_headers(token.access_token if token is not None else None)
    headers["Content-Type"] = "application/json"
    # `client._client` is the SDK's own httpx.Client (base_url, timeout, TLS settings / ssl context,
    # connection pool), built lazily under the SDK's lock: private, used so this request goes out
    # exactly as `client.embeddings` would send it. The SDK is pinned <0.3 (requirements.txt).
    return client._client.request("POST", EMBEDDINGS_PATH, content=body, headers=headers)


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
        # decode as the SDK does, which either succeeds or raises the SDK's json.JSONDecodeError.
        payload = json.loads(content)
    decoded = _well_formed(payload)
    if decoded is not None:
        return decoded
    # Anything unusual: exactly the SDK's `build_response` (pydantic coerces or raises as before).
    return Embeddings(x_headers=sdk_utils.build_x_headers(response), **payload)


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
