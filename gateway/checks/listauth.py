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
The recipients are every To and Cc field, groups expanded (RFC 5322 3.4: a group's members are
recipients like any other; a second To field is read, as mail readers show it); an address at a
host under a list domain is the list's when its registered domain is one of the list's (the
domain's owner, RFC 7489 3.1's organisational domain, as for the list's own domains).
To and Cc are the sender's words too, though (attack23: one `Cc: list@` line). What the attacker
cannot write is history: a free-mail person's post keeps the list discount only through an
ESTABLISHED list: the store remembers this list's earlier mail from an earlier day (backed list
mail is remembered under `list_key`: the List-Id when it is under a backing domain, else the
backing domains; its earliest message, however much came after it that day: volume is bought in a
second, an earlier day is not), or our people wrote to the list address (the store's outbound memory,
`sent_to_key`). A list's first day here is a person's mail with list headers. Without a store
(scan without one) or when the store cannot answer, history is unknown and only the address is
required (unknown is not forged). The list domain's registration age is not asked (RDAP is
fetched for the From domain only).
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.checks import Check, CheckContext, Fact, signal
from gateway.checks.auth import AuthFacts
from gateway.checks.context import list_kind
from gateway.domains import registered_domain
from gateway.model import Signal
from gateway.store.record import key_hash, sent_to_key

_LIST_ID = re.compile(r"<\s*([A-Za-z0-9._-]{1,253})\s*>|^\s*([A-Za-z0-9._-]{1,253})\s*$")
_HOST = re.compile(r"(?:mailto:[^@<>\s,]{1,200}@|https?://)([A-Za-z0-9.-]{1,253})", re.I)
_ADDRESS_DOMAIN = re.compile(r"@([A-Za-z0-9.-]{1,253})")
MAX_RECIPIENTS = 100  # visible recipients looked at (a stranger's header)
MAX_LIST_ADDRESSES = 4  # list addresses in To/Cc whose outbound memory is asked
ESTABLISHED_SECONDS = 86400.0  # a list's earlier mail here must be at least this old ("an earlier day")
_LOCATORS = ("List-Post", "List-Unsubscribe", "List-Subscribe", "List-Help", "List-Owner", "List-Archive")


@dataclass(frozen=True)
class ListKey(Fact):
    """The key backed list mail is remembered under (the runtime adds it to the message's campaign
    keys): the store's history of this list."""

    key: str


class ListAuthCheck(Check):
    name = "listauth"
    # Computes only, but from the auth check's outcome, which waits on DNS: on a task of its own
    # (io), so that the computing checks do not wait for DNS behind it (as `io = False` it held
    # every computing check after it in the order until the auth check had answered)
    io = True
    needs = (AuthFacts,)
    provides = (ListKey,)
    timeout_share = 0.05
    signals = (
        signal("context.list_unauthenticated", "list or bulk headers that no authenticated domain backs (a "
               "passing DKIM signature or SPF for the list's domain; DMARC for bulk mail without list headers), "
               "or a free-mail person's post through a list that is not addressed to the list or that the store "
               "does not know (no earlier day of the list's mail, never written to by us; asked only with a "
               "store)", kind=str, list=str, domains=str, why=str),
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
            key = list_key(ctx, backed)
            ctx.put(ListKey(key))
            if not ctx.data.is_freemail(ctx.view.from_domain):
                return []
            to_list = _list_recipients(ctx, claimed)
            why = "a free-mail person's post not addressed to the list" if not to_list else \
                await _unestablished(ctx, key, to_list, backed)
            if not why:
                return []
            return [Signal("context.list_unauthenticated", {
                "kind": kind, "list": name[:120], "domains": ", ".join(sorted(backed))[:200], "why": why})]
        if kind == "bulk" and not claimed and auth.dmarc_result == "pass" \
                and not ctx.data.is_freemail(auth.from_domain):
            return []  # an organisation's own bulk mail: Precedence only, From authenticated
        return [Signal("context.list_unauthenticated", {
            "kind": kind, "list": name[:120], "domains": ", ".join(sorted(claimed))[:200] or "none",
            "why": "no authenticated domain backs the list headers"})]


def _list_recipients(ctx: CheckContext, domains: set[str]) -> list[str]:
    """The visible recipients (every To and Cc field, groups expanded) whose registered domain is
    one of the list's, at most MAX_LIST_ADDRESSES of the first MAX_RECIPIENTS."""
    found = [a for a in ctx.view.addresses("To", "Cc")[:MAX_RECIPIENTS]
             if "@" in a and registered_domain(a.rpartition("@")[2]) in domains]
    return list(dict.fromkeys(found))[:MAX_LIST_ADDRESSES]


def _backed_list_id(ctx: CheckContext, backed: set[str]) -> str:
    """The List-Id (its host form, lower case) when its registered domain is one that
    authentication backs, else "" (anyone may write another list's List-Id)."""
    m = _LIST_ID.search((ctx.view.header("List-Id") or "")[:600])
    host = (m.group(1) or m.group(2)).strip(".").lower() if m is not None else ""
    return host if host and registered_domain(host) in backed else ""


def list_key(ctx: CheckContext, backed: set[str]) -> str:
    """The campaign key of this list: its backed List-Id (`_backed_list_id`), else the backed domains."""
    return f"list:{key_hash(_backed_list_id(ctx, backed) or ','.join(sorted(backed)))}"


async def _unestablished(ctx: CheckContext, key: str, to_list: list[str], backed: set[str]) -> str:
    """Why the list of a free-mail person's post is not established here ("" when it is, or when
    the store is absent or cannot answer: unknown history is not a new list): the store remembers
    none of its mail from before ESTABLISHED_SECONDS ago, and none of our messages to the list's
    address in `to_list` (with a backed List-Id, the address it names: `name@host` for the List-Id
    `name.host`, RFC 2919's usual form; a list host serves many lists (googlegroups.com), and our
    message to one of them does not make another known)."""
    if ctx.store is None:
        return ""
    list_id = _backed_list_id(ctx, backed)
    if list_id:
        to_list = [a for a in to_list if a.replace("@", ".", 1) == list_id]
    queries: list[tuple[Sequence[str], float]] = [([key], 0.0)]  # over the whole retention
    if to_list:
        queries.append(([sent_to_key(a) for a in to_list], 0.0))
    try:  # one round trip
        answers = await ctx.store.campaign_reach_many(queries)
    except Exception:  # noqa: BLE001 - a broken store must not lose the message: as without a store
        return ""
    seen, earlier = answers[0], ctx.envelope.when - ESTABLISHED_SECONDS
    if any(r.messages for r in answers[1:]) or (seen.messages and seen.first_seen <= earlier):
        return ""
    if seen.truncated:
        # more of the list's mail than the store reads per key (MAX_REACH_MESSAGES, the newest
        # first): a busy list (a kernel or distribution list) or a flood of it. Volume is bought in
        # a second (attack24: 201 newsletters); an earlier day is not: the list's earliest message
        # here, one index seek
        try:
            first = await ctx.store.campaign_first_seen([key])
        except Exception:  # noqa: BLE001 - as above
            return ""
        if 0.0 < first <= earlier:
            return ""
    return "a free-mail person's post through a list with no earlier day here, which we never wrote to"


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
