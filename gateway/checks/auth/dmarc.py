"""DMARC (RFC 7489): policy discovery, identifier alignment, the result and the policy.

Purpose: find the From domain's DMARC record (at the From domain, then at its organisational
domain from the Public Suffix List), decide whether SPF or DKIM passed for an aligned domain
(relaxed or strict per `aspf`/`adkim`), and report the result with the policy that applies
(`p`, or `sp` for a subdomain) and `pct`. The gateway only reports; it never rejects.

A DNS failure during discovery is `temperror`. So is a message with no aligned pass where an
aligned check itself failed temporarily (SPF temperror, DKIM temperror for an aligned d=): a
DNS outage must not look like spoofing.

DMARCbis's DNS tree walk is available behind `tree_walk=True` (off by default): discovery then
walks up to 8 names from the From domain towards its TLD instead of jumping to the PSL
organisational domain; alignment still uses the PSL.

Untrusted input: the From domain (a stranger's) and the DMARC record in DNS.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.checks.auth.dkim import DkimResult
from gateway.checks.auth.spf import SpfResult
from gateway.domains import aligned, org_domain

POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True)
class DmarcRecord:
    p: str
    sp: str
    pct: int
    adkim: str
    aspf: str
    domain: str  # where the record was found


@dataclass(frozen=True)
class DmarcResult:
    result: str  # pass fail none temperror permerror
    from_domain: str
    org_domain: str = ""
    policy: str = ""  # the policy that applies to this From domain: p or sp
    policy_tag: str = ""  # "p" or "sp"
    pct: int = 100
    aligned_spf: bool = False
    aligned_dkim: bool = False
    aligned_domain: str = ""  # the d= or MAIL FROM domain that produced the aligned pass
    record_domain: str = ""
    reason: str = ""


class _Temp(Exception):
    pass


class _Invalid(Exception):
    pass


def parse_record(txt: str, domain: str) -> DmarcRecord:
    """Raise _Invalid when the record has no usable p (and no rua to fall back on)."""
    tags: dict[str, str] = {}
    for part in txt.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    p = tags.get("p", "").lower()
    if p not in POLICIES:
        if "rua" in tags:
            p = "none"  # RFC 7489 section 6.6.3: act as p=none when rua is valid
        else:
            raise _Invalid(f"invalid or missing p= in DMARC record at {domain}")
    sp = tags.get("sp", p).lower()
    if sp not in POLICIES:
        sp = p
    try:
        pct = max(0, min(100, int(tags.get("pct", "100"))))
    except ValueError:
        pct = 100
    adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
    aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
    return DmarcRecord(p, sp, pct, adkim, aspf, domain)


async def _fetch(resolver: Any, domain: str, deadline: float) -> DmarcRecord | None:
    ans = await resolver.query(f"_dmarc.{domain}", "TXT", timeout=deadline - time.monotonic())
    if ans.temporary:
        raise _Temp(f"DNS {ans.rcode} for _dmarc.{domain}")
    found = [r for r in ans.records if r.replace(" ", "").lower().startswith("v=dmarc1;")
             or r.strip().lower() == "v=dmarc1"]
    if len(found) != 1:
        return None  # none, or several: no DMARC processing (section 6.6.3)
    return parse_record(found[0], domain)


def _walk_names(from_domain: str) -> list[str]:
    """DMARCbis tree walk: the From domain, then at most 7 shorter names, never the bare TLD."""
    labels = from_domain.split(".")
    names = [from_domain]
    start = max(1, len(labels) - 7) if len(labels) > 8 else 1
    for i in range(start, len(labels) - 1):
        names.append(".".join(labels[i:]))
    return names


async def discover(resolver: Any, from_domain: str, *, timeout: float = 10.0,
                   tree_walk: bool = False) -> DmarcRecord | None:
    deadline = time.monotonic() + timeout
    if tree_walk:
        names = _walk_names(from_domain)
    else:
        org = org_domain(from_domain)
        names = [from_domain] + ([org] if org and org != from_domain else [])
    for name in names:
        record = await _fetch(resolver, name, deadline)
        if record is not None:
            return record
    return None


def _alignment(from_domain: str, record: DmarcRecord, spf: SpfResult | None,
               dkim: Sequence[DkimResult]) -> tuple[bool, bool, str, bool]:
    """(aligned_spf, aligned_dkim, aligned_domain, an aligned check failed temporarily)."""
    spf_ok = spf is not None and spf.result == "pass" and aligned(spf.domain, from_domain, record.aspf)
    temp = spf is not None and spf.result == "temperror" and aligned(spf.domain, from_domain, record.aspf)
    dkim_domain = ""
    for res in dkim:
        if not aligned(res.domain, from_domain, record.adkim):
            continue
        if res.result == "pass" and not dkim_domain:
            dkim_domain = res.domain
        elif res.result == "temperror":
            temp = True
    domain = dkim_domain or (spf.domain.lower() if spf_ok and spf is not None else "")
    return spf_ok, bool(dkim_domain), domain, temp


async def check_dmarc(resolver: Any, from_domain: str | None, spf: SpfResult | None,
                      dkim: Sequence[DkimResult], *, timeout: float = 10.0,
                      tree_walk: bool = False) -> DmarcResult:
    """The DMARC result for the message's (single) From domain."""
    if not from_domain:
        return DmarcResult("none", "", reason="no single From domain")
    from_domain = from_domain.lower().rstrip(".")
    org = org_domain(from_domain) or from_domain
    try:
        record = await discover(resolver, from_domain, timeout=timeout, tree_walk=tree_walk)
    except _Temp as exc:
        return DmarcResult("temperror", from_domain, org, reason=str(exc))
    except _Invalid as exc:
        return DmarcResult("permerror", from_domain, org, reason=str(exc))
    if record is None:
        return DmarcResult("none", from_domain, org, reason="no DMARC record")
    at_from = record.domain == from_domain
    policy, tag = (record.p, "p") if at_from else (record.sp, "sp")
    spf_ok, dkim_ok, domain, temp = _alignment(from_domain, record, spf, dkim)
    if spf_ok or dkim_ok:
        result, reason = "pass", ""
    elif temp:
        result, reason = "temperror", "an aligned check failed temporarily"
    else:
        result, reason = "fail", "no aligned SPF or DKIM pass"
    return DmarcResult(result, from_domain, org, policy, tag, record.pct, spf_ok, dkim_ok, domain,
                       record.domain, reason)
