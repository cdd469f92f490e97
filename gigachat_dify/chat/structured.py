"""Structured output on every chat model: natively where GigaChat accepts the schema, by the plugin's
own instruction where it refuses it, and the answer always checked against the schema.

Whether GigaChat takes ``response_format: json_schema`` depends on the host, the account and the
model (GIGACHAT_API.md), so it is learnt, not configured:

1. native: the request as built (``response_format`` with the schema, ``strict``);
2. when GigaChat refuses it before any answer (``failures.refusal``: an answer naming the schema,
   or a 400/422 naming nothing else the request asked for; never a refused tool, reasoning or
   model, which an answer without the schema would only meet again), the same invocation goes on with the
   plugin's instruction and the schema in the system prompt, without ``response_format``; if that
   call is accepted the refusal is remembered for (base URL, model, credentials) for
   ``REFUSAL_TTL`` seconds, so later requests skip the refused call (a refusal the fallback shares
   is the request's own fault: it is raised, not remembered);
3. every answer is checked (``json_answers.check``: JSON found in the text, values converted to
   the declared types, jsonschema); one that does not match gets one repair call (the answer and
   what is wrong with it); if that does not match either, the invocation fails with an
   ``InvokeBadRequestError`` saying what did not match and what to do.

Why an error and not "the best answer": Dify parses the answer with json_repair and never checks
it against the schema, so a wrong answer would flow silently into the workflow's variables; an
error is visible, names the problem, and triggers the node's own retry or fail branch.

Streams: native answers stream as they come (the API's strict mode is the guarantee) and are
checked at the end; a fallback answer is held until it is checked, then sent. The answer is the
JSON alone (reasoning is not shown in it: Dify parses the whole text).

The refusal memory is keyed by credentials too: availability depends on the account, and one
workspace's refusal must not move another workspace (whose account may have the feature) off the
native path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta, LLMUsage
from dify_plugin.entities.model.message import AssistantPromptMessage
from dify_plugin.errors.model import InvokeBadRequestError

from gigachat_dify.chat import invocation
from gigachat_dify.chat.assembly import TokenUsage, to_result, usage_report
from gigachat_dify.chat.json_answers import Spec, Verdict, check
from gigachat_dify import failures
from gigachat_dify.memory import Memory

logger = logging.getLogger(__name__)

__all__ = ["REFUSALS", "complete", "stream"]

#: How long a refusal is remembered: an account may be given the feature later.
REFUSAL_TTL = 3600.0
#: Refusals remembered at most (least recently confirmed dropped first).
MAX_REFUSALS = 1024
#: Characters per chunk when a held answer is sent.
CHUNK_CHARS = 16384


#: (base URL, model, credentials fingerprint) -> True: GigaChat refused native structured output.
REFUSALS: Memory[tuple[str, str, str], bool] = Memory(MAX_REFUSALS, REFUSAL_TTL)


def _key(request: invocation.ChatRequest) -> tuple[str, str, str]:
    return request.settings.base_url, request.model, request.settings.fingerprint


def _is_refusal(request: invocation.ChatRequest, exc: BaseException) -> bool:
    """The schema may be what GigaChat refused (THE classifier decides): answer without it."""
    refused = failures.refusal(exc, request.asked)
    return refused is not None and failures.Feature.STRUCTURED_OUTPUT in refused


@dataclass
class _Answer:
    text: str
    tool_calls: list
    usage: TokenUsage | None
    finish_reason: str | None  # GigaChat's
    response_model: str | None
    files: list = field(default_factory=list)  # content items beside the text (generated images)


@dataclass
class _Tally:
    """What every call of the invocation cost, reported once at the end."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    response_model: str | None = None
    calls: list[str] = field(default_factory=list)

    def add(self, answer: _Answer, path: str) -> _Answer:
        u = answer.usage or TokenUsage()
        self.prompt, self.completion, self.cached = self.prompt + u.prompt, self.completion + u.completion, self.cached + u.cached
        self.response_model = answer.response_model or self.response_model
        self.calls.append(path)
        return answer

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(self.prompt, self.completion, self.cached)


def _answer(asm, pieces: list[LLMResultChunk]) -> _Answer:
    chunks = [*pieces, asm.finish(LLMUsage.empty_usage())]
    text = "".join(c.delta.message.get_text_content() for c in chunks)
    failure = asm.failure(text)  # a filtered or failed end is no answer to check against the schema
    if failure is not None:
        raise failure
    return _Answer(text, list(chunks[-1].delta.message.tool_calls), asm.usage, asm.gigachat_finish_reason,
                   asm.response_model, _files(chunks))


def _files(chunks: Sequence[LLMResultChunk]) -> list:
    """The content items of these chunks that are not text (generated images)."""
    return [item for c in chunks if not isinstance(c.delta.message.content, str)
            for item in c.delta.message.content if getattr(item, "type", None) != "text"]


def _blocking_attempt(request, messages: Sequence | None, params: dict | None) -> _Answer:
    asm = invocation.assembler(request, data=True)
    return _answer(asm, asm.feed_response(invocation.send(request, messages, params)))


def _held_stream_attempt(request, messages: Sequence | None, params: dict | None) -> _Answer:
    asm = invocation.assembler(request, data=True)
    pieces: list[LLMResultChunk] = []
    for chunk in invocation.chunks(request, messages, params):
        pieces += asm.feed(chunk)
        if asm.stopped_by_stop_word:
            break
    return _answer(asm, pieces)


def _cut_error(request, answer: _Answer) -> InvokeBadRequestError | None:
    if answer.finish_reason != "length":
        return None
    limit = request.model_parameters.get("max_tokens")
    at = f" of {limit} tokens" if limit else ""
    return InvokeBadRequestError(
        f"The structured answer was cut off at the output limit{at} before its JSON was complete. "
        "Raise 'Max tokens' for this model (or ask for less), and retry."
    )


