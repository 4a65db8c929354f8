"""SQLite store: the default, embedded, one file, WAL mode.

Purpose: the `Store` protocol on SQLite. Every statement runs on ONE worker thread that owns the
connection (the event loop only awaits futures), the schema is versioned (`schema_version`) and
migrated forward at open, and rows older than `retention_days` are purged at most hourly.
Metadata only: no message bodies are ever written.

Untrusted input: addresses and observables from strangers' messages, always bound as parameters.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

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
    StoreUnavailable,
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
from gateway.store.handoff import HandoffThread

T = TypeVar("T")
DAY = 86400.0
PURGE_EVERY = 3600.0
# Durability (the store is metadata; no mail is ever at risk through it): WAL with
# synchronous=NORMAL never corrupts the file on a crash or power loss (frames carry checksums;
# a torn tail is ignored); a process crash loses nothing committed; a power loss may lose the
# commits since the last checkpoint, which syncs the WAL and then the database. A checkpoint
# every WAL_CHECKPOINT_PAGES pages (SQLite's default is 1,000, about every 50 messages at ~19
# pages each) costs two fsyncs and writes each changed page once: at 10,000 (a ~40 MB WAL, one
# checkpoint every ~500 messages) a commit costs ~25 % less store-thread CPU
# (benchmarks/store_cpu_bench.py). After a checkpoint the WAL file is cut back to
# WAL_KEEP_BYTES, so a burst that outran the checkpoints does not leave a large file behind.
WAL_CHECKPOINT_PAGES = 10_000
WAL_KEEP_BYTES = 64 * 1024 * 1024

# Each entry moves the schema from version i to i+1. Append; never edit a released step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE pairs (
        local TEXT NOT NULL, external TEXT NOT NULL, external_domain TEXT NOT NULL,
        first_seen REAL NOT NULL, last_seen REAL NOT NULL,
        count INTEGER NOT NULL, outbound INTEGER NOT NULL,
        PRIMARY KEY (local, external));
    CREATE INDEX pairs_external ON pairs (external);
    CREATE INDEX pairs_domain ON pairs (external_domain);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY, ts REAL NOT NULL, direction TEXT NOT NULL,
        sender TEXT NOT NULL, sender_domain TEXT NOT NULL, recipients TEXT NOT NULL,
        message_id TEXT NOT NULL, display_name TEXT NOT NULL, verdict TEXT NOT NULL,
        score REAL NOT NULL, rule_ids TEXT NOT NULL, signals TEXT NOT NULL,
        observables TEXT NOT NULL);
    CREATE INDEX messages_ts ON messages (ts);
    CREATE TABLE rdap (domain TEXT PRIMARY KEY, registered REAL, fetched REAL NOT NULL);
    """,
    # 2: campaign correlation. The local recipients of each message (what campaign_reach counts)
    # and one row per (campaign key, inbound message or analyst's decision).
    """
    ALTER TABLE messages ADD COLUMN local_recipients TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE campaign (
        key TEXT NOT NULL, ts REAL NOT NULL, msg INTEGER NOT NULL,
        PRIMARY KEY (key, ts, msg)) WITHOUT ROWID;
    CREATE INDEX campaign_ts ON campaign (ts);
    """,
    # 3: each sender domain's sum of its pairs, kept by triggers on `pairs` (so that every writer of the file keeps it,
    # a gateway of an earlier version still running too: review31b), so that `sender_history` reads one row instead of
    # summing every pair of the domain (review31 H1: 1,000,000 pairs, which an outsider builds with 25,000 messages to
    # 40 of our people from its own domain, took 0.25-0.34 s a read). A pair's upsert (its first_seen only earlier, its
    # last_seen only later) adds to its domain's row; a deleted pair's domain, or one of any other update, gets its
    # earliest and latest time again from the two indexes (one seek each). The Redis store keeps the same sum.
    """
    CREATE TABLE pair_domains (
        external_domain TEXT PRIMARY KEY, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
        count INTEGER NOT NULL, outbound INTEGER NOT NULL);
    INSERT INTO pair_domains SELECT external_domain, min(first_seen), max(last_seen), sum(count), sum(outbound)
        FROM pairs GROUP BY external_domain;
    CREATE INDEX pairs_domain_first ON pairs (external_domain, first_seen);
    CREATE INDEX pairs_domain_last ON pairs (external_domain, last_seen);
    DROP INDEX pairs_domain;
    CREATE TRIGGER pairs_domain_insert AFTER INSERT ON pairs BEGIN
        INSERT INTO pair_domains VALUES (NEW.external_domain, NEW.first_seen, NEW.last_seen, NEW.count, NEW.outbound)
            ON CONFLICT (external_domain) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
            last_seen = max(last_seen, excluded.last_seen), count = count + excluded.count,
            outbound = outbound + excluded.outbound;
    END;
    CREATE TRIGGER pairs_domain_update AFTER UPDATE ON pairs
        WHEN NEW.external_domain = OLD.external_domain AND NEW.first_seen <= OLD.first_seen
            AND NEW.last_seen >= OLD.last_seen BEGIN
        UPDATE pair_domains SET first_seen = min(first_seen, NEW.first_seen), last_seen = max(last_seen, NEW.last_seen),
            count = count + NEW.count - OLD.count, outbound = outbound + NEW.outbound - OLD.outbound
            WHERE external_domain = NEW.external_domain;
    END;
    CREATE TRIGGER pairs_domain_update_other AFTER UPDATE ON pairs
        WHEN NOT (NEW.external_domain = OLD.external_domain AND NEW.first_seen <= OLD.first_seen
            AND NEW.last_seen >= OLD.last_seen) BEGIN
        UPDATE pair_domains SET count = count - OLD.count, outbound = outbound - OLD.outbound
            WHERE external_domain = OLD.external_domain;
        INSERT INTO pair_domains VALUES (NEW.external_domain, NEW.first_seen, NEW.last_seen, NEW.count, NEW.outbound)
            ON CONFLICT (external_domain) DO UPDATE SET count = count + excluded.count,
            outbound = outbound + excluded.outbound;
        UPDATE pair_domains SET
            first_seen = (SELECT min(first_seen) FROM pairs WHERE external_domain = pair_domains.external_domain),
            last_seen = (SELECT max(last_seen) FROM pairs WHERE external_domain = pair_domains.external_domain)
            WHERE external_domain IN (OLD.external_domain, NEW.external_domain);
        DELETE FROM pair_domains WHERE external_domain = OLD.external_domain
            AND NOT EXISTS (SELECT 1 FROM pairs WHERE external_domain = OLD.external_domain);
    END;
    CREATE TRIGGER pairs_domain_delete AFTER DELETE ON pairs BEGIN
        UPDATE pair_domains SET count = count - OLD.count, outbound = outbound - OLD.outbound,
            first_seen = coalesce((SELECT min(first_seen) FROM pairs WHERE external_domain = OLD.external_domain),
                                  first_seen),
            last_seen = coalesce((SELECT max(last_seen) FROM pairs WHERE external_domain = OLD.external_domain),
                                 last_seen)
            WHERE external_domain = OLD.external_domain;
        DELETE FROM pair_domains WHERE external_domain = OLD.external_domain
            AND NOT EXISTS (SELECT 1 FROM pairs WHERE external_domain = OLD.external_domain);
    END;
    """,
)


