"""Store benchmark: memory and speed of the Redis store (and SQLite's file size) for synthetic,
realistic message metadata. Prints figures; asserts nothing.

Each message: an outside sender (60,000 addresses on 8,000 domains, a fifth at free-mail
providers) writing to 1-3 of 2,000 staff (2 on average), a display name, a Message-ID, a verdict,
two rule ids, three signals, three observables (persona, link domain, Reply-To) and four campaign
keys (sender, persona, two near-duplicate text buckets); times spread over the last 60 days.

A private redis-server (127.0.0.1, free port, no persistence) is started and stopped by the
script. Record rate is with `--concurrency` record_message calls in flight on one RedisStore
(one gateway process); lookups are seen_pair + seen_sender_org (the first-contact check's
calls) and campaign_reach with a message's four keys.

    python benchmarks/store_bench.py                              # 1,000,000 into Redis, 100,000 into SQLite
    python benchmarks/store_bench.py --messages 100000 --sqlite-messages 20000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.store import MessageMeta
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore

LOCAL = ("example.org",)
FIRST = ["kevin", "anna", "li", "maria", "john", "wei", "olga", "ahmed", "sara", "tom", "yuki", "ivan"]
LAST = ["zhao", "smith", "novak", "garcia", "chen", "ivanova", "khan", "berg", "tanaka", "rossi"]
FREEMAIL = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "163.com"]


class World:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        r = self.rng
        self.staff = [f"{r.choice(FIRST)}.{r.choice(LAST)}{i}@example.org" for i in range(2000)]
        domains = [f"org{i}.{r.choice(['com', 'org', 'net', 'cn', 'ru', 'de'])}" for i in range(8000)]
        self.senders = []
        for i in range(60000):
            dom = r.choice(FREEMAIL) if r.random() < 0.2 else r.choice(domains)
            self.senders.append(f"{r.choice(FIRST)}.{r.choice(LAST)}{i}@{dom}")
        self.texts = [hashlib.sha1(str(i).encode()).hexdigest()[:12] for i in range(30000)]
        self.now = time.time()

    def meta(self, i: int) -> MessageMeta:
        r = self.rng
        sender = self.senders[int(r.paretovariate(1.2) * 50) % len(self.senders)]
        first, last = sender.split("@")[0].split(".")
        name = f"{first.title()} {last.rstrip('0123456789').title()}"
        rcpts = tuple(r.sample(self.staff, r.choice((1, 2, 2, 3))))
        text = self.texts[int(r.paretovariate(1.1) * 20) % len(self.texts)]
        return MessageMeta(
            when=self.now - r.random() * 60 * 86400, direction="inbound", sender=sender, recipients=rcpts,
            message_id=f"<{i:x}.{r.getrandbits(48):x}@{sender.split('@')[1]}>", display_name=name,
            verdict=r.choice(("pass", "pass", "pass", "caution", "suspicious")), score=round(r.random() * 8, 1),
            rule_ids=("first-contact", r.choice(("fake-recruiter", "offchannel", "lookalike", "freemail-persona"))),
            signals=("sender.first_contact", "content.offchannel_whatsapp", "identity.persona_mismatch"),
            observables=(f"persona:{name}", f"link:{r.choice(('bit.ly', 'linkedin.com', 'forms.gle'))}",
                         f"reply-to:{first}.{last}.private@gmail.com"),
            campaign_keys=(f"sender:{sender}", f"persona:{name.lower()}", f"text:b1:{text}",
                           f"text:b2:{text[:8]}"))


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        sys.exit("store_bench: redis-server not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir), "--logfile", str(workdir / "redis.log")])
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("store_bench: redis-server did not start")


async def info_memory(store: RedisStore) -> int:
    info = await store._do("info", lambda c: c.info("memory"))
    return int(info["used_memory"])


async def server_usec(store: RedisStore, reset: bool = False) -> float:
    """Redis's own CPU time per EVALSHA since the last reset (what other clients wait for)."""
    if reset:
        await store._do("reset", lambda c: c.config_resetstat())
        return 0.0
    stats = await store._do("info", lambda c: c.info("commandstats"))
    return float(stats.get("cmdstat_evalsha", {}).get("usec_per_call", 0.0))


