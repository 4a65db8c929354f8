"""Campaigns: the same approach sent to several colleagues, and follow-ups of a flagged one.

Purpose: approaches come "at scale" (MI5: 20,000 online approaches; Proofpoint: the same
TA453/TA427 lure to many think-tank staff; several personas in one thread). One message can look
ordinary; the same persona, claimed organisation or near-identical text reaching six colleagues
in two days does not, and a follow-up from a sender whose first message was flagged inherits
that. This check computes opaque campaign keys for the message -- the sender, the persona's
name, the claimed organisation, and locality-sensitive hashes of the stranger's own words (near
duplicates share a band even from different senders) -- asks the store how far earlier inbound
messages with any of those keys went (`Store.campaign_reach`), and provides the keys so the
message itself is remembered under them after delivery. The store holds metadata only: keys are
hashes, never text. An analyst's decision on a reported message (console triage) is remembered
under the sender's `confirmed_key` or `cleared_key`: the latest decision wins; "approach" makes
the sender's later messages follow-ups of an approach, "not an approach" silences the campaign
signals for the sender (its messages' content is still judged by the other checks). A reply is
checked against the Message-IDs our people sent the sender (remembered per outside recipient by
gateway/store/record.py `outbound_keys`) in the same round trip: answering one of the sender's own
earlier messages and none of ours is `campaign.self_follow_up` (a follow-up, not a reply to us);
answering none of them, nor one of the sender's own, while we did send them some, is
`campaign.unknown_reference`.

Untrusted input: the message text and addresses (a stranger's): shingles over at most
`MAX_TEXT` characters, a fixed number of hashes; the store bounds the work per query.
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.checks import Check, CheckContext, Fact, signal
from gateway.checks.claims import Claims, QuotedHistory, own_words
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.sender import local_recipients
from gateway.checks.social import NETWORKS, Persona
from gateway.domains import Domains, name_tokens, registered_domain
from gateway.model import Signal
from gateway.store import MAX_CAMPAIGN_KEYS, Reach, ReachQuery, cap
from gateway.store.record import MSGID, flagged_persona_key, sent_key, sent_to_key, thread_references
from gateway.store.record import key_hash as _h

MAX_TEXT = 4000
WINDOW_DAYS = 14.0  # how far back "sent to several colleagues" looks
FOLLOW_UP_DAYS = 120.0  # how far back a follow-up's earlier message (or a flagged one) is looked for
SHINGLE = 4  # words
BANDS, ROWS = 8, 2  # 16 minhashes: two texts sharing ~70% of their shingles share a band
MIN_WORDS = 20  # shorter texts are not fingerprinted (too little to compare)
_WORD = re.compile(r"[^\W_]+", re.U)
# Addresses every member of a social network writes through (invitations@linkedin.com): the store
# remembers a flagged message under its From address, so there "an earlier message from this
# sender was flagged" says nothing about this member: there the flagged key of the persona is asked
# (gateway/store/record.py remembers a flagged message under both).
_SHARED_SENDERS = frozenset(d for net in NETWORKS for d in net.domains)
# The thread queries need only whether a message has one of their keys: the store reads each key's
# newest entry alone (`reach_query`). A sender writes its own Message-IDs and can put one on any
# number of its messages: with the full read (201 entries per key), its follow-ups naming 96 such
# IDs cost the store thread 90-160 ms each (attack33c #4).
THREAD_PER_KEY = 1


@dataclass(frozen=True)
class CampaignKeys(Fact):
    """The keys this message is remembered under (for the store, after delivery)."""

    keys: tuple[str, ...]
    sender_key: str


_BIN_SHIFT = 32 - (BANDS * ROWS - 1).bit_length()  # the top bits of a shingle's CRC-32 pick its bin


# each byte of an ASCII text that `_WORD` does not match (all but [A-Za-z0-9]) made a space
_NOT_ALNUM = bytes(c if c < 128 and chr(c).isalnum() else 0x20 for c in range(256))


def _words(text: str) -> list[bytes]:
    """`_WORD.findall(text)` UTF-8 encoded. For ASCII text `[^\\W_]` is [A-Za-z0-9]: one
    `bytes.translate` and `split` find its runs at a tenth of `findall`'s cost."""
    if text.isascii():
        return text.encode("ascii").translate(_NOT_ALNUM).split()
    return [w.encode() for w in _WORD.findall(text)]  # words hold no surrogate: UTF-8 never fails


def shingle_hashes(words: list[bytes]) -> list[int]:
    """The CRC-32 of each SHINGLE-word shingle's UTF-8 text (its words joined by a space), sorted,
    one per shingle (a repeated shingle repeats its hash: the smallest of a bin is the same, so
    no set is needed). Joined from the encoded words in C (`map`, `zip`): no str per shingle."""
    return sorted(map(zlib.crc32, map(b" ".join, zip(*(words[i:] for i in range(SHINGLE)), strict=False))))


