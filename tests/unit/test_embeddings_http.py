"""gigachat_dify.embeddings.http: the SDK's embeddings request, decoded with orjson, against the
in-process emulator with a real gigachat client: same request, same answer, same exceptions."""

from __future__ import annotations

import json
import struct
import ssl
import time

import gigachat
import gigachat.exceptions as gx
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from gigachat.models.embeddings import Embeddings

from emulator import DEFAULT_KEY, Emulator
from gigachat_dify.embeddings import http as embeddings_http
from gigachat_dify.embeddings import values
from gigachat_dify.embeddings.execution import EmbeddingResponseError, parse_block, parse_response

SSL = ssl.create_default_context()  # unused over http; avoids building one per client
TEXTS = ["First text", "Второй текст", "third"]


@pytest.fixture
def emu():
    with Emulator() as e:
        yield e


@pytest.fixture
def client(emu):
    c = gigachat.GigaChat(
        base_url=emu.base_url, auth_url=emu.auth_url, credentials=DEFAULT_KEY, scope="GIGACHAT_API_PERS",
        verify_ssl_certs=True, ssl_context=SSL, timeout=10, max_retries=0,
    )
    yield c
    c.close()


def api_calls(emu, path="/embeddings"):
    return [r for r in emu.log if r.path == path]


def oauth_calls(emu):
    return [r for r in emu.log if r.form is not None]


def test_the_fast_path_keeps_the_fields_the_engine_reads_as_the_sdks_model_has_them(emu, client):
    fast = embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    sdk = client.embeddings(TEXTS, model="Embeddings")
    assert isinstance(fast, embeddings_http.Decoded)  # the fast path: no pydantic model, no Python floats
    assert (fast["object"], fast["model"]) == (sdk.object_, sdk.model)
    assert [(item["index"], item["object"], item["usage"]["prompt_tokens"]) for item in fast["data"]] == \
        [(item.index, item.object_, item.usage.prompt_tokens) for item in sdk.data]


def test_the_fast_path_reads_the_same_block_and_tokens_as_the_sdks_model(emu, client):
    fast = embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    sdk = client.embeddings(TEXTS, model="Embeddings")
    assert isinstance(fast, embeddings_http.Decoded) and len(fast.flat) == 8 * len(TEXTS) * fast.dims
    rows, tokens = parse_block(fast, len(TEXTS))
    vectors, sdk_tokens = parse_response(sdk, len(TEXTS))
    assert values.is_short(rows) and rows.astype(float).tolist() == vectors and tokens == sdk_tokens


def test_request_is_the_one_the_sdk_sends(emu, client):
    client.embeddings(TEXTS, model="EmbeddingsGigaR")
    embeddings_http.post_embeddings(client, TEXTS, "EmbeddingsGigaR")
    sdk, fast = api_calls(emu)
    assert (fast.method, fast.path, fast.json) == (sdk.method, sdk.path, sdk.json)
    assert fast.json == {"input": TEXTS, "model": "EmbeddingsGigaR"}
    assert fast.auth_scheme == sdk.auth_scheme == "Bearer"
    assert fast.client_id == sdk.client_id is not None  # the token was accepted
    for name in ("user-agent", "content-type", "authorization"):
        assert fast.headers.get(name) == sdk.headers.get(name), name
    assert fast.headers.get("content-type") == "application/json"
    assert len(oauth_calls(emu)) == 1  # one token for both: the SDK's cached token is reused


def test_context_variable_headers_are_sent(emu, client):
    from gigachat.context import session_id_cvar

    reset = session_id_cvar.set("session-42")
    try:
        embeddings_http.post_embeddings(client, ["x"], "Embeddings")
    finally:
        session_id_cvar.reset(reset)
    assert api_calls(emu)[-1].headers.get("x-session-id") == "session-42"