class SqliteStore:
    def __init__(self, path: str | Path, retention_days: int = 400) -> None:
        self.path = str(path)
        self.retention_days = retention_days
        self._thread = HandoffThread("store")  # owns the connection; see handoff.py
        self._conn: sqlite3.Connection | None = None
        self._last_purge = 0.0
        self._pending: list[tuple[_Record, asyncio.Future[None]]] = []  # record_message's group commit
        self.max_pending = MAX_PENDING
        self._flusher: asyncio.Future[None] | None = None  # the group-commit task while it runs

    # ------------------------------------------------------------ worker-thread side

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0)
            set_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
            migrate(conn)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._thread.run(lambda: fn(self._db()))

    # ------------------------------------------------------------ protocol

    async def record_message(self, meta: MessageMeta, local_domains: Iterable[str]) -> None:
        """Group commit: the records that arrive while a write is on the store thread go to the
        database together, in one transaction, when it is done (each caller still returns only
        once its own row is committed, so what it recorded is visible to the next lookup).
        Bounded: with `max_pending` records already waiting (the store thread stalled, e.g. on a
        slow disk), this one is not recorded: StoreUnavailable at once, which `Runtime.record`
        logs and the SMTP server counts (`record_failed`) like any store failure."""
        if len(self._pending) >= self.max_pending:
            raise StoreUnavailable(f"record queue full ({len(self._pending)} records wait for the store "
                                   "thread): this message's metadata is not recorded")
        meta = meta.capped()
        local_domains = tuple(local_domains)
        item = (meta, pairs_of(meta, local_domains), json.dumps(local_recipients(meta, local_domains)))
        done = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())  # referenced: the loop keeps tasks weakly
        await done
        if time.time() - self._last_purge > PURGE_EVERY:
            await self.purge()

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            items = [item for item, _ in batch]
            try:
                await self._run(partial(_write_messages, items=items))
                errors: list[BaseException | None] = [None] * len(batch)
            except Exception:  # noqa: BLE001 - one bad row must not fail the others: one by one
                errors = []
                for item in items:
                    try:
                        await self._run(partial(_write_messages, items=[item]))
                        errors.append(None)
                    except Exception as exc:  # noqa: BLE001 - handed to that record's caller
                        errors.append(exc)
            for (_, fut), err in zip(batch, errors, strict=True):
                if fut.done():
                    continue
                if err is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(_cannot_write(err))

    async def learn_pair(self, local: str, external: str, when: float, outbound: bool = True) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                _upsert_pair(db, cap(local.lower()), cap(external.lower()), when, outbound)
        await self._run(write)

    async def learn_pairs(self, pairs: Iterable[tuple[str, str, float]]) -> int:
        """Bulk form of `learn_pair` (outbound), one transaction: used by `learn`."""
        items = [(cap(a.lower()), cap(b.lower()), w) for a, b, w in pairs]

        def write(db: sqlite3.Connection) -> int:
            with db:
                for local, external, when in items:
                    _upsert_pair(db, local, external, when, True)
            return len(items)
        return await self._run(write)

    async def seen_pair(self, sender: str, rcpt: str) -> PairStats | None:
        return await self._stats("local = ? AND external = ?", (cap(rcpt.lower()), cap(sender.lower())))

    async def seen_sender_org(self, sender_or_domain: str) -> PairStats | None:
        who = cap(sender_or_domain.lower())
        if "@" in who:
            return await self._stats("external = ?", (who,))
        return await self._run(lambda db: _domain_stats(db, who))

    async def _stats(self, where: str, args: tuple[Any, ...]) -> PairStats | None:
        return await self._run(lambda db: _pair_stats(db, where, args))

    async def sender_history(self, sender: str, rcpts: Sequence[str], domain: str = "") -> SenderHistory:
        who = cap(sender.lower())
        locals_ = [cap(r.lower()) for r in rcpts]
        dom = cap(domain.lower())

        return await self._run(lambda db: _sender_history(db, who, locals_, dom))

    async def rdap_get(self, domain: str) -> RdapRecord | None:
        def read(db: sqlite3.Connection) -> RdapRecord | None:
            row = db.execute("SELECT domain, registered, fetched FROM rdap WHERE domain = ?",
                             (cap(domain.lower()),)).fetchone()
            return RdapRecord(*row) if row else None
        return await self._run(read)

    async def rdap_put(self, record: RdapRecord) -> None:
        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("INSERT OR REPLACE INTO rdap VALUES (?,?,?)",
                           (cap(record.domain.lower()), record.registered, record.fetched))
        await self._run(write)

    async def search_history(self, needles: Iterable[str], limit: int = 1000) -> list[HistoryHit]:
        wanted = [n.lower() for n in needles if n]
        if not wanted or limit <= 0:
            return []

        def read(db: sqlite3.Connection) -> list[HistoryHit]:
            out: list[HistoryHit] = []
            cur = db.execute("SELECT ts, direction, sender, recipients, verdict, score, rule_ids, display_name,"
                             " observables FROM messages WHERE direction != ? ORDER BY ts, id", (DECISION,))
            for ts, direction, sender, rcpts, verdict, score, rules, name, obs in cur:
                if len(out) >= limit:
                    break
                recipients = tuple(json.loads(rcpts))
                hit = hunt_match(sender, name, recipients, json.loads(obs), wanted)
                if hit:
                    out.append(HistoryHit(ts, direction, sender, recipients, verdict,
                                          score, tuple(json.loads(rules)), hit[0], hit[1]))
            return out
        return await self._run(read)

    def _reach_args(self, keys: Iterable[str], since: float, exclude_message_id: str) -> tuple[
            tuple[str, ...], float, str]:
        # as if purged past the retention (Redis expires it)
        return cap_keys(keys), max(since, time.time() - self.retention_days * DAY), cap(exclude_message_id)

    async def campaign_reach(self, keys: Iterable[str], since: float, exclude_message_id: str = "") -> Reach:
        wanted, since, exclude = self._reach_args(keys, since, exclude_message_id)
        return await self._run(lambda db: _reach(db, wanted, since, exclude))

    async def campaign_reach_many(self, queries: Sequence[ReachQuery]) -> list[Reach]:
        asked = [(*self._reach_args(keys, since, ""), per_key or MAX_REACH_MESSAGES + 1)
                 for keys, since, per_key in map(reach_query, queries)]
        if not asked:
            return []

        def read(db: sqlite3.Connection) -> list[Reach]:
            found = _any_since(db, [(keys, since) for keys, since, _, _ in asked])
            return [_reach(db, *a) if hit else Reach() for a, hit in zip(asked, found, strict=True)]
        return await self._run(read)

    async def campaign_first_seen(self, keys: Iterable[str]) -> float:
        wanted, since, _ = self._reach_args(keys, 0.0, "")

        def read(db: sqlite3.Connection) -> float:
            # one seek of the (key, ts) primary key per key: the earliest entry at or after `since`
            times = [row[0] for key in wanted for row in db.execute(_FIRST_SEEN, (key, since))]
            return min(times, default=0.0)
        return await self._run(read)

    async def recent(self, since: float, limit: int = 500, min_verdict: str = "") -> list[MessageMeta]:
        allowed = verdicts_at_least(min_verdict)
        limit = min(limit, MAX_RECENT)
        if limit <= 0:
            return []
        since = max(since, time.time() - self.retention_days * DAY)
        verdict_sql = f" AND verdict IN ({','.join('?' * len(allowed))})" if allowed is not None else ""

        def read(db: sqlite3.Connection) -> list[MessageMeta]:
            # the newest MAX_RECENT_EXAMINE messages of any direction, then the filter (bounded work)
            rows = db.execute(
                "SELECT id, ts, direction, sender, recipients, message_id, display_name, verdict, score,"  # noqa: S608 - placeholders only
                " rule_ids, signals, observables FROM (SELECT * FROM messages WHERE ts >= ?"
                " ORDER BY ts DESC, id DESC LIMIT ?) WHERE direction = 'inbound'" + verdict_sql +
                " ORDER BY ts DESC, id DESC LIMIT ?",
                (since, MAX_RECENT_EXAMINE, *sorted(allowed or ()), limit)).fetchall()
            keys: dict[int, list[str]] = {}
            ids = [r[0] for r in rows]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for msg, key in db.execute(f"SELECT msg, key FROM campaign WHERE msg IN ({marks})",  # noqa: S608
                                           chunk):  # (placeholders only)
                    keys.setdefault(msg, []).append(key)
            return [MessageMeta(when=ts, direction=direction, sender=sender, recipients=tuple(json.loads(rcpts)),
                                message_id=mid, display_name=name, verdict=verdict, score=score,
                                rule_ids=tuple(json.loads(rules)), signals=tuple(json.loads(sigs)),
                                observables=tuple(json.loads(obs)), campaign_keys=tuple(sorted(keys.get(rid, ()))))
                    for rid, ts, direction, sender, rcpts, mid, name, verdict, score, rules, sigs, obs in rows]
        return await self._run(read)

    async def purge(self, now: float | None = None) -> int:
        now = now or time.time()
        self._last_purge = now
        cutoff = now - self.retention_days * DAY

        def write(db: sqlite3.Connection) -> int:
            with db:
                n = db.execute("DELETE FROM messages WHERE ts < ?", (cutoff,)).rowcount
                db.execute("DELETE FROM campaign WHERE ts < ?", (cutoff,))
                n += db.execute("DELETE FROM pairs WHERE last_seen < ?", (cutoff,)).rowcount
                n += db.execute("DELETE FROM rdap WHERE fetched < ?", (cutoff,)).rowcount
            return n
        return await self._run(write)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher  # records still being committed: let them land first
        def shut(db: sqlite3.Connection) -> None:
            db.close()
        if self._conn is not None:
            await self._run(shut)
            self._conn = None
        self._thread.stop()


