from dify_plugin import ModelProvider

from gigachat_dify.connection.validation import validate_provider
from gigachat_dify.errors import to_credentials_error


class GigaChatProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        """Get a token (where the mode has one) and list models; never a paid chat or embedding call."""
        try:
            validate_provider(credentials)
        except Exception as exc:
            # The error table logs an unexpected cause itself, redacted (never a raw traceback here).
            raise to_credentials_error(exc) from None
