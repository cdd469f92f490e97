"""Reusable hypothesis strategies for the plugin's pure conversion functions (tests/unit/test_properties.py).

Everything here is data only: Dify prompt messages and content parts, tools and JSON Schemas
(nested, recursive $ref, combinators, huge enums), model parameters, stream splits, stop words,
credential forms. Plus ``time_budget``, a per-example wall-clock guard that turns a hang into a
test failure.
"""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import threading
import uuid

from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    AudioPromptMessageContent,
    DeveloperPromptMessage,
    DocumentPromptMessageContent,
    ImagePromptMessageContent,
    PromptMessageTool,
    SystemPromptMessage,
    TextPromptMessageContent,
    ToolPromptMessage,
    UserPromptMessage,
    VideoPromptMessageContent,
)
from hypothesis import strategies as st

# --------------------------------------------------------------------------- time budget


class BudgetExceeded(AssertionError):
    """One example ran longer than its wall-clock budget (a hang or an exponential blow-up)."""


@contextlib.contextmanager
def time_budget(seconds: float):
    """Fail the current example if the block runs longer than ``seconds`` (SIGALRM; main thread).

    Hypothesis' ``deadline`` only reports a slow example after it finished; this interrupts it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _expired(signum, frame):
        # Re-armed: an exception raised while e.g. a gc callback runs is swallowed by Python.
        signal.setitimer(signal.ITIMER_REAL, 0.25)
        raise BudgetExceeded(f"example exceeded its time budget of {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- JSON values and texts

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)

#: Texts people and tools actually send, plus the awkward ones (JSON-looking, think tags, blanks).
texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\n",
            "\r\n",
            "Привет, мир!",
            "What is on this photo?",
            '{"a": 1}',
            "[1, 2]",
            "null",
            "42",
            '"quoted"',
            "<think>x</think>",
            "-----BEGIN CERTIFICATE-----",
            "Tool result: x",
            "\\n literal",
        ]
    ),
)
nonblank_texts = texts.filter(lambda t: t.strip() != "")

# --------------------------------------------------------------------------- tool names / ids

tool_names = st.one_of(
    st.sampled_from(
        ["search", "kb.search", "kb-search", "kb_search", "1tool", "", "tool", "tool_2", "Поиск", "a b", "a.b", "a-b",
         "get_weather", "_", "__init__", "x" * 80]
    ),
    st.text(max_size=12),
)
tool_call_ids = st.sampled_from(["", "call_1", "call_2", "call_3", "gcfs_state-1", "gcfs_", "gcfs_state-2",
                                 str(uuid.UUID(int=7)), "7"])

# --------------------------------------------------------------------------- content parts

_B64_SAMPLE = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()


@st.composite
def _file_source(draw):
    """(base64_data, url) for a multimodal part: good base64, data URLs, garbage, empty, http URLs."""
    choice = max(0, draw(st.integers(-4, 6)))  # mostly good base64
    if choice == 0:
        return base64.b64encode(draw(st.binary(min_size=1, max_size=64))).decode(), ""
    if choice == 1:
        return "data:application/octet-stream;base64," + _B64_SAMPLE, ""
    if choice == 2:
        return draw(st.sampled_from(["!!!not base64", "abc", "====", "a", "YQ"])), ""
    if choice == 3:
        return "", "data:image/png;base64," + draw(st.sampled_from([_B64_SAMPLE, "", "%%%", "YQ"]))
    if choice == 4:
        return "", draw(st.sampled_from(["https://files.example/x.png", "http://dify/files/1?sign=x", "ftp://x"]))
    if choice == 5:
        return "", ""
    return _B64_SAMPLE, "https://files.example/ignored.png"


def _part(cls, formats, mimes):
    @st.composite
    def build(draw):
        b64, url = draw(_file_source())
        return cls(
            format=draw(st.sampled_from(formats)),
            mime_type=draw(st.sampled_from(mimes)),
            base64_data=b64,
            url=url,
            filename=draw(st.sampled_from(["", "photo.png", "scan.JPG", "report.pdf", "notes", "файл.txt", "a b.docx"])),
        )

    return build()


image_parts = _part(
    ImagePromptMessageContent,
    ["png", "png", "jpg", "jpg", "jpeg", "JPEG", "tiff", "bmp", "gif", "webp", "svg", "", ".png"],
    ["image/png", "image/jpeg", "image/gif", "image/webp", "", "application/octet-stream"],
)
document_parts = _part(
    DocumentPromptMessageContent,
    ["pdf", "pdf", "txt", "txt", "docx", "doc", "epub", "pptx", "md", "exe", "", "PDF"],
    ["application/pdf", "text/plain", "text/markdown", "", "application/octet-stream"],
)
audio_parts = _part(AudioPromptMessageContent, ["mp3", "wav", ""], ["audio/mpeg", "audio/wav", ""])
video_parts = _part(VideoPromptMessageContent, ["mp4", ""], ["video/mp4", ""])
text_parts = st.builds(TextPromptMessageContent, data=texts)


def _good_part(cls, format_mime):
    return st.builds(
        lambda fm, data, name: cls(format=fm[0], mime_type=fm[1], base64_data=base64.b64encode(data).decode(),
                                   filename=name),
        st.sampled_from(format_mime),
        st.binary(min_size=1, max_size=32),
        st.sampled_from(["", "a.png", "scan", "отчёт.pdf"]),
    )


#: Files GigaChat takes: many of them exercise the one-file-per-message split and the image limit.
good_file_parts = st.one_of(
    _good_part(ImagePromptMessageContent, [("png", "image/png"), ("jpg", "image/jpeg"), ("bmp", "image/bmp")]),
    _good_part(DocumentPromptMessageContent, [("pdf", "application/pdf"), ("txt", "text/plain")]),
)

#: Mostly text; images and documents often; audio and video (always refused) now and then.
content_parts = st.integers(0, 39).flatmap(
    lambda i: text_parts if i < 20 else image_parts if i < 30 else document_parts if i < 38
    else audio_parts if i == 38 else video_parts
)
text_only_content = st.one_of(texts, st.lists(text_parts, max_size=3))
any_content = st.one_of(texts, st.lists(content_parts, max_size=4), st.none())

# --------------------------------------------------------------------------- prompt messages


@st.composite
def tool_calls(draw):
    arguments = draw(
        st.one_of(
            json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
            st.dictionaries(st.text(max_size=6), json_values, max_size=3).map(json.dumps),
            st.sampled_from(["", "   ", "{", "{'a': 1}", "not json", "null", "[1,2]", '"s"', "NaN"]),
            st.text(max_size=20),
        )
    )
    return AssistantPromptMessage.ToolCall(
        id=draw(tool_call_ids),
        type="function",
        function=AssistantPromptMessage.ToolCall.ToolCallFunction(name=draw(tool_names), arguments=arguments),
    )


def _maybe_dump(strategy):
    """Sometimes hand the message over as the dict the plugin daemon sends instead of a model."""
    return st.tuples(strategy, st.booleans()).map(lambda t: t[0].model_dump(mode="json") if t[1] else t[0])


system_messages = st.one_of(
    st.builds(SystemPromptMessage, content=text_only_content),
    st.builds(DeveloperPromptMessage, content=text_only_content),
    st.builds(SystemPromptMessage, content=st.lists(content_parts, max_size=2)),  # a file here is refused
)
user_messages = st.builds(UserPromptMessage, content=st.one_of(texts, st.lists(content_parts, max_size=4)))
assistant_messages = st.builds(
    AssistantPromptMessage,
    content=st.one_of(texts, st.none(), st.lists(content_parts, max_size=2)),
    tool_calls=st.lists(tool_calls(), max_size=3),
)
tool_messages = st.builds(
    ToolPromptMessage,
    tool_call_id=tool_call_ids,
    name=st.one_of(st.none(), tool_names),
    content=st.one_of(
        texts,
        json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
        st.lists(st.one_of(text_parts, text_parts, image_parts), max_size=2),
    ),
)
prompt_messages = st.lists(
    _maybe_dump(st.one_of(system_messages, user_messages, user_messages, assistant_messages, tool_messages)),
    min_size=1,
    max_size=8,
)

# --------------------------------------------------------------------------- JSON Schemas

DEF_NAMES = ("Node", "Tree", "A", "B", "C")
_property_names = st.one_of(
    st.sampled_from(["id", "name", "value", "items", "$ref", "$defs", "definitions", "type", "properties", "a.b",
                     "x y", "Имя", ""]),
    st.text(max_size=8),
)
_refs = st.one_of(
    st.sampled_from([f"#/$defs/{n}" for n in DEF_NAMES]),
    st.sampled_from(["#", "#/definitions/Old", "#/$defs/Missing", "https://example.com/schema.json",
                     "#/properties/id", "#/$defs", "#/$defs/A/properties/a", "", "#/"]),
)
_types = st.one_of(
    st.sampled_from(["string", "number", "integer", "boolean", "object", "array", "null",
                     "str", "int", "float", "bool", "file", "select", "weird", "", "STRING"]),
    st.lists(st.sampled_from(["string", "null", "integer", "object", "array", "number"]), max_size=3),
    st.sampled_from([5, None, {"a": 1}]),
)
_formats = st.sampled_from(["date", "date-time", "time", "uri", "email", "uuid", "", "int32", 5, None])
_huge_enum = st.integers(1000, 1500).map(
    lambda n: [i if i % 3 == 0 else f"v{i}" if i % 3 == 1 else (i % 2 == 0) for i in range(n)] + [None, 1.5]
)
_enums = st.one_of(st.lists(json_scalars, max_size=6), _huge_enum, st.just([]), st.just([None]), st.just("notalist"))

_leaf_schemas = st.one_of(
    st.builds(lambda t: {"type": t}, _types),
    st.builds(lambda f: {"type": "string", "format": f}, _formats),
    st.builds(lambda e: {"enum": e}, _enums),
    st.builds(lambda e, t: {"type": t, "enum": e}, _enums, _types),
    st.builds(lambda c: {"const": c}, json_scalars),
    st.builds(lambda r: {"$ref": r}, _refs),
    st.builds(lambda r, d: {"$ref": r, "description": d}, _refs, texts),
    st.sampled_from(
        [
            {},
            True,
            False,
            {"type": "object"},
            {"type": "object", "properties": {}},
            {"type": "array"},
            {"type": "integer", "minimum": 0, "maximum": 10, "exclusiveMinimum": True},
            {"type": "number", "exclusiveMaximum": 5.5, "multipleOf": 0.5},
            {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"},
            {"type": "null"},
            {"nullable": True, "type": "string"},
            {"type": "object", "additionalProperties": True},
            {"type": "object", "additionalProperties": {"type": "integer"}},
        ]
    ),
)


def _decorate(schemas):
    """Add titles, descriptions, defaults, examples to some schemas."""
    extras = st.fixed_dictionaries(
        {},
        optional={
            "title": texts,
            "description": texts,
            "default": json_values,
            "examples": st.lists(json_values, max_size=2),
            "deprecated": st.booleans(),
        },
    )
    return st.tuples(schemas, extras).map(lambda t: {**t[1], **t[0]} if isinstance(t[0], dict) else t[0])


def _extend_schema(children):
    names = _property_names
    return st.one_of(
        st.builds(
            lambda t, p, r, extra: {"type": t, "properties": p, "required": r + extra},
            st.sampled_from(["object", "object", ["object", "null"], "dict"]),
            st.dictionaries(names, children, max_size=4),
            st.lists(names, max_size=3),
            st.lists(st.sampled_from(["missing", "also_missing"]), max_size=1),
        ),
        st.builds(lambda p: {"properties": p}, st.dictionaries(names, children, max_size=3)),
        st.builds(lambda p, a: {"properties": p, "additionalProperties": a},
                  st.dictionaries(names, children, max_size=2), st.one_of(st.booleans(), children)),
        st.builds(lambda i: {"type": "array", "items": i}, children),
        st.builds(lambda i: {"type": "array", "items": i}, st.lists(children, max_size=2)),
        st.builds(lambda i: {"prefixItems": i}, st.lists(children, max_size=2)),
        st.builds(lambda bs: {"anyOf": bs}, st.lists(children, max_size=3)),
        st.builds(lambda b: {"anyOf": [b, {"type": "null"}]}, children),
        st.builds(lambda bs, d: {"oneOf": bs, "description": d}, st.lists(children, max_size=3), texts),
        st.builds(lambda bs: {"allOf": bs}, st.lists(children, max_size=2)),
        st.builds(lambda b, r: {"allOf": [b, {"$ref": r}]}, children, _refs),
        st.builds(lambda cs: {"oneOf": [{"const": c, "title": f"t{c}"} for c in cs]}, st.lists(json_scalars, max_size=4)),
    )


sub_schemas = st.recursive(_decorate(_leaf_schemas), _extend_schema, max_leaves=12)

#: Self- and mutually recursive definitions, the shapes pydantic and OpenAPI generators produce.
_recursive_defs = st.sampled_from(
    [
        {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                                                    "parent": {"$ref": "#/$defs/Node"}}}},
        {"Tree": {"anyOf": [{"$ref": "#/$defs/Tree"}, {"type": "null"}]}},
        {"A": {"$ref": "#/$defs/A"}},
        {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}},
        {"A": {"allOf": [{"$ref": "#/$defs/A"}]}},
        # Mutual recursion with several references per definition: exponential when expanded naively.
        {n: {"type": "object", "properties": {f"to_{m}": {"$ref": f"#/$defs/{m}"} for m in DEF_NAMES}}
         for n in DEF_NAMES},
    ]
)


@st.composite
def deep_schema(draw):
    """A chain of nested objects / arrays far deeper than any cut-off (hundreds of levels)."""
    depth = draw(st.integers(30, 600))
    node: dict = {"type": "string"}
    for i in range(depth):
        node = {"type": "object", "properties": {"a": node}, "required": ["a"]} if i % 2 else {"type": "array", "items": node}
    return node


@st.composite
def json_schemas(draw):
    """A root JSON Schema for tool parameters or structured output."""
    kind = draw(st.integers(0, 9))
    defs = draw(st.one_of(st.dictionaries(st.sampled_from(DEF_NAMES), sub_schemas, max_size=3), _recursive_defs))
    if kind == 0:
        return draw(sub_schemas) if draw(st.booleans()) else {"type": "object", "properties": {"x": draw(sub_schemas)}}
    if kind == 1:
        return {"$ref": draw(st.sampled_from([f"#/$defs/{n}" for n in defs] or ["#/$defs/Missing"])), "$defs": defs}
    if kind == 2:
        return {"type": "object", "properties": {"deep": draw(deep_schema())}, "required": ["deep"]}
    if kind == 3:
        return draw(st.sampled_from([{}, {"type": "object"}, {"type": "object", "properties": {}},
                                     {"type": "string"}, {"enum": [1, 2]}, {"anyOf": []}]))
    properties = draw(st.dictionaries(_property_names, sub_schemas, max_size=5))
    if defs and draw(st.booleans()):
        properties[draw(st.sampled_from(["node", "tree", "a"]))] = {"$ref": f"#/$defs/{draw(st.sampled_from(sorted(defs)))}"}
    required = draw(st.lists(st.one_of(st.sampled_from(sorted(properties) or ["x"]), _property_names, st.just(5)),
                             max_size=4))
    root = {"type": draw(st.sampled_from(["object", None])), "properties": properties, "required": required,
            "$defs" if draw(st.booleans()) else "definitions": defs}
    if root["type"] is None:
        del root["type"]
    if draw(st.booleans()):
        root["description"] = draw(texts)
    return root


tools = st.builds(
    PromptMessageTool,
    name=tool_names,
    description=st.one_of(texts, st.just("")),
    parameters=json_schemas().map(lambda s: s if isinstance(s, dict) else {"type": "object", "properties": {"x": s}}),
)

# --------------------------------------------------------------------------- model parameters

_numbers = st.one_of(
    st.floats(min_value=-5, max_value=5),
    st.sampled_from([0, 0.0, -0.0, -1, 1, 2, 1e-9, 10**400, -(10**400), float("nan"), float("inf"), float("-inf")]),
    st.integers(-10, 10**6),
    st.sampled_from(["0.5", "1", "abc", "", " ", "nan", "1e999", True, False, None, [1], {"a": 1}]),
)


@st.composite
def json_schema_parameters(draw):
    """Dify's ``json_schema`` model parameter: good and bad JSON strings, dicts, wrappers."""
    schema = draw(json_schemas())
    choice = draw(st.integers(0, 9))
    try:
        text = json.dumps(schema)
    except (TypeError, ValueError, RecursionError):  # pragma: no cover - strategies build JSON data
        text = "{}"
    return [
        schema,
        text,
        json.dumps({"name": "answer", "schema": schema}),
        {"json_schema": {"name": "answer", "schema": schema}},
        {"name": "answer", "schema": text},
        text.encode(),
        draw(st.sampled_from(["{not json", "[1, 2]", "42", '"s"', "null", "", "{}", "[" * 5000, '{"a":' * 3000])),
        draw(st.text(max_size=20)),
        draw(json_values),
        None,
    ][choice]


