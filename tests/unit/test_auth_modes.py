"""An authentication mode is one module behind a declared interface (connection/auth/protocol.py)
and one line in the registry: a fourth mode, registered here and nowhere else, is parsed, masked,
handed to the SDK, validated and described in messages by the code every mode goes through."""

from __future__ import annotations

import types
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeAuthorizationError

from emulator import DEFAULT_KEY, Emulator
from gigachat_dify import form
from gigachat_dify.connection import auth, clients
from gigachat_dify.connection.credentials import parse_credentials, request_secrets
from gigachat_dify.connection.validation import validate_provider
from gigachat_dify.embeddings.invocation import embed

NAME = "access_token"


@dataclass(frozen=True)
class AccessToken:
    """A ready access token (the SDK's `access_token`): no OAuth, no renewal."""

    token: str = field(repr=False)
    mode: str = NAME

    tls_identity = None
    valid_until = None
    embedding_concurrency = 3

    def sdk_arguments(self) -> dict:
        return {"access_token": self.token}

    def process_secrets(self) -> tuple[str, ...]:
        return (self.token,)

    def token_check(self, base_url: str, auth_url: str) -> None:
        return None

    def api_refusal(self, host: str, reason: str) -> str:
        return f"{host} refused the access token ({reason}): paste a fresh one into 'Access token'."

    def summary(self) -> str:
        return NAME


def _parse(credentials) -> AccessToken:
    token = form.text(credentials.get("access_token"))
    if not token:
        raise form.FormValueError("Enter the access token.")
    return AccessToken(token)


FOURTH = types.SimpleNamespace(NAME=NAME, SECRET_FIELDS=("access_token",), parse=_parse)


@pytest.fixture(scope="module")
def emu():
    with Emulator() as e:
        yield e


@pytest.fixture(autouse=True)
def fourth_mode(monkeypatch):
    monkeypatch.setitem(auth.MODES, NAME, FOURTH)  # the one registry line
    clients.clear()
    yield
    clients.clear()


def _token(emu) -> str:
    answer = httpx.post(emu.auth_url, data={"scope": "GIGACHAT_API_PERS"},
                        headers={"Authorization": f"Basic {DEFAULT_KEY}", "RqUID": str(uuid.uuid4())})
    return answer.json()["access_token"]


def _form(emu, token: str) -> dict:
    return {"auth_mode": NAME, "access_token": token, "base_url": emu.base_url, "auth_url": emu.auth_url}


def test_a_registered_fourth_mode_connects_validates_and_embeds(emu):
    token = _token(emu)
    before = emu.stats.oauth_calls
    settings = validate_provider(_form(emu, token))
    assert settings.auth == AccessToken(token) and settings.embedding_concurrency == 3
    assert len(embed("Embeddings", _form(emu, token), ["a", "b"]).vectors) == 2
    assert emu.stats.oauth_calls == before, "the mode has no token step: nothing asked of OAuth"


def test_its_secret_field_is_masked_and_its_own_words_explain_a_refusal(emu):
    assert "access_token" in auth.secret_fields()
    stale = "stale-token-" + uuid.uuid4().hex
    assert stale in request_secrets(_form(emu, stale))
    with pytest.raises(CredentialsValidateFailedError) as refused:
        validate_provider(_form(emu, stale))
    assert "refused the access token (Unauthorized): paste a fresh one into 'Access token'" in str(refused.value)
    assert stale not in str(refused.value)
    with pytest.raises(InvokeAuthorizationError) as at_invocation:
        embed("Embeddings", _form(emu, stale), ["a"])
    assert "paste a fresh one into 'Access token'" in str(at_invocation.value)


def test_the_form_offers_only_registered_modes():
    with pytest.raises(CredentialsValidateFailedError) as err:
        parse_credentials({"auth_mode": "kerberos"})
    assert NAME in str(err.value)
