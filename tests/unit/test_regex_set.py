"""RegexSet (RE2::Set passes) must say exactly what searching each member alone says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks import pretext
from gateway.parse import MessageView
from gateway.regex import Prefilter, Regex, RegexError, RegexSet, warm_sets

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "ham" / "spamassassin"
EVALSET = Path(__file__).resolve().parents[1] / "evalset" / "approach" / "train"


def one_by_one(members: dict[str, Regex], data: bytes) -> dict[str, str]:
    return {n: f for n, r in members.items() if (f := r.search(data)) is not None}


def test_case_insensitivity_is_per_member() -> None:
    s = RegexSet({"loud": Regex("HELLO"), "quiet": Regex("hello", case_insensitive=True)})
    assert s.matches(b"say HELLO") == {"loud": "HELLO", "quiet": "HELLO"}
    assert s.matches(b"say hello") == {"quiet": "hello"}
    assert s.matches(b"nothing here") == {}


def test_alternation_of_a_member_stays_inside_it() -> None:
    # a member "a|b" must not turn "(?i:" + "a|b" + ")" into something that matches more
    s = RegexSet({"x": Regex(r"\bfoo\b|\bbar\b"), "y": Regex("baz")})
    assert s.matches(b"bar") == {"x": "bar"}
    assert s.matches(b"bazooka") == {"y": "baz"}


def test_empty_set_matches_nothing() -> None:
    assert RegexSet({}).matches(b"anything") == {}


def test_members_keep_their_order() -> None:
    s = RegexSet({"b": Regex("two"), "a": Regex("one")})
    assert list(s.matches(b"one two")) == ["b", "a"]


def test_a_screen_finds_candidates_and_the_member_decides() -> None:
    """A member searched in the set through a wider screen: the screen alone would say more
    (a gap longer than the member allows); both answers are the member's own."""
    s = RegexSet({"near": Regex(r"\bask\b[^.]{0,8}?\bviews\b"), "word": Regex("hello")},
                 screens={"near": r"\bask\b[^.]*?\bviews\b"})
    far = b"ask for all of your views"
    assert Regex(r"\bask\b[^.]*?\bviews\b").search(far) is not None  # the screen finds it
    assert s.matches(far) == {} and s.which(far) == frozenset()
    assert s.matches(b"ask your views") == {"near": "ask your views"}
    assert s.which(b"ask your views, hello") == frozenset({"near", "word"})
    assert s.which(b"hello") == frozenset({"word"})


def test_pretext_families_are_screened() -> None:
    # every family with a bounded gap is searched through its screen (the DFA stays small)
    gapped = {n for n, (_d, p) in pretext.FAMILIES.items() if pretext._G in p}
    assert gapped and gapped <= pretext._COMPILED._screened


_SPLIT_MEMBERS = {"d": Regex("delta"), "a": Regex("alpha", case_insensitive=True), "c": Regex(r"\bcharlie\b"),
                  "near": Regex(r"\bask\b[^.]{0,8}?\bviews\b", case_insensitive=True), "b": Regex("BRAVO"),
                  "e": Regex(r"echo|\d{3}")}
_SPLIT_SCREENS = {"near": r"\bask\b[^.]*?\bviews\b"}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["delta", "ALPHA", "alpha", "charlie", "charlies", "ask", "your", "views", "bravo",
                                 "BRAVO", "echo", "123", "12", ".", "\n", " ", "é"]), max_size=30).map(" ".join))
def test_members_split_over_passes_say_what_one_pass_says(text: str) -> None:
    """`per_pass` (members searched a few per RE2 set) changes the cost, never the answer nor its order."""
    data = text.encode("utf-8")
    whole = RegexSet(_SPLIT_MEMBERS, _SPLIT_SCREENS)
    want = one_by_one(_SPLIT_MEMBERS, data)
    assert list(whole.matches(data).items()) == list(want.items())
    for per_pass in (1, 2, 4, 5, 6, 7):
        split = RegexSet(_SPLIT_MEMBERS, _SPLIT_SCREENS, per_pass=per_pass)
        assert len(split._passes) == -(-len(_SPLIT_MEMBERS) // per_pass)
        assert list(split.matches(data).items()) == list(want.items())
        assert split.which(data) == whole.which(data) == frozenset(want)


def test_pretext_families_are_searched_a_few_per_pass() -> None:
    # in one RE2 set their DFA is rebuilt for nearly every new text (see pretext.PER_PASS)
    passes = pretext._COMPILED._passes
    assert len(passes) > 1 and all(len(at) <= pretext.PER_PASS for _one, at in passes)
    assert [i for _one, at in passes for i in at] == list(range(len(pretext.FAMILIES)))


def test_a_pattern_re2_refuses_is_refused_before_it_can_join() -> None:
    with pytest.raises(RegexError):
        RegexSet({"bad": Regex(r"(a)\1")})


def _texts() -> list[bytes]:
    approaches = sorted(EVALSET.rglob("*.eml"))  # approach/train/<campaign>/<n>.eml
    assert len(approaches) >= 100, f"training approaches not found under {EVALSET}"
    files = sorted(CORPUS.glob("*/*"))[:300] + approaches
    out = []
    for f in files:
        if f.is_file():
            view = MessageView.parse(f.read_bytes())
            out.append((view.subject + "\n" + view.body_text)[:pretext.MAX_TEXT].encode("utf-8", "replace"))
    return out


def test_pretext_families_agree_on_real_mail_and_approaches() -> None:
    texts = _texts()
    if len(texts) < 50:
        pytest.skip(f"corpus not found under {CORPUS}")
    members = pretext._COMPILED.members
    fired = 0
    for data in texts:
        want = one_by_one(members, data)
        assert pretext._COMPILED.matches(data) == want
        fired += bool(want)
    assert fired > 20  # the comparison covered texts where families match, not only misses


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["your views", "honorarium", "WhatsApp", "nuclear", "NUCLEAR", "Dear",
                                 "interview", "paid", "travel", "your excellent work", "\n", " ", "é", "?"]),
                max_size=40).map(" ".join))
def test_pretext_families_agree_on_generated_text(text: str) -> None:
    data = text.encode("utf-8")
    assert pretext._COMPILED.matches(data) == one_by_one(pretext._COMPILED.members, data)


def test_warm_sets_searches_every_set_as_it_searches_and_changes_no_answer() -> None:
    plain = RegexSet({"hello": Regex("hello", case_insensitive=True)})
    folded = Prefilter({"world": re.compile("WORLD", re.IGNORECASE)})
    seen: dict[str, bytes] = {}

    class Spy:
        def __init__(self, name: str, inner: Any) -> None:
            self.name, self.inner = name, inner

        def Match(self, data: bytes) -> Any:  # re2.Set's method
            seen[self.name] = data
            return self.inner.Match(data)

    plain._passes = [(Spy("plain", one), at) for one, at in plain._passes]
    folded._set._passes = [(Spy("folded", one), at) for one, at in folded._set._passes]
    warm_sets("Hello WORLD, \u0130stanbul")
    assert seen["plain"] == "Hello WORLD, \u0130stanbul".encode()  # the text as the set searches it
    assert seen["folded"] == b"hello world, istanbul"  # a Prefilter searches the folded text
    assert plain.matches(b"say HELLO") == {"hello": "HELLO"}
    assert folded.possible("the World") == {"world"} and folded.possible("nothing") == frozenset()
