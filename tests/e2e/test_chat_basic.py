"""Basic chat through Dify's stdio protocol: blocking and streaming, shapes Dify accepts."""

from emulator import B2B_KEY
from tests.support.daemon import collect_text, system, user


def test_blocking_chat_returns_the_answer_and_usage(plugin, credentials):
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("Привет!")], stream=False)
    assert result.ok, result.error
    assert len(result.chunks) == 1  # a blocking LLMResult travels as a single chunk
    delta = result.chunks[0]["delta"]
    assert delta["message"]["content"] == "Echo: Привет!"
    assert delta["usage"]["prompt_tokens"] > 0 and delta["usage"]["completion_tokens"] > 0


def test_streaming_chat_arrives_in_chunks_that_are_all_strings(plugin, credentials):
    text = "Расскажи длинную историю про GigaChat и Dify, пожалуйста, подробно"
    result = plugin.invoke_llm("GigaChat-2-Pro", credentials, [system("Be brief."), user(text)], stream=True)
    assert result.ok, result.error
    assert len(result.chunks) > 2
    for chunk in result.chunks:
        assert isinstance(chunk["delta"]["message"]["content"], str)
    assert collect_text(result) == f"Echo: {text}"
    final = result.chunks[-1]["delta"]
    assert final["finish_reason"] == "stop"
    assert final["usage"]["total_tokens"] == final["usage"]["prompt_tokens"] + final["usage"]["completion_tokens"]
    assert all(c["delta"].get("finish_reason") is None for c in result.chunks[:-1])


def test_n_requests_in_one_plugin_process_use_exactly_one_oauth_token(fresh_plugin, credentials, emulator):
    emulator.stats.reset()
    for i in range(5):
        assert fresh_plugin.invoke_llm("GigaChat-2", credentials, [user(f"q{i}")], stream=bool(i % 2)).ok
    assert fresh_plugin.invoke_embedding("Embeddings", credentials, ["a", "b"]).ok
    assert fresh_plugin.validate_provider(credentials).ok
    assert emulator.stats.oauth_calls == 1


def test_concurrent_first_requests_share_one_token(fresh_plugin, credentials, emulator):
    import threading

    emulator.stats.reset()
    emulator.faults.latency = 0.2
    # a business account: 8 requests at once are within its limit (a personal account allows 1)
    credentials = {**credentials, "authorization_key": B2B_KEY, "scope": "GIGACHAT_API_B2B"}
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(
        fresh_plugin.invoke_llm("GigaChat-2", credentials, [user(f"parallel {i}")], stream=True)))
        for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 and all(r.ok for r in results)
    assert sorted(collect_text(r) for r in results) == sorted(f"Echo: parallel {i}" for i in range(8))
    assert emulator.stats.oauth_calls == 1


def test_expired_token_is_renewed_transparently(plugin, credentials, emulator):
    assert plugin.invoke_llm("GigaChat-2", credentials, [user("before")], stream=False).ok
    emulator.stats.reset()
    emulator.faults.expire_tokens()
    result = plugin.invoke_llm("GigaChat-2", credentials, [user("after")], stream=True)
    assert result.ok, result.error
    assert collect_text(result) == "Echo: after"
    assert emulator.stats.oauth_calls == 1


def test_unknown_model_is_a_bad_request_naming_the_model_problem(plugin, credentials):
    result = plugin.invoke_llm("GigaChat-Nonexistent", credentials, [user("hi")], stream=True)
    assert result.error_type == "InvokeBadRequestError"
    assert "No such model" in result.error_message


def test_oauth_answers_in_the_tok_exp_shape_still_give_one_token_per_lifetime():
    # {"tok", "exp"} (recorded June 2026) carries exp in seconds; SDK 0.2.3 reads it as milliseconds
    # and, left alone, fetches a new token before every call.
    from emulator import DEFAULT_KEY, Emulator
    from tests.support.daemon import PluginProcess

    with Emulator(oauth_shape="tok") as emu, PluginProcess() as plugin:
        creds = {"authorization_key": DEFAULT_KEY, "base_url": emu.base_url, "auth_url": emu.auth_url, "timeout": "15"}
        assert plugin.validate_provider(creds).ok
        for i in range(4):
            assert plugin.invoke_llm("GigaChat-2", creds, [user(f"q{i}")], stream=bool(i % 2)).ok
        assert plugin.invoke_embedding("Embeddings", creds, ["a"]).ok
        assert emu.stats.oauth_calls == 1
