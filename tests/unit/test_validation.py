"""connection/validation.py: a customizable model is refused at validation when no invocation of it
could succeed, before any request."""

import httpx
import pytest
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.validation import BASE_URL, _reason, validate_model


@pytest.mark.parametrize(("model", "model_type"), [(" GigaChat-2-Max ", "llm"), ("Embeddings ", "text-embedding"),
                                                   ("\tGigaChat-2", "llm")])
def test_a_model_name_with_spaces_around_it_is_refused_saying_to_remove_them(model, model_type):
    with pytest.raises(CredentialsValidateFailedError) as exc:
        validate_model({}, model, model_type)  # no key: refused before the form or any request is read
    assert str(exc.value) == (f"The model name '{model}' has spaces around it: remove them and add the model as "
                              f"'{model.strip()}' (GigaChat knows a model only by its exact name).")


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("late"), httpx.ConnectError("refused"),
                                     httpx.RemoteProtocolError("peer closed connection")])
def test_a_failed_steps_message_begins_with_its_field_as_a_sentence_does(failure):
    # The field's label is lowered to be quoted mid-sentence ("The TLS certificate of the 'Base URL'"):
    # where the message begins with it, it begins with a capital again.
    message = _reason(failure, BASE_URL, "https://gateway.local/api/v1", "is not a GigaChat API.", None)
    assert "'Base URL' (https://gateway.local/api/v1)" in message and message[0].isupper(), message
