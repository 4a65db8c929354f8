"""Does the list or bulk mail say so with an authenticated voice?

Purpose: list and bulk headers (List-Id, List-Unsubscribe, Precedence: bulk, a -bounces Sender)
are written by whoever sends the message, and policies discount cues in list mail
(`expected_context`): one such header turned a free-mail approach from `high` into `clean`
(attack21). A real list or bulk sender signs or sends for its own domain: the list's domain (the
List-Id, the hosts of List-Post / -Unsubscribe / -Subscribe, a list-manager Sender or envelope
sender) is the domain of a passing DKIM signature or of the SPF-passing envelope sender, or, for
bulk mail without list headers, the From domain passes DMARC. Where authentication was checked
(online, or a trusted border MTA's Authentication-Results: `AuthFacts`) and none of that holds,
or the only domain that holds is a free-mail provider's (anyone can sign as gmail.com), this check
says so and the policies give the headers no discount. A list domain is only a domain, though: an
attacker who owns one passes SPF for it (attack22). What a domain cannot fake is where a list
delivers: a list relays a member's post to its own address (RFC 2369 List-Post; Mailman, Google
and Yahoo Groups all put the list in To or Cc). So a post in a free-mail member's name must be
addressed to the list, at one of the list's domains; a free-mail person's mail "from a list" sent
to one of ours by name is a person's mail with list headers added (of the 238 list or bulk messages
with a free-mail From in the real ham corpus, all 238 are addressed to one of the list's domains).
Where authentication was not checked (offline without trusted results) it says nothing: unknown is
not forged.

Conventions: DMARC's relaxed alignment (RFC 7489 3.1: same organisational domain) between the
list's domain and an authenticated one; the List-Id is a host name (RFC 2919 2: the list
identifier is a domain-like name; its registered domain is the list owner's).

Untrusted input: the list headers (a stranger's); the authentication outcome is ours or the
trusted border MTA's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.checks import Check, CheckContext, signal
from gateway.checks.auth import AuthFacts
from gateway.checks.context import list_kind
from gateway.domains import registered_domain
from gateway.model import Signal

_LIST_ID = re.compile(r"<\s*([A-Za-z0-9._-]{1,253})\s*>|^\s*([A-Za-z0-9._-]{1,253})\s*$")
_HOST = re.compile(r"(?:mailto:[^@<>\s,]{1,200}@|https?://)([A-Za-z0-9.-]{1,253})", re.I)
_ADDRESS_DOMAIN = re.compile(r"@([A-Za-z0-9.-]{1,253})")
MAX_RECIPIENTS = 100  # visible recipients looked at (a stranger's header)
_LOCATORS = ("List-Post", "List-Unsubscribe", "List-Subscribe", "List-Help", "List-Owner", "List-Archive")


class ListAuthCheck(Check):
    name = "listauth"
    # Computes only, but from the auth check's outcome, which waits on DNS: on a task of its own
    # (io), so that the computing checks do not wait for DNS behind it (as `io = False` it held
    # every computing check after it in the order until the auth check had answered)
    io = True
    needs = (AuthFacts,)
    timeout_share = 0.05
    signals = (
        signal("context.list_unauthenticated", "list or bulk headers that no authenticated domain backs (a "
               "passing DKIM signature or SPF for the list's domain; DMARC for bulk mail without list headers)",
               kind=str, list=str, domains=str, why=str),
    )

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        auth = ctx.get(AuthFacts)
        if auth is None:  # not checked (offline without trusted results, or the auth check failed)
            return []
        kind, name = list_kind(ctx)
        if not kind:
            return []
        passed = _authenticated(auth)
        claimed = list_domains(ctx)
        backed = {d for d in claimed & passed if not ctx.data.is_freemail(d)}
        if backed:
            if not ctx.data.is_freemail(ctx.view.from_domain) or _addressed_to(ctx, claimed):
                return []
            return [Signal("context.list_unauthenticated", {
                "kind": kind, "list": name[:120], "domains": ", ".join(sorted(backed))[:200],
                "why": "a free-mail person's post not addressed to the list"})]
        if kind == "bulk" and not claimed and auth.dmarc_result == "pass" \
                and not ctx.data.is_freemail(auth.from_domain):
            return []  # an organisation's own bulk mail: Precedence only, From authenticated
        return [Signal("context.list_unauthenticated", {
            "kind": kind, "list": name[:120], "domains": ", ".join(sorted(claimed))[:200] or "none",
            "why": "no authenticated domain backs the list headers"})]


def _addressed_to(ctx: CheckContext, domains: set[str]) -> bool:
    """Is one of the visible recipients (To, Cc) at one of the list's domains?"""
    return any(registered_domain(a.rpartition("@")[2]) in domains
               for a in ctx.view.addresses("To", "Cc")[:MAX_RECIPIENTS])


def _authenticated(auth: AuthFacts) -> set[str]:
    """Registered domains that authentication vouches for: passing DKIM d=, SPF-passing envelope
    domain (not HELO), the DMARC-aligned domain."""
    out = {registered_domain(d.domain) for d in auth.outcome.dkim if d.result == "pass" and d.domain}
    spf = auth.outcome.spf
    if spf is not None and spf.result == "pass" and spf.identity == "mailfrom" and spf.domain:
        out.add(registered_domain(spf.domain))
    if auth.dmarc_result == "pass" and auth.aligned_domain:
        out.add(registered_domain(auth.aligned_domain))
    return {d for d in out if d}


def list_domains(ctx: CheckContext) -> set[str]:
    """Registered domains the list headers name as the list's: the List-Id, the hosts of the
    list locators (RFC 2369), a list-manager Sender / Errors-To and the envelope sender when the
    headers make this list mail, Google Groups' own domain."""
    view = ctx.view
    found: set[str] = set()
    list_id = view.header("List-Id") or ""
    m = _LIST_ID.search(list_id[:600])
    if m is not None:
        found.add(m.group(1) or m.group(2))
    for field in _LOCATORS:
        for value in view.headers(field)[:4]:
            found.update(h for h in _HOST.findall(value[:2000]))
    mail_from = ctx.envelope.mail_from if ctx.envelope is not None else ""
    for value in (view.header("Sender") or "", view.header("Errors-To") or "", mail_from or ""):
        found.update(_ADDRESS_DOMAIN.findall(value[:300]))
    if view.header("X-Google-Group-Id"):
        found.add("googlegroups.com")
    return {registered_domain(d.strip(".").lower()) for d in found if "." in d.strip(".")}
