"""The one hold-back mechanism for tokens split across stream chunks (gigachat_dify/chat/holdback.py),
which the stop words, the image tags and the source markers each configure."""

import contextlib
import time

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


def test_the_index_of_a_set_of_openers_is_built_once_not_per_answer(monkeypatch):
    from gigachat_dify.chat import holdback

    built = []
    real = holdback._Index
    monkeypatch.setattr(holdback, "_Index", lambda openers: built.append(openers) or real(openers))
    holdback._index.cache_clear()
    for _ in range(3):  # three answers, each with its tag scanner and its node's stop words
        HoldBack(("<img", "<video"))
        HoldBack(["Observation:", "\nHuman:"])
    assert len(built) == 2  # each set once
    assert HoldBack(["Observation:"]).push("a Observ") == ["a "]  # a cached scanner holds back as a new one did
    huge = ["x" * 600 + str(i) for i in range(2)]  # a request's own huge stop words: built, not kept
    HoldBack(huge), HoldBack(huge)
    assert len(built) == 2 + 1 + 2  # the new set once; the huge one every time


class Plain(HoldBack):
    """The same scanner with the plainest search: every opener looked for, every proper prefix in a
    set (as the scanner searched before its index; quadratic in an opener's length, fine here)."""

    def __init__(self, openers, *args, **kwargs):
        super().__init__(openers, *args, **kwargs)
        prefixes = {o[:k] for o in self.openers for k in range(1, len(o))}
        longest = max(map(len, self.openers), default=0)

        def find(buf, pos):
            found = [(at, -len(o)) for o in self.openers if (at := buf.find(o, pos)) != -1]
            return (min(found)[0], min(found)[0] - min(found)[1]) if found else (-1, -1)

        def partial_tail(buf, pos):
            n = len(buf)
            return next((n - k for k in range(min(longest - 1, n - pos), 0, -1) if buf[n - k:] in prefixes), n)

        self._find, self._partial_tail = find, partial_tail


def trace(scanner: HoldBack, pieces: list[str]) -> list:
    """What each push shows and holds, then what finish shows."""
    return [(scanner.push(p), scanner.held) for p in pieces] + [scanner.finish()]


@contextlib.contextmanager
def index_depth(depth: int, nodes: int):
    """Indexes built with a pattern of ``depth`` characters within ``nodes`` nodes (as for huge stop words)."""
    from gigachat_dify.chat import holdback

    saved = holdback.DEPTH, holdback.PATTERN_NODES
    holdback.DEPTH, holdback.PATTERN_NODES = depth, nodes
    holdback._index.cache_clear()
    try:
        yield
    finally:
        holdback.DEPTH, holdback.PATTERN_NODES = saved
        holdback._index.cache_clear()


SYMBOLS = "ab<.*[](){}\\^$|?+-\né🙂"


@settings(max_examples=600, deadline=None)
@given(text=st.text(alphabet=SYMBOLS + " x", max_size=60), words=st.lists(st.text(alphabet=SYMBOLS, min_size=1,
                                                                                      max_size=20), max_size=6),
       cuts=st.lists(st.integers(0, 60), max_size=10), depth=st.sampled_from([(16, 500), (3, 500), (2, 1), (1, 1)]))
def test_the_index_shows_and_holds_exactly_what_the_plainest_search_does(text, words, cuts, depth):
    with index_depth(*depth):
        assert trace(HoldBack(words), split(text, cuts)) == trace(Plain(words), split(text, cuts))


@settings(max_examples=300, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 40), max_size=8), lead=st.sampled_from(["", " \t"]),
       depth=st.sampled_from([(16, 500), (1, 1)]))
def test_the_index_agrees_with_the_plainest_search_for_tokens_with_an_end(text, cuts, lead, depth):
    with index_depth(*depth):
        assert (trace(HoldBack(["<<"], bracket, lead=lead), split(text, cuts))
                == trace(Plain(["<<"], bracket, lead=lead), split(text, cuts)))


def test_thousands_of_long_stop_words_are_handled_in_well_under_a_second():
    # Every prefix of every stop word went into one pattern: 2,000 of 200 characters took 76 s of
    # the process's CPU per request, stalling every other request of every workspace.
    words = [f"{i:05d}" + "x" * 195 for i in range(2000)]
    started = time.process_time()
    scanner = HoldBack(words)
    shown = [scanner.push("hello 0"), scanner.push("0001" + "x" * 100), scanner.push("x" * 95 + " and "),
             scanner.push("0" * 5000), scanner.push("x" * 195)]
    assert time.process_time() - started < 0.5
    assert shown[:3] == [["hello "], [], [Token(words[1], None), " and "]]  # held while it might be one
    assert shown[3:] == [["0" * 4995], [Token(words[0], None)]]
