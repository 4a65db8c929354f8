"""The shipped pretext policy on signal combinations (no message needed)."""

from __future__ import annotations

from gateway.model import Signal, Verdict
from gateway.policy import load_policies
from tests.conftest import ROOT


def _hits(*names: str) -> set[str]:
    policies = load_policies([str(ROOT / "policies")])
    return {h.rule_id for h in policies.evaluate([Signal(n) for n in names]).hits}


def test_a_from_address_its_own_domain_does_not_authenticate_is_an_untrusted_identity() -> None:
    """Kimsuky spoofs p=none domains (FBI/NSA/State advisory, May 2024): DMARC fails with any
    policy, outside a list and without ARC, and the stranger asks for an interview."""
    spoof = ("dmarc.fail", "spf.fail", "ask.interview", "sender.first_contact_org")
    assert "unbacked-claim-with-an-ask" in _hits(*spoof)
    assert "unbacked-claim-with-an-ask" not in _hits(*spoof, "context.mailing_list")  # lists break DKIM
    assert "unbacked-claim-with-an-ask" not in _hits(*spoof, "arc.trusted_pass")  # forwarded, vouched for
    assert "unbacked-claim-with-an-ask" in _hits(*spoof, "arc.pass")  # a chain anyone could have sealed
    assert "unbacked-claim-with-an-ask" not in _hits("dmarc.pass", "ask.interview", "sender.first_contact_org")


def test_friends_mentioning_whatsapp_are_not_an_off_channel_push() -> None:
    """Issue 11: friends, family and former students on free-mail who mention WhatsApp or a new
    Signal number with no institutional claim and no offer stay ordinary, a friend's ask (to meet, to
    read something, to come to an event, to open a link) included; the same move with an approach's
    ask, a claimed role, an offer, flattery, discretion, an unnamed client or an identity the channel
    cannot back counts."""
    policies = load_policies([str(ROOT / "policies")])
    friend = ("sender.freemail", "content.offchannel_mention", "sender.first_contact_org")
    moves = {"offchannel-push", "stranger-moves-off-channel-with-an-ask"}
    for ask in ((), ("ask.meeting",), ("ask.review",), ("ask.event",), ("ask.document",)):
        decision = policies.evaluate([Signal(n) for n in (*friend, *ask)])
        assert not moves & {h.rule_id for h in decision.hits}, ask
        assert decision.verdict <= Verdict.CAUTION, ask
    for ask in ("ask.views", "ask.interview", "ask.contribution", "ask.survey", "ask.questions_list", "ask.insider",
                "ask.cv", "ask.job", "ask.credentials", "ask.run"):
        # a stranger on free-mail who wants views or an interview over WhatsApp, and says no more (review40 #1)
        decision = policies.evaluate([Signal(n) for n in (*friend, ask)])
        assert moves <= {h.rule_id for h in decision.hits} and decision.verdict >= Verdict.SUSPICIOUS, ask
    for more in ("claim.institutional_role", "offer.money", "offer.job", "approach.flattery", "pressure.secrecy",
                 "approach.vague_client", "identity.reply_to_freemail"):
        assert moves <= _hits(*friend, "ask.meeting", more), more
    assert "offchannel-push" in _hits(*friend, "claim.institutional_role")  # no ask: the push alone
    assert "stranger-moves-off-channel-with-an-ask" not in _hits(*friend, "claim.institutional_role")
    # a persona relayed by a network who asks to meet: more than a friend writing for the stranger rule,
    # not a push (it needs a claim, an offer or an approach's ask)
    relayed = ("content.offchannel_mention", "campaign.persona_first_contact", "social.persona_message", "ask.meeting")
    assert "stranger-moves-off-channel-with-an-ask" in _hits(*relayed)
    assert "offchannel-push" not in _hits(*relayed)


