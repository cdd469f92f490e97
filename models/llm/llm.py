"""Dify's LLM interface for GigaChat: thin; every GigaChat rule lives in gigachat_dify/."""

import functools
import logging
import time
import types
from collections.abc import Generator
from decimal import Decimal

from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model import AIModelEntity, ModelPropertyKey
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMUsage
from dify_plugin.entities.model.message import PromptMessage, PromptMessageTool
from dify_plugin.errors.model import InvokeBadRequestError

# Only dify_plugin above: dify_plugin imports this module at start to register the class, so what
# it imports is paid by every start. gigachat_dify and the SDK behind it load on the first request
# that needs them (tests/unit/test_startup.py keeps it so).

logger = logging.getLogger(__name__)

#: What dify_plugin's get_price gives a model without prices (tests/unit/test_llm_usage.py compares).
_NO_PRICE = Decimal("0.0")


@functools.cache
def _gigachat() -> types.SimpleNamespace:
    """What a chat request uses of gigachat_dify, imported by the first one (see above) and kept:
    import statements in ``_invoke`` would look every name up again on each request."""
    from dify_plugin import get_current_session

    from gigachat_dify import failures, protocol
    from gigachat_dify.chat import files, invocation, json_answers, structured
    from gigachat_dify.chat.assembly import TokenUsage
    from gigachat_dify.connection.credentials import parse_credentials
    from gigachat_dify.errors import to_invoke_error
    from gigachat_dify.tokens import context_overflow

    return types.SimpleNamespace(**locals())


def _conversation_id() -> str | None:
    try:
        session = _gigachat().get_current_session()
        return getattr(session, "conversation_id", None) if session else None
    except Exception:  # no session outside the runtime (tests call the class directly)
        return None


class GigaChatLargeLanguageModel(LargeLanguageModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        model_parameters: dict,
        tools: list[PromptMessageTool] | None = None,
        stop: list[str] | None = None,
        stream: bool = True,
        user: str | None = None,
    ) -> LLMResult | Generator[LLMResultChunk, None, None]:
        g = _gigachat()
        # What the request asked and who is asking word its errors (a refused tool names its switch,
        # refused credentials their mode's fields); known once parsed, so read when an error comes.
        asked, auth = g.failures.NOTHING_ASKED, None

        def error(exc: Exception):
            return g.to_invoke_error(exc, asked=asked, auth=auth)

        try:
            settings = g.parse_credentials(credentials)
            auth = settings.auth
            asked = g.invocation.asked(model, model_parameters)
            schema = self.get_model_schema(model, credentials)
            features = set(schema.features or []) if schema else set()
            context = (schema.model_properties or {}).get(ModelPropertyKey.CONTEXT_SIZE) if schema else None
            overflow = g.context_overflow(prompt_messages, tools, context)
            if overflow:
                raise InvokeBadRequestError(overflow)
            spec = g.json_answers.requested(model_parameters)
            request = g.invocation.prepare(
                model=model,
                settings=settings,
                prompt_messages=prompt_messages,
                model_parameters=model_parameters,
                tools=tools,
                stop=stop,
                stream=stream,
                accepts_files=g.files.accepted_kinds(features),
                conversation_id=_conversation_id(),
                asked_for=asked,
            )
        except Exception as exc:
            raise error(exc) from None

        def price(usage):
            usage = usage or g.TokenUsage()
            return self._calc_response_usage(model, credentials, usage.prompt, usage.completion)

        if stream:
            return self._stream(request, spec, price, error)
        try:
            result = g.structured.complete(request, spec, price) if spec else g.invocation.complete(request, price)
            return g.protocol.check_result(result)
        except Exception as exc:
            raise error(exc) from None

    def _stream(self, request, spec, price, error) -> Generator[LLMResultChunk, None, None]:
        g = _gigachat()
        # Errors raised while Dify consumes this generator are not mapped by the SDK: map them here.
        try:
            yield from g.protocol.fit_stream(g.structured.stream(request, spec, price) if spec
                                             else g.invocation.stream(request, price))
        except Exception as exc:
            raise error(exc) from None

    def get_num_tokens(self, model: str, credentials: dict, prompt_messages: list[PromptMessage],
                       tools: list[PromptMessageTool] | None = None) -> int:
        """A local estimate: Dify asks often and a network count per call would cost more than it is worth."""
        from gigachat_dify.tokens import estimate_prompt_tokens

        return estimate_prompt_tokens(prompt_messages, tools)

    def validate_credentials(self, model: str, credentials: dict) -> None:
        """A customizable model: its form values, then GigaChat's free model list must name it as a
        chat model (a 1-token paid chat only when the list does not name it)."""
        from gigachat_dify.chat.custom_models import check_form
        from gigachat_dify.connection.validation import validate_model
        from gigachat_dify.errors import to_credentials_error

        try:
            check_form(credentials)
            validate_model(credentials, model, "llm")
        except Exception as exc:
            raise to_credentials_error(exc) from None

    def _calc_response_usage(self, model: str, credentials: dict, prompt_tokens: int,
                             completion_tokens: int) -> LLMUsage:
        """dify_plugin's usage, without its two price lookups for a model that has no prices (no
        GigaChat model has: no public per-token price is published); every answer pays this."""
        schema = self.get_model_schema(model, credentials)
        if schema is not None and schema.pricing is not None:
            return super()._calc_response_usage(model, credentials, prompt_tokens, completion_tokens)
        return LLMUsage(prompt_tokens=prompt_tokens, prompt_unit_price=_NO_PRICE, prompt_price_unit=_NO_PRICE,
                        prompt_price=_NO_PRICE, completion_tokens=completion_tokens, completion_unit_price=_NO_PRICE,
                        completion_price_unit=_NO_PRICE, completion_price=_NO_PRICE,
                        total_tokens=prompt_tokens + completion_tokens, total_price=_NO_PRICE, currency="USD",
                        latency=time.perf_counter() - self.started_at)

    def _validate_and_filter_model_parameters(self, model: str, model_parameters: dict, credentials: dict) -> dict:
        """The SDK checks parameters before `_invoke`, outside its error mapping: its ValueError would
        reach Dify as a bare exception type instead of a bad request that says what to change."""
        try:
            return super()._validate_and_filter_model_parameters(model, model_parameters, credentials)
        except ValueError as exc:
            raise InvokeBadRequestError(f"{exc} Change it in the model's parameters.") from None

    def get_customizable_model_schema(self, model: str, credentials: dict) -> AIModelEntity | None:
        from gigachat_dify.chat.custom_models import llm_entity

        return llm_entity(model, credentials)

    @property
    def _invoke_error_mapping(self):
        from gigachat_dify.errors import INVOKE_ERROR_MAPPING

        return INVOKE_ERROR_MAPPING

    def _transform_invoke_error(self, error: Exception):
        from gigachat_dify.errors import transform_invoke_error

        return transform_invoke_error(error)
