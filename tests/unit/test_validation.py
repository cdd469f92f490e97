"""connection/validation.py: a customizable model is refused at validation when no invocation of it
could succeed, before any request."""

import pytest
from dify_plugin.errors.model import CredentialsValidateFailedError

from gigachat_dify.connection.validation import validate_model


@pytest.mark.parametrize(("model", "model_type"), [(" GigaChat-2-Max ", "llm"), ("Embeddings ", "text-embedding"),
                                                   ("\tGigaChat-2", "llm")])
def test_a_model_name_with_spaces_around_it_is_refused_saying_to_remove_them(model, model_type):
    with pytest.raises(CredentialsValidateFailedError) as exc:
        validate_model({}, model, model_type)  # no key: refused before the form or any request is read
    assert str(exc.value) == (f"The model name '{model}' has spaces around it: remove them and add the model as "
                              f"'{model.strip()}' (GigaChat knows a model only by its exact name).")
