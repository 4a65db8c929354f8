"""List and bulk headers count as list mail only when an authenticated domain backs them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.checks.listauth import ListAuthCheck
from gateway.config import Config
from gateway.model import Client, Envelope, Verdict
from gateway.runtime import Runtime
from gateway.store import MAX_REACH_MESSAGES, MessageMeta, Reach, StoreUnavailable
from gateway.store.memory import MemoryStore
from gateway.store.record import key_hash, outbound_keys
from gateway.store.sqlite import SqliteStore
from tests.conftest import ROOT, make_config
from tests.support.messages import config, message, names, run

APPROACH = (ROOT / "tests" / "corpus" / "approach" / "001-freemail-recruiter-whatsapp.eml").read_bytes().replace(
    b"\r\n", b"\n")
ENV = Envelope(mail_from="jessica.moore.globaltalent@gmail.com", rcpt_tos=("sarah.whitfield@example.org",),
               client=Client(ip="203.0.113.89"), queue_id="Q1")

CFG = config("trusted_authserv_ids: [mx.example.org]\n")


def _ar(spf_domain: str, dkim: str | None = None, dmarc: str = "none", header_from: str = "gmail.com") -> str:
    parts = [f"spf=pass smtp.mailfrom=x@{spf_domain}"]
    if dkim:
        parts.append(f"dkim=pass header.d={dkim}")
    parts.append(f"dmarc={dmarc} header.from={header_from}")
    return "mx.example.org; " + "; ".join(parts)


def sig(headers: dict[str, str], from_: str = "Emma <emma.talent@gmail.com>", mail_from: str = "",
        to: str = "Dana Prof <d.prof@example.ac.uk>", store: Any = None) -> set[str]:
    return names(run([ListAuthCheck()], message(from_, "Hello.", headers=headers, to=to), CFG,
                     mail_from=mail_from, store=store)[0])


@pytest.mark.parametrize("forged", [{"Precedence": "bulk"},
                                    {"List-Unsubscribe": "<https://unsubscribe.example.net/x>"},
                                    {"List-Id": "Advisory news <news.gmail.com>"},
                                    {"Sender": "owner-news@lists.example.net"}])
def test_list_headers_a_free_mail_sender_wrote_are_unauthenticated(forged: dict[str, str]) -> None:
    """attack21: one such header made a free-mail approach list mail. gmail.com signs for everyone:
    a List-Id under it backs nothing."""
    headers = {**forged, "Authentication-Results": _ar("gmail.com", "gmail.com", "pass")}
    assert "context.list_unauthenticated" in sig(headers, mail_from="emma.talent@gmail.com")


def test_a_list_that_signs_or_sends_for_its_own_domain_is_list_mail() -> None:
    mailman = {"List-Id": "Policy discussion <policy.lists.example.net>",
               "List-Post": "<mailto:policy@lists.example.net>",
               "Authentication-Results": _ar("lists.example.net")}
    # a list relays a member's post to the list's own address (RFC 2369 List-Post)
    assert "context.list_unauthenticated" not in sig(mailman, mail_from="policy-bounces@lists.example.net",
                                                     to="policy@lists.example.net")
    newsletter = {"List-Unsubscribe": "<https://acme.us1.list-manage.com/unsubscribe?u=1>",
                  "Authentication-Results": _ar("mail12.mcsv.net", "mcsv.net")}
    assert "context.list_unauthenticated" not in sig(newsletter, from_="Acme <news@acme.example>",
                                                     mail_from="bounce-mc.us1_1@mail12.mcsv.net")
    bulk = {"Precedence": "bulk", "Authentication-Results": _ar("acme.example", "acme.example", "pass",
                                                                 header_from="acme.example")}
    assert "context.list_unauthenticated" not in sig(bulk, from_="Acme <news@acme.example>",
                                                     mail_from="news@acme.example")


def test_a_free_mail_persons_post_must_be_addressed_to_the_list() -> None:
    """attack22: a list domain is only a domain; the attacker owns one and passes SPF for it. A
    free-mail member's post reaches us through a list addressed to the list (238 of 238 such
    messages in the real ham corpus); sent to one of ours by name it is a person's mail with list
    headers added. An organisation's own newsletter (not free-mail) needs no such address."""
    mailman = {"List-Id": "Policy discussion <policy.lists.example.net>",
               "List-Post": "<mailto:policy@lists.example.net>",
               "Authentication-Results": _ar("lists.example.net")}
    bounce = "policy-bounces@lists.example.net"
    assert "context.list_unauthenticated" in sig(mailman, mail_from=bounce)
    assert "context.list_unauthenticated" in sig({"Precedence": "bulk", "Authentication-Results": _ar(
        "news-mailer.example")}, mail_from="bounce@news-mailer.example")
    assert "context.list_unauthenticated" not in sig(mailman, mail_from=bounce,
                                                     to="Policy list <policy@lists.example.net>")
    assert "context.list_unauthenticated" not in sig(mailman, mail_from=bounce,
                                                     to="d.prof@example.ac.uk, policy@lists.example.net")
    assert "context.list_unauthenticated" not in sig(mailman, from_="Acme <news@acme.example>", mail_from=bounce)


