"""User and password mode (on-premise installations) end to end through Dify's stdio protocol:
tokens from `{base_url}/token` with HTTP Basic, one per lifetime although that endpoint gives its
expiry in seconds, and a message that tells a wrong password from a host without /token."""

import pytest

from emulator import Emulator
from tests.support.daemon import PluginProcess, collect_text, user

USERS = {"svc-dify": "Пароль с пробелом 1", "other": "other-password-2"}


@pytest.fixture(scope="module")
def onprem():
    with Emulator(users=USERS) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _clean(onprem):
    onprem.reset()


def creds(emu, username="svc-dify", password=USERS["svc-dify"], **extra):
    return {"auth_mode": "user_password", "username": username, "password": password,
            "base_url": emu.base_url, "timeout": "15", **extra}


def test_validation_chat_and_embeddings_share_one_token_from_the_installation():
    with Emulator(users=USERS) as emu, PluginProcess() as plugin:
        c = creds(emu)
        assert plugin.validate_provider(c).ok
        for i in range(3):
            chat = plugin.invoke_llm("GigaChat-2", c, [user(f"вопрос {i}")], stream=True)
            assert chat.ok, chat.error
            assert collect_text(chat) == f"Echo: вопрос {i}"
        assert plugin.invoke_embedding("Embeddings", c, ["a", "b"]).ok
        # /token answers {"tok", "exp"} with exp in seconds: read as milliseconds it would look
        # expired at once and the SDK would fetch a token before every call.
        assert emu.stats.token_calls == 1 and emu.stats.oauth_calls == 0
        api = [r for r in emu.log if r.path in ("/chat/completions", "/embeddings")]
        assert len(api) == 4 and {r.client_id for r in api} == {"svc-dify"}


def test_a_wrong_password_is_named_and_never_echoed(plugin, onprem):
    result = plugin.validate_provider(creds(onprem, password="not-the-password-9"))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "rejected the user name or password" in result.error_message
    assert "not-the-password-9" not in result.error_message


def test_a_base_url_without_a_token_endpoint_says_to_check_the_installations_address(plugin, onprem):
    c = creds(onprem, base_url=onprem.base_url.replace("/api/v1", "/public/api/v1"))
    result = plugin.validate_provider(c)
    assert result.error_type == "CredentialsValidateFailedError"
    assert "check the 'Base URL' is the API address of your on-premise GigaChat installation" in result.error_message
    assert "authorization key" not in result.error_message  # another mode is the answer only on public hosts


def test_a_base_url_without_the_api_path_is_named_as_in_the_other_modes(plugin, onprem):
    root = onprem.base_url.rsplit("/api/v1", 1)[0]
    result = plugin.validate_provider(creds(onprem, base_url=root))
    assert result.error_type == "CredentialsValidateFailedError"
    assert result.error_message.startswith(f"The 'Base URL' ({root}) lacks the API's path"), result.error_message
    assert f"{root}/api/v1" in result.error_message and "authorization key" not in result.error_message


def test_the_form_says_which_field_is_missing(plugin, onprem):
    result = plugin.validate_provider(creds(onprem, password=""))
    assert result.error_type == "CredentialsValidateFailedError"
    assert "Enter the password of the user 'svc-dify'" in result.error_message
    assert onprem.stats.token_calls == 0


def test_two_users_of_one_installation_get_their_own_tokens(fresh_plugin, onprem):
    for name in ("svc-dify", "other"):
        assert fresh_plugin.invoke_llm("GigaChat-2", creds(onprem, name, USERS[name]), [user(name)], stream=False).ok
    chats = [r for r in onprem.log if r.path == "/chat/completions"]
    assert [r.client_id for r in chats] == ["svc-dify", "other"]
    assert onprem.stats.token_calls == 2
