"""Indicators from published alerts, matched against each message; also the `hunt` matcher.

Purpose: admins copy indicators from alerts (persona names, company names, domains, addresses,
phone numbers, URLs, handles) into YAML files named in `signals.indicators` (format:
docs/indicators.md; loaded and validated with the reference data, gateway/refdata.py); every
message's sender, display name, Reply-To, unwrapped persona, links and text are compared with
them. The same normalisation serves `hunt`, which searches the store's history.

Untrusted input: the message (a stranger's); the indicator files are the admin's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.checks import Check, CheckContext, signal
from gateway.checks.social import Persona
from gateway.model import Signal
from gateway.refdata import Indicator, digits_of
from gateway.urlhost import href_host

MAX_TEXT = 100_000


def _domain_hit(domain: str, wanted: str) -> bool:
    return domain == wanted or domain.endswith("." + wanted)


def match(indicators: Iterable[Indicator], *, names: list[str], addresses: list[str], domains: list[str],
          urls: list[str], text: str) -> list[tuple[Indicator, str]]:
    """(indicator, where) for every indicator found in the given parts of a message."""
    low_text = text[:MAX_TEXT].lower()
    digits = digits_of(text[:MAX_TEXT]) if text else ""
    phone_digits = re.sub(r"[\s().-]", "", text[:MAX_TEXT])
    names_l = [n.lower() for n in names if n]
    out: list[tuple[Indicator, str]] = []
    for ind in indicators:
        v = ind.value.lower()
        where = ""
        if ind.kind in ("personas", "companies"):
            pat = re.compile(r"(?<!\w)" + re.escape(v) + r"(?!\w)")
            where = next(("name" for n in names_l if pat.search(n)), "") or ("text" if pat.search(low_text) else "")
        elif ind.kind == "domains":
            where = next((f"domain {d}" for d in domains if _domain_hit(d, v)), "") or \
                ("text" if re.search(r"(?<![\w.-])" + re.escape(v) + r"(?![\w-])", low_text) else "")
        elif ind.kind == "addresses":
            where = "address" if v in addresses else ("text" if v in low_text else "")
        elif ind.kind == "phones":
            d = digits_of(v)
            where = "text" if d and (d in phone_digits or (len(d) >= 9 and d in digits)) else ""
        elif ind.kind == "urls":
            where = next(("link" for u in urls if u.lower().startswith(v)), "") or ("text" if v in low_text else "")
        elif ind.kind == "handles":
            where = "text" if re.search(r"(?<![\w@])" + re.escape(v) + r"(?!\w)", low_text) else ""
        if where:
            out.append((ind, where))
    return out


class IndicatorCheck(Check):
    name = "indicators"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("indicator.match", "matches an indicator from a published alert (signals.indicators)",
               kind=str, value=str, where=str, source=str),
    )
    needs = (Persona,)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        indicators = ctx.data.indicators
        if not indicators:
            return []
        view = ctx.view
        persona = ctx.get(Persona)
        addresses = [view.from_address] + list(view.reply_to)
        if "@" in ctx.envelope.mail_from:
            addresses.append(ctx.envelope.mail_from.lower())
        addresses += view.addresses("Sender")
        domains = sorted({a.rsplit("@", 1)[1] for a in addresses if "@" in a} |
                         {href_host(u) for u in view.html_links[:500]} - {""})  # as a browser goes
        names = [view.from_display] + ([persona.name, persona.headline] if persona else [])
        text = "\n".join([view.visible_subject, view.body_text, persona.text if persona else ""])
        hits = match(indicators, names=names, addresses=addresses, domains=domains,
                     urls=view.html_links[:500], text=text)
        return [Signal("indicator.match", {"kind": ind.kind, "value": ind.value, "where": where,
                                           "source": ind.source}) for ind, where in hits[:20]]
