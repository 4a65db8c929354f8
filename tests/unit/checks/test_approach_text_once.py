"""`approach_text` (the stranger's own words) is read by claims, pretext and campaign: it is
computed once per message and every reader gets the same text, for the persona it asks about."""

from __future__ import annotations

import pytest

from gateway.checks import CheckContext, claims
from gateway.checks.claims import approach_text
from gateway.checks.social import Persona
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from tests.support.messages import config, message


def _ctx(body: str) -> CheckContext:
    cfg = config()
    reply = {"In-Reply-To": "<ours-1@example.org>"}  # only a reply's quotes are cut
    return CheckContext(view=MessageView.parse(message("A <a@b.test>", body, headers=reply)),
                        envelope=Envelope("", (), Client()), config=cfg, data=ReferenceData.load(cfg),
                        domains=Domains(cfg.local_domains))


def test_computed_once_per_message_and_the_same_for_every_reader() -> None:
    ctx = _ctx("My own words.\nOn Mon, 2 Nov 2026, Dana Prof <d.prof@example.ac.uk> wrote:\n> quoted words\n")
    first = approach_text(ctx, None)
    assert first == "My own words."
    assert approach_text(ctx, None) is first
    assert ctx.approach_text == (None, first)


def test_a_persona_gets_its_own_text_not_the_cached_body() -> None:
    ctx = _ctx("The notification's body.\n")
    assert approach_text(ctx, None) == "The notification's body."
    persona = Persona(network="linkedin", name="Kevin Zhao", headline="", text="The persona's message.")
    assert approach_text(ctx, persona) == "The persona's message."
    assert approach_text(ctx, persona) == "The persona's message."
    assert approach_text(ctx, None) == "The notification's body."


def test_crlf_text_is_cut_where_lf_text_is() -> None:
    """attack22 #15: SMTP mail is CRLF and so is its decoded text; the attribution "On ... wrote:"
    ended in "\\r" before "$" and never matched, so a real reply's quoted history was never cut."""
    for body in ("Thanks, that works.\n\nOn Mon, 2 Nov 2026 at 18:05, Dana Prof <d.prof@example.ac.uk> wrote:\n"
                 "> Our side's words.\n",
                 "Thanks.\n\nOn Mon, Nov 2, 2026 at 6:05 PM Dana Prof wrote:  \n> Our side's words.\n",
                 "Thanks.\n-----Original Message-----\nFrom: Dana Prof <d.prof@example.ac.uk>\n"
                 "Sent: Monday\n\nOurs.\n"):
        lf = approach_text(_ctx(body), None)
        assert lf.startswith("Thanks") and "Our" not in lf, body
        assert approach_text(_ctx(body.replace("\n", "\r\n")), None) == lf, body


APPROACH = "Dear Dana,\nWe offer an honorarium of USD 500. Could we continue this on WhatsApp?\n"


def test_only_a_quoted_region_attributed_to_our_side_is_cut() -> None:
    """attack22 #7: '> ' on every line (no attribution), or a fake attribution naming the recipient
    over the unquoted approach (plain or HTML), left the approach unread. Only '>' blocks under an
    attribution naming ours or a recipient are cut; unquoted text after them is read."""
    quoted = "".join("> " + ln + "\n" for ln in APPROACH.splitlines())
    ours = "On Mon, 2 Nov 2026 at 18:05, Dana Prof <d.prof@example.ac.uk> wrote:\n"
    for body in (quoted, "Hi.\n\n" + quoted, "Hi Dana, as promised.\n\n" + ours + "\n" + APPROACH,
                 "Hi.\nOn Mon, 2 Nov 2026, Lee Wong <lee.wong@gmail.com> wrote:\n" + quoted,
                 "Hi.\nSee below:\n" + quoted):
        for eol in ("\n", "\r\n"):
            assert "WhatsApp" in approach_text(_ctx(body.replace("\n", eol)), None), body
    html = "<p>Hi Dana, as promised.</p><div>" + ours + "</div><div>" + APPROACH.replace("\n", "<br>") + "</div>"
    cfg = config()
    view = MessageView.parse(message("A <a@b.test>", "", html=html))
    ctx = CheckContext(view=view, envelope=Envelope("", (), Client()), config=cfg, data=ReferenceData.load(cfg),
                       domains=Domains(cfg.local_domains))
    assert "WhatsApp" in approach_text(ctx, None)
    # a reply to our side: its quoted blocks (inline answers too) and their attribution are cut, the answers read
    body = ("Thanks, see my answers.\n\nOn Mon, Nov 2, 2026 at 6:05 PM Dana Prof wrote:\n\n" + quoted
            + "My answer one.\n> Ours again\nMy answer two.\n")
    for eol in ("\n", "\r\n"):
        assert approach_text(_ctx(body.replace("\n", eol)), None) == (
            "Thanks, see my answers.\n\nMy answer one.\nMy answer two.")


def test_attributions_looked_up_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = claims._quotes_our_side
    monkeypatch.setattr(claims, "_quotes_our_side", lambda ctx, who: calls.append(who) or real(ctx, who))
    text = approach_text(_ctx("Lee Wong wrote:\n> a quote\n" * 300), None)
    assert len(calls) == claims.MAX_QUOTE_MARKS and text.count("> a quote") == 300
