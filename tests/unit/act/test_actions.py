"""Per-verdict actions: validation of the `actions:` mapping and the planner."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.act.actions import DEFAULT_ACTIONS, ActionsConfig, VerdictActions, parse_actions, plan
from gateway.act.banner import HTML_MARKER
from gateway.act.headers import apply_edits
from gateway.errors import AdminInputError
from gateway.model import Decision, RuleHit, Verdict
from gateway.parse import MessageView
from gateway.replies import POLICY_REJECT
from gateway.yamlmarks import loads_located

RAW = (b"From: Recruiter <r@gmail.com>\r\nTo: b@example.org\r\nSubject: Opportunity\r\n"
       b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n")
HIT = (RuleHit("offchannel", 5, "Asks to move to WhatsApp"),)


def _parse(text: str, name: str = "/etc/gw/policies/10-actions.yml") -> ActionsConfig:
    doc = loads_located(text, name)
    return parse_actions(doc.value["actions"], doc.where)


def _plan(verdict: Verdict, actions: ActionsConfig, raw: bytes = RAW):
    return plan(Decision(verdict, 7.0, HIT), MessageView.parse(raw), raw, actions)


def test_shipped_defaults_banner_on_suspicious_and_high_only() -> None:
    assert _plan(Verdict.CLEAN, DEFAULT_ACTIONS).raw == RAW
    assert _plan(Verdict.CAUTION, DEFAULT_ACTIONS).raw == RAW
    for v in (Verdict.SUSPICIOUS, Verdict.HIGH):
        p = _plan(v, DEFAULT_ACTIONS)
        assert b"Asks to move to WhatsApp" in p.raw and p.edits == () and p.extra_rcpts == ()
        assert not p.quarantine and p.reject is None


def test_parse_full_actions_section(tmp_path: Path) -> None:
    (tmp_path / "banner.txt").write_text("CAREFUL ($VERDICT): $reasons\n$report\n")
    cfg = _parse(f"""
actions:
  report_link: mailto:security@example.org
  templates_dir: {tmp_path}
  caution: {{subject_tag: "[CAUTION]"}}
  suspicious: {{banner: true, copy_to: [soc@example.org]}}
  high: {{quarantine: true, header_only: true}}
