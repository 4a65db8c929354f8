"""Email authentication as one check: SPF, DKIM, DMARC and ARC, or a trusted border MTA's word.

Purpose: `AuthCheck` runs SPF (MAIL FROM, or HELO for the null sender), DKIM (every signature)
and ARC concurrently on the shared resolver, then DMARC for the From domain; it emits signals
with evidence and provides `AuthFacts` (the structured outcome and the RFC 8601 header value the
runtime adds). When the topmost
Authentication-Results fields carry an authserv-id from `trusted_authserv_ids`, their results
are believed instead of re-checked (DMARC is still computed from them if they lack it).

Offline (or without a resolver) nothing is looked up (signal `auth.skipped`), but a trusted
border MTA's results are still believed: reading a header needs no network.

Untrusted input: the envelope (client IP, HELO, MAIL FROM), the raw message and DNS answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.authres import AuthResHeader, trusted_results
from gateway.checks import Check, CheckContext, Fact, signal
from gateway.checks.auth.arc import ArcResult, sets_from_fields, verify_arc, vouch
from gateway.checks.auth.dkim import MAX_SIGNATURES, DkimResult, verify_dkim
from gateway.checks.auth.dmarc import DmarcResult, check_dmarc
from gateway.checks.auth.engine import dkim as dkimpy
from gateway.checks.auth.engine import signed_fields
from gateway.checks.auth.keys import header_fields
from gateway.checks.auth.report import AuthOutcome, authres_value, from_trusted, signals_for
from gateway.checks.auth.spf import RESULTS as SPF_RESULTS
from gateway.checks.auth.spf import SpfResult, check_spf, spf_identity
from gateway.domains import org_domain
from gateway.model import Envelope, Signal
from gateway.parse import normalize_header_section

log = logging.getLogger("gateway.auth")

__all__ = ["SIGNALS", "AuthCheck", "AuthFacts", "AuthOutcome"]

_DMARC_EVIDENCE: dict[str, Any] = dict(from_domain=str, org_domain=str, policy=str, policy_tag=str, pct=int,
                       aligned_spf=bool, aligned_dkim=bool, aligned_domain=str, reason=str)
SIGNALS = (
    *(signal(f"spf.{r}", f"SPF (RFC 7208) result {r} for the MAIL FROM (or HELO) identity",
             domain=str, identity=str, ip=str, mechanism=str, problem=str) for r in SPF_RESULTS),
    *(signal(f"dkim.{r}", f"a DKIM signature verified {r}", optional=("bits",),
             d=str, i=str, s=str, a=str, bits=int, reason=str)
      for r in ("pass", "fail", "neutral", "temperror", "permerror")),
    signal("dkim.none", "the message has no DKIM signature"),
    signal("dkim.aligned", "a passing DKIM signature aligned with the From domain", d=str, from_domain=str),
    *(signal(f"dmarc.{r}", f"DMARC (RFC 7489) result {r} for the From domain", **_DMARC_EVIDENCE)
      for r in ("pass", "fail", "none", "temperror", "permerror")),
    signal("dmarc.fail_reject_policy", "DMARC failed and the From domain publishes p=reject", **_DMARC_EVIDENCE),
    signal("dmarc.fail_quarantine_policy", "DMARC failed and the From domain publishes p=quarantine",
           **_DMARC_EVIDENCE),
    *(signal(f"arc.{r}", f"ARC chain (RFC 8617) validation result {r}", optional=("oldest_pass", "temporary"),
             instances=int, sealers=str, reason=str, oldest_pass=int, temporary=bool)
      for r in ("pass", "fail", "none")),
    signal("arc.trusted_pass", "the ARC chain validated and a trusted sealer (`trusted_arc_sealers`) recorded that the "
           "message passed DMARC for its From domain when it reached them", instance=int, sealer=str, from_domain=str),
    signal("auth.trusted_results", "results were read from a trusted border MTA's Authentication-Results",
           authserv_id=str),
    signal("auth.skipped", "authentication was not checked (offline, or no resolver)", why=str),
)
MAX_BUDGET = 15.0


@dataclass(frozen=True)
class AuthFacts(Fact):
    """The authentication outcome, for later checks and for policies (`auth.dmarc_result`,
    `auth.aligned_domain`, `auth.from_domain`, `auth.trusted_from`)."""

    policy_name = "auth"
    outcome: AuthOutcome
    header_value: str  # our Authentication-Results value (RFC 8601)

    @property
    def dmarc_result(self) -> str:
        return self.outcome.dmarc.result if self.outcome.dmarc else "none"

    @property
    def from_domain(self) -> str:
        return self.outcome.dmarc.from_domain if self.outcome.dmarc else ""

    @property
    def aligned_domain(self) -> str:
        return self.outcome.dmarc.aligned_domain if self.outcome.dmarc else ""

    @property
    def trusted_from(self) -> str:
        return self.outcome.trusted_from


class AuthCheck(Check):
    """SPF, DKIM, DMARC and ARC. `tree_walk` enables DMARCbis policy discovery."""

    name = "auth"
    signals = SIGNALS
    provides = (AuthFacts,)
    timeout_share = 0.75

    def __init__(self, *, tree_walk: bool = False, max_signatures: int = MAX_SIGNATURES) -> None:
        self.tree_walk = tree_walk
        self.max_signatures = max_signatures

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        # The bytes that are delivered and that MessageView read (its From is DMARC's): a line that ends the
        # header section there ("From x", a name with a space) is one dkimpy skips, so dkimpy had verified a
        # signature over fields and a body nobody reads while DMARC took the From everybody reads (review33b #1).
        raw = ctx.view.raw if ctx.view.header_normal else normalize_header_section(ctx.view.raw)[0]
        trusted: list[AuthResHeader] = []
        if ctx.config.trusted_authserv_ids:  # none trusted: no field is believed, none need be read
            fields = [(n.decode("latin-1"), v.decode("utf-8", "replace")) for n, v in header_fields(raw)]
            trusted = trusted_results(fields, ctx.config.trusted_authserv_ids, ctx.config.authserv_id)
        from_domain = _single_from_domain(ctx)
        online = not ctx.offline and ctx.resolver is not None
        budget = min(MAX_BUDGET, ctx.config.limits.analysis_timeout * 0.6, ctx.remaining())
        if trusted:  # reading a header needs no network: believed offline too
            outcome = from_trusted(trusted, from_domain)
            if online and outcome.dmarc is None and (outcome.spf is not None or outcome.dkim):
                outcome = outcome.with_dmarc(await self._dmarc(ctx, outcome.spf, outcome.dkim, budget))
        elif not online:
            return [Signal("auth.skipped", {"why": "offline" if ctx.offline else "no resolver"})]
        else:
            outcome = await self._check(ctx, raw, budget)
        outcome = _vouched(ctx, raw, outcome)
        ctx.put(AuthFacts(outcome, authres_value(ctx.config.authserv_id, outcome)))
        return signals_for(outcome)

    async def _dmarc(self, ctx: CheckContext, spf: SpfResult | None, dkim: Sequence[DkimResult],
                     budget: float) -> DmarcResult:
        """DMARC for the From domain; for several From addresses or a malformed one (readers take different
        domains), for each domain a reader may take: a fail of any of them is the message's (the strictest
        policy's), a pass needs all (RFC 7489 section 6.6.1). A second From, a second address or a malformed one
        had turned a forged p=reject From's fail into none (review33c #2)."""
        ident = ctx.view.from_identity
        if not (ident.multiple or ident.malformed):
            return await check_dmarc(ctx.resolver, ident.domain.lower() or None, spf, dkim, timeout=budget,
                                     tree_walk=self.tree_walk)
        every = list(dict.fromkeys(d.lower() for d in ident.domain_readings if d))
        domains = every[:MAX_FROM_READINGS]
        if not domains:
            return await check_dmarc(ctx.resolver, None, spf, dkim, timeout=budget, tree_walk=self.tree_walk)
        results = await asyncio.gather(*(check_dmarc(ctx.resolver, d, spf, dkim, timeout=budget,
                                                     tree_walk=self.tree_walk) for d in domains))
        if len(every) > MAX_FROM_READINGS:  # the rest go unchecked: each may be a forged p=reject brand behind
            results.append(_unchecked(every, MAX_FROM_READINGS))  # fillers (review35 #5), so they fail closed
        return strictest(results)

    async def _check(self, ctx: CheckContext, raw: bytes, budget: float) -> AuthOutcome:
        env = ctx.envelope
        client = env.client
        try:  # the header fields as dkimpy reads them, once for DKIM and ARC
            signed: list[list[bytes]] | None = signed_fields(raw)
        except dkimpy.MessageFormatError:
            signed = None  # each verifier says so

        async def spf() -> SpfResult | None:
            if not client.ip:
                return None
            return await check_spf(ctx.resolver, client.ip, env.mail_from, client.helo or "",
                                   timeout=budget, receiver=ctx.config.hostname)

        # Each method contained on its own: one that raises must not take the others, nor DMARC,
        # with it (attack33 #2: a DKIM-Signature that crashed dkimpy lost every auth signal, so a
        # forged From of a p=reject domain read clean).
        spf_got, dkim_got, arc_got = await asyncio.gather(
            spf(), verify_dkim(raw, ctx.resolver, timeout=budget, max_signatures=self.max_signatures,
                               pools=ctx.auth_pools, signed=signed),
            verify_arc(raw, ctx.resolver, timeout=budget, pools=ctx.auth_pools, signed=signed),
            return_exceptions=True)
        spf_res = _spf_broken(spf_got, env) if isinstance(spf_got, BaseException) else spf_got
        arc_res = _arc_broken(arc_got, env) if isinstance(arc_got, BaseException) else arc_got
        if isinstance(dkim_got, BaseException):  # the signatures' outcome unknown: temperror, not "none"; for
            # DMARC no aligned pass, so it fails closed (a temperror there would let a crash undo a forged From's fail)
            _broken("DKIM", dkim_got, env)
            dkim_res = [DkimResult("temperror", reason=f"internal error: {type(dkim_got).__name__}")]
        else:
            dkim_res = dkim_got
        dmarc_res = await self._dmarc(ctx, spf_res, dkim_res, budget)
        return AuthOutcome(spf=spf_res, dkim=tuple(dkim_res), dmarc=dmarc_res,
                           arc=arc_res)


