"""The real gigachat SDK against the emulator over real HTTP."""

import asyncio
import json
import threading
import time

import gigachat
import pytest
from gigachat.context import session_id_cvar
from gigachat.exceptions import AuthenticationError, ForbiddenError, NotFoundError, RateLimitError
from gigachat.models import Chat, Function, FunctionParameters, Messages
from pydantic import BaseModel

from emulator import B2B_KEY, CORP_KEY, DEFAULT_KEY, Emulator
from emulator.embeddings import vector

from .conftest import make_client


def test_client_built_as_the_plugin_does_works_end_to_end(emu):
    with gigachat.GigaChat(
        base_url=emu.base_url,
        auth_url=emu.auth_url,
        credentials=DEFAULT_KEY,
        scope="GIGACHAT_API_PERS",
        verify_ssl_certs=True,
    ) as client:
        reply = client.chat({"model": "GigaChat-2-Pro", "messages": [{"role": "user", "content": "Hi"}]})
    assert reply.choices[0].message.content == "Echo: Hi"
    assert reply.model == "GigaChat-2-Pro:2.0.28.2"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_many_requests_share_one_oauth_call(emu, client):
    client.chat("one")
    client.get_models()
    client.embeddings(["x"])
    client.tokens_count(["y"])
    list(client.stream("two"))
    assert emu.stats.oauth_calls == 1
    assert emu.stats.requests["POST /chat/completions"] == 2


def test_stream_yields_chunks_then_usage(client):
    chunks = list(client.stream("one two three four five six seven eight nine ten"))
    assert len(chunks) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Echo: one two three four five six seven eight nine ten"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and all(c.usage is None for c in chunks[:-1])


def test_async_client_works(emu):
    async def run():
        client = make_client(emu)
        try:
            reply = await client.achat("async hello")
            parts = [c.choices[0].delta.content async for c in client.astream("streamed hi")]
            return reply, parts
        finally:
            await client.aclose()

    reply, parts = asyncio.run(run())
    assert reply.choices[0].message.content == "Echo: async hello"
    assert "".join(p or "" for p in parts) == "Echo: streamed hi"


def test_sdk_embeddings_are_deterministic_raw_float16_vectors_of_each_models_size(client):
    first = client.embeddings(["First text", "Second text"], model="Embeddings")
    again = client.embeddings(["First text"], model="Embeddings")
    assert [d.index for d in first.data] == [0, 1]
    assert len(first.data[0].embedding) == 1024
    assert first.data[0].embedding == again.data[0].embedding == vector("Embeddings", "First text")
    assert first.data[0].embedding != first.data[1].embedding
    assert 28 < sum(v * v for v in first.data[0].embedding) ** 0.5 < 31  # not unit-norm: ~29 as recorded
    assert first.data[0].usage.prompt_tokens == 7  # as recorded for "First text"
    assert [len(client.embeddings(["First text"], model=m).data[0].embedding) for m in ("EmbeddingsGigaR", "GigaEmbeddings-3B-2025-09", "Embeddings-2")] == [2560, 2048, 1024]


def test_models_and_model_lookup(client):
    ids = {m.id_ for m in client.get_models().data}
    assert {"GigaChat", "GigaChat-2-Max", "GigaChat-3-Ultra", "Embeddings", "GigaEmbeddings-3B-2025-09"} <= ids
    assert client.get_model("EmbeddingsGigaR").id_ == "EmbeddingsGigaR"
    with pytest.raises(NotFoundError):
        client.get_model("NoSuchModel")


def test_tokens_count_matches_the_recording(client):
    counts = client.tokens_count(["First text", "Second text"])
    assert [(c.tokens, c.characters) for c in counts] == [(2, 10), (2, 11)]


def test_files_upload_list_get_content_delete(emu, client):
    uploaded = client.upload_file(("photo.jpg", b"\xff\xd8\xff fake jpeg", "image/jpeg"))
    assert uploaded.filename == "photo.jpg" and uploaded.bytes_ == 13 and uploaded.purpose == "general"
    assert emu.files[uploaded.id_] == ("photo.jpg", b"\xff\xd8\xff fake jpeg", "general", "image/jpeg")
    assert [f.id_ for f in client.get_files().data] == [uploaded.id_]
    assert client.get_file(uploaded.id_).id_ == uploaded.id_
    assert client.get_image(uploaded.id_).content  # base64 of the bytes
    assert client.delete_file(uploaded.id_).deleted is True
    assert emu.files == {}
    with pytest.raises(NotFoundError):
        client.get_file(uploaded.id_)


