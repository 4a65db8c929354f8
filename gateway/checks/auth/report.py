"""Turn authentication results into signals, shared facts and our Authentication-Results value.

Purpose: one place that maps SPF/DKIM/DMARC/ARC results (computed here or believed from a
trusted border MTA) to the fixed signal names and the RFC 8601 clauses (`smtp.mailfrom`,
`header.d/i/s/a/b`, `header.from`, `policy.dmarc`, `header.oldest-pass`).

Untrusted input: result fields (domains, identities, reasons) that came from a stranger's
message or DNS; they are quoted or dropped by `authres.resinfo`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.authres import AuthResHeader, build_authres, resinfo
from gateway.checks.auth.arc import ArcResult
from gateway.checks.auth.dkim import DkimResult
from gateway.checks.auth.dmarc import DmarcResult
from gateway.checks.auth.spf import RESULTS as SPF_RESULTS
from gateway.checks.auth.spf import SpfResult
from gateway.domains import aligned, org_domain
from gateway.model import Signal

DKIM_RESULTS = ("pass", "fail", "neutral", "temperror", "permerror")
DMARC_RESULTS = ("pass", "fail", "none", "temperror", "permerror")


@dataclass(frozen=True)
class AuthOutcome:
    spf: SpfResult | None = None
    dkim: tuple[DkimResult, ...] = ()
    dmarc: DmarcResult | None = None
    arc: ArcResult | None = None
    trusted_from: str = ""  # authserv-id whose results were believed, "" when we checked

    def with_dmarc(self, dmarc: DmarcResult) -> AuthOutcome:
        return dataclasses.replace(self, dmarc=dmarc)



def _spf_signals(spf: SpfResult) -> list[Signal]:
    return [Signal(f"spf.{spf.result}", {"domain": spf.domain, "identity": spf.identity,
                                         "ip": spf.ip, "mechanism": spf.mechanism,
                                         "problem": spf.problem})]


def _dkim_signals(dkim: Sequence[DkimResult], from_domain: str) -> list[Signal]:
    if not dkim:
        return [Signal("dkim.none")]
    out = []
    for d in dkim:
        ev: dict[str, Any] = {"d": d.domain, "i": d.identity, "s": d.selector, "a": d.algorithm,
                              "reason": d.reason}
        if d.bits is not None:
            ev["bits"] = d.bits
        out.append(Signal(f"dkim.{d.result}", ev))
    aligned_pass = sorted({d.domain for d in dkim if d.result == "pass" and from_domain
                           and aligned(d.domain, from_domain, "r")})
    if aligned_pass:
        out.append(Signal("dkim.aligned", {"d": aligned_pass[0], "from_domain": from_domain}))
    return out


def _dmarc_signals(dmarc: DmarcResult) -> list[Signal]:
    ev = {"from_domain": dmarc.from_domain, "org_domain": dmarc.org_domain,
          "policy": dmarc.policy, "policy_tag": dmarc.policy_tag, "pct": dmarc.pct,
          "aligned_spf": dmarc.aligned_spf, "aligned_dkim": dmarc.aligned_dkim,
          "aligned_domain": dmarc.aligned_domain, "reason": dmarc.reason}
    out = [Signal(f"dmarc.{dmarc.result}", ev)]
    if dmarc.result == "fail" and dmarc.policy in ("reject", "quarantine"):
        out.append(Signal(f"dmarc.fail_{dmarc.policy}_policy", ev))
    return out


def signals_for(outcome: AuthOutcome) -> list[Signal]:
    out: list[Signal] = []
    if outcome.trusted_from:
        out.append(Signal("auth.trusted_results", {"authserv_id": outcome.trusted_from}))
    if outcome.spf is not None:
        out += _spf_signals(outcome.spf)
    from_domain = outcome.dmarc.from_domain if outcome.dmarc else ""
    if outcome.dkim or not outcome.trusted_from:
        out += _dkim_signals(outcome.dkim, from_domain)
    if outcome.dmarc is not None:
        out += _dmarc_signals(outcome.dmarc)
    if outcome.arc is not None:
        ev: dict[str, Any] = {"instances": outcome.arc.instances, "sealers": ",".join(outcome.arc.sealers),
                              "reason": outcome.arc.reason}
        if outcome.arc.oldest_pass is not None:
            ev["oldest_pass"] = outcome.arc.oldest_pass
        if outcome.arc.temporary:
            ev["temporary"] = True
        out.append(Signal(f"arc.{outcome.arc.result}", ev))
        if outcome.arc.vouched is not None:
            out.append(Signal("arc.trusted_pass", {"instance": outcome.arc.vouched[0], "sealer": outcome.arc.vouched[1],
                                                   "from_domain": from_domain}))
    return out


def _clauses(o: AuthOutcome) -> list[str]:
    clauses = []
    if o.spf is not None:
        prop = ("smtp.mailfrom", o.spf.sender) if o.spf.identity == "mailfrom" else ("smtp.helo", o.spf.domain)
        clauses.append(resinfo("spf", o.spf.result, o.spf.problem, [prop]))
    for d in o.dkim:
        comment = f"{d.bits}-bit key" if d.bits else d.reason
        clauses.append(resinfo("dkim", d.result, comment, [
            ("header.d", d.domain), ("header.i", d.identity), ("header.s", d.selector),
            ("header.a", d.algorithm), ("header.b", d.b)]))
    if not o.dkim and not o.trusted_from:
        clauses.append("dkim=none")
    if o.dmarc is not None:
        m = o.dmarc
        comment = f"{m.policy_tag}={m.policy} pct={m.pct}" if m.policy_tag else m.reason
        clauses.append(resinfo("dmarc", m.result, comment,
                               [("header.from", m.from_domain), ("policy.dmarc", m.policy)]))
    if o.arc is not None:
        props = [("header.oldest-pass", str(o.arc.oldest_pass))] if o.arc.oldest_pass is not None else []
        clauses.append(resinfo("arc", o.arc.result, "temporary DNS failure" if o.arc.temporary else "", props))
    return clauses


def authres_value(authserv_id: str, outcome: AuthOutcome) -> str:
    return build_authres(authserv_id, _clauses(outcome))


def _pick(value: str, allowed: Sequence[str], default: str) -> str:
    value = value.lower()
    return value if value in allowed else default


def from_trusted(headers: Sequence[AuthResHeader], from_domain: str | None) -> AuthOutcome:
    """Results from a trusted border MTA's Authentication-Results fields (topmost first)."""
    spf = dmarc = arc = None
    dkim: list[DkimResult] = []
    for res in (r for h in headers for r in h.results):
        p = res.props
        if res.method == "spf" and spf is None:
            sender = p.get("smtp.mailfrom", "")
            domain = sender.rpartition("@")[2] or p.get("smtp.helo", "")
            identity = "mailfrom" if sender else "helo"
            spf = SpfResult(_pick(res.result, SPF_RESULTS, "neutral"), domain.lower(), identity,
                            sender, "", problem=res.reason)
        elif res.method == "dkim":
            ident = p.get("header.i", "")
            domain = p.get("header.d", "") or ident.rpartition("@")[2]
            dkim.append(DkimResult(_pick(res.result, DKIM_RESULTS + ("none",), "neutral"),
                                   domain.lower(), ident, p.get("header.s", ""), p.get("header.a", ""),
                                   None, p.get("header.b", ""), res.reason))
        elif res.method == "dmarc" and dmarc is None:
            hfrom = (p.get("header.from", "") or from_domain or "").lower()
            policy = p.get("policy.dmarc", "").lower()
            dmarc = DmarcResult(_pick(res.result, DMARC_RESULTS, "none"), hfrom,
                                org_domain(hfrom) or hfrom, policy, "p" if policy else "",
                                reason=res.reason)
        elif res.method == "arc" and arc is None:
            arc = ArcResult(_pick(res.result, ("pass", "fail", "none"), "fail"), reason=res.reason)
    dkim = [d for d in dkim if d.result != "none"]
    trusted = headers[0].authserv_id if headers else ""
    return AuthOutcome(spf, tuple(dkim), dmarc, arc, trusted)
