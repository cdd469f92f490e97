"""The plugin process inherits the daemon's whole environment (dify-plugin-daemon starts it with
`cmd.Environ()`), and the SDK fills every setting left unset from GIGACHAT_* variables (issue 10
item 11). With such variables set, requests still follow the form alone."""

import threading

from emulator import B2B_KEY, Emulator, make_key
from tests.support.daemon import PluginProcess, user

LEAKY_ENV = {
    "GIGACHAT_PROFANITY_CHECK": "true",
    "GIGACHAT_MAX_CONNECTIONS": "1",
    "GIGACHAT_TOKEN_EXPIRY_BUFFER_MS": str(10**13),  # every token would look about to expire
    "GIGACHAT_CREDENTIALS": make_key("from-env", "env-secret-123"),
    "GIGACHAT_BASE_URL": "http://192.0.2.1/api/v1",
    "GIGACHAT_MODEL": "GigaChat-Env",
    "GIGACHAT_FLAGS": '["from-env"]',
    "GIGACHAT_MAX_RETRIES": "9",
    "GIGACHAT_TIMEOUT": "0.001",
}


def test_gigachat_variables_in_the_environment_change_nothing():
    with Emulator() as emu, PluginProcess(env=LEAKY_ENV) as plugin:
        creds = {"authorization_key": B2B_KEY, "scope": "GIGACHAT_API_B2B", "base_url": emu.base_url,
                 "auth_url": emu.auth_url, "timeout": "20"}
        assert plugin.validate_provider(creds).ok
        for i in range(3):
            assert plugin.invoke_llm("GigaChat-2", creds, [user(f"q{i}")], stream=bool(i % 2)).ok
        # parallel streams: GIGACHAT_MAX_CONNECTIONS=1 would serialise them on one connection
        emu.faults.latency = 0.3
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(
            plugin.invoke_llm("GigaChat-2", creds, [user(f"parallel {i}")], stream=True))) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 3 and all(r.ok for r in results), [r.error for r in results]
        chats = [r for r in emu.log if r.path == "/chat/completions"]
        assert len(chats) == 6
        assert all("profanity_check" not in r.json and r.json.get("flags") in (None, []) for r in chats)
        assert {r.client_id for r in chats} == {"0a1b2c3d-0000-4000-8000-000000000002"}  # the form's key
        assert emu.stats.oauth_calls == 1, "the token buffer came from the environment"
        assert emu.stats.max_concurrency >= 2, "the connection limit came from the environment"
