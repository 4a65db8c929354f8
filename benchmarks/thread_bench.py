"""Store cost of the thread memory (gateway/checks/campaign.py `thread_queries`, gateway/store/record.py
`outbound_keys`): the campaign check's thread queries for a reply naming 12 references (session 22's
bound) against MAX_THREAD_REFS (96), and recording an outbound message to 16 outside recipients
against 100 (its `sent:`/`sent-to:` keys), on SQLite and, with --redis URL, on Redis (memory from
INFO). The store is prefilled with --prefill inbound and outbound messages so the indexes have the
size of a store with history. Prints medians; no timing is asserted anywhere.

    PYTHONPATH=. .venv/bin/python benchmarks/thread_bench.py [--prefill 20000] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.checks.campaign import own_message_key, thread_queries
from gateway.store import MessageMeta
from gateway.store.record import sent_key, sent_to_key

LOCAL = ("example.org",)


def _outbound(i: int, n: int, now: float) -> MessageMeta:
    mid = f"<o{i}@example.org>"
    ext = [f"p{i}-{j}@partner{j}.test" for j in range(n)]
    keys = tuple(k for e in ext for k in (sent_key(mid, e), sent_to_key(e)))
    return MessageMeta(when=now, direction="outbound", sender="k@example.org", recipients=tuple(ext[:40]),
                       message_id=mid, campaign_keys=keys)


def _inbound(i: int, now: float) -> MessageMeta:
    sender = f"s{i % 500}@x{i % 50}.test"
    mid = f"<i{i}@x.test>"
    return MessageMeta(when=now, direction="inbound", sender=sender, recipients=("k@example.org",),
                       message_id=mid, campaign_keys=(f"sender:{i % 500}", own_message_key(mid, sender)))


async def run(store: Any, prefill: int, reps: int) -> dict[str, float]:
    now = time.time()
    for i in range(prefill):
        await store.record_message(_inbound(i, now - prefill + i) if i % 4 else _outbound(i, 3, now - prefill + i),
                                   LOCAL)
    out: dict[str, float] = {}
    for refs in (12, 96):
        thread = [f"<t{j}@third.test>" for j in range(refs - 1)] + ["<o4@example.org>"]
        queries = thread_queries(thread, "p4-0@partner0.test")
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            await store.campaign_reach_many(queries)
            times.append(time.perf_counter() - t)
        out[f"thread {refs} refs ({len(queries)} queries) ms"] = statistics.median(times) * 1000
    for n in (16, 100):
        times = []
        for r in range(reps):
            meta = _outbound(10_000_000 + n * 1000 + r, n, now)
            t = time.perf_counter()
            await store.record_message(meta, LOCAL)
            times.append(time.perf_counter() - t)
        out[f"record outbound {n} rcpts ({2 * n} keys) ms"] = statistics.median(times) * 1000
    return out


async def redis_memory(url: str, prefill: int, reps: int) -> dict[str, float]:
    import redis.asyncio as aioredis

    from gateway.store.redis import RedisStore
    client = aioredis.from_url(url)
    await client.flushdb()
    store = RedisStore(url)
    out = await run(store, prefill, reps)
    now = time.time()
    for n in (16, 100):
        before = int((await client.info("memory"))["used_memory"])
        for r in range(50):
            await store.record_message(_outbound(20_000_000 + n * 1000 + r, n, now), LOCAL)
        after = int((await client.info("memory"))["used_memory"])
        out[f"redis bytes per outbound message, {n} rcpts"] = (after - before) / 50
    await store.close()
    await client.flushdb()
    await client.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefill", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--redis", default="")
    a = ap.parse_args()
    from gateway.store.sqlite import SqliteStore
    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "s.sqlite3")

        async def go() -> dict[str, float]:
            try:
                return await run(store, a.prefill, a.reps)
            finally:
                await store.close()
        res = asyncio.run(go())
        for k, v in res.items():
            print(f"sqlite {k}: {v:.2f}")
    if a.redis:
        for k, v in asyncio.run(redis_memory(a.redis, a.prefill, a.reps)).items():
            print(f"redis {k}: {v:.2f}")


if __name__ == "__main__":
    main()
