"""OAuth (POST /api/v2/oauth) and on-premise user/password (POST {base}/token) checks. Pure.

Error statuses and bodies follow the public error page of the API: 400 for a missing RqUID,
code 5 "scope is empty", code 1 "scope data format invalid" and code 7 "scope from db not fully
includes consumed scope" (listed under 400); 401 for code 4 "Can't decode 'Authorization' header"
and code 6 "credentials doesn't match db data".
"""

from __future__ import annotations

import base64
import binascii
import re

SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")
DEFAULT_SCOPE = "GIGACHAT_API_PERS"

# The docs give RqUID's pattern as 36 characters of hex digits and dashes (a uuid4).
_RQUID = re.compile(r"^[0-9a-fA-F-]{36}$")


def make_key(client_id: str, client_secret: str) -> str:
    """An authorization key as the GigaChat console shows it: base64("client_id:client_secret")."""
    return base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


DEFAULT_KEY = make_key("0a1b2c3d-0000-4000-8000-000000000001", "5e6f7a8b-0000-4000-8000-0000000000a1")
B2B_KEY = make_key("0a1b2c3d-0000-4000-8000-000000000002", "5e6f7a8b-0000-4000-8000-0000000000a2")
CORP_KEY = make_key("0a1b2c3d-0000-4000-8000-000000000003", "5e6f7a8b-0000-4000-8000-0000000000a3")
# A personal account on a paid plan (DEFAULT_KEY's is freemium): Emulator.paid_accounts holds its
# client id.
PAID_CLIENT_ID = "0a1b2c3d-0000-4000-8000-000000000004"
PAID_KEY = make_key(PAID_CLIENT_ID, "5e6f7a8b-0000-4000-8000-0000000000a4")
DEFAULT_KEYS: dict[str, set[str]] = {
    DEFAULT_KEY: {"GIGACHAT_API_PERS"},
    B2B_KEY: {"GIGACHAT_API_B2B"},
    CORP_KEY: {"GIGACHAT_API_CORP"},
    PAID_KEY: {"GIGACHAT_API_PERS"},
}


# Answer shapes of a successful token request. "access_token": the documented and January 2026
# recorded {"access_token", "expires_at": <unix ms>}. "tok": {"tok", "exp": <unix SECONDS>},
# recorded by the OAuth endpoint in June 2026: the cassettes' redacted tokens carry
# "expires_at": 4102444800000 and "exp": 4102444800, the same instant (2100-01-01), so exp counts
# seconds. (SDK 0.2.3 reads exp as milliseconds, so it sees such a token as long expired.)
TOKEN_SHAPES = ("access_token", "tok")

# Token requests per second the OAuth service accepts (GIGACHAT_API.md), counted here per client
# id of the authorization key (an assumption: the docs do not say per what).
OAUTH_REQUESTS_PER_SECOND = 10
# Body of the 429 beyond that limit. The service's errors are {"code", "message"}; no recording
# shows this one, so the code repeats the HTTP status (the known codes 1-7 are validation errors)
# and the message is the API's own 429 wording.
RATE_LIMITED_BODY = {"code": 429, "message": "Too many requests"}


def token_body(shape: str, token: str, expires_at_ms: int) -> dict:
    if shape == "tok":
        return {"tok": token, "exp": expires_at_ms // 1000}
    return {"access_token": token, "expires_at": expires_at_ms}


class OAuthError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(f"{status} code {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


def _credentials(authorization: str | None) -> str | None:
    """The key from "Basic <key>" (the SDK) or "Bearer <key>" (the docs' curl example)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() not in ("basic", "bearer") or not value.strip():
        return None
    return value.strip()


def client_id(authorization: str | None) -> str | None:
    """The client id of the key in an OAuth Authorization header, None if it is not a key."""
    pair = decode_key(_credentials(authorization) or "")
    return pair[0] if pair else None


def decode_key(key: str) -> tuple[str, str] | None:
    """(client_id, secret) of a base64 "id:secret" key, or None when it is not one."""
    try:
        raw = base64.b64decode(key, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = raw.partition(":")
    if not sep or not client_id or not secret:
        return None
    return client_id, secret


def check_oauth(rquid: str | None, authorization: str | None, scope: str | None, keys: dict[str, set[str]]) -> str:
    """The granted scope, or OAuthError."""
    if not rquid or not _RQUID.match(rquid.strip()):
        # Unverified body: the docs name the cause (no RqUID / not a uuid4) but show no code.
        raise OAuthError(400, 3, "RqUID header is missing or is not a uuid4")
    key = _credentials(authorization)
    if key is None or decode_key(key) is None:
        raise OAuthError(401, 4, "Can't decode 'Authorization' header")
    if not scope or not scope.strip():
        raise OAuthError(400, 5, "scope is empty")
    scope = scope.strip()
    if scope not in SCOPES:
        raise OAuthError(400, 1, "scope data format invalid")
    if key not in keys:
        raise OAuthError(401, 6, "credentials doesn't match db data")
    if scope not in keys[key]:
        raise OAuthError(400, 7, "scope from db not fully includes consumed scope")
    return scope


def check_user_password(authorization: str | None, users: dict[str, str]) -> str | None:
    """The user name if `authorization` is HTTP Basic with a known user and its password."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    pair = decode_key(value.strip())
    if pair is None:
        return None
    user, password = pair
    return user if users.get(user) == password else None
