"""Conformance: the facts this plugin relies on, checked against a real GigaChat account.

    bash scripts/conformance.sh            # no key set: runs against the bundled emulator (free)
    GIGACHAT_AUTHORIZATION_KEY=... GIGACHAT_SCOPE=GIGACHAT_API_B2B GIGACHAT_CA_FILE=ca.pem \
        bash scripts/conformance.sh        # prints the token budget, spends nothing
    ... bash scripts/conformance.sh --yes  # spends it

Every scenario runs through the real `gigachat` SDK, with a client built exactly as the plugin builds
it (gigachat_dify.connection), and records the HTTP exchanges as VCR cassettes (the format of
../shared/reference/gigachat-recordings) with secrets redacted: the emulator's recordings tests
replay them (tests/emulator/test_conformance.py), so a new real recording becomes a fidelity check.
Each scenario also prints what it found (PASS / FAIL / INFO) about a fact the plugin assumes:
token answer shape and units, the model list, structured output and reasoning per model on this
host and account, embedding dimensions and precision, the v2 contract, the form of v2 function
results this host takes (and its state and call ids, parallel calls), URL reading, the tool ranker.
The v2 requests are built by the plugin's own builders (gigachat_dify/chat/v1, v2), so what is
checked is what the plugin sends.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dify_plugin.entities.model.message import (  # noqa: E402
    AssistantPromptMessage,
    PromptMessageTool,
    ToolPromptMessage,
    UserPromptMessage,
)

from demo import SetupError, read_ca_file, real_credentials  # noqa: E402
from gigachat_dify.chat import builtin_tools  # noqa: E402
from gigachat_dify.chat.tool_calls import make_tool_call_id  # noqa: E402
from gigachat_dify.chat.v1 import call as v1_contract  # noqa: E402
from gigachat_dify.chat.v2 import call as v2_contract  # noqa: E402
from gigachat_dify.chat.v2 import dialect  # noqa: E402
from gigachat_dify.connection.clients import get_client  # noqa: E402
from gigachat_dify.connection.credentials import parse_credentials  # noqa: E402
from gigachat_dify.embeddings.config import DIMENSIONS, EMBEDDING_LIMITS  # noqa: E402
from gigachat_dify.tokens import estimate_tokens  # noqa: E402
from tests.support.daemon import many_tools  # noqa: E402

CHAT_MAX_TOKENS = 64
STRUCTURED_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "n": {"type": "integer", "minimum": 0, "maximum": 10}},
    "required": ["answer", "n"],
}
ORDER_FUNCTION = {
    "name": "get_order_status",
    "description": "Get delivery status for an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "description": "Order identifier."}},
                   "required": ["order_id"]},
}


SLOTS_FUNCTION = {
    "name": "get_delivery_slots",
    "description": "Free delivery time slots for an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "description": "Order identifier."}},
                   "required": ["order_id"]},
}
#: The model the Sep 2026 live probes of api.giga.chat used (function results, parallel calls, URL reading).
TOOLS_MODEL = "GigaChat-2-Max"
#: A stable public page for URL reading.
PAGE_URL = "https://www.python.org/about/"
RANKER_TOOLS = 30
RANKER_TOP_N = 3


def _models(folder: str) -> list[str]:
    return yaml.safe_load((ROOT / "models" / folder / "_position.yaml").read_text())


RECORDER: "Recorder | None" = None
BASE_URL = ""  # the host checked (set in main)
CHAT_MODELS = _models("llm")
EMBEDDING_MODELS = _models("text_embedding")


# --------------------------------------------------------------------------- recording


class Recorder:
    """Collects every HTTP exchange of the SDK's clients, redacted, as VCR interactions."""

    def __init__(self, secrets: list[str]):
        self.secrets = [s for s in secrets if s]
        self.interactions: list[dict] = []

    def attach(self, client: httpx.Client) -> None:
        client.event_hooks = {"request": [], "response": [self._on_response]}

    def _redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "REDACTED")
        return text

    def _on_response(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        body_text = response.content.decode("utf-8", "replace")
        if "oauth" in str(request.url) or str(request.url).endswith("/token"):
            try:
                data = json.loads(body_text)
                for key in ("access_token", "tok"):
                    if isinstance(data, dict) and key in data:
                        self.secrets.append(str(data[key]))
                        data[key] = "REDACTED"
                body_text = json.dumps(data)
            except ValueError:
                pass
        headers = {k: [v.split(" ", 1)[0] + " REDACTED" if k.lower() == "authorization" else self._redact(v)
                       for v in vs] for k, vs in _headers(request.headers.raw).items()}
        content = request.content.decode("utf-8", "replace") if request.content else ""
        if content.startswith("scope="):
            content = "scope=REDACTED"  # as the SDK's own cassettes
        self.interactions.append({
            "request": {"body": self._redact(content), "headers": headers, "method": request.method,
                        "uri": str(request.url)},
            "response": {
                "body": {"string": self._redact(body_text)},
                "headers": _headers(response.headers.raw),
                "status": {"code": response.status_code, "message": response.reason_phrase},
            },
        })

    def take(self) -> list[dict]:
        out, self.interactions = self.interactions, []
        return out


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """Headers as the wire spelled them (the cassettes keep e.g. 'Content-Type'), cookies left out."""
    out: dict[str, list[str]] = {}
    for key, value in raw:
        name = key.decode("latin-1")
        if name.lower() != "set-cookie":
            out.setdefault(name, []).append(value.decode("latin-1"))
    return out


# --------------------------------------------------------------------------- scenarios


@dataclass
class Finding:
    level: str  # PASS | FAIL | INFO
    text: str


@dataclass
class Scenario:
    name: str
    paid: bool
    tokens: int  # at most, estimated: prompt + output
    run: Callable[[Any], list[Finding]]
    optional: bool = False  # expensive: only with --builtin-tools
    findings: list[Finding] = field(default_factory=list)


def _status(exc: BaseException) -> str:
    return f"HTTP {getattr(exc, 'status_code', '?')}: {getattr(exc, 'content', b'')[:200]!r}"


def _is_half(x: float) -> bool:
    return struct.unpack("<e", struct.pack("<e", x))[0] == x


def s_validation(client) -> list[Finding]:
    token = client.get_token()
    out = [Finding("PASS", "OAuth answered a token")]
    expires = getattr(token, "expires_at", 0) or 0
    now_ms = time.time() * 1000
    if expires and expires < now_ms / 100:
        out.append(Finding("INFO", f"expiry {expires} is in seconds (the {{tok, exp}} shape); the plugin normalises it"))
    else:
        out.append(Finding("INFO", f"expiry {expires} is in milliseconds"))
    client.get_models()
    # The SDK's Model drops `type`; the recorded raw answer has it.
    raw = json.loads(RECORDER.interactions[-1]["response"]["body"]["string"])
    listed = {m["id"]: m.get("type", "?") for m in raw.get("data", [])}
    out.append(Finding("INFO", f"{len(listed)} models listed: " + ", ".join(f"{k} ({v})" for k, v in sorted(listed.items()))))
    for name in CHAT_MODELS + EMBEDDING_MODELS:
        out.append(Finding("PASS" if name in listed else "INFO",
                           f"{name} {'is' if name in listed else 'is NOT'} listed for this account"))
    return out


def s_chat(client) -> list[Finding]:
    r = client.chat({"model": "GigaChat-2", "max_tokens": CHAT_MAX_TOKENS,
                     "messages": [{"role": "user", "content": "Say 'Hello' and nothing else"}]})
    ok = bool(r.choices and r.choices[0].message.content and r.usage)
    return [Finding("PASS" if ok else "FAIL", f"blocking chat: {r.choices[0].finish_reason}, usage {r.usage.total_tokens if r.usage else None}")]


def s_stream(client) -> list[Finding]:
    chunks = list(client.stream({"model": "GigaChat-2", "max_tokens": CHAT_MAX_TOKENS,
                                 "messages": [{"role": "user", "content": "Count from 1 to 3"}]}))
    last = chunks[-1] if chunks else None
    ok = bool(last and last.usage and last.choices and last.choices[0].finish_reason)
    return [Finding("PASS" if ok else "FAIL", f"stream: {len(chunks)} chunks, the last carries finish_reason and usage: {ok}")]


def s_tool_round_trip(client) -> list[Finding]:
    question = {"role": "user", "content": "Check order A-1024 and answer naturally."}
    payload = {"model": "GigaChat-2", "messages": [question], "function_call": "auto", "max_tokens": CHAT_MAX_TOKENS,
               "additional_fields": {"functions": [ORDER_FUNCTION]}}
    first = client.chat(payload)
    msg = first.choices[0].message
    if not msg.function_call:
        return [Finding("FAIL", f"no function call (finish_reason {first.choices[0].finish_reason})")]
    out = [Finding("PASS", f"function call {msg.function_call.name}({json.dumps(msg.function_call.arguments)}), "
                           f"functions_state_id {'present' if msg.functions_state_id else 'MISSING'}")]
    echo = {"role": "assistant", "content": "", "function_call": {"name": msg.function_call.name,
                                                                  "arguments": msg.function_call.arguments}}
    if msg.functions_state_id:
        echo["functions_state_id"] = msg.functions_state_id
    result = {"role": "function", "name": msg.function_call.name,
              "content": json.dumps({"order_id": "A-1024", "status": "packed", "eta": "tomorrow"})}
    second = client.chat({**payload, "messages": [question, echo, result]})
    text = second.choices[0].message.content or ""
    out.append(Finding("PASS" if text else "FAIL", f"answer after the result: {text[:80]!r}"))
    return out


def s_structured(client) -> list[Finding]:
    out = []
    for model in CHAT_MODELS:
        payload = {"model": model, "max_tokens": CHAT_MAX_TOKENS,
                   "messages": [{"role": "user", "content": 'Return {"answer":"ok","n":3} exactly.'}],
                   "response_format": {"type": "json_schema", "schema": STRUCTURED_SCHEMA, "strict": True}}
        try:
            r = client.chat(payload)
            json.loads(r.choices[0].message.content)
            out.append(Finding("INFO", f"{model}: native json_schema accepted"))
        except ValueError:
            out.append(Finding("INFO", f"{model}: json_schema accepted but the answer is not JSON"))
        except Exception as exc:  # a refusal is a finding, not a failure: availability depends on host and account
            out.append(Finding("INFO", f"{model}: json_schema refused ({_status(exc)})"))
    return out


def s_reasoning(client) -> list[Finding]:
    out = []
    for model in CHAT_MODELS:
        try:
            r = client.chat({"model": model, "max_tokens": CHAT_MAX_TOKENS, "reasoning_effort": "low",
                             "messages": [{"role": "user", "content": "2+2?"}]})
            has = bool(getattr(r.choices[0].message, "reasoning_content", None))
            out.append(Finding("INFO", f"{model}: reasoning_effort accepted, reasoning_content {'present' if has else 'absent'}"))
        except Exception as exc:
            out.append(Finding("INFO", f"{model}: reasoning_effort refused ({_status(exc)})"))
    return out


def s_embeddings(client) -> list[Finding]:
    out = []
    for model in EMBEDDING_MODELS:
        try:
            r = client.embeddings(["First text", "Second text"], model=model)
        except Exception as exc:
            out.append(Finding("INFO", f"{model}: refused ({_status(exc)})"))
            continue
        vectors = [d.embedding for d in r.data]
        dims = {len(v) for v in vectors}
        halves = all(_is_half(x) for v in vectors for x in v)
        norms = [round(sum(x * x for x in v) ** 0.5, 2) for v in vectors]
        expected = DIMENSIONS.get(model)
        out.append(Finding("PASS" if dims == {expected} else "FAIL",
                           f"{model}: dimensions {sorted(dims)} (the plugin assumes {expected}), norms {norms}"))
        out.append(Finding("PASS" if halves else "FAIL", f"{model}: every value float16-exact: {halves}"))
    return out


def s_embedding_limits(client) -> list[Finding]:
    """The per-text limits the plugin splits at (third-party figures): a text just over a limit
    should be refused (413/422), one well under it accepted."""
    out = []
    for model in EMBEDDING_MODELS:
        limit = EMBEDDING_LIMITS[model]
        over = " ".join(["слово"] * (limit + 64))  # one Cyrillic word ~ 1-2 tokens: surely over
        try:
            client.embeddings([over], model=model)
            out.append(Finding("INFO", f"{model}: a text of ~{limit + 64}+ tokens was accepted (the plugin splits at {limit})"))
        except Exception as exc:
            out.append(Finding("PASS", f"{model}: a text over {limit} tokens is refused ({getattr(exc, 'status_code', '?')})"))
    return out


def s_builtin_tools(client) -> list[Finding]:
    """GigaChat's v2 built-in tools as the plugin turns them on (expensive: a recorded web search
    cost ~24,000 input tokens)."""
    out = []
    for tool in ("web_search", "image_generate", "code_interpreter"):
        extra = builtin_tools.BY_API_NAME[tool].entry()  # exactly the entry the plugin sends
        try:
            r = client.chat.create({"model": "GigaChat-3-Ultra", "tools": [extra],
                                    "tool_config": {"mode": "forced", "tool_name": tool},
                                    "messages": [{"role": "user", "content": {
                                        "web_search": "What is new in the latest stable Python release?",
                                        "image_generate": "Draw a simple square icon.",
                                        "code_interpreter": "Calculate the sum of the first 20 prime numbers. Use code.",
                                    }[tool]}]})
            parts = [p for m in r.messages for p in (m.content or [])]
            kinds = sorted({k for p in parts for k in ("text", "files", "inline_data", "function_call", "function_result")
                            if getattr(p, k, None)})
            out.append(Finding("PASS", f"{tool}: answered with parts {kinds}"))
        except Exception as exc:
            out.append(Finding("INFO", f"{tool}: refused ({_status(exc)})"))
    return out


def s_v2(client) -> list[Finding]:
    r = client.chat.create({"model": "GigaChat-2", "messages": [{"role": "user", "content": "Say 'Hello' and nothing else"}],
                            "model_options": {"max_tokens": CHAT_MAX_TOKENS}})
    text = "".join(p.text or "" for m in r.messages for p in (m.content or []))
    out = [Finding("PASS" if text else "FAIL", f"v2 blocking: {text[:40]!r}, usage {r.usage.total_tokens if r.usage else None}")]
    events = list(client.chat.stream({"model": "GigaChat-2", "model_options": {"max_tokens": CHAT_MAX_TOKENS},
                                      "messages": [{"role": "user", "content": "Count from 1 to 3"}]}))
    names = [e.event for e in events]
    out.append(Finding("PASS" if names and names[-1] == "response.message.done" else "FAIL", f"v2 stream events: {names}"))
    return out


def _raw_answer() -> dict:
    """The last answer as the wire carried it (the SDK's models rename tool_state_id)."""
    return json.loads(RECORDER.interactions[-1]["response"]["body"]["string"])


def _calls_of(raw: dict) -> tuple[list[dict], str | None, list[str]]:
    """(function calls, state id, the names of the state-id fields) of a raw v2 answer."""
    calls, state, keys = [], None, []
    for m in raw.get("messages") or []:
        for key in ("tool_state_id", "tools_state_id", "functions_state_id"):
            if m.get(key):
                state, keys = m[key], keys + [key]
        calls += [p["function_call"] for p in m.get("content") or [] if isinstance(p, dict) and p.get("function_call")]
    return calls, state, keys


def _history(question: UserPromptMessage, calls: list[dict], state: str | None) -> list:
    """What Dify sends back after running the calls (the ids as the plugin gives them to Dify)."""
    tool_calls = [AssistantPromptMessage.ToolCall(id=make_tool_call_id(state, c.get("id")), type="function",
                                                  function=AssistantPromptMessage.ToolCall.ToolCallFunction(
                                                      name=c["name"], arguments=json.dumps(c.get("arguments") or {})))
                  for c in calls]
    results = [ToolPromptMessage(content=json.dumps({"order_id": "A-1024", "status": "packed", "slot": f"{10 + i}:00"}),
                                 tool_call_id=tc.id) for i, tc in enumerate(tool_calls)]
    return [question, AssistantPromptMessage(content="", tool_calls=tool_calls), *results]


def _v2_payload(messages: list, params: dict, tools: list | None = None, **options) -> dict:
    payload, _ = v2_contract.build(TOOLS_MODEL, messages, {"max_tokens": CHAT_MAX_TOKENS, **params}, tools, False,
                                   None, base_url=BASE_URL, **options)
    return payload


def s_v2_dialect(client) -> list[Finding]:
    """The form of v2 function results this host takes (api.giga.chat: role function with a JSON-string
    result; the June recording: role tool with an object), the ids its answers carry, parallel calls."""
    tools = [PromptMessageTool(**ORDER_FUNCTION), PromptMessageTool(**SLOTS_FUNCTION)]
    out: list[Finding] = []
    question = UserPromptMessage(content="Check order A-1024 with get_order_status and answer naturally.")
    client.chat.create(_v2_payload([question], {}, tools[:1]))
    calls, state, keys = _calls_of(_raw_answer())
    if not calls:
        return [Finding("FAIL", "no function call in the v2 answer")]
    out.append(Finding("INFO", f"state id field(s) in the answer: {keys or 'none'}; call ids: "
                               f"{'present' if all(c.get('id') for c in calls) else 'absent'}"))
    history = _history(question, calls[:1], state)
    accepted = {}
    for form in (dialect.TOOL, dialect.FUNCTION):
        try:
            client.chat.create(_v2_payload(history, {}, tools[:1], form=form))
            accepted[form] = True
            out.append(Finding("INFO", f"results as role {form.value}: accepted"))
        except Exception as exc:
            accepted[form] = False
            out.append(Finding("INFO", f"results as role {form.value}: refused ({_status(exc)})"))
    rule = dialect.host_rule(BASE_URL)
    verified = rule is dialect.FUNCTION or "gigachat.devices.sberbank.ru" in BASE_URL
    if not any(accepted.values()):
        out.append(Finding("FAIL", "the host refused function results in both forms"))
    elif accepted[rule]:
        out.append(Finding("PASS", f"the plugin's rule for this host (role {rule.value}) is accepted"))
    else:
        out.append(Finding("FAIL" if verified else "INFO",
                           f"the plugin's rule for this host (role {rule.value}) is refused; it learns role "
                           f"{rule.other.value} from the first refusal" + (" (the verified rule is out of date)"
                                                                           if verified else "")))
    form = rule if accepted[rule] else rule.other
    both = UserPromptMessage(content="For order A-1024 call get_order_status and get_delivery_slots.")
    client.chat.create(_v2_payload([both], {}, tools))
    calls, state, _ = _calls_of(_raw_answer())
    out.append(Finding("INFO", f"a question naming two functions: {len(calls)} call(s) in one step"))
    if calls and accepted[form]:
        client.chat.create(_v2_payload(_history(both, calls, state), {}, tools, form=form))
        text = "".join(p.get("text") or "" for m in _raw_answer().get("messages") or [] for p in m.get("content") or [])
        out.append(Finding("PASS" if text else "FAIL", f"answer after {len(calls)} result(s): {text[:60]!r}"))
    return out


def s_url_reading(client) -> list[Finding]:
    """The URL-reading tool (switch 'URL reading'): a page given in the message is read."""
    question = UserPromptMessage(content=f"In one sentence: what is the page {PAGE_URL} about?")
    try:
        client.chat.create(_v2_payload([question], {"url_reading": True}))
    except Exception as exc:  # availability depends on host, account and model
        return [Finding("INFO", f"url_content_extraction refused ({_status(exc)})")]
    raw = _raw_answer()
    text = "".join(p.get("text") or "" for m in raw.get("messages") or [] for p in m.get("content") or [])
    sources = [p["inline_data"]["sources"] for m in raw.get("messages") or [] for p in m.get("content") or []
               if isinstance(p.get("inline_data"), dict) and p["inline_data"].get("sources")]
    return [Finding("PASS" if text else "FAIL", f"page read: {text[:80]!r}; sources cited: {bool(sources)}")]


def s_ranker(client) -> list[Finding]:
    """The tool ranker (v1 function_ranker, v2 ranker_options): prompt tokens of 30 functions, off and on."""
    tools = [PromptMessageTool(**t) for t in many_tools(RANKER_TOOLS)]
    question = [UserPromptMessage(content="What is the weather in Sochi tomorrow?")]
    out = []
    for contract in (v1_contract, v2_contract):
        name = "v1" if contract is v1_contract else "v2"
        prompt = []
        for params in ({}, {"tool_ranking": True, "tool_ranking_top_n": RANKER_TOP_N}):
            payload, _ = contract.build(TOOLS_MODEL, question, {"max_tokens": CHAT_MAX_TOKENS, **params}, tools,
                                        False, None, base_url=BASE_URL)
            try:
                if contract is v1_contract:
                    prompt.append(client.chat(payload).usage.prompt_tokens)
                else:
                    prompt.append(client.chat.create(payload).usage.input_tokens)
            except Exception as exc:
                out.append(Finding("INFO", f"{name} with {'the ranker' if params else 'no ranker'}: refused "
                                           f"({_status(exc)})"))
                break
        if len(prompt) == 2:
            level = "PASS" if prompt[1] < prompt[0] else "INFO"
            out.append(Finding(level, f"{name}: {RANKER_TOOLS} functions cost {prompt[0]} prompt tokens, "
                                      f"{prompt[1]} with the ranker at top {RANKER_TOP_N}"))
    return out


def scenarios() -> list[Scenario]:
    chat = estimate_tokens("Say 'Hello' and nothing else") + 20 + CHAT_MAX_TOKENS
    n_chat = len(CHAT_MODELS)
    ranker_functions = estimate_tokens(json.dumps(many_tools(RANKER_TOOLS)))
    return [
        Scenario("validation", False, 0, s_validation),
        Scenario("chat", True, chat, s_chat),
        Scenario("stream", True, chat, s_stream),
        Scenario("tool_round_trip", True, 2 * (200 + CHAT_MAX_TOKENS), s_tool_round_trip),
        Scenario("structured_output", True, n_chat * (120 + CHAT_MAX_TOKENS), s_structured),
        Scenario("reasoning", True, n_chat * (30 + CHAT_MAX_TOKENS), s_reasoning),
        Scenario("embeddings", True, len(EMBEDDING_MODELS) * 2 * 10, s_embeddings),
        Scenario("embedding_limits", True, sum(EMBEDDING_LIMITS[m] * 2 for m in EMBEDDING_MODELS), s_embedding_limits),
        Scenario("v2", True, 2 * chat, s_v2),
        Scenario("v2_dialect", True, 6 * (300 + CHAT_MAX_TOKENS), s_v2_dialect),
        Scenario("url_reading", True, 8_000, s_url_reading),
        Scenario("ranker", True, 4 * (ranker_functions + 30 + CHAT_MAX_TOKENS), s_ranker),
        Scenario("builtin_tools", True, 30_000, s_builtin_tools, optional=True),
    ]


# --------------------------------------------------------------------------- main


def _credentials_from_env() -> tuple[dict, bool]:
    """A real account's form from the GIGACHAT_DEMO_* variables (scripts/real_account.sh), read as
    the demo reads them; ({}, False) when no key is set."""
    if not os.environ.get("GIGACHAT_DEMO_KEY"):
        return {}, False
    form = real_credentials(os.environ)
    ca_file = os.environ.get("GIGACHAT_DEMO_CA")
    if ca_file:
        try:
            form["ca_certificate"] = read_ca_file(ca_file)
        except SetupError as exc:
            raise SystemExit(f"conformance: {exc}") from None
    return form, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash scripts/conformance.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--yes", action="store_true", help="spend the printed token budget on the real account")
    parser.add_argument("--out", type=Path, default=None, help="folder for the cassettes and report.json")
    parser.add_argument("--only", action="append", default=[], help="run only this scenario (repeatable)")
    parser.add_argument("--emulator-host", choices=("recorded", "giga"), default="recorded",
                        help="without a key: the emulator's host to check, gigachat.devices.sberbank.ru as recorded "
                             "(default) or api.giga.chat as probed live in Sep 2026")
    parser.add_argument("--builtin-tools", action="store_true",
                        help="also web search, image generation and code interpreter (~30,000 tokens)")
    args = parser.parse_args(argv)

    form, real = _credentials_from_env()
    emu = None
    if not real:
        from emulator import DEFAULT_KEY, Emulator

        emu = Emulator().start()
        form = {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS",
                "base_url": emu.giga_base_url if args.emulator_host == "giga" else emu.base_url,
                "auth_url": emu.auth_url}
    chosen = [s for s in scenarios() if (not args.only or s.name in args.only)
              and (not s.optional or args.builtin_tools or s.name in args.only)]
    paid = [s for s in chosen if s.paid]
    budget = sum(s.tokens for s in paid)
    costs = f"{len(paid)} of them paid, token budget at most ~{budget:,} tokens"
    if real:
        print(f"Conformance against your GigaChat account: {len(chosen)} scenarios, {costs} "
              f"({', '.join(f'{s.name} {s.tokens}' for s in paid)}).")
    else:  # the emulator bills nothing: the budget is only what the same run would cost on an account
        print(f"Conformance against the bundled emulator ({form['base_url']}): {len(chosen)} scenarios, "
              f"nothing is spent (on a real account: {costs}).")
    if real and not args.yes:
        print("Nothing was sent. Re-run with --yes to spend this budget.")
        return 2

    out_dir = args.out or ROOT / "conformance-out" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = parse_credentials(form)
    client = get_client(settings)
    global RECORDER, BASE_URL
    BASE_URL = settings.base_url
    recorder = RECORDER = Recorder(list(settings.auth.process_secrets()))
    recorder.attach(client._client)  # the SDK's own httpx clients: what they send is what is recorded
    recorder.attach(client._auth_client)
    failed = 0
    report = []
    try:
        for s in chosen:
            try:
                s.findings = s.run(client)
            except Exception as exc:
                s.findings = [Finding("FAIL", f"{type(exc).__name__}: {_status(exc) if hasattr(exc, 'status_code') else exc}")]
            interactions = recorder.take()
            (out_dir / f"conformance_{s.name}.yaml").write_text(
                yaml.safe_dump({"interactions": interactions, "version": 1}, allow_unicode=True, sort_keys=False))
            for f in s.findings:
                print(f"  {f.level:4} {s.name}: {f.text}")
            failed += sum(f.level == "FAIL" for f in s.findings)
            report.append({"scenario": s.name, "findings": [f.__dict__ for f in s.findings], "requests": len(interactions)})
    finally:
        client.close()
        if emu is not None:
            emu.stop()
    (out_dir / "report.json").write_text(json.dumps({"target": "real" if real else "emulator", "scenarios": report},
                                                    ensure_ascii=False, indent=2))
    print(f"Cassettes and report: {out_dir}  ({failed} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