def test_rate_limit_raises_the_sdk_error_with_retry_after(emu, client):
    emu.faults.inject(status=429, retry_after=7, path="/embeddings")
    with pytest.raises(gx.RateLimitError) as info:
        embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    assert info.value.status_code == 429 and info.value.retry_after == 7
    assert len(api_calls(emu)) == 1  # not repeated here: the engine decides


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (413, gx.RequestEntityTooLargeError),
        (422, gx.UnprocessableEntityError),
        (400, gx.BadRequestError),
        (403, gx.ForbiddenError),
        (404, gx.NotFoundError),
        (500, gx.ServerError),
        (503, gx.ServerError),
    ],
)
def test_error_statuses_raise_the_sdk_types(emu, client, status, error):
    emu.faults.inject(status=status, path="/embeddings")
    with pytest.raises(error) as info:
        embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    assert info.value.status_code == status
    assert info.value.content  # the body is kept for errors.py's messages


def test_expired_token_is_renewed_once_transparently(emu, client):
    embeddings_http.post_embeddings(client, ["warm"], "Embeddings")
    emu.faults.expire_tokens()
    answer = embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    assert len(parse_block(answer, len(TEXTS))[0]) == len(TEXTS)
    assert [r.status for r in api_calls(emu)] == [200, 401, 200]
    assert len(oauth_calls(emu)) == 2
    assert len(emu.issued_tokens) == 2


def test_persistent_401_raises_authentication_error(emu, client):
    emu.faults.inject(status=401, count=5, path="/embeddings")
    with pytest.raises(gx.AuthenticationError):
        embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    assert [r.status for r in api_calls(emu)] == [401, 401]  # one renewal, as the SDK's _with_auth
    assert len(oauth_calls(emu)) == 2


def test_bad_key_fails_at_oauth_like_the_sdk(emu):
    c = gigachat.GigaChat(
        base_url=emu.base_url, auth_url=emu.auth_url, credentials="bm90OmEta2V5", scope="GIGACHAT_API_PERS",
        verify_ssl_certs=True, ssl_context=SSL, timeout=10, max_retries=0,
    )
    try:
        with pytest.raises(gx.AuthenticationError):
            embeddings_http.post_embeddings(c, TEXTS, "Embeddings")
        assert api_calls(emu) == []
    finally:
        c.close()


def test_transport_errors_propagate_as_httpx_errors(emu, client):
    embeddings_http.post_embeddings(client, ["warm"], "Embeddings")  # token fetched
    emu.faults.refuse_connections(mode="refuse")
    try:
        with pytest.raises(httpx.TransportError):
            embeddings_http.post_embeddings(client, TEXTS, "Embeddings")
    finally:
        emu.faults.refuse_connections(False, mode="refuse")


def test_dispatch_uses_the_sdk_method_for_other_clients():
    class Double:
        def embeddings(self, texts, model="Embeddings"):
            return ("sdk", list(texts), model)

    assert embeddings_http.embeddings(Double(), ["a"], "M") == ("sdk", ["a"], "M")


# --- decoding odd answers exactly as the SDK's build_response would ------------------------------


def response(body: bytes | str, status: int = 200) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=content, request=httpx.Request("POST", "http://x/api/v1/embeddings"))


ITEM = {"object": "embedding", "embedding": [0.5, -1.25], "index": 0, "usage": {"prompt_tokens": 3}}


def test_plain_answer_is_returned_as_decoded_with_its_values_in_one_buffer():
    payload = {"object": "list", "data": [ITEM, {**ITEM, "index": 1, "embedding": [3, -0.0]}], "model": "Embeddings"}
    decoded = embeddings_http._decode(response(json.dumps(payload)))
    assert isinstance(decoded, embeddings_http.Decoded) and decoded.dims == 2
    assert struct.unpack("4d", decoded.flat) == (0.5, -1.25, 3.0, -0.0)
    assert decoded == {"object": "list", "model": "Embeddings",
                       "data": [{k: v for k, v in item.items() if k != "embedding"} for item in payload["data"]]}


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "list", "data": [{**ITEM, "usage": {"prompt_tokens": 3.0}}]},  # pydantic coerces
        {"object": "list", "data": [{**ITEM, "extra": True}], "model": "Embeddings"},
    ],
)
def test_unusual_answers_are_read_as_the_sdk_model_reads_them(payload):
    rows, tokens = parse_block(embeddings_http._decode(response(json.dumps(payload))), 1)
    vectors, sdk_tokens = parse_response(Embeddings(**payload), 1)
    assert rows.tolist() == vectors and tokens == sdk_tokens


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"object": "list", "data": [{**ITEM, "embedding": [None, 1.0]}]}, r"data\.0\.embedding\.0: Input should be"),
        ({"object": "list", "data": [{k: v for k, v in ITEM.items() if k != "usage"}]}, r"data\.0\.usage: Field required"),
        ({"data": [ITEM]}, "object: Field required"),
        ({"object": "list", "data": None}, "data: Input should be a valid list"),
        ({"object": "list", "data": [{**ITEM, "usage": {"prompt_tokens": 7.9}}]}, "prompt_tokens"),
        ([ITEM], "a JSON list, not an object"),
    ],
)
def test_an_answer_the_sdks_model_refuses_is_an_unusable_answer_naming_the_field(payload, error):
    with pytest.raises(EmbeddingResponseError, match=f"fields that are not an embeddings answer's.*{error}|{error}"):
        embeddings_http._decode(response(json.dumps(payload)))


