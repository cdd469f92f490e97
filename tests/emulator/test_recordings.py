"""Every recorded v1 exchange replays through the emulator in the recorded order (OAuth first,
then the API call with the token it gave), with the recorded status, content type and JSON shape,
parsed by the SDK models the SDK uses for each endpoint, and with the VALUES the recordings fix:
token answer keys and units, versioned model names and answer objects, error bodies, the model
list and its types, token counts, usage, vector sizes, float16 precision and printing.
(The v2 test_primary_* cassettes are replayed by test_recordings_v2.py; `shape`,
`api_interactions` and `oauth_interactions` are importable for it.)"""

import json
import math
import re
import struct
import uuid
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml
from gigachat.models import (
    Balance,
    ChatCompletion,
    ChatCompletionChunk,
    DeletedFile,
    Embeddings,
    Model,
    Models,
    TokensCount,
    UploadedFile,
    UploadedFiles,
)
from gigachat.models.auth import AccessToken, Token
from gigachat.models.chat import Chat

from emulator import DEFAULT_KEY, Emulator
from emulator.tokens import count_tokens

from .conftest import RECORDINGS, SHARED_SSL

ALL_CASSETTES = sorted((RECORDINGS / "cassettes").glob("*.yaml"))
CASSETTES = [p for p in ALL_CASSETTES if not p.name.startswith("test_primary_")]  # v1
FIXTURES = RECORDINGS / "fixtures"


