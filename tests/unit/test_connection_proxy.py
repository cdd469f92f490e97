"""connection/proxy.py: the form's proxy URL is taken only in the shape it documents, and a proxy
is always named by host:port, never by its user or password."""

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigachat_dify import form
from gigachat_dify.connection.proxy import display, parse_proxy_url, password_spellings

secrets = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(user=secrets, password=secrets, port=st.integers(1, 65535))
def test_a_proxy_is_named_by_host_and_port_only_whatever_its_credentials(user, password, port):
    url = f"http://{quote(user, safe='')}:{quote(password, safe='')}@proxy.corp.local:{port}"
    assert parse_proxy_url(url) == url
    assert display(url) == f"proxy.corp.local:{port}"
    assert password in password_spellings(url) and quote(password, safe="") in password_spellings(url)


@pytest.mark.parametrize("value", ["", None, "   "])
def test_a_blank_proxy_means_none(value):
    assert parse_proxy_url(value) is None


@pytest.mark.parametrize("value, phrase", [
    ("proxy:3128", "http://[user:password@]host:port"),
    ("https://proxy:3128", "http://[user:password@]host:port"),
    ("socks5://proxy:1080", "http://[user:password@]host:port"),
    ("http://proxy", "has no port"),
    ("http://proxy:port", "http://[user:password@]host:port"),
    ("http://proxy:3128/path", "without a path"),
    ("http://[::1", "http://[user:password@]host:port"),
])
def test_a_proxy_url_of_another_shape_says_which_shape_it_needs(value, phrase):
    with pytest.raises(form.FormValueError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
        parse_proxy_url(value)


def test_ipv6_proxies_are_named_in_brackets():
    assert display("http://u:p@[::1]:3128") == "[::1]:3128"
