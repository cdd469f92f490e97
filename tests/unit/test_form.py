"""form: one meaning for every value typed into a Dify form; unknown values are errors, never a silent default."""

import pytest

from gigachat_dify import form


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
        with pytest.raises(form.FormValueError, match="is not a URL"):
            form.url(bad, "Base URL", "https://d")


def test_messages_quote_a_value_shortly_and_an_unbounded_number_asks_for_a_finite_one():
    with pytest.raises(form.FormValueError) as exc:
        form.number(10**400, "temperature", 1.0, -float("inf"), float("inf"))
    assert str(exc.value).startswith("temperature must be a finite number, got 1000") and len(str(exc.value)) < 100
    with pytest.raises(form.FormValueError, match=r"got 'x{37}\.\.\.'"):
        form.switch("x" * 500, "Verify TLS", True)
