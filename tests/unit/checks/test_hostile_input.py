"""Regression: pathological text must not make the signal regexes backtrack for minutes."""

from __future__ import annotations

import pytest

from gateway.checks import discover
from tests.support.messages import config, message, run

CASES = {
    "whitespace lines": message("A <a@x.test>", " \n" * 100_000),
    "huge display name": message('"' + "a" * 50_000 + '" <a@x.test>', "hi"),
    "dotted runs": message('"' + "a." * 20_000 + '" <a@x.test>', "a." * 100_000),
    "notification padding": message("LinkedIn <m@linkedin.com>",
                                    "\n" * 50_000 + " " * 50_000 + "sent you a new message"),
    "digit runs": message("A <a@x.test>", "+1 " + "2 " * 100_000),
    "at signs": message("A <a@x.test>", "@" * 100_000 + "a" * 100_000),
    "app names": message("A <a@x.test>", "WeChat Telegram on Signal " * 20_000),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(CASES))
def test_checks_finish_on_pathological_text(name):
    cfg = config()
    signals, _ = run([cls() for cls in discover()], CASES[name], cfg)
    assert not [s for s in signals if s.name == "check.error"]


# The intro patterns (gateway/checks/claims.py) put a whitespace quantifier on each side of a
# lazy role: a cue followed by a long run of spaces made them backtrack quadratically over the
# 4,000 characters they read (about 11 s for "I am", 12 s for "As the" + 4,000 spaces). The fix
# (b56b941) is a bound on their input: intro_claims reads the text with each whitespace run squeezed
# to one character. A timed guard did not catch its removal: a run followed by "director at the
# Example Institute" matches at once without the squeeze too (session 23), while a cue and a run with
# no organisation after it still took 12-14 s for "I am" and "My name is Ana, and I am" (session 24).
INTRO_RUNS = {"i am": "I am ", "as the": "As the ", "i lead": "I lead the ", "my name is": "My name is Ana, and I am "}


@pytest.fixture(scope="module")
def refdata():
    """The shipped reference data, loaded once, outside the guards' time (1.4-2.0 s a load on a
    busy 2-core machine: inside a 5 s guard it left the pattern less than half of it)."""
    from gateway.refdata import ReferenceData

    return ReferenceData.load(config())


@pytest.mark.timeout(5, func_only=True)  # a hang guard only; what is asserted is the bound on the work
@pytest.mark.parametrize("tail", ["", "director at the Example Institute"])
@pytest.mark.parametrize("cue", sorted(INTRO_RUNS))
def test_intro_patterns_read_a_run_of_spaces_as_one_position(cue, tail, refdata, monkeypatch):
    """The work bound, not a time: the text the intro patterns examine (the one intro_claims hands
    their RE2 prefilter, then scans) holds the cue and the tail with the 3,900 spaces as ONE position,
    so no whitespace quantifier there can backtrack over a run."""
    from gateway.checks import claims

    bounded = INTRO_RUNS[cue] + tail  # len(cue) + len(tail) positions, not 3,900 more
    examined: list[int] = []
    prefilter = claims._INTRO_PREFILTER

    class Seen:
        def possible(self, text: str) -> frozenset[str]:
            examined.append(len(text))  # checked before the patterns scan it (unbounded, for 12 s)
            assert text == bounded, f"the intro patterns would examine {len(text)} positions, not {len(bounded)}"
            return prefilter.possible(text)

    monkeypatch.setattr(claims, "_INTRO_PREFILTER", Seen())
    found = claims.intro_claims(INTRO_RUNS[cue] + " " * 3_900 + tail, refdata)
    assert examined == [len(bounded)]
    assert [c.organisation for c in found] == (["Example Institute"] if tail else [])


def test_intro_claims_read_through_runs_of_whitespace():
    from gateway.checks.claims import intro_claims
    from gateway.refdata import ReferenceData

    found = intro_claims("Dear Sam,\n\nAs  the programme   director of the\n\n  Example   Institute, I write",
                         ReferenceData.load(config()))
    assert [(c.organisation, c.kind) for c in found] == [("Example Institute", "think_tank")]


# The self-introduction ("Meridian Advisory is an international consulting firm", claims._SELF_DESCRIBED)
# reads a name of up to ten capitalised words and then needs ", a <noun>" or " is a <noun>" after it, so
# Python's `re` backtracks through the name when that fails. Each word could be read two ways (_CAP's
# second alternative, [A-Z]{2,}, matched only what its first did): a line of ten capitals words before a
# near miss was tried 2^10 times over (~5 ms a line, ~150 ms a message in the 1,500 characters
# intro_claims gives it; ~40 s here before the fix, 3.1 ms a line and ~19 s in session 24). The guard
# is not a measurement: test_one_reading_of_capitals_same_matches_as_two fails at once without the fix.
@pytest.mark.timeout(10)
def test_self_introduction_reads_a_name_of_capitals_one_way():
    from gateway.checks import claims

    near_miss = "The The " + " ".join(["AB"] * 10) + " is a qq qq qq qq qq\n"
    m = claims._SELF_DESCRIBED.search(near_miss * 6_000 + "Acme Group is a firm.")
    assert m is not None and m.group("org") == "Acme Group"


def test_one_reading_of_capitals_same_matches_as_two():
    """_CAP without its redundant second alternative: every intro pattern finds the same matches, with
    the same groups, as with it (random texts of names, small words, appositions and cues)."""
    import random
    import re

    from gateway.checks import claims

    two_ways = r"(?:[A-Z0-9][\w'’&.-]*|[A-Z]{2,})"
    pieces = ["The ", "the ", "ABC ", "AB", "Acme ", "Group", " of ", " & ", "A.B. ", "O'Neil ", "Co-op ", "X’s ",
              ", ", ", a ", " is a ", " is an ", "independent ", "think tank", "consulting firm", "ministry", "\n",
              ". ", "We are ", "I work for ", "I am a director at ", "My name is Ana Weiss, ", " at ", " from ",
              "on behalf of ", "As the head of ", "I lead the ", "ÉCOLE ", "\t", "  ", "x", "-"]
    rng = random.Random(3)
    pairs = [(p, re.compile(p.pattern.replace(claims._CAP, two_ways), p.flags)) for p in claims._INTRO.values()]
    assert all(p.pattern != old.pattern for p, old in pairs)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))
        for p, old in pairs:
            assert [(m.span(), m.groupdict()) for m in p.finditer(text)] == \
                [(m.span(), m.groupdict()) for m in old.finditer(text)], text