def test_unchecked_authentication_says_nothing() -> None:
    """Offline without a trusted border MTA's results: unknown is not forged."""
    assert sig({"Precedence": "bulk"}) == set()


async def test_a_forged_list_header_no_longer_discounts_an_approach(tmp_path: Path) -> None:
    """End to end with the shipped policies: the shipped free-mail recruiter approach with one
    `Precedence: bulk` (or List-Unsubscribe) line and a trusted Authentication-Results header
    saying gmail.com passed scores as it does without the line (attack21: clean 2.8 before)."""
    config = make_config(1, tmp_path, "trusted_authserv_ids: [mx.example.org]")
    runtime = Runtime(config, offline=True, store=None)
    head, _, body = APPROACH.partition(b"\n\n")
    ar = b"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=jessica.moore.globaltalent@gmail.com;" \
         b" dkim=pass header.d=gmail.com; dmarc=pass header.from=gmail.com\n"
    plain = await runtime.analyse(ar + APPROACH, ENV)
    assert plain.decision.verdict >= Verdict.SUSPICIOUS
    for line in (b"Precedence: bulk\n", b"List-Unsubscribe: <https://unsubscribe.example.net/x>\n"):
        forged = await runtime.analyse(ar + head + b"\n" + line + b"\n" + body, ENV)
        assert forged.decision.verdict == plain.decision.verdict, line
        assert "context.list_unauthenticated" in {s.name for s in forged.signals}
    # attack22: the same with the list on a domain the attacker owns and passes SPF for
    own = b"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=bounce@news-mailer.example;" \
          b" dkim=none; dmarc=fail header.from=gmail.com\n"
    env = Envelope(mail_from="bounce@news-mailer.example", rcpt_tos=ENV.rcpt_tos, client=ENV.client, queue_id="Q2")
    for line in (b"Precedence: bulk\n", b"List-Id: <news.news-mailer.example>\n"):
        forged = await runtime.analyse(own + head + b"\n" + line + b"\n" + body, env)
        assert forged.decision.verdict >= Verdict.SUSPICIOUS, line
        assert "context.list_unauthenticated" in {s.name for s in forged.signals}



class _Broken:
    """A store that cannot answer (a shared store down)."""

    async def campaign_reach_many(self, queries: object) -> list[Reach]:
        raise StoreUnavailable("down")