def text_bands(text: str) -> list[str]:
    """MinHash locality-sensitive bands of the text's word shingles (salutation and names vary
    between copies; most shingles do not). One-permutation MinHash: each shingle is hashed once
    (CRC-32: stable across processes and instances, and a third of BLAKE2b's cost; grouping
    needs spread, not collision resistance: a sender who wants to avoid grouping can vary the
    text anyway) and the hash's top bits choose one of BANDS x ROWS bins; a bin's value is its
    smallest hash. Sorting the hashes once finds every bin's minimum (about 0.3 ms a message
    instead of 0.8 ms for 16 separate permutations). A band with an empty bin (a short text)
    gives no key rather than one that every short text would share."""
    words = _words(text[:MAX_TEXT].lower())
    if len(words) < MIN_WORDS:
        return []
    hashes = shingle_hashes(words)
    mins: list[int | None] = []
    for b in range(BANDS * ROWS):
        i = bisect.bisect_left(hashes, b << _BIN_SHIFT)
        mins.append(hashes[i] if i < len(hashes) and hashes[i] >> _BIN_SHIFT == b else None)
    out = []
    for b in range(BANDS):
        rows = mins[b * ROWS:(b + 1) * ROWS]
        if None not in rows:
            out.append(f"text:{b}:{_h(','.join(map(str, rows)))}")
    return out


def own_message_key(message_id: str, sender: str) -> str:
    """A message as sent by one sender: a reply's references match it only when they point at
    that same sender's earlier message."""
    mid = MSGID.search(message_id or "")
    return f"own:{_h(mid.group(0).lower() + ' ' + sender.lower())}" if mid and sender else ""


def _thread_keys(thread: Sequence[str], sender: str) -> tuple[list[Sequence[str]], list[Sequence[str]]]:
    """The keys of `thread` we may have sent `sender`, and of the sender's own earlier messages,
    each in groups of at most MAX_CAMPAIGN_KEYS (what one `campaign_reach` looks up)."""
    def groups(keys: list[str]) -> list[Sequence[str]]:
        return [keys[i:i + MAX_CAMPAIGN_KEYS] for i in range(0, len(keys), MAX_CAMPAIGN_KEYS)]
    return (groups([k for k in (sent_key(r, sender) for r in thread) if k]),
            groups([k for k in (own_message_key(r, sender) for r in thread) if k]))


def thread_queries(thread: Sequence[str], sender: str) -> list[ReachQuery]:
    """For the references `thread` of a message from `sender` (none: no queries; at most
    MAX_THREAD_REFS: 1 + 2 x 3 queries, in the campaign check's one round trip): whether we sent
    the sender any remembered ID, whether a reference is one we sent them, and whether one is the
    sender's own earlier message here; over the whole retention (since 0: a thread may be older
    than FOLLOW_UP_DAYS); each key's newest entry only (THREAD_PER_KEY). `thread_signals` reads
    the answers."""
    if not thread:
        return []
    ours, own = _thread_keys(thread, sender)
    asked: list[Sequence[str]] = [[sent_to_key(sender)], *ours, *own]
    return [(ks, 0.0, THREAD_PER_KEY) for ks in asked]


def thread_signals(thread: Sequence[str], sender: str, answers: Sequence[Reach], silenced: bool) -> list[Signal]:
    """From the `answers` to `thread_queries(thread, sender)` (`silenced`: an analyst's latest word
    on the sender was "not an approach": none). `campaign.self_follow_up`: a reference is one of the
    sender's own earlier messages and none is one we sent them: a follow-up of their own mail
    answers nobody here (the sender writes its own Message-IDs: one harmless message, then the
    approach "in reply" to it, borrowed a reply's standing: attack23 T2).
    `campaign.unknown_reference`: we sent this sender IDs the store remembers, and no reference is
    one of them or one of their own. Read: whether each answer has `messages`, and the sum of the
    own answers' (`messages` of self_follow_up: the references that are one of the sender's own
    earlier messages here, each Message-ID once however often it was recorded: THREAD_PER_KEY)."""
    if silenced or not thread or not answers:
        return []
    ours, _own = _thread_keys(thread, sender)
    sent_to, found_ours, found_own = answers[0], answers[1:1 + len(ours)], answers[1 + len(ours):]
    if any(r.messages for r in found_ours):
        return []
    own_messages = sum(r.messages for r in found_own)
    if own_messages:
        return [Signal("campaign.self_follow_up", {"messages": own_messages})]
    if not sent_to.messages:
        return []
    return [Signal("campaign.unknown_reference", {"references": len(thread)})]


