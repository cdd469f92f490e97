"""tokens: local estimates close to GigaChat's recorded counts, no network, linear; the context check
calibrated so that no recorded request would have been refused."""

from __future__ import annotations

import contextlib
import json

import pytest
import yaml
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    ImagePromptMessageContent,
    PromptMessageTool,
    SystemPromptMessage,
    TextPromptMessageContent,
    ToolPromptMessage,
    UserPromptMessage,
)

from gigachat_dify import tokens
from gigachat_dify.tokens import CONTEXT_MARGIN, IMAGE_TOKENS, context_overflow, estimate_prompt_tokens, estimate_tokens

from tests.support.recordings import CASSETTES


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        # POST /tokens/count, recorded Jan 2026 (model GigaChat)
        ("First text", 2),
        ("Second text", 2),
        ("Hello, world!", 4),
    ],
)
def test_recorded_tokens_count_examples_are_matched(text, tokens):
    assert estimate_tokens(text) == tokens


@pytest.mark.parametrize(
    ("text", "completion_tokens"),
    [
        # completion_tokens of recorded answers (each includes one end-of-answer token)
        ("Hello.", 3),
        ("$1\\, 2\\, 3$  \n\nПодробный пошаговый вывод чисел от 1 до 3.", 25),
        (
            "$1\\, 2\\, 3$  \n\n**Подробный разбор:**\n- Начинаем счёт с единицы.\n- Добавляем следующее число — "
            "двойку.\n- Заканчиваем счётом числом три.",
            42,
        ),
    ],
)
def test_recorded_answers_are_estimated_within_20_percent(text, completion_tokens):
    estimate = estimate_tokens(text) + 1
    assert abs(estimate - completion_tokens) <= 0.2 * completion_tokens


def test_one_message_prompt_matches_recorded_prompt_tokens_roughly():
    # "Say 'Hello' and nothing else" -> prompt_tokens 17 (recorded)
    assert abs(estimate_prompt_tokens([UserPromptMessage(content="Say 'Hello' and nothing else")]) - 17) <= 3


def test_russian_is_cheaper_per_character_than_char_count_and_empty_is_zero():
    text = "Государственная дума приняла закон о защите персональных данных в первом чтении."
    assert len(text) / 6 < estimate_tokens(text) < len(text) / 2.5
    assert estimate_tokens("") == 0 and estimate_tokens(None) == 0


def test_estimate_grows_with_text():
    assert estimate_tokens("слово " * 100) > estimate_tokens("слово " * 10) > 0


def test_prompt_estimate_counts_roles_tools_calls_and_a_fixed_cost_per_image():
    img = ImagePromptMessageContent(format="png", mime_type="image/png", base64_data="iVBORw0KGgo=" * 1000)
    base = [SystemPromptMessage(content="Be brief."), UserPromptMessage(content="Hi")]
    with_image = [base[0], UserPromptMessage(content=[TextPromptMessageContent(data="Hi"), img])]
    assert estimate_prompt_tokens(with_image) - estimate_prompt_tokens(base) == IMAGE_TOKENS

    tool = PromptMessageTool(
        name="kb.search",
        description="Search the knowledge base",
        parameters={"type": "object", "properties": {"query": {"type": "string", "description": "What to find"}}, "required": ["query"]},
    )
    assert estimate_prompt_tokens(base, [tool]) > estimate_prompt_tokens(base) + 10

    call = AssistantPromptMessage.ToolCall(
        id="call_1",
        type="function",
        function=AssistantPromptMessage.ToolCall.ToolCallFunction(name="kb.search", arguments='{"query": "отпуск"}'),
    )
    history = [*base, AssistantPromptMessage(content="", tool_calls=[call]), ToolPromptMessage(content="найдено 3 документа", tool_call_id="call_1")]
    assert estimate_prompt_tokens(history) > estimate_prompt_tokens(base) + 10


class _CountingPieces:
    """Stands in for the estimator's regex and counts its scans and matches."""

    def __init__(self, pattern):
        self.pattern, self.scans, self.matches = pattern, 0, 0

    def finditer(self, text):
        self.scans += 1
        for m in self.pattern.finditer(text):
            self.matches += 1
            yield m


@contextlib.contextmanager
def counting_pieces():
    original = tokens._PIECES
    counter = tokens._PIECES = _CountingPieces(original)
    try:
        yield counter
    finally:
        tokens._PIECES = original