_Record = tuple[MessageMeta, list[tuple[str, str, bool]], str]  # meta, pairs, local recipients (JSON)
MAX_GROUP = 64  # records committed in one transaction at most
MAX_PENDING = 2000  # records waiting for the store thread at most (each one a caller awaiting it)


def _write_messages(db: sqlite3.Connection, items: Sequence[_Record]) -> None:
    with db:
        for meta, pairs, local_json in items:
            cur = db.execute(
                "INSERT INTO messages (ts, direction, sender, sender_domain, recipients, message_id,"
                " display_name, verdict, score, rule_ids, signals, observables, local_recipients)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (meta.when, meta.direction, meta.sender, meta.sender_domain,
                 json.dumps(meta.recipients), meta.message_id, meta.display_name, meta.verdict,
                 meta.score, json.dumps(meta.rule_ids), json.dumps(meta.signals),
                 json.dumps(meta.observables, ensure_ascii=False), local_json))
            keys = indexed_keys(meta)
            if keys:
                db.executemany("INSERT OR IGNORE INTO campaign VALUES (?,?,?)",
                               [(k, meta.when, cur.lastrowid) for k in keys])
            for local, external, outbound in pairs:
                _upsert_pair(db, local, external, meta.when, outbound)


def _pair_stats(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> PairStats | None:
    sql = f"SELECT min(first_seen), max(last_seen), sum(count), sum(outbound) FROM pairs WHERE {where}"  # noqa: S608
    row = db.execute(sql, args).fetchone()  # `where` is one of this file's fixed texts
    return None if row is None or row[2] is None else PairStats(row[0], row[1], row[2], row[3])


_REACH_PER_KEY = (
    "SELECT msg FROM (SELECT c.msg FROM campaign c JOIN messages m ON m.id = c.msg"
    " WHERE c.key = ? AND c.ts >= ? AND m.message_id != ? ORDER BY c.ts DESC, c.msg DESC LIMIT ?)")
# the same with nothing to exclude (campaign_reach_many; most calls): the index alone, no row of
# `messages` read per entry (the outer query reads the ones it keeps)
_REACH_PER_KEY_ALL = (
    "SELECT msg FROM (SELECT msg FROM campaign WHERE key = ? AND ts >= ? ORDER BY ts DESC, msg DESC LIMIT ?)")


_FIRST_SEEN = "SELECT ts FROM campaign WHERE key = ? AND ts >= ? ORDER BY ts LIMIT 1"
_ANY_SINCE = "EXISTS (SELECT 1 FROM campaign WHERE key IN ({}) AND ts >= ?)"
MAX_PROBES = 16  # queries probed by one statement at most


def _any_since(db: sqlite3.Connection, asked: Sequence[tuple[Sequence[str], float]]) -> list[bool]:
    """For each (keys, since): whether the campaign index holds any entry of one of the keys at or
    after `since` (one seek of the (key, ts) primary key per key; a query without keys: False). One
    statement for up to MAX_PROBES queries: most of a message's queries find nothing (a new
    sender, a text nobody sent before, no analyst's decision), and this answers a campaign check's
    six at about a quarter of the cost of their six full reads (`_reach`: an ordered, limited
    subquery per key; perf37: ~21 us against ~90 us on an empty store). The full read runs only
    for the queries that find something, so every answer is what it was."""
    out: list[bool] = []
    for i in range(0, len(asked), MAX_PROBES):
        chunk = asked[i:i + MAX_PROBES]
        probed = [(keys, since) for keys, since in chunk if keys]
        row: tuple[Any, ...] = ()
        if probed:
            sql = "SELECT " + ", ".join(_ANY_SINCE.format(",".join("?" * len(keys))) for keys, _ in probed)
            row = db.execute(sql, [a for keys, since in probed for a in (*keys, since)]).fetchone()
        answers = iter(row)
        out += [bool(next(answers)) if keys else False for keys, _ in chunk]
    return out


def _reach(db: sqlite3.Connection, wanted: Sequence[str], since: float, exclude: str,
           per_key: int = MAX_REACH_MESSAGES + 1) -> Reach:
    """Bounded: per key, the newest `per_key` (MAX_REACH_MESSAGES + 1, or fewer: `reach_query`)
    entries of the (key, ts) index (excluded messages are skipped before counting, so each key reads
    on past them); their union, de-duplicated by SQLite, then the newest MAX_REACH_MESSAGES + 1 of
    those. Recipient lists are decoded once per distinct text (most messages of a campaign went to
    the same few lists)."""
    if not wanted:
        return Reach()
    union = " UNION ".join([_REACH_PER_KEY if exclude else _REACH_PER_KEY_ALL] * len(wanted))
    args: list[Any] = []
    for key in wanted:
        args += [key, since, exclude, per_key] if exclude else [key, since, per_key]
    rows = db.execute(
        f"SELECT ts, sender, local_recipients FROM messages WHERE id IN ({union})"  # noqa: S608 - fixed text
        " ORDER BY ts DESC, id DESC LIMIT ?", (*args, MAX_REACH_MESSAGES + 1)).fetchall()
    decoded: dict[str, tuple[str, ...]] = {}
    out = []
    for ts, sender, local in rows[:MAX_REACH_MESSAGES]:
        rcpts = decoded.get(local)
        if rcpts is None:
            rcpts = decoded[local] = tuple(json.loads(local))
        out.append((ts, sender, rcpts))
    return reach_of(out, len(rows) > MAX_REACH_MESSAGES)


def _upsert_pair(db: sqlite3.Connection, local: str, external: str, when: float, outbound: bool) -> None:
    """One more message between `local` and `external` (its domain's sum follows: the triggers of migration 3)."""
    domain = external.rsplit("@", 1)[-1]
    db.execute(
        "INSERT INTO pairs VALUES (?,?,?,?,?,1,?) ON CONFLICT (local, external) DO UPDATE SET"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen),"
        " count = count + 1, outbound = outbound + excluded.outbound",
        (local, external, domain, when, when, int(outbound)))