model_parameters = st.fixed_dictionaries(
    {},
    optional={
        "temperature": _numbers,
        "top_p": _numbers,
        "max_tokens": _numbers,
        "repetition_penalty": _numbers,
        "profanity_check": st.sampled_from([True, False, "yes", "off", "maybe", 1, 0, None, ""]),
        "reasoning_effort": st.sampled_from(["low", "HIGH", " medium ", "none", "extreme", 5, None, ""]),
        "response_format": st.sampled_from(["json_schema", "json_object", "json", "JSON", "text", "", None, "xml", 3,
                                            {"type": "json_object"}]),
        "json_schema": json_schema_parameters(),
        "presence_penalty": _numbers,  # unknown to GigaChat: must be dropped
    },
)

# --------------------------------------------------------------------------- stream pieces

stop_words = st.lists(st.one_of(st.text(alphabet="abXY\n<>", min_size=0, max_size=4), st.sampled_from(["\n\n", "</s>"])),
                      max_size=4)
stream_texts = st.text(alphabet="abXY \n<>/s", max_size=60)


@st.composite
def split_points(draw, text: str) -> list[str]:
    """``text`` cut at random points (empty pieces included)."""
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=12))
    bounds = sorted([0, len(text), *cuts])
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# --------------------------------------------------------------------------- credentials


