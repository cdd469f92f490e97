"""GigaChat text embeddings for Dify: a thin adapter over gigachat_dify.embeddings.engine.

Exactly one AIModel subclass lives in this module (the SDK registers every one it can see).
"""

from __future__ import annotations

import logging
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
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from gigachat_dify.connection.clients import get_client
from gigachat_dify.connection.credentials import parse_credentials
from gigachat_dify.embeddings.engine import (
    DEFAULT_LIMIT_TOKENS,
    MAX_TEXTS_PER_INVOCATION,
    MAX_TEXTS_PER_REQUEST,
    RetryPolicy,
    apply_input_type,
    default_estimator,
    embed_texts,
    known_limit,
    parse_response,
    positive_int,
    resolve_config,
    shared_limiter,
)
from gigachat_dify.embeddings.http import embeddings as post_embeddings
from gigachat_dify.errors import INVOKE_ERROR_MAPPING, to_credentials_error, to_invoke_error, transform_invoke_error

logger = logging.getLogger(__name__)


class GigaChatTextEmbeddingModel(TextEmbeddingModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        texts: list[str],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> TextEmbeddingResult:
        try:
            settings = parse_credentials(credentials)
        except CredentialsValidateFailedError as exc:
            raise to_invoke_error(exc) from None  # the error table makes it an authorization error
        client = get_client(settings)
        config = resolve_config(model, credentials, settings.embedding_concurrency)
        prepared = apply_input_type(model, texts, input_type, config.query_prefix_override)
        outcome = embed_texts(
            # The SDK's request, decoded with orjson (gigachat_dify/embeddings_http.py).
            lambda batch: post_embeddings(client, batch, model),
            prepared,
            limit_tokens=config.limit_tokens,
            max_per_request=config.max_per_request,
            concurrency=config.concurrency,
            limiter=shared_limiter(client, config.concurrency),
            retry=RetryPolicy(max_transient_retries=settings.max_retries),  # the form's "Retries"
            context=f"model {model}",
        )
        return TextEmbeddingResult(
            model=model, embeddings=outcome.vectors, usage=self._usage(model, credentials, outcome.prompt_tokens)
        )

    def get_num_tokens(self, model: str, credentials: dict, texts: list[str]) -> list[int]:
        """Local estimate, no network (Dify asks only with PLUGIN_BASED_TOKEN_COUNTING_ENABLED)."""
        estimate = default_estimator()
        return [estimate(text) if text else 0 for text in texts]

    def validate_credentials(self, model: str, credentials: Mapping) -> None:
        """One tiny embedding call: the only way to know this key may use this embedding model."""
        credentials = dict(credentials)
        try:
            settings = parse_credentials(credentials)
            resolve_config(model, credentials, settings.embedding_concurrency)  # form values are sane
            response = get_client(settings).embeddings(["ping"], model=model)
            parse_response(response, 1)
        except CredentialsValidateFailedError:
            raise
        except InvokeError as exc:
            raise CredentialsValidateFailedError(str(exc)) from None
        except Exception as exc:
            logger.info("embedding model validation failed for %s: %s", model, type(exc).__name__)
            raise to_credentials_error(exc) from None

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity | None:
        try:
            context = positive_int(credentials.get("context_size"), "context_size", known_limit(model) or DEFAULT_LIMIT_TOKENS)
            chunks = min(positive_int(credentials.get("max_chunks"), "max_chunks", MAX_TEXTS_PER_REQUEST),
                         MAX_TEXTS_PER_INVOCATION)
        except InvokeError:
            context, chunks = known_limit(model) or DEFAULT_LIMIT_TOKENS, MAX_TEXTS_PER_REQUEST
        return AIModelEntity(
            model=model,
            label=I18nObject(en_US=model, zh_Hans=model),
            model_type=ModelType.TEXT_EMBEDDING,
            fetch_from=FetchFrom.CUSTOMIZABLE_MODEL,
            model_properties={ModelPropertyKey.CONTEXT_SIZE: context, ModelPropertyKey.MAX_CHUNKS: chunks},
            parameter_rules=[],
        )

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return INVOKE_ERROR_MAPPING

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
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
