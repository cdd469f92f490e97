"""THE customizable-model form's shared rules (provider/gigachat.yaml's model_credential_schema: one
form for chat and embedding models): the field both kinds read, and how validation refuses the form.

Each kind reads its own fields (``chat/custom_models.py``, ``embeddings/config.py``) through
``form.py``; a value they cannot use raises ``form.FormValueError`` naming the field by its label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify import form

CONTEXT_SIZE_LABEL = "Context size (tokens)"


def context_size(credentials: Mapping[str, Any], default: int, most: int) -> int:
    """The 'Context size (tokens)' field: a whole number from 1 to ``most`` (default when blank)."""
    return form.whole_number(credentials.get("context_size"), CONTEXT_SIZE_LABEL, default, 1, most)


class Problems:
    """What a form read found unusable, every field of it: a value that cannot be read gives its
    default and its message, and `raise_any` refuses them together (the administrator fixes the
    form once, not field by field)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, message: str) -> None:
        """A problem found across fields (each readable on its own)."""
        self.found.append(message)

    def read(self, parse: Callable[[], Any], default: Any) -> Any:
        try:
            return parse()
        except form.FormValueError as exc:
            self.add(str(exc))
            return default

    def raise_any(self) -> None:
        if self.found:
            raise form.FormValueError(" ".join(self.found))


def check(read: Callable[[], object]) -> None:
    """Validation of a model's form, before any request (it costs nothing): what ``read`` finds
    unusable refuses the credentials with its message. Building the schema stays lenient (an
    already saved form must not hide the model), so validation is where the administrator hears."""
    try:
        read()
    except form.FormValueError as exc:
        raise CredentialsValidateFailedError(str(exc)) from None
