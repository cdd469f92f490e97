"""GigaChat answers -> Dify result chunks, whatever the contract: stop words, <think>, tool calls, finish, usage.

Pure and independent of the network and of the API contract. Each contract (``chat/v1/stream.py``,
``chat/v2/stream.py``) reads its own chunk shape and hands the pieces to an ``Assembler``, so every
rule below holds on both:

* every emitted ``delta.message.content`` is a ``str`` (the daemon rejects null content);
* reasoning is shown first, as ``<think>\\n...\\n</think>\\n``;
* a function call is emitted once, complete, with Dify's tool name and a JSON-string argument,
  in the final chunk (GigaChat sends a call whole, but pieces of one call are merged anyway);
* Dify's stop words are enforced here (GigaChat has no ``stop`` parameter): the answer is cut
  before the earliest stop word, also when it is split across chunks;
* files GigaChat generated (v2 ``files`` parts, v1 ``<img .../>`` / ``<video .../>`` tags, also
  split across chunks) become image content items (``media.py``), one per chunk, so no tag ever
  reaches the user; such a chunk's content is a list of content items, any other chunk's a string;
* web-search markers ``[sources=[n]]`` become links and the answer ends with the source list
  (``sources.py``), also when the answer calls a tool;
* the final chunk carries ``finish_reason`` and ``usage``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.errors.model import InvokeBadRequestError, InvokeError, InvokeServerUnavailableError
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    MultiModalPromptMessageContent,
    PromptMessage,
    TextPromptMessageContent,
)

from gigachat_dify.chat.holdback import HoldBack, Token
from gigachat_dify.chat.json_values import coerce
from gigachat_dify.chat.media import FileRef, Images, TagScanner
from gigachat_dify.chat.sources import Citations
from gigachat_dify.chat.tool_calls import make_tool_call_id
from gigachat_dify.redaction import excerpt, redact

logger = logging.getLogger(__name__)

THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n"

@dataclass(frozen=True)
class FinishReason:
    """What one of GigaChat's finish reasons means: Dify's name for it and, for an end that is not
    a normal one, the sentence that says why. ``error``: such an end is no answer, so the user
    reads the sentence as this Dify error (the text streamed before it stays)."""

    dify: str
    sentence: str = ""
    error: type[InvokeError] | None = None


_REPHRASE = (" Rephrase the request; GigaChat declines some topics whatever the settings (if it reacted to"
             " strong language, switching off 'Profanity filter' may help).")
_BAD_CALL = ("GigaChat tried to call a tool but the call it produced was malformed (finish_reason '{reason}'). "
             "Retry; if it repeats, give the tool simpler parameters or describe them more clearly.")
_REQUEST_FILTERED = "GigaChat's content filter refused the request and gave no answer (finish_reason '{reason}')." + _REPHRASE

#: THE table of GigaChat's finish reasons, v1's and v2's (v2 adds the request_*, response_blacklist
#: and function_call_error reasons, GIGACHAT_API.md). A reason it does not list passes to Dify as is.
FINISH_REASONS: dict[str, FinishReason] = {
    "stop": FinishReason("stop"),
    "length": FinishReason("length", "The answer was cut off because it reached the maximum number of tokens "
                           "(max_tokens) or the model's context size. Increase max_tokens or shorten the prompt."),
    "function_call": FinishReason("tool_calls"),
    "blacklist": FinishReason("content_filter", "GigaChat's content filter stopped this answer (finish_reason "
                              "'{reason}'), so it is not complete." + _REPHRASE, InvokeBadRequestError),
    "response_blacklist": FinishReason("content_filter", "GigaChat's content filter stopped this answer "
                                       "(finish_reason '{reason}'), so it is not complete." + _REPHRASE,
                                       InvokeBadRequestError),
    "request_blacklist": FinishReason("content_filter", _REQUEST_FILTERED, InvokeBadRequestError),
    "request_whitelist": FinishReason("content_filter", _REQUEST_FILTERED, InvokeBadRequestError),
    "request_filter": FinishReason("content_filter", _REQUEST_FILTERED, InvokeBadRequestError),
    # v1's "error": "the model's answer holds invalid arguments of a user function" (the API
    # reference); v2 names it function_call_error.
    "function_call_error": FinishReason("error", _BAD_CALL, InvokeServerUnavailableError),
    "error": FinishReason("error", _BAD_CALL, InvokeServerUnavailableError),
}


def map_finish_reason(reason: str | None) -> str | None:
    """GigaChat's finish reason -> Dify's (stop, length, tool_calls, content_filter, error)."""
    if reason is None:
        return None
    row = FINISH_REASONS.get(reason)
    return row.dify if row else reason


def finish_reason_message(reason: str | None) -> str | None:
    """Why an answer ended as it did, for a finish reason that is not a normal end; else None."""
    row = FINISH_REASONS.get(reason or "")
    return row.sentence.format(reason=reason) if row and row.sentence else None


def finish_failure(reason: str | None, answered: str = "") -> InvokeError | None:
    """The error an end that is no answer becomes (None for an answer). ``answered``: the text
    GigaChat sent, quoted where the user has not seen it (a blocking answer)."""
    row = FINISH_REASONS.get(reason or "")
    if row is None or row.error is None:
        return None
    quoted = f' GigaChat answered: "{excerpt(answered)}"' if answered.strip() else ""
    return row.error(redact(row.sentence.format(reason=reason) + quoted))


@dataclass(frozen=True)
class TokenUsage:
    """What GigaChat billed, in either contract's terms: prompt, completion and cached prompt tokens
    (``precached_prompt_tokens`` on v1, ``input_tokens_details.cached_tokens`` on v2)."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0


