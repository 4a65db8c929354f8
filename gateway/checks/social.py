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
_NAME = r"(?P<{}>@?[^\W\d_][^\n]{{1,78}}?)"  # a name, or a handle ("@kzhao_policy") where the network gives one
# The same name where blanks (`\s+`) follow it: one that ends in a blank is not tried, which finds what _NAME finds
# (a shorter name's `\s+` takes those blanks), but a run of odd blanks (U+2003, U+00A0) after "message" is not read
# once per length of name: 50-75 ms a search of 3,000 characters, 1 ms now (sweep33).
_NAME_BEFORE_BLANKS = r"(?P<{}>@?[^\W\d_](?:[^\S\n]|[^\n]{{0,77}}?\S))"


@dataclass(frozen=True)
class Network:
    name: str
    domains: tuple[str, ...]  # registered domains the network's notifications come from
    brand: re.Pattern[str]  # the network's name in a display name ("X via LinkedIn")


NETWORKS = (
    Network("linkedin", ("linkedin.com",), re.compile(r"\blinked\s*in\b", re.I)),
    Network("xing", ("xing.com",), re.compile(r"\bxing\b", re.I)),
    Network("x", ("x.com", "twitter.com"), re.compile(r"\b(?:X|Twitter)\b")),
    Network("researchgate", ("researchgate.net", "researchgatemail.net"), re.compile(r"\bresearch\s*gate\b", re.I)),
    Network("academia", ("academia.edu", "academia-mail.com"), re.compile(r"\bacademia(?:\.edu)?\b", re.I)),
    Network("facebook", ("facebookmail.com",), re.compile(r"\bfacebook\b", re.I)),
)
# How notifications name the person inside, in their many wordings (message, InMail, invitation
# with a note, direct message, comment); none of them is needed exactly.
_OPENERS = re.compile(
    # "Michael, you have a new message from NAME": the recipient's first name before the opener
    r"^[ \t]*(?:[A-Z][\w'’-]{1,30},[ \t]+)?(?:"
    + _NAME_BEFORE_BLANKS.format("name") + r"\s+(?:\(@[\w.]{1,30}\)\s+)?(?:has\s+)?"
    r"(?:sent\s+you|messaged\s+you|wrote\s+to\s+you|would\s+like\s+to|asked\s+you|"
    r"wants\s+to|invited\s+you|replied|commented|mentioned\s+you|hat\s+Ihnen|vous\s+a\s+envoy|souhaite|"
    r"le\s+ha\s+enviado|te\s+ha\s+enviado)"
    # "New message from NAME", "You have 2 new messages from NAME", "Neue Nachricht von NAME",
    # "Nouveau message de NAME"
    r"|(?:you\s+have\s+(?:an?\s+|\d{1,3}\s+)?)?(?:new\s+|neue\s+|nouveau\s+)?"
    r"(?:InMail|message|direct\s+message|note|Nachricht)s?\s+(?:from|von|de)\s+" + _NAME.format("name2")
    + r"[ \t]*:?[ \t]*$"
    r")", re.I | re.M)
# The notification's own links end the persona's text. One-word labels (Reply, Accept, Ignore, Manage, Help) only
# as a label: a short line, or the word followed by a colon or a link ("Reply: https://..."); a wrapped line of
# the persona's message that starts "help experienced public servants ..." is still the message.
_FOOTER = re.compile(r"^[ \t]*(?:(?:reply|accept|ignore|antworten|manage|help)\b(?=[^\n]{0,40}$|[ \t]*:|[^\n]*https?://)|"
                     r"read and reply|view (?:message|profile|conversation)|"
                     r"-{6,}|_{6,}|this (?:e-?mail|message) was|you (?:are )?receiv|learn why|unsubscribe|"
                     r"©|\(c\)|this email was meant)", re.I | re.M)
# a quotation: an opening mark, 20 to 4,000 characters without a closing or English opening one, a closing mark (what
# `re.search(r'[\"“„«]([^\"”“»]{20,4000})[\"”»]')` finds, found in one pass: that pattern backtracked through up
# to 4,000 characters from every "«" or "„", which its characters may be: 1.5-2 s of CPU for 20,000 "«", attack32 #3)
_QUOTE_OPEN, _QUOTE_CLOSE = "\"“", "\"”»"  # (the marks that end a quotation's text and may open the next one)
_QUOTE_ENDS = re.compile(r"[\"”“»]")
_QUOTE_OPEN_INSIDE = re.compile(r"[„«]")  # (German and French opening marks: inside a quotation's text too)
QUOTED_MIN, QUOTED_MAX = 20, 4000
_VIA = re.compile(r"\s*(?:[-|–]\s*|\(\s*(?:via\s+)?|\b(?:via|on|from)\s+)(?:LinkedIn|XING|X|Twitter|ResearchGate|"
                  r"Academia(?:\.edu)?|Facebook)\)?\s*$", re.I)


