"""Identity signals: claimed affiliation vs sending domain, display-name anomalies, Reply-To.

Purpose: the seed case -- a free-mail address claiming a famous employer -- and its relatives.
Claims ("I work at Google's AI division", "IBM research centre", "Senior Partner, X Executive
Search") are found in the display name, the body (signature included) and an unwrapped social
persona (`Persona`), resolved against the organisations list, and compared with the domain the
mail comes from. Student, applicant and alumni phrasing is not a claim of employment.

Untrusted input: display name, Reply-To, body text and persona text, all a stranger's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.checks import Check, CheckContext, signal
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.social import Persona
from gateway.domains import name_tokens, registered_domain, skeleton
from gateway.model import Signal
from gateway.parse import MessageView
from gateway.refdata import Organisation, ReferenceData

MAX_SCAN = 30_000
MAX_STAFF_FILE = 4 * 1024 * 1024
_ROLE = (r"(?:Director|Manager|Partner|Consultant|Recruiter|Researcher|Scientist|Engineer|Professor|"
         r"Fellow|Head|Lead|Officer|Analyst|Editor|Correspondent|Journalist|Reporter|Advis[eo]r|"
         r"Associate|Specialist|Executive|President|VP|Principal|Lecturer|Chair|Counsel|Attaché|"
         r"Secretary|Coordinator|Representative|Producer|Strategist|Founder|CEO|CTO)")
_CUE_BEFORE = re.compile(
    r"(?:\b(?:I|[Ww]e)(?:'m|'re| am| are)?\s+(?:currently\s+)?(?:work(?:ing)?|employed|based)\s+(?:at|for|in)"
    r"|\bI(?:'m| am)\s+(?:with|at|from)"
    r"|\b(?:I|[Ww]e)\s+(?:write|report|cover)\b[^.\n]{0,50}?\b(?:for|at)"
    r"|\bI(?:'m| am)\s+(?:a|an|the)\b[^.\n]{0,60}?\b(?:at|with|from|in)"
    r"|\b(?:here|us)\s+at|\b[Oo]n behalf of|\b[Rr]epresent(?:ing)?"
    # "I have just joined X", not "since Finland and Sweden joined NATO"
    r"|\b(?:I|[Ww]e)(?:'ve| have)?\s+(?:just\s+|recently\s+)?joined"
    r"|\b(?:[Mm]y|[Oo]ur)\s+(?:team|lab|group|division|department|office|company|firm|colleagues|unit|"
    r"employer)\s+(?:at|in))\s*(?:the\s+)?$")
_ROLE_BEFORE = re.compile(r"\b" + _ROLE + r"\b[^.\n]{0,50}?(?:,|\bat\b|\bof\b|\||\s-|@)\s*(?:the\s+)?$")
# (possessive blanks: "^[ \t]*(...)?[ \t]*" split a line of n blanks n^2 ways, 49 s for 30,000, review32b #5; a word
# follows each run, so giving blanks back never matched)
_SIGN_OFF = re.compile(r"^[ \t]*+(?:best|kind|warm|with best)?[ \t]*+(?:regards|wishes|best|thanks|thank you|cheers|"
                       r"sincerely|yours)[ ,.!\w]{0,20}$|^--[ \t]*$", re.I | re.M)
_PAST = re.compile(r"^\s+(?:in|from|back in)\s+(?:19|20)\d\d\b|^\s+(?:years|decades) ago")
_DISPLAY_SEP = re.compile(r"[|,(/@]|\s[-–]\s|\bat\b")
_CUE_AFTER = re.compile(r"^(?:'s|’s)?\s+(?:AI\s+|HR\s+)?(?:research\s+(?:centre|center|lab|team|division)|"
                        r"division|talent|recruit\w*|headquarters)\b", re.I)
_NOT_EMPLOYMENT = re.compile(r"\b(?:student|studying|studied|graduat\w*|alumn\w*|applicant|applying|"
                             r"former(?:ly)?|previously|ex-|degree|MSc|BSc|intern|visited|attended|"
                             r"read|paper|published|cited)\b", re.I)


def signature_start(text: str) -> int:
    """Offset where the signature zone begins: after the last sign-off line, else the last 6 lines."""
    offs = list(_SIGN_OFF.finditer(text))
    last = offs[-1] if offs else None
    if last is not None:
        return last.start()
    lines = text.rstrip().rsplit("\n", 6)
    return len(text.rstrip()) - sum(len(x) + 1 for x in lines[1:]) if len(lines) > 6 else 0


def find_claims(text: str, data: ReferenceData, whole: bool = False,
                roles: bool = True) -> list[tuple[Organisation, str]]:
    """(organisation, snippet) for each claim of working for a listed organisation.
    `whole`: the text is itself a signature/headline (any mention counts); `roles`: job titles
    followed by an organisation count inside the signature zone."""
    pat, by_alias = data.alias_pattern
    out: list[tuple[Organisation, str]] = []
    seen: set[str] = set()
    text = text.replace("\u2019", "'")  # "I’ve joined", "I’m with": the cues are written with "'" (same length)
    sig_zone = signature_start(text[:MAX_SCAN]) if roles and not whole else len(text) + 1
    for m in pat.finditer(text[:MAX_SCAN]):
        org = by_alias[m.alias]
        if org.name in seen:
            continue
        line_start = max(text.rfind("\n", 0, m.start) + 1, m.start - 90)
        before = text[line_start:m.start]
        after = text[m.end:m.end + 40]
        claimed = whole or _CUE_BEFORE.search(before) is not None or _CUE_AFTER.match(after) is not None \
            or (m.start >= sig_zone and _ROLE_BEFORE.search(before) is not None)
        if claimed and not _NOT_EMPLOYMENT.search(before) and not _PAST.match(after):
            seen.add(org.name)
            snippet = re.sub(r"\s+", " ", text[max(line_start, m.start - 60):m.end + 30]).strip()
            out.append((org, snippet[:140]))
    return out


_DISPLAY_ADDR = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DISPLAY_DOMAIN = re.compile(r"\b(?:[a-z0-9-]+\.)+(?:co\.uk|ac\.uk|gov\.uk|com|org|net|gov|edu|info|io|co|cn|ru|de|fr)"
                             r"(?![\w-])", re.I)


def is_list_or_bulk(view: MessageView) -> bool:
    """Mailing-list or bulk mail (RFC 2369/2919 list headers, Yahoo Groups' Mailing-List, Precedence)."""
    if any(view.header(h) for h in ("List-Id", "List-Post", "List-Unsubscribe", "Mailing-List")):
        return True
    return (view.header("Precedence") or "").strip().lower() in ("bulk", "list", "junk")


def display_name_signals(ctx: CheckContext, display: str, from_address: str, from_domain: str,
                         persona: str = "", bulk: bool = False) -> list[Signal]:
    out: list[Signal] = []
    display = display[:256]  # names are short; the header may not be
    toks = re.findall(r"[^\W\d_]{2,}", display.lower())
    rep = next((a for a, b in zip(toks, toks[1:], strict=False) if a == b), None)
    if rep:
        out.append(Signal("identity.display_name_repeated", {"display_name": display[:80], "token": rep}))
    addr = _DISPLAY_ADDR.search(display)
    if addr and addr.group(0).lower() != from_address:
        out.append(Signal("identity.display_name_address", {"display_name": display[:80],
                                                            "address": addr.group(0), "from": from_address}))
    elif not addr and not bulk:  # "CNET News.com" newsletters name their brand, not a sender
        dom = _DISPLAY_DOMAIN.search(display)
        if dom and registered_domain(dom.group(0)) != registered_domain(from_domain):
            out.append(Signal("identity.display_name_domain", {"display_name": display[:80],
                                                               "domain": dom.group(0).lower(),
                                                               "from_domain": from_domain}))
    if not internal_sender(ctx):
        for who in (display, persona):
            toks_set = set(name_tokens(who))
            hit = next((p for p in ctx.data.protected_names if set(p) <= toks_set), None) if toks_set else None
            if hit:
                out.append(Signal("identity.protected_name_external", {
                    "name": " ".join(hit), "display_name": who[:80], "from": from_address}))
                break
    return out


def reply_to_signals(ctx: CheckContext) -> list[Signal]:
    view, data = ctx.view, ctx.data
    if not view.reply_to or not view.from_domain or is_list_or_bulk(view):
        return []
    group = set(view.addresses("To", "Cc"))
    from_reg = registered_domain(view.from_domain)
    if from_reg in data.notification_domains:
        return []
    out: list[Signal] = []
    for addr in view.reply_to[:5]:
        dom = addr.rsplit("@", 1)[-1]
        reg = registered_domain(dom)
        if not reg or reg == from_reg or ctx.domains.is_ours(dom) or addr in group:
            continue  # replies to the group the message was sent to are a list's habit
        free = data.is_freemail(dom)
        out.append(Signal("identity.reply_to_mismatch", {"from_domain": view.from_domain, "reply_to": addr,
                                                         "reply_to_freemail": free}))
        if free and not data.is_freemail(view.from_domain):
            out.append(Signal("identity.reply_to_freemail", {"from_domain": view.from_domain, "reply_to": addr}))
        break
    return out


def cc_persona_signals(ctx: CheckContext) -> list[Signal]:
    """Other outside free-mail addresses copied on a message from an outside sender: the extra
    "colleagues" of a multi-persona approach, each with a claimed affiliation of its own
    (Proofpoint, "Badblood"/"Multi-Persona Impersonation" on TA453, 2022; Proofpoint on TA427,
    2024). The sender may write from free-mail or from an organisation's (or an unknown) domain:
    `sender_freemail` says which. Lists and bulk mail are left out; friends who copy friends, and
    organisations that copy a private address, are common, so policies combine this with an
    identity the channel cannot back, or with an institutional claim and an ask."""
    view, data = ctx.view, ctx.data
    sender = view.from_address.lower()
    if is_list_or_bulk(view):
        return []
    others = []
    for addr in view.addresses("Cc")[:50]:  # personas are copied; To is the target
        dom = addr.rsplit("@", 1)[-1]
        if addr != sender and dom and not ctx.domains.is_ours(dom) and data.is_freemail(dom) and addr not in others:
            others.append(addr)
    if not others:
        return []
    return [Signal("identity.freemail_cc_personas", {"addresses": ", ".join(others[:5]), "count": len(others),
                                                      "sender_freemail": data.is_freemail(view.from_domain)})]


_FROM: dict[str, Any] = {"from": str}  # an evidence key that is a Python keyword


class IdentityCheck(Check):
    name = "identity"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("identity.claimed_affiliation_freemail", "claims to work for a listed organisation but writes "
               "from free-mail", organisation=str, kind=str, claim=str, sending_domain=str),
        signal("identity.claimed_affiliation_mismatch", "claims to work for a listed organisation but writes "
               "from a domain it does not own", organisation=str, kind=str, claim=str, sending_domain=str),
        signal("identity.persona_affiliation_unverified", "a persona relayed by a social network claims an "
               "organisation the network cannot vouch for", organisation=str, claim=str, network=str,
               persona=str),
        signal("identity.display_name_repeated", "the display name repeats a word (generated personas)",
               display_name=str, token=str),
        signal("identity.display_name_address", "the display name shows an address other than the sender's",
               display_name=str, address=str, **_FROM),
        signal("identity.display_name_domain", "the display name names a domain other than the sender's",
               display_name=str, domain=str, from_domain=str),
        signal("identity.protected_name_external", "a protected person's name (VIP or staff) on mail from outside",
               name=str, display_name=str, **_FROM),
        signal("identity.freemail_cc_personas", "an outside sender copies outside free-mail addresses "
               "(the extra personas of a multi-persona approach)", addresses=str, count=int, sender_freemail=bool),
        signal("identity.reply_to_mismatch", "replies go to a different domain than the sender's",
               from_domain=str, reply_to=str, reply_to_freemail=bool),
        signal("identity.reply_to_freemail", "replies go to free-mail although the sender's domain is not",
               from_domain=str, reply_to=str),
    )
    needs = (Persona, Origin)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        domain = view.from_domain.lower()
        if not domain or internal_sender(ctx):
            return []
        persona = ctx.get(Persona)
        out = display_name_signals(ctx, view.from_display, view.from_address, domain,
                                   persona.name if persona else "", is_list_or_bulk(view))
        out += reply_to_signals(ctx)
        if persona is None:
            out += cc_persona_signals(ctx)
        out += self._claims(ctx, domain, persona)
        return out

    def _claims(self, ctx: CheckContext, domain: str, persona: Persona | None) -> list[Signal]:
        data = ctx.data
        if persona is not None:
            claims = find_claims(persona.headline, data, whole=True) + find_claims(persona.text, data)
            return [Signal("identity.persona_affiliation_unverified", {
                "organisation": org.name, "claim": snippet, "network": persona.network,
                "persona": persona.name[:80]}) for org, snippet in _dedupe(claims)]
        free = data.is_freemail(domain)
        display = ctx.view.from_display
        # "IEEE SmartGridComm" from a conference service names an event, "Tom Bradley Reuters" or
        # "Ashley Park - Meta Recruiting" names a person and an employer; an organisation-titled
        # display name only counts from free-mail.
        dom_skel = skeleton(registered_domain(domain))
        claims = [(o, t) for o, t in find_claims(display, data, whole=True)
                  if free or _DISPLAY_SEP.search(display)
                  or any(re.sub(r"[^a-z0-9]", "", a.lower()) in dom_skel for a in o.aliases)]
        bulk = is_list_or_bulk(ctx.view)
        claims += find_claims(ctx.view.body_text, data, roles=not bulk)
        out = []
        for org, snippet in _dedupe(claims):
            if org.owns(domain):
                continue
            name = "identity.claimed_affiliation_freemail" if free else "identity.claimed_affiliation_mismatch"
            out.append(Signal(name, {"organisation": org.name, "kind": org.kind, "claim": snippet,
                                     "sending_domain": domain}))
        return out


def _dedupe(claims: list[tuple[Organisation, str]]) -> list[tuple[Organisation, str]]:
    seen: set[str] = set()
    out = []
    for org, snippet in claims:
        if org.name not in seen:
            seen.add(org.name)
            out.append((org, snippet))
    return out
