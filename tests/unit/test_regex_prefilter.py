"""gateway/regex.py `Prefilter`: the RE2 superset of a Python `re` pattern must match (in the
folded text) wherever the pattern matches, whatever the pattern: literals under IGNORECASE and
without, classes, repetition, alternation, look-arounds, back references; and text with the
characters where case folding is tricky (dotted and dotless I, long s, Kelvin sign, a combining
dot, final sigma)."""

from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks import content, social
from gateway.regex import _CATEGORY, Prefilter, Regex, fold, superset_pattern

NOT_SURROGATE = range(0x110000)

PATTERNS = [
    re.compile(r"\bsecret\b", re.I), re.compile(r"Kiss"), re.compile(r"k[is]{2}", re.I), re.compile(r"(?i:ISTANBUL)"),
    re.compile(r"(\w+) \1"), re.compile(r"(?<!x)ab(?=c)|zz+"), re.compile(r"a{2,4}b{0,3}c?d"),
    re.compile(r"(?:foo|ba[rz])\s*(?:qu+x)?!"), re.compile(r"[^a-c]x[\d.]y", re.M), re.compile(r"^line$", re.M | re.I),
    re.compile(r"Σοφία|σοφία", re.I), re.compile(r"微信[:：]?\s*\w{3}"), re.compile(r"i\u0307x"),
    re.compile(r"(?x) a b # c"),
    re.compile(r"(?>ab|a)c"), re.compile(r"(a)?(?(1)b|c)"), re.compile(r"[A-Fa-f0-9]{4}-\d"), re.compile(r".\Z"),
    content._PHONE, content._PERSONAL, content._CLAIM, content._MENTION, content._ADDRESS,
    *(p for pats in content._HANDLES.values() for p in pats),
]
FILTER = Prefilter({str(i): p for i, p in enumerate(PATTERNS)})
PIECES = ["secret", "SECRET", "ſecret", "KISS", "Kiss", "kıss", "\u212aiss", "İSTANBUL", "istanbul", "ıstanbul",
          "ab", "abc", "zz", "aab", "aaaabbbd", "foo", "baz", "quux", "!", "x", "\n", " ", "line", "LINE",
          "ΣΟΦΊΑ", "σοφία", "Σοφίας", "微信", "：", "ab1", "i\u0307x", "İx", "\u0307", "c", "b", "ABCD-1", "d",
          "WhatsApp", "+44 7700 900123", "00 44 20 7946 0000", "based in", "London", "I'm", "on", "Telegram", "@x.org",
          "a.b@example.com", "my", "personal", "email", "number", "line.me/", "LINE ID: abc", "signal.me/#p/+4477",
          "0", "9", "\u0664", "é", "_", "-", ".", "?", "\t", "\u2003"]


def test_fold_gives_the_ascii_letter_every_case_insensitive_match_stands_for() -> None:
    letters = re.compile("[a-z]", re.I)
    folds = {chr(cp) for cp in NOT_SURROGATE if not 0xD800 <= cp <= 0xDFFF and letters.match(chr(cp))}
    assert {"\u0130", "\u0131", "\u017f", "\u212a"} <= folds
    for ch in folds:
        want = [a for a in string.ascii_lowercase if re.match(a, ch, re.I)]
        assert fold(ch) == want[0], (hex(ord(ch)), fold(ch))
        assert fold("x" + ch + "y") == "x" + want[0] + "y"


def test_every_prefilter_compiles_in_re2() -> None:
    Prefilter({str(i): p for i, p in enumerate(PATTERNS)})


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=25), st.lists(st.sampled_from(["", " ", "\n", "x"]), max_size=25))
def test_a_pattern_is_possible_wherever_it_matches(pieces: list[str], gaps: list[str]) -> None:
    text = "".join(p + (gaps[i] if i < len(gaps) else "") for i, p in enumerate(pieces))
    possible = FILTER.possible(text)
    for i, p in enumerate(PATTERNS):
        if p.search(text):
            assert str(i) in possible, (p.pattern, text, FILTER.needs[str(i)])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_a_pattern_is_possible_wherever_it_matches_in_arbitrary_text(text: str) -> None:
    possible = FILTER.possible(text)
    for i, p in enumerate(PATTERNS):
        if p.search(text):
            assert str(i) in possible, (p.pattern, text)


def test_the_prefilter_rules_out_text_without_the_words() -> None:
    filt = Prefilter({"secret": PATTERNS[0], "kiss": PATTERNS[1], "phone": content._PHONE})
    assert filt.possible("nothing to see here") == frozenset()
    assert filt.possible("a ſECRET, then +44 20") == {"secret", "phone"}
    assert filt.possible("\u212aISS") == {"kiss"}  # case-sensitive patterns are widened, never narrowed


def test_superset_read_from_the_pattern() -> None:
    assert superset_pattern(re.compile(r"\bsecret\b", re.I)) == "secret"
    assert superset_pattern(re.compile(r"Secret")) == "secret"  # case-sensitive: widened, never narrowed
    assert superset_pattern(re.compile(r"[^\n]{0,40}(?:foo|ba[rz])")) == "(?:foo|ba[rz])"  # the gap is left out
    assert superset_pattern(re.compile(r"(a)?(?(1)b|c)")) is None
    assert superset_pattern(re.compile(r"x*|y")) is None  # can match the empty string
    assert superset_pattern(re.compile(r"\w+")) == "(?:[0-9_a-z\\x{80}-\\x{10ffff}])+"


def test_the_whitespace_class_is_exactly_pythons() -> None:
    space = Regex("[" + _CATEGORY["CATEGORY_SPACE"] + "]")
    py = re.compile(r"\s")
    for cp in NOT_SURROGATE:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if py.match(ch) or cp < 0x3100:
            assert (space.search(ch.encode()) is not None) == bool(py.match(ch)), hex(cp)


def test_any_pattern_of_the_checks_can_be_guarded() -> None:
    Prefilter({f"social.{n}": v for n, v in vars(social).items() if isinstance(v, re.Pattern)})