def test_a_free_mail_post_through_a_list_the_store_does_not_know_keeps_no_discount() -> None:
    """attack23 L1: the attacker owns the list domain and writes To/Cc too (`Cc: list@`, a second
    To field, a group, an address under the domain): addressed to the list, but through a list with
    no history here. With a store that cannot answer, or none, history is unknown: only the address
    is asked for (session 22's rule)."""
    backed = {"List-Unsubscribe": "<mailto:unsubscribe@news-mailer.example>",
              "Authentication-Results": _ar("news-mailer.example")}
    bounce = "bounce@news-mailer.example"
    for to in ("sarah@example.org, list@news-mailer.example",
               "sarah@example.org, Research network: list@news-mailer.example;",
               "sarah@example.org, digest@sub.news-mailer.example"):
        assert "context.list_unauthenticated" in sig(backed, mail_from=bounce, to=to, store=MemoryStore(30)), to
        assert "context.list_unauthenticated" not in sig(backed, mail_from=bounce, to=to, store=_Broken()), to
        assert "context.list_unauthenticated" not in sig(backed, mail_from=bounce, to=to), to
    # a second To field is read like the first (RFC 5322 allows one; mail readers show both)
    raw = message("Emma <emma.talent@gmail.com>", "Hello.", to="sarah@example.org",
                  headers={**backed, "To": "list@news-mailer.example"})
    assert b"To: sarah@example.org" in raw and b"To: list@news-mailer.example" in raw
    assert "context.list_unauthenticated" not in names(run([ListAuthCheck()], raw, CFG, mail_from=bounce)[0])
    assert "context.list_unauthenticated" in names(run([ListAuthCheck()], raw, CFG, mail_from=bounce,
                                                       store=MemoryStore(30))[0])


_NOW = time.time()


def _env(when: float, bounce: str = "bounce@news-mailer.example") -> Envelope:
    return Envelope(mail_from=bounce, rcpt_tos=ENV.rcpt_tos, client=ENV.client, queue_id="Q3", received_at=when)


def _notice(domain: str) -> bytes:
    """A list's own notice (From the list address, SPF passing for the list's domain)."""
    return (f"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=bounce@{domain}; dkim=none\n"
            f"From: Research network <research@{domain}>\nTo: research@{domain}\nSubject: Programme\n"
            f"Message-ID: <n1@{domain}>\nList-Id: <research.{domain}>\n\nThe programme for May.\n").encode()


_POST = (b"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=bounce@news-mailer.example;"
         b" dkim=none; dmarc=fail header.from=gmail.com\n" + APPROACH.partition(b"\n\n")[0] +
         b"\nList-Id: <research.news-mailer.example>\nCc: research@news-mailer.example\n\n" +
         APPROACH.partition(b"\n\n")[2])


async def _post_after(config: Config, earlier: float | None = None, notice: bytes = b"",
                      outbound: str = "", raw: bytes = _POST) -> tuple[Verdict, set[str]]:
    """The verdict and signals of `raw` now, with the shipped policies and a memory store that
    remembers `notice` (received at `earlier`) and, with `outbound`, our message to that address."""
    runtime = Runtime(config, offline=True, store=MemoryStore(30))
    store = runtime.store
    assert store is not None
    try:
        if earlier is not None:
            bounce = "bounce@" + notice.split(b"mailfrom=bounce@")[1].split(b";")[0].decode()
            await runtime.record(await runtime.analyse(notice, _env(earlier, bounce)))
        if outbound:
            await store.record_message(MessageMeta(
                when=_NOW - 9 * 86400, direction="outbound", sender="sarah.whitfield@example.org",
                recipients=(outbound,), message_id="<s1@example.org>",
                campaign_keys=outbound_keys("<s1@example.org>", [outbound])),
                ["example.org"])
        result = await runtime.analyse(raw, _env(_NOW))
        return result.decision.verdict, {s.name for s in result.signals}
    finally:
        await runtime.close()


