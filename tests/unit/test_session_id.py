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