def test_attachment_is_described_in_the_reply(client):
    uploaded = client.upload_file(("notes.txt", b"hello file", "text/plain"))
    reply = client.chat({"messages": [{"role": "user", "content": "read it", "attachments": [uploaded.id_]}]})
    lines = reply.choices[0].message.content.split("\n")
    assert lines[0].startswith(f"Attachment {uploaded.id_} notes.txt text/plain 10 bytes sha256=")
    assert lines[-1] == "Echo: read it"


def test_balance_for_prepaid_and_forbidden_for_postpaid(emu, client):
    assert client.get_balance().balance[0].usage == "embeddings"
    with make_client(emu, credentials=CORP_KEY, scope="GIGACHAT_API_CORP") as corp:
        with pytest.raises(ForbiddenError):
            corp.get_balance()


def test_function_call_roundtrip(client):
    weather = Function(
        name="get_weather",
        description="Weather",
        parameters=FunctionParameters(
            properties={"city": {"type": "string", "description": "City"}, "days": {"type": "integer"}},
            required=["city"],
        ),
    )
    history = [Messages(role="user", content="What is the weather? use get_weather")]
    reply = client.chat(Chat(messages=history, functions=[weather]))
    msg = reply.choices[0].message
    assert reply.choices[0].finish_reason == "function_call"
    assert msg.function_call.name == "get_weather" and msg.function_call.arguments == {"city": "example"}
    assert msg.functions_state_id
    history += [msg, Messages(role="function", name="get_weather", content=json.dumps({"temp": 20}))]
    final = client.chat(Chat(messages=history, functions=[weather]))
    assert final.choices[0].message.content == 'Function get_weather returned: {"temp": 20}'


def test_function_call_arrives_whole_in_a_stream(client):
    payload = {
        "messages": [{"role": "user", "content": "call it"}],
        "functions": [{"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
    }
    chunks = list(client.stream(payload))
    calls = [c.choices[0].delta.function_call for c in chunks if c.choices[0].delta.function_call]
    assert len(calls) == 1 and calls[0].arguments == {"q": "example"}
    assert chunks[-1].choices[0].finish_reason == "function_call"


def test_chat_parse_returns_schema_valid_json(client):
    class Answer(BaseModel):
        answer: str
        n: int

    completion, parsed = client.chat_parse("Return an answer", response_format=Answer)
    assert parsed == Answer(answer="example", n=1)
    assert completion.choices[0].message.content.startswith("{\n    ")


def test_scripted_replies_come_first_in_order(emu, client):
    emu.enqueue_reply(content="first", reasoning_content="thinking...")
    emu.enqueue_reply(content="ignored", chunks=["Hel", "lo", "!"], usage={"prompt_tokens": 5, "completion_tokens": 3})
    emu.enqueue_reply(function_call={"name": "f", "arguments": {"a": 1}})
    first = client.chat("x").choices[0].message
    assert (first.content, first.reasoning_content) == ("first", "thinking...")
    chunks = list(client.stream("y"))
    assert [c.choices[0].delta.content for c in chunks[:-1]] == ["Hel", "lo", "!"]
    assert chunks[-1].usage.prompt_tokens == 5 and chunks[-1].usage.total_tokens == 8
    third = client.chat("z")
    assert third.choices[0].finish_reason == "function_call"
    assert third.choices[0].message.function_call.arguments == {"a": 1}
    assert client.chat("after").choices[0].message.content == "Echo: after"


def test_scripted_reasoning_streams_before_content(emu, client):
    emu.enqueue_reply(content="answer", reasoning_content="step one, step two", finish_reason="stop")
    deltas = [c.choices[0].delta for c in client.stream("q")]
    kinds = ["r" if d.reasoning_content else "c" if d.content else "-" for d in deltas]
    assert kinds[0] == "r" and "c" in kinds and kinds.index("c") > max(i for i, k in enumerate(kinds) if k == "r")
    assert "".join(d.reasoning_content or "" for d in deltas) == "step one, step two"


def test_max_tokens_truncates_with_finish_reason_length(client):
    reply = client.chat({"messages": [{"role": "user", "content": "one two three four five"}], "max_tokens": 3})
    assert reply.choices[0].message.content == "Echo: one"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 3


def test_prompt_caching_by_session_id(emu, client):
    history = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    token = session_id_cvar.set("session-1")
    try:
        first = client.chat({"messages": history})
        history += [{"role": "assistant", "content": first.choices[0].message.content}, {"role": "user", "content": "more"}]
        second = client.chat({"messages": history})
    finally:
        session_id_cvar.reset(token)
    assert first.usage.precached_prompt_tokens == 0
    assert 0 < second.usage.precached_prompt_tokens < second.usage.prompt_tokens
    assert second.x_headers["x-session-id"] == "session-1"
    no_session = client.chat({"messages": history})
    assert no_session.usage.precached_prompt_tokens == 0


def test_sdk_recovers_from_expired_token(emu, client):
    client.chat("before")
    emu.faults.expire_tokens()
    assert client.chat("after").choices[0].message.content == "Echo: after"
    assert list(client.stream("stream after"))  # the stream path re-auths too
    assert emu.stats.oauth_calls == 2
    assert emu.stats.status_counts[401] == 1
    assert emu.stats.faults["expire_tokens"] == 1


def test_sdk_recovers_from_injected_401(emu, client):
    client.chat("warm up")
    emu.faults.inject(status=401, count=1)
    assert client.chat("again").choices[0].message.content == "Echo: again"
    assert emu.stats.oauth_calls == 2


def test_user_password_auth_uses_token_endpoint():
    with Emulator(users={"alice": "s3cret"}) as emu:
        with make_client(emu, credentials=None, user="alice", password="s3cret") as c:
            assert c.chat("hi").choices[0].message.content == "Echo: hi"
            assert c.get_models().data
        # one /token request per call: /token's exp counts seconds, the SDK reads milliseconds
        assert emu.stats.token_calls == 2 and emu.stats.oauth_calls == 0
        with make_client(emu, credentials=None, user="alice", password="wrong") as bad:
            with pytest.raises(AuthenticationError):
                bad.chat("hi")


def test_wrong_credentials_raise_authentication_error(emu):
    with make_client(emu, credentials="bm8tc3VjaC1jbGllbnQ6bm8tc2VjcmV0") as c:
        with pytest.raises(AuthenticationError) as err:
            c.chat("hi")
    assert json.loads(err.value.content) == {"code": 6, "message": "credentials doesn't match db data"}


def test_parallel_sdk_calls_on_one_client(emu):
    client = make_client(emu, credentials=B2B_KEY, scope="GIGACHAT_API_B2B")  # 8 at once: a business account
    errors = []

    def work(i):
        try:
            assert client.chat(f"t{i}").choices[0].message.content == f"Echo: t{i}"
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert not errors
    assert emu.stats.oauth_calls == 1
    assert emu.stats.max_concurrency >= 1


def test_sdk_rewrites_function_schemas_before_sending(emu, client):
    # Pitfall worth knowing: the SDK's Function model keeps only type/description/items/enum/
    # properties per property. A property without a type becomes {"type": "object"} with no
    # properties (rejected by the API), and format/minimum/nested required are dropped silently.
    payload = {
        "messages": [{"role": "user", "content": "x"}],
        "functions": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}}}],
    }
    with pytest.raises(gigachat.exceptions.UnprocessableEntityError) as err:
        client.chat(payload)
    assert json.loads(err.value.content)["message"] == "Invalid params: functions[0].parameters.properties.a: object must have properties"
    assert emu.log[-1].json["functions"][0]["parameters"]["properties"]["a"] == {"type": "object", "description": ""}


