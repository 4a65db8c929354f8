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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway.store import (
    MAX_REACH_MESSAGES,
    MAX_RECENT,
    MAX_RECENT_EXAMINE,
    HistoryHit,
    MessageMeta,
    PairStats,
    RdapRecord,
    Reach,
    cap,
    cap_keys,
    hunt_match,
    local_recipients,
    pairs_of,
    reach_of,
    verdicts_at_least,
)

T = TypeVar("T")
DAY = 86400.0
PURGE_EVERY = 3600.0

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
    # and one row per (campaign key, inbound message).
    """
    ALTER TABLE messages ADD COLUMN local_recipients TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE campaign (
        key TEXT NOT NULL, ts REAL NOT NULL, msg INTEGER NOT NULL,
        PRIMARY KEY (key, ts, msg)) WITHOUT ROWID;
    CREATE INDEX campaign_ts ON campaign (ts);
    """,
)


class SqliteStore:
    def __init__(self, path: str | Path, retention_days: int = 400) -> None:
        self.path = str(path)
        self.retention_days = retention_days
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._conn: sqlite3.Connection | None = None
        self._last_purge = 0.0

    # ------------------------------------------------------------ worker-thread side

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0)
            set_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._db()))

    # ------------------------------------------------------------ protocol

    async def record_message(self, meta: MessageMeta, local_domains: Iterable[str]) -> None:
        meta = meta.capped()
        local_domains = tuple(local_domains)
        pairs = pairs_of(meta, local_domains)
        keys = meta.campaign_keys if meta.direction == "inbound" else ()

        def write(db: sqlite3.Connection) -> None:
            with db:
                cur = db.execute(
                    "INSERT INTO messages (ts, direction, sender, sender_domain, recipients, message_id,"
                    " display_name, verdict, score, rule_ids, signals, observables, local_recipients)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (meta.when, meta.direction, meta.sender, meta.sender_domain,
                     json.dumps(meta.recipients), meta.message_id, meta.display_name, meta.verdict,
                     meta.score, json.dumps(meta.rule_ids), json.dumps(meta.signals),
                     json.dumps(meta.observables, ensure_ascii=False),
                     json.dumps(local_recipients(meta, local_domains))))
                db.executemany("INSERT OR IGNORE INTO campaign VALUES (?,?,?)",
                               [(k, meta.when, cur.lastrowid) for k in keys])
                for local, external, outbound in pairs:
                    _upsert_pair(db, local, external, meta.when, outbound)

        await self._run(write)
        if time.time() - self._last_purge > PURGE_EVERY:
            await self.purge()

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
        return await self._stats("external = ?" if "@" in who else "external_domain = ?", (who,))

    async def _stats(self, where: str, args: tuple[Any, ...]) -> PairStats | None:
        def read(db: sqlite3.Connection) -> PairStats | None:
            row = db.execute("SELECT min(first_seen), max(last_seen), sum(count), sum(outbound)"
                             f" FROM pairs WHERE {where}", args).fetchone()  # noqa: S608 - fixed text
            return None if row is None or row[2] is None else PairStats(row[0], row[1], row[2], row[3])
        return await self._run(read)

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
            cur = db.execute("SELECT ts, direction, sender, recipients, verdict, score, rule_ids,"
                             " display_name, observables FROM messages ORDER BY ts, id")
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

    async def campaign_reach(self, keys: Iterable[str], since: float, exclude_message_id: str = "") -> Reach:
        wanted = cap_keys(keys)
        exclude = cap(exclude_message_id)
        since = max(since, time.time() - self.retention_days * DAY)  # as if purged (Redis expires it)

        def read(db: sqlite3.Connection) -> Reach:
            # Bounded: per key, the newest MAX_REACH_MESSAGES + 1 rows of the (key, ts) index.
            # Excluded messages are skipped before counting, so each key reads on past them.
            found: dict[int, tuple[float, str, tuple[str, ...]]] = {}
            for key in wanted:
                cur = db.execute(
                    "SELECT m.id, m.ts, m.sender, m.local_recipients FROM campaign c"
                    " JOIN messages m ON m.id = c.msg WHERE c.key = ? AND c.ts >= ?"
                    " AND (? = '' OR m.message_id != ?) ORDER BY c.ts DESC, c.msg DESC LIMIT ?",
                    (key, since, exclude, exclude, MAX_REACH_MESSAGES + 1))
                for mid, ts, sender, local in cur:
                    found[mid] = (ts, sender, tuple(json.loads(local)))
            newest = sorted(found.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)
            return reach_of((row for _, row in newest[:MAX_REACH_MESSAGES]), len(newest) > MAX_REACH_MESSAGES)
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
                "SELECT id, ts, direction, sender, recipients, message_id, display_name, verdict, score,"
                " rule_ids, signals, observables FROM (SELECT * FROM messages WHERE ts >= ?"
                " ORDER BY ts DESC, id DESC LIMIT ?) WHERE direction = 'inbound'" + verdict_sql +  # noqa: S608
                " ORDER BY ts DESC, id DESC LIMIT ?",
                (since, MAX_RECENT_EXAMINE, *sorted(allowed or ()), limit)).fetchall()
            keys: dict[int, list[str]] = {}
            ids = [r[0] for r in rows]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for msg, key in db.execute(f"SELECT msg, key FROM campaign WHERE msg IN ({','.join('?' * len(chunk))})",
                                           chunk):  # noqa: S608 - placeholders only
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
        def shut(db: sqlite3.Connection) -> None:
            db.close()
        if self._conn is not None:
            await self._run(shut)
            self._conn = None
        self._pool.shutdown(wait=True)


def _upsert_pair(db: sqlite3.Connection, local: str, external: str, when: float, outbound: bool) -> None:
    domain = external.rsplit("@", 1)[-1]
    db.execute(
        "INSERT INTO pairs VALUES (?,?,?,?,?,1,?) ON CONFLICT (local, external) DO UPDATE SET"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen),"
        " count = count + 1, outbound = outbound + excluded.outbound",
        (local, external, domain, when, when, int(outbound)))


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
            for statement in MIGRATIONS[i].split(";"):  # the migrations hold no ';' in literals
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_version VALUES (?)", (i + 1,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)
