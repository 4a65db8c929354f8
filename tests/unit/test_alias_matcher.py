"""AliasMatcher: organisation names found as whole names, the same matches as one regex
alternation of every alias (what it replaced), in one pass over the words."""

from __future__ import annotations

import random
import re

import pytest

from gateway.refdata import AliasMatcher

ALIASES = ["BBC", "BBC News", "IBM", "IBM Research", "Leonardo S.p.A.", "F.A.Z.", "Reuters",
           "Central News Agency (Taiwan)", "Royal Society", "Élysée"]


def _regex(aliases: list[str]) -> re.Pattern[str]:
    names = sorted(aliases, key=len, reverse=True)
    return re.compile(r"(?<![\w@.])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w@]|\.\w)")


class _AlwaysRe(AliasMatcher):
    """Every first word's places found by `re` (as for a word found more than _MANY times)."""
    _MANY = 0


class _OnePass(AliasMatcher):
    """The places found by one pass over the runs (as for a text with more than _FEW first words)."""
    _FEW = 0


def _found(text: str, matcher: type[AliasMatcher] = AliasMatcher) -> list[tuple[int, int, str]]:
    return [(m.start, m.end, m.alias) for m in matcher(ALIASES).finditer(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("I work at IBM Research in Zurich", ["IBM Research"]),
    ("IBM, BBC and Reuters.", ["IBM", "BBC", "Reuters"]),
    ("BBC News at ten", ["BBC News"]),
    ("mail me at x@ibm.com or x@BBC.co.uk", []),           # inside addresses and domains
    ("see bbc.com or www.BBC", []),
    ("BBCs and IBMers", []),                               # not a whole word
    ("Leonardo S.p.A. said", ["Leonardo S.p.A."]),
    ("F.A.Z. reported", ["F.A.Z."]),
    ("Central News Agency (Taiwan) asked", ["Central News Agency (Taiwan)"]),
    ("au palais de l'Élysée hier", ["Élysée"]),
    ("the Royal Society of Physics", ["Royal Society"]),   # longer names are the caller's job
])
def test_whole_names(text: str, expected: list[str]) -> None:
    assert [a for _, _, a in _found(text)] == expected


@pytest.mark.parametrize("matcher", [AliasMatcher, _AlwaysRe, _OnePass])
def test_same_matches_as_the_regex_it_replaced(matcher: type[AliasMatcher]) -> None:
    rng = random.Random(7)
    pieces = [*ALIASES, " ", " ", ".", ",", "@", "x", "s", "\n", "(", ")", "é", "IBM.", "the ", "IBMIBM", "_"]
    pat = _regex(ALIASES)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        assert _found(text, matcher) == [(m.start(), m.end(), m.group(0)) for m in pat.finditer(text)], text


def test_a_first_word_inside_a_long_run_many_times() -> None:
    """'IBM' 10,000 times inside one word, then once as a name: found once (by `re` after the
    first _MANY occurrences), as the loop over every occurrence would."""
    text = "IBM" * 10_000 + " and IBM Research."
    assert text.count("IBM") > AliasMatcher._MANY
    assert _found(text) == _found(text, _AlwaysRe) == [(30_005, 30_017, "IBM Research")]


def test_adjacent_names_all_found() -> None:
    text = "IBM " * 50_000
    assert len(_found(text)) == 50_000


def test_shipped_organisations_same_matches_as_the_regex() -> None:
    """The shipped organisation list (~2,000 aliases, many sharing a first word: 'The', 'National',
    'University'), in texts that put aliases, their first words alone, pieces of words and
    addresses side by side: the intersection of first words and the places tried find what the
    alternation finds."""
    from gateway.refdata import ReferenceData
    from tests.support.messages import config

    matcher, by_alias = ReferenceData.load(config()).alias_pattern
    aliases = sorted(by_alias)
    one_pass = _OnePass(aliases)
    assert len(aliases) > 500
    pat = _regex(aliases)
    rng = random.Random(11)
    firsts = sorted({a.split()[0] for a in aliases})
    glue = [" ", " ", ", ", ". ", "\n", "@", ".", "x", "s", "-", "(", "the ", "of "]
    for _ in range(400):
        parts = []
        for _ in range(rng.randint(1, 12)):
            kind = rng.random()
            parts.append(rng.choice(aliases) if kind < 0.4 else rng.choice(firsts) if kind < 0.7 else "")
            parts.append(rng.choice(glue))
        text = "".join(parts)
        found = [(m.start, m.end, m.alias) for m in matcher.finditer(text)]
        assert found == [(m.start(), m.end(), m.group(0)) for m in pat.finditer(text)], text
        assert [(m.start, m.end, m.alias) for m in one_pass.finditer(text)] == found, text