def test_an_unknown_organisation_that_asks_in_the_words_of_an_approach() -> None:
    """Issue 11: first contact from an organisation no list knows, from its own domain, with an ask,
    is every call for papers and invitation -- it counts only with the approach register, and never
    for a listed organisation's own domain, a list, free-mail or a non-staff claim."""
    policies = load_policies([str(ROOT / "policies")])

    def hits(*extra: Signal, text: float = 0.8, staff: bool = True, listed: bool = False,
             ask: str = "ask.review") -> set[str]:
        sigs = [Signal("sender.first_contact_org"), Signal(ask),
                Signal("claim.institutional_role", {"role": "researcher", "organisation": "Levant Policy Forum",
                                                    "kind": "think_tank", "staff": staff, "listed": listed}),
                Signal("text.approach_register", {"probability": text, "ngrams": "'your views'"}), *extra]
        return {h.rule_id for h in policies.evaluate(sigs).hits}

    rule = "unknown-organisation-asks-like-an-approach"
    assert rule in hits()
    assert rule not in hits(text=0.5)  # the register is what tips it
    assert rule not in hits(ask="topic.sensitive")  # no ask
    assert rule not in hits(staff=False)
    assert rule not in hits(listed=True)
    for other in ("claim.backed", "context.mailing_list", "sender.freemail", "social.persona_message"):
        assert rule not in hits(Signal(other)), other


def test_the_untrusted_identity_reason_names_what_tipped_it() -> None:
    """The reason says what came with the unbacked identity -- the app, the discretion, or the offer --
    and never "offers nothing" when the push was the private channel."""
    policies = load_policies([str(ROOT / "policies")])
    rule = "untrusted-identity-with-an-offer-or-a-private-channel"

    def reason(*sigs: Signal) -> str:
        hits = {h.rule_id: h.reason for h in policies.evaluate(
            [Signal("claim.unbacked"), Signal("sender.first_contact_org"), *sigs]).hits}
        return hits[rule]

    channel = reason(Signal("content.offchannel_mention", {"apps": "whatsapp", "source": "body"}),
                     Signal("pretext.summary", {"asks": "your CV", "offers": "nothing", "wants": "asks for your CV"}))
    assert "(whatsapp)" in channel and "nothing" not in channel, channel
    handle = reason(Signal("content.offchannel_telegram", {"handles": "t.me/example", "source": "body"}))
    assert "(t.me/example)" in handle, handle
    secrecy = reason(Signal("pressure.secrecy", {"phrase": "keep this between us", "source": "body"}))
    assert "(keep this between us)" in secrecy, secrecy
    offer = reason(Signal("offer.money", {"phrase": "a fee", "source": "body"}),
                   Signal("pretext.summary", {"asks": "nothing", "offers": "payment", "wants": "offers payment"}))
    assert "(payment)" in offer, offer


def test_a_forged_from_backs_no_claim() -> None:
    """A listed organisation's name (or unit) from its own domain is backed -- unless that domain's
    DMARC check failed: a forged From vouches for nothing (Kimsuky spoofing p=none domains)."""
    offer = ("offer.money", "sender.first_contact_org", "claim.backed")
    assert "stranger-offers-money" not in _hits(*offer)
    assert "listed-organisation-own-domain" in _hits(*offer)
    assert "stranger-offers-money" in _hits(*offer, "dmarc.fail")
    assert "listed-organisation-own-domain" not in _hits(*offer, "dmarc.fail")


def test_an_offer_of_money_counts_once() -> None:
    """One offer, one rule: offers-money (someone known, or a backed claim), stranger-offers-money
    (a stranger, no work named) and stranger-pays-for-work-or-views (a stranger, for an article,
    views, an interview...) exclude each other; from a stranger it stays below suspicious on its own
    (a real journal's honorarium for an essay), and who is writing raises it."""
    policies = load_policies([str(ROOT / "policies")])
    money = ("offers-money", "stranger-offers-money", "stranger-pays-for-work-or-views")

    def fired(*names: str) -> tuple[set[str], float]:
        decision = policies.evaluate([Signal(n) for n in names])
        return {h.rule_id for h in decision.hits} & set(money), decision.score

    commission = ("offer.money", "ask.contribution", "sender.first_contact_org")
    assert fired(*commission)[0] == {"stranger-pays-for-work-or-views"}
    assert fired("offer.money", "sender.first_contact_org")[0] == {"stranger-offers-money"}
    assert fired("offer.money", "ask.contribution")[0] == {"offers-money"}  # not a stranger
    assert fired(*commission, "claim.backed")[0] == {"offers-money"}
    assert fired(*commission, "context.mailing_list")[0] == set()
    assert fired(*commission)[1] < policies.thresholds[Verdict.SUSPICIOUS]
    # the same offer from an identity the channel cannot back is an approach
    assert fired(*commission, "claim.unbacked")[1] >= policies.thresholds[Verdict.SUSPICIOUS]


