from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gateway.checks.identity import IdentityCheck
from gateway.checks.social import SocialUnwrapCheck
from tests.support.messages import config, message, names, one, run

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
CLAIMS = {"identity.claimed_affiliation_freemail", "identity.claimed_affiliation_mismatch"}


def checks():
    return [SocialUnwrapCheck(), IdentityCheck()]


def test_seed_case_freemail_claiming_google():
    raw = message("Dr Wei Zhang <wei.zhang.ai@gmail.com>",
                  "Dear Professor,\n\nI work at Google's AI division and would like to invite you to a "
                  "paid advisory role.\n\nBest,\nWei")
    sig, _ = run(checks(), raw)
    ev = one(sig, "identity.claimed_affiliation_freemail").evidence
    assert ev["organisation"] == "Google" and ev["sending_domain"] == "gmail.com"
    assert "Google's AI division" in ev["claim"]


def test_claim_from_a_domain_the_organisation_does_not_own():
    raw = message("Research Office <office@ibm-research-centre.com>",
                  "Dear colleague,\n\nOur team at IBM Research is preparing a report.\n\nRegards,\nJ. Smith\n"
                  "Senior Partner, Korn Ferry")
    sig, _ = run(checks(), raw)
    orgs = {s.evidence["organisation"] for s in sig if s.name == "identity.claimed_affiliation_mismatch"}
    assert orgs == {"IBM", "Korn Ferry"}


@pytest.mark.parametrize("name", [
    "legit/001-hays-it-project-manager.eml",          # a real recruiter from a real agency domain
    "legit/002-michaelpage-finance-analyst.eml",
    "legit/005-gmail-phd-supervision-request.eml",    # a student writing to a professor from Gmail
    "legit/024-qq-phd-applicant-utf8.eml",
    "legit/025-tsinghua-official-mou-collaboration.eml",  # a Chinese partner university, own domain
    "legit/017-google-calendar-invite-colleague.eml",  # Google Calendar, Reply-To a colleague
    "legit/018-linkedin-jobs-notification.eml",        # LinkedIn's own notification
    "legit/054-linkedin-search-appearances.eml",
    "legit/019-mailing-list-cfp-reply-to-list.eml",       # mailing list with Reply-To
    "legit/050-google-research-seminar-official.eml",
    "legit/051-ibm-research-official-collaboration.eml",
    "legit/034-jobs-ac-uk-alert.eml",
    "legit/031-ieee-acceptance-registration.eml",
])
def test_hard_negatives_raise_no_identity_alarm(name):
    cfg = config()
    sig, _ = run(checks(), (CORPUS / name).read_bytes(), cfg)
    assert not names(sig) & (CLAIMS | {"identity.reply_to_mismatch", "identity.reply_to_freemail",
                                       "identity.display_name_domain", "identity.display_name_address"}), \
        [str(s) for s in sig]


def test_persona_claims_are_unverified_not_mismatched():
    sig, facts = run(checks(), (CORPUS / "legit/003-linkedin-inmail-robert-walters.eml").read_bytes())
    assert facts["persona"].name == "Hannah Price"
    assert one(sig, "identity.persona_affiliation_unverified").evidence["organisation"] == "Robert Walters"
    assert not names(sig) & CLAIMS


def test_display_name_anomalies():
    sig, _ = run(checks(), message("Emily Emily <em.w8@outlook.com>"))
    assert one(sig, "identity.display_name_repeated").evidence["token"] == "emily"
    sig, _ = run(checks(), message('"ceo@example.org" <boss.urgent@gmail.com>'))
    assert one(sig, "identity.display_name_address").evidence["address"] == "ceo@example.org"
    sig, _ = run(checks(), message('"paypal.com Support" <help@secure-pay.test>'))
    assert one(sig, "identity.display_name_domain").evidence["domain"] == "paypal.com"
    sig, _ = run(checks(), message('"Reed.co.uk" <jobs@email.reed.co.uk>'))
    assert "identity.display_name_domain" not in names(sig)


