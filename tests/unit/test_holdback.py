"""The one hold-back mechanism for tokens split across stream chunks (gigachat_dify/chat/holdback.py),
which the stop words, the image tags and the source markers each configure."""

from hypothesis import given, settings
from hypothesis import strategies as st

from gigachat_dify.chat.holdback import MORE, HoldBack, Token


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def joined(pieces: list) -> list:
    """Adjacent texts joined: how the text was split does not matter, the order does."""
    merged: list = []
    for p in pieces:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    return merged


def run(scanner: HoldBack, pieces: list[str]) -> list:
    return joined([p for piece in pieces for p in scanner.push(piece)] + scanner.finish())


def bracket(text: str, start: int, final: bool):
    """A toy token ``<<...>>`` (with at most 8 characters inside) standing for its inside;
    ``start`` is where its lead begins."""
    at = text.index("<<", start)
    end = text.find(">>", at)
    if end == -1:
        return MORE if not final and len(text) - at < 12 else None
    inside = text[at + 2:end]
    return (end + 2, inside) if len(inside) <= 8 else None


ALPHABET = "ab<> \tx"
texts = st.text(alphabet=ALPHABET, max_size=40)
openers = st.lists(st.text(alphabet="ab<", min_size=1, max_size=4), max_size=3)


@settings(max_examples=400, deadline=None)
@given(text=texts, words=openers, cuts=st.lists(st.integers(0, 40), max_size=8))
def test_any_split_of_the_same_text_gives_the_same_pieces_for_plain_openers(text, words, cuts):
    assert run(HoldBack(words), split(text, cuts)) == run(HoldBack(words), [text])


@settings(max_examples=400, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 40), max_size=8), lead=st.sampled_from(["", " \t"]))
def test_any_split_of_the_same_text_gives_the_same_pieces_for_tokens_with_an_end(text, cuts, lead):
    make = lambda: HoldBack(["<<"], bracket, lead=lead)  # noqa: E731
    assert run(make(), split(text, cuts)) == run(make(), [text])


@settings(max_examples=400, deadline=None)
@given(text=texts, words=openers, cuts=st.lists(st.integers(0, 40), max_size=8))
def test_nothing_is_lost_the_pieces_spell_the_text(text, words, cuts):
    pieces = run(HoldBack(words), split(text, cuts))
    assert "".join(p.text if isinstance(p, Token) else p for p in pieces) == text


@settings(max_examples=400, deadline=None)
@given(text=texts, words=openers, cuts=st.lists(st.integers(0, 40), max_size=8))
def test_the_first_token_is_the_earliest_occurrence_of_any_opener(text, words, cuts):
    pieces = run(HoldBack(words), split(text, cuts))
    tokens = [i for i, p in enumerate(pieces) if isinstance(p, Token)]
    found = [i for i in (text.find(w) for w in words) if i != -1]
    if not found:
        assert not tokens
    else:
        assert len("".join(pieces[:tokens[0]])) == min(found)


def test_text_is_held_only_from_where_a_token_may_still_begin():
    scanner = HoldBack(["STOP"])
    assert scanner.push("one ST") == ["one "]
    assert scanner.held == "ST"
    assert scanner.push("ART") == ["START"]
    assert scanner.push("x STO") == ["x "]
    assert scanner.push("P!") == [Token("STOP", None), "!"]


def test_a_longer_opener_that_may_begin_earlier_wins_over_a_complete_later_one():
    scanner = HoldBack(["b", "abcd"])
    assert scanner.push("xabc") == ["x"]  # "abc" may still be "abcd", which begins before "b"
    assert scanner.push("d") == [Token("abcd", None)]
    other = HoldBack(["b", "abcd"])
    assert other.push("xabc") == ["x"] and other.push("z") == ["a", Token("b", None), "cz"]


def test_an_unfinished_token_is_text_at_the_end():
    scanner = HoldBack(["<<"], bracket)
    assert scanner.push("a <<bc") == ["a "]
    assert scanner.finish() == ["<", "<bc"]


def test_lead_characters_go_with_the_token_and_are_held_while_one_may_follow():
    scanner = HoldBack(["<<"], bracket, lead=" ")
    assert scanner.push("a  ") == ["a"]
    assert scanner.push("<<b>> c") == [Token("  <<b>>", "b"), " c"]
    assert scanner.finish() == []


def test_without_openers_text_passes_at_once():
    scanner = HoldBack([])
    assert scanner.push("anything <img") == ["anything <img"] and scanner.held == ""


def test_a_long_run_of_lead_characters_streamed_bit_by_bit_is_not_held_whole():
    scanner = HoldBack(["<<"], bracket, lead=" ")
    shown = "".join(p for _ in range(10_000) for p in scanner.push("  "))
    assert len(scanner.held) <= 64 and len(shown) + len(scanner.held) == 20_000


def test_the_patterns_of_a_set_of_openers_are_built_once_not_per_answer(monkeypatch):
    from gigachat_dify.chat import holdback

    built = []
    real = holdback._alternatives
    monkeypatch.setattr(holdback, "_alternatives", lambda *a: built.append(a) or real(*a))
    holdback._patterns.cache_clear()
    for _ in range(3):  # three answers, each with its tag scanner and its node's stop words
        HoldBack(("<img", "<video"))
        HoldBack(["Observation:", "\nHuman:"])
    assert len(built) == 4  # two patterns for each set, once
    assert HoldBack(["Observation:"]).push("a Observ") == ["a "]  # a cached scanner holds back as a new one did
    huge = ["x" * 600 + str(i) for i in range(2)]  # a request's own huge stop words: built, not kept
    HoldBack(huge), HoldBack(huge)
    assert len(built) == 4 + 2 + 2 * 2  # the new set once; the huge one every time