def make_key(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@st.composite
def authorization_keys(draw):
    """(value for the form, whether it is a well-formed authorization key; None: not known)."""
    cid, secret = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))), str(uuid.UUID(int=draw(st.integers(0, 2**64))))
    good = make_key(cid, secret)
    choice = draw(st.integers(0, 9))
    return [
        (good, True),
        ("Basic " + good, True),
        (f"  {good[:20]}\n{good[20:]}  ", True),
        (secret, False),  # the client secret alone: not base64 (dashes)
        (base64.b64encode(secret.encode()).decode(), False),  # base64 without ':'
        (draw(st.text(min_size=8, max_size=40)), None),  # random: unknown
        ("ключ-" + secret, False),
        (good + "!", False),
        (draw(st.sampled_from([None, "", "   ", 12345678, ["k"], {"k": 1}])), False),
        (good[:-2], False),  # truncated: bad padding
    ][choice]


def credential_forms(pem: str):
    """Provider forms: the key plus URLs, scope, CA, numbers of every kind (some with the key pasted in)."""
    urls = st.one_of(
        st.sampled_from([None, "", "https://gigachat.devices.sberbank.ru/api/v1", "http://127.0.0.1:8080/",
                         "gigachat.devices.sberbank.ru/api/v1", "ftp://x", "https://", "://x", "https://[::1",
                         "http://[", "javascript:alert(1)", "  https://ok.example/  ", 123, ["https://x"]]),
        st.text(max_size=20),
    )
    pem_values = st.one_of(
        st.sampled_from([None, "", "garbage", "-----BEGIN CERTIFICATE-----garbage!!-----END CERTIFICATE-----",
                         "-----BEGIN CERTIFICATE----------END CERTIFICATE-----",
                         "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----", pem, pem.replace("\n", ""),
                         pem.replace("\n", "\\n"), pem[: len(pem) // 2], 5]),
        st.text(max_size=30),
    )
    numbers = st.one_of(_numbers, st.sampled_from(["60", "0", "601", "2.5", "10", "-1", 10**20]))

    @st.composite
    def build(draw):
        key, well_formed = draw(authorization_keys())
        form = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "base_url": urls,
                    "auth_url": urls,
                    "scope": st.sampled_from([None, "", "GIGACHAT_API_PERS", "GIGACHAT_API_CORP", "gigachat_api_pers",
                                              "PERSONAL", 7]) | st.text(max_size=10),
                    "ca_certificate": pem_values,
                    "verify_ssl": st.sampled_from([None, "", True, False, "false", "0", "yes", 1, "maybe"]),
                    "timeout": numbers,
                    "max_retries": numbers,
                    "embedding_concurrency": numbers,
                },
            )
        )
        form["authorization_key"] = key
        # The key pasted into a wrong field as well: it must not be echoed back in an error message.
        if isinstance(key, str) and draw(st.integers(0, 4)) == 0:
            form[draw(st.sampled_from(["base_url", "auth_url", "scope", "timeout", "max_retries"]))] = key
        return form, well_formed

    return build()
