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
