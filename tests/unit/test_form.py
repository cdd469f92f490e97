"""form: one meaning for every value typed into a Dify form; unknown values are errors, never a silent default."""

from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from gigachat_dify import form

PROVIDER_FORM = Path(__file__).resolve().parents[2] / "provider" / "gigachat.yaml"


@pytest.mark.parametrize("value", [True, "true", "True", " 1 ", 1, "yes", "on", "support"])
def test_switch_reads_every_spelling_of_on(value):
    assert form.switch(value, "Verify TLS", default=False) is True


@pytest.mark.parametrize("value", [False, "false", "0", 0, "no", "off", "no_support"])
def test_switch_reads_every_spelling_of_off(value):
    assert form.switch(value, "Verify TLS", default=True) is False


@pytest.mark.parametrize("value", ["maybe", "ture", "2", 2, "enable it"])
def test_an_unknown_switch_value_is_an_error_not_off(value):
    with pytest.raises(form.FormValueError, match="Verify TLS must be on or off"):
        form.switch(value, "Verify TLS", default=True)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_values_take_the_default(value):
    assert form.switch(value, "x", default=True) is True
    assert form.whole_number(value, "x", 7, 1, 10) == 7
    assert form.number(value, "x", 0.5, 0, 1) == 0.5
    assert form.choice(value, "x", ("a", "b"), "b") == "b"


def test_whole_numbers_accept_integral_spellings_and_name_the_range():
    assert form.whole_number("12", "Retries", 2, 0, 100) == 12
    assert form.whole_number(12.0, "Retries", 2, 0, 100) == 12
    for bad in ("12.5", "twelve", "inf", "nan", True, "1e400"):
        with pytest.raises(form.FormValueError, match="Retries must be"):
            form.whole_number(bad, "Retries", 2, 0, 100)
    with pytest.raises(form.FormValueError, match="between 0 and 100, got 101"):
        form.whole_number("101", "Retries", 2, 0, 100)


def test_numbers_must_be_finite_and_in_range():
    assert form.number("2.5", "Timeout", 60, 1, 600) == 2.5
    for bad in ("nan", "inf", "-1", "601", "abc", False):
        with pytest.raises(form.FormValueError, match="Timeout must be"):
            form.number(bad, "Timeout", 60, 1, 600)


def test_choice_names_the_options():
    assert form.choice("B2B", "Scope", ("PERS", "B2B"), "PERS") == "B2B"
    with pytest.raises(form.FormValueError, match="Scope must be one of PERS, B2B, got 'CORP'"):
        form.choice("CORP", "Scope", ("PERS", "B2B"), "PERS")


def test_url_needs_a_scheme_and_host_and_loses_its_trailing_slash():
    assert form.url("https://api.giga.chat/v1/", "Base URL", "https://d") == "https://api.giga.chat/v1"
    assert form.url("", "Base URL", "https://d/x") == "https://d/x"
    for bad in ("api.giga.chat/v1", "ftp://x", "https://[::1"):
        with pytest.raises(form.FormValueError, match="must start with https://"):
            form.url(bad, "Base URL", "https://d")


def test_messages_quote_a_value_shortly_and_an_unbounded_number_asks_for_a_finite_one():
    with pytest.raises(form.FormValueError) as exc:
        form.number(10**400, "temperature", 1.0, -float("inf"), float("inf"))
    assert str(exc.value).startswith("temperature must be a finite number, got 1000") and len(str(exc.value)) < 100
    with pytest.raises(form.FormValueError, match=r"got 'x{37}\.\.\.'"):
        form.switch("x" * 500, "Verify TLS", True)


def test_the_labels_messages_name_are_the_provider_forms_own():
    fields = yaml.safe_load(PROVIDER_FORM.read_text(encoding="utf-8"))["provider_credential_schema"]["credential_form_schemas"]
    assert form.LABELS == {f["variable"]: f["label"]["en_US"] for f in fields}


@pytest.mark.parametrize(("value", "reason"), [
    ("https://127.0.0.1:abc/api/v1", "has an invalid port 'abc': a port is a number from 1 to 65535"),
    ("http://127.0.0.1:9443x/api/v2/oauth", "has an invalid port '9443x'"),
    ("https://host:0/api/v1", "has an invalid port '0'"),
    ("https://host:65536/api/v1", "has an invalid port '65536'"),
    ("https://host:9443\t/api/v1", "contains a tab"),
    ("https://host/api/v1\n/x", "contains a line break"),
    ("https://ho st/api/v1", "contains a space"),
    ("https://host\x00/api/v1", "contains an invisible character (U+0000)"),
    ("https://host\u200b/api/v1", "contains an invisible character (U+200B)"),
    ("https://:9443/api/v1", "has no host name"),
    ("https://exa_\u00e4.com/api/v1", "its host name 'exa_\u00e4.com' is not valid"),
    ("https://1.2.3.999/api/v1", "its host name '1.2.3.999' is not valid"),
])
def test_a_url_the_http_client_would_refuse_is_refused_naming_the_field_and_what_is_wrong(value, reason):
    with pytest.raises(form.FormValueError) as exc:
        form.url(value, "'Base URL'", "https://d/api/v1")
    assert str(exc.value).startswith("The 'Base URL' ") and reason in str(exc.value), str(exc.value)


@given(st.text(st.characters(codec="utf-8"), max_size=40))
@example("https://127.0.0.1:abc/api/v1")
@example("http://u:Proxy\tPass55@127.0.0.1:3128")
def test_every_url_the_form_takes_the_http_client_takes_with_a_host_and_a_port(tail):
    for value in (tail, "https://" + tail, "http://u:p@" + tail):
        try:
            taken = form.url(value, "'Proxy URL'", "http://d:1", userinfo=True)
        except form.FormValueError:
            continue
        parsed = httpx.URL(taken)
        assert parsed.host and 1 <= (parsed.port or 443) <= 65535, taken


@pytest.mark.parametrize("value", [
    "http://admin:BaseUrlPassw0rd@127.0.0.1:8080/api/v1",
    "https://admin@host/api/v1",
    "https://admin:BaseUrlPassw0rd@host:abc/api/v1",
    "https://admin:Base/UrlPassw0rd@host/api/v1",  # the password's '/' ends the authority: misread
])
def test_a_user_or_password_is_refused_where_no_credentials_belong_and_never_quoted(value):
    with pytest.raises(form.FormValueError) as exc:
        form.url(value, "'Base URL'", "https://d/api/v1")
    message = str(exc.value)
    assert message.startswith("The 'Base URL' contains '@' (user:password@)"), message
    assert "'Authorization key'" in message and "'Proxy URL'" in message  # where credentials do go
    assert "admin" not in message and "Passw0rd" not in message


@pytest.mark.parametrize("value", [
    "http://u:Proxy\tPass55@127.0.0.1:3128",
    "http://u:Pass/word55@127.0.0.1:3128",  # misread: 'Pass' taken for the port
    "http://u:Password55@exa_\u00e4.com:3128",
    "ftp://u:Password55@127.0.0.1:3128",
    "u:Password55@127.0.0.1:3128",  # no scheme
])
def test_a_url_that_may_carry_a_password_is_never_quoted_in_a_refusal(value):
    with pytest.raises(form.FormValueError) as exc:
        form.url(value, "'Proxy URL'", "http://d:1", userinfo=True, schemes=("http",))
    assert "Pass" not in str(exc.value) and "u:" not in str(exc.value), str(exc.value)