_HISTORY_SENDER = ("SELECT 0, NULL, min(first_seen), max(last_seen), sum(count), sum(outbound)"
                   " FROM pairs WHERE external = ?")
_HISTORY_DOMAIN = "SELECT {}, NULL, first_seen, last_seen, count, outbound FROM pair_domains WHERE external_domain = ?"
_HISTORY_PAIRS = ("SELECT 2, local, first_seen, last_seen, count, outbound FROM pairs"
                  " WHERE external = ? AND local IN ({})")
MAX_IN = 500  # recipients looked up by one statement at most


def _sender_history(db: sqlite3.Connection, who: str, locals_: Sequence[str], dom: str) -> SenderHistory:
    """`sender_history` in one statement (up to MAX_IN recipients; more: one more statement per
    MAX_IN): the sender's sum of pairs (or, for a domain, its `pair_domains` row), the domain's
    row, and the row of each asked recipient's pair with the sender (the primary key: one pair at
    most, so its sum is the row itself). The answers of the separate reads it replaces (one per
    recipient, then two: perf37)."""
    arms = [_HISTORY_SENDER if "@" in who else _HISTORY_DOMAIN.format(0)]
    args: list[Any] = [who]
    if dom:
        arms.append(_HISTORY_DOMAIN.format(1))
        args.append(dom)
    wanted = list(dict.fromkeys(locals_))
    chunks = [wanted[i:i + MAX_IN] for i in range(0, len(wanted), MAX_IN)]
    if chunks:
        arms.append(_HISTORY_PAIRS.format(",".join("?" * len(chunks[0]))))
        args += [who, *chunks[0]]
    rows = db.execute(" UNION ALL ".join(arms), args).fetchall()  # this file's fixed texts, placeholders only
    for chunk in chunks[1:]:
        rows += db.execute(_HISTORY_PAIRS.format(",".join("?" * len(chunk))), [who, *chunk]).fetchall()
    sender: PairStats | None = None
    domain: PairStats | None = None
    pairs: dict[str, PairStats] = {}
    for arm, local, first, last, count, outbound in rows:
        if count is None:  # the sender's sum over no pair
            continue
        stats = PairStats(first, last, count, outbound)
        if arm == 0:
            sender = stats
        elif arm == 1:
            domain = stats
        else:
            pairs[local] = stats
    return SenderHistory(tuple(pairs.get(r) for r in locals_), sender, domain if dom else None)