@dataclass(frozen=True)
class Persona(Fact):
    """The person inside a social-network notification; policies read `persona.name`,
    `persona.headline`, `persona.text`, `persona.network`."""

    policy_name = "persona"
    network: str
    name: str
    headline: str
    text: str


def persona_name(display: str, text: str, net: Network) -> str:
    """The person's name: the display name without the network ("Kevin Zhao via LinkedIn"), or
    the name the notification's opening line gives; "" when it names nobody (the network's own
    notifications: jobs, digests, who viewed your profile)."""
    name = _VIA.sub("", display).strip(" \"'")
    if name and not net.brand.fullmatch(name) and not net.brand.search(name):
        return name[:80]
    m = _OPENERS.search(text[:3000])
    return (m.group("name") or m.group("name2") or "").strip()[:80] if m else ""


def quotation(text: str) -> str | None:
    """The text of the leftmost quotation in `text` (see `_QUOTE_ENDS`), or None; linear in `text`. Each ending mark
    closes the quotations opened since the one before it: the mark before (when it may open one) or a "„" or "«"
    between them, the first that leaves 20 to 4,000 characters."""
    last = -1  # the ending mark before this one (-1: none)
    for end in _QUOTE_ENDS.finditer(text):
        at = end.start()
        if text[at] in _QUOTE_CLOSE and at - last > QUOTED_MIN:
            lo = max(last, at - QUOTED_MAX - 1)  # the leftmost place an opening mark may be
            if last >= lo and last >= 0 and text[last] in _QUOTE_OPEN:
                return text[last + 1:at]
            opened = _QUOTE_OPEN_INSIDE.search(text, max(lo, last + 1), at - QUOTED_MIN)
            if opened is not None:
                return text[opened.start() + 1:at]
        last = at
    return None


def unwrap(text: str, net: Network, display: str = "") -> Persona | None:
    """The persona inside a notification's text, or None."""
    name = persona_name(display, text, net)
    if not name:
        return None
    lines = text[:MAX_PERSONA_TEXT].splitlines()
    start = next((i for i, ln in enumerate(lines[:25]) if ln.strip() == name or
                  (ln.strip().startswith(name) and len(ln.strip()) <= len(name) + 4)), None)
    opener = _OPENERS.search(text[:3000])
    if start is None:
        if opener is None:
            return None  # the name appears nowhere as a sender: not a relayed message
        start = text[:opener.start()].count("\n")  # "InMail from NAME": the headline follows
    headline = ""
    if start + 1 < len(lines):
        cand = lines[start + 1].strip()
        if cand and len(cand) <= 200 and not _FOOTER.match(cand):
            headline = cand
    from_line = start + (2 if headline else 1)
    rest = "\n".join(lines[from_line:])
    foot = _FOOTER.search(rest)
    block = (rest[:foot.start()] if foot else rest).strip()
    quoted = quotation(block)
    body = quoted if quoted is not None and len(quoted) >= len(block) / 3 else block
    body = re.sub(r"^(?:Subject|Message from [^:\n]{1,60}):[^\n]*\n?", "", body, flags=re.M | re.I).strip()
    return Persona(net.name, name, headline, body[:MAX_PERSONA_TEXT])


class SocialUnwrapCheck(Check):
    name = "social"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
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
                persona = unwrap(view.plain_text or view.body_text, net, view.from_display)
                if persona is None:
                    return []  # the network's own notification (jobs, invitations, digests)
                ctx.put(persona)
                return [Signal("social.persona_message", {
                    "network": net.name, "persona": persona.name[:80], "headline": persona.headline[:120]})]
        for net in NETWORKS:
            if net.brand.search(view.from_display) and _OPENERS.search(view.body_text[:4000]):
                return [Signal("social.fake_notification", {
                    "network": net.name, "from_domain": view.from_domain or "(none)"})]
        return []