async def fill(store: object, world: World, n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await store.record_message(world.meta(i), LOCAL)  # type: ignore[attr-defined]
    start = time.perf_counter()
    step = 20000
    for lo in range(0, n, step):
        await asyncio.gather(*(one(i) for i in range(lo, min(n, lo + step))))
        if lo and lo % 200000 == 0:
            print(f"  {lo:,} recorded ({lo / (time.perf_counter() - start):,.0f}/s)", flush=True)
    return time.perf_counter() - start


async def lookups(store: object, world: World, n: int, concurrency: int,
                  between: object = None) -> tuple[float, float, float]:
    sem = asyncio.Semaphore(concurrency)
    rng = random.Random(3)
    examined: list[int] = []

    async def first_contact() -> None:
        async with sem:
            sender = world.senders[int(rng.paretovariate(1.2) * 50) % len(world.senders)]
            await store.seen_pair(sender, rng.choice(world.staff))  # type: ignore[attr-defined]
            await store.seen_sender_org(sender)  # type: ignore[attr-defined]

    async def reach() -> None:
        async with sem:
            m = world.meta(rng.getrandbits(30))
            r = await store.campaign_reach(m.campaign_keys, world.now - 30 * 86400, m.message_id)  # type: ignore[attr-defined]
            examined.append(r.messages)
    start = time.perf_counter()
    await asyncio.gather(*(first_contact() for _ in range(n)))
    pair_rate = n / (time.perf_counter() - start)
    if between is not None:
        await between()  # type: ignore[operator]
    start = time.perf_counter()
    await asyncio.gather(*(reach() for _ in range(n)))
    return pair_rate, n / (time.perf_counter() - start), sum(examined) / max(len(examined), 1)


async def bench_redis(args: argparse.Namespace, workdir: Path) -> None:
    proc, port = start_redis(workdir)
    try:
        store = RedisStore(f"redis://127.0.0.1:{port}/0", 400, timeout=10.0)
        base = await info_memory(store)
        world = World()
        await server_usec(store, reset=True)
        secs = await fill(store, world, args.messages, args.concurrency)
        record_usec = await server_usec(store)
        used = await info_memory(store)
        info = await store._do("info", lambda c: c.info("keyspace"))
        keys = info.get("db0", {}).get("keys", 0)
        print(f"redis: {args.messages:,} messages in {secs:.1f} s = {args.messages / secs:,.0f} record_message/s "
              f"(concurrency {args.concurrency}, one client process)")
        print(f"redis: used_memory {used / 2**20:,.1f} MiB (empty {base / 2**20:.1f} MiB), "
              f"{(used - base) / args.messages:,.0f} bytes/message, {keys:,} keys")
        pair_rate, reach_rate, examined = await lookups(store, world, args.lookups, args.concurrency,
                                                        lambda: server_usec(store, reset=True))
        reach_usec = await server_usec(store)
        print(f"redis: {pair_rate:,.0f} first-contact lookups/s (seen_pair + seen_sender_org), "
              f"{reach_rate:,.0f} campaign_reach/s (4 keys, last 30 days, {examined:,.0f} messages examined "
              f"on average)")
        print(f"redis: server CPU per call: record_message {record_usec:,.0f} us, campaign_reach {reach_usec:,.0f} us")
        await store.close()
    finally:
        proc.terminate()
        proc.wait(30)


async def bench_sqlite(args: argparse.Namespace, workdir: Path) -> None:
    path = workdir / "bench.sqlite3"
    store = SqliteStore(path, 400)
    store._last_purge = time.time()  # the hourly purge would only scan: keep it out of the figure
    world = World()
    secs = await fill(store, world, args.sqlite_messages, args.concurrency)
    await store._run(lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    size = path.stat().st_size
    print(f"sqlite: {args.sqlite_messages:,} messages in {secs:.1f} s = {args.sqlite_messages / secs:,.0f} "
          f"record_message/s; file {size / 2**20:,.1f} MiB = {size / args.sqlite_messages:,.0f} bytes/message "
          f"(x{1_000_000 // args.sqlite_messages} for a million: {size / args.sqlite_messages / 1.048576:,.0f} MiB)")
    pair_rate, reach_rate, examined = await lookups(store, world, args.lookups // 4, args.concurrency)
    print(f"sqlite: {pair_rate:,.0f} first-contact lookups/s, {reach_rate:,.0f} campaign_reach/s "
          f"({examined:,.0f} messages examined on average)")
    await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000, help="messages recorded into Redis")
    ap.add_argument("--sqlite-messages", type=int, default=100_000, help="messages recorded into SQLite (0: skip)")
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        if args.messages:
            asyncio.run(bench_redis(args, Path(tmp)))
        if args.sqlite_messages:
            asyncio.run(bench_sqlite(args, Path(tmp)))


if __name__ == "__main__":
    main()
