"""Social-network notification unwrapping: the persona inside a LinkedIn (or similar) message.

Purpose: a notification such as "Kevin Zhao sent you a new message" is authenticated as LinkedIn,
but the approach is Kevin's: his name, headline and text. This check recognises message
notifications from the networks' own domains and puts the persona into
`ctx.facts["persona"] = {network, name, headline, text}` so later checks (claimed affiliation,
off-channel handles, indicators, content policies) read the persona while the envelope stays the
network's. It runs first among the identity checks. A message that dresses up as a network
notification but comes from elsewhere -- or whose DMARC failed, when the auth check ran before
and left `ctx.facts["auth"]` -- is signalled instead of unwrapped.

Untrusted input: the notification's text (persona name, headline and message are a stranger's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.checks import Check, CheckContext, Fact, signal
from gateway.domains import registered_domain
from gateway.model import Signal

MAX_PERSONA_TEXT = 20_000


@dataclass(frozen=True)
class Network:
    name: str
    domains: tuple[str, ...]
    display: re.Pattern[str]  # display names the network uses
    opener: re.Pattern[str]  # the line that introduces the persona's message; group 'name'
    footer: re.Pattern[str]  # the first line after the persona's message


NETWORKS = (
    Network("linkedin", ("linkedin.com",), re.compile(r"\blinked\s*in\b", re.I),
            re.compile(r"^[ \t]*(?P<name>[^\n]{2,80}?) (?:sent you a (?:new )?message|has sent you an? "
                       r"(?:InMail|message)|sent you an InMail)\s*$", re.M),
            re.compile(r"^[ \t]*(?:Reply\b|View [^\n]*profile|-{6,}|This email was intended|Unsubscribe)", re.M)),
    Network("xing", ("xing.com",), re.compile(r"\bxing\b", re.I),
            re.compile(r"^[ \t]*(?P<name>[^\n]{2,80}?) (?:sent you a (?:new )?message|hat Ihnen eine "
                       r"Nachricht geschickt)\s*$", re.M),
            re.compile(r"^[ \t]*(?:Reply\b|Antworten|View [^\n]*profile|-{6,}|Unsubscribe)", re.M)),
)


@dataclass(frozen=True)
class Persona(Fact):
    """The person inside a social-network notification; policies read `persona.name`,
    `persona.headline`, `persona.text`, `persona.network`."""

    policy_name = "persona"
    network: str
    name: str
    headline: str
    text: str


def unwrap(text: str, net: Network) -> Persona | None:
    """The persona message in a notification's text, or None."""
    m = net.opener.search(text)
    if m is None:
        return None
    name = m.group("name").strip()
    rest = text[m.end():]
    foot = net.footer.search(rest)
    block = rest[:foot.start()] if foot else rest
    lines = [ln.strip() for ln in block.strip().splitlines()]
    if lines and lines[0] == name:
        lines = lines[1:]
    headline = ""
    if lines and lines[0] and len(lines[0]) <= 200:
        headline = lines[0]
        lines = lines[1:]
    body = "\n".join(lines).strip()[:MAX_PERSONA_TEXT]
    return Persona(net.name, name, headline, body)


class SocialUnwrapCheck(Check):
    name = "social"
    signals = (
        signal("social.persona_message", "a social network's notification carrying a stranger's message; the "
               "persona inside is checked like a sender", network=str, persona=str, headline=str),
        signal("social.fake_notification", "dressed up as a social network's notification but sent from "
               "elsewhere", network=str, from_domain=str),
    )
    provides = (Persona,)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        reg = registered_domain(view.from_domain)
        for net in NETWORKS:
            if reg in net.domains:
                persona = unwrap(view.plain_text or view.body_text, net)
                if persona is None:
                    return []  # the network's own notification (jobs, invitations, digests)
                ctx.put(persona)
                return [Signal("social.persona_message", {
                    "network": net.name, "persona": persona.name[:80], "headline": persona.headline[:120]})]
        for net in NETWORKS:
            if net.display.search(view.from_display) and net.opener.search(view.body_text[:4000]):
                return [Signal("social.fake_notification", {
                    "network": net.name, "from_domain": view.from_domain or "(none)"})]
        return []