def _broken(method: str, got: BaseException, env: Envelope) -> None:
    """Log the exception a method raised; a BaseException that is not an Exception (cancellation,
    exit) is raised again."""
    if not isinstance(got, Exception):
        raise got
    # the message's own text may be in the exception's: quoted and cut; the frames are our code's
    log.error("auth: %s check failed on queue id %s: %s: %r\n%s", method, env.queue_id, type(got).__name__,
              str(got)[:200], "".join(traceback.format_tb(got.__traceback__)).rstrip())


def _arc_broken(got: BaseException, env: Envelope) -> ArcResult:
    """ARC's result when its check raised: a chain that vouches for nothing."""
    _broken("ARC", got, env)
    return ArcResult("fail", reason=f"internal error: {type(got).__name__}")


def _spf_broken(got: BaseException, env: Envelope) -> SpfResult:
    """SPF's result when its check raised: temperror for the identity it checks (RFC 7208 section 2.6.6:
    a transient error), so that DMARC does not count it as a pass nor, where it aligns, as a fail."""
    _broken("SPF", got, env)
    domain, sender, identity = spf_identity(env.mail_from, env.client.helo or "")
    return SpfResult("temperror", domain.lower(), identity, sender, env.client.ip or "",
                     problem=f"internal error: {type(got).__name__}")


