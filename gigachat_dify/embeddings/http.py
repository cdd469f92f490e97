"""The embeddings request without the SDK's JSON decoding: same request, same errors, less CPU.

`GigaChat.embeddings` decodes the answer with `response.json()` (stdlib json) and builds a pydantic
`Embeddings` model: for 90 texts x 1,024 floats that is ~15 ms of CPU per request, most of the
plugin's CPU while indexing a knowledge base. `post_embeddings` sends the request the SDK would send
and reads a plainly well-formed answer with simdjson straight into one buffer of doubles (~2 ms; no
Python float is made: orjson's decode, ~4 ms, made 92,160 of them, then packed and freed them),
returning it as `Decoded`, which `gigachat_dify.embeddings.execution` reads like the SDK's model
(`data[i].index`, `.usage.prompt_tokens`; the vectors from the buffer). Anything else is unchanged:

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
import simdjson

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
    """A plainly well-formed answer: its fields as decoded except the vectors, which are in `flat`,
    one buffer of C doubles in the order they came (`dims` values a vector). Its items' indexes are
    0..n-1 in some order and its vectors non-empty, so the engine never needs them as lists."""

    flat: bytes
    dims: int


def _decode(response: httpx.Response) -> Decoded | Embeddings:
    content = response.content
    decoded = _plain(content)
    if decoded is not None:
        return decoded
    # Anything unusual: the SDK's `build_response`, but nothing it would coerce into a vector.
    try:
        payload = orjson.loads(content)
    except ValueError:
        # orjson refuses what stdlib json accepts (NaN, non-UTF-8 encodings, huge integers):
        # decode as the SDK does.
        try:
            payload = json.loads(content)
        except ValueError:
            raise _unreadable(response) from None
    if not isinstance(payload, dict):
        raise EmbeddingResponseError(f"a JSON {type(payload).__name__}, not an object")
    _check_values(payload)
    try:
        return Embeddings(x_headers=sdk_utils.build_x_headers(response), **payload)
    except pydantic.ValidationError as exc:
        raise EmbeddingResponseError(_fields_wrong(exc)) from None


def _plain(content: bytes) -> Decoded | None:
    """The answer as `Decoded` when it already has the types the SDK's model would give it, so
    skipping the model changes nothing: an object with a string `object`, `model` a string or
    null, and `data` a list of objects, each with an int `index` (0..n-1, each once), a string
    `object`, `usage.prompt_tokens` an int and `embedding` a non-empty list of JSON numbers, all of
    one length; no key twice (simdjson would read the first, json the last: an object with only
    the fields read cannot have one, and a count of fields costs nothing; other fields are allowed,
    then the keys are compared). None for anything else, which takes the SDK's way: simdjson
    refuses what is not JSON, a boolean, string or null among the values (INCORRECT_TYPE), an
    integer beyond 64 bits; a list nested in a vector, which simdjson's buffer would flatten, is
    seen by counting brackets (a plain answer has one per vector and one for `data`; a bracket
    inside a string only sends the answer the slow way)."""
    parser = _PARSERS.pop() if _PARSERS else simdjson.Parser()
    try:
        found = _read(parser, content)
    except RuntimeError:
        # An integer beyond 64 bits, or this parser still held by a document (only an exception that
        # escaped an earlier read can leave one): the answer goes the slow way, the parser is dropped.
        return None
    if len(_PARSERS) < _KEPT_PARSERS:
        _PARSERS.append(parser)
    return found


def _read(parser: Any, content: bytes) -> Decoded | None:
    """`_plain` with a parser; nothing of simdjson's outlives the call, so the parser can read the
    next answer. RuntimeError: see `_plain`."""
    try:
        document = parser.parse(content)
        if not isinstance(document, simdjson.Object):
            return None
        kind, model, data = document.get("object"), document.get("model", _ABSENT), document.get("data")
        if type(kind) is not str or not (model is None or model is _ABSENT or type(model) is str):
            return None
        if len(document) != 2 + (model is not _ABSENT) and not _unique(document):
            return None
        if not isinstance(data, simdjson.Array) or not len(data):
            return None
        items, buffers, dims = [], [], None
        for item in data:
            if not isinstance(item, simdjson.Object) or (len(item) != 4 and not _unique(item)):
                return None
            index, item_kind, usage, vector = item.get("index"), item.get("object"), item.get("usage"), item.get("embedding")
            if type(index) is not int or type(item_kind) is not str or not isinstance(vector, simdjson.Array):
                return None
            if not isinstance(usage, simdjson.Object) or (len(usage) != 1 and not _unique(usage)):
                return None
            tokens = usage.get("prompt_tokens")
            if type(tokens) is not int:
                return None
            if dims is None:
                dims = len(vector)
            if not dims or len(vector) != dims:
                return None  # the SDK's model takes it; the engine's own checks word the error
            buffers.append(vector.as_buffer(of_type="d"))
            items.append({"index": index, "object": item_kind, "usage": {"prompt_tokens": tokens}})
        flat = b"".join(buffers)
    except (ValueError, TypeError):
        return None
    if len(flat) != 8 * dims * len(items) or sorted(item["index"] for item in items) != list(range(len(items))):
        return None
    if int(np.count_nonzero(np.frombuffer(content, dtype=np.uint8) == _BRACKET)) != 1 + len(items):
        return None
    decoded = Decoded(object=kind, data=items)
    if model is not _ABSENT:
        decoded["model"] = model
    decoded.flat, decoded.dims = flat, dims
    return decoded


_BRACKET = ord("[")
# Parsers kept for the next answers: a parser keeps its buffers, so a new one per answer costs page
# faults (~160 per answer of 90 x 1,024 values). Taken and given back whole (list.pop/append hold
# the GIL), so no two threads share one; at most as many as answers read at the same moment.
_PARSERS: list[Any] = []
_KEPT_PARSERS = 4
_ABSENT = object()


def _unique(node: Any) -> bool:
    """No key twice in this JSON object."""
    keys = list(node.keys())
    return len(keys) == len(set(keys))


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