def usage_report(usage: TokenUsage | None, response_model: str | None) -> dict[str, Any]:
    """What GigaChat reported beyond Dify's LLMUsage (which has no field for cached tokens in
    dify_plugin 0.10): carried in the final message's `opaque_body`, so it reaches Dify intact."""
    usage = usage or TokenUsage()
    return {"gigachat": {"model_version": response_model, "prompt_tokens": usage.prompt,
                         "completion_tokens": usage.completion, "precached_prompt_tokens": usage.cached}}


class _Call:
    __slots__ = ("arguments", "call_id", "name", "state_id")

    def __init__(self, name: str | None, state_id: str | None, call_id: str | None = None):
        self.name = name
        self.arguments: dict[Any, Any] = {}
        self.state_id = state_id
        self.call_id = call_id  # GigaChat's id of the call (api.giga.chat): parallel calls are told apart by it


class Assembler:
    """Turns the pieces of a GigaChat answer into Dify ``LLMResultChunk``s (see the module docstring).

    ``add(...)`` returns the chunks to yield now (possibly none); ``finish(usage)`` returns the
    final chunk (held-back text, the tool calls, ``finish_reason``, ``usage``). After ``finish``
    the assembler must not be fed again. Contracts subclass it with a ``feed(chunk)`` of their own."""

    def __init__(
        self,
        model: str,
        prompt_messages: Sequence[PromptMessage] | None = None,
        stop: Sequence[str] | None = None,
        function_names: Mapping[str, str] | None = None,
        *,
        argument_schemas: Mapping[str, Any] | None = None,
        data: bool = False,
        images: Images | None = None,
        citations: bool = True,
        collect: bool = False,
    ):
        self.model = model
        self.prompt_messages = list(prompt_messages or [])
        self.stop = sorted({s for s in (stop or []) if s}, key=len)
        #: Answer text held back while it may be the start of a stop word.
        self._stop_words = HoldBack(self.stop)
        self.function_names = dict(function_names or {})
        #: {GigaChat function name: the tool's own schema}: arguments get their declared types back.
        self.argument_schemas = dict(argument_schemas or {})
        #: The answer is read as data (structured output: the JSON alone): no reasoning, no tool
        #: activity, no source list is shown in it (generated images come without notes: ``Images``).
        self.data = data
        self._stopped = False  # a stop word was reached: the rest of the answer is discarded
        self._think_open = False
        self._think_closed = False
        self._calls: list[_Call] = []
        self._state_id: str | None = None
        self._index = 0
        self._finished = False
        self._images = images or Images(None)
        self._tags = TagScanner()
        #: Markers become links only where a tool that cites was asked for; elsewhere they are text.
        self._citations = Citations() if citations else None
        #: GigaChat's raw finish reason, as last reported.
        self.gigachat_finish_reason: str | None = None
        #: The last usage GigaChat reported (the final chunk carries it), or None.
        self.usage: TokenUsage | None = None
        #: The response's model name as GigaChat echoes it (e.g. "GigaChat-2-Max:2.0.28.2").
        self.response_model: str | None = None
        #: A blocking answer's pieces before the final chunk, when ``collect``: they become one message
        #: (``to_result``), so no chunk is made of them (a chunk costs three pydantic objects).
        self.collected: list[Any] | None = [] if collect else None

    # ------------------------------------------------------------------ public API
    @property
    def stopped_by_stop_word(self) -> bool:
        return self._stopped

    @property
    def finish_reason(self) -> str:
        """Dify's finish reason for what was received so far."""
        if self._calls and any(c.name for c in self._calls):
            return "tool_calls"
        if self._stopped:
            return "stop"
        return map_finish_reason(self.gigachat_finish_reason) or "stop"

    def add(
        self,
        *,
        reasoning: str | None = None,
        content: str | None = None,
        function_call: Any = None,
        state_id: str | None = None,
        finish_reason: str | None = None,
        sources: Any = None,
        files: Sequence[FileRef] = (),
        literal: str | None = None,
    ) -> list[LLMResultChunk]:
        """One piece of the answer, in the order GigaChat sent it; the Dify chunks to yield now.

        ``sources``: web-search sources (``inline_data.sources``) for the markers; ``files``:
        generated files to show; ``literal``: answer text shown as is (no marker or tag
        rewriting, e.g. the code a built-in tool ran)."""
        if self._finished:
            raise RuntimeError("Assembler.add() called after finish()")
        out: list[Any] = []
        if sources and self._citations is not None:
            self._citations.add(sources)
        self._on_delta(out, reasoning=reasoning, content=content, function_call=function_call, state_id=state_id)
        if files or literal:
            self._close_think(out)
            self._drain(out)
            for ref in files:
                self._show_file(out, ref)
            if literal and self.data:
                logger.info("tool activity not shown in a structured answer: %s", excerpt(literal))
            elif literal:
                self._on_content(out, literal)
        if finish_reason:
            self._on_finish_reason(out, finish_reason)
        return self._chunks(out)

    def flush(self) -> list[LLMResultChunk]:
        """No more answer is coming: the chunks of everything still held back (text that could
        have begun a marker, a tag or a stop word), to yield before ``finish``. Kept apart from
        ``finish`` so that a file found here gets a chunk of its own."""
        if self._finished:
            raise RuntimeError("Assembler.flush() called after finish()")
        out: list[Any] = []
        self._drain(out)
        self._on_content(out, "", final=True)
        return self._chunks(out)

    def finish(self, usage: LLMUsage) -> LLMResultChunk:
        """The final chunk: remaining held-back text, the tool calls, finish_reason and usage."""
        if self._finished:
            raise RuntimeError("Assembler.finish() called twice")
        out: list[Any] = []
        self._close_think(out)
        self._drain(out)
        self._on_content(out, "", final=True)
        if not self._stopped and not self.data:
            # The list goes with the text even when the answer calls a tool: nothing GigaChat
            # found is lost.
            listing = self._citations.source_list() if self._citations is not None else ""
            if listing:
                out.append(listing)
        self._finished = True
        reason = self.finish_reason
        explanation = finish_reason_message(self.gigachat_finish_reason)
        if explanation and not self._stopped:
            logger.warning("GigaChat finish_reason=%s: %s", self.gigachat_finish_reason, explanation)
        return self._chunk(out, tool_calls=self._tool_calls(), finish_reason=reason, usage=usage)

    def failure(self, answered: str = "") -> InvokeError | None:
        """The error to raise instead of the final chunk when GigaChat's end is no answer (a filter,
        a malformed call, an error: ``FINISH_REASONS``); None otherwise, also after a stop word."""
        return None if self._stopped else finish_failure(self.gigachat_finish_reason, answered)

    # ------------------------------------------------------------------ internals
    def _on_delta(self, out: list[str], *, reasoning: str | None, content: str | None, function_call: Any,
                  state_id: str | None) -> None:
        if reasoning and self.data:
            logger.debug("reasoning text not shown in a structured answer (%d chars)", len(reasoning))
        elif reasoning:
            if self._think_closed:
                # Reasoning after the answer started cannot go back into the think block; keep
                # it out of the answer (it is not answer text) but do not lose it silently.
                logger.debug("reasoning text after the answer started was not shown (%d chars)", len(reasoning))
            else:
                if not self._think_open:
                    out.append(THINK_OPEN)
                    self._think_open = True
                out.append(reasoning)
        if state_id:
            self._state_id = state_id
            for c in self._calls:
                if c.state_id is None:
                    c.state_id = state_id
        if content:
            self._close_think(out)
            self._on_text(out, content)
        if function_call is not None:
            self._close_think(out)
            self._on_function_call(function_call, state_id)

    def _on_text(self, out: list[Any], text: str, *, final: bool = False) -> None:
        """Answer text from GigaChat: markers -> links, tags -> files, then the stop words."""
        if self._citations is not None:
            text = self._citations.feed(text, final=final)
        for piece in self._tags.feed(text, final=final):
            if isinstance(piece, FileRef):
                self._show_file(out, piece)
            else:
                self._on_content(out, piece)

    def _drain(self, out: list[Any]) -> None:
        """Release text held for markers and tags (before something that must follow it)."""
        self._on_text(out, "", final=True)

    def _show_file(self, out: list[Any], ref: FileRef) -> None:
        if self._stopped:
            return
        self._on_content(out, "", final=True)  # a stop word cannot continue across a file
        if self._stopped:
            return
        for piece in self._images.pieces(ref):
            if isinstance(piece, str):
                self._on_content(out, piece)
            elif not self._stopped:
                out.append(piece)

    def _close_think(self, out: list[str]) -> None:
        if self._think_open and not self._think_closed:
            out.append(THINK_CLOSE)
        self._think_closed = True

    def _on_content(self, out: list[str], text: str, *, final: bool = False) -> None:
        """Append answer text, cut before the earliest stop word, also one split across chunks
        (``holdback.py``); ``final`` (no more text will come) releases what is held back."""
        if self._stopped:
            return
        for piece in self._stop_words.push(text, final=final):
            if isinstance(piece, Token):
                self._stopped = True
                return
            out.append(piece)

    def _on_function_call(self, fc: Any, state_id: str | None) -> None:
        if isinstance(fc, Mapping):
            name, arguments, call_id = fc.get("name"), fc.get("arguments"), fc.get("id")
        else:
            name, arguments, call_id = getattr(fc, "name", None), getattr(fc, "arguments", None), getattr(fc, "id", None)
        call_id = call_id if isinstance(call_id, str) and call_id else None
        current = self._calls[-1] if self._calls else None
        if (current is None or (name and current.name and name != current.name)
                or (call_id and current.call_id and call_id != current.call_id)):
            current = _Call(name or None, state_id or self._state_id, call_id)
            self._calls.append(current)
        elif call_id and not current.call_id:
            current.call_id = call_id
        elif name and not current.name:
            current.name = name
        if isinstance(arguments, Mapping):
            current.arguments.update(arguments)
        elif arguments is not None:
            logger.warning("function call arguments of unexpected type %s kept as raw text", type(arguments).__name__)
            current.arguments["raw"] = arguments
        if state_id and not current.state_id:
            current.state_id = state_id

    def _on_finish_reason(self, out: list[str], reason: str) -> None:
        self.gigachat_finish_reason = reason
        self._close_think(out)

    def _tool_calls(self) -> list[AssistantPromptMessage.ToolCall]:
        calls: list[AssistantPromptMessage.ToolCall] = []
        used_state_ids: set[str] = set()
        for c in self._calls:
            if not c.name:
                logger.error("GigaChat sent a function call without a name; it cannot be executed")
                continue
            # Parallel calls of one step share its state id: their own ids keep Dify's ids distinct.
            state_id = c.state_id if c.state_id and (c.call_id or c.state_id not in used_state_ids) else None
            if state_id:
                used_state_ids.add(state_id)
            calls.append(
                AssistantPromptMessage.ToolCall(
                    id=make_tool_call_id(state_id, c.call_id),
                    type="function",
                    function=AssistantPromptMessage.ToolCall.ToolCallFunction(
                        name=self.function_names.get(c.name, c.name),
                        arguments=json.dumps(coerce(c.arguments, self.argument_schemas.get(c.name)),
                                             ensure_ascii=False),
                    ),
                )
            )
        return calls

    def _chunks(self, out: list[Any]) -> list[LLMResultChunk]:
        """The chunks for these pieces: at most one file per chunk (each chunk is one protocol
        line, and a file may fill most of it)."""
        if self.collected is not None:
            self.collected += out
            return []
        groups: list[list[Any]] = [[]]
        for piece in out:
            if not isinstance(piece, str) and any(not isinstance(p, str) for p in groups[-1]):
                groups.append([])
            groups[-1].append(piece)
        return [self._chunk(g) for g in groups if any(p for p in g)]

    def _chunk(
        self,
        pieces: list[Any] | str,
        *,
        tool_calls: list[AssistantPromptMessage.ToolCall] | None = None,
        finish_reason: str | None = None,
        usage: LLMUsage | None = None,
    ) -> LLMResultChunk:
        chunk = LLMResultChunk(
            model=self.model,
            prompt_messages=[],
            delta=LLMResultChunkDelta(
                index=self._index,
                message=AssistantPromptMessage(content=message_content(pieces), tool_calls=tool_calls or []),
                finish_reason=finish_reason,
                usage=usage,
            ),
        )
        self._index += 1
        return chunk


