"""v1 blocking chat (``client.chat(payload)``) with the payload the plugin built sent as it is.

The SDK reads a payload dict into its ``Chat`` model and dumps it back to JSON: its settings'
defaults added (``model``, ``profanity_check``, ``flags``), ``additional_fields`` merged, None
left out. The plugin's payloads (``chat/v1/call.py``) are the API's JSON already, so ``body``
gives the SDK's result without that round trip, which every blocking answer paid
(tests/unit/test_v1_body.py compares the two over the payloads the plugin builds). ``PlainChat``
sends it with the SDK's own headers, URL, authentication and errors, and ``answer`` reads the reply
into the SDK's model from its bytes; v2's blocking answer (``client.chat.create``, request as the
SDK builds it) is read by ``answer`` too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import httpx
from gigachat import client as sdk_client
from gigachat.api import chat_completions as v2_api
from gigachat.api import utils as sdk_utils
from gigachat.authentication import _with_auth
from gigachat.context import chat_url_cvar
from gigachat.models.chat import ChatCompletion
from gigachat.models.chat_completions import ChatCompletionResponse
from gigachat.settings import Settings

from gigachat_dify.connection import answer_json

Answer = TypeVar("Answer", ChatCompletion, ChatCompletionResponse)

#: The SDK writes the body with json.dumps(..., ensure_ascii=False): the same output, one encoder.
_JSON = json.JSONEncoder(ensure_ascii=False).encode


def body(payload: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The JSON body the SDK's ``chat`` sends for ``payload`` (a v1 request without ``storage``)."""
    out = {k: v for k, v in payload.items() if v is not None and k not in ("additional_fields", "stream")}
    out["model"] = sdk_client._resolve_model(out.get("model"), settings)
    if "profanity_check" not in out and settings.profanity_check is not None:
        out["profanity_check"] = settings.profanity_check
    if "flags" not in out and settings.flags is not None:
        out["flags"] = settings.flags
    fields = payload.get("additional_fields")
    return {**fields, **out} if fields else out


class PlainChat:
    """Mixed in before the SDK's ``GigaChat``: its v1 ``chat`` for the plugin's payload dicts. Its
    retry is left out, as ``EventStreams`` leaves it out (``max_retries=0``: ``retry.py`` decides)."""

    @_with_auth
    def _chat_create(self, payload: Any) -> ChatCompletionResponse:
        # v2's blocking answer (``client.chat.create``): the SDK's request, the answer read as ``answer`` reads
        # v1's (the SDK's ``response.json()`` let lone surrogates through to Dify's writer, and failed
        # past Python's nesting limit with a RecursionError).
        chat = sdk_client._parse_chat_completion(payload, self._settings)
        request = v2_api._get_chat_kwargs(self._client, chat=chat, access_token=self.token)
        return answer(self._client.request(**request), ChatCompletionResponse)

    @_with_auth
    def _chat(self, payload: Mapping[str, Any]) -> ChatCompletion:
        headers = sdk_utils.build_headers(self.token)
        headers["Content-Type"] = "application/json"
        request = {"method": "POST", "url": sdk_utils.resolve_request_url(self._client, chat_url_cvar.get()),
                   "content": _JSON(body(payload, self._settings)), "headers": headers}
        return answer(self._client.request(**request))


def answer(response: httpx.Response, model: type[Answer] = ChatCompletion) -> Answer:
    """The SDK's ``build_response`` for a chat answer (v1's, or v2's ``model``), read straight from
    its bytes: the same model (tests/unit/test_v1_body.py compares them over the recorded answers),
    without a dict between."""
    if response.status_code != HTTPStatus.OK:
        sdk_utils._raise_for_status(response.url, response.status_code, response.content, response.headers)
    try:
        completion = model.model_validate_json(response.content)
    except ValueError as refused:  # valid JSON the fast reading refuses (answer_json): read again
        completion = _reread(response.content, model, refused)
    completion.x_headers = sdk_utils.build_x_headers(response)
    return completion


def _reread(content: bytes, model: type[Answer], refused: ValueError) -> Answer:
    try:
        value = answer_json.reread(content)
    except ValueError:
        raise refused from None
    try:
        return model.model_validate(answer_json.well_formed(value))
    except ValueError:
        raise refused from None
