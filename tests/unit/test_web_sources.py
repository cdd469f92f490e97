"""Web-search markers -> markdown links and the source list (gigachat_dify/chat/sources.py)."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify.chat.sources import SOURCES_WAIT, Citations, parse_sources, safe_url

# As recorded (test_primary_chat_builtin_tools): only source 2 is cited, both are listed.
RECORDED = {
    "1": {"url": "https://learn.microsoft.com/ru-ru/agent-framework/support/upgrade/python-2026-significant-changes",
          "title": "Руководство по значительным изменениям в Python 2026"},
    "2": {"url": "https://realpython.com/python-news-february-2026/",
          "title": "pandas 3.0 Lands Breaking Changes and Other Python News for February 2026..."},
}
TEXT = ("due to enhancements in the JIT compiler [sources=[2]].\n\n2. **UTF-8 as Default Encoding**: "
        "PEP 686 [sources=[2]]. Both [sources=[1, 2]] agree.")


def rewrite(pieces, sources=RECORDED) -> str:
    c = Citations()
    c.add(sources)
    return "".join(c.feed(p) for p in pieces) + c.feed("", final=True)


def test_recorded_markers_become_links_and_no_marker_survives():
    out = rewrite([TEXT])
    assert "[sources=" not in out
    assert out == ("due to enhancements in the JIT compiler [[2]](https://realpython.com/python-news-february-2026/).\n\n"
                   "2. **UTF-8 as Default Encoding**: PEP 686 [[2]](https://realpython.com/python-news-february-2026/). "
                   "Both [[1]](https://learn.microsoft.com/ru-ru/agent-framework/support/upgrade/python-2026-significant-"
                   "changes)[[2]](https://realpython.com/python-news-february-2026/) agree.")


def test_the_list_numbers_every_source_with_its_title_and_url():
    c = Citations()
    c.add(RECORDED)
    assert c.source_list() == (
        "\n\nSources:\n"
        "1. [Руководство по значительным изменениям в Python 2026](https://learn.microsoft.com/ru-ru/agent-framework/"
        "support/upgrade/python-2026-significant-changes)\n"
        "2. [pandas 3.0 Lands Breaking Changes and Other Python News for February 2026...]"
        "(https://realpython.com/python-news-february-2026/)\n")


def test_every_split_of_the_stream_gives_the_same_text():
    whole = rewrite([TEXT])
    for i in range(len(TEXT)):
        for j in range(i, len(TEXT), 7):
            assert rewrite([TEXT[:i], TEXT[i:j], TEXT[j:]]) == whole, (i, j)


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(0, len(TEXT)), max_size=8))
def test_any_chunking_of_the_stream_gives_the_same_text(cuts):
    points = sorted(set(cuts))
    pieces = [TEXT[a:b] for a, b in zip([0, *points], [*points, len(TEXT)], strict=True)]
    assert rewrite(pieces) == rewrite([TEXT])


def test_text_is_held_only_while_a_marker_may_be_starting():
    c = Citations()
    c.add(RECORDED)
    assert c.feed("a b [") == "a b"
    assert c.feed("so") == ""
    assert c.feed("me] c") == " [some] c"  # not a marker after all: given back unchanged


def test_sources_arriving_after_the_marker_still_make_a_link():
    c = Citations()
    assert c.feed("Fact [sources=[3]] and more") == "Fact"  # held: source 3 is not known yet
    c.add({"3": {"url": "https://x.example/a", "title": "X"}})
    assert c.feed(" text.") == " [[3]](https://x.example/a) and more text."


def test_a_marker_whose_source_never_came_is_dropped_with_its_space():
    c = Citations()
    out = c.feed("Fact [sources=[9]]. Next") + c.feed("", final=True)
    assert out == "Fact. Next"


def test_a_marker_citing_a_source_never_listed_holds_back_only_a_little_then_the_answer_streams_on():
    # It held the whole rest of a stream back to the end: 3 Dify chunks instead of 484.
    c = Citations()
    c.add(RECORDED)
    pieces = ["Answer [sources=[9]] "] + [f"sentence {i}. " for i in range(300)]
    shown, held = "", []
    for piece in pieces:
        shown += c.feed(piece)
        held.append(len("".join(pieces[:len(held) + 1])) - len(shown))
    assert max(held) <= len(" [sources=[9]]") + SOURCES_WAIT + len("sentence 299. ")
    assert shown.startswith("Answer sentence 0. ")  # dropped, as a marker whose source never came at the end
    assert shown + c.feed("", final=True) == "".join(pieces).replace(" [sources=[9]]", "")


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=12))
def test_any_chunking_gives_the_same_text_when_a_cited_source_never_comes(cuts):
    text = "A [sources=[9]] fact, " + "then more text " * 20 + "and [sources=[1, 9]] end [sources=[7]]"
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    expected = "A fact, " + "then more text " * 20 + f"and [[1]]({safe_url(RECORDED['1']['url'])}) end"
    assert rewrite(pieces) == rewrite([text]) == expected


def test_ordinary_brackets_and_unfinished_markers_pass_through():
    assert rewrite(["see [1] and a[b] or [sources= that never closes"]) == "see [1] and a[b] or [sources= that never closes"


def test_only_http_links_are_made_and_link_breaking_characters_are_encoded():
    assert safe_url("javascript:alert(1)") is None and safe_url("ftp://x/y") is None and safe_url(None) is None
    assert safe_url("https://x.example/a b(c)") == "https://x.example/a%20b%28c%29"
    parsed = parse_sources({"1": {"url": "javascript:alert(1)", "title": "bad"}, "2": {"url": "https://ok.example"},
                            "x": {"url": "https://nan.example"}})
    assert list(parsed) == [2]


def test_titles_cannot_break_the_list_and_missing_titles_show_the_host():
    c = Citations()
    c.add({"1": {"url": "https://a.example/p", "title": "A [bracket]\nnew line"}, "2": {"url": "https://b.example/q"}})
    lines = c.source_list().strip().splitlines()[1:]
    assert lines == ["1. [A \\[bracket\\] new line](https://a.example/p)", "2. [b.example](https://b.example/q)"]


def test_numbers_that_are_not_1_to_n_stay_visible_in_the_list():
    c = Citations()
    c.add({"2": {"url": "https://a.example", "title": "A"}, "5": {"url": "https://b.example", "title": "B"}})
    assert re.findall(r"^- \\\[(\d)\\\]", c.source_list(), re.M) == ["2", "5"]


def test_no_sources_no_list():
    assert Citations().source_list() == ""
