"""In-memory store for unit tests and `scan` experiments (nothing survives the process).

Purpose: the same behaviour as `SqliteStore` with dicts, so checks can be tested without files.
Untrusted input: metadata derived from strangers' messages, kept as plain data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from gateway.store import HistoryHit, MessageMeta, PairStats, RdapRecord, pairs_of

DAY = 86400.0


def _merge(stats: Iterable[PairStats]) -> PairStats | None:
    items = list(stats)
    if not items:
        return None
    return PairStats(min(s.first_seen for s in items), max(s.last_seen for s in items),
                     sum(s.count for s in items), sum(s.outbound for s in items))


def hunt_fields(meta: MessageMeta) -> list[tuple[str, str]]:
    """(field, lower-cased text) pairs `search_history` looks in."""
    return [("sender", meta.sender.lower()), ("display_name", meta.display_name.lower()),
            ("recipients", " ".join(meta.recipients).lower())] + \
           [("observable", o.lower()) for o in meta.observables]


class MemoryStore:
    def __init__(self, retention_days: int = 400) -> None:
        self.retention_days = retention_days
        self.pairs: dict[tuple[str, str], PairStats] = {}
        self.messages: list[MessageMeta] = []
        self.rdap: dict[str, RdapRecord] = {}

    async def record_message(self, meta: MessageMeta, local_domains: Iterable[str]) -> None:
        meta = meta.capped()
        self.messages.append(meta)
        for local, external, outbound in pairs_of(meta, local_domains):
            await self.learn_pair(local, external, meta.when, outbound)

    async def learn_pair(self, local: str, external: str, when: float, outbound: bool = True) -> None:
        key = (local.lower(), external.lower())
        old = self.pairs.get(key)
        new = PairStats(when, when, 1, int(outbound))
        self.pairs[key] = _merge([old, new]) if old else new  # type: ignore[list-item,assignment]

    async def learn_pairs(self, pairs: Iterable[tuple[str, str, float]]) -> int:
        items = list(pairs)
        for local, external, when in items:
            await self.learn_pair(local, external, when, True)
        return len(items)

    async def seen_pair(self, sender: str, rcpt: str) -> PairStats | None:
        return self.pairs.get((rcpt.lower(), sender.lower()))

    async def seen_sender_org(self, sender_or_domain: str) -> PairStats | None:
        who = sender_or_domain.lower()
        if "@" in who:
            return _merge(s for (_, ext), s in self.pairs.items() if ext == who)
        return _merge(s for (_, ext), s in self.pairs.items() if ext.rsplit("@", 1)[-1] == who)

    async def rdap_get(self, domain: str) -> RdapRecord | None:
        return self.rdap.get(domain.lower())

    async def rdap_put(self, record: RdapRecord) -> None:
        self.rdap[record.domain.lower()] = record

    async def search_history(self, needles: Iterable[str], limit: int = 1000) -> list[HistoryHit]:
        wanted = [n.lower() for n in needles if n]
        out: list[HistoryHit] = []
        for m in self.messages:
            for field, text in hunt_fields(m):
                hit = next((n for n in wanted if n in text), None)
                if hit is not None:
                    out.append(HistoryHit(m.when, m.direction, m.sender, m.recipients, m.verdict,
                                          m.score, m.rule_ids, hit, field))
                    break
            if len(out) >= limit:
                break
        return out

    async def purge(self, now: float | None = None) -> int:
        cutoff = (now or time.time()) - self.retention_days * DAY
        before = len(self.messages) + len(self.pairs)
        self.messages = [m for m in self.messages if m.when >= cutoff]
        self.pairs = {k: v for k, v in self.pairs.items() if v.last_seen >= cutoff}
        return before - len(self.messages) - len(self.pairs)

    async def close(self) -> None:
        return None