def flagged_key(sender: str) -> str:
    """Remembered with a message that was judged suspicious or worse (see store/record.py)."""
    return f"flagged:{_h(sender.lower())}"


def confirmed_key(sender: str) -> str:
    """Remembered with an analyst's decision that a reported message of the sender is an approach:
    the sender's later messages are follow-ups of an approach, flagged first message or not. The
    address as the store keeps it (lower case, cut at MAX_FIELD), so a report's sender matches."""
    return f"confirmed:{_h(cap(sender.lower()))}"


def cleared_key(sender: str) -> str:
    """Remembered with an analyst's decision that a reported message of the sender is not an
    approach: until a later flagged message or decision, the sender's messages inherit no earlier
    flagged judgement, and its writing to several colleagues or again is no cue (their own content
    is still judged). The address as `confirmed_key` takes it."""
    return f"cleared:{_h(cap(sender.lower()))}"


def decision_keys(sender: str, status: str, domains: Domains) -> tuple[str, ...]:
    """The keys an analyst's decision on a report from `sender` is remembered under: none for a
    social network's shared address (it relays every member: one decision must not judge them all),
    and none for the organisation's own addresses (the check never judges them)."""
    sender = sender.lower()
    if "@" not in sender or domains.is_our_address(sender) or \
            registered_domain(sender.rsplit("@", 1)[1]) in _SHARED_SENDERS:
        return ()
    return {"approach": (confirmed_key(sender),), "not_approach": (cleared_key(sender),)}.get(status, ())


def _widest(reaches: Iterable[tuple[str, Reach]]) -> tuple[str, Reach] | None:
    """The (via, reach) that reached the most people here, of those that found anything."""
    best = None
    for via, reach in reaches:
        if reach.messages and (best is None or reach.recipients > best[1].recipients):
            best = (via, reach)
    return best


# How a reason says which key tied the messages together, and how long they took (session 47: "sent to 3 people
# here in 0.0 days (same text)" read as a log line, not a colleague's warning).
VIA_SAYS = {"sender": "from the same sender", "persona": "from the same persona",
            "organisation": "in the name of the same organisation", "text": "with near-identical text"}


def span_words(seconds: float) -> str:
    """A time span as a reason says it: "within an hour", "within 5 hours", "within 3 days"."""
    if seconds < 3600:
        return "within an hour"
    if seconds < 2 * 86400:
        return f"within {max(2, round(seconds / 3600))} hours"  # "in 1 hour" read as the future (review47 #7)
    return f"within {round(seconds / 86400)} days"


def _reach_signal(ctx: CheckContext, via: str, reach: Reach, now: float) -> Signal:
    mine = set(local_recipients(ctx))
    seen = set(reach.recipient_sample)
    # this message's recipients count too ("sent to 6 colleagues"); when the earlier ones are more
    # than the sample shows, the new ones may overlap them: count them once
    total = reach.recipients + len(mine - seen) if reach.recipients <= len(seen) else max(reach.recipients, len(mine))
    return Signal("campaign.reach", {
        "via": via, "recipients": total, "senders": reach.senders,
        "messages": reach.messages + 1, "days": round(max(0.0, now - reach.first_seen) / 86400, 1),
        "span": span_words(max(0.0, now - reach.first_seen)), "how": VIA_SAYS.get(via, f"same {via}")})


