from dify_plugin import ModelProvider

# Only dify_plugin here: dify_plugin imports this module at start; gigachat_dify and the SDK behind
# it load on the first validation (tests/unit/test_startup.py keeps it so).


class GigaChatProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        """Get a token (where the mode has one) and list models; never a paid chat or embedding call."""
        from gigachat_dify.connection.validation import validate_provider
        from gigachat_dify.errors import to_credentials_error

        try:
            validate_provider(credentials)
        except Exception as exc:
            # The error table logs an unexpected cause itself, redacted (never a raw traceback here).
            raise to_credentials_error(exc) from None
