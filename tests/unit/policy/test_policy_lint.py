"""`policy lint`: every error with file:line and fix, all errors at once, exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.checks import signal
from gateway.cli import main
from gateway.policy.lint import lint
from tests.unit.policy.helpers import DATA, write

SIGNALS = {s.name: s for s in (
    signal("spf.fail", "", domain=str), signal("spf.pass", "", domain=str),
    signal("sender.freemail", "", domain=str), signal("check.error", "", check=str, error=str),
    signal("reputation.young_domain", "", domain=str, age_days=int))}


def errors(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, "p.yml", text)
    return list(lint([str(path)], specs=SIGNALS).errors)


def test_evidence_keys_are_checked_against_the_declarations(tmp_path: Path) -> None:
    """A misspelt evidence key (in a condition or a reason) or a numeric comparison on text
    evidence is a lint error at its line, with the keys the signal does carry."""
    out = errors(tmp_path, """
        thresholds: {caution: 1, suspicious: 2, high: 3}
        rules:
          - id: a
            when: {signal: sender.freemail, evidence: {domian: gmail.com}}
            score: 3
          - id: b
            when: {signal: reputation.young_domain, evidence: {age_days: {lt: 30}}}
            score: 3
            reason: "young domain {signal.reputation.young_domain.registered}"
          - id: c
            when: {signal: sender.freemail, evidence: {domain: {gt: 3}}}
            score: 3
          - id: d
            when: {signal: 'spf.*', evidence: {domain: x.example}}
            score: 1
        """)
    assert any(":4:" in e and "no evidence key 'domian'" in e and "did you mean domain" in e for e in out), out
    assert any(":9:" in e and "no evidence key 'registered'" in e for e in out), out
    assert any(":11:" in e and "evidence 'domain' of sender.freemail is text" in e for e in out), out
    assert len(out) == 3, out


def test_unknown_signal_with_suggestion_and_prefix(tmp_path: Path) -> None:
    out = errors(tmp_path, """
        thresholds: {caution: 1, suspicious: 2, high: 3}
        rules:
          - id: a
            when: {signal: sender.freemial}
            score: 5
          - id: b
            when: {signal: 'spf.*'}
            score: 1
          - id: c
            when: {signal: 'dkim.*'}
            score: 1
        """)
    p = tmp_path / "p.yml"
    assert out == [
        f"{p}:4: unknown signal 'sender.freemial'; did you mean sender.freemail?",
        f"{p}:10: no known signal starts with 'dkim.'; use a family a check declares: "
        "check.*, reputation.*, sender.*, spf.*",
    ]


def test_all_errors_reported_with_lines(tmp_path: Path) -> None:
    out = errors(tmp_path, """
        thresholds: {caution: 5, suspicious: 4, high: 9}
        phrases: {apps: [whatsapp]}
        rules:
          - id: a
            when: {subjet: {contains: x}}
            score: 1
          - id: b
            when: {subject: {regex: '(a)\\1'}}
            score: 1
          - id: c
            when: {text: {phrases: nosuch}}
            score: 1
          - id: a
            when: {subject: {contains: y}}
            score: 1
          - id: d
            when: {subject: {frobnicate: 1}}
            score: 1
            reason: "{nosuch.field}"
        """)
    lines = [e.split(": ", 1)[0].rsplit(":", 1)[1] for e in out]
    assert sorted(map(int, lines)) == [1, 5, 8, 11, 13, 17, 19]
    text = "\n".join(out)
    assert "unknown field or combinator 'subjet'" in text
    assert "RE2 cannot compile" in text and "rewrite without backreferences" in text
    assert "unknown phrase list 'nosuch'; define it under phrases: (known: apps)" in text
    assert "duplicate rule id 'a'" in text
    assert "unknown matcher 'frobnicate'" in text
    assert "unknown placeholder {nosuch.field}" in text
    assert "suspicious (4) must be above caution (5)" in text


def test_unreachable_verdict(tmp_path: Path) -> None:
    out = errors(tmp_path, """
        thresholds: {caution: 1, suspicious: 2, high: 10}
        rules:
          - {id: a, when: {signal: spf.fail}, score: 3}
          - {id: b, when: {signal: spf.pass}, score: -5}
        """)
    assert out == [f"{tmp_path / 'p.yml'}:1: thresholds: high needs 10 but all enabled rules "
                   "together score at most 3, so high is unreachable; lower high to 3 or less, "
                   "or add rules"]


def test_lint_cli_exit_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.yml", "rules:\n  - {id: a, when: {signal: nope}, score: 1}\n"
                "  - {id: b, when: {subject: {regex: '(?=x)'}}, score: 1}\n")
    assert main(["policy", "lint", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: unknown signal 'nope'" in err
    assert f"{bad}:3: RE2 cannot compile" in err and "2 error(s)" in err


def test_example_policies_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "lint", str(DATA / "policies")]) == 0
    assert "ok: 4 rules in 2 files" in capsys.readouterr().out


def test_more_errors_name_their_lines(tmp_path: Path) -> None:
    write(tmp_path, "lists/ok.txt", "# comment\nretainer\n\nhonorarium\n")
    out = errors(tmp_path, """
        phrases:
          ok: {file: lists/ok.txt}
          missing: {file: lists/nope.txt}
          more: {extend: [x]}
          blank: ["--"]
        groups:
          vip: {addresses: [], thresholds: {high: 1}}
        allow:
          - {reason: no target}
        rules:
          - id: off
            when: {signal: spf.fail}
            score: 1
          - id: t
            when: {at_least: {n: 3, of: [spf.fail, spf.pass]}}
            score: 1
            reason: "broken {brace"
          - id: u
            when: {text: {phrases: ok}}
            score: 1
        """)
    p = tmp_path / "p.yml"
    text = "\n".join(out)
    assert f"{p}:3: phrase file " in text and "cannot read: No such file or directory" in text
    assert f"{p}:4: extend of unknown phrase list 'more'" in text
    assert f"{p}:5: phrase '--' has no letters or digits" in text
    assert f"{p}:7: group 'vip' needs a list of addresses or domains" in text
    assert f"{p}:9: an allow entry takes address or domain" in text
    assert f"{p}:11: rule id must be text, YAML read False" in text
    assert f"{p}:15: n must be a whole number from 1 to 2" in text
    assert f"{p}:17: unbalanced brace" in text
    assert "'ok'" not in text  # the phrase file list loaded fine


def test_a_broken_phrase_list_is_one_error_with_one_fix(tmp_path: Path) -> None:
    """admin21 00:40: an unreadable phrase file said its fix twice ("fix the path or its permissions;
    fix the path (...)") and every rule using the list added "unknown phrase list 'mine'"."""
    (tmp_path / "adir").mkdir()
    out = errors(tmp_path, """
        phrases:
          mine: {file: nothere.txt}
          dirs: {file: adir}
          empty: []
        rules:
          - id: a
            when: {text: {phrases: mine}}
            score: 1
          - id: b
            when: {subject: {phrases: [dirs, empty]}}
            score: 1
          - id: c
            when: {text: {phrases: nosuch}}
            score: 1
        """)
    p = tmp_path / "p.yml"
    assert out == [
        f"{p}:2: phrase file {tmp_path / 'nothere.txt'}: cannot read: No such file or directory; fix the path or "
        "its permissions (the path is relative to this policy file)",
        f"{p}:3: phrase file {tmp_path / 'adir'}: is a directory, not a regular phrase file; name a regular file "
        "(the path is relative to this policy file)",
        f"{p}:4: phrase list 'empty': the phrase list is empty; fix the phrases",
        f"{p}:13: unknown phrase list 'nosuch'; define it under phrases: (known: none defined)",
    ]


def test_a_phrase_file_not_in_utf8_is_an_error_and_a_bom_is_dropped(tmp_path: Path) -> None:
    """admin21 00:41: a Latin-1 phrase file loaded with 'caf\\ufffd cr\\ufffdme', which never matched
    "café crème" (and matched any body holding U+FFFD); the YAML files already refuse it."""
    (tmp_path / "latin1.txt").write_bytes("retainer\ncafé crème\n".encode("latin-1"))
    (tmp_path / "bom.txt").write_bytes("\ufeffhonorarium\r\ncafé crème\r\n".encode())
    out = errors(tmp_path, "phrases:\n  a: {file: latin1.txt}\n  b: {file: bom.txt}\n"
                           "rules:\n  - id: r\n    when: {text: {phrases: [a, b]}}\n    score: 1\n")
    p = tmp_path / "p.yml"
    assert out == [f"{p}:2: phrase file {tmp_path / 'latin1.txt'}:2: not UTF-8 (byte 0xe9); save the file as UTF-8"]
    from gateway.policy.engine import load_policies

    (tmp_path / "p.yml").write_text("phrases:\n  b: {file: bom.txt}\n"
                                    "rules:\n  - id: r\n    when: {text: {phrases: b}}\n    score: 1\n")
    policies = load_policies([str(tmp_path / "p.yml")])
    assert policies.phrases["b"].search(b"we offer an honorarium") is not None
