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
