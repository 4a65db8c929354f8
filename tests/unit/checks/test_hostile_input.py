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
# 4,000 characters they read (about 11 s for "I am", 12 s for "As the" + 4,000 spaces).
INTRO_RUNS = {"i am": "I am ", "as the": "As the ", "i lead": "I lead the ", "my name is": "My name is Ana, and I am "}


@pytest.mark.timeout(5)
@pytest.mark.parametrize("cue", sorted(INTRO_RUNS))
def test_intro_claims_finish_on_a_cue_followed_by_a_run_of_spaces(cue):
    from gateway.checks.claims import intro_claims
    from gateway.refdata import ReferenceData

    text = INTRO_RUNS[cue] + " " * 3_500 + "director at the Example Institute"
    found = intro_claims(text, ReferenceData.load(config()))
    assert [c.organisation for c in found] == ["Example Institute"]


def test_intro_claims_read_through_runs_of_whitespace():
    from gateway.checks.claims import intro_claims
    from gateway.refdata import ReferenceData

    found = intro_claims("Dear Sam,\n\nAs  the programme   director of the\n\n  Example   Institute, I write",
                         ReferenceData.load(config()))
    assert [(c.organisation, c.kind) for c in found] == [("Example Institute", "think_tank")]