async def test_an_established_list_keeps_its_discount(tmp_path: Path) -> None:
    """End to end with the shipped policies and a store: the list's mail remembered from an earlier
    day (the runtime records backed list mail under the list's key), or our own message to the list
    address, makes a free-mail member's post list mail again; the list's mail from earlier the same
    day does not."""
    config = make_config(1, tmp_path, "trusted_authserv_ids: [mx.example.org]")
    notice = _notice("news-mailer.example")
    for earlier, outbound, established in ((None, "", False), (_NOW - 3600, "", False),
                                           (_NOW - 3 * 86400, "", True),
                                           (None, "research@news-mailer.example", True)):
        verdict, signals = await _post_after(config, earlier, notice, outbound)
        assert (verdict < Verdict.SUSPICIOUS) is established, (earlier, outbound)
        assert ("context.list_unauthenticated" not in signals) is established, (earlier, outbound)
    # a list host serves many lists: our message to another of its lists, in Cc as well, is not
    # to the List-Id's list (research.news-mailer.example names research@news-mailer.example)
    other = _POST.replace(b"Cc: research@news-mailer.example", b"Cc: board@news-mailer.example")
    verdict, signals = await _post_after(config, outbound="board@news-mailer.example", raw=other)
    assert verdict >= Verdict.SUSPICIOUS and "context.list_unauthenticated" in signals


async def test_another_lists_list_id_names_no_history(tmp_path: Path) -> None:
    """The List-Id is the sender's word: an established list's List-Id (research.lists.example.net)
    on a post that only news-mailer.example's SPF backs is keyed by the backed domain, not by the
    List-Id, and finds none of that list's history."""
    config = make_config(1, tmp_path, "trusted_authserv_ids: [mx.example.org]")
    borrowed = _POST.replace(b"<research.news-mailer.example>", b"<research.lists.example.net>")
    verdict, signals = await _post_after(config, _NOW - 3 * 86400, _notice("lists.example.net"), raw=borrowed)
    assert verdict >= Verdict.SUSPICIOUS and "context.list_unauthenticated" in signals
    # its own List-Id under the backed domain, with that list's history: list mail
    verdict, signals = await _post_after(config, _NOW - 3 * 86400, _notice("news-mailer.example"))
    assert verdict < Verdict.SUSPICIOUS and "context.list_unauthenticated" not in signals


async def test_a_list_is_established_by_an_earlier_day_not_by_volume(tmp_path: Path) -> None:
    """attack24 #5: 201 SPF-backed newsletters in a second, then the approach through that list,
    made it "established" (more mail than the store reads per key, MAX_REACH_MESSAGES, counted as
    history): high 45.7 -> clean -1.9. Volume is bought in a second; an earlier day is not: a list
    busier than the store reads (a kernel list) is established by its earliest message here, read
    with one index seek of a real SQLite store."""
    config = make_config(1, tmp_path, "trusted_authserv_ids: [mx.example.org]")
    key = f"list:{key_hash('research.news-mailer.example')}"
    for case, earliest, established in (("flood", None, False), ("flood after an hour", _NOW - 7200, False),
                                        ("busy list with an earlier day", _NOW - 3 * 86400, True)):
        store = SqliteStore(tmp_path / f"{case}.sqlite3", 30)
        runtime = Runtime(config, offline=True, store=store)
        try:
            times = ([earliest] if earliest is not None else []) + \
                [_NOW - 600 + i for i in range(MAX_REACH_MESSAGES + 1)]
            for i, when in enumerate(times):
                await store.record_message(MessageMeta(
                    when=when, direction="inbound", sender="research@news-mailer.example",
                    recipients=("sarah@example.org",), message_id=f"<n{i}@news-mailer.example>",
                    campaign_keys=(key,)), ["example.org"])
            reach = await store.campaign_reach([key], 0.0)
            assert reach.truncated and reach.first_seen > _NOW - 3600, case  # the earliest is beyond what it reads
            result = await runtime.analyse(_POST, _env(_NOW))
        finally:
            await runtime.close()
        signals = {s.name for s in result.signals}
        assert ("context.list_unauthenticated" not in signals) is established, case
        assert (result.decision.verdict < Verdict.SUSPICIOUS) is established, case