def shape(value):
    """Keys recursively, value types loosely (numbers are numbers); lists by their first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", shape(value[0]) if value else None]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def sse_payloads(text: str) -> list[str]:
    return [line[len("data:") :].strip() for line in text.splitlines() if line.startswith("data:")]


def interactions(path: Path, api_prefix: str = "/api/v1"):
    """The cassette's exchanges in order: {"kind": "oauth"|"api", method, path (relative to
    `api_prefix` for API calls), body, status, content_type, text}."""
    for it in yaml.safe_load(path.read_text())["interactions"]:
        uri = it["request"]["uri"]
        if uri.endswith("/api/v2/oauth"):
            kind, rel = "oauth", "/api/v2/oauth"
        elif api_prefix + "/" in uri:
            kind, rel = "api", uri.split(api_prefix, 1)[1]
        else:
            continue
        yield {
            "kind": kind,
            "method": it["request"]["method"],
            "path": rel,
            "body": it["request"]["body"] or None,
            "status": it["response"]["status"]["code"],
            "content_type": it["response"]["headers"].get("Content-Type", [""])[0],
            "text": it["response"]["body"]["string"],
        }


def api_interactions(path: Path, api_prefix: str = "/api/v1"):
    return [i for i in interactions(path, api_prefix) if i["kind"] == "api"]


def oauth_interactions(path: Path):
    return [i for i in interactions(path) if i["kind"] == "oauth"]


def parse_with_sdk(path: str, payload):
    if path == "/chat/completions":
        return ChatCompletion(**payload)
    if path == "/embeddings":
        return Embeddings(**payload)
    if path == "/models":
        return Models(**payload)
    if path.startswith("/models/"):
        return Model(**payload)
    if path == "/tokens/count":
        return [TokensCount(**row) for row in payload]
    raise AssertionError(f"no SDK model for {path}")


def test_every_v1_cassette_is_replayed():
    assert {p.name for p in CASSETTES} == {p.name for p in ALL_CASSETTES} - {
        p.name for p in ALL_CASSETTES if p.name.startswith("test_primary_")
    }
    assert len(CASSETTES) == 24
    assert all(api_interactions(p) and oauth_interactions(p) for p in CASSETTES)


# ---- tokens: keys and units ----------------------------------------------------------------------

MS_2001, MS_2300 = 978_307_200_000, 10_413_792_000_000  # plausible unix times in milliseconds


def token_shape(answer: dict) -> str:
    return "tok" if "tok" in answer else "access_token"


def check_token_answer(got: dict, recorded: dict) -> str:
    """Same keys as recorded, the expiry in the same unit (ms or s); the token it carries."""
    assert set(got) == set(recorded)
    if "expires_at" in recorded:
        assert MS_2001 < recorded["expires_at"] < MS_2300 and MS_2001 < got["expires_at"] < MS_2300  # ms
        AccessToken(**got)
        return got["access_token"]
    assert MS_2001 // 1000 < recorded["exp"] < MS_2300 // 1000 and MS_2001 // 1000 < got["exp"] < MS_2300 // 1000  # s
    Token(**got)
    return got["tok"]


def request_token(emu: Emulator) -> httpx.Response:
    # what the SDK sends (gigachat/api/auth.py); the recorded request is redacted
    headers = {"Authorization": f"Basic {DEFAULT_KEY}", "RqUID": str(uuid.uuid4()), "User-Agent": "GigaChat-python-lib"}
    return httpx.post(emu.auth_url, data={"scope": "GIGACHAT_API_PERS"}, headers=headers, verify=SHARED_SSL)


# ---- values the recordings fix, per endpoint ------------------------------------------------------


def is_half(x: float) -> bool:
    return struct.unpack("<e", struct.pack("<e", x))[0] == x


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def check_embeddings(request: dict, got_text: str, recorded_text: str) -> None:
    got, recorded = json.loads(got_text), json.loads(recorded_text)
    assert (got["object"], got["model"]) == (recorded["object"], recorded["model"])
    assert [d["index"] for d in got["data"]] == [d["index"] for d in recorded["data"]] == list(range(len(request["input"])))
    assert [d["usage"] for d in got["data"]] == [d["usage"] for d in recorded["data"]]
    for g, r in zip(got["data"], recorded["data"]):
        assert len(g["embedding"]) == len(r["embedding"])  # 1024 in the real Embeddings recordings
        assert all(is_half(x) for x in g["embedding"]) and all(is_half(x) for x in r["embedding"])
        assert abs(norm(g["embedding"]) - norm(r["embedding"])) < 1.5  # ~29 both
    # printed the same way: Python's json.dumps of the halves, the same framing around the vectors
    assert got_text == json.dumps(got, ensure_ascii=False) and recorded_text == json.dumps(recorded, ensure_ascii=False)
    assert re.sub(r"\[[^\]]*\]", "[]", got_text) == re.sub(r"\[[^\]]*\]", "[]", recorded_text)


def check_chat(request: dict, got: dict, recorded: dict) -> None:
    for key in ("model", "object"):
        assert got[key] == recorded[key], key  # "GigaChat:2.0.28.2"; "chat.completions" from GigaChat-3
    (g,), (r,) = got["choices"], recorded["choices"]
    assert (g["index"], g["finish_reason"], g["message"]["role"]) == (r["index"], r["finish_reason"], r["message"]["role"])
    assert got["usage"]["prompt_tokens"] == recorded["usage"]["prompt_tokens"]
    assert got["usage"]["total_tokens"] == got["usage"]["prompt_tokens"] + got["usage"]["completion_tokens"]
    fmt = request.get("response_format")
    if fmt and fmt["type"] == "json_schema":
        # the recorded answer is an instance of the schema, printed with indent 4; so is the emulator's
        for content in (g["message"]["content"], r["message"]["content"]):
            jsonschema.validate(json.loads(content), fmt["schema"])
            assert content == json.dumps(json.loads(content), indent=4, ensure_ascii=False)
    elif r["message"].get("function_call"):  # a call: empty content, the recorded function and state id
        assert g["message"]["content"] == "" and g["message"]["function_call"]["name"] == r["message"]["function_call"]["name"]
        assert isinstance(g["message"]["function_call"]["arguments"], dict) and g["message"].get("functions_state_id")
    else:
        assert isinstance(g["message"]["content"], str) and g["message"]["content"]


def check_stream(request: dict, got_text: str, recorded_text: str):
    got, recorded = sse_payloads(got_text), sse_payloads(recorded_text)
    assert got[-1] == recorded[-1] == "[DONE]"
    got_chunks = [json.loads(p) for p in got[:-1]]
    rec_chunks = [json.loads(p) for p in recorded[:-1]]
    assert len(got_chunks) >= 2
    assert shape(got_chunks[0]) == shape(rec_chunks[0])  # first delta carries the role
    assert shape(got_chunks[-1]) == shape(rec_chunks[-1])  # last: finish_reason + usage
    for middle in got_chunks[1:-1]:
        assert shape(middle) == shape(rec_chunks[1]) if len(rec_chunks) > 2 else "usage" not in middle
    for chunk in got_chunks:
        ChatCompletionChunk(**chunk)
    # values: every chunk names the versioned model and the object as recorded
    assert {(c["model"], c["object"]) for c in got_chunks} == {(c["model"], c["object"]) for c in rec_chunks}
    assert got_chunks[0]["choices"][0]["delta"]["role"] == rec_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    last, rec_last = got_chunks[-1], rec_chunks[-1]
    assert last["choices"][0]["finish_reason"] == rec_last["choices"][0]["finish_reason"]
    assert last["choices"][0]["delta"]["content"] == rec_last["choices"][0]["delta"]["content"] == ""
    assert last["usage"]["prompt_tokens"] == rec_last["usage"]["prompt_tokens"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in got_chunks)
    assert last["usage"]["completion_tokens"] == count_tokens(text)


def check_models(got: list[dict], recorded: list[dict]) -> None:
    # the January 2026 list exactly, in its order; GigaChat-3-Ultra (April 2026 answers) added
    later = {"GigaChat-3-Ultra"}  # answering since April 2026, after the January list was recorded
    assert [m for m in got if m["id"] not in later] == [m for m in recorded if m["id"] not in later]
    assert {"id": "GigaChat-3-Ultra", "object": "model", "owned_by": "salutedevices", "type": "chat"} in got


def check_values(rec: dict, resp: httpx.Response) -> None:
    request = json.loads(rec["body"]) if rec["body"] else None
    if rec["content_type"].startswith("text/event-stream"):
        return check_stream(request, resp.text, rec["text"])
    got, recorded = resp.json(), json.loads(rec["text"])
    assert shape(got) == shape(recorded)
    if rec["status"] != 200:
        assert got == recorded  # {"status": 404, "message": "No such model"}
        return None
    parse_with_sdk(rec["path"], got)
    if rec["path"] == "/embeddings":
        check_embeddings(request, resp.text, rec["text"])
    elif rec["path"] == "/chat/completions":
        check_chat(request, got, recorded)
    elif rec["path"] == "/models":
        check_models(got["data"], recorded["data"])
    else:  # /models/{id}, /tokens/count: fully fixed by the recording
        assert got == recorded
    return None


def replay(cassette: Path) -> int:
    """Replay a cassette's OAuth and v1 API exchanges in order against a fresh emulator, checking
    statuses, shapes and the values the recording fixes; the number of API exchanges replayed.
    (Also used on the cassettes `bash scripts/conformance.sh` records: tests/emulator/test_conformance.py.)"""
    replayed = 0
    exchanges = list(interactions(cassette))
    oauth = next((e for e in exchanges if e["kind"] == "oauth"), None)
    shape_of = token_shape(json.loads(oauth["text"])) if oauth else "access_token"
    with Emulator(oauth_shape=shape_of) as emu:
        # A cassette that starts with a token already held (a client reusing its token) gets one first.
        token = None if oauth else request_token(emu).json()["access_token"]
        for rec in exchanges:
            if rec["kind"] == "oauth":
                r = request_token(emu)
                assert r.status_code == rec["status"] == 200
                assert r.headers["content-type"].split(";")[0] == rec["content_type"].split(";")[0]
                token = check_token_answer(r.json(), json.loads(rec["text"]))
                continue
            headers = {"Authorization": f"Bearer {token}"}
            if rec["body"]:
                headers["Content-Type"] = "application/json"
            resp = httpx.request(rec["method"], emu.base_url + rec["path"], content=rec["body"], headers=headers, verify=SHARED_SSL)
            assert resp.status_code == rec["status"], resp.text
            assert resp.headers["content-type"].split(";")[0] == rec["content_type"].split(";")[0]
            assert resp.headers.get("x-request-id") and resp.headers.get("x-session-id")
            check_values(rec, resp)
            replayed += 1
    return replayed


@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: p.stem)
def test_cassette_replays_with_the_recorded_statuses_shapes_and_values(cassette):
    assert replay(cassette) > 0


def test_the_june_2026_tok_answers_replay_in_seconds():
    # the OAuth exchanges of the v2 cassettes (their chat calls are test_recordings_v2.py's)
    recorded = [e["text"] for p in ALL_CASSETTES if p.name.startswith("test_primary_") for e in oauth_interactions(p)]
    assert len(recorded) == 13 and all(token_shape(json.loads(a)) == "tok" for a in recorded)
    with Emulator(oauth_shape="tok") as emu:
        for answer in set(recorded):  # redacted alike
            check_token_answer(request_token(emu).json(), json.loads(answer))


# ---- SDK fixtures ---------------------------------------------------------------------------------


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


FIXTURE_MODELS = {
    "balance.json": Balance,
    "chat_completion.json": ChatCompletion,
    "chat_completion_function.json": ChatCompletion,
    "chat_completion_json.json": ChatCompletion,
    "chat_function.json": Chat,
    "embeddings.json": Embeddings,
    "get_file.json": UploadedFile,
    "get_files.json": UploadedFiles,
    "model.json": Model,
    "models.json": Models,
    "post_files.json": UploadedFile,
    "post_files_delete.json": DeletedFile,
}


@pytest.mark.parametrize("name", sorted(FIXTURE_MODELS))
def test_sdk_fixtures_parse_with_their_models(name):
    FIXTURE_MODELS[name].model_validate(fixture(name))


def test_sdk_stream_and_token_fixtures_parse():
    [TokensCount(**row) for row in fixture("tokens_count.json")]
    lines = sse_payloads((FIXTURES / "chat_completion.stream").read_text())
    assert lines[-1] == "[DONE]"
    for line in lines[:-1]:
        ChatCompletionChunk.model_validate_json(line)


def test_file_responses_have_the_fixture_keys(api):
    up = api.post("/files", files={"file": ("invoice.pdf", b"%PDF-1.4 test", "application/pdf")}, data={"purpose": "general"})
    assert up.status_code == 200
    assert set(up.json()) == set(fixture("get_file.json")) >= set(fixture("post_files.json"))
    UploadedFile(**up.json())
    listing = api.get("/files").json()
    assert shape(listing) == shape(fixture("get_files.json"))
    UploadedFiles(**listing)
    deleted = api.post(f"/files/{up.json()['id']}/delete").json()
    assert set(deleted) == set(fixture("post_files_delete.json"))
    DeletedFile(**deleted)


def test_balance_has_the_fixture_shape(api):
    got = api.get("/balance").json()
    assert shape(got) == shape(fixture("balance.json"))
    Balance(**got)


def test_function_call_reply_matches_the_fixture(api):
    request = {**fixture("chat_function.json"), "model": "GigaChat"}
    got = api.post("/chat/completions", json=request).json()
    expected = fixture("chat_completion_function.json")
    assert set(got) == set(expected)
    choice, exp_choice = got["choices"][0], expected["choices"][0]
    assert set(choice) == set(exp_choice) and choice["finish_reason"] == "function_call"
    # The API documents functions_state_id on function calls; the older fixture predates it.
    assert set(choice["message"]) == set(exp_choice["message"]) | {"functions_state_id"}
    assert choice["message"]["function_call"]["name"] == "fc"
    assert set(choice["message"]["function_call"]["arguments"]) == set(exp_choice["message"]["function_call"]["arguments"])
    ChatCompletion(**got)


def test_stream_matches_the_stream_fixture(api):
    resp = api.post("/chat/completions", json={"model": "GigaChat", "stream": True, "messages": [{"role": "user", "content": "a b c d e f g h i"}]})
    got = [json.loads(p) for p in sse_payloads(resp.text)[:-1]]
    rec = [json.loads(p) for p in sse_payloads((FIXTURES / "chat_completion.stream").read_text())[:-1]]
    assert shape(got[0]) == shape(rec[0])
    assert shape(got[1]) == shape(rec[1])
    # The fixture's last chunk predates usage in streams; the cassettes (2026) have it.
    assert {k: v for k, v in shape(got[-1]).items() if k != "usage"} == shape(rec[-1])


def recorded_model_list() -> list[dict]:
    for it in yaml.safe_load((RECORDINGS / "cassettes" / "test_get_models.yaml").read_text())["interactions"]:
        if it["request"]["uri"].endswith("/api/v1/models"):
            return json.loads(it["response"]["body"]["string"])["data"]
    raise AssertionError("no recorded model list")


def test_models_lists_every_recorded_model_with_its_recorded_type_plus_gigachat_3_ultra(api):
    recorded = recorded_model_list()
    got = api.get("/models").json()["data"]
    # GigaChat-3-Ultra answers in the April 2026 recordings, after the January list was recorded
    later = {"GigaChat-3-Ultra"}  # answering since April 2026, after the January list was recorded
    assert [m for m in got if m["id"] not in later] == [m for m in recorded if m["id"] not in later]
    assert {"id": "GigaChat-3-Ultra", "object": "model", "owned_by": "salutedevices", "type": "chat"} in got
    assert [m["id"] for m in got] == sorted(m["id"] for m in got if m["type"] == "chat") + [
        m["id"] for m in recorded if m["type"] != "chat"
    ]  # the recorded order: chat models alphabetically, then the others as recorded
    for m in got:
        assert api.get(f"/models/{m['id']}").json() == m
