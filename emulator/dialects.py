"""The hosts' dialects: one emulator speaks GigaChat as each of its two hosts does, under its own base
path, so a client that remembers a dialect per base URL can be tested against both at once.

- ``RECORDED`` (gigachat.devices.sberbank.ru, base path ``/api/v1``, v2 chat at
  ``/api/v2/chat/completions``): as the recordings show it (June 2026, ``test_primary_*``):
  function results as role ``tool`` with an object ``result``, one function call per answer,
  ``function_call`` parts without ids, the answer streamed in small deltas.
- ``GIGA_CHAT`` (api.giga.chat, base path ``/v1``, v2 chat at ``/v2/chat/completions``): as live
  probes saw it (Sep 2026, GIGACHAT_API.md "v2 as observed live on api.giga.chat"): function
  results as role ``function`` whose ``result`` is a JSON string (``role: "tool"``, a missing
  ``name``, string ``arguments`` or a string ``content``: 400 "Your request contains invalid JSON
  syntax."; text that is not JSON: 400 "invalid function result ..."); every ``function_call``
  part of an answer has an ``id``; several functions called in one step; function names
  ``^[A-Za-z][A-Za-z0-9_.-]*$``; ``response_format`` only ``text`` and ``json_schema``; unknown
  tools 404, ``code_interpreter`` 422 on personal accounts; ``/v2/files`` 403 (nginx); no
  ``/token``; uploads answer ``modalities``; GigaChat-3-Ultra only for freemium personal accounts;
  streams put a function call in ``response.message.done``.

Where no source fixes a behaviour the choice is marked "assumed" here and in emulator/README.md.
``emu.set_dialect(base_url, name)`` makes a base path speak the other dialect (a host that
changed), ``emu.reset()`` restores the defaults.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from emulator import catalog
from emulator.errors import NO_SUCH_MODEL, ApiError, invalid
from emulator.files import kind_of
from emulator.schema_rules import FUNCTION_NAME

RECORDED = "gigachat.devices.sberbank.ru"
GIGA_CHAT = "api.giga.chat"
NAMES = (RECORDED, GIGA_CHAT)

INVALID_JSON = "Your request contains invalid JSON syntax."  # the real API's 400 wording

# Account plans (state.Account.plan): a personal account on the free plan, a paid personal
# account, a business one (B2B/CORP keys, user/password and client-certificate accounts).
FREEMIUM, PAID, BUSINESS = "freemium", "paid", "business"

#: Models a host offers only to some plans: GigaChat-3-Ultra to individuals on the freemium plan
#: (docs, Jul 2026; the Sept 2026 spec's model field says the same).
FREEMIUM_ONLY_MODELS = frozenset({"GigaChat-3-Ultra"})

BUILTIN_TOOLS = ("web_search", "image_generate", "code_interpreter", "url_content_extraction", "model_3d_generate")
STATE_KEYS = ("tool_state_id", "tools_state_id", "functions_state_id")
GIGA_FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_GIGA_NAME_RULE = ("Invalid function names. Only Latin letters (A-Z or a-z), underscore (_), hyphen (-), dot (.) "
                   "and digits (not leading) are allowed.")
# Upload answers' modalities by file kind (the field is observed, its values assumed).
MODALITIES = {"image": "image", "document": "text", "audio": "audio"}


def _bad_shape() -> ApiError:
    return ApiError(400, INVALID_JSON)


def _calls(m: dict) -> list[dict]:
    return [p["function_call"] for p in m.get("content") or [] if isinstance(p, dict) and p.get("function_call")]


def _results(m: dict) -> list[dict]:
    return [p["function_result"] for p in m.get("content") or [] if isinstance(p, dict) and p.get("function_result")]


@dataclass(frozen=True)
class Dialect:
    """What a host decides its own way. The recorded host's answers are the defaults."""

    name: str = RECORDED
    result_role: str = "tool"  # the role of a function result message
    parallel_calls: bool = False  # several function calls in one answer
    call_ids: bool = False  # function_call parts of answers carry an "id"
    stream_delta_tokens: int = 4  # tokens per response.message.delta (and v1 chunk: see chat.py)
    calls_in_done: bool = False  # a stream's function calls come in response.message.done, not deltas
    offers_token_endpoint: bool = True  # POST {base}/token (on-premise user/password)
    v2_files_forbidden: bool = False  # {v2 root}/files answers 403
    upload_modalities: bool = False  # upload answers carry "modalities"
    plan_models: bool = False  # FREEMIUM_ONLY_MODELS refused for other plans
    cites_pages_read: bool = False  # url_content_extraction's text cites the page as a source

    # ---- models ------------------------------------------------------------------------------

    def offers_model(self, model: Any, plan: str | None) -> bool:
        return not (self.plan_models and model in FREEMIUM_ONLY_MODELS and plan != FREEMIUM)

    def check_model(self, model: Any, plan: str | None) -> None:
        """404 "No such model" for a model this account's plan does not get (assumed: the API's one
        answer for a model id the key cannot use; nothing recorded shows a per-plan refusal)."""
        if not self.offers_model(model, plan):
            raise ApiError(404, NO_SUCH_MODEL)

    def models_list(self, plan: str | None) -> dict:
        listing = catalog.models_list()
        listing["data"] = [m for m in listing["data"] if self.offers_model(m["id"], plan)]
        return listing

    # ---- v2 requests -------------------------------------------------------------------------

    def check_v2_messages(self, messages: list) -> None:
        """The host's own rules for messages, before the shared ones (v2.validate)."""

    def check_function_names(self, names: list) -> None:
        for i, name in enumerate(names):
            if not isinstance(name, str) or not FUNCTION_NAME.match(name):
                raise invalid(f"functions[{i}].name {name!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$")

    def check_response_format(self, fmt: Any) -> None:
        if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_schema", "regex"):
            raise invalid("model_options.response_format.type must be one of: text, json_schema, regex")
        if fmt["type"] == "json_schema" and not isinstance(fmt.get("schema"), dict):
            raise invalid("model_options.response_format.schema must be a JSON Schema object")
        if fmt["type"] == "regex":
            try:
                re.compile(fmt.get("regex") or "")
            except (re.error, TypeError):
                raise invalid("model_options.response_format.regex is not a valid regular expression") from None

    def check_tools(self, tools: list, plan: str | None) -> None:
        """The host's own rules for ``tools`` entries, before the shared ones."""

    def result_text(self, result: Any) -> str:
        """A function result as the deterministic model quotes it."""
        return json.dumps(result, ensure_ascii=False)

    # ---- files ---------------------------------------------------------------------------------

    def describe_upload(self, description: dict, mime: str) -> dict:
        if self.upload_modalities:
            kind = kind_of(mime)
            return {**description, "modalities": [MODALITIES[kind]] if kind else []}
        return description


