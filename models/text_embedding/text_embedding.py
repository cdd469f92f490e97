"""GigaChat text embeddings for Dify: a thin adapter; every GigaChat rule lives in gigachat_dify/embeddings/.

Exactly one AIModel subclass lives in this module (the SDK registers every one it can see).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from dify_plugin import TextEmbeddingModel
from dify_plugin.entities import I18nObject
from dify_plugin.entities.model import (
    AIModelEntity,
    EmbeddingInputType,
    FetchFrom,
    ModelPropertyKey,
    ModelType,
    PriceType,
)
from dify_plugin.entities.model.text_embedding import EmbeddingUsage, TextEmbeddingResult

# Only dify_plugin above: dify_plugin imports this module at start to register the class, so what
# it imports is paid by every start. gigachat_dify and the SDK behind it load on the first request
# that needs them (tests/unit/test_startup.py keeps it so).


class GigaChatTextEmbeddingModel(TextEmbeddingModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        texts: list[str],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> TextEmbeddingResult:
        from gigachat_dify.embeddings import answer, invocation
        from gigachat_dify.errors import to_invoke_error

        try:
            embedded = invocation.embed(model, credentials, texts, input_type)
            usage = self._usage(model, credentials, embedded.prompt_tokens)
            return answer.deliver(model, embedded.block, usage)  # writes Dify's line itself
        except Exception as exc:
            raise to_invoke_error(exc) from None

    def get_num_tokens(self, model: str, credentials: dict, texts: list[str]) -> list[int]:
        """Local estimate, no network (Dify asks only with PLUGIN_BASED_TOKEN_COUNTING_ENABLED)."""
        from gigachat_dify.embeddings.planning import count_tokens

        return count_tokens(texts)

    def validate_credentials(self, model: str, credentials: Mapping) -> None:
        """A customizable model: its form values, then GigaChat's free model list (a paid call
        only when the list does not name the model)."""
        from gigachat_dify.connection.validation import validate_model
        from gigachat_dify.embeddings import invocation
        from gigachat_dify.errors import to_credentials_error

        try:
            invocation.check_form(model, credentials)
            validate_model(dict(credentials), model, "text-embedding")
        except Exception as exc:
            raise to_credentials_error(exc) from None

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity | None:
        from gigachat_dify.embeddings import invocation

        context, chunks = invocation.schema_properties(model, credentials)
        return AIModelEntity(
            model=model,
            label=I18nObject(en_US=model, zh_Hans=model),
            model_type=ModelType.TEXT_EMBEDDING,
            fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
            model_properties={ModelPropertyKey.CONTEXT_SIZE: context, ModelPropertyKey.MAX_CHUNKS: chunks},
            parameter_rules=[],
        )

    @property
    def _invoke_error_mapping(self):
        from gigachat_dify.errors import INVOKE_ERROR_MAPPING

        return INVOKE_ERROR_MAPPING

    def _transform_invoke_error(self, error: Exception):
        from gigachat_dify.errors import transform_invoke_error

        return transform_invoke_error(error, context="embeddings")

    def _usage(self, model: str, credentials: dict, tokens: int) -> EmbeddingUsage:
        price = self.get_price(model=model, credentials=credentials, price_type=PriceType.INPUT, tokens=tokens)
        return EmbeddingUsage(
            tokens=tokens,
            total_tokens=tokens,
            unit_price=price.unit_price,
            price_unit=price.unit,
            total_price=price.total_amount,
            currency=price.currency,
            latency=time.perf_counter() - self.started_at if self.started_at else 0.0,
        )
