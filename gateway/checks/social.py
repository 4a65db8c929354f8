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
from typing import Any

from gateway.checks import CheckContext
from gateway.checks.lists import registered_domain
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


def unwrap(text: str, net: Network) -> dict[str, str] | None:
    """{name, headline, text} of the persona message in a notification's text, or None."""
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
    return {"name": name, "headline": headline, "text": body}


def dmarc_result(facts: dict[str, Any]) -> str | None:
    """DMARC result from the auth check's `facts["auth"]` when it ran (a mapping or an object with
    a `dmarc` entry that is a word or has `.result`); None when unknown."""
    auth = facts.get("auth")
    if auth is None:
        return None
    value = auth.get("dmarc") if isinstance(auth, dict) else getattr(auth, "dmarc", None)
    if isinstance(value, dict):
        value = value.get("result")
    elif value is not None and not isinstance(value, str):
        value = getattr(value, "result", None)
    return str(value).lower() if value else None


class SocialUnwrapCheck:
    name = "social"
    SIGNALS = frozenset({"social.persona_message", "social.fake_notification"})

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        reg = registered_domain(view.from_domain)
        for net in NETWORKS:
            if reg in net.domains:
                dmarc = dmarc_result(ctx.facts)
                if dmarc == "fail":  # dressed as the network but not authenticated as it
                    return [Signal("social.fake_notification", {"network": net.name, "from_domain": view.from_domain,
                                                                "dmarc": dmarc})]
                persona = unwrap(view.plain_text or view.body_text, net)
                if persona is None:
                    return []  # the network's own notification (jobs, invitations, digests)
                persona["network"] = net.name
                ctx.facts["persona"] = persona
                return [Signal("social.persona_message", {
                    "network": net.name, "persona": persona["name"][:80],
                    "headline": persona["headline"][:120], "dmarc": dmarc or "unknown"})]
        for net in NETWORKS:
            if net.display.search(view.from_display) and net.opener.search(view.body_text[:4000]):
                return [Signal("social.fake_notification", {
                    "network": net.name, "from_domain": view.from_domain or "(none)"})]
        return []
