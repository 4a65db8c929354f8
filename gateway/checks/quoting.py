"""Quoted history: may what a reply quotes be ours? Asked of the store, only when it matters.

Purpose: the stranger's own words (gateway/checks/claims.py `approach_text`, read by the claims,
pretext, campaign and text-model checks) leave out a reply's quoted history: '>' lines and what
follows an attribution or Outlook block naming our side. A reply quotes something that exists,
but In-Reply-To and References are the sender's words: a made-up In-Reply-To over an approach
written as '>' lines, or under an Outlook block naming the recipient, had the whole approach
read as quoted history (attack23 Q1: clean 2.6 where the same text unquoted is high 29.8). This
check gives the readers the store's answer (`QuotedHistory`): the history may be ours when a
reference is a message we sent the sender or another outside party of the message (To, Cc), or
when we have written to the sender or, for a sender not at a free-mail provider, to its domain
(a colleague answering in a thread we had with their organisation). Otherwise the sender is a
first contact answering nothing we know, and the message is read as quoting only itself.

The text model asks the same question of a reply whose text holds the lines a mail client writes
above quoted history (claims.py `has_client_lines`): it reads them only in a reply the store
vouches for (`reads_without_client_lines`).

Bounded: the store is asked only for a message from outside (not `internal_sender`) with
In-Reply-To or References whose reading as a reply would cut something (claims.py `reply_cuts`)
or whose text holds client lines; every other message gets no answer, and nobody waits for one.
One `sender_history` and one `campaign_reach_many` (at most MAX_REF_GROUPS groups of
MAX_CAMPAIGN_KEYS keys) at the same time.
No store, a store error or no answer in time (the readers then have none) all read the message as
quoting only itself: what the gateway cannot tell from its history it does not cut.

Untrusted input: the threading headers, addresses and body (a stranger's); the keys are hashes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from gateway.checks import Check, CheckContext
from gateway.checks.claims import QuotedHistory, answers_nothing, has_client_lines, reply_cuts
from gateway.checks.origin import Origin, internal_sender
from gateway.domains import registered_domain
from gateway.model import Signal
from gateway.store import MAX_CAMPAIGN_KEYS, Reach, SenderHistory
from gateway.store.record import sent_key, thread_references

MAX_PARTIES = 4  # the sender and at most 3 other outside addresses of To and Cc
MAX_REF_GROUPS = 3  # lookups of MAX_CAMPAIGN_KEYS keys: 96 (sent, reference, party) keys at most


def sent_keys(refs: list[str], parties: list[str]) -> list[str]:
    """The keys of the references `refs` as messages we sent to any of `parties`: for each
    reference in order (In-Reply-To's first: `thread_references`), each party's, at most
    MAX_REF_GROUPS x MAX_CAMPAIGN_KEYS."""
    keys = [k for r in refs for k in (sent_key(r, p) for p in parties) if k]
    return list(dict.fromkeys(keys))[:MAX_REF_GROUPS * MAX_CAMPAIGN_KEYS]


async def _nothing() -> list[Reach]:
    return []


class QuotingCheck(Check):
    name = "quoting"
    # waits on the store, for the few messages that ask (a reply that quotes); the computing checks
    # that read the stranger's words wait for it only then, so it starts before them
    io = True
    needs = (Origin,)
    provides = (QuotedHistory,)
    timeout_share = 0.25

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        sender = view.from_address.lower()
        if internal_sender(ctx) or answers_nothing(ctx) or not (reply_cuts(ctx) or has_client_lines(ctx)):
            return []
        if ctx.store is None or "@" not in sender:
            ctx.put(QuotedHistory(ours=False, why="no_store" if ctx.store is None else "first_contact"))
            return []
        domain = sender.rsplit("@", 1)[1]
        # another party counts only as the sender's colleague: the same registered domain, not a
        # free-mail provider's. The header's To and Cc are the sender's words, and our Message-IDs
        # sent to a public list are public (review24: `Cc: list@...` over a list archive's ID)
        org = "" if ctx.data.is_freemail(domain) else registered_domain(domain)
        others = [a for a in dict.fromkeys(a.lower() for a in view.addresses("To", "Cc"))
                  if "@" in a and a != sender and org and registered_domain(a.rsplit("@", 1)[1]) == org
                  and not ctx.domains.is_our_address(a)]
        keys = sent_keys(thread_references(view), [sender] + others[:MAX_PARTIES - 1])
        groups = [keys[i:i + MAX_CAMPAIGN_KEYS] for i in range(0, len(keys), MAX_CAMPAIGN_KEYS)]
        # both at once (each its own store call); a failure of either is "store_error" (the store's own
        # signals, sender.store_error and campaign.store_error, say it), never an unhandled one
        history: SenderHistory | BaseException
        answers: list[Reach] | BaseException
        history, answers = await asyncio.gather(
            ctx.store.sender_history(sender, (), "" if ctx.data.is_freemail(domain) else domain),
            ctx.store.campaign_reach_many([(g, 0.0) for g in groups]) if groups else _nothing(),
            return_exceptions=True)
        if isinstance(history, BaseException) or isinstance(answers, BaseException):
            ctx.put(QuotedHistory(ours=False, why="store_error"))
            return []
        if any(r.messages for r in answers):
            ctx.put(QuotedHistory(ours=True, why="sent"))
        elif any(h is not None and h.outbound > 0 for h in (history.sender, history.domain)):
            ctx.put(QuotedHistory(ours=True, why="correspondent"))
        else:
            ctx.put(QuotedHistory(ours=False, why="first_contact"))
        return []
