from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from gateway.store import MessageMeta, RdapRecord, store_from_config
from gateway.store.memory import MemoryStore
from gateway.store.sqlite import MIGRATIONS, SqliteStore, migrate, schema_version
from tests.support.messages import config

LOCAL = ("example.org",)
NOW = time.time()


def stores(tmp_path):
    return [MemoryStore(30), SqliteStore(tmp_path / "s.sqlite3", 30)]


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = MemoryStore(30) if request.param == "memory" else SqliteStore(tmp_path / "s.sqlite3", 30)
    yield s
    asyncio.run(s.close())


def test_inbound_message_records_pair_and_history(store):
    async def go():
        assert await store.seen_pair("x@outside.test", "a@example.org") is None
        await store.record_message(MessageMeta(NOW - 10, "inbound", "X@Outside.test", ("a@example.org",),
                                               display_name="Kevin Zhao", verdict="caution", score=3.0,
                                               rule_ids=("r1",), observables=("persona:Kevin Zhao",)), LOCAL)
        pair = await store.seen_pair("x@outside.test", "a@example.org")
        assert pair is not None and pair.count == 1 and pair.outbound == 0
        assert await store.seen_pair("x@outside.test", "b@example.org") is None
        assert (await store.seen_sender_org("x@outside.test")).count == 1
        assert (await store.seen_sender_org("outside.test")).count == 1
        assert await store.seen_sender_org("other.test") is None
        hits = await store.search_history(["kevin zhao"])
        assert [(h.sender, h.verdict, h.rule_ids) for h in hits] == [("x@outside.test", "caution", ("r1",))]
    asyncio.run(go())


def test_outbound_message_teaches_known_correspondent(store):
    async def go():
        await store.record_message(MessageMeta(NOW, "outbound", "a@example.org",
                                               ("friend@partner.test", "b@example.org")), LOCAL)
        pair = await store.seen_pair("friend@partner.test", "a@example.org")
        assert pair is not None and pair.outbound == 1
        assert await store.seen_pair("b@example.org", "a@example.org") is None  # internal: no pair
        await store.learn_pair("a@example.org", "friend@partner.test", NOW - 100)
        pair = await store.seen_pair("friend@partner.test", "a@example.org")
        assert pair.count == 2 and pair.first_seen == pytest.approx(NOW - 100)
    asyncio.run(go())


def test_purge_drops_what_is_older_than_retention(store):
    async def go():
        old = NOW - 40 * 86400
        await store.learn_pair("a@example.org", "old@x.test", old)
        await store.learn_pair("a@example.org", "new@x.test", NOW)
        await store.rdap_put(RdapRecord("x.test", old, old))
        removed = await store.purge(NOW)
        assert removed >= 1
        assert await store.seen_pair("old@x.test", "a@example.org") is None
        assert await store.seen_pair("new@x.test", "a@example.org") is not None
    asyncio.run(go())


def test_rdap_cache_roundtrip(store):
    async def go():
        assert await store.rdap_get("young.test") is None
        await store.rdap_put(RdapRecord("Young.test", 1_700_000_000.0, NOW))
        got = await store.rdap_get("young.test")
        assert got is not None and got.registered == 1_700_000_000.0
    asyncio.run(go())


def test_sqlite_is_wal_versioned_and_runs_off_the_event_loop(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite3")

    async def go():
        loop_thread = threading.get_ident()
        where = await s._run(lambda db: threading.get_ident())
        mode = await s._run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
        version = await s._run(schema_version)
        await s.close()
        return loop_thread, where, mode, version
    loop_thread, where, mode, version = asyncio.run(go())
    assert where != loop_thread
    assert mode == "wal"
    assert version == len(MIGRATIONS)


def test_sqlite_refuses_a_newer_schema(tmp_path):
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    migrate(db)
    db.execute("INSERT INTO schema_version VALUES (99)")
    db.commit()
    db.close()
    s = SqliteStore(tmp_path / "s.sqlite3")
    with pytest.raises(RuntimeError, match="newer"):
        asyncio.run(s.seen_pair("a@b.test", "c@example.org"))


def test_sqlite_keeps_no_bodies(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite3")
    asyncio.run(s.record_message(MessageMeta(NOW, "inbound", "x@o.test", ("a@example.org",)), LOCAL))
    asyncio.run(s.close())
    db = sqlite3.connect(tmp_path / "s.sqlite3")
    cols = {r[1] for t in ("messages", "pairs") for r in db.execute(f"PRAGMA table_info({t})")}
    assert not cols & {"body", "text", "subject", "content"}


def test_store_from_config_picks_backend(tmp_path):
    assert isinstance(store_from_config(config("store: {backend: memory}\n")), MemoryStore)
    s = store_from_config(config(f"store: {{path: {tmp_path / 'x.sqlite3'}, retention_days: 9}}\n"))
    assert isinstance(s, SqliteStore) and s.retention_days == 9
    with pytest.raises(ValueError, match="not implemented"):
        store_from_config(config("store: {backend: redis, url: redis://localhost}\n"))