# ---- SDK defect: exp in seconds --------------------------------------------------------------------


def test_bare_sdk_fetches_a_token_before_every_call_when_oauth_answers_tok_and_exp():
    # SDK 0.2.3 stores exp as expires_at (milliseconds): a token that expires in 30 minutes, in
    # seconds, looks expired since 1970, so every call asks OAuth first. The plugin must work
    # around it; the documented access_token/expires_at shape keeps one token.
    with Emulator() as emu:
        with make_client(emu) as c:
            for i in range(3):
                c.chat(f"call {i}")
            c.get_models()
        assert emu.stats.oauth_calls == 1
    with Emulator(oauth_shape="tok") as emu:
        with make_client(emu) as c:
            for i in range(3):
                c.chat(f"call {i}")
            c.get_models()
            assert c._access_token.expires_at < time.time() * 1000  # what the SDK believes
        assert emu.stats.oauth_calls == 4
        assert len(set(emu.issued_tokens)) == 4


def test_with_tok_and_exp_the_bare_sdk_runs_into_the_oauth_rate_limit():
    # ... and a burst of more than 10 calls in a second gets OAuth's 429 instead of an answer.
    with Emulator(oauth_shape="tok") as emu:
        emu.oauth_limit.clock = lambda: 1000.0  # all in the same second
        with make_client(emu) as c:
            for i in range(10):
                c.chat(f"call {i}")
            with pytest.raises(RateLimitError) as err:
                c.chat("the eleventh")
        assert json.loads(err.value.content) == {"code": 429, "message": "Too many requests"}
        assert emu.stats.oauth_calls == 11 and emu.stats.requests["POST /chat/completions"] == 10
