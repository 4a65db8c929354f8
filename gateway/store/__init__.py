"""The state store: who has written to whom, each message's verdict, and small caches.

Purpose: the `Store` protocol the checks, `learn`, `hunt` and the SMTP server use, kept small so a
Redis implementation can follow; `store_from_config` picks the backend. Stores hold METADATA ONLY:
addresses, domains, times, counts, verdicts, rule ids, signal names and short observables (persona
name, Reply-To, link domains, off-channel handles) -- never message bodies.

Untrusted input: addresses and observables derived from strangers' messages, stored as data
(bound parameters only, lengths capped by `MessageMeta.capped`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from gateway.config import Config

__all__ = ["HistoryHit", "MessageMeta", "PairStats", "RdapRecord", "Store", "store_from_config"]

MAX_FIELD = 320
MAX_ITEMS = 40


@dataclass(frozen=True)
class MessageMeta:
    """What is remembered of one message. direction: inbound | outbound | internal."""

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
                       observables=cut(self.observables))


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

    async def purge(self, now: float | None = None) -> int:
        """Drop what is older than the retention limit; returns the number of rows removed."""

    async def close(self) -> None: ...


def direction_of(sender: str, recipients: Iterable[str], local_domains: Iterable[str]) -> str:
    local = {d.lower() for d in local_domains}

    def is_local(addr: str) -> bool:
        return addr.rsplit("@", 1)[-1].lower().rstrip(".") in local if "@" in addr else False

    if not is_local(sender):
        return "inbound"
    return "outbound" if any(not is_local(r) for r in recipients) else "internal"


def pairs_of(meta: MessageMeta, local_domains: Iterable[str]) -> list[tuple[str, str, bool]]:
    """(local, external, outbound) pairs a message shows."""
    local = {d.lower() for d in local_domains}

    def is_local(addr: str) -> bool:
        return "@" in addr and addr.rsplit("@", 1)[1].lower().rstrip(".") in local

    if not meta.sender or "@" not in meta.sender:
        return []
    if is_local(meta.sender):
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
    raise ValueError(f"{config.source}: store.backend: {backend!r} is not implemented yet; "
                     "use sqlite (one gateway) or memory (tests)")
