"""The state store: who has written to whom, each message's verdict, and small caches.

Purpose: the `Store` protocol the checks, `learn`, `hunt` and the SMTP server use; three backends
(memory, sqlite, redis) pass one contract suite (tests/unit/store/test_contract.py);
`store_from_config` picks the backend. Stores hold METADATA ONLY: addresses, domains, times,
counts, verdicts, rule ids, signal names, short observables (persona name, Reply-To, link domains,
off-channel handles) and opaque campaign keys -- never message bodies. docs/store.md lists every
field and the Redis key layout.

Untrusted input: addresses and observables derived from strangers' messages, stored as data
(bound parameters only, lengths capped by `MessageMeta.capped`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from gateway.config import Config

__all__ = ["STORE_ERROR_SIGNALS", "HistoryHit", "MessageMeta", "PairStats", "RdapRecord", "Reach", "ReachQuery",
           "Store", "StoreUnavailable", "reach_query", "store_from_config", "verdicts_at_least"]

MAX_FIELD = 320  # characters kept of any one stored string (an address is at most 254)
MAX_ITEMS = 40  # recipients, rule ids, signals, observables kept per message
MAX_CAMPAIGN_KEYS = 32  # campaign keys indexed per message, and looked up per `campaign_reach`
MAX_REACH_MESSAGES = 200  # messages `campaign_reach` examines per query (the newest first; the
# policies ask for 2 or 3 recipients: 200 keeps every count that matters and bounds the work per message)
MAX_REACH_SAMPLE = 20  # local recipients `campaign_reach` names (the most recent ones)
MAX_RECENT = 5000  # messages `recent` returns at most
MAX_RECENT_EXAMINE = 50_000  # messages (any direction) `recent` reads at most per call, newest first
VERDICT_WORDS = ("clean", "caution", "suspicious", "high")
# an analyst's verdict on a reported message (gateway/store/record.py `decision_meta`): no recipients, only
# campaign keys, indexed like an inbound message's so that the campaign check finds it; never in `recent`
DECISION = "decision"
INDEXED = frozenset({"inbound", DECISION})  # the directions whose campaign keys are indexed
# ... and of an outbound message, only the keys of its Message-ID per outside recipient
# (gateway/store/record.py `outbound_keys`): what a reply's references are checked against
SENT_KEY_PREFIXES = ("sent:", "sent-to:")
# ... of which an outbound message keeps at most this many (2 per outside recipient: an invitation
# to a hundred guests), beside its MAX_CAMPAIGN_KEYS others: a reply from its last guest is known
MAX_SENT_KEYS = 200


def indexed_keys(meta: MessageMeta) -> tuple[str, ...]:
    """The campaign keys of `meta` the store indexes (`campaign_reach` finds it by them)."""
    if meta.direction in INDEXED:
        return meta.campaign_keys
    if meta.direction == "outbound":
        return tuple(k for k in meta.campaign_keys if k.startswith(SENT_KEY_PREFIXES))
    return ()


# The signals the checks emit when the store could not be asked (gateway/checks/sender.py, campaign.py):
# the message was judged without (part of) its history. Signal -> the check, as the metrics label it;
# the per-message log line says `store=unavailable` (gateway/smtp/deliver.py).
STORE_ERROR_SIGNALS = {"sender.store_error": "sender", "campaign.store_error": "campaign"}


class StoreUnavailable(Exception):
    """The store cannot answer now (a shared store is down, slow past `store.timeout`, or refusing
    writes). Raised quickly, never after retries; the next call tries again (reconnecting)."""


def verdicts_at_least(min_verdict: str) -> frozenset[str] | None:
    """The verdict words at or above `min_verdict` (None for "": every message, verdict or not)."""
    if not min_verdict:
        return None
    if min_verdict not in VERDICT_WORDS:
        raise ValueError(f"unknown verdict {min_verdict!r}; use one of {', '.join(VERDICT_WORDS)}")
    return frozenset(VERDICT_WORDS[VERDICT_WORDS.index(min_verdict):])


def cap(text: str) -> str:
    """A stored or looked-up string, cut to MAX_FIELD characters (both sides cut alike)."""
    return text[:MAX_FIELD]


def cap_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """Campaign keys as stored and looked up: cut, de-duplicated in order, at most MAX_CAMPAIGN_KEYS."""
    out: dict[str, None] = {}
    for k in keys:
        if k and len(out) < MAX_CAMPAIGN_KEYS:
            out.setdefault(cap(k), None)
    return tuple(out)


@dataclass(frozen=True)
class MessageMeta:
    """What is remembered of one message. direction: inbound | outbound | internal, or DECISION (an
    analyst's verdict on a reported message, remembered under campaign keys only)."""

    when: float
    direction: str
    sender: str
    recipients: tuple[str, ...]
    message_id: str = ""
    display_name: str = ""
    verdict: str = ""
    score: float = 0.0
    rule_ids: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    observables: tuple[str, ...] = ()
    # Opaque correlation keys the caller computed (sender:x@gmail.com, persona:<normalised name>,
    # text:<band>:<hash> for near-duplicate text buckets); inbound messages are indexed by them.
    campaign_keys: tuple[str, ...] = ()

    @property
    def sender_domain(self) -> str:
        return self.sender.rsplit("@", 1)[1] if "@" in self.sender else ""

    def capped(self) -> MessageMeta:
        def cut(items: Iterable[str]) -> tuple[str, ...]:
            return tuple(i[:MAX_FIELD] for i in list(items)[:MAX_ITEMS])
        return replace(self, sender=self.sender[:MAX_FIELD].lower(),
                       recipients=tuple(r.lower() for r in cut(self.recipients)),
                       message_id=self.message_id[:MAX_FIELD], display_name=self.display_name[:MAX_FIELD],
                       rule_ids=cut(self.rule_ids), signals=cut(self.signals),
                       observables=cut(self.observables), campaign_keys=cap_keys(
                           k for k in self.campaign_keys if not k.startswith(SENT_KEY_PREFIXES)) + tuple(
                           dict.fromkeys(cap(k) for k in self.campaign_keys if k.startswith(SENT_KEY_PREFIXES)))[
                           :MAX_SENT_KEYS])


@dataclass(frozen=True)
class PairStats:
    """History between two parties (or a party and the whole organisation)."""

    first_seen: float
    last_seen: float
    count: int  # inbound + outbound messages
    outbound: int = 0  # messages the organisation sent to them (learned or relayed)


@dataclass(frozen=True)
class RdapRecord:
    domain: str
    registered: float | None  # epoch seconds of the registration event, None when unknown
    fetched: float


@dataclass(frozen=True)
class HistoryHit:
    """One past message that matched a hunted indicator."""

    when: float
    direction: str
    sender: str
    recipients: tuple[str, ...]
    verdict: str
    score: float
    rule_ids: tuple[str, ...]
    matched: str
    field: str


@dataclass(frozen=True)
class Reach:
    """How far the inbound messages sharing a campaign key went (see `Store.campaign_reach`)."""

    recipients: int = 0  # distinct local recipients
    # up to MAX_REACH_SAMPLE of them: the first met going from the newest message back (in each
    # message's recipient order), listed sorted
    recipient_sample: tuple[str, ...] = ()
    senders: int = 0  # distinct senders
    messages: int = 0
    first_seen: float = 0.0  # 0.0 when messages == 0
    last_seen: float = 0.0
    truncated: bool = False  # more than MAX_REACH_MESSAGES matched: only the newest were examined


@dataclass(frozen=True)
class SenderHistory:
    """What the history says of one outside sender (see `Store.sender_history`)."""

    pairs: tuple[PairStats | None, ...] = ()  # per asked recipient, in order: the pair's history
    sender: PairStats | None = None  # the sender with anyone in the organisation
    domain: PairStats | None = None  # the sender's domain with anyone (only when asked)


# (campaign keys, since) as `campaign_reach` takes them, optionally with `per_key` (see `reach_query`)
ReachQuery = tuple[Sequence[str], float] | tuple[Sequence[str], float, int]


def reach_query(query: ReachQuery) -> tuple[Sequence[str], float, int]:
    """(keys, since, per_key) of a `campaign_reach_many` query. `per_key` 0 (a query of two, or 0 or
    less): read as `campaign_reach` reads. n > 0: only each key's newest n entries at or after `since`
    are read (n at most MAX_REACH_MESSAGES + 1), and the answer counts the messages among them: 1 asks
    whether any message has one of the keys (the campaign check's thread queries), one index seek per
    key, however many messages a sender put under one key. Ties in time: in no particular order."""
    keys, since, *rest = query
    return keys, since, max(0, min(int(rest[0]), MAX_REACH_MESSAGES + 1)) if rest else 0


@runtime_checkable
class Store(Protocol):
    """Async store. Implementations never block the event loop."""

    async def record_message(self, meta: MessageMeta, local_domains: Iterable[str]) -> None:
        """Remember a message and the correspondent pairs it shows (outside <-> local address)."""

    async def learn_pair(self, local: str, external: str, when: float, outbound: bool = True) -> None:
        """Remember one exchange between a local address and an outside one."""

    async def seen_pair(self, sender: str, rcpt: str) -> PairStats | None:
        """History between an outside sender and a local recipient, or None."""

    async def seen_sender_org(self, sender_or_domain: str) -> PairStats | None:
        """History between an outside address (or a whole domain) and anyone in the organisation."""

    async def rdap_get(self, domain: str) -> RdapRecord | None: ...

    async def rdap_put(self, record: RdapRecord) -> None: ...

    async def search_history(self, needles: Iterable[str], limit: int = 1000) -> list[HistoryHit]:
        """Past messages whose sender, display name, recipients or observables contain a needle."""

    async def campaign_reach(self, keys: Iterable[str], since: float, exclude_message_id: str = "") -> Reach:
        """Over the remembered INBOUND messages at or after `since` that share any of `keys` (at most
        MAX_CAMPAIGN_KEYS looked up; at most MAX_REACH_MESSAGES examined, newest first; messages
        whose Message-ID is `exclude_message_id` are skipped): distinct local recipients, distinct
        senders, message count, first and last time."""

    async def campaign_reach_many(self, queries: Sequence[ReachQuery]) -> list[Reach]:
        """`campaign_reach(keys, since)` for each query, in ONE round trip (one worker-thread hop
        for SQLite, one pipeline for Redis): the campaign check asks four to eight at a time. A
        query with a third element `per_key` reads only each key's newest `per_key` entries
        (`reach_query`)."""

    async def campaign_first_seen(self, keys: Iterable[str]) -> float:
        """The time of the earliest remembered message indexed under any of `keys` (at most
        MAX_CAMPAIGN_KEYS looked up), however many came after it; 0.0 when none. Bounded: one index
        seek per key. SQLite and memory: within the retention; Redis keeps each key's earliest
        entry beside its newest ones while the key lives (it expires a retention after its newest
        entry), so it may be older. `listauth` asks it of a list busier than `campaign_reach` reads."""

    async def sender_history(self, sender: str, rcpts: Sequence[str], domain: str = "") -> SenderHistory:
        """`seen_pair(sender, r)` for each of `rcpts`, `seen_sender_org(sender)` and, when `domain`
        is given, `seen_sender_org(domain)`, in ONE round trip."""

    async def recent(self, since: float, limit: int = 500, min_verdict: str = "") -> list[MessageMeta]:
        """The remembered INBOUND messages at or after `since` (and within the retention), newest
        first, at most `limit` (itself at most MAX_RECENT), each with its campaign keys (sorted);
        with `min_verdict`, only those judged at least that (clean < caution < suspicious < high).
        Bounded work: at most MAX_RECENT_EXAMINE messages (of any direction) are read, newest
        first. Ties in time come in no particular order. For the console's campaign view."""

    async def purge(self, now: float | None = None) -> int:
        """Drop what is older than the retention limit; returns the number of entries removed
        (Redis expires keys by itself: there it counts the index entries it trimmed)."""

    async def close(self) -> None: ...


def direction_of(sender: str, recipients: Iterable[str], local_domains: Iterable[str]) -> str:
    local = {d.lower() for d in local_domains}

    def is_local(addr: str) -> bool:
        return addr.rsplit("@", 1)[-1].lower().rstrip(".") in local if "@" in addr else False

    if not is_local(sender):
        return "inbound"
    return "outbound" if any(not is_local(r) for r in recipients) else "internal"


def local_recipients(meta: MessageMeta, local_domains: Iterable[str]) -> tuple[str, ...]:
    """The recipients of `meta` in `local_domains` (what `campaign_reach` counts)."""
    local = {d.lower() for d in local_domains}
    return tuple(r for r in meta.recipients if "@" in r and r.rsplit("@", 1)[1].lower().rstrip(".") in local)


def hunt_match(sender: str, display_name: str, recipients: Iterable[str], observables: Iterable[str],
               needles: list[str]) -> tuple[str, str] | None:
    """(needle, field) of the first field (sender, display_name, recipients, observable) that
    contains a needle (lower-cased, as `search_history` passes them), or None."""
    fields = [("sender", sender), ("display_name", display_name), ("recipients", " ".join(recipients))]
    fields += [("observable", o) for o in observables]
    for field, text in fields:
        low = text.lower()
        for n in needles:
            if n in low:
                return n, field
    return None


def reach_of(rows: Iterable[tuple[float, str, tuple[str, ...]]], truncated: bool) -> Reach:
    """A `Reach` from (when, sender, local recipients) of the examined messages, NEWEST FIRST
    (memory and sqlite build it here; Redis counts inside its script, to the same rules)."""
    rcpts: dict[str, None] = {}
    senders: set[str] = set()
    times: list[float] = []
    for when, sender, local in rows:
        times.append(when)
        senders.add(sender)
        for r in local:
            rcpts.setdefault(r, None)
    if not times:
        return Reach()
    return Reach(len(rcpts), tuple(sorted(list(rcpts)[:MAX_REACH_SAMPLE])), len(senders), len(times),
                 min(times), max(times), truncated)


def pairs_of(meta: MessageMeta, local_domains: Iterable[str]) -> list[tuple[str, str, bool]]:
    """(local, external, outbound) pairs a message shows."""
    local = {d.lower() for d in local_domains}

    def is_local(addr: str) -> bool:
        return "@" in addr and addr.rsplit("@", 1)[1].lower().rstrip(".") in local

    if not meta.sender or "@" not in meta.sender:
        return []
    if is_local(meta.sender):
        if meta.direction == "inbound":  # our From on mail from outside that nothing authenticates
            return []  # (gateway/checks/origin.py): a forger must not make itself our correspondent
        return [(meta.sender, r, True) for r in meta.recipients if "@" in r and not is_local(r)]
    return [(r, meta.sender, False) for r in meta.recipients if is_local(r)]


def store_from_config(config: Config) -> Store:
    """The store `config.store` names (opened lazily: no I/O here)."""
    backend = config.store.backend
    if backend == "memory":
        from gateway.store.memory import MemoryStore

        return MemoryStore(config.store.retention_days)
    if backend == "sqlite":
        from gateway.store.sqlite import SqliteStore

        return SqliteStore(config.store.path, config.store.retention_days)
    if backend == "redis":
        from gateway.store.redis import RedisStore

        if not config.store.url:  # config.py refuses this already; a Config built by hand may not
            raise ValueError(f"{config.source}: store.url: missing for backend redis; "
                             "write e.g. url: redis://127.0.0.1:6379/0")
        return RedisStore(config.store.url, config.store.retention_days, prefix=config.store.prefix,
                          timeout=config.store.timeout)
    raise ValueError(f"{config.source}: store.backend: {backend!r} is unknown; use sqlite, redis or memory")
