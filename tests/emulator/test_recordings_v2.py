"""Every v2 (test_primary_*) cassette replays through the emulator: the recorded request is sent by
the real SDK (client.chat.create / .stream), the answer parses with the SDK's v2 models and has
the recorded shape, and the values the recordings fix are the same."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from gigachat.models.chat_completions import ChatCompletionChunk, ChatCompletionResponse

from .conftest import RECORDINGS, make_client
from .test_recordings import shape

CASSETTES = sorted((RECORDINGS / "cassettes").glob("test_primary_*.yaml"))
V2_PATH = "/api/v2/chat/completions"


def v2_interactions(path: Path) -> list[dict]:
    out = []
    for it in yaml.safe_load(path.read_text())["interactions"]:
        if it["request"]["uri"].endswith("/v2/chat/completions"):
            out.append({"body": json.loads(it["request"]["body"]), "status": it["response"]["status"]["code"],
                        "content_type": it["response"]["headers"]["Content-Type"][0],
                        "text": it["response"]["body"]["string"]})
    return out


ALL = [(p.stem, i, it) for p in CASSETTES for i, it in enumerate(v2_interactions(p))]


def test_all_nine_v2_cassettes_are_replayed():
    assert len(CASSETTES) == 9 and {name for name, _, _ in ALL} == {p.stem for p in CASSETTES}
    assert len(ALL) == 13  # seven single calls, the function round trip's two, the built-in tools' four


def sse_events(text: str) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in text.splitlines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.split(":", 1)[1])))
    return events


def assistant(payload: dict) -> dict:
    return next(m for m in payload["messages"] if m["role"] == "assistant")


@pytest.mark.parametrize(("name", "index", "recorded"), ALL, ids=[f"{n}[{i}]" for n, i, _ in ALL])
def test_recorded_request_gets_an_answer_of_the_recorded_shape(emu, name, index, recorded):
    client = make_client(emu, model=recorded["body"]["model"])
    body = dict(recorded["body"])
    if body.pop("stream", False):
        chunks = list(client.chat.stream(body))
        raw = [r for r in emu.log if r.path == V2_PATH][-1]
        assert raw.status == recorded["status"] == 200
        rec_events = sse_events(recorded["text"])
        assert [c.event for c in chunks][-1] == rec_events[-1][0] == "response.message.done"
        assert chunks[-1].model == rec_events[-1][1]["model"] and chunks[-1].finish_reason == rec_events[-1][1]["finish_reason"]
        assert {c.event for c in chunks[:-1]} == {e for e, _ in rec_events[:-1]} == {"response.message.delta"}
        for (_, rec), got in zip(rec_events, [chunks[0], chunks[-1]], strict=True):
            dumped = got.model_dump(exclude_none=True, by_alias=True, exclude={"x_headers", "event"})
            assert shape(dumped) == shape(ChatCompletionChunk.model_validate(rec).model_dump(
                exclude_none=True, by_alias=True, exclude={"x_headers", "event"}))
        text = "".join(p.text or "" for c in chunks for m in c.messages or [] for p in m.content or [])
        assert text and chunks[-1].usage.input_tokens_details.prompt_tokens == chunks[-1].usage.input_tokens
        return

    response = client.chat.create(body)
    got = json.loads(response.model_dump_json(exclude_none=True, by_alias=True, exclude={"x_headers"}))
    rec = json.loads(recorded["text"])
    ChatCompletionResponse.model_validate(rec)
    raw = next(r for r in reversed(emu.log) if r.path == V2_PATH)
    assert raw.status == recorded["status"]
    # the wire answer, key for key (the SDK turns tool_state_id into tools_state_id when it parses)
    wire = emu_wire_answer(emu, raw)
    assert list(wire) == list(rec)
    assert shape(assistant(wire)) == shape(assistant(rec))
    assert shape(wire["usage"]) == shape(rec["usage"])
    assert wire["finish_reason"] == rec["finish_reason"]
    assert wire["model"] == rec["model"] == body["model"] + ":32.3.18.5"
    assert ("tool_state_id" in assistant(wire)) == ("tool_state_id" in assistant(rec))
    assert wire["usage"]["input_tokens_details"]["prompt_tokens"] == wire["usage"]["input_tokens"]
    assert got["messages"]
    check_recorded_values(body, wire, rec)


def emu_wire_answer(emu, raw) -> dict:
    """The emulator's own JSON for that request, replayed without the SDK in between."""
    import httpx

    from .conftest import SHARED_SSL, get_token

    r = httpx.post(emu.origin + V2_PATH, json=raw.json, verify=SHARED_SSL,
                   headers={"Authorization": f"Bearer {get_token(emu)}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    return r.json()


def check_recorded_values(body: dict, wire: dict, rec: dict) -> None:
    parts, rec_parts = assistant(wire)["content"], assistant(rec)["content"]
    fmt = (body.get("model_options") or {}).get("response_format") or {}
    tools = [next(iter(t)) for t in body.get("tools") or []]
    if fmt.get("type") == "json_schema":
        jsonschema.validate(json.loads(parts[0]["text"]), fmt["schema"])
        assert parts[0]["text"].startswith("{\n    ")  # indented by 4, as recorded
    elif fmt.get("type") == "regex":
        assert re.fullmatch(fmt["regex"], parts[0]["text"]) and re.fullmatch(fmt["regex"], rec_parts[0]["text"])
    elif tools == ["web_search"]:
        sources = parts[0]["inline_data"]["sources"]
        assert set(sources) == set(rec_parts[0]["inline_data"]["sources"]) == {"1", "2"}
        assert all(s["url"].startswith("https://") and s["title"] for s in sources.values())
        assert "[sources=[2]]" in parts[0]["text"] and "[sources=[2]]" in rec_parts[0]["text"]
    elif tools == ["image_generate"]:
        (file,), (rec_file,) = parts[0]["files"], rec_parts[0]["files"]
        assert (file["mime"], file["target"]) == (rec_file["mime"], rec_file["target"]) == ("image/jpeg", "image")
    elif tools == ["code_interpreter"]:
        assert "639" in parts[0]["text"] and "639" in rec_parts[0]["text"]  # the recorded task's answer
    elif body.get("tool_config", {}).get("function_name"):
        call, rec_call = parts[0]["function_call"], rec_parts[0]["function_call"]
        assert call["name"] == rec_call["name"] and set(call["arguments"]) == set(rec_call["arguments"])
        assert wire["finish_reason"] == "function_call"
    elif any(m["role"] == "tool" for m in body["messages"]):
        assert "get_order_status" in parts[0]["text"] and "packed" in parts[0]["text"]
