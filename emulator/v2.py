"""The v2 ("primary") chat contract, POST {v2 root}/chat/completions on either host, faithful to the
test_primary_* cassettes (June 2026, GigaChat-3-Ultra) and the SDK's v2 models
(gigachat/models/chat_completions.py). A chat_flow.Contract; where the two hosts differ (function
results, call ids, parallel calls, names, formats, tools, streams) its `Dialect` decides
(dialects.py); below, the recorded host's behaviour.

Shapes (recorded): messages carry ``content`` lists of parts (``text``, ``files``,
``function_call``, ``function_result``, ``inline_data``); the answer is ``{"model": <versioned>,
"created_at", "messages": [{"role": "assistant", "tool_state_id"?, "content": [...]}],
"finish_reason", "usage": {"input_tokens", "input_tokens_details": {"prompt_tokens",
"cached_tokens"}, "output_tokens", "total_tokens"}}``; ``tool_state_id`` is present whenever the
request had tools. Streams are named SSE events: ``response.message.delta`` (message fragments),
``response.message.done`` (finish_reason, usage); no ``[DONE]``.

The deterministic model, in priority order (the v1 rules where they apply):
1. a scripted reply (``emu.enqueue_reply``);
2. the last message is a function result (role ``tool``; on api.giga.chat ``function``): one line
   ``Function <name> returned: <result>`` per result of the trailing result messages;
3. ``tool_config`` forcing a function: a call of it (arguments from its schema); forcing a
   built-in tool: that tool runs;
4. ``auto``: each offered built-in tool runs when the user's words ask for it (web search:
   search/web/latest/news/current/today/найди/поиск/новост/актуальн; image: draw/image/picture/
   icon/нарисуй/изображ/картин/рисун; code: code/calculate/compute/python/посчитай/вычисли/код;
   URL reading: a URL); a function whose name is in the user's text is called (with any tool's
   text in the same message; on api.giga.chat every such function, in one step), else, when no
   tool ran, the first function (as v1); with ``ranker_options`` only among the ranked ones;
5. ``model_options.response_format``: a JSON instance of the schema (indent 4, as recorded), or
   the shortest string a simple ``regex`` matches (with a format set, functions are not called;
   built-in tools run as in 3 and 4, their files stay, and the answer's text is in the format);
6. files of the last user message: one ``Attachment <id> <filename> <mime> <bytes> bytes
   sha256=<hex>`` line each, then ``Echo: <last user text>``.

Built-in tools (deterministic answers):
- ``web_search``: text citing ``[sources=[1]]`` and ``[sources=[2]]`` with ``inline_data.sources``
  ``{"1": {url, title}, "2": ...}`` in the same part, as recorded; each source adds 1,000 input
  tokens (search results enter the prompt; the recording: 23,767 input tokens).
- ``image_generate``: a JPEG (emulator/v2_images.py) stored as a file, then
  ``[{"files": [{"id", "mime": "image/jpeg", "target": "image"}]}, {"text": ...}]`` as recorded;
  its bytes are served by ``GET /api/v1/files/{id}/content``.
- ``code_interpreter``: the blocking answer carries only the final text, as recorded. In streams
  (UNVERIFIED: no recording) a ``response.tool.completed`` event comes first, with a
  ``reasoning`` message whose parts are the code (``function_call`` ``code_interpreter``
  ``{"code"}``), its output (``function_result`` ``{"stdout"}``) and a ``tool_execution``
  status; modelled on the SDK's own test of that event (a ``reasoning`` message with
  ``tool_execution``) and on gpt2giga reading built-in calls/results from those parts. The code
  "runs" one of two tasks: the sum of the first N primes (the recorded prompt: 639), else the
  length of the question.
- ``url_content_extraction``: each page's text as if read (deterministic per URL); on api.giga.chat
  cited ``[sources=[n]]`` with ``inline_data.sources``.
Image generation in streams likewise sends a ``response.tool.completed`` event with a
``tool_execution`` part (``{"name": "image_generate", "status": "success", "censored": false}``,
the SDK's test shape) before the ``files`` delta. Where a stream puts ``tool_state_id`` is
unverified: here on the first delta's message (where the blocking answer has it).

``emu.refuse(tool, model)`` refuses a built-in tool (422 "Invalid params: tool <name> is not
available"), as do ``json_schema``, ``reasoning`` and ``audio`` (audio files attached).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from emulator import catalog, chat, ranker
from emulator import finish as rare
from emulator.chat import TOKENS_PER_ATTACHMENT, attachment_line
from emulator.dialects import BUILTIN_TOOLS, DIALECTS, RECORDED, Dialect
from emulator.errors import invalid
from emulator.files import FileStore, kind_of
from emulator.schema_rules import functions_problem, make_instance
from emulator.state import ScriptedReply
from emulator.tokens import count_tokens, split_tokens
from emulator.v2_images import IMAGE_TRIGGERS, make_jpeg
from emulator.wire import named_event

NAME = "v2"
ROLES = ("system", "user", "assistant", "tool", "reasoning", "function")
PART_KEYS = ("text", "files", "function_call", "function_result", "tool_execution", "inline_data")
TOOL_MODES = ("auto", "forced", "none")
# Prompt accounting calibrated on the recordings: "Say 'Hello' and nothing else" (7 tokens) costs
# 19 input tokens, "Hello" 2 output tokens.
PROMPT_BASE_TOKENS = 8
TOKENS_PER_MESSAGE = 4
TOKENS_PER_SOURCE = 1000

_TRIGGERS = {
    "web_search": ("search", "web", "latest", "news", "current", "today", "найди", "поиск", "новост", "актуальн"),
    "image_generate": IMAGE_TRIGGERS,
    "code_interpreter": ("code", "calculate", "compute", "python", "посчитай", "вычисли", "код"),
}
_URL = re.compile(r"https?://[^\s\"'<>]+")
#: The version the v2 recordings echo (June 2026); other models as the catalogue has them.
RECORDED_VERSIONS = {"GigaChat-3-Ultra": "GigaChat-3-Ultra:32.3.18.5"}


def versioned(model: str) -> str:
    return RECORDED_VERSIONS.get(model) or catalog.versioned(model)


# ---- validation (pure) --------------------------------------------------------------------------


def validate(body: Any, files: FileStore, dialect: Dialect = DIALECTS[RECORDED], plan: str | None = None) -> None:
    """Raise ApiError for a request the API rejects (the v1 rules where the contracts share them,
    the host's own where its dialect differs). `plan`: the account's (dialects.plan_of)."""
    messages = chat.validate_model_and_messages(body)
    dialect.check_v2_messages(messages)
    _validate_messages(messages, files)
    _validate_options(body.get("model_options"), dialect)
    _validate_tools(body, dialect, plan)
    ranker.validate(body.get("ranker_options"), "ranker_options")


def _validate_messages(messages: list, files: FileStore) -> None:
    images = 0
    media = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise invalid(f"messages[{i}] must be an object")
        if m.get("role") not in ROLES:
            raise invalid(f"messages[{i}].role must be one of: {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, list):
            raise invalid(f"messages[{i}].content must be a list of content parts")
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            if not isinstance(part, dict) or not any(k in part for k in PART_KEYS):
                raise invalid(f"{where} must be an object with one of: {', '.join(PART_KEYS)}")
            if "text" in part and not isinstance(part["text"], str):
                raise invalid(f"{where}.text must be a string")
            fc = part.get("function_call")
            if fc is not None and (not isinstance(fc, dict) or not isinstance(fc.get("name"), str)
                                   or not isinstance(fc.get("arguments", {}), dict)):
                raise invalid(f"{where}.function_call must have a name and object arguments")
            fr = part.get("function_result")
            if fr is not None and (not isinstance(fr, dict) or not isinstance(fr.get("name"), str) or "result" not in fr):
                raise invalid(f"{where}.function_result must have a name and a result")
            in_message = 0
            for f in part.get("files") or []:
                file_id = f.get("id") if isinstance(f, dict) else None
                stored = files.get(file_id) if isinstance(file_id, str) else None
                if stored is None:
                    raise invalid(f"file {file_id} not found", status=400)
                if m["role"] != "user":
                    raise invalid(f"files are allowed only in user messages (messages[{i}] is {m['role']})")
                kind = kind_of(stored.mime)
                if kind == "image":
                    in_message += 1
                if kind in ("image", "audio"):
                    media += len(stored.data)
            images += in_message
        if _calls(m) and (i + 1 >= len(messages) or not _results(messages[i + 1])):
            raise invalid("every assistant function call must have a result in history")
    chat.check_media_totals(images, media)


def _calls(m: dict) -> list[dict]:
    return [p["function_call"] for p in m.get("content") or [] if isinstance(p, dict) and p.get("function_call")]


def _results(m: dict) -> list[dict]:
    return [p["function_result"] for p in m.get("content") or [] if isinstance(p, dict) and p.get("function_result")]


def _validate_options(options: Any, dialect: Dialect) -> None:
    if options is None:
        return
    if not isinstance(options, dict):
        raise invalid("model_options must be an object")
    # The sampling ranges are v1's, under model_options (same names, same wording).
    chat._validate_params({k: options[k] for k in ("temperature", "top_p", "repetition_penalty", "max_tokens")
                          if k in options})
    reasoning = options.get("reasoning")
    if reasoning is not None and (not isinstance(reasoning, dict) or reasoning.get("effort") not in ("low", "medium", "high")):
        raise invalid("model_options.reasoning.effort must be one of: low, medium, high")
    if options.get("response_format") is not None:
        dialect.check_response_format(options["response_format"])


def functions_of(body: dict) -> list[dict]:
    return [s for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("functions"), dict)
            for s in t["functions"].get("specifications") or []]


def builtins_of(body: dict) -> list[str]:
    return [name for t in body.get("tools") or [] if isinstance(t, dict) for name in BUILTIN_TOOLS if name in t]


def _validate_tools(body: dict, dialect: Dialect, plan: str | None) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools must be a list")
        dialect.check_tools(tools, plan)
        for i, t in enumerate(tools):
            keys = [k for k in (*BUILTIN_TOOLS, "functions") if isinstance(t, dict) and k in t]
            if len(keys) != 1:
                raise invalid(f"tools[{i}] must name exactly one tool ({', '.join((*BUILTIN_TOOLS, 'functions'))})")
    functions = functions_of(body)
    dialect.check_function_names([f.get("name") if isinstance(f, dict) else None for f in functions])
    names = [f["name"] for f in functions]
    problem = functions_problem(functions)
    if problem:
        raise invalid(problem)
    config = body.get("tool_config")
    if config is None:
        return
    if not isinstance(config, dict) or config.get("mode", "auto") not in TOOL_MODES:
        raise invalid(f"tool_config.mode must be one of: {', '.join(TOOL_MODES)}")
    if config.get("mode") == "forced":
        tool, function = config.get("tool_name"), config.get("function_name")
        if tool is None and function is None:
            raise invalid("tool_config with mode forced needs tool_name or function_name")
        if tool is not None and tool not in builtins_of(body):
            raise invalid(f"tool_config.tool_name {tool!r} is not among the tools")
        if function is not None and function not in names:
            raise invalid(f"tool_config.function_name {function!r} is not among the functions")


def check_capabilities(body: dict, capabilities, files: FileStore) -> None:
    """Refuse what this host does not offer for the model (after validation, as the API does)."""
    model = body["model"]
    for name in builtins_of(body):
        capabilities.check(name, model)
    options = body.get("model_options") or {}
    fmt = options.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        capabilities.check("json_schema", model)
    if options.get("reasoning") is not None:
        capabilities.check("reasoning", model)
    for m in body["messages"]:
        for part in m["content"]:
            for f in part.get("files") or []:
                stored = files.get(f["id"])
                if stored is not None and kind_of(stored.mime) == "audio":
                    capabilities.check("audio", model)


# ---- the deterministic model ----------------------------------------------------------------------


@dataclass
class Answer:
    parts: list[dict]  # the assistant message's content parts, in order
    finish_reason: str
    usage: dict
    tool_state_id: str | None = None
    reasoning: str | None = None
    tool_events: list[dict] = field(default_factory=list)  # content parts of response.tool.completed events
    chunks: list[str] | None = None  # how a stream splits the text (scripted replies)


def _text_of(m: dict | None) -> str:
    return "".join(p.get("text") or "" for p in (m or {}).get("content") or [] if isinstance(p, dict))


def _last_user(messages: list[dict]) -> dict | None:
    return next((m for m in reversed(messages) if m.get("role") == "user"), None)


def uuid7() -> str:
    """A time-ordered id like the recorded ``tool_state_id`` values (019e8374-28b2-741f-...)."""
    value = (int(time.time() * 1000) << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _wants(tool: str, text: str) -> bool:
    low = text.casefold()
    return any(word in low for word in _TRIGGERS.get(tool, ()))


def _primes(n: int) -> list[int]:
    out: list[int] = []
    k = 2
    while len(out) < n:
        if all(k % p for p in out if p * p <= k):
            out.append(k)
        k += 1
    return out


def run_code(question: str) -> tuple[str, str, str]:
    """(code, its output, the answer text) for a code-interpreter question."""
    match = re.search(r"first\s+(\d+)\s+prime", question, re.IGNORECASE)
    if match and int(match.group(1)) <= 10_000:
        n = int(match.group(1))
        code = (f"primes = []\nk = 2\nwhile len(primes) < {n}:\n    if all(k % p for p in primes if p * p <= k):\n"
                "        primes.append(k)\n    k += 1\nprint(sum(primes))")
        total = sum(_primes(n))
        return code, f"{total}\n", f"The sum of the first {n} prime numbers is {total}."
    code = f"text = {question!r}\nprint(len(text))"
    return code, f"{len(question)}\n", f"The question has {len(question)} characters."


def search(question: str) -> tuple[str, dict]:
    """(text with markers, inline_data.sources) for a web-search question."""
    digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:10]
    topic = question.strip().rstrip("?.!") or "the question"
    sources = {
        "1": {"url": f"https://news.example.com/{digest}", "title": f"News about {topic[:60]}"},
        "2": {"url": f"https://reference.example.org/articles/{digest}?lang=en", "title": f"Reference: {topic[:60]}"},
    }
    text = (f"Here is what current sources say about {topic} [sources=[1]]. "
            f"A reference article gives the background [sources=[2]].")
    return text, sources


def read_page(url: str) -> tuple[str, str]:
    """(title, text) of the page at `url` as if it had been read: deterministic per URL."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:8]
    parts = urlsplit(url)
    title = f"{parts.netloc}{parts.path or '/'}"
    return title, (f"The page {title} opens with the heading \"{title}\" and says that its text has the "
                   f"fingerprint {digest}; it ends with a list of contacts.")


def read_pages(urls: list[str], cite: bool) -> dict:
    """The URL-reading tool's text part: each page's text; `cite`: with a [sources=[n]] marker and its
    source (the recording has plain text)."""
    if not urls:
        return {"text": "The message gives no page address, so there is no page to read."}
    sources, texts = {}, []
    for n, url in enumerate(dict.fromkeys(urls), start=1):
        title, text = read_page(url)
        sources[str(n)] = {"url": url, "title": title}
        texts.append(f"{text} [sources=[{n}]]" if cite else text)
    part: dict[str, Any] = {"text": " ".join(texts)}
    if cite:
        part["inline_data"] = {"images": [], "sources": sources}
    return part


def _function_part(function: dict) -> dict:
    params = function.get("parameters")
    arguments = make_instance(params, required_only=True) if isinstance(params, dict) else {}
    return {"function_call": {"name": function["name"], "arguments": arguments or {}}}


def _generate_image(question: str, files: FileStore) -> dict:
    file_id = files.add("image.jpg", make_jpeg(question), "general", "image/jpeg")
    return {"files": [{"id": file_id, "mime": "image/jpeg", "target": "image"}]}


def _builtin(tool: str, question: str, files: FileStore, answer: Answer, dialect: Dialect) -> None:
    if tool == "web_search":
        text, sources = search(question)
        answer.parts.append({"text": text, "inline_data": {"images": [], "sources": sources}})
        answer.usage["input_tokens"] += TOKENS_PER_SOURCE * len(sources)
    elif tool == "image_generate":
        answer.tool_events.append({"tool_execution": {"name": "image_generate", "status": "success", "censored": False}})
        answer.parts.append(_generate_image(question, files))
        answer.parts.append({"text": "The image has been created."})
    elif tool == "code_interpreter":
        code, output, text = run_code(question)
        answer.tool_events += [
            {"function_call": {"name": "code_interpreter", "arguments": {"code": code}}},
            {"function_result": {"name": "code_interpreter", "result": {"stdout": output, "stderr": ""}}},
            {"tool_execution": {"name": "code_interpreter", "status": "success", "seconds_left": 0}},
        ]
        answer.parts.append({"text": text})
    elif tool == "url_content_extraction":
        answer.parts.append(read_pages(_URL.findall(question), dialect.cites_pages_read))
    elif tool == "model_3d_generate":
        file_id = files.add("model.fbx", b"FBX emulator model " + question.encode(), "general", "application/octet-stream")
        answer.parts.append({"files": [{"id": file_id, "mime": "application/octet-stream", "target": "3d_model"}]})


def _regex_instance(pattern: str) -> str:
    """The shortest string a simple pattern matches (classes, literals, counted repeats, groups)."""
    import re._parser as sre  # noqa: PLC0415 - the stdlib's own regex parser

    def gen(items) -> str:
        out = []
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(arg))
            elif name == "IN":
                for iop, iarg in arg:
                    if str(iop) == "LITERAL":
                        out.append(chr(iarg))
                        break
                    if str(iop) == "RANGE":
                        out.append(chr(iarg[0]))
                        break
                    if str(iop) == "CATEGORY":
                        out.append({"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " "}.get(str(iarg), "a"))
                        break
            elif name in ("MAX_REPEAT", "MIN_REPEAT"):
                low, _, sub = arg
                out.append(gen(sub) * low)
            elif name == "SUBPATTERN":
                out.append(gen(arg[-1]))
            elif name == "BRANCH":
                out.append(gen(arg[1][0]))
            elif name == "ANY":
                out.append("a")
        return "".join(out)

    return gen(sre.parse(pattern))


def _default_parts(body: dict, files: FileStore, user: dict | None) -> list[dict]:
    fmt = (body.get("model_options") or {}).get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return [{"text": json.dumps(make_instance(fmt["schema"]), ensure_ascii=False, indent=4)}]
    if fmt.get("type") == "regex":
        return [{"text": _regex_instance(fmt["regex"])}]
    lines = [attachment_line(f["id"], files.get(f["id"])) for p in (user or {}).get("content") or []
             for f in p.get("files") or [] if files.get(f["id"])]
    lines.append(f"Echo: {_text_of(user)}")
    return [{"text": "\n".join(lines)}]


def _trailing_results(messages: list[dict], role: str) -> list[dict]:
    """The function results of the run of result messages that ends the conversation."""
    out: list[dict] = []
    for m in reversed(messages):
        if m.get("role") != role:
            break
        out[:0] = _results(m)
    return out


def _compose(body: dict, files: FileStore, answer: Answer, dialect: Dialect) -> None:
    messages = body["messages"]
    last = messages[-1]
    user = _last_user(messages)
    question = _text_of(user)
    config = body.get("tool_config") or {}
    mode = config.get("mode", "auto")
    functions = functions_of(body)
    if last.get("role") == dialect.result_role:
        results = _trailing_results(messages, dialect.result_role) or [{}]
        answer.parts.append({"text": "\n".join(f"Function {r.get('name', '')} returned: {dialect.result_text(r.get('result'))}"
                                               for r in results)})
        return
    if mode == "forced" and config.get("function_name"):
        answer.parts.append(_function_part(next(f for f in functions if f["name"] == config["function_name"])))
        return
    fmt = (body.get("model_options") or {}).get("response_format") or {}
    formatted = fmt.get("type") in ("json_schema", "regex")
    if mode == "forced" and config.get("tool_name"):
        _builtin(config["tool_name"], question, files, answer, dialect)
    elif mode != "none":
        for tool in builtins_of(body):
            if tool == "url_content_extraction" and _URL.search(question) or _wants(tool, question):
                _builtin(tool, question, files, answer, dialect)
        # every function named in the question is called, in one step where the host allows it
        named = [f for f in functions if f["name"].casefold() in question.casefold()]
        named = named if dialect.parallel_calls else named[:1]
        if not named and functions and not answer.parts:
            named = functions[:1]
        if named and not formatted:  # a format wins over the functions
            answer.parts += [_function_part(f) for f in named]
            return
    if formatted:  # built-in tools ran (their files stay), yet the answer itself is in the format
        answer.parts = [p for p in answer.parts if "text" not in p] + _default_parts(body, files, user)
    elif not answer.parts:
        answer.parts += _default_parts(body, files, user)


def _message_tokens(m: dict, files: FileStore) -> int:
    n = TOKENS_PER_MESSAGE
    for part in m.get("content") or []:
        n += count_tokens(part.get("text") or "")
        for key in ("function_call", "function_result"):
            if part.get(key) is not None:
                n += count_tokens(json.dumps(part[key], ensure_ascii=False))
        for f in part.get("files") or []:
            stored = files.get(f.get("id"))
            if stored is not None and stored.mime == "text/plain":
                n += count_tokens(stored.data.decode("utf-8", "replace"))
            else:
                n += TOKENS_PER_ATTACHMENT
    return n


def serialize_messages(messages: list[dict]) -> list[str]:
    return [json.dumps(m, sort_keys=True, ensure_ascii=False) for m in messages]


def rank_functions(body: dict) -> tuple[dict, list[str] | None]:
    """The request as the model sees it after ``ranker_options`` (emulator/ranker.py), and the names
    it kept (None: no ranking)."""
    functions = functions_of(body)
    forced = (body.get("tool_config") or {}).get("function_name")
    kept = ranker.select(functions, _text_of(_last_user(body["messages"])), body.get("ranker_options"), forced)
    if not functions or kept is None:
        return body, kept
    tools = [t for t in body.get("tools") or [] if not (isinstance(t, dict) and "functions" in t)]
    return {**body, "tools": [{"functions": {"specifications": kept}}, *tools]}, [f["name"] for f in kept]


def _finished_early(body: dict, reason: str, answer: Answer) -> None:
    """The parts of an answer that ends with a rare reason (emulator/finish.py)."""
    functions = functions_of(body)
    if rare.is_function_error(reason):
        if functions:
            forced = (body.get("tool_config") or {}).get("function_name")
            function = next((f for f in functions if f["name"] == forced), functions[0])
            answer.parts.append({"function_call": rare.bad_call(function, _function_part(function)["function_call"]["arguments"])})
    else:
        answer.parts.append({"text": rare.refusal_text(reason)})
    answer.finish_reason = reason


def complete(body: dict, files: FileStore, scripted: ScriptedReply | None, previous: list[str],
             dialect: Dialect = DIALECTS[RECORDED], finish_reason: str | None = None) -> Answer:
    """The answer to a validated request. ``previous``: the session's previous messages (caching);
    ``finish_reason``: a rare reason it must end with (faults.finish), v2's name for it."""
    messages = body["messages"]
    prompt = PROMPT_BASE_TOKENS + sum(_message_tokens(m, files) for m in messages)
    if functions_of(body):
        prompt += count_tokens(json.dumps(functions_of(body), ensure_ascii=False))
    cached = 0
    for m, current, before in zip(messages, serialize_messages(messages), previous):
        if current != before:
            break
        cached += _message_tokens(m, files)
    answer = Answer([], "stop", {"input_tokens": prompt}, uuid7() if body.get("tools") else None)
    if finish_reason is not None:
        _finished_early(body, finish_reason, answer)
    elif scripted is not None:
        text = scripted.content if scripted.content or not scripted.chunks else "".join(scripted.chunks)
        if text:
            answer.parts.append({"text": text})
        answer.parts += [{"function_call": dict(call)} for call in scripted.calls()]
        answer.reasoning = scripted.reasoning_content
        answer.chunks = scripted.chunks
    else:
        _compose(body, files, answer, dialect)
    calls = [p for p in answer.parts if "function_call" in p]
    if dialect.call_ids:
        for part in calls:  # observed: every call of an answer has a UUID, first in the object
            part["function_call"] = {"id": str(uuid.uuid4()), **part["function_call"]}
    answer.finish_reason = (finish_reason or (scripted.finish_reason if scripted and scripted.finish_reason else None)
                            or ("function_call" if calls else "stop"))
    if calls and answer.tool_state_id is None:
        answer.tool_state_id = uuid7()
    max_tokens = (body.get("model_options") or {}).get("max_tokens")
    if max_tokens and not calls and finish_reason is None:
        for part in answer.parts:
            pieces = split_tokens(part.get("text") or "")
            if len(pieces) > max_tokens:
                part["text"] = "".join(pieces[:max_tokens])
                answer.finish_reason = "length"
                answer.chunks = None
    output = sum(count_tokens(p.get("text") or "") for p in answer.parts) + count_tokens(answer.reasoning or "") + 1
    output += sum(count_tokens(json.dumps(p["function_call"], ensure_ascii=False)) for p in calls)
    usage = {
        "input_tokens": answer.usage["input_tokens"],
        "input_tokens_details": {"prompt_tokens": answer.usage["input_tokens"], "cached_tokens": min(prompt, cached)},
        "output_tokens": output,
        "total_tokens": answer.usage["input_tokens"] + output,
    }
    if scripted is not None and scripted.usage:
        for key, value in scripted.usage.items():  # v1 names map onto v2's
            target = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}.get(key, key)
            if key == "precached_prompt_tokens":
                usage["input_tokens_details"]["cached_tokens"] = value
            else:
                usage[target] = value
        if "total_tokens" not in scripted.usage:
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    answer.usage = usage
    return answer


# ---- wire shapes --------------------------------------------------------------------------------


def _assistant(answer: Answer, parts: list[dict], with_state: bool) -> dict:
    message: dict[str, Any] = {"role": "assistant"}
    if with_state and answer.tool_state_id:
        message["tool_state_id"] = answer.tool_state_id
    message["content"] = parts
    return message


def response_body(answer: Answer, model: str) -> dict:
    messages = []
    if answer.reasoning:
        messages.append({"role": "reasoning", "content": [{"text": answer.reasoning}]})
    messages.append(_assistant(answer, answer.parts, True))
    return {"model": versioned(model), "created_at": int(time.time()), "messages": messages,
            "finish_reason": answer.finish_reason, "usage": answer.usage}


def _groups(text: str, size: int) -> list[str]:
    pieces = split_tokens(text)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]


