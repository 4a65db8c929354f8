"""List and bulk headers count as list mail only when an authenticated domain backs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.checks.listauth import ListAuthCheck
from gateway.model import Client, Envelope, Verdict
from gateway.runtime import Runtime
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
        to: str = "Dana Prof <d.prof@example.ac.uk>") -> set[str]:
    return names(run([ListAuthCheck()], message(from_, "Hello.", headers=headers, to=to), CFG,
                     mail_from=mail_from)[0])


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