""")
    assert cfg.caution == VerdictActions(subject_tag="[CAUTION]")
    assert cfg.suspicious.copy_to == ("soc@example.org",)
    assert cfg.high.quarantine and cfg.high.header_only and cfg.high.banner  # banner default kept
    p = _plan(Verdict.SUSPICIOUS, cfg)
    assert b"CAREFUL (SUSPICIOUS):  - Asks to move to WhatsApp\r\nReport it: mailto:security@" in p.raw
    assert p.extra_rcpts == ("soc@example.org",)
    high = _plan(Verdict.HIGH, cfg)
    assert high.raw == RAW and high.quarantine  # header-only: the body stays as received


def test_subject_tag_edits_apply_once() -> None:
    cfg = _parse('actions: {suspicious: {subject_tag: "[SUSPICIOUS]", banner: false}}')
    p = _plan(Verdict.SUSPICIOUS, cfg)
    out = apply_edits(p.raw, p.edits)
    assert out.count(b"Subject:") == 1 and b"Subject: [SUSPICIOUS] Opportunity\r\n" in out
    again = _plan(Verdict.SUSPICIOUS, cfg, out)
    assert again.edits == ()


def test_reject_gives_550_and_nothing_else() -> None:
    cfg = _parse('actions: {high: {reject: true, reject_text: "Not accepted here"}}')
    p = _plan(Verdict.HIGH, cfg)
    assert p.reject == str(POLICY_REJECT.format(text="Not accepted here")) == "550 5.7.1 Not accepted here"
    assert p.raw == RAW


def test_html_banner_through_plan() -> None:
    raw = RAW.replace(b"text/plain", b"text/html").replace(b"Hello", b"<html><body><p>Hello</p></body></html>")
    p = _plan(Verdict.HIGH, DEFAULT_ACTIONS, raw)
    assert HTML_MARKER.encode() in p.raw and p.raw.index(b"<body>") < p.raw.index(HTML_MARKER.encode())


@pytest.mark.parametrize("text,needle", [
    ("actions: {suspicious: {banner: yes-please}}", "yml:1: actions.suspicious.banner: expected true"),
    ("actions:\n  high:\n    copy_to: [not an address]", "yml:3: actions.high.copy_to.0: 'not an address'"),
    ("actions:\n  report_link: http://insecure.example", "10-actions.yml:2: actions.report_link: 'http://insecure"),
    ("actions:\n  report_link: 'javascript:alert(1)'", "actions.report_link: 'javascript:alert(1)' is not"),
    ("actions:\n  report_link: 'https://x.example/\"onmouseover=x'", "is not a mailto: or https:// link"),
    ("actions:\n  clean: {banner: true}", "10-actions.yml:2: actions.clean: unknown key; use one of: caution"),
    ("actions:\n  high:\n    subject_tag: \"bad\\ntag\"", "actions.high.subject_tag: expected printable ASCII"),
    ("actions:\n  templates_dir: missing-dir", "directory '/etc/gw/policies/missing-dir' does not exist"),
    ("actions:\n  caution:\n    colour: red", "10-actions.yml:3: actions.caution.colour: unknown key"),
])
def test_errors_name_file_line_key_and_fix(text: str, needle: str) -> None:
    with pytest.raises(ValueError) as exc:
        _parse(text)
    assert needle in str(exc.value)
    assert "; " in str(exc.value)  # problem; fix


def test_bad_template_placeholder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "banner.html").write_text("<p>$nosuch</p>")
    with pytest.raises(ValueError, match=r"templates_dir: .*placeholder 'nosuch'.*use \$VERDICT"):
        _parse(f"actions: {{templates_dir: {tmp_path}}}")


ACTION_MISTAKES = """\
actions:
  caution:
    banner: yes-please
    colour: red
    copy_to: [ok@example.org, 'not an address']
  high:
    subject_tag: "bad\\ntag"
    reject_text: 5
    rejekt: true
  report_link: http://insecure.example
  clean: {banner: true}
  templates_dir: missing-dir
"""


def test_every_mistake_in_an_actions_section_is_reported_in_one_run() -> None:
    with pytest.raises(AdminInputError) as exc:
        _parse(ACTION_MISTAKES)
    where = "/etc/gw/policies/10-actions.yml"
    assert [e.split(": ", 2)[:2] for e in exc.value.errors] == [
        [f"{where}:3", "actions.caution.banner"], [f"{where}:4", "actions.caution.colour"],
        [f"{where}:5", "actions.caution.copy_to.1"], [f"{where}:7", "actions.high.subject_tag"],
        [f"{where}:8", "actions.high.reject_text"], [f"{where}:9", "actions.high.rejekt"],
        [f"{where}:10", "actions.report_link"], [f"{where}:11", "actions.clean"],
        [f"{where}:12", "actions.templates_dir"]]
    assert "actions.high.rejekt: unknown key; did you mean reject? (or remove it)" in str(exc.value)


def test_policy_files_report_actions_mistakes_with_the_rules_ones(tmp_path: Path) -> None:
    """The policy loader collects the actions section's problems into the same list as the rules'."""
    from gateway.policy import PolicyError, load_policies

    (tmp_path / "10-actions.yml").write_text(ACTION_MISTAKES.replace("  templates_dir: missing-dir\n", "")
                                             + "rules:\n  - id: r1\n    when: {signal: x}\n    score: many\n")
    with pytest.raises(PolicyError) as exc:
        load_policies([str(tmp_path)])
    lines = [int(e.split(":")[1]) for e in exc.value.errors]
    assert lines == [3, 4, 5, 7, 8, 9, 10, 11, 15], exc.value.errors
    assert "rule 'r1': score must be a number" in exc.value.errors[-1]
