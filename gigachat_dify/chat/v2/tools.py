"""What GigaChat's built-in tools did, as the Dify user sees it in the answer.

The code interpreter's code and its output are shown as a code block and an output block, so the
user sees what was computed, not only the conclusion. How v2 reports them is UNVERIFIED: the
recorded blocking answer (test_primary_chat_builtin_tools, June 2026) carries only the final
text. The SDK's v2 models have content parts ``function_call`` / ``function_result`` and
``tool_execution`` ({name, status, seconds_left, censored}), and named SSE events
``response.tool.completed`` (its own tests show a ``reasoning`` message with a ``tool_execution``
part); gpt2giga (ai-forever) reads built-in calls and results from ``function_call`` /
``function_result`` parts of any message. So: a ``function_call`` of ``code_interpreter`` is
the code it ran (``arguments.code``, or the only string argument), its ``function_result`` the
output (a string, or ``stdout``/``stderr``/``output``/``result`` of an object).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gigachat_dify.chat.builtin_tools import human_name

_CODE_KEYS = ("code", "source", "script", "program", "input")
_OUTPUT_KEYS = ("stdout", "output", "result", "text", "stderr", "error")
#: Output beyond this is cut (the answer, not a log, is what the user reads).
MAX_OUTPUT_CHARS = 8000


def _fence(text: str, info: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip()}\n{ticks}"


def _as_mapping(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True, by_alias=True)
    return value


def code_of(arguments: Any) -> str | None:
    arguments = _as_mapping(arguments)
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, Mapping):
        for key in _CODE_KEYS:
            if isinstance(arguments.get(key), str):
                return arguments[key]
        strings = [v for v in arguments.values() if isinstance(v, str)]
        if len(strings) == 1:
            return strings[0]
        return json.dumps(arguments, ensure_ascii=False, indent=2) if arguments else None
    return None


def output_of(result: Any) -> str | None:
    result = _as_mapping(result)
    if result is None:
        return None
    if isinstance(result, str):
        return result
    if isinstance(result, Mapping):
        found = [(k, result[k]) for k in _OUTPUT_KEYS if isinstance(result.get(k), str) and result[k].strip()]
        if found:
            return "\n".join(v if k in ("stdout", "output", "result", "text") else f"{k}: {v}" for k, v in found)
    return json.dumps(result, ensure_ascii=False, indent=2)


def call_display(name: str, arguments: Any) -> str | None:
    """Answer text for a built-in tool's call (None: nothing worth showing)."""
    if name != "code_interpreter":
        return None
    code = code_of(arguments)
    if not code or not code.strip():
        return None
    return f"\n\nCode run by GigaChat:\n\n{_fence(code, 'python')}\n"


def result_display(name: str, result: Any) -> str | None:
    if name != "code_interpreter":
        return None
    output = output_of(result)
    if output is None:
        return None
    if len(output) > MAX_OUTPUT_CHARS:
        output = output[:MAX_OUTPUT_CHARS] + f"\n... ({len(output) - MAX_OUTPUT_CHARS} more characters)"
    return f"\nOutput:\n\n{_fence(output or '(no output)')}\n\n"


def execution_display(execution: Any) -> str | None:
    """A note for a tool execution the user must know about: censored or failed."""
    execution = _as_mapping(execution)
    if not isinstance(execution, Mapping):
        return None
    human = human_name(execution.get("name"))
    if execution.get("censored"):
        return f"\n\n[GigaChat's content filter blocked the result of {human}.]\n\n"
    if str(execution.get("status") or "").lower() in ("error", "failed", "failure", "fail"):
        return f"\n\n[GigaChat's {human} failed.]\n\n"
    return None
