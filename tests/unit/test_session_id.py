"""chat/invocation.session_id_for: the X-Session-ID of GigaChat's prompt cache is stable per account
and conversation (or leading system prompt) and never shared by two accounts."""

from dify_plugin.entities.model.message import SystemPromptMessage, UserPromptMessage
from hypothesis import given
from hypothesis import strategies as st

from emulator import B2B_KEY, DEFAULT_KEY
from gigachat_dify.chat.invocation import session_id_for
from gigachat_dify.connection.credentials import parse_credentials

ACCOUNT_A = parse_credentials({"authorization_key": DEFAULT_KEY}).fingerprint
ACCOUNT_B = parse_credentials({"authorization_key": B2B_KEY, "scope": "GIGACHAT_API_B2B"}).fingerprint


@given(conversation=st.text(min_size=1), prompt=st.text(min_size=1))
def test_one_account_keeps_its_id_and_two_accounts_never_share_one(conversation, prompt):
    messages = [SystemPromptMessage(content=prompt), UserPromptMessage(content="q")]
    for conv in (conversation, None):
        a = session_id_for(conv, messages, account=ACCOUNT_A)
        assert a == session_id_for(conv, messages, account=ACCOUNT_A)
        assert a != session_id_for(conv, messages, account=ACCOUNT_B)


def test_without_a_conversation_or_a_system_prompt_there_is_no_session():
    assert session_id_for(None, [UserPromptMessage(content="q")], account=ACCOUNT_A) is None
    assert session_id_for("", [], account=ACCOUNT_A) is None


def test_ids_are_the_uuid5_of_their_names_and_a_long_system_prompt_is_not_kept():
    import uuid

    from gigachat_dify.chat import invocation

    invocation._session_uuid.cache_clear()
    conversation = session_id_for("conv-1", [], account=ACCOUNT_A)
    assert conversation == str(uuid.uuid5(invocation._SESSION_NS, f"{ACCOUNT_A}:conversation:conv-1"))
    long_prompt = "x" * invocation._SESSION_NAMES_KEPT_CHARS
    long_id = session_id_for(None, [SystemPromptMessage(content=long_prompt)], account=ACCOUNT_A)
    assert long_id == str(uuid.uuid5(invocation._SESSION_NS, f"{ACCOUNT_A}:system:{long_prompt}"))
    assert invocation._session_uuid.cache_info().currsize == 1  # the conversation's only
