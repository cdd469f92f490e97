import base64
import datetime
import json

import httpx
import pytest
import yaml

from emulator import B2B_KEY, CORP_KEY, DEFAULT_KEY, Emulator, make_key
from emulator.oauth import OAuthError, check_oauth, check_user_password, decode_key

from .conftest import RECORDINGS, SHARED_SSL, get_token

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


NOW = 1_800_000_000.0  # a fixed "now" for the emulator's token clock (unix seconds)


class TokenClock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def test_oauth_issues_a_token_that_lives_token_ttl():
    with Emulator(clock=TokenClock()) as emu:
        r = oauth(emu)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"access_token", "expires_at"}
        assert body["expires_at"] == int(NOW * 1000) + 1_800_000  # unix ms, 30 minutes on
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
    clock = TokenClock()
    with Emulator(token_ttl_ms=250, clock=clock) as emu:
        token = get_token(emu)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 200
        clock.now += 0.125  # binary fractions: the sums are exact
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 200
        clock.now += 0.125  # 250 ms: expired
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 401


def test_token_endpoint_for_user_and_password_answers_tok_and_exp_in_seconds():
    with Emulator(users={"bob": "pw:with:colons"}, clock=TokenClock()) as emu:
        ok = httpx.post(emu.base_url + "/token", auth=("bob", "pw:with:colons"), verify=SHARED_SSL)
        assert ok.status_code == 200 and set(ok.json()) == {"tok", "exp"}
        # seconds, as the OAuth endpoint's recorded tok/exp answer (not the ms the SDK assumes)
        assert ok.json()["exp"] == int(NOW) + 1800
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


# ---- answer shapes and the rate limit ----------------------------------------------------------------


def recorded_token_answers() -> list[dict]:
    out = []
    for path in sorted((RECORDINGS / "cassettes").glob("*.yaml")):
        for it in yaml.safe_load(path.read_text())["interactions"]:
            if it["request"]["uri"].endswith("/api/v2/oauth"):
                out.append(json.loads(it["response"]["body"]["string"]))
    return out


def test_the_recorded_token_shapes_name_the_same_instant_in_ms_and_in_seconds():
    answers = recorded_token_answers()
    documented = [a for a in answers if set(a) == {"access_token", "expires_at"}]
    tok = [a for a in answers if set(a) == {"tok", "exp"}]
    assert documented and tok and len(documented) + len(tok) == len(answers)
    (expires_at,) = {a["expires_at"] for a in documented}
    (exp,) = {a["exp"] for a in tok}
    assert expires_at == exp * 1000  # so exp counts seconds
    assert datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).year == 2100


def test_oauth_answers_in_the_tok_shape_with_exp_in_seconds():
    with Emulator(oauth_shape="tok", clock=TokenClock()) as emu:
        r = oauth(emu)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"tok", "exp"}
        assert body["exp"] == int(NOW) + 1800
        assert emu.issued_tokens == [body["tok"]]
        headers = {"Authorization": f"Bearer {body['tok']}"}
        assert httpx.get(emu.base_url + "/models", headers=headers, verify=SHARED_SSL).status_code == 200


def test_an_unknown_oauth_shape_is_refused():
    with pytest.raises(ValueError):
        Emulator(oauth_shape="jwt")


class FrozenClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_oauth_accepts_10_token_requests_per_second_and_client_then_429():
    with Emulator() as emu:
        emu.oauth_limit.clock = clock = FrozenClock()  # every request in the same instant
        assert [oauth(emu).status_code for _ in range(10)] == [200] * 10
        refused = oauth(emu)
        assert refused.status_code == 429
        assert refused.json() == {"code": 429, "message": "Too many requests"}
        assert refused.headers["retry-after"] == "1"
        assert len(emu.issued_tokens) == 10  # the refused request got no token
        # counted per client id: another key is not affected
        assert oauth(emu, key=B2B_KEY, scope="GIGACHAT_API_B2B").status_code == 200
        clock.now += 0.5
        assert oauth(emu).status_code == 429  # still within the second of the first ten
        clock.now += 0.5
        assert [oauth(emu).status_code for _ in range(10)] == [200] * 10  # a new second
        assert oauth(emu).status_code == 429
        assert emu.stats.oauth_calls == 24 and emu.stats.status_counts[429] == 3


def test_the_oauth_rate_limit_slides_and_can_be_switched_off():
    with Emulator() as emu:
        emu.oauth_limit.clock = clock = FrozenClock()
        for _ in range(10):
            assert oauth(emu).status_code == 200
            clock.now += 0.09  # ten requests over 0.81 s
        assert oauth(emu).status_code == 429
        clock.now = 1000.0 + 1.0  # the first one left the window
        assert oauth(emu).status_code == 200
    with Emulator(oauth_rate_limit=None) as emu:
        emu.oauth_limit.clock = FrozenClock()
        assert {oauth(emu).status_code for _ in range(15)} == {200}