class CampaignCheck(Check):
    name = "campaign"
    signals = (
        signal("campaign.reach", "earlier messages with the same sender, persona, claimed organisation or "
               "near-identical text reached other people in the organisation", via=str, recipients=int,
               senders=int, messages=int, days=float, span=str, how=str),
        signal("campaign.follow_up_of_flagged", "the sender's earlier message (through a social network, the same "
               "persona's) was judged suspicious or high, or an analyst's latest decision on a report of the sender "
               "was 'approach' (console triage; `analyst`); after a 'not an approach' decision only a message "
               "flagged since counts, and the sender has no campaign.reach or campaign.self_follow_up",
               messages=int, days=float, analyst=bool),
        signal("campaign.self_follow_up", "replies to the sender's own earlier message to us (a follow-up), not "
               "to anything anyone here wrote: none of its references is a message we sent them; no reply "
               "discount (expected_context)", messages=int),
        signal("campaign.persona_first_contact", "a persona relayed by a social network that no earlier message "
               "here carried: first contact with the person, however often the network's address wrote",
               network=str, persona=str),
        signal("campaign.unknown_reference", "answers Message-IDs (In-Reply-To, References) none of which is one "
               "the organisation sent to this sender or one of the sender's own earlier messages here, while the "
               "store remembers IDs we did send them: a reply to a message we never sent (Rspamd: FAKE_REPLY). "
               "Silent when nothing we sent them has a remembered ID (history from before IDs were kept, "
               "or no store): unknown is not forged", references=int),
        signal("campaign.store_error", "the history store could not be asked: campaign signals are missing",
               error=str),
    )
    needs = (Persona, Claims, Origin)
    waits = (QuotedHistory,)  # read by claims first: `own_words` answers from what it read
    provides = (CampaignKeys,)
    timeout_share = 0.25
    overlaps = False  # waits on the store: starts after the computing checks (gateway/checks/__init__.py)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        sender = view.from_address.lower()
        if not sender or internal_sender(ctx):
            return []
        persona = ctx.get(Persona)
        claims = ctx.get(Claims)
        groups: dict[str, list[str]] = {"sender": [f"sender:{_h(sender)}"]}
        who = persona.name if persona is not None else view.from_display
        tokens = sorted(set(name_tokens(who)))
        if len(tokens) >= 2:
            groups["persona"] = [f"persona:{_h(' '.join(tokens))}"]
        orgs = [c.organisation for c in (claims.items if claims else ()) if c.organisation and c.staff]
        if orgs:
            groups["organisation"] = [f"org:{_h(' '.join(name_tokens(o)))}" for o in orgs[:2]]
        bands = text_bands(await own_words(ctx, persona))
        if bands:
            groups["text"] = bands
        own = own_message_key(view.header("Message-ID") or "", sender)
        keys = tuple(k for ks in groups.values() for k in ks) + ((own,) if own else ())
        ctx.put(CampaignKeys(keys, groups["sender"][0]))
        if ctx.store is None:
            return []
        now = ctx.envelope.when
        since = now - WINDOW_DAYS * 86400
        out: list[Signal] = []
        long_ago = now - FOLLOW_UP_DAYS * 86400
        thread = thread_references(view)
        queries: list[ReachQuery] = [(ks, since) for ks in groups.values()]
        # through a social network's address, which relays every member, only the same persona's
        # flagged message counts (one flagged persona made every later notification a follow-up)
        shared = registered_domain(view.from_domain) in _SHARED_SENDERS
        persona_flagged = [flagged_persona_key(k) for k in groups.get("persona", ())]
        named: dict[str, int] = {}  # the answers after the groups', by name

        def ask(name: str, keys: Sequence[str]) -> None:
            named[name] = len(queries)
            queries.append((keys, long_ago))
        ask("flagged", persona_flagged if shared and persona_flagged else [flagged_key(sender)])
        if not shared:  # an analyst's decisions on reports of this sender (console triage)
            ask("cleared", [cleared_key(sender)])
            ask("confirmed", [confirmed_key(sender)])
        asked_thread = thread_queries(thread, sender)
        first_thread = len(queries)
        queries += asked_thread
        # the network's address has written here before (every member's notification comes from
        # it), so sender.first_contact_org says nothing about the person inside: ask the persona
        if shared and persona is not None and "persona" in groups:
            ask("persona", groups["persona"])
        try:
            answers = await ctx.store.campaign_reach_many(queries)  # one round trip
        except Exception as exc:  # noqa: BLE001 - a broken store must not lose the message
            return [Signal("campaign.store_error", {"error": type(exc).__name__})]
        got = {name: answers[i] for name, i in named.items()}
        flagged, cleared, confirmed = (got.get(n, Reach()) for n in ("flagged", "cleared", "confirmed"))
        # the analyst's latest word on this sender was "not an approach": no campaign cue, and a
        # flagged judgement is inherited only from a message flagged after that decision
        silenced = cleared.last_seen > confirmed.last_seen
        best = _widest(zip(groups, answers[:len(groups)], strict=True))
        if best is not None and not silenced:
            out.append(_reach_signal(ctx, *best, now))
        out += thread_signals(thread, sender, answers[first_thread:first_thread + len(asked_thread)], silenced)
        persona_seen = got.get("persona")
        if persona_seen is not None and not persona_seen.messages and persona is not None:
            out.append(Signal("campaign.persona_first_contact", {
                "network": persona.network, "persona": persona.name[:80]}))
        inherited = flagged.messages and (persona_flagged or not shared) and flagged.last_seen > cleared.last_seen
        if inherited or (confirmed.messages and not silenced):
            first = min(r.first_seen for r in (flagged, confirmed) if r.messages)
            out.append(Signal("campaign.follow_up_of_flagged", {
                "messages": flagged.messages, "days": round(max(0.0, now - first) / 86400, 1),
                "analyst": bool(confirmed.messages) and not silenced}))
        return out
