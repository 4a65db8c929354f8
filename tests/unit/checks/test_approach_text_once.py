"""`approach_text` (the stranger's own words) is read by claims, pretext and campaign: it is
computed once per message and every reader gets the same text, for the persona it asks about."""

from __future__ import annotations

from gateway.checks import CheckContext
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
    ctx = _ctx("My own words.\n> quoted words\n")
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
                 "Our side's words.\n",
                 "Thanks.\n\nOn Mon, Nov 2, 2026 at 6:05 PM Dana Prof wrote:  \nOur side's words.\n",
                 "Thanks.\n-----Original Message-----\nFrom: Dana Prof <d.prof@example.ac.uk>\n"
                 "Sent: Monday\n\nOurs.\n"):
        lf = approach_text(_ctx(body), None)
        assert lf.startswith("Thanks") and "Our" not in lf, body
        assert approach_text(_ctx(body.replace("\n", "\r\n")), None) == lf, body
