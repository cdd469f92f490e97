"""The endpoints: each a function of one request (`Call`) and the emulator's `State`, returning a
reply or raising ApiError. They run after api.py has routed, authorised, limited and faulted the
request; chat goes through the one flow of chat_flow.py."""

from __future__ import annotations

import math
from typing import Callable

from emulator import catalog, chat, chat_flow, embeddings, files, oauth, v2
from emulator.call import Call, model_request, read_json
from emulator.errors import NO_SUCH_MODEL, ApiError
from emulator.state import State
from emulator.wire import Reply, Response, error_response, json_response

Endpoint = Callable[..., Reply]


# ---- auth (no bearer token) -------------------------------------------------------------------------


def oauth_token(call: Call, state: State) -> Reply:
    owner = oauth.client_id(call.headers.get("Authorization"))
    wait = state.oauth_limit.admit(owner)
    if wait is not None:
        return json_response(429, oauth.RATE_LIMITED_BODY, {"Retry-After": str(max(1, math.ceil(wait)))})
    form = call.record.form or {}
    try:
        scope = oauth.check_oauth(call.headers.get("RqUID"), call.headers.get("Authorization"), form.get("scope"),
                                  state.keys)
    except oauth.OAuthError as e:
        return json_response(e.status, e.body())
    token, expires_at = state.issue_token(scope, owner)
    return json_response(200, oauth.token_body(state.oauth_shape, token, expires_at))


def user_token(call: Call, state: State) -> Reply:
    user = oauth.check_user_password(call.headers.get("Authorization"), state.users)
    if user is None:
        return error_response(401, "Unauthorized", call.x_headers())
    token, expires_at = state.issue_token(None, user)
    # exp in seconds, as the OAuth endpoint's tok/exp answer (inferred: no /token recording)
    return json_response(200, oauth.token_body("tok", token, expires_at), call.x_headers())


# ---- API endpoints -------------------------------------------------------------------------------------


def chat_v1(call: Call, state: State) -> Reply:
    return chat_flow.run(call, state, chat)


def chat_v2(call: Call, state: State) -> Reply:
    return chat_flow.run(call, state, v2)


def embeddings_endpoint(call: Call, state: State) -> Reply:
    return Response(200, embeddings.embeddings_json(read_json(call)))


def tokens_count(call: Call, state: State) -> Reply:
    return json_response(200, embeddings.tokens_count(model_request(call)))


def models(call: Call, state: State) -> Reply:
    return json_response(200, call.dialect.models_list(call.plan))


def model(call: Call, state: State, model_id: str) -> Reply:
    if model_id not in catalog.MODEL_TYPES or not call.dialect.offers_model(model_id, call.plan):
        raise ApiError(404, NO_SUCH_MODEL)
    return json_response(200, catalog.model_entry(model_id))


def upload(call: Call, state: State) -> Reply:
    parts = files.parse_multipart(call.headers.get("Content-Type", ""), call.body)
    file_part = next((p for p in parts if p.name == "file"), None)
    if file_part is None:
        raise ApiError(400, "Invalid params: file is required")
    purpose_part = next((p for p in parts if p.name == "purpose"), None)
    purpose = purpose_part.data.decode("utf-8", "replace") if purpose_part else "general"
    filename = file_part.filename or "file"
    mime = files.resolve_mime(filename, file_part.content_type)
    files.check_upload(filename, mime, len(file_part.data), purpose)
    file_id = state.files.add(filename, file_part.data, purpose, mime)
    return json_response(200, call.dialect.describe_upload(state.files.describe(file_id), mime))


def list_files(call: Call, state: State) -> Reply:
    return json_response(200, state.files.listing())


def _known_file(state: State, file_id: str) -> files.StoredFile:
    stored = state.files.get(file_id)
    if stored is None:
        raise ApiError(404, "File not found")
    return stored


def get_file(call: Call, state: State, file_id: str) -> Reply:
    _known_file(state, file_id)
    return json_response(200, state.files.describe(file_id))


def delete_file(call: Call, state: State, file_id: str) -> Reply:
    _known_file(state, file_id)
    state.files.delete(file_id)
    return json_response(200, {"id": file_id, "object": "file", "deleted": True})


def file_content(call: Call, state: State, file_id: str) -> Reply:
    stored = _known_file(state, file_id)
    return Response(200, stored.data, stored.mime)


BALANCE = [("embeddings", 9_999_967), ("GigaChat-Pro", 991_490), ("GigaChat-Max", 50_000), ("GigaChat", 900_000)]


def balance(call: Call, state: State) -> Reply:
    # Postpaid (CORP) accounts have no balance: the SDK documents 403 for them.
    if call.account is not None and call.account.scope == "GIGACHAT_API_CORP":
        raise ApiError(403, "Forbidden")
    return json_response(200, {"balance": [{"usage": usage, "value": value} for usage, value in BALANCE]})


#: The API endpoints by route name (api.py's routes name them). A test or benchmark may replace one
#: on its emulator's `emu._api.endpoints` (bench/embeddings.py pre-encodes embeddings this way).
API_ENDPOINTS: dict[str, Endpoint] = {
    "chat": chat_v1,
    "chat_v2": chat_v2,
    "embeddings": embeddings_endpoint,
    "tokens_count": tokens_count,
    "models": models,
    "model": model,
    "upload": upload,
    "list_files": list_files,
    "get_file": get_file,
    "delete_file": delete_file,
    "file_content": file_content,
    "balance": balance,
}
