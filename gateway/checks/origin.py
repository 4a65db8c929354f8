"""Whose mail is it really: a From in our own domains is internal mail only when it is.

Purpose: the checks that judge a stranger (sender, identity, content, pretext, claims, campaign,
links, thread, the text model) leave the organisation's own mail alone. "From is one of
`local_domains`" alone cannot say so: anyone outside can write `From: staff-news@example.org`.
This check decides it once, as a Postfix or Rspamd admin would (Postfix: `permit_mynetworks`
before an own-domain sender check; Rspamd: a local or authenticated client, or
`DMARC_POLICY_ALLOW` for the domain), and provides `Origin`:
- From outside our domains: a stranger's (`internal` False), nothing waited for; a malformed
  From address (`identity.malformed_from`) is ours when ANY reader's reading of its domain is
  (`FromIdentity.domain_readings`: Dovecot reads `a@example.org@evil.example` as example.org),
  and so is a From with ours in ANY of its mailboxes, of any From field (a list, a group, a
  second From field: Dovecot's Sieve `address :domain "from"` matches any of them; RFC 5322 3.6
  allows one From field, 3.6.2 several mailboxes only with a Sender: `identity.multiple_from`);
- From one of ours, and the client is in `trusted_networks` (the organisation's mail server):
  internal;
- else, by authentication (the trusted border MTA's Authentication-Results or the gateway's own
  checks, waited for only here): DMARC pass for that From domain, or a DKIM or SPF (MAIL FROM)
  pass aligned with it (relaxed, RFC 7489 3.1): internal;
- a saved message with neither a client address nor any authentication results (`scan` or
  `evaluate` without `--client-ip`, offline, no trusted Authentication-Results): nothing says
  where it came from; it is judged as internal mail, as before, when the From's own domain
  (`FromIdentity.domain`) is ours, and as a stranger's when ours is only another reading of a
  malformed From (an address in an encoded display name, say) or another of its mailboxes;
- otherwise it is our domain's From on mail from outside that nothing authenticates: spoofed.
  The stranger checks judge it as a stranger's, and `identity.unauthenticated_local_from` names
  it (scored in policies/10-auth.yml).

Untrusted input: the From field, the envelope's client address and the authentication results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.checks import Check, CheckContext, Fact, signal
from gateway.checks.auth import AuthFacts
from gateway.config import in_networks
from gateway.domains import aligned
from gateway.model import Signal


@dataclass(frozen=True)
class Origin(Fact):
    """`ours`: a From domain (any reading of any From mailbox) is one of `local_domains` (or a
    subdomain of one); `internal`: and
    the mail is the organisation's own (`how`: trusted_network, dmarc, dkim, spf, or unknown for
    a saved message with no client and no results), so the stranger checks leave it alone."""

    ours: bool
    internal: bool
    how: str = ""


def internal_sender(ctx: CheckContext) -> bool:
    """Whether the stranger checks leave this message alone: the origin check's answer, or
    without it (a check run on its own, outside a runtime) whether the From domain is ours."""
    origin = ctx.get(Origin)
    return origin.internal if origin is not None else ctx.domains.is_ours(ctx.view.from_domain)


def authenticated_as(auth: AuthFacts | None, domain: str) -> str:
    """How the authentication results vouch for `domain` as the From domain: "dmarc", "dkim",
    "spf", or "" when they do not."""
    if auth is None:
        return ""
    o = auth.outcome
    if o.dmarc is not None and o.dmarc.result == "pass" and o.dmarc.from_domain.lower().rstrip(".") == domain:
        return "dmarc"
    if any(d.result == "pass" and aligned(d.domain, domain) for d in o.dkim):
        return "dkim"
    if o.spf is not None and o.spf.result == "pass" and o.spf.identity == "mailfrom" and aligned(o.spf.domain, domain):
        return "spf"
    return ""


class OriginCheck(Check):
    name = "origin"
    io = False  # computes; waits for the authentication outcome only for mail From one of ours
    signals = (
        signal("identity.unauthenticated_local_from", "a From domain is one of ours (any reader's reading of "
               "any From address, of any From field), but the mail came "
               "from outside (a client not in trusted_networks) and nothing authenticates it for that "
               "domain (no DMARC pass, no aligned DKIM or SPF pass): judged as a stranger's",
               from_domain=str, client_ip=str, dmarc=str, policy=str),
    )
    waits = (AuthFacts,)
    provides = (Origin,)
    timeout_share = 0.05

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        # ops23: a malformed From is read differently by different readers (the gateway reads
        # evil.example in `a@example.org@evil.example`, Dovecot's Sieve example.org); attack24: so
        # is a From with several mailboxes or fields (Sieve matches ours in second place): when
        # any reading of any From mailbox is ours, the mail is judged as From ours (that domain
        # must be authenticated)
        readings = [d.lower().rstrip(".") for d in ctx.view.from_identity.domain_readings]
        domain = next((d for d in readings if d and ctx.domains.is_ours(d)), "")
        if not domain:
            ctx.put(Origin(ours=False, internal=False))
            return []
        client_ip = ctx.envelope.client.ip or ""
        if in_networks(client_ip, ctx.config.trusted_networks):
            ctx.put(Origin(ours=True, internal=True, how="trusted_network"))
            return []
        auth = await ctx.wait_for(AuthFacts)
        how = authenticated_as(auth, domain)
        if how:
            ctx.put(Origin(ours=True, internal=True, how=how))
            return []
        if not client_ip and auth is None:  # a saved message that nothing places: internal when its From is ours,
            # a stranger's when ours is only another reading (`=?..?b?boss@ours?= <s@gmail.com>` had been internal)
            primary = ctx.view.from_identity.domain.lower().rstrip(".")
            ctx.put(Origin(ours=True, internal=primary == domain, how="unknown" if primary == domain else ""))
            return []
        ctx.put(Origin(ours=True, internal=False))
        dmarc = auth.outcome.dmarc if auth is not None else None
        return [Signal("identity.unauthenticated_local_from", {
            "from_domain": domain[:120], "client_ip": client_ip[:64],
            "dmarc": dmarc.result if dmarc is not None else "unchecked",
            "policy": dmarc.policy if dmarc is not None else ""})]
