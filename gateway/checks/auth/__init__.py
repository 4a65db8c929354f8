"""Email authentication as one check: SPF, DKIM, DMARC and ARC, or a trusted border MTA's word.

Purpose: `AuthCheck` runs SPF (MAIL FROM, or HELO for the null sender), DKIM (every signature)
and ARC concurrently on the shared resolver, then DMARC for the From domain; it emits signals
with evidence, shares structured results in `ctx.facts["auth"]` and the RFC 8601 header value in
`ctx.facts["authentication_results"]` (the pipeline adds the header). When the topmost
Authentication-Results fields carry an authserv-id from `trusted_authserv_ids`, their results
are believed instead of re-checked (DMARC is still computed from them if they lack it).

Skipped (signal `auth.skipped`) when offline or without a resolver: no DNS, no verdict.

Untrusted input: the envelope (client IP, HELO, MAIL FROM), the raw message and DNS answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from gateway.checks import CheckContext
from gateway.checks.auth.arc import verify_arc
from gateway.checks.auth.authres import trusted_results
from gateway.checks.auth.dkim import MAX_SIGNATURES, verify_dkim
from gateway.checks.auth.dmarc import DmarcResult, check_dmarc
from gateway.checks.auth.keys import header_fields
from gateway.checks.auth.report import AuthOutcome, authres_value, from_trusted, signals_for
from gateway.checks.auth.spf import SpfResult, check_spf
from gateway.model import Signal

__all__ = ["AuthCheck", "AuthOutcome", "SIGNALS"]

SIGNALS = frozenset({
    "spf.pass", "spf.fail", "spf.softfail", "spf.neutral", "spf.none", "spf.temperror",
    "spf.permerror",
    "dkim.pass", "dkim.fail", "dkim.neutral", "dkim.none", "dkim.temperror", "dkim.permerror",
    "dkim.aligned",
    "dmarc.pass", "dmarc.fail", "dmarc.none", "dmarc.temperror", "dmarc.permerror",
    "dmarc.fail_reject_policy", "dmarc.fail_quarantine_policy",
    "arc.pass", "arc.fail", "arc.none",
    "auth.trusted_results", "auth.skipped",
})
MAX_BUDGET = 15.0


class AuthCheck:
    """SPF, DKIM, DMARC and ARC. `tree_walk` enables DMARCbis policy discovery."""

    name = "auth"
    SIGNALS = SIGNALS

    def __init__(self, *, tree_walk: bool = False, max_signatures: int = MAX_SIGNATURES) -> None:
        self.tree_walk = tree_walk
        self.max_signatures = max_signatures

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        if ctx.offline or ctx.resolver is None:
            return [Signal("auth.skipped", {"why": "offline" if ctx.offline else "no resolver"})]
        budget = min(MAX_BUDGET, ctx.config.limits.analysis_timeout * 0.6)
        raw = ctx.view.raw
        fields = [(n.decode("latin-1"), v.decode("utf-8", "replace")) for n, v in header_fields(raw)]
        trusted = trusted_results(fields, ctx.config.trusted_authserv_ids, ctx.config.authserv_id)
        from_domain = _single_from_domain(ctx)
        if trusted:
            outcome = from_trusted(trusted, from_domain)
            if outcome.dmarc is None and (outcome.spf is not None or outcome.dkim):
                dmarc = await check_dmarc(ctx.resolver, from_domain, outcome.spf, outcome.dkim,
                                          timeout=budget, tree_walk=self.tree_walk)
                outcome = outcome.with_dmarc(dmarc)
        else:
            outcome = await self._check(ctx, raw, from_domain, budget)
        ctx.facts["auth"] = outcome.facts()
        ctx.facts["authentication_results"] = authres_value(ctx.config.authserv_id, outcome)
        return signals_for(outcome)

    async def _check(self, ctx: CheckContext, raw: bytes, from_domain: str | None,
                     budget: float) -> AuthOutcome:
        env = ctx.envelope
        client = env.client

        async def spf() -> SpfResult | None:
            if not client.ip:
                return None
            return await check_spf(ctx.resolver, client.ip, env.mail_from, client.helo or "",
                                   timeout=budget, receiver=ctx.config.hostname)

        spf_res, dkim_res, arc_res = await asyncio.gather(
            spf(), verify_dkim(raw, ctx.resolver, timeout=budget, max_signatures=self.max_signatures),
            verify_arc(raw, ctx.resolver, timeout=budget))
        dmarc_res: DmarcResult = await check_dmarc(ctx.resolver, from_domain, spf_res, dkim_res,
                                                   timeout=budget, tree_walk=self.tree_walk)
        return AuthOutcome(spf=spf_res, dkim=tuple(dkim_res), dmarc=dmarc_res,
                           arc=arc_res)


def _single_from_domain(ctx: CheckContext) -> str | None:
    """The From domain when the message has exactly one From field with one address
    (RFC 7489 section 6.6.1: otherwise DMARC has no single author domain to check)."""
    ident = ctx.view.from_identity
    if ident.multiple:
        return None
    return ident.domain.lower() or None