def test_a_stranger_offering_money_in_the_words_of_an_approach() -> None:
    """The fake consultancy's paid 'insights' from its own domain (NPSA, ASIO, DGSI): a stranger who
    offers money and writes like an approach is raised by the wording; the offer alone, or the
    wording from someone the channel backs, is not."""
    policies = load_policies([str(ROOT / "policies")])

    def hits(*names: str, text: float | None = 0.8) -> set[str]:
        sigs = [Signal(n) for n in ("offer.money", "sender.first_contact_org", *names)]
        if text is not None:
            sigs.append(Signal("text.approach_register", {"probability": text, "ngrams": "'our client'"}))
        return {h.rule_id for h in policies.evaluate(sigs).hits}

    rule = "stranger-writes-like-an-approach"
    assert rule in hits()
    assert rule not in hits(text=None)
    assert rule not in hits(text=0.5)
    assert rule not in hits("claim.backed")
    assert rule not in hits("context.mailing_list")


def test_an_unpaid_review_for_a_stranger() -> None:
    """Mint Sandstorm's journalist, TA453's researcher, the AIVD's fellow scientist: a stranger asks
    for comments on their draft for nothing. A paid review, a list, a colleague who is no stranger,
    a backed claim or nobody claiming anything does not count."""
    policies = load_policies([str(ROOT / "policies")])

    def hits(*names: str, staff: bool = True) -> set[str]:
        sigs = [Signal(n) for n in names]
        sigs.append(Signal("claim.institutional_role", {"role": "journalist", "organisation": "Orient Hebdo",
                                                        "kind": "news", "staff": staff, "listed": False}))
        return {h.rule_id for h in policies.evaluate(sigs).hits}

    rule = "stranger-asks-an-unpaid-review"
    journalist = ("ask.review", "sender.first_contact_org")
    assert rule in hits(*journalist)
    assert rule not in hits(*journalist, staff=False)  # a student's draft: nobody claims a role
    assert rule in hits("ask.review", "sender.first_contact_org", "sender.freemail", staff=False)
    assert rule in hits("ask.review", "campaign.persona_first_contact", "social.persona_message", staff=False)
    assert rule not in hits("ask.review")  # someone the organisation knows
    assert rule not in hits(*journalist, "offer.money")  # a paid review is a commission
    assert rule not in hits(*journalist, "context.mailing_list")
    assert rule not in hits(*journalist, "claim.backed")


def test_list_headers_under_a_forged_brand_are_the_forgers() -> None:
    """NOBELIUM's USAID mailing (Microsoft, May 2021) went out through a bulk-mail service with its
    List-Unsubscribe header under a From address whose p=reject DMARC it failed: the list headers are
    the sender's own words, so they make no expected context, and the forged brand's ask counts."""
    forged = ("dmarc.fail_reject_policy", "dmarc.fail", "context.mailing_list", "ask.document",
              "sender.first_contact_org")
    hits = _hits(*forged)
    assert "spoofed-organisation-asks-or-offers" in hits and "expected-context" not in hits
    # a real list, or a forwarded message an intact ARC chain vouches for, keeps its context
    assert "expected-context" in _hits(*forged, "arc.trusted_pass")
    assert "expected-context" not in _hits(*forged, "arc.pass")  # the forger's own seal (review33c #1)
    assert "expected-context" in _hits("context.mailing_list", "ask.document", "sender.first_contact_org")


