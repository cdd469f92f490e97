"""The known limit the README's troubleshooting states is what Dify's plugin runtime does: a request
line nesting more than 200 levels (a tool schema with objects 98 deep) is never answered. The runtime
cannot parse the line and writes an error event without a session id, so the request's session
gets nothing; the process goes on serving. Should a newer dify_plugin lift the limit, this fails and
the README's paragraph goes."""

from __future__ import annotations

import json
import re

import pytest

from emulator import DEFAULT_KEY, Emulator
from tests.docs.test_readme_translations import ENGLISH, TRANSLATIONS
from tests.support.daemon import PluginProcess, tool, user


def readme_numbers(page) -> tuple[int, int, int]:
    """(levels of JSON the runtime reads, object depth of a schema that fails, one that works)."""
    paragraph = page.read_text(encoding="utf-8").split("`Invalid JSON: recursion", 1)[0].rsplit("\n\n", 1)[1]
    numbers = [int(n) for n in re.findall(r"\b(\d{2,3})\b", paragraph.replace("`dify_plugin` 0.10.2", ""))]
    assert len(numbers) == 3, numbers
    return tuple(numbers)


def nested_objects(depth: int) -> dict:
    schema = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def json_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("page", [ENGLISH, *TRANSLATIONS], ids=lambda p: p.name)
def test_every_language_states_the_same_limit(page):
    assert readme_numbers(page) == readme_numbers(ENGLISH)


def test_a_request_nested_past_the_stated_limit_is_never_answered_and_the_process_goes_on():
    levels, failing, working = readme_numbers(ENGLISH)
    with Emulator() as emu, PluginProcess() as plugin:
        credentials = {"authorization_key": DEFAULT_KEY, "scope": "GIGACHAT_API_PERS",
                       "base_url": emu.base_url, "auth_url": emu.auth_url}

        def ask(depth: int, timeout: float = 60):
            deep = tool("deep", "a tool with a deep schema", nested_objects(depth))
            line = {"session_id": "", "data": {"tools": [deep]}}  # the request's own nesting around the schema
            return json_depth(line), plugin.invoke_llm("GigaChat-2", credentials, [user("hi")], tools=[deep],
                                                       stream=False, timeout=timeout)

        depth, answered = ask(working)
        assert depth <= levels and answered.ok, answered.error
        with pytest.raises(TimeoutError):
            ask(failing, timeout=5)
        assert len(plugin.protocol_errors) == 1, plugin.protocol_errors
        [event] = [e for e in map(json.loads, plugin.stdout_lines) if e.get("event") == "error"]
        assert event["event"] == "error" and event["session_id"] is None
        assert "recursion limit exceeded" in event["data"]["error"]
        assert json_depth({"session_id": "", "data": {"tools": [tool("deep", "", nested_objects(failing))]}}) > levels
        assert plugin.invoke_llm("GigaChat-2", credentials, [user("still there?")], stream=False).ok