@pytest.mark.parametrize(
    "vector",
    [[True, 1.0], [0.5, False], ["0.5", 1.0], [0.5, "1"], [[0.5], 1.0]],
    ids=["true", "false", "string", "string-int", "nested"],
)
def test_values_that_are_not_json_numbers_are_an_unusable_answer(vector):
    payload = {"object": "list", "data": [{**ITEM, "embedding": vector}]}
    with pytest.raises(EmbeddingResponseError):
        parse_block(embeddings_http._decode(response(json.dumps(payload))), 1)


@pytest.mark.parametrize("vector", [[1.0, 0.0], [0.0, -0.0], [1.0, 0.25]], ids=["one-zero", "zeros", "one"])
def test_values_of_exactly_one_or_zero_are_numbers_not_mistaken_for_booleans(vector):
    # A boolean packs as 1.0 or 0.0: such values send the answer to the search for JSON booleans,
    # which a real number must pass (fast path, the values as they came).
    payload = {"object": "list", "data": [{**ITEM, "embedding": vector}], "model": "Embeddings"}
    decoded = embeddings_http._decode(response(json.dumps(payload)))
    assert isinstance(decoded, embeddings_http.Decoded)
    rows, _ = parse_block(decoded, 1)
    assert rows.tolist() == [vector]


@pytest.mark.parametrize("boolean_at", [(0, 0), (1, 2), (2, 1)])
def test_a_boolean_among_numbers_of_exactly_one_or_zero_is_found_in_any_vector(boolean_at):
    # Values 1.0 and 0.0 are real numbers in every vector; the one boolean is found where it is.
    vectors = [[1.0, 0.0, 0.25], [0.5, -0.0, 1.0], [0.0, 1.0, 0.75]]
    row, col = boolean_at
    vectors[row][col] = bool(vectors[row][col])
    payload = {"object": "list", "model": "Embeddings",
               "data": [{**ITEM, "index": i, "embedding": v} for i, v in enumerate(vectors)]}
    with pytest.raises(EmbeddingResponseError, match=f"embedding {row} has values that are not numbers"):
        embeddings_http._decode(response(json.dumps(payload)))


def test_a_boolean_elsewhere_in_the_answer_does_not_refuse_it():
    payload = {"object": "list", "data": [{**ITEM, "extra": True}], "model": "Embeddings"}
    rows, tokens = parse_block(embeddings_http._decode(response(json.dumps(payload))), 1)
    assert rows.tolist() == [[0.5, -1.25]] and tokens == 3


@pytest.mark.parametrize(
    ("body", "content_type", "error", "not_api"),
    [
        ('{"object": "list", "data": [{"object": "embed', "application/json", "cut short or broken", False),
        ("", "application/json", "an empty body", False),
        ("<html>gateway</html>", "text/html", r"a web page \(HTML\)", True),
        ("<!doctype html><p>hi", "application/json", "a web page", True),
    ],
)
def test_a_200_answer_that_is_not_json_is_an_unusable_answer_saying_what_it_was(body, content_type, error, not_api):
    answer_ = httpx.Response(200, content=body.encode(), headers={"content-type": content_type},
                             request=httpx.Request("POST", "http://x/api/v1/embeddings"))
    with pytest.raises(EmbeddingResponseError, match=error) as info:
        embeddings_http._decode(answer_)
    assert info.value.not_api is not_api