def test_a_stranger_asking_to_run_code_or_sending_an_account_alert() -> None:
    """Enable the macros, clone and run the repository (Talos on APT28's CyCon flyer 2017, Kimsuky,
    Moonstone Sleet); "someone has your password, secure your account" (Charming Kitten, Star
    Blizzard, hack-for-hire): from a stranger each is suspicious on its own; from someone known, a
    list, or a listed provider's own domain it is not."""
    policies = load_policies([str(ROOT / "policies")])
    for ask, rule in (("ask.run", "stranger-asks-to-run-code"),
                      ("ask.credentials", "stranger-sends-an-account-alert")):
        stranger = [Signal(ask), Signal("sender.first_contact_org")]
        result = policies.evaluate(stranger)
        assert rule in {h.rule_id for h in result.hits} and result.verdict >= Verdict.SUSPICIOUS, ask
        assert rule not in _hits(ask)  # someone the organisation knows
        assert rule not in _hits(ask, "sender.first_contact_org", "context.mailing_list")
        assert rule not in _hits(ask, "sender.first_contact_org", "claim.backed")


def test_a_strangers_archive_or_program_is_suspicious_on_its_own() -> None:
    """A zip holding a shortcut, an ISO, an HTA from a stranger (DeathStalker, TA453's BlackSmith, Kimsuky, APT29):
    suspicious with a first contact; not from someone the organisation knows, a list, or a listed organisation's own
    domain. The reason names the file."""
    policies = load_policies([str(ROOT / "policies")])
    risky = Signal("attachment.risky", {"kind": "an archive", "extension": ".zip", "files": 1})
    decision = policies.evaluate([risky, Signal("sender.first_contact_org")])
    hit = next(h for h in decision.hits if h.rule_id == "stranger-sends-an-archive-or-program")
    assert decision.verdict >= Verdict.SUSPICIOUS and "an archive (.zip)" in hit.reason
    assert "stranger-sends-an-archive-or-program" not in _hits("attachment.risky")  # someone known
    for other in ("context.mailing_list", "claim.backed"):
        found = _hits("attachment.risky", "sender.first_contact_org", other)
        assert "stranger-sends-an-archive-or-program" not in found


def test_a_strangers_link_to_an_archive_or_program_weighs_and_is_counted_once() -> None:
    """The same lure downloaded (TraderTraitor's trading app, Moonstone Sleet's game): from a stranger it weighs,
    below suspicious on its own with a first contact (a GitHub release or a dataset link is ordinary: review36 #5),
    suspicious from free-mail; beside an attached file only the attachment's rule counts."""
    policies = load_policies([str(ROOT / "policies")])
    link = Signal("content.link_to_file", {"kind": "an archive", "extension": ".zip", "host": "x.test"})
    decision = policies.evaluate([link, Signal("sender.first_contact_org")])
    hit = next(h for h in decision.hits if h.rule_id == "stranger-links-to-an-archive-or-program")
    assert decision.verdict == Verdict.CAUTION and "an archive (.zip on x.test)" in hit.reason
    free = policies.evaluate([link, Signal("sender.first_contact_org"), Signal("sender.freemail")])
    assert free.verdict >= Verdict.SUSPICIOUS
    both = {h.rule_id for h in policies.evaluate([link, Signal("attachment.risky", {"kind": "a program",
                                                                                  "extension": ".exe", "files": 1}),
                                                  Signal("sender.first_contact_org")]).hits}
    assert "stranger-sends-an-archive-or-program" in both and "stranger-links-to-an-archive-or-program" not in both
    assert "stranger-links-to-an-archive-or-program" not in _hits("content.link_to_file")  # someone known


def test_a_strangers_text_beyond_the_budget_is_suspicious_on_its_own() -> None:
    """Padding until the real text lies past what the gateway reads (session 20: 1.3 MB of text
    hidden by CSS before an approach scanned clean) is suspicious from a stranger, not from a
    list or a known correspondent."""
    policies = load_policies([str(ROOT / "policies")])
    padded = ("message.text_exceeded", "sender.first_contact_org")
    decision = policies.evaluate([Signal(n) for n in padded])
    assert "unread-text-from-a-stranger" in {h.rule_id for h in decision.hits}
    assert decision.verdict >= Verdict.SUSPICIOUS
    assert "unread-text-from-a-stranger" not in _hits(*padded, "context.mailing_list")
    assert "unread-text-from-a-stranger" not in _hits("message.text_exceeded")  # no stranger
