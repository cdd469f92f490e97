"""tokens: local estimates close to GigaChat's recorded counts, no network, fast."""

from __future__ import annotations

import time

import pytest
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    ImagePromptMessageContent,
    PromptMessageTool,
    SystemPromptMessage,
    TextPromptMessageContent,
    ToolPromptMessage,
    UserPromptMessage,
)

from gigachat_dify.tokens import IMAGE_TOKENS, estimate_prompt_tokens, estimate_tokens


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


def test_estimate_is_fast_on_a_large_prompt():
    text = ("Пример длинного документа с English words, числами 12345 и пунктуацией!\n" * 20000)[:1_000_000]
    start = time.perf_counter()
    n = estimate_tokens(text)
    assert n > 100_000
    assert time.perf_counter() - start < 2.0