def stream_events(answer: Answer, model: str, dialect: Dialect = DIALECTS[RECORDED]) -> list[bytes]:
    """Named SSE events: tool executions, reasoning and answer deltas, then the done event (which
    carries the function calls where the host sends them there)."""
    name, created, size = versioned(model), int(time.time()), dialect.stream_delta_tokens

    def head() -> dict:
        return {"model": name, "created_at": created}

    out: list[bytes] = []
    if answer.tool_events:
        out.append(named_event("response.tool.completed",
                         {**head(), "messages": [{"role": "reasoning", "content": answer.tool_events}]}))
    for piece in _groups(answer.reasoning or "", size):
        out.append(named_event("response.message.delta", {**head(), "messages": [{"role": "reasoning", "content": [{"text": piece}]}]}))
    first = True
    in_done = [p for p in answer.parts if "function_call" in p] if dialect.calls_in_done else []
    for part in answer.parts:
        if in_done and "function_call" in part:
            continue
        if "text" in part:
            pieces = answer.chunks if answer.chunks is not None else _groups(part["text"], size)
            deltas = [{"text": p} for p in pieces if p] or [{"text": ""}]
            if part.get("inline_data"):
                deltas[0]["inline_data"] = part["inline_data"]
        else:
            deltas = [part]
        for delta in deltas:
            out.append(named_event("response.message.delta", {**head(), "messages": [_assistant(answer, [delta], first)]}))
            first = False
    done = {**head(), "messages": [_assistant(answer, in_done, True)]} if in_done else head()
    out.append(named_event("response.message.done", {**done, "finish_reason": answer.finish_reason, "usage": answer.usage}))
    return out