def test_protected_name_from_outside(tmp_path):
    staff = tmp_path / "staff.txt"
    staff.write_text("Priya Nair\n")
    cfg = config(f"signals: {{vip_names: [Daniel Okafor], staff_names_file: {staff}}}\n")
    sig, _ = run(checks(), message("Prof. Daniel OKAFOR <d.okafor.uni@gmail.com>"), cfg)
    assert one(sig, "identity.protected_name_external").evidence["name"] == "daniel okafor"
    sig, _ = run(checks(), message("Priya Nair <pnair@outlook.com>"), cfg)
    assert "identity.protected_name_external" in names(sig)
    sig, _ = run(checks(), message("Priya Nair <p.nair@example.ac.uk>"), cfg)
    assert sig == []


def test_reply_to_in_another_domain_and_its_exceptions():
    sig, _ = run(checks(), message("Ashley <ashley@gmail.com>", headers={"Reply-To": "a.park@outlook.com"}))
    assert one(sig, "identity.reply_to_mismatch").evidence["reply_to_freemail"] is True
    sig, _ = run(checks(), message("Conf <office@conf-2026.test>", headers={"Reply-To": "c2026@qq.com"}))
    assert "identity.reply_to_freemail" in names(sig)
    # a Google Group in Reply-To (a programme committee's list) is another domain, not a persona's free-mail
    sig, _ = run(checks(), message("OpenReview <noreply@openreview.net>",
                                   headers={"Reply-To": "secgen-ai-2026-pcs@googlegroups.com"}))
    assert one(sig, "identity.reply_to_mismatch").evidence["reply_to_freemail"] is False
    assert "identity.reply_to_freemail" not in names(sig)
    sig, _ = run(checks(), message("Gareth <g@cardiff.ac.uk>", headers={"Reply-To": "LIST@JISCMAIL.AC.UK",
                                                                        "List-Id": "<list.jiscmail.ac.uk>"}))
    assert sig == []
    cfg = config("signals: {notification_domains: [notify.test]}\n")
    sig, _ = run(checks(), message("N <n@notify.test>", headers={"Reply-To": "someone@else.test"}), cfg)
    assert sig == []


def test_list_and_group_replies_are_not_reply_to_mismatches():
    group = "zzzzteana@yahoogroups.com"
    sig, _ = run(checks(), message("A <a@ee.ed.ac.uk>", to=group, headers={"Reply-To": group}))
    assert "identity.reply_to_mismatch" not in names(sig)
    sig, _ = run(checks(), message("A <a@ee.ed.ac.uk>", headers={"Reply-To": group, "Mailing-List": "list x"}))
    assert "identity.reply_to_mismatch" not in names(sig)


def test_past_employment_and_newsletter_brands_are_not_claims():
    sig, _ = run(checks(), message("Old Hand <old@isp.test>", "RAID was in use when I joined Microsoft in 1992."))
    assert not names(sig) & CLAIMS
    sig, _ = run(checks(), message("Lockergnome Apple Core <news@lockergnome.test>", "Tips."))
    assert not names(sig) & CLAIMS


def test_extra_free_mail_personas_in_copy():
    """TA453's multi-persona threads: a free-mail 'colleague' copied on a free-mail approach."""
    raw = message("Elena Marsh <e.marsh.policy@gmail.com>", "Dear Dr Baird,\n\nMy colleague (copied) and I ...",
                  headers={"Cc": "Farid Nouri <farid.nouri.cfr@hotmail.com>, Ann <ann@example.ac.uk>"})
    sig, _ = run(checks(), raw)
    ev = one(sig, "identity.freemail_cc_personas").evidence
    assert ev["addresses"] == "farid.nouri.cfr@hotmail.com" and ev["count"] == 1 and ev["sender_freemail"] is True


