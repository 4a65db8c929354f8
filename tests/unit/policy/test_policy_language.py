"""The policy language: matchers, combinators, evidence, templates, overrides, groups, allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.model import Signal, Verdict
from gateway.policy import PolicyError, load_policies
from tests.unit.policy.helpers import envelope, message, policy, write

RULE = """
thresholds: {{caution: 1, suspicious: 5, high: 9}}
phrases:
  apps: [whatsapp, telegram]
rules:
  - id: r
    when: {when}
    score: 1
    reason: "{reason}"
"""


def hits(tmp_path: Path, when: str, *, signals: list[Signal] | None = None, reason: str = "hit",
         **msg: str) -> list[str]:
    p = policy(tmp_path, RULE.format(when=when, reason=reason))
    d = p.evaluate(signals or [], message(**msg), envelope())
    return [h.reason for h in d.hits]


@pytest.mark.parametrize(("when", "msg", "expected"), [
    ("{subject: {regex: '(?i)^re: job'}}", {"subject": "RE: Job offer"}, True),
    ("{subject: {regex: '^job'}}", {"subject": "Re: job"}, False),
    ("{subject: {contains: OFFER}}", {"subject": "an offer"}, True),
    ("{subject: {equals: 'hello there'}}", {"subject": "Hello There"}, True),
    ("{subject: {equals: 'hello'}}", {"subject": "Hello There"}, False),
    ("{from.domain: {in: [gmail.com, qq.com]}}", {"sender": "x <x@QQ.com>"}, True),
    ("{from.domain: [gmail.com]}", {"sender": "x <x@qq.com>"}, False),
    ("{from.address: x@qq.com}", {"sender": "x <x@qq.com>"}, True),
    ("{from.display: {contains: recruit}}", {"sender": "Top Recruiter <x@qq.com>"}, True),
    ("{text: {phrases: apps}}", {"body": "call me on whatsapp"}, True),
    ("{text: {phrases: apps}}", {"body": "plain", "html": "<p>my <b>Telegram</b></p>"}, True),
    ("{html_text: {phrases: apps}}", {"body": "telegram", "html": "<p>nothing</p>"}, False),
    ("{header.x-mailer: {contains: phpmailer}}", {"extra": "X-Mailer: PHPMailer 6\r\n"}, True),
    ("{header.x-mailer: {present: false}}", {}, True),
    ("{reply_to.domain: {equals: proton.me}}", {"extra": "Reply-To: a@proton.me\r\n"}, True),
    ("{reply_to: {present: true}}", {}, False),
    ("{recipients: {in: [alice@example.org]}}", {}, True),
])
def test_field_matchers(tmp_path: Path, when: str, msg: dict[str, str], expected: bool) -> None:
    assert bool(hits(tmp_path, when, **msg)) is expected


def test_combinators_and_at_least(tmp_path: Path) -> None:
    body = {"body": "whatsapp", "subject": "job"}
    assert hits(tmp_path, "{all: [{text: {phrases: apps}}, {subject: {contains: job}}]}", **body)
    assert not hits(tmp_path, "{all: [{text: {phrases: apps}}, {subject: {contains: x}}]}", **body)
    assert hits(tmp_path, "{any: [{subject: {contains: x}}, {subject: {contains: job}}]}", **body)
    assert hits(tmp_path, "{not: {subject: {contains: x}}}", **body)
    two = ("{at_least: {n: 2, of: [{subject: {contains: job}}, {subject: {contains: x}}, "
           "{text: {phrases: apps}}]}}")
    three = two.replace("n: 2", "n: 3")
    assert hits(tmp_path, two, **body) and not hits(tmp_path, three, **body)


def test_signal_and_evidence_matchers(tmp_path: Path) -> None:
    age = [Signal("sender.domain_age", {"days": 12, "domain": "new.example"})]
    assert hits(tmp_path, "{signal: sender.domain_age, evidence: {days: {lt: 30}}}", signals=age)
    assert not hits(tmp_path, "{signal: sender.domain_age, evidence: {days: {gt: 30}}}",
                    signals=age)
    assert hits(tmp_path, "{signal: sender.domain_age, evidence: {domain: NEW.example}}",
                signals=age)
    assert hits(tmp_path, "{signal: sender.domain_age, evidence: {days: {ge: 12, le: 12}}}",
                signals=age)
    assert not hits(tmp_path, "{signal: sender.other}", signals=age)
    assert hits(tmp_path, "{signal: 'sender.*'}", signals=age)
    assert hits(tmp_path, "{signal_prefix: sender.}", signals=age)
    assert hits(tmp_path, "{any: [sender.domain_age]}", signals=age)  # bare-name shorthand
    listy = [Signal("offchannel.handle", {"apps": ["WhatsApp", "Signal"]})]
    assert hits(tmp_path, "{signal: offchannel.handle, evidence: {apps: {in: [signal]}}}",
                signals=listy)


def test_reason_template_quotes_evidence_sanitised(tmp_path: Path) -> None:
    sig = [Signal("identity.claimed_affiliation", {"org": "Google\r\nX-Evil: 1\x00", "n": 3})]
    out = hits(tmp_path, "{signal: identity.claimed_affiliation}", signals=sig,
               reason="claims {signal.identity.claimed_affiliation.org} from {from.domain} "
                      "{{literal}}", sender="x <x@gmail.com>")
    assert out == ["claims Google X-Evil: 1 from gmail.com {literal}"]
    long = [Signal("identity.claimed_affiliation", {"org": "A" * 5000})]
    out = hits(tmp_path, "{signal: identity.claimed_affiliation}", signals=long,
               reason="{signal.identity.claimed_affiliation.org}")
    assert len(out[0]) <= 80 and out[0].endswith("\u2026")


def test_alternative_placeholders_take_the_first_with_a_value(tmp_path: Path) -> None:
    reason = "off email ({signal.content.offchannel_whatsapp.handles|signal.content.offchannel_mention.apps})"
    when = "{any: [{signal: content.offchannel_whatsapp}, {signal: content.offchannel_mention}]}"
    only_app = [Signal("content.offchannel_mention", {"apps": "signal"})]
    assert hits(tmp_path, when, signals=only_app, reason=reason) == ["off email (signal)"]
    both = [Signal("content.offchannel_mention", {"apps": "whatsapp"}),
            Signal("content.offchannel_whatsapp", {"handles": "+44 7700 900123"})]
    assert hits(tmp_path, when, signals=both, reason=reason) == ["off email (+44 7700 900123)"]
    neither = [Signal("content.offchannel_whatsapp", {})]
    assert hits(tmp_path, when, signals=neither, reason=reason) == ["off email (?)"]


def test_matched_placeholder_reports_the_phrase(tmp_path: Path) -> None:
    out = hits(tmp_path, "{text: {phrases: apps}}", reason="moves to {matched}",
               body="add me on Telegram please")
    assert out == ["moves to telegram"]


def test_thresholds_sum_to_verdict(tmp_path: Path) -> None:
    p = policy(tmp_path, """
        thresholds: {caution: 2, suspicious: 4, high: 6}
        rules:
          - {id: a, when: {subject: {contains: a}}, score: 2, reason: a}
          - {id: b, when: {subject: {contains: b}}, score: 2.5, reason: b}
          - {id: c, when: {subject: {contains: c}}, score: -1, reason: c}
        """)
    def verdict(subject: str) -> tuple[Verdict, float]:
        d = p.evaluate([], message(subject=subject), envelope())
        return d.verdict, d.score
    assert verdict("a") == (Verdict.CAUTION, 2.0)
    assert verdict("ab") == (Verdict.SUSPICIOUS, 4.5)
    assert verdict("abc") == (Verdict.CAUTION, 3.5)
    assert verdict("x") == (Verdict.CLEAN, 0.0)


def test_recipient_groups_most_sensitive_wins(tmp_path: Path) -> None:
    p = policy(tmp_path, """
        thresholds: {caution: 2, suspicious: 4, high: 6}
        groups:
          vip: {addresses: [ceo@example.org], thresholds: {caution: 1, suspicious: 2, high: 3}}
          lab: {domains: [lab.example.org], thresholds: {suspicious: 3}}
        rules:
          - {id: r, when: {subject: {contains: x}}, score: 3, reason: r}
          - {id: g, when: {recipient_group: {in: [vip]}}, score: 0, reason: vip}
        """)
    def run(*rcpt: str) -> Verdict:
        return p.evaluate([], message(subject="x"), envelope(*rcpt)).verdict
    assert run("bob@example.org") is Verdict.CAUTION
    assert run("ceo@example.org") is Verdict.HIGH
    assert run("bob@example.org", "ceo@example.org") is Verdict.HIGH
    assert run("x@sub.lab.example.org") is Verdict.SUSPICIOUS
    d = p.evaluate([], message(subject="x"), envelope("ceo@example.org"))
    assert "g" in [h.rule_id for h in d.hits]


def test_allowlist_is_clean_with_reason(tmp_path: Path) -> None:
    p = policy(tmp_path, """
        allow:
          - {domain: partner.example, reason: partner agreement}
          - {address: a@gmail.com, when: {signal: dmarc.pass}}
        rules:
          - {id: r, when: {subject: {contains: x}}, score: 20, reason: r}
        """)
    d = p.evaluate([], message(subject="x", sender="p <p@mail.partner.example>"), envelope())
    assert d.verdict is Verdict.CLEAN and d.hits[0].reason == "partner agreement"
    gm = message(subject="x", sender="a <a@gmail.com>")
    assert p.evaluate([], gm, envelope()).verdict is Verdict.HIGH
    assert p.evaluate([Signal("dmarc.pass")], gm, envelope()).verdict is Verdict.CLEAN


def test_facts_persona_and_inner_text(tmp_path: Path) -> None:
    facts = {"persona": {"name": "Grace Wong", "headline": "Partner at Quadrant"},
             "inner": {"text": "let's talk on whatsapp"}}
    p = policy(tmp_path, """
        phrases: {apps: [whatsapp]}
        rules:
          - {id: r, when: {all: [{persona.headline: {contains: partner}},
                                 {inner.text: {phrases: apps}}]},
             score: 1, reason: "{persona.name}"}
        """)
    d = p.evaluate([], message(), envelope(), facts=facts)
    assert [h.reason for h in d.hits] == ["Grace Wong"]
    assert p.evaluate([], message(), envelope()).hits == ()


def test_local_override_patch_replace_and_disable(tmp_path: Path) -> None:
    base = write(tmp_path / "shipped", "00-base.yml", """
        rules:
          - {id: a, when: {subject: {contains: a}}, score: 1, reason: a}
          - {id: b, when: {subject: {contains: b}}, score: 1, reason: b}
          - {id: c, when: {subject: {contains: c}}, score: 1, reason: c}
        """)
    write(tmp_path / "shipped" / "local.d", "10-mine.yml", """
        rules:
          - {id: a, score: 4}
          - {id: b, when: {subject: {contains: z}}, score: 2, reason: replaced}
          - {id: c, enabled: false}
        """)
    p = load_policies([str(base.parent)])
    d = p.evaluate([], message(subject="abcz"), envelope())
    assert {(h.rule_id, h.score, h.reason) for h in d.hits} == {("a", 4.0, "a"),
                                                                ("b", 2.0, "replaced")}
    assert [Path(s).name for s in p.sources] == ["00-base.yml", "10-mine.yml"]


def test_duplicate_id_in_one_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as err:
        policy(tmp_path, """
            rules:
              - {id: a, when: {subject: {contains: a}}, score: 1}
              - {id: a, when: {subject: {contains: b}}, score: 1}
            """)
    assert err.value.errors == [f"{tmp_path / 'p.yml'}:3: duplicate rule id 'a' in this file; "
                                "rename one, or override it from a later file"]


def test_actions_pass_through_with_locations(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "actions:\n  high: {banner: true, subject_tag: '[X]'}\n  caution: {}\n")
    write(tmp_path, "b.yml", "actions:\n  high:\n    subject_tag: '[Y]'\n")
    p = load_policies([str(tmp_path)])
    assert p.actions_raw == {"high": {"banner": True, "subject_tag": "[Y]"}, "caution": {}}
    assert p.actions_where(("high", "subject_tag")) == f"{tmp_path / 'b.yml'}:3"
    assert p.actions_where("high.banner") == f"{tmp_path / 'a.yml'}:2"
    # the merged mapping is parsed into the act step's settings
    assert p.actions.high.subject_tag == "[Y]" and p.actions.high.banner


def test_invalid_actions_name_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "rules: []\nactions:\n  high:\n    copy_to: [not-an-address]\n")
    with pytest.raises(PolicyError, match=r"a.yml:4: actions.high.copy_to"):
        load_policies([str(tmp_path)])


def test_bounded_text_reads_only_the_cap(tmp_path: Path) -> None:
    far = "x " * 40_000 + "whatsapp"  # beyond the 64 KiB field cap
    assert not hits(tmp_path, "{text: {phrases: apps}}", body=far)
    assert hits(tmp_path, "{text: {phrases: apps}}", body="x " * 1000 + "whatsapp")


def test_matched_ignores_failed_branches(tmp_path: Path) -> None:
    when = ("{any: [{all: [{text: {phrases: apps}}, {subject: {contains: nope}}]}, "
            "{subject: {contains: job}}]}")
    assert hits(tmp_path, when, reason="{matched}", body="whatsapp", subject="a job") == ["job"]


def test_composites_are_named_once_and_usable_from_a_later_file(tmp_path: Path) -> None:
    """A local.d file can use (and replace) a shipped composite; the rules using it follow."""
    write(tmp_path, "pol/10-base.yml", """
        composites:
          stranger: {any: [{signal: sender.first_contact_org}, {signal: sender.unanswered}]}
        rules:
          - {id: stranger-asks, when: {all: [{composite: stranger}, {signal: ask.views}]}, score: 6}
        """)
    p = load_policies([str(tmp_path / "pol")])
    asks = [Signal("ask.views")]
    assert p.evaluate(asks + [Signal("sender.unanswered")]).verdict == Verdict.SUSPICIOUS
    assert p.evaluate(asks).verdict == Verdict.CLEAN
    write(tmp_path, "pol/local.d/50-mine.yml", """
        composites:
          stranger: {signal: sender.first_contact_org}
        rules:
          - {id: mine, when: {composite: stranger}, score: 1}
        """)
    p = load_policies([str(tmp_path / "pol")])
    assert p.evaluate(asks + [Signal("sender.unanswered")]).verdict == Verdict.CLEAN
    hit = p.evaluate(asks + [Signal("sender.first_contact_org")]).hits
    assert [h.rule_id for h in hit] == ["stranger-asks", "mine"]


def test_unknown_and_cyclic_composites_are_errors_at_their_lines(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", """
        composites:
          a: {composite: b}
          b: {any: [{composite: a}, {signal: x.y}]}
        rules:
          - {id: r, when: {composite: nope}, score: 1}
        """)
    with pytest.raises(PolicyError) as caught:
        load_policies([str(tmp_path / "p.yml")])
    text = "\n".join(caught.value.errors)
    assert "p.yml:5: unknown composite 'nope'" in text
    assert "composites use each other in a cycle" in text
