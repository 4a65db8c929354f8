"""In-memory store for unit tests and `scan` experiments (nothing survives the process).

Purpose: the same behaviour as `SqliteStore` with dicts, so checks can be tested without files;
the contract suite (tests/unit/store/test_contract.py) holds all backends to the same answers.
Untrusted input: metadata derived from strangers' messages, kept as plain data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from gateway.store import (
    DECISION,
    MAX_REACH_MESSAGES,
    MAX_RECENT,
    MAX_RECENT_EXAMINE,
    HistoryHit,
    MessageMeta,
    PairStats,
    RdapRecord,
    Reach,
    ReachQuery,
    SenderHistory,
    cap,
    cap_keys,
    hunt_match,
    indexed_keys,
    local_recipients,
    pairs_of,
    reach_of,
    reach_query,
    verdicts_at_least,
)

DAY = 86400.0


def _merge(stats: Iterable[PairStats]) -> PairStats | None:
    items = list(stats)
    if not items:
        return None
    return PairStats(min(s.first_seen for s in items), max(s.last_seen for s in items),
                     sum(s.count for s in items), sum(s.outbound for s in items))


@dataclass(frozen=True)
class _Entry:
    seq: int
    meta: MessageMeta
    local_rcpts: tuple[str, ...]


class MemoryStore:
    def __init__(self, retention_days: int = 400) -> None:
        self.retention_days = retention_days
        self.pairs: dict[tuple[str, str], PairStats] = {}
        self.entries: list[_Entry] = []
        self.rdap: dict[str, RdapRecord] = {}
        self._seq = 0

    @property
    def messages(self) -> list[MessageMeta]:
        return [e.meta for e in self.entries]

    async def record_message(self, meta: MessageMeta, local_domains: Iterable[str]) -> None:
        meta = meta.capped()
        local = tuple(local_domains)
        self._seq += 1
        self.entries.append(_Entry(self._seq, meta, local_recipients(meta, local)))
        for local_addr, external, outbound in pairs_of(meta, local):
            await self.learn_pair(local_addr, external, meta.when, outbound)

    async def learn_pair(self, local: str, external: str, when: float, outbound: bool = True) -> None:
        key = (cap(local.lower()), cap(external.lower()))
        old = self.pairs.get(key)
        new = PairStats(when, when, 1, int(outbound))
        self.pairs[key] = _merge([old, new]) if old else new  # type: ignore[assignment]

    async def learn_pairs(self, pairs: Iterable[tuple[str, str, float]]) -> int:
        items = list(pairs)
        for local, external, when in items:
            await self.learn_pair(local, external, when, True)
        return len(items)

    async def seen_pair(self, sender: str, rcpt: str) -> PairStats | None:
        return self.pairs.get((cap(rcpt.lower()), cap(sender.lower())))

    async def seen_sender_org(self, sender_or_domain: str) -> PairStats | None:
        who = cap(sender_or_domain.lower())
        if "@" in who:
            return _merge(s for (_, ext), s in self.pairs.items() if ext == who)
        return _merge(s for (_, ext), s in self.pairs.items() if ext.rsplit("@", 1)[-1] == who)

    async def rdap_get(self, domain: str) -> RdapRecord | None:
        return self.rdap.get(cap(domain.lower()))

    async def rdap_put(self, record: RdapRecord) -> None:
        domain = cap(record.domain.lower())
        self.rdap[domain] = RdapRecord(domain, record.registered, record.fetched)

    async def search_history(self, needles: Iterable[str], limit: int = 1000) -> list[HistoryHit]:
        wanted = [n.lower() for n in needles if n]
        if not wanted or limit <= 0:
            return []
        out: list[HistoryHit] = []
        for e in sorted(self.entries, key=lambda e: (e.meta.when, e.seq)):
            if len(out) >= limit:
                break
            m = e.meta
            hit = hunt_match(m.sender, m.display_name, m.recipients, m.observables, wanted) \
                if m.direction != DECISION else None
            if hit is not None:
                out.append(HistoryHit(m.when, m.direction, m.sender, m.recipients, m.verdict,
                                      m.score, m.rule_ids, hit[0], hit[1]))
        return out

    async def campaign_reach(self, keys: Iterable[str], since: float, exclude_message_id: str = "") -> Reach:
        return self._reach(keys, since, exclude_message_id, 0)

    def _reach(self, keys: Iterable[str], since: float, exclude_message_id: str, per_key: int) -> Reach:
        wanted = cap_keys(keys)
        want = set(wanted)
        since = max(since, time.time() - self.retention_days * DAY)  # as if purged (Redis expires it)
        found = [e for e in self.entries
                 if e.meta.when >= since and not want.isdisjoint(indexed_keys(e.meta))
                 and not (exclude_message_id and e.meta.message_id == cap(exclude_message_id))]
        found.sort(key=lambda e: (e.meta.when, e.seq), reverse=True)
        if per_key:  # each key's newest `per_key` entries only (`reach_query`): one pass, newest first, each
            # entry kept while one of its keys has had fewer than `per_key` before it
            taken: dict[str, int] = {}
            kept = []
            for e in found:
                ks = want.intersection(indexed_keys(e.meta))
                if any(taken.get(k, 0) < per_key for k in ks):
                    kept.append(e)
                for k in ks:
                    taken[k] = taken.get(k, 0) + 1
            found = kept
        return reach_of(((e.meta.when, e.meta.sender, e.local_rcpts) for e in found[:MAX_REACH_MESSAGES]),
                        len(found) > MAX_REACH_MESSAGES)

    async def campaign_reach_many(self, queries: Sequence[ReachQuery]) -> list[Reach]:
        asked = [reach_query(q) for q in queries]
        return [self._reach(keys, since, "", per_key) for keys, since, per_key in asked]

    async def campaign_first_seen(self, keys: Iterable[str]) -> float:
        wanted = set(cap_keys(keys))
        since = time.time() - self.retention_days * DAY  # as if purged
        return min((e.meta.when for e in self.entries
                    if e.meta.when >= since and wanted & set(indexed_keys(e.meta))), default=0.0)

    async def sender_history(self, sender: str, rcpts: Sequence[str], domain: str = "") -> SenderHistory:
        return SenderHistory(tuple([await self.seen_pair(sender, r) for r in rcpts]),
                             await self.seen_sender_org(sender),
                             await self.seen_sender_org(domain) if domain else None)

    async def recent(self, since: float, limit: int = 500, min_verdict: str = "") -> list[MessageMeta]:
        allowed = verdicts_at_least(min_verdict)
        limit = min(limit, MAX_RECENT)
        since = max(since, time.time() - self.retention_days * DAY)
        newest = sorted((e for e in self.entries if e.meta.when >= since),
                        key=lambda e: (e.meta.when, e.seq), reverse=True)[:MAX_RECENT_EXAMINE]
        out = [replace(e.meta, campaign_keys=tuple(sorted(e.meta.campaign_keys))) for e in newest
               if e.meta.direction == "inbound" and (allowed is None or e.meta.verdict in allowed)]
        return out[:max(limit, 0)]

    async def purge(self, now: float | None = None) -> int:
        cutoff = (now or time.time()) - self.retention_days * DAY
        before = len(self.entries) + len(self.pairs) + len(self.rdap)
        self.entries = [e for e in self.entries if e.meta.when >= cutoff]
        self.pairs = {k: v for k, v in self.pairs.items() if v.last_seen >= cutoff}
        self.rdap = {k: v for k, v in self.rdap.items() if v.fetched >= cutoff}
        return before - len(self.entries) - len(self.pairs) - len(self.rdap)

    async def close(self) -> None:
        return None