def test_personas_copied_by_an_organisation_domain_sender():
    """The lead persona may write from a think tank's own (or invented) domain and copy its
    free-mail 'colleagues' (issue 11): the copy is signalled, and says the sender is not free-mail."""
    org = message("Elena Marsh <elena@policy-centre.org>", "Hello",
                  headers={"Cc": "farid.nouri.cfr@hotmail.com, Ann <ann@example.ac.uk>, elena@policy-centre.org"})
    ev = one(run(checks(), org)[0], "identity.freemail_cc_personas").evidence
    assert ev["addresses"] == "farid.nouri.cfr@hotmail.com" and ev["sender_freemail"] is False


def test_no_personas_without_free_mail_copies_or_on_lists():
    alone = message("Elena Marsh <e.marsh.policy@gmail.com>", "Hello", headers={"Cc": "Ann <ann@example.ac.uk>"})
    org_copy = message("Elena Marsh <elena@policy-centre.org>", "Hello", headers={"Cc": "bo@policy-centre.org"})
    listed = message("Elena Marsh <elena@policy-centre.org>", "Hello",
                     headers={"Cc": "farid.nouri.cfr@hotmail.com", "List-Id": "<policy.lists.example.net>"})
    for raw in (alone, org_copy, listed):
        assert "identity.freemail_cc_personas" not in names(run(checks(), raw)[0])


def test_joining_is_a_claim_only_for_the_writer():
    joined = run(checks(), message("Sam Lee <sam.lee.work@gmail.com>",
                                   "Hi, I have just joined Google as an analyst."))[0]
    assert one(joined, "identity.claimed_affiliation_freemail").evidence["organisation"] == "Google"
    # a typographic apostrophe, as mail clients and word processors write it
    for text in ("Hi, I\u2019ve just joined Google as an analyst.", "I\u2019m with Google\u2019s AI division."):
        curly = run(checks(), message("Sam Lee <sam.lee.work@gmail.com>", text))[0]
        assert one(curly, "identity.claimed_affiliation_freemail").evidence["organisation"] == "Google", text
    history = run(checks(), message("Sam Lee <sam.lee.work@gmail.com>",
                                    "A piece on the Nordic states since Finland and Sweden joined NATO."))[0]
    assert not CLAIMS & names(history)


def test_zero_width_characters_inside_a_display_name_do_not_hide_it() -> None:
    """Raw UTF-8 and RFC 2047-encoded display names alike (the view's one normalisation)."""
    cfg = config("signals: {vip_names: [Daniel Okafor]}\n")
    encoded = "=?utf-8?b?" + base64.b64encode("Daniel\u2060 Oka\ufefffor".encode()).decode() + "?="
    for display in ("Daniel Oka\u200bfor", "Dan\u00adiel Okafor", encoded):
        sig, _ = run(checks(), message(f"{display} <d.okafor.uni@gmail.com>"), cfg)
        assert one(sig, "identity.protected_name_external").evidence["name"] == "daniel okafor", display


def test_bidi_controls_and_look_alike_letters_do_not_hide_an_organisation_in_a_display_name() -> None:
    """An organisation-titled display name from free-mail is a claim (`find_claims(display, whole=True)`):
    bidi controls are read by the view as they show (an override's text in display order) and
    dropped, mixed-script look-alike letters read as Latin by the
    organisation matcher, in raw UTF-8 and RFC 2047-encoded names alike."""
    encoded = "=?utf-8?b?" + base64.b64encode("Ch\u0430tham \u202eesuoH\u202c".encode()).decode() + "?="
    for display in ("Chatham House", "Chatham\u202c House", "\u2067Ch\u0430tham H\u043euse\u2069", encoded):
        sig, _ = run(checks(), message(f"{display} <events.chatham@gmail.com>", "Dear colleague,\n\nPlease join us.\n"))
        assert one(sig, "identity.claimed_affiliation_freemail").evidence["organisation"] == "Chatham House", display
