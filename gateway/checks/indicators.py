"""Indicators from published alerts, matched against each message; also the `hunt` matcher.

Purpose: admins copy indicators from alerts (persona names, company names, domains, addresses,
phone numbers, URLs, handles) into YAML files named in `signals.indicators`; every message's
sender, display name, Reply-To, unwrapped persona, links and text are compared with them. The
same normalisation serves `hunt`, which searches the store's history.

File format (errors name file, line and fix):

    source: "NPSA alert 2026-03"
    indicators:
      personas: [Kevin Zhao]          # whole-word, case-insensitive, in names and text
      companies: [Harbourline Consulting Group]
      domains: [harbourline-consulting.com]   # sender, Reply-To and link domains (sub-domains too)
      addresses: [jessica.moore.globaltalent@gmail.com]
      phones: ["+852 5550 1837"]      # compared as digits only
      urls: [https://example.net/brief]
      handles: ["@exec_search_mike"]

Untrusted input: the message (a stranger's); the indicator files are the admin's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.checks import CheckContext
from gateway.model import Signal
from gateway.yamlmarks import YamlError, load_located

KINDS = ("personas", "companies", "domains", "addresses", "phones", "urls", "handles")
MAX_TEXT = 100_000


class IndicatorError(ValueError):
    """An indicator file is invalid; the message names file, line and fix."""


@dataclass(frozen=True)
class Indicator:
    kind: str
    value: str
    source: str

    @property
    def needle(self) -> str:
        """What `hunt` looks for in stored metadata."""
        if self.kind == "phones":
            return _digits(self.value)
        return self.value.lower()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text).lstrip("0")


@functools.lru_cache(maxsize=8)
def load_indicators(files: tuple[str, ...]) -> tuple[Indicator, ...]:
    out: list[Indicator] = []
    for f in files:
        try:
            doc = load_located(f)
        except (YamlError, OSError) as exc:
            raise IndicatorError(f"{f}: {exc}") from exc
        top = doc.value if isinstance(doc.value, dict) else None
        if top is None or not isinstance(top.get("indicators"), dict):
            raise IndicatorError(f"{doc.where(())}: expected 'indicators:' with lists named "
                                 f"{', '.join(KINDS)}; see gateway/checks/indicators.py for the format")
        source = str(top.get("source") or f)
        for kind, values in top["indicators"].items():
            if kind not in KINDS:
                raise IndicatorError(f"{doc.where(('indicators', kind))}: unknown kind {kind!r}; "
                                     f"use one of: {', '.join(KINDS)}")
            if not isinstance(values, list):
                raise IndicatorError(f"{doc.where(('indicators', kind))}: expected a list; write e.g. [a, b]")
            for i, v in enumerate(values):
                if not isinstance(v, (str, int)) or not str(v).strip():
                    raise IndicatorError(f"{doc.where(('indicators', kind, i))}: empty or non-text value; "
                                         "quote it")
                if kind == "phones" and len(_digits(str(v))) < 6:
                    raise IndicatorError(f"{doc.where(('indicators', kind, i))}: {v!r} has fewer than 6 digits; "
                                         "write the full international number")
                out.append(Indicator(kind, str(v).strip(), source))
    return tuple(out)


def _domain_hit(domain: str, wanted: str) -> bool:
    return domain == wanted or domain.endswith("." + wanted)


def match(indicators: Iterable[Indicator], *, names: list[str], addresses: list[str], domains: list[str],
          urls: list[str], text: str) -> list[tuple[Indicator, str]]:
    """(indicator, where) for every indicator found in the given parts of a message."""
    low_text = text[:MAX_TEXT].lower()
    digits = _digits(text[:MAX_TEXT]) if text else ""
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
            d = _digits(v)
            where = "text" if d and (d in phone_digits or (len(d) >= 9 and d in digits)) else ""
        elif ind.kind == "urls":
            where = next(("link" for u in urls if u.lower().startswith(v)), "") or ("text" if v in low_text else "")
        elif ind.kind == "handles":
            where = "text" if re.search(r"(?<![\w@])" + re.escape(v) + r"(?!\w)", low_text) else ""
        if where:
            out.append((ind, where))
    return out


class IndicatorCheck:
    name = "indicators"
    SIGNALS = frozenset({"indicator.match"})

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        files = ctx.config.signals.indicators
        if not files:
            return []
        view = ctx.view
        persona = ctx.facts.get("persona") or {}
        addresses = [view.from_address] + list(view.reply_to)
        if "@" in ctx.envelope.mail_from:
            addresses.append(ctx.envelope.mail_from.lower())
        addresses += view.addresses("Sender")
        domains = sorted({a.rsplit("@", 1)[1] for a in addresses if "@" in a} |
                         {(urlsplit(u).hostname or "").lower() for u in view.html_links[:500]} - {""})
        names = [view.from_display, str(persona.get("name", "")), str(persona.get("headline", ""))]
        text = "\n".join([view.subject, view.body_text, str(persona.get("text", ""))])
        hits = match(load_indicators(files), names=names, addresses=addresses, domains=domains,
                     urls=view.html_links[:500], text=text)
        return [Signal("indicator.match", {"kind": ind.kind, "value": ind.value, "where": where,
                                           "source": ind.source}) for ind, where in hits[:20]]