def test_estimate_of_a_large_prompt_is_one_linear_pass():
    text = ("Пример длинного документа с English words, числами 12345 и пунктуацией!\n" * 20000)[:1_000_000]
    with counting_pieces() as pieces:
        n = estimate_tokens(text)
    assert n > 100_000
    assert pieces.scans == 1 and pieces.matches <= len(text) // 2  # one scan, pieces of 2+ characters on average


# --------------------------------------------------------------------------- context check


def _recorded_chats():
    """(cassette, Dify messages, GigaChat's prompt token count) for every recorded chat (v1 and v2)."""
    roles = {"system": SystemPromptMessage, "user": UserPromptMessage, "assistant": AssistantPromptMessage}
    for path in sorted(CASSETTES.glob("*.yaml")):
        for interaction in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
            request, body = interaction["request"], interaction["request"].get("body")
            if "chat/completions" not in request["uri"] or not isinstance(body, str) or not body.startswith("{"):
                continue
            answer = interaction["response"]["body"].get("string") or ""
            usages = [json.loads(line.split("data:", 1)[1]).get("usage") for line in answer.splitlines()
                      if line.startswith("data:") and "usage" in line] or [json.loads(answer).get("usage")]
            usage = next((u for u in reversed(usages) if u), None)
            if not usage:
                continue
            messages = []
            for m in json.loads(body)["messages"]:
                content = m.get("content")
                if isinstance(content, list):  # v2 content parts
                    content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
                messages.append(roles.get(m["role"], UserPromptMessage)(content=content or ""))
            yield path.stem, messages, usage.get("prompt_tokens") or usage["input_tokens"]


def test_the_recordings_hold_chats_to_calibrate_on():
    assert len({name for name, _, _ in _recorded_chats()}) >= 10


@pytest.mark.parametrize(("name", "messages", "real"), list(_recorded_chats()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_recorded_request_would_have_been_refused_even_at_a_context_of_its_own_size(name, messages, real):
    # The tightest context that served the request is its own prompt count.
    assert estimate_prompt_tokens(messages) <= real * CONTEXT_MARGIN
    assert context_overflow(messages, None, real) is None


def test_a_conversation_far_beyond_the_context_is_refused_saying_how_far():
    history = [UserPromptMessage(content="слово " * 4000)]  # ~8,000 tokens
    message = context_overflow(history, None, 4096)
    assert message and "4,096" in message and "times this model's context" in message
    over = estimate_prompt_tokens(history) - 4096
    assert f"{over:,} tokens over" in message
    assert context_overflow(history, None, 131072) is None
    assert context_overflow(history, None, None) is None


# --------------------------------------------------------------------------- the check's cost


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Texts of every kind of piece the estimate charges differently, CJK (a token per character) included.
_TEXTS = st.one_of(st.text(alphabet=st.sampled_from(list("ab Zя Ж5 \n\t,!_中가ß")), max_size=300), st.text(max_size=100))


@given(_TEXTS)
def test_no_text_is_estimated_at_more_tokens_than_it_has_characters(text):
    assert estimate_tokens(text) <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), _TEXTS), max_size=6),
       st.integers(min_value=1, max_value=400))
def test_the_context_check_refuses_exactly_what_the_full_estimate_refuses(turns, context):
    roles = {"system": SystemPromptMessage, "user": UserPromptMessage, "assistant": AssistantPromptMessage}
    messages = [roles[role](content=text) for role, text in turns]
    refused = context_overflow(messages, None, context)
    assert (refused is not None) == (estimate_prompt_tokens(messages) > context * CONTEXT_MARGIN)
    if refused:
        assert f"about {estimate_prompt_tokens(messages):,} tokens" in refused


def test_a_request_that_fits_at_a_token_per_character_is_not_estimated_piece_by_piece(monkeypatch):
    # The check runs on every request; an agent's history of 17,000 characters and 30 tools took ~3 ms.
    history = [SystemPromptMessage(content="Ты — помощник. " * 400),
               UserPromptMessage(content="Как настроить индексацию базы знаний? " * 300)]
    tools = [PromptMessageTool(name=f"tool_{i}", description="Looks something up.",
                               parameters={"type": "object", "properties": {"q": {"type": "string"}}})
             for i in range(30)]
    estimated = []
    monkeypatch.setattr(tokens, "estimate_tokens", lambda text: estimated.append(text) or 0)
    assert context_overflow(history, tools, 32768) is None
    assert estimated == []