@dataclass(frozen=True)
class GigaChatDialect(Dialect):
    """api.giga.chat as probed live in September 2026 (see the module docstring)."""

    name: str = GIGA_CHAT
    result_role: str = "function"
    parallel_calls: bool = True
    call_ids: bool = True
    # "short answers came in one delta" (observed); how long a delta gets is assumed
    stream_delta_tokens: int = 16
    calls_in_done: bool = True
    offers_token_endpoint: bool = False  # "not offered on api.giga.chat"
    v2_files_forbidden: bool = True
    upload_modalities: bool = True
    plan_models: bool = True
    cites_pages_read: bool = True  # assumed (the probe's page could not be read)

    def check_v2_messages(self, messages: list) -> None:
        roles = ("system", "user", "assistant", self.result_role)
        for m in messages:
            # The live validator answers one generic 400 for any request it cannot read: a role it
            # does not know ("tool"), content that is not a list of parts, string arguments, a
            # function result without a name (observed); a result that is not a string (assumed:
            # the spec types it as a string, and the host answers shape errors this way).
            if not isinstance(m, dict) or m.get("role") not in roles or not isinstance(m.get("content"), list):
                raise _bad_shape()
            if any(k in m and not isinstance(m[k], str) for k in STATE_KEYS):
                raise _bad_shape()
            for part in m["content"]:
                if not isinstance(part, dict) or ("text" in part and not isinstance(part["text"], str)):
                    raise _bad_shape()
                fc = part.get("function_call")
                if fc is not None and (not isinstance(fc, dict) or not isinstance(fc.get("name"), str)
                                       or not isinstance(fc.get("arguments", {}), dict)
                                       or not isinstance(fc.get("id", ""), str)):
                    raise _bad_shape()
                fr = part.get("function_result")
                if fr is not None:
                    if not isinstance(fr, dict) or not isinstance(fr.get("name"), str) or not isinstance(fr.get("result"), str):
                        raise _bad_shape()
                    try:
                        json.loads(fr["result"])
                    except ValueError as e:
                        # observed: 400 "invalid function result for function read json string <text>,
                        # error: JSON parse error at line 1 column 1"
                        raise ApiError(400, f"invalid function result for function {fr['name']} json string "
                                            f"{fr['result']}, error: JSON parse error at line {e.lineno} "
                                            f"column {e.colno}") from None
        self._check_pairs(messages)

    def _check_pairs(self, messages: list) -> None:
        """Results follow their calls: a result message needs an assistant call before the run of result
        messages it is in (observed 422 wording); each call of an assistant message needs a result of
        that name in the result messages right after it (several calls: one message or several,
        assumed)."""
        for i, m in enumerate(messages):
            if m["role"] == self.result_role:
                j = i - 1
                while j >= 0 and messages[j]["role"] == self.result_role:
                    j -= 1
                if j < 0 or not _calls(messages[j]):
                    raise invalid("every assistant function result must have an assistant function call in history")
            calls = _calls(m)
            if calls:
                results: Counter[str] = Counter()
                for later in messages[i + 1:]:
                    if later["role"] != self.result_role:
                        break
                    results.update(r["name"] for r in _results(later))
                if Counter(c["name"] for c in calls) - results:
                    raise invalid("every assistant function call must have a result in history")

    def check_function_names(self, names: list) -> None:
        bad = [str(n) for n in names if not isinstance(n, str) or not GIGA_FUNCTION_NAME.match(n)]
        if bad:
            # observed: "... are allowed.: [Плохое_Имя]" (several names: Go's list format, assumed)
            raise invalid(f"{_GIGA_NAME_RULE}: [{' '.join(bad)}]")

    def check_response_format(self, fmt: Any) -> None:
        if not isinstance(fmt, dict):
            raise _bad_shape()
        kind = fmt.get("type")
        if kind not in ("text", "json_schema"):
            raise ApiError(400, f'Unknown type "{kind}" in response_format')
        if kind == "json_schema" and not fmt.get("schema"):
            raise ApiError(400, "Empty schema with json format type is not supported")
        if kind == "json_schema" and not isinstance(fmt["schema"], dict):
            raise _bad_shape()

    def check_tools(self, tools: list, plan: str | None) -> None:
        names = [k for t in tools if isinstance(t, dict) for k in t]
        unknown = next((n for n in names if n not in (*BUILTIN_TOOLS, "functions")), None)
        if unknown is not None:
            raise ApiError(404, f"Unknown tool {unknown}")
        # observed on a personal account; business accounts are assumed to have it
        if "code_interpreter" in names and plan in (FREEMIUM, PAID):
            raise ApiError(422, "Tool code_interpreter is unavailable")

    def result_text(self, result: Any) -> str:
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