def _domain_stats(db: sqlite3.Connection, domain: str) -> PairStats | None:
    """The sum of `domain`'s pairs: one row of `pair_domains`."""
    row = db.execute("SELECT first_seen, last_seen, count, outbound FROM pair_domains WHERE external_domain = ?",
                     (domain,)).fetchone()
    return None if row is None else PairStats(*row)


def schema_version(db: sqlite3.Connection) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


WAL_WAIT = 10.0  # seconds to wait for other processes while switching a new file to WAL


def set_wal(db: sqlite3.Connection, wait: float = WAL_WAIT) -> None:
    """Switch to WAL mode. Several processes (`serve` workers) opening a new file at once race
    for the switch, and SQLite answers "database is locked" at once, without its busy timeout:
    try again for up to `wait` seconds. A file already in WAL mode takes no lock."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this file has not seen yet; returns the resulting version. One
    IMMEDIATE transaction: two processes opening a new file at once migrate it once."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)
        if version > len(MIGRATIONS):
            raise RuntimeError(f"store schema version {version} is newer than this gateway knows "
                               f"({len(MIGRATIONS)}); upgrade the gateway or use another store.path")
        for i in range(version, len(MIGRATIONS)):
            statement = ""
            for piece in MIGRATIONS[i].split(";"):  # the migrations hold no ';' in literals; a trigger's body does
                statement += piece + ";"
                if sqlite3.complete_statement(statement):
                    if statement.strip(" \n;"):
                        db.execute(statement)
                    statement = ""
            db.execute("INSERT INTO schema_version VALUES (?)", (i + 1,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


# SQLite's answers when the file cannot take a write now: a full disk, a read-only file or folder,
# an I/O error. An outage of the store as Redis being down is (StoreUnavailable: one warning line
# per message in `Runtime.record`), not a bug with a traceback (admin21: a full disk logged a
# 40-line double traceback for every message).
_CANNOT_WRITE = ("database or disk is full", "disk is full", "readonly database", "disk i/o error",
                 "unable to open database file")


def _cannot_write(exc: BaseException) -> BaseException:
    """`exc`, or a StoreUnavailable naming it when it says the file cannot take a write now."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and any(t in text for t in _CANNOT_WRITE):
        return StoreUnavailable(f"the SQLite store cannot write ({exc}): free disk space or fix the permissions "
                                "of its file and folder; this message's metadata is not recorded")
    return exc
