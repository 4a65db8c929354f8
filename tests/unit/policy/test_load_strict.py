"""The gateway serves only policies `policy lint` accepts (admin21): what it refuses at start and
on reload, with file:line, and what is only a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.policy.engine import PolicyError, load_policies
from gateway.runtime import Runtime
from tests.support.messages import config

RULE = "rules:\n  - id: r1\n    when: {signal: %s}\n    score: %s\n    reason: r\n"


def _dir(tmp_path: Path, text: str | bytes | None) -> Path:
    d = tmp_path / "pol"
    d.mkdir()
    if text is not None:
        (d / "10.yml").write_bytes(text if isinstance(text, bytes) else text.encode())
    return d


def _runtime(policies: Path) -> Runtime:
    return Runtime(config(f"policies: [{policies}]\n"), offline=True, store=None)


def test_a_misspelt_signal_is_a_start_error_with_its_line(tmp_path: Path) -> None:
    d = _dir(tmp_path, RULE % ("sender.freemial", 20))
    with pytest.raises(PolicyError,
                       match=r"10\.yml:3: unknown signal 'sender\.freemial'; did you mean sender\.freemail"):
        _runtime(d)
    load_policies([str(d)])  # the language alone (its own tests use made-up signals) still loads it


def test_an_unknown_evidence_key_is_a_start_error(tmp_path: Path) -> None:
    d = _dir(tmp_path, "rules:\n  - id: r1\n    when: {signal: sender.freemail, evidence: {domian: gmail.com}}\n"
                       "    score: 20\n    reason: r\n")
    with pytest.raises(PolicyError, match="has no evidence key 'domian'"):
        _runtime(d)


def test_no_policy_file_at_all_is_a_start_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PolicyError, match="no policy file in the listed directories: every message would be clean"):
        _runtime(_dir(tmp_path, None))
    with caplog.at_level(logging.WARNING, logger="gateway.policy"):  # `rules: []` on purpose: a warning
        (tmp_path / "x").mkdir()
        assert _runtime(_dir(tmp_path / "x", "rules: []\n")).policies.rules == ()
    assert "no rule in " in caplog.text and "every message is clean" in caplog.text


def test_a_policy_file_that_is_not_utf8_is_an_error_at_its_line(tmp_path: Path) -> None:
    text = ("# caf\xe9\n" + RULE % ("sender.freemail", 20)).encode("latin-1")
    with pytest.raises(PolicyError, match=r"10\.yml:1: not UTF-8 \(byte 0xe9\); save the file as UTF-8"):
        load_policies([str(_dir(tmp_path, text))])


def test_an_unreachable_verdict_is_a_warning_when_serving(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A deployment may only ever tag `caution` on purpose; lint still calls it an error."""
    with caplog.at_level(logging.WARNING, logger="gateway.policy"):
        runtime = _runtime(_dir(tmp_path, RULE % ("sender.freemail", 1)))
    assert len(runtime.policies.rules) == 1
    assert "caution needs 3 but all enabled rules together score at most 1" in caplog.text