DIALECTS: dict[str, Dialect] = {RECORDED: Dialect(), GIGA_CHAT: GigaChatDialect()}


@dataclass(frozen=True)
class BasePath:
    """One API base path (a host) of the emulator: where its v1 API and its v2 chat live."""

    v1: str  # "/api/v1"
    v2_root: str  # "/api/v2": the SDK rewrites the base URL's /vN to /v2 for the v2 chat
    default: str  # its dialect unless a test sets another

    @property
    def v2_chat(self) -> str:
        return self.v2_root + "/chat/completions"


RECORDED_BASE = BasePath("/api/v1", "/api/v2", RECORDED)
GIGA_CHAT_BASE = BasePath("/v1", "/v2", GIGA_CHAT)
BASE_PATHS = (RECORDED_BASE, GIGA_CHAT_BASE)


class Hosts:
    """Which dialect each base path speaks (thread-safe; tests may switch one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._dialects = {b.v1: DIALECTS[b.default] for b in BASE_PATHS}

    def set(self, base_path: str, name: str) -> None:
        if name not in DIALECTS:
            raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
        base = next((b for b in BASE_PATHS if b.v1 == base_path), None)
        if base is None:
            raise ValueError(f"unknown base path {base_path!r}; known: {', '.join(b.v1 for b in BASE_PATHS)}")
        with self._lock:
            self._dialects[base.v1] = DIALECTS[name]

    def dialect(self, base: BasePath) -> Dialect:
        with self._lock:
            return self._dialects[base.v1]

    def base_of(self, path: str) -> BasePath | None:
        """The base path a request path belongs to (its v1 API or its v2 root), or None."""
        for base in BASE_PATHS:
            if path.startswith(base.v1 + "/") or path.startswith(base.v2_root + "/"):
                return base
        return None


def plan_of(scope: str | None, owner: str | None, paid: set[str] | frozenset[str]) -> str:
    """A token's account plan: personal keys are freemium unless their client id is marked paid."""
    if scope == "GIGACHAT_API_PERS":
        return PAID if owner in paid else FREEMIUM
    return BUSINESS