def _mismatch_error(verdict: Verdict, repaired: bool) -> InvokeBadRequestError:
    what = "did not match the JSON Schema" if verdict.found_json else "contained no JSON"
    after = " even after one repair attempt" if repaired else ""
    return InvokeBadRequestError(
        f"GigaChat's structured answer {what}{after} ({verdict.problem}). Simplify the schema or describe "
        "the expected fields in the prompt, or use a model and account that GigaChat offers structured output "
        "natively to (documented at api.giga.chat)."
    )


def _settle(request, spec: Spec, tally: _Tally, attempt, answer: _Answer, messages: Sequence, params,
            path: str) -> tuple[_Answer, Verdict | None]:
    """The answer, or its one repair, that matches the schema (tool calls pass as they are)."""
    if answer.tool_calls:
        return answer, None
    verdict = check(answer.text, spec.schema)
    if verdict.ok:
        return answer, verdict
    error = _cut_error(request, answer)
    if error:
        raise error
    logger.info("structured answer (%s) does not match the schema (%s); one repair call", path, verdict.problem)
    repair = tally.add(attempt(request, spec.repaired(messages, answer.text, verdict.problem), params), path + "+repair")
    if repair.tool_calls:
        return repair, None
    second = check(repair.text, spec.schema)
    if second.ok:
        return repair, second
    raise _cut_error(request, repair) or _mismatch_error(second, repaired=True)


def _fallback(request, spec: Spec, tally: _Tally, attempt, refusal):
    """The instructed call (and its repair) when native structured output is refused or known refused."""
    messages, params = spec.instructed(request.prompt_messages), spec.without_schema(request.model_parameters)
    answer = tally.add(attempt(request, messages, params), "fallback")  # a refusal shared by this call is raised
    if refusal is not None:
        REFUSALS.learn(_key(request), True)
        logger.info("GigaChat refuses native structured output for %s on this host and account (%s); "
                    "using the plugin's instruction for the next %d s", request.model,
                    failures.api_message(refusal),
                    int(REFUSALS.ttl))
    return _settle(request, spec, tally, attempt, answer, messages, params, "fallback")


def _chunk(request, index: int, content: str | list, **delta) -> LLMResultChunk:
    message = AssistantPromptMessage(content=content, tool_calls=delta.pop("tool_calls", None) or [])
    return LLMResultChunk(model=request.model, prompt_messages=[],
                          delta=LLMResultChunkDelta(index=index, message=message, **delta))


def _output(request, answer: _Answer, verdict: Verdict | None, tally: _Tally, price) -> list[LLMResultChunk]:
    """The checked answer as Dify chunks: its images (one a chunk), its JSON (canonical, in pieces),
    then the final chunk."""
    text = verdict.text() if verdict is not None else answer.text
    pieces = [[item] for item in answer.files]
    pieces += [text[start:start + CHUNK_CHARS] for start in range(0, len(text), CHUNK_CHARS)]
    out = [_chunk(request, i, piece) for i, piece in enumerate(pieces)]
    last = _chunk(request, len(out), "", tool_calls=answer.tool_calls,
                  finish_reason="tool_calls" if answer.tool_calls else "stop", usage=price(tally.usage))
    last.delta.message.opaque_body = usage_report(tally.usage, tally.response_model)
    logger.info("structured output via %s", " -> ".join(tally.calls))
    return [*out, last]


def complete(request: invocation.ChatRequest, spec: Spec, price: invocation.Price) -> LLMResult:
    tally, refusal = _Tally(), None
    if not REFUSALS.get(_key(request)):
        try:
            answer = tally.add(_blocking_attempt(request, None, None), "native")
        except Exception as exc:
            if not _is_refusal(request, exc):
                raise
            refusal = exc
        else:
            answer, verdict = _settle(request, spec, tally, _blocking_attempt, answer, request.prompt_messages,
                                      None, "native")
            return to_result(request.model, _output(request, answer, verdict, tally, price))
    answer, verdict = _fallback(request, spec, tally, _blocking_attempt, refusal)
    return to_result(request.model, _output(request, answer, verdict, tally, price))


def stream(request: invocation.ChatRequest, spec: Spec, price: invocation.Price) -> Iterator[LLMResultChunk]:
    tally, refusal = _Tally(), None
    if not REFUSALS.get(_key(request)):
        asm = invocation.assembler(request, data=True)
        shown: list[str] = []
        try:
            for chunk in invocation.chunks(request):
                for piece in asm.feed(chunk):
                    shown.append(piece.delta.message.get_text_content())  # an image chunk's content is a list
                    yield piece
                if asm.stopped_by_stop_word:
                    break
        except Exception as exc:
            if shown or not _is_refusal(request, exc):
                raise
            refusal = exc
        else:
            # Streamed as it came: checked at the end, when nothing shown can be taken back.
            failure = asm.failure()
            if failure is not None:
                raise failure
            last = invocation.final(asm, price)
            answer = _Answer("".join(shown) + last.delta.message.get_text_content(), list(last.delta.message.tool_calls),
                             asm.usage, asm.gigachat_finish_reason, asm.response_model)
            if not answer.tool_calls:
                verdict = check(answer.text, spec.schema)
                if not verdict.ok:
                    raise _cut_error(request, answer) or _mismatch_error(verdict, repaired=False)
            yield last
            return
    answer, verdict = _fallback(request, spec, tally, _held_stream_attempt, refusal)
    yield from _output(request, answer, verdict, tally, price)
