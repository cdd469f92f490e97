import logging

from dify_plugin import ModelProvider
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.errors import to_credentials_error
from gigachat_dify.connection.validation import validate_provider

logger = logging.getLogger(__name__)


class GigaChatProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        """Get one OAuth token and list models; never a paid chat or embedding call."""
        try:
            validate_provider(credentials)
        except CredentialsValidateFailedError:
            raise
        except Exception as exc:
            logger.exception("provider validation failed unexpectedly")
            raise to_credentials_error(exc) from None
