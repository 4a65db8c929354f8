"""A From in our own domains is internal mail only when it is (gateway/checks/origin.py).

attack21 (finding 9): `From: "Staff Bulletin" <staff-news@example.org>`, Reply-To the attacker's
free-mail, sent from an outside client with a DMARC fail (p=none), was judged as our own mail:
no sender, identity, content, pretext or campaign check ran, and it was delivered clean (2.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from gateway.checks import Check, CheckContext, order
from gateway.checks.auth import AuthCheck, AuthFacts, AuthOutcome
from gateway.checks.auth.dmarc import DmarcResult
from gateway.checks.identity import IdentityCheck
from gateway.checks.origin import OriginCheck
from gateway.checks.pretext import PretextCheck
from gateway.checks.thread import ThreadCheck
from gateway.dns import Resolver
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView
from gateway.runtime import Runtime
from tests.conftest import make_config
from tests.support.dkimkeys import rsa_key
from tests.support.dnsserver import TestDNSServer
from tests.support.messages import config, message, names, one, run

BULLETIN = message(
    '"Staff Bulletin" <staff-news@example.org>',
    "STAFF BULLETIN - External opportunities for colleagues\n\nDear Ms Jennings,\n\nI am a Senior Fellow at "
    "the Baltic Institute for Strategic Studies in Vienna. I have long admired your work on maritime policy.\n\n"
    "We are preparing a confidential briefing paper on the future of Arctic shipping routes and would very much "
    "value your views on the department's current thinking. We offer an honorarium of EUR 2,000 for a short "
    "written consultation.\n\nFor convenience, could we continue this conversation on WhatsApp? You can reach "
    "me at +43 660 1234567.\n\nWith best regards,\nDr. Michael Hartmann\n",
    to='"Sarah Jennings" <sarah.jennings@example.org>', subject="Re: Staff bulletin: your views",
    headers={"Reply-To": '"Dr. Michael Hartmann" <m.hartmann.research@outlook.com>'})
TRUSTED = config("trusted_authserv_ids: [mx.border.example]\ntrusted_networks: [10.0.0.0/8]\n")
OUTSIDE = "192.0.2.10"
STRANGER = {"identity.reply_to_freemail", "thread.reply_without_thread", "offer.money"}
CHECKS = (IdentityCheck, ThreadCheck, PretextCheck)


def _ar(clauses: str) -> bytes:
    return f"Authentication-Results: mx.border.example; {clauses}\r\n".encode()


def _run(raw: bytes, client_ip: str | None, *, auth: bool = True) -> list[Signal]:
    checks: list[Check] = [cls() for cls in CHECKS] + [OriginCheck()]
    if auth:
        checks.append(AuthCheck())
    signals, _ = run(checks, raw, TRUSTED, client_ip=client_ip)
    return signals


@pytest.mark.parametrize(("clauses", "dmarc", "policy"), [
    ("spf=fail smtp.mailfrom=attacker.test; dkim=none; dmarc=fail policy.dmarc=none header.from=example.org",
     "fail", "none"),
    ("spf=softfail smtp.mailfrom=x@attacker.test; dmarc=none header.from=example.org", "none", ""),
    # a pass for another domain vouches for that domain, not for ours
    ("spf=pass smtp.mailfrom=x@attacker.test; dkim=pass header.d=attacker.test", "unchecked", ""),
])
def test_our_domain_from_outside_without_authentication_is_judged_as_a_strangers(
        clauses: str, dmarc: str, policy: str) -> None:
    signals = _run(_ar(clauses) + BULLETIN, OUTSIDE)
    assert STRANGER <= names(signals)
    assert one(signals, "identity.unauthenticated_local_from").evidence == {
        "from_domain": "example.org", "client_ip": OUTSIDE, "dmarc": dmarc, "policy": policy}


def test_an_outside_client_with_no_results_at_all_is_not_internal_either() -> None:
    """Offline, no trusted Authentication-Results: nothing authenticates it, and the client is outside."""
    signals = _run(BULLETIN, OUTSIDE, auth=False)
    assert STRANGER <= names(signals)
    assert one(signals, "identity.unauthenticated_local_from").evidence["dmarc"] == "unchecked"


@pytest.mark.parametrize(("raw", "client_ip"), [
    (BULLETIN, "10.1.2.3"),  # the organisation's own mail server (trusted_networks)
    (_ar("spf=fail smtp.mailfrom=attacker.test; dmarc=fail header.from=example.org") + BULLETIN, "10.1.2.3"),
    (_ar("dmarc=pass header.from=example.org") + BULLETIN, OUTSIDE),
    (_ar("dkim=pass header.d=mail.example.org header.s=s1") + BULLETIN, OUTSIDE),  # aligned (relaxed)
    (_ar("spf=pass smtp.mailfrom=bounce@example.org") + BULLETIN, OUTSIDE),
    (BULLETIN, None),  # a saved message: no client and no results say where it came from (as before)
])
def test_internal_mail_is_left_alone(raw: bytes, client_ip: str | None) -> None:
    signals = _run(raw, client_ip)
    assert not names(signals) & (STRANGER | {"identity.unauthenticated_local_from"}), names(signals)


def test_a_stranger_from_outside_our_domains_is_unchanged() -> None:
    raw = BULLETIN.replace(b"staff-news@example.org", b"staff-news@bulletin-mail.example.net")
    signals = _run(raw, OUTSIDE)
    assert STRANGER <= names(signals) and "identity.unauthenticated_local_from" not in names(signals)


class _SlowAuth(Check):
    """Provides the authentication outcome a while after the computing checks started."""

    name = "auth"
    provides = (AuthFacts,)

    def __init__(self, result: str) -> None:
        self.result = result

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        for _ in range(5):
            await asyncio.sleep(0)
        ctx.put(AuthFacts(AuthOutcome(dmarc=DmarcResult(self.result, "example.org")), ""))
        return []


@pytest.mark.parametrize(("result", "spoofed"), [("pass", False), ("fail", True)])
def test_the_origin_waits_for_the_authentication_outcome_when_the_from_is_ours(result: str, spoofed: bool) -> None:
    signals, _ = run([IdentityCheck(), OriginCheck(), _SlowAuth(result)], BULLETIN, TRUSTED, client_ip=OUTSIDE)
    assert ("identity.unauthenticated_local_from" in names(signals)) is spoofed
    assert ("identity.reply_to_freemail" in names(signals)) is spoofed


class _LateNamedAuth(_SlowAuth):
    name = "zz-auth"  # sorts after "origin": only the declared wait puts it first


def test_a_fact_waited_for_orders_like_a_need() -> None:
    ordered = [c.name for c in order([ThreadCheck(), _LateNamedAuth("pass"), OriginCheck()])]
    assert ordered == ["zz-auth", "origin", "thread"]


RULE = "unauthenticated-local-from"


async def test_the_runtime_scores_it_and_remembers_it_as_a_strangers_inbound_message(tmp_path: Path) -> None:
    runtime = Runtime(make_config(1, tmp_path, extra="trusted_networks: [10.0.0.0/8]"), offline=True)
    try:
        outside = await runtime.analyse(BULLETIN, Envelope("x@attacker.test", ("sarah.jennings@example.org",),
                                                           Client(ip=OUTSIDE), queue_id="Q1"))
        inside = await runtime.analyse(BULLETIN, Envelope("staff-news@example.org", ("sarah.jennings@example.org",),
                                                          Client(ip="10.1.2.3"), queue_id="Q2"))
    finally:
        await runtime.close()
    assert RULE in {h.rule_id for h in outside.decision.hits}
    assert outside.decision.verdict.word == "high", outside.decision.hits
    assert outside.meta is not None and outside.meta.direction == "inbound"
    assert inside.decision.verdict.word == "clean" and not inside.decision.hits
    assert inside.meta is not None and inside.meta.direction == "internal"


@pytest.fixture(scope="module")
def dns() -> Iterator[TestDNSServer]:
    with TestDNSServer() as server:
        server.add("example.org", "TXT", "v=spf1 ip4:192.0.2.25 -all")
        server.add("sel._domainkey.example.org", "TXT", rsa_key().txt)
        server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=none")
        yield server


@pytest.mark.parametrize(("signed", "client_ip", "mail_from", "spoofed"), [
    (True, "203.0.113.9", "x@attacker.test", False),  # our DKIM signature: DMARC pass
    (False, "192.0.2.25", "bounce@example.org", False),  # a server our SPF lists: DMARC pass
    (False, "203.0.113.9", "x@attacker.test", True),  # neither: DMARC fail (p=none)
])
def test_the_gateways_own_authentication_decides_too(dns: TestDNSServer, signed: bool, client_ip: str,
                                                      mail_from: str, spoofed: bool) -> None:
    raw = rsa_key().sign(BULLETIN, "example.org") if signed else BULLETIN
    resolver = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5)
    signals, _ = run([IdentityCheck(), OriginCheck(), AuthCheck()], raw, config(), offline=False,
                     resolver=resolver, client_ip=client_ip, mail_from=mail_from)
    assert ("identity.reply_to_freemail" in names(signals)) is spoofed
    if spoofed:
        assert one(signals, "identity.unauthenticated_local_from").evidence["dmarc"] == "fail"
    else:
        assert "identity.unauthenticated_local_from" not in names(signals)


# ops23: a malformed From address that one reader reads as ours and another as a stranger's
# (Dovecot's Sieve reads the first '@' domain, the gateway the last; Dovecot reads an address
# written unquoted in the display name): any reading in local_domains makes it From ours
@pytest.mark.parametrize(("from_", "problem", "domains"), [
    ("a@example.org@evil.example", "several @", "evil.example, example.org"),
    ("Staff <staff-news@example.org@evil.example>", "several @", "evil.example, example.org"),
    ("staff-news@example.org <m.hartmann@evil.example>", "an address in the display name outside quotes",
     "evil.example, example.org"),
    ("a@evil.example@example.org", "several @", "example.org, evil.example"),
])
def test_a_malformed_from_read_as_ours_by_any_reader_is_judged_as_from_ours(
        from_: str, problem: str, domains: str) -> None:
    from gateway.checks.structure import StructureCheck

    raw = BULLETIN.replace(b'"Staff Bulletin" <staff-news@example.org>', from_.encode())
    checks: list[Check] = [cls() for cls in CHECKS] + [OriginCheck(), AuthCheck(), StructureCheck()]
    signals, _ = run(checks, raw, TRUSTED, client_ip=OUTSIDE)
    assert one(signals, "identity.malformed_from").evidence == {
        "address": from_.split("<")[-1].rstrip(">").lower() if "<" in from_ else from_, "problem": problem,
        "domains": domains}
    assert one(signals, "identity.unauthenticated_local_from").evidence["from_domain"] == "example.org"
    assert STRANGER <= names(signals)
    # from our own server it is internal, as a well-formed From of ours is
    signals, _ = run(checks, raw, TRUSTED, client_ip="10.1.2.3")
    assert "identity.unauthenticated_local_from" not in names(signals)
    assert "identity.malformed_from" in names(signals)


# attack24: ours behind a stranger's address, in a From list, a group or a second From field:
# Dovecot's Sieve `address :domain :is "from" "example.org"` matches any of them (a user's "From my
# colleagues" rule files it as ours), so every From mailbox of every From field is weighed
@pytest.mark.parametrize(("from_", "second"), [
    ('Michael Hartmann <m.hartmann.research@outlook.com>, "Staff Bulletin" <staff-news@example.org>', ""),
    ("Staff: m.hartmann.research@outlook.com, staff-news@example.org;", ""),
    ("Michael Hartmann <m.hartmann.research@outlook.com>", '"Staff Bulletin" <staff-news@example.org>'),
])
def test_our_domain_in_any_from_mailbox_is_judged_as_from_ours(from_: str, second: str) -> None:
    raw = message(from_, "Dear Ms Jennings, could we continue on WhatsApp?", to="sarah.jennings@example.org",
                  headers={"From": second} if second else {})
    assert [line[:5] for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")].count(b"From:") == (2 if second else 1)
    ident = MessageView.parse(raw).from_identity
    assert ident.domain == "outlook.com" and "example.org" in ident.domain_readings
    signals = _run(raw, OUTSIDE)
    assert one(signals, "identity.unauthenticated_local_from").evidence["from_domain"] == "example.org"
    # from our own server it is internal mail, as with ours first
    assert "identity.unauthenticated_local_from" not in names(_run(raw, "10.1.2.3"))


def test_a_malformed_from_with_no_reading_of_ours_is_only_flagged() -> None:
    from gateway.checks.structure import StructureCheck

    raw = BULLETIN.replace(b'"Staff Bulletin" <staff-news@example.org>', b"a@evil.example@other.example")
    signals, _ = run([OriginCheck(), StructureCheck()], raw, TRUSTED, client_ip=OUTSIDE)
    assert one(signals, "identity.malformed_from").evidence["domains"] == "other.example, evil.example"
    assert "identity.unauthenticated_local_from" not in names(signals)


@pytest.mark.parametrize("from_", ["staff-news@example.org <m.hartmann@evil.example>",
                                   "=?utf-8?q?staff-news=40example.org?=] <m.hartmann@evil.example>",
                                   "Michael Hartmann <m.hartmann@evil.example>, staff-news@example.org"])
def test_a_saved_message_whose_from_is_ours_only_in_another_reading_is_a_strangers(from_: str) -> None:
    """A saved message that nothing places (no client address, no authentication results: `scan`, `evaluate`) is
    judged as internal mail when its From is ours. When ours is only another reading (an address in the display
    name, encoded or not, a second mailbox), the From the gateway reads is the stranger's: it had been judged as
    internal, and no stranger check ran (session 35, with the encoded display name newly malformed)."""
    raw = BULLETIN.replace(b'"Staff Bulletin" <staff-news@example.org>', from_.encode())
    assert "example.org" in MessageView.parse(raw).from_identity.domain_readings
    signals = _run(raw, None, auth=False)
    assert STRANGER <= names(signals) and "identity.unauthenticated_local_from" not in names(signals)
    # a From of ours with nothing to place it stays internal, as before
    assert not STRANGER & names(_run(BULLETIN, None, auth=False))