MAX_FROM_READINGS = 5  # From domains DMARC is evaluated for in one message; more fail closed (`_unchecked`)


def _unchecked(domains: Sequence[str], checked: int) -> DmarcResult:
    """DMARC's result for the From domains past the `checked` first: a fail under the strictest policy. Looking
    each up would let a sender spend our DNS budget; leaving them out let five filler addresses ahead of a forged
    p=reject domain keep it from being checked (review35 #5: `high` 25.2 -> `suspicious` 7.0). RFC 7489 section
    6.6.1 lets a receiver reject a message whose From names several domains outright; no real mail names six."""
    first = domains[checked]
    return DmarcResult("fail", first, org_domain(first) or first, "reject",
                       reason=f"{len(domains)} From domains, more than the {checked} checked: read as failing under "
                              f"the strictest policy (RFC 7489 section 6.6.1)")
_POLICY_RANK = {"reject": 3, "quarantine": 2, "none": 1}


def strictest(results: Sequence[DmarcResult]) -> DmarcResult:
    """The message's DMARC result from each From reading's: the fail with the strictest policy, else a
    temperror, else a pass when all pass, else the first that does not pass."""
    fails = [r for r in results if r.result == "fail"]
    if fails:
        return max(fails, key=lambda r: _POLICY_RANK.get(r.policy, 0))
    for r in results:
        if r.result == "temperror":
            return r
    return next((r for r in results if r.result != "pass"), results[0])


def _single_from_domain(ctx: CheckContext) -> str | None:
    """The From domain when the message has exactly one From field with one well-formed address (what a
    trusted border's results are read for; our own DMARC evaluates every reading: `AuthCheck._dmarc`)."""
    ident = ctx.view.from_identity
    if ident.multiple or ident.malformed:
        return None
    return ident.domain.lower() or None


def _vouched(ctx: CheckContext, raw: bytes, outcome: AuthOutcome) -> AuthOutcome:
    """`outcome` with its ARC result's `vouched` set when a validated chain carries a trusted sealer's record of a
    DMARC pass for the From domain DMARC judged (`arc.vouch`): the sets dkimpy verified, or behind a trusted border
    that says `arc=pass`, the sets it passed on (read as `sets_from_fields` reads them). Only for one From address
    that every reader reads alike: a record names one domain, and a message with several readings would ride on the
    pass of one of them (review34 #3)."""
    arc, dmarc = outcome.arc, outcome.dmarc
    if arc is None or arc.result != "pass" or dmarc is None or not ctx.config.trusted_arc_sealers \
            or _single_from_domain(ctx) is None:
        return outcome
    sets = arc.sets
    if not sets and outcome.trusted_from:
        try:  # the sets as dkimpy reads the header section
            sets = sets_from_fields((bytes(n), bytes(v)) for n, v in signed_fields(raw))
        except dkimpy.MessageFormatError:
            return outcome
    got = vouch(sets, ctx.config.arc_sealer_trusted, dmarc.from_domain)
    return dataclasses.replace(outcome, arc=dataclasses.replace(arc, vouched=got)) if got else outcome