def message_content(pieces: Sequence[Any] | str) -> str | list:
    """Answer pieces (text and content items) as a message's content: a string when it is all
    text (the daemon requires a string, never null), else a list of content items in order,
    adjacent texts merged."""
    if isinstance(pieces, str):
        return pieces
    if all(isinstance(p, str) for p in pieces):
        return "".join(pieces)
    items: list[Any] = []
    for p in pieces:
        if isinstance(p, TextPromptMessageContent):
            p = p.data
        if isinstance(p, str):
            if not p:
                continue
            if items and isinstance(items[-1], str):
                items[-1] += p
            else:
                items.append(p)
        elif isinstance(p, MultiModalPromptMessageContent):
            items.append(p)
    return [TextPromptMessageContent(data=i) if isinstance(i, str) else i for i in items]


def to_result(model: str, chunks: Sequence[LLMResultChunk], collected: Sequence[Any] = ()) -> LLMResult:
    """A blocking answer: the pieces an assembler ``collected`` and the assembled chunks as one
    ``LLMResult`` (text and content items joined in order, the final chunk's tool calls, usage and
    ``opaque_body``)."""
    final = chunks[-1]
    pieces: list[Any] = list(collected)
    for c in chunks:
        content = c.delta.message.content
        pieces.extend([content] if isinstance(content, str) else (content or []))
    message = AssistantPromptMessage(content=message_content(pieces), tool_calls=final.delta.message.tool_calls)
    message.opaque_body = final.delta.message.opaque_body
    return LLMResult(model=model, prompt_messages=[], message=message, usage=final.delta.usage)