def items(*specs):
    """Answer items: (index, vector) each."""
    return [{**ITEM, "index": i, "embedding": v} for i, v in specs]


def test_items_out_of_order_are_put_in_request_order_from_the_buffer():
    decoded = embeddings_http._decode(response(json.dumps({"object": "list", "data": items((1, [0.25, 2.0]), (0, [0.5, -1.0]))})))
    rows, tokens = parse_block(decoded, 2)
    assert rows.tolist() == [[0.5, -1.0], [0.25, 2.0]] and tokens == 6


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (items((0, [0.5, 1.0]), (0, [0.5, 1.0])), "out of range or repeated"),
        (items((0, [0.5, 1.0]), (2, [0.5, 1.0])), "out of range or repeated"),
        (items((0, [0.5, 1.0])), "expected 2 embeddings, got 1"),
        (items((0, []), (1, [])), "empty"),
        (items((0, [0.5, 1.0]), (1, [0.5])), "different dimensions"),
        (items((0, [0.5, 1e308 * 10]), (1, [0.5, 1.0])), "not finite"),
        ([{**i, "usage": {"prompt_tokens": -1000}} for i in items((0, [0.5, 1.0]), (1, [0.5, 1.0]))],
         "negative prompt_tokens"),
        (items((0, [[0.5], 1.0]), (1, [0.5, 1.0])), "not numbers"),  # simdjson's buffer would flatten it
    ],
)
def test_a_malformed_plain_answer_gets_the_engines_own_error(data, error):
    with pytest.raises(EmbeddingResponseError, match=error):
        parse_block(embeddings_http._decode(response(json.dumps({"object": "list", "data": data}))), 2)


def test_float32_values_stay_as_they_came():
    decoded = embeddings_http._decode(response(json.dumps({"object": "list", "data": items((0, [0.1, 0.2]))})))
    rows, _ = parse_block(decoded, 1)
    assert not values.is_short(rows) and rows.tolist() == [[0.1, 0.2]]


@pytest.mark.parametrize(("dims", "expected", "error"), [
    (512, 1024, "vectors of 512 values, the model's have 1,024"),
    (2048, 1024, "vectors of 2,048 values, the model's have 1,024"),
    (70_000, None, "vectors of 70,000 values, more than any embedding model's"),
])
def test_vectors_not_of_the_models_dimensions_are_an_unusable_answer(dims, expected, error):
    body = json.dumps({"object": "list", "data": items((0, [0.5] * dims))})
    decoded = embeddings_http._decode(response(body))
    with pytest.raises(EmbeddingResponseError, match=error):
        parse_block(decoded, 1, expected)
    with pytest.raises(EmbeddingResponseError, match=error):  # the slow path too
        parse_block(Embeddings(object="list", data=items((0, [0.5] * dims))), 1, expected)
    if expected:
        assert parse_block(decoded, 1, dims)[0].shape == (1, dims)


def test_each_request_has_the_timeout_it_is_given(emu, client):
    hold = emu.faults.hold(count=1, path="/embeddings")
    try:
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            embeddings_http.post_embeddings(client, TEXTS, "Embeddings", timeout=0.5)  # the client's is 10 s
        assert time.monotonic() - started < 3
    finally:
        hold.release()


def test_what_only_stdlib_json_reads_is_still_read():
    # NaN is not JSON; stdlib json (the SDK's decoder) accepts it and the engine rejects the vector.
    body = '{"object": "list", "data": [{"object": "embedding", "embedding": [NaN, 1.0], "index": 0, ' \
           '"usage": {"prompt_tokens": 1}}]}'
    decoded = embeddings_http._decode(response(body))
    with pytest.raises(EmbeddingResponseError, match="not finite"):
        parse_block(decoded, 1)


