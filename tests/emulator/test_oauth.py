import base64
import time

import httpx
import pytest

from emulator import B2B_KEY, CORP_KEY, DEFAULT_KEY, Emulator, make_key
from emulator.oauth import OAuthError, check_oauth, check_user_password, decode_key

from .conftest import SHARED_SSL, get_token

RQUID = "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e"
KEYS = {DEFAULT_KEY: {"GIGACHAT_API_PERS"}}


def oauth(emu, *, key=DEFAULT_KEY, scope="GIGACHAT_API_PERS", rquid=RQUID, scheme="Basic"):
    headers = {"RqUID": rquid} if rquid else {}
    if key is not None:
        headers["Authorization"] = f"{scheme} {key}"
    data = {"scope": scope} if scope is not None else {}
    return httpx.post(emu.auth_url, data=data, headers=headers, verify=SHARED_SSL)


@pytest.mark.parametrize(
    "kwargs,status,code,message",
    [
        ({"rquid": None}, 400, 3, "RqUID header is missing or is not a uuid4"),
        ({"rquid": "not-a-uuid"}, 400, 3, "RqUID header is missing or is not a uuid4"),
        ({"key": None}, 401, 4, "Can't decode 'Authorization' header"),
        ({"key": "%%%not base64%%%"}, 401, 4, "Can't decode 'Authorization' header"),
        ({"key": base64.b64encode(b"no-colon-here").decode()}, 401, 4, "Can't decode 'Authorization' header"),
        ({"scope": ""}, 400, 5, "scope is empty"),
        ({"scope": None}, 400, 5, "scope is empty"),
        ({"scope": "GIGACHAT_API_EVERYTHING"}, 400, 1, "scope data format invalid"),
        ({"key": make_key("someone", "else")}, 401, 6, "credentials doesn't match db data"),
        ({"scope": "GIGACHAT_API_CORP"}, 400, 7, "scope from db not fully includes consumed scope"),
    ],
)
def test_oauth_errors_have_the_documented_status_and_body(emu, kwargs, status, code, message):
    r = oauth(emu, **kwargs)
    assert r.status_code == status
    assert r.json() == {"code": code, "message": message}
    assert emu.stats.oauth_calls == 1 and emu.issued_tokens == []


def test_oauth_issues_a_token_that_lives_token_ttl(emu):
    before = time.time() * 1000
    r = oauth(emu)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "expires_at"}
    assert before + 1_790_000 < body["expires_at"] <= time.time() * 1000 + 1_800_000
    assert emu.issued_tokens == [body["access_token"]]
    assert len(body["access_token"]) > 500  # opaque and JWE-sized like the real ones


def test_each_key_gets_its_own_scope(emu):
    assert oauth(emu, key=B2B_KEY, scope="GIGACHAT_API_B2B").status_code == 200
    assert oauth(emu, key=CORP_KEY, scope="GIGACHAT_API_CORP").status_code == 200
    assert oauth(emu, key=B2B_KEY, scope="GIGACHAT_API_PERS").json()["code"] == 7


def test_bearer_scheme_is_accepted_for_the_key_as_in_the_docs(emu):
    assert oauth(emu, scheme="Bearer").status_code == 200


def test_custom_keys_replace_the_defaults():
    key = make_key("my-id", "my-secret")
    with Emulator(keys={key: {"GIGACHAT_API_B2B", "GIGACHAT_API_CORP"}}) as emu:
        assert oauth(emu, key=key, scope="GIGACHAT_API_CORP").status_code == 200
        assert oauth(emu, key=DEFAULT_KEY).json()["code"] == 6


def test_api_needs_a_valid_bearer(emu):
    base = httpx.Client(base_url=emu.base_url, verify=SHARED_SSL)
    assert base.get("/models").json() == {"status": 401, "message": "Unauthorized"}
    assert base.get("/models", headers={"Authorization": "Bearer made-up"}).status_code == 401
    assert base.get("/models", headers={"Authorization": f"Basic {DEFAULT_KEY}"}).status_code == 401
    token = get_token(emu)
    assert base.get("/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    emu.faults.expire_tokens()
    assert base.get("/models", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_expire_after_their_ttl():
    with Emulator(token_ttl_ms=150) as emu:
        token = get_token(emu)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 200
        time.sleep(0.2)
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 401


def test_token_endpoint_for_user_and_password():
    with Emulator(users={"bob": "pw:with:colons"}) as emu:
        ok = httpx.post(emu.base_url + "/token", auth=("bob", "pw:with:colons"), verify=SHARED_SSL)
        assert ok.status_code == 200 and set(ok.json()) == {"tok", "exp"}
        assert ok.json()["exp"] > time.time() * 1000  # milliseconds, as the SDK reads it
        bad = httpx.post(emu.base_url + "/token", auth=("bob", "nope"), verify=SHARED_SSL)
        assert bad.status_code == 401 and bad.json() == {"status": 401, "message": "Unauthorized"}
        headers = {"Authorization": f"Bearer {ok.json()['tok']}"}
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 200
        assert emu.stats.token_calls == 2


# ---- pure checks -----------------------------------------------------------------------------------


def test_check_oauth_order_and_results():
    assert check_oauth(RQUID, f"Basic {DEFAULT_KEY}", "GIGACHAT_API_PERS", KEYS) == "GIGACHAT_API_PERS"
    with pytest.raises(OAuthError) as e:
        check_oauth(None, None, None, KEYS)
    assert e.value.code == 3  # RqUID first
    with pytest.raises(OAuthError) as e:
        check_oauth(RQUID, "Digest abc", "", KEYS)
    assert e.value.code == 4  # then the header


def test_decode_key_and_user_password():
    assert decode_key(make_key("a", "b:c")) == ("a", "b:c")
    assert decode_key("!!!") is None
    assert decode_key(base64.b64encode(b"\xff\xfe").decode()) is None
    header = "Basic " + make_key("u", "p")
    assert check_user_password(header, {"u": "p"}) == "u"
    assert check_user_password(header, {"u": "q"}) is None
    assert check_user_password("Bearer x", {"u": "p"}) is None
    assert check_user_password(None, {"u": "p"}) is None
