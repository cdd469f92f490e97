"""Property-based tests over the pure conversion functions (hypothesis).

Whatever Dify sends - any prompt messages and content parts, any tool schema, any model
parameters, any credentials form - the plugin either builds a request that GigaChat's rules accept
(checked with the emulator's own validation, ``emulator.chat.validate_chat`` and
``emulator.schema_rules.function_schema_problems``) or raises the documented Dify error with a
clear message. Nothing else, never a hang: chat properties are bounded by counts (nodes, regex
matches), the others run each example under ``time_budget``.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import os
import re
import socket
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from dify_plugin.entities.model.llm import LLMUsage
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    ImagePromptMessageContent,
    PromptMessageRole,
    SystemPromptMessage,
    TextPromptMessageContent,
    UserPromptMessage,
    ensure_prompt_message,
)
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeBadRequestError
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from emulator.chat import validate_chat
from emulator.errors import ApiError
from emulator.files import FileStore
from emulator.schema_rules import FUNCTION_NAME, function_schema_problems
from gigachat_dify import redaction
from gigachat_dify.chat import files
from gigachat_dify.embeddings import combining, planning
from gigachat_dify.connection.auth.authorization_key import SCOPES
from gigachat_dify.connection.credentials import ConnectionSettings, parse_credentials
from gigachat_dify.chat.v1.messages import MAX_IMAGES_PER_REQUEST, convert_messages
from gigachat_dify.chat.v1.params import build_chat_payload
from gigachat_dify.chat.assembly import THINK_CLOSE, THINK_OPEN
from gigachat_dify.connection.tls import PemError, build_ssl_context, normalize_pem
from gigachat_dify.chat.schema_refs import MAX_EXPANDED_NODES
from gigachat_dify.tokens import REQUEST_OVERHEAD, estimate_prompt_tokens, estimate_tokens
from gigachat_dify.chat.tool_schema import clean_schema, to_gigachat_functions
from tests.support.certs import make_ca
from tests.unit import strategies as S
from tests.unit.test_stream import chunk, completion, run, to_llm_result
from tests.unit.test_tokens import counting_pieces

MODEL = "GigaChat-2-Max"
USAGE = LLMUsage.empty_usage()
#: Per-example wall-clock budget: generous for a loaded 2-core machine, tiny next to a hang.
BUDGET = 10.0

#: PROPERTY_TESTS_SCALE=10 runs ten times as many examples (for a longer bug hunt).
SCALE = float(os.environ.get("PROPERTY_TESTS_SCALE", "1"))


def n(examples: int) -> int:
    return max(1, int(examples * SCALE))


FAST = settings(max_examples=n(150), deadline=timedelta(seconds=3), suppress_health_check=[HealthCheck.too_slow])
HEAVY = settings(
    max_examples=n(120),
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

_EXCEPTION_NAMES = re.compile(r"Traceback|\b(?:[A-Z][a-z]+)*(?:Error|Exception)\b|binascii|\bErrno\b")


def _no_nan(value: str):
    raise ValueError(f"{value} is not JSON")


def _strict_json(text: str):
    """json.loads as a strict JSON parser (GigaChat's) does it: NaN/Infinity are not JSON."""
    return json.loads(text, parse_constant=_no_nan)


# =========================================================================== 1. request building

#: Chat properties are bounded by counts (examples, nodes, regex matches), never by wall-clock time:
#: the machine is shared and noisy; pytest-timeout still ends a real hang.
CHAT = settings(max_examples=n(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHAT_HEAVY = settings(
    max_examples=n(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _nodes(value) -> int:
    """Mappings inside a JSON value (iterative: no recursion limit). A schema node with properties is
    two mappings, so a schema of N nodes written within the budget has at most 2 * (budget + N)."""
    count, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            count += 1
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return count


class EmulatorFiles:
    """``resolve_file`` for convert_messages: files.load (the real checks) + the emulator's file store."""

    accepts = frozenset({"image", "document"})

    def __init__(self) -> None:
        self.store = FileStore()
        self.calls = 0

    @staticmethod
    def _fetch(url: str) -> bytes:
        if not url.startswith(("http://", "https://")):
            raise InvokeBadRequestError(f"The file at {url} could not be downloaded.")
        return b"downloaded file bytes"

    def __call__(self, part) -> str:
        self.calls += 1
        payload = files.load(part, fetch=self._fetch)
        return self.store.add(payload.filename, payload.data, "general", payload.mime)


def _texts_of(message) -> list[str]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    return [p.data for p in content if isinstance(p, TextPromptMessageContent)]


def _appears(text: str, body: list[dict]) -> bool:
    """``text`` is somewhere in the converted messages (verbatim, or as a function result value)."""
    for m in body:
        content = m.get("content") or ""
        if text in content:
            return True
        if m.get("role") == "function":
            value = json.loads(content)
            result = value.get("result") if isinstance(value, dict) else None
            if isinstance(result, str) and text in result:  # a part of a several-part result
                return True
            try:
                if value == json.loads(text) or result == json.loads(text):
                    return True
            except ValueError:
                pass
    return False


def assert_gigachat_accepts(payload: dict, store: FileStore) -> None:
    """The emulator's validation plus the stricter rules of the real API this plugin promises."""
    wire = json.dumps(payload, ensure_ascii=False, allow_nan=False)  # strict JSON on the wire
    body = json.loads(wire)
    try:
        validate_chat(body, store)
    except ApiError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"the emulator rejects the request: {exc.status} {exc.message}\n{wire[:3000]}")

    messages = body["messages"]
    assert messages, "GigaChat rejects an empty message list"
    systems = [i for i, m in enumerate(messages) if m["role"] == "system"]
    assert systems in ([], [0]), "at most one system message, and first"
    images = 0
    for i, m in enumerate(messages):
        assert isinstance(m.get("content"), str), f"messages[{i}].content must be a str"
        attachments = m.get("attachments") or []
        assert len(attachments) <= 1, "one file per message (GigaChat reads one image / the first document)"
        images += sum(1 for a in attachments if store.get(a).mime.startswith("image/"))
        if m["role"] == "function":
            assert isinstance(_strict_json(m["content"]), dict), "a function result is a JSON object"
            assert FUNCTION_NAME.match(m.get("name", "")), m
        fc = m.get("function_call")
        if fc:
            assert FUNCTION_NAME.match(fc["name"]), fc
            assert isinstance(fc["arguments"], dict)
            nxt = messages[i + 1]
            assert nxt["role"] == "function" and nxt["name"] == fc["name"], "every call is followed by its result"
    assert images <= MAX_IMAGES_PER_REQUEST
    for f in body.get("functions") or []:
        assert function_schema_problems(f["parameters"]) == []
        assert f["description"].strip()
    fmt = body.get("response_format")
    if fmt:  # structured output takes full JSON Schema (only local $refs are inlined): see below
        assert fmt["type"] == "json_schema" and fmt["strict"] is True and isinstance(fmt["schema"], dict)


@CHAT_HEAVY
@given(
    messages=S.prompt_messages,
    tools=st.lists(S.tools, max_size=3),
    params=S.model_parameters,
    stream=st.booleans(),
    accepts_files=st.booleans(),
)
@example(messages=[], tools=[], params={}, stream=False, accepts_files=False)
@example(messages=[SystemPromptMessage(content=" ")], tools=[], params={"response_format": "json_object"},
         stream=True, accepts_files=True)
def test_any_request_converts_to_one_gigachat_accepts_or_raises_bad_request(messages, tools, params, stream, accepts_files):
    resolver = EmulatorFiles()
    try:
        functions, names = to_gigachat_functions(tools) if tools else ([], {})
        converted = convert_messages(
            messages, resolve_file=resolver if accepts_files else None, function_names=names
        )
        payload = build_chat_payload(MODEL, converted, params, functions or None, stream)
    except InvokeBadRequestError as exc:
        message = str(exc)
        assert message.strip() and not _EXCEPTION_NAMES.search(message), message
        event(f"refused: {message[:40]}")
        return
    assert_gigachat_accepts(payload, resolver.store)
    event(f"accepted: {len(payload['messages'])} messages")
    event(f"accepted: functions={bool(payload.get('functions'))}, "
          f"calls={any(m.get('function_call') for m in payload['messages'])}, "
          f"files={any(m.get('attachments') for m in payload['messages'])}, "
          f"response_format={bool(payload.get('response_format'))}")

    # Nothing anyone sent is lost: every non-blank text is somewhere in the request.
    body = payload["messages"]
    for raw in messages:
        m = ensure_prompt_message(raw)
        for text in _texts_of(m):
            if not text.strip():
                continue
            assert _appears(text, body), f"{m.role.value} text {text!r} is missing from {body}"
            if m.role in (PromptMessageRole.SYSTEM, PromptMessageRole.DEVELOPER):
                assert body[0]["role"] == "system" and text in body[0]["content"]
    # Tool names come back: every function name maps to the Dify name of a declared tool.
    assert {names[f["name"]] for f in payload.get("functions", [])} == {t.name for t in tools}


@CHAT
@given(
    turns=st.lists(
        st.tuples(st.lists(st.one_of(S.text_parts, S.good_file_parts), max_size=8), st.booleans()), min_size=1, max_size=4
    )
)
def test_user_files_become_one_attachment_per_message_in_order_within_the_image_limit(turns):
    messages = []
    for parts, with_answer in turns:
        messages.append(UserPromptMessage(content=parts))
        if with_answer:
            messages.append(AssistantPromptMessage(content="ok"))
    images = sum(isinstance(p, ImagePromptMessageContent) for parts, _ in turns for p in parts)
    resolver = EmulatorFiles()
    try:
        converted = convert_messages(messages, resolve_file=resolver)
    except InvokeBadRequestError as exc:
        message = str(exc)
        assert images > MAX_IMAGES_PER_REQUEST and "images" in message, message
        assert resolver.calls == 0, "nothing is uploaded for a request that is refused"
        return
    assert images <= MAX_IMAGES_PER_REQUEST
    assert_gigachat_accepts(build_chat_payload(MODEL, converted, {}, None, False), resolver.store)
    # Files keep their order, one per message, and no text is lost.
    files_in = [p for parts, _ in turns for p in parts if not isinstance(p, TextPromptMessageContent)]
    attached = [resolver.store.get(a) for m in converted for a in m.get("attachments", [])]
    assert [base64.b64decode(p.base64_data) for p in files_in] == [f.data for f in attached]
    for parts, _ in turns:
        texts = [p.data for p in parts if isinstance(p, TextPromptMessageContent) and p.data.strip()]
        for text in texts:
            assert _appears(text, converted)


@CHAT
@given(part=st.one_of(S.image_parts, S.document_parts, S.audio_parts, S.video_parts))
def test_file_parts_load_within_gigachat_limits_or_raise_bad_request(part):
    try:
        payload = files.load(part, fetch=EmulatorFiles._fetch)
    except InvokeBadRequestError as exc:
        assert str(exc).strip() and not _EXCEPTION_NAMES.search(str(exc))
        return
    assert payload.kind in ("image", "document", "audio")
    table = {"image": files.IMAGE_TYPES, "document": files.DOCUMENT_TYPES, "audio": files.AUDIO_TYPES}[payload.kind]
    assert payload.mime in table.values() and payload.data
    assert "." in payload.filename
    FileStore().add(payload.filename, payload.data, "general", payload.mime)  # the emulator takes it


@CHAT_HEAVY
@given(schema=S.json_schemas(), shape=st.integers(0, 3))
def test_structured_output_schema_is_sent_whole_with_local_refs_inlined(schema, shape):
    try:
        text = json.dumps(schema)
    except RecursionError:
        text = None
    param = [schema, text, {"name": "reply", "schema": schema}, {"name": "reply", "schema": text}][shape]
    params = {"response_format": "json_schema", "json_schema": param if param is not None else schema}
    try:
        payload = build_chat_payload(MODEL, [{"role": "user", "content": "q"}], params, None, False)
    except InvokeBadRequestError as exc:
        assert str(exc).strip() and not _EXCEPTION_NAMES.search(str(exc))
        event("refused")
        return
    out = payload["response_format"]["schema"]
    # Bounded by counts, not seconds: references expand within the node budget.
    assert _nodes(out) <= 2 * (MAX_EXPANDED_NODES + _nodes(schema))
    wire = json.dumps(out, ensure_ascii=False, allow_nan=False)
    assert len(wire) < 1_000_000, f"structured output schema is {len(wire)} bytes"
    assert '"$ref": "#/' not in wire, "local references are inlined"
    if isinstance(schema, dict) and "$ref" not in schema and isinstance(schema.get("properties"), dict):
        # The user's own schema: every property and the required list arrive unchanged.
        assert list(out["properties"]) == list(schema["properties"])
        assert out.get("required") == schema.get("required")
        for key in ("type", "description", "additionalProperties", "title"):
            if key in schema and not isinstance(schema[key], dict):
                assert out[key] == schema[key], key


# =========================================================================== 2. clean_schema


def _all_objects(node):
    """Every sub-schema of a cleaned schema (iterative: no recursion limit)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend((n.get("properties") or {}).values())
        if isinstance(n.get("items"), dict):
            stack.append(n["items"])


def _top_level_required(schema) -> list[str]:
    """Required names of a plain object root (no $ref/combinators/enum at the top), that name a property."""
    if not isinstance(schema, dict) or any(k in schema for k in ("$ref", "allOf", "anyOf", "oneOf", "enum", "const")):
        return []
    if schema.get("type", "object") != "object" or not isinstance(schema.get("properties"), dict):
        return []
    required = schema.get("required")
    if not isinstance(required, list):
        return []
    return [r for r in required if isinstance(r, str) and r in schema["properties"]]


@CHAT_HEAVY
@given(schema=st.one_of(S.json_schemas(), S.sub_schemas, st.sampled_from([None, [], 5, "x", {}])))
def test_clean_schema_never_raises_terminates_and_passes_the_schema_rules(schema):
    try:
        before = copy.deepcopy(schema)
    except RecursionError:
        before = None
    out = clean_schema(schema)
    assert _nodes(out) <= 2 * (MAX_EXPANDED_NODES + _nodes(schema)), "references expand within the node budget"
    if before is not None:
        assert schema == before, "the input schema was mutated"

    assert function_schema_problems(out) == []
    assert out["type"] == "object" and isinstance(out["properties"], dict) and isinstance(out["required"], list)
    for node in _all_objects(out):
        if node.get("type") == "object":
            assert set(node.get("required", [])) <= set(node["properties"]), node
    for name in _top_level_required(schema):
        assert name in out["required"] and name in out["properties"], name
    wire = json.dumps(out, ensure_ascii=False, allow_nan=False)
    assert len(wire) < 1_000_000, f"cleaned schema is {len(wire)} bytes"
    assert clean_schema(out) == out, "cleaning is idempotent"


# =========================================================================== 3. StreamAssembler


def _cut_at_stop(text: str, stop: list[str]) -> str:
    positions = [i for i in (text.find(s) for s in stop if s) if i != -1]
    return text[: min(positions)] if positions else text


@settings(max_examples=n(200), deadline=None)
@given(data=st.data(), text=S.stream_texts, stop=S.stop_words)
def test_stream_content_is_the_text_cut_at_the_earliest_stop_word_for_any_split(data, text, stop):
    pieces = data.draw(S.split_points(text))
    _, out = run([chunk(p) for p in pieces] + [chunk("", finish="stop")], stop)
    blocking = to_llm_result(MODEL, completion({"role": "assistant", "content": text}), USAGE, stop=stop)
    contents = [c.delta.message.content for c in out]
    assert all(isinstance(c, str) for c in contents)
    streamed = "".join(contents)
    assert streamed == _cut_at_stop(text, stop)
    assert streamed == blocking.message.content
    assert not any(s and s in streamed for s in stop)


@settings(max_examples=n(150), deadline=None)
@given(
    data=st.data(),
    reasoning=S.stream_texts,
    text=S.stream_texts,
    stop=S.stop_words,
    call=st.one_of(
        st.none(),
        st.tuples(S.tool_names.filter(bool), st.dictionaries(st.text(max_size=5), S.json_values, max_size=4)),
    ),
    state_id=st.one_of(st.none(), st.sampled_from(["state-1", "0b7d"])),
)
def test_stream_and_blocking_results_agree_with_reasoning_and_function_calls(data, reasoning, text, stop, call, state_id):
    chunks = [chunk(reasoning=p) for p in data.draw(S.split_points(reasoning))]
    chunks += [chunk(p) for p in data.draw(S.split_points(text))]
    message: dict = {"content": text, "reasoning_content": reasoning}
    names = {}
    if call is not None:
        name, arguments = call
        names = {name: f"dify.{name}"}
        keys = list(arguments)
        cut = data.draw(st.integers(0, len(keys)))
        parts = [{k: arguments[k] for k in keys[:cut]}, {k: arguments[k] for k in keys[cut:]}]
        chunks.append(chunk(function_call={"name": name, "arguments": parts[0]}))
        chunks.append(chunk(function_call={"name": name, "arguments": parts[1]}, state_id=state_id))
        message["function_call"] = {"name": name, "arguments": arguments}
        if state_id:
            message["functions_state_id"] = state_id
    finish = "function_call" if call else "stop"
    chunks.append(chunk("", finish=finish))
    asm, out = run(chunks, stop, names)
    blocking = to_llm_result(MODEL, completion({"role": "assistant", **message}, finish), USAGE, stop=stop,
                             function_names=names)

    streamed = "".join(c.delta.message.content for c in out)
    assert all(isinstance(c.delta.message.content, str) for c in out)
    think = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}" if reasoning else ""
    assert streamed == think + _cut_at_stop(text, stop)
    assert streamed == blocking.message.content
    assert out[-1].delta.finish_reason == ("tool_calls" if call else "stop")
    stream_calls = out[-1].delta.message.tool_calls
    blocking_calls = blocking.message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in stream_calls] == [
        (c.function.name, json.loads(c.function.arguments)) for c in blocking_calls
    ]
    if call is not None:
        assert stream_calls[0].function.name == f"dify.{call[0]}"
        assert json.loads(stream_calls[0].function.arguments) == json.loads(json.dumps(call[1]))
        if state_id:
            assert stream_calls[0].id == blocking_calls[0].id == f"gcfs_{state_id}"


# =========================================================================== 4. tokens


@CHAT
@given(text=st.text(max_size=300), cut=st.integers(0, 300), other=st.text(max_size=100))
def test_token_estimate_is_positive_monotone_and_subadditive(text, cut, other):
    n = estimate_tokens(text)
    assert isinstance(n, int) and 0 <= n <= len(text)
    if text.strip():
        assert n >= 1
    assert estimate_tokens(text[:cut]) <= n  # a prefix never costs more
    # Joining two texts merges at most one piece at the seam; the merged piece may move to a dearer
    # class ("ª" + "AAAAAAA": a Latin run priced as a generic word, 1 token per 3 letters, not 7).
    assert estimate_tokens(text + other) <= 3 * (n + estimate_tokens(other)) + 1
    assert estimate_tokens(text + other) >= max(n, estimate_tokens(other)) - 1


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access during a local token estimate")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@settings(max_examples=n(60), deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(messages=S.prompt_messages, tools=st.lists(S.tools, max_size=2), unit=st.text(min_size=1, max_size=8))
def test_token_estimates_are_fast_and_local(no_network, messages, tools, unit):
    text = unit * (200_000 // len(unit))
    with counting_pieces() as pieces:
        big = estimate_tokens(text)
    assert pieces.scans == 1 and pieces.matches <= len(text), "one linear pass over the text"
    total = estimate_prompt_tokens(messages, tools)
    assert big >= 0 and isinstance(total, int) and total >= REQUEST_OVERHEAD


# =========================================================================== 5. embeddings planning
# Bounded by counts, not seconds (a shared 2-core machine): the work is counted as calls of the
# token estimate, the only non-constant step, and must stay linear in the input.

EMBEDDING = settings(max_examples=n(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])

_embedding_texts = st.lists(
    st.one_of(
        st.text(max_size=50),
        st.lists(st.sampled_from(["слово ", "word ", "Конец. ", "\n\n", "x", " ", "1234", "。"]), max_size=400).map("".join),
    ),
    max_size=12,
)


class CountingEstimate:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return estimate_tokens(text)


@EMBEDDING
@given(text=_embedding_texts.map("".join), budget=st.integers(1, 400))
def test_split_text_pieces_join_back_to_the_text(text, budget):
    estimate = CountingEstimate()
    pieces = planning.split_text(text, budget, estimate)
    assert "".join(pieces) == text
    assert all(pieces) or text == ""
    assert all(estimate_tokens(p) <= budget for p in pieces if len(p) > 1)
    assert estimate.calls <= 2 * (len(text) + 1), "splitting is linear in the text"


@EMBEDDING
@given(
    texts=_embedding_texts,
    limit=st.integers(1, 600),
    per_request=st.integers(1, 20),
    per_request_bytes=st.one_of(st.none(), st.integers(1, 2000)),
)
def test_plan_batches_covers_every_text_once_in_order(texts, limit, per_request, per_request_bytes):
    estimate = CountingEstimate()
    batches = planning.plan_batches(
        texts, limit, per_request, max_bytes_per_request=per_request_bytes, estimate=estimate
    )
    assert estimate.calls <= 3 * (sum(len(t) for t in texts) + len(texts)), "planning is linear in the input"
    pieces = [p for b in batches for p in b.pieces]
    indices = [p.text_index for p in pieces]
    assert indices == sorted(indices), "pieces are in input order"
    assert sorted(set(indices)) == list(range(len(texts))), "every text is covered"
    # ... exactly once: one text's pieces are consecutive, with distinct, increasing keys.
    runs = [i for n, i in enumerate(indices) if n == 0 or indices[n - 1] != i]
    assert runs == list(range(len(texts)))
    for i, text in enumerate(texts):
        own = [p for p in pieces if p.text_index == i]
        assert [p.key for p in own] == sorted({p.key for p in own})
        if planning.is_blank(text):
            assert [p.text for p in own] == [planning.EMPTY_TEXT_PLACEHOLDER]
        else:  # only whitespace-only stretches may be dropped between pieces
            assert re.sub(r"\s+", "", "".join(p.text for p in own)) == re.sub(r"\s+", "", text)
    assert [b.number for b in batches] == list(range(1, len(batches) + 1))
    assert all(b.total == len(batches) and 1 <= len(b.pieces) <= per_request for b in batches)
    if per_request_bytes is not None:
        for b in batches:
            assert sum(len(p.text.encode()) for p in b.pieces) <= per_request_bytes or len(b.pieces) == 1


_component = st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))


@EMBEDDING
@given(
    dim=st.integers(1, 16),
    data=st.data(),
)
def test_combine_pieces_keeps_the_weighted_direction_at_the_pieces_mean_length(dim, data):
    count = data.draw(st.integers(1, 5))
    vectors = [data.draw(st.lists(_component, min_size=dim, max_size=dim)) for _ in range(count)]
    weights = data.draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count))
    total = sum(weights) or None
    shares = [w / total for w in weights] if total else [1 / count] * count
    average = [math.fsum(s * vec[i] for s, vec in zip(shares, vectors)) for i in range(dim)]
    try:
        v = combining.combine_pieces(vectors, weights).tolist()
    except ValueError:
        assert count > 1 and max(abs(a) for a in average) <= 1e-9, "only a (numerically) zero average fails"
        return
    assert len(v) == dim
    if count == 1:
        assert v == vectors[0], "a single vector is GigaChat's, unchanged"
        return
    mean_length = math.fsum(s * math.hypot(*vec) for s, vec in zip(shares, vectors))
    assert math.isclose(math.hypot(*v), mean_length, rel_tol=1e-9)
    scale = math.hypot(*v) / math.hypot(*average)
    assert all(math.isclose(x, a * scale, rel_tol=1e-6, abs_tol=1e-9 * mean_length) for x, a in zip(v, average))


# =========================================================================== 6. credentials

CA = make_ca("Property Test Root CA")
PEM = CA.cert_pem
CANONICAL_PEM = CA.cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def isolated_redaction(monkeypatch):
    """Generated keys must not stay registered as secrets for the rest of the test session."""
    monkeypatch.setattr(redaction, "_process", type(redaction._process)(redaction._process))


@settings(max_examples=n(200), deadline=timedelta(seconds=3), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=S.credential_forms(PEM))
def test_credentials_parse_or_fail_with_a_clear_message_without_the_key(isolated_redaction, case):
    form, well_formed = case
    raw_key = form.get("authorization_key")
    try:
        with S.time_budget(BUDGET):
            settings_ = parse_credentials(dict(form))
    except CredentialsValidateFailedError as exc:
        message = str(exc)
        event(f"refused: {message[:30]}")
        assert message.strip()
        assert not _EXCEPTION_NAMES.search(message), message
        if isinstance(raw_key, str):
            key = raw_key.strip()
            compact = re.sub(r"\s+", "", key[6:] if key.lower().startswith("basic ") else key)
            for secret in {key, compact}:
                if len(secret) >= redaction.MIN_REQUEST_SECRET_LEN:
                    assert secret not in message, "the authorization key is echoed in the error"
        return
    event("accepted")
    assert isinstance(settings_, ConnectionSettings)
    assert well_formed is not False, f"malformed key accepted: {raw_key!r}"
    assert settings_.base_url.startswith(("http://", "https://")) and settings_.auth_url.startswith(("http://", "https://"))
    assert settings_.auth.scope in SCOPES
    assert 1 <= settings_.timeout <= 600 and 0 <= settings_.max_retries <= 10 and 1 <= settings_.embedding_concurrency <= 32
    assert b":" in base64.b64decode(settings_.auth.key)
    if settings_.ca_pem is not None:
        assert settings_.ca_pem == CANONICAL_PEM
    assert settings_.auth.key not in repr(settings_)


# =========================================================================== 7. normalize_pem


@st.composite
def mangled_pems(draw):
    """CANONICAL_PEM as it arrives after a paste into a web form: line breaks lost or changed."""
    header, footer = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    body = "".join(CANONICAL_PEM.replace(header, "").replace(footer, "").split())
    seps = st.sampled_from(["", "\n", "\r\n", " ", "  ", "\t", "\\n", "\\n\\n", "\n\n", " \r\n"])
    line = draw(st.sampled_from([0, 64, 76, 40, 1000]))
    pieces = [body[i : i + line] for i in range(0, len(body), line)] if line else [body]
    # stray whitespace anywhere inside the base64 (inserted from the end: insertions never split each other)
    spots = draw(st.lists(st.tuples(st.integers(0, len(pieces) - 1), st.integers(0, line or len(body))), max_size=5))
    lengths = [len(p) for p in pieces]
    for k, pos in sorted({(k, min(pos, lengths[k])) for k, pos in spots}, reverse=True):
        pieces[k] = pieces[k][:pos] + draw(st.sampled_from([" ", "\t", "\n", "\r\n", "\\n"])) + pieces[k][pos:]
    out = pieces[0]
    for p in pieces[1:]:
        out += draw(seps) + p
    text = header + draw(seps) + out + draw(seps) + footer
    return draw(st.sampled_from(["", " ", "\n", "  \n"])) + text + draw(seps)


@settings(max_examples=n(150), deadline=timedelta(seconds=2))
@given(pem=mangled_pems(), copies=st.integers(1, 2), junk=st.sampled_from(["", "My CA:\n", "\n\n"]))
def test_normalize_pem_survives_any_whitespace_mangling_and_round_trips(pem, copies, junk):
    text = junk + "\n".join([pem] * copies)
    out = normalize_pem(text)
    assert out == CANONICAL_PEM * copies
    assert normalize_pem(out) == out


def test_normalized_pem_loads_as_a_trusted_ca():
    mangled = PEM.replace("\n", " ").replace("-----BEGIN CERTIFICATE----- ", "-----BEGIN CERTIFICATE-----")
    ctx = build_ssl_context(ca_pem=normalize_pem(mangled))
    assert any(c.get("subject") and "Property Test Root CA" in str(c["subject"]) for c in ctx.get_ca_certs())


@FAST
@given(text=st.one_of(st.text(max_size=200), st.sampled_from([
    "-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----!!!-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE----------END CERTIFICATE-----", CANONICAL_PEM[: len(CANONICAL_PEM) // 2],
    "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----", "-----BEGIN X-----\nQUJD\n-----END Y-----",
])))
def test_garbage_pem_gives_a_pem_error_with_an_actionable_message(text):
    try:
        with S.time_budget(BUDGET):
            out = normalize_pem(text)
    except PemError as exc:
        assert str(exc).strip() and not _EXCEPTION_NAMES.search(str(exc))
        return
    assert out.startswith("-----BEGIN CERTIFICATE-----\n") and out.endswith("-----END CERTIFICATE-----\n")