def test_an_answer_with_more_fields_than_gigachats_stays_on_the_fast_path():
    payload = {"object": "list", "model": "Embeddings", "created": 1, "data": [
        {**ITEM, "extra": True, "usage": {"prompt_tokens": 3, "cached_tokens": 0}}]}
    decoded = embeddings_http._decode(response(json.dumps(payload)))
    assert isinstance(decoded, embeddings_http.Decoded)
    rows, tokens = parse_block(decoded, 1)
    assert rows.tolist() == [[0.5, -1.25]] and tokens == 3


@pytest.mark.parametrize(
    "body",
    [
        # a key twice: simdjson would read the first, the SDK's json reads the last
        '{"object": "list", "data": [{"object": "embedding", "embedding": [0.5, -1.25], "embedding": [1.0, 2.0],'
        ' "index": 0, "usage": {"prompt_tokens": 3}}]}',
        '{"object": "list", "data": [{"object": "embedding", "embedding": [0.5, -1.25], "index": 0,'
        ' "usage": {"prompt_tokens": 3, "prompt_tokens": 4}}]}',
        '{"object": "list", "data": [{"object": "embedding", "embedding": [0.5, -1.25], "index": 0, "index": 0,'
        ' "usage": {"prompt_tokens": 3}}], "model": "Embeddings"}',
        '{"object": "list", "data": [{"object": "embedding", "embedding": [0.5, -1.25], "index": 0,'
        ' "usage": {"prompt_tokens": 3}}], "model": "A", "model": "B"}',
        # a bracket inside a string: counted, so the answer is read the slow way, and read right
        '{"object": "list", "model": "Embeddings [beta]", "data": [{"object": "embedding", "embedding": [0.5, -1.25],'
        ' "index": 0, "usage": {"prompt_tokens": 3}}]}',
    ],
    ids=["vector-twice", "tokens-twice", "index-twice", "model-twice", "bracket-in-string"],
)
def test_answers_the_fast_path_declines_are_read_as_the_sdk_reads_them(body):
    decoded = embeddings_http._decode(response(body))
    assert not isinstance(decoded, embeddings_http.Decoded)
    rows, tokens = parse_block(decoded, 1)
    vectors, sdk_tokens = parse_response(Embeddings(**json.loads(body)), 1)
    assert rows.tolist() == vectors and tokens == sdk_tokens


def test_a_parser_still_held_by_a_document_is_dropped_and_the_answer_still_read():
    import simdjson

    held = simdjson.Parser()
    document = held.parse(b'{"a": [1.0]}')  # as if an exception had escaped with the document in it
    embeddings_http._PARSERS[:] = [held]
    payload = {"object": "list", "data": [ITEM], "model": "Embeddings"}
    rows, tokens = parse_block(embeddings_http._decode(response(json.dumps(payload))), 1)
    assert rows.tolist() == [[0.5, -1.25]] and tokens == 3
    assert held not in embeddings_http._PARSERS
    assert isinstance(embeddings_http._decode(response(json.dumps(payload))), embeddings_http.Decoded)
    del document


def _decoded_values(vectors: list[list[float]]) -> list[float]:
    payload = {"object": "list", "model": "Embeddings",
               "data": [{**ITEM, "index": i, "embedding": v} for i, v in enumerate(vectors)]}
    decoded = embeddings_http._decode(response(json.dumps(payload)))
    assert isinstance(decoded, embeddings_http.Decoded)
    return list(struct.unpack(f"{len(decoded.flat) // 8}d", decoded.flat))


def test_every_half_as_gigachat_prints_it_is_read_bit_for_bit():
    import numpy as np

    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    values_ = halves[np.isfinite(halves)].astype(np.float64).tolist()  # 63,488, json.dumps prints each as repr
    vectors = [values_[i:i + 992] for i in range(0, len(values_), 992)]  # 64 vectors of 992
    assert _decoded_values(vectors) == values_
    assert [v.hex() for v in _decoded_values(vectors)] == [v.hex() for v in values_]  # -0.0 kept too


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=64))
def test_any_double_is_read_as_pythons_json_reads_it(numbers):
    decoded = _decoded_values([numbers])
    assert [v.hex() for v in decoded] == [float(json.loads(json.dumps(n))).hex() for n in numbers]
