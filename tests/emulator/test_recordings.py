"""The emulator replays recorded real traffic with the same statuses and JSON shapes, and its
answers parse with the SDK models the SDK uses for each endpoint."""

import json
from pathlib import Path

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
from gigachat.models.chat import Chat

from .conftest import RECORDINGS

CASSETTES = sorted(
    p
    for p in (RECORDINGS / "cassettes").glob("*.yaml")
    if not p.name.startswith("test_primary_") and "builtin" not in p.name
)
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


def api_interactions(path: Path):
    for it in yaml.safe_load(path.read_text())["interactions"]:
        uri = it["request"]["uri"]
        if "/api/v1/" not in uri:
            continue  # OAuth: its own tests
        yield {
            "method": it["request"]["method"],
            "path": uri.split("/api/v1", 1)[1],
            "body": it["request"]["body"] or None,
            "status": it["response"]["status"]["code"],
            "content_type": it["response"]["headers"].get("Content-Type", [""])[0],
            "text": it["response"]["body"]["string"],
        }


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


def test_the_replayed_set_is_complete():
    names = {p.name for p in CASSETTES}
    assert len(CASSETTES) >= 20
    assert {"test_chat_simple.yaml", "test_stream_simple.yaml", "test_get_models.yaml", "test_embeddings_multiple.yaml"} <= names


@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: p.stem)
def test_cassette_replays_with_the_recorded_status_and_shape(cassette, api):
    interactions = list(api_interactions(cassette))
    assert interactions
    for rec in interactions:
        headers = {"Content-Type": "application/json"} if rec["body"] else {}
        resp = api.request(rec["method"], rec["path"], content=rec["body"], headers=headers)
        assert resp.status_code == rec["status"], resp.text
        assert resp.headers["content-type"].split(";")[0] == rec["content_type"].split(";")[0]
        assert resp.headers.get("x-request-id") and resp.headers.get("x-session-id")
        if rec["content_type"].startswith("text/event-stream"):
            check_stream(resp.text, rec["text"])
            continue
        got, recorded = resp.json(), json.loads(rec["text"])
        assert shape(got) == shape(recorded)
        if rec["status"] == 200:
            parse_with_sdk(rec["path"], got)
        else:
            assert got["status"] == rec["status"] and got["message"] == recorded["message"]


def check_stream(got_text: str, recorded_text: str):
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
    assert [m for m in got if m["id"] != "GigaChat-3-Ultra"] == recorded
    assert {"id": "GigaChat-3-Ultra", "object": "model", "owned_by": "salutedevices", "type": "chat"} in got
    assert [m["id"] for m in got] == sorted(m["id"] for m in got if m["type"] == "chat") + [
        m["id"] for m in recorded if m["type"] != "chat"
    ]  # the recorded order: chat models alphabetically, then the others as recorded
    for m in got:
        assert api.get(f"/models/{m['id']}").json() == m
