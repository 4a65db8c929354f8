"""Authentication benchmark: time per message (cold and warm cache), lookups, event-loop lag.

Runs AuthCheck against a real DNS server on 127.0.0.1 (tests.support.dnsserver) with messages
signed in the run (RSA 2048 + Ed25519), an SPF record with an include and an mx, DMARC at the
organisational domain. Prints p50/p95/mean per message for a cold cache (new resolver each
message) and a warm cache (one resolver), DNS queries per message, and the loop's maximum lag
while 50 messages with 2 MB bodies are verified concurrently.

    python benchmarks/auth_bench.py [--messages 200] [--big 50] [--big-mb 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.checks import CheckContext
from gateway.checks.auth import AuthCheck
from gateway.dns import Resolver
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from tests.conftest import make_config
from tests.support.dkimkeys import ed25519_key, message, rsa_key
from tests.support.dnsserver import TestDNSServer


def zone(server: TestDNSServer) -> None:
    server.add("example.com", "TXT", "v=spf1 include:_spf.example.com mx -all")
    server.add("_spf.example.com", "TXT", "v=spf1 ip4:198.51.100.0/24 ip4:192.0.2.0/24 ~all")
    server.add("example.com", "MX", "10 mx.example.com.")
    server.add("mx.example.com", "A", "203.0.113.5")
    server.add("sel._domainkey.example.com", "TXT", rsa_key().txt)
    server.add("ed._domainkey.example.com", "TXT", ed25519_key().txt)
    server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.com")


def signed(body: bytes = b"Hello there.\r\n", canon: bytes = b"relaxed/relaxed") -> bytes:
    """RSA 2048 + Ed25519 signatures; relaxed/relaxed (as Gmail signs) is the costly case."""
    c = tuple(canon.split(b"/"))
    raw = rsa_key().sign(message("Alice <alice@news.example.com>", body=body), "example.com",
                         canonicalize=c)
    return ed25519_key().sign(raw, "example.com", selector="ed", canonicalize=c)


async def one(check: AuthCheck, config, resolver: Resolver, raw: bytes | MessageView) -> tuple[float, list[str]]:
    """One message through AuthCheck. A MessageView is parsed already: the pipeline parses large
    messages in a thread, before the checks run, so parsing is not part of the loop-lag figure."""
    view = raw if isinstance(raw, MessageView) else MessageView.parse(raw)
    ctx = CheckContext(view=view, config=config, data=ReferenceData(), domains=Domains(config.local_domains),
                       resolver=resolver, envelope=Envelope("bounce@example.com", ("bob@example.org",),
                                                            Client(ip="192.0.2.44", helo="mail.example.com")))
    t0 = time.perf_counter()
    signals = list(await check.run(ctx))
    return time.perf_counter() - t0, [s.name for s in signals]


def summary(label: str, times: list[float], queries: float) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{label:<12} n={len(ms):<4} p50={statistics.median(ms):7.2f} ms  p95={p95:7.2f} ms  "
          f"mean={statistics.fmean(ms):7.2f} ms  DNS queries/msg={queries:.1f}")


async def ticker(lags: list[float], stop: asyncio.Event, period: float = 0.005) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t0 = loop.time()
        await asyncio.sleep(period)
        lags.append(loop.time() - t0 - period)


async def bench(args: argparse.Namespace, port: int, config) -> None:
    check = AuthCheck()
    raw = signed()
    ns = (("127.0.0.1", port),)
    cold, queries = [], 0
    for _ in range(args.messages):
        r = Resolver(nameservers=ns, timeout=2)
        took, names = await one(check, config, r, raw)
        cold.append(took)
        queries += r.counters.queries
    print("signals:", ", ".join(sorted(names)))
    summary("cold cache", cold, queries / args.messages)
    warm_r = Resolver(nameservers=ns, timeout=2)
    await one(check, config, warm_r, raw)
    before = warm_r.counters.queries
    warm = [(await one(check, config, warm_r, raw))[0] for _ in range(args.messages)]
    summary("warm cache", warm, (warm_r.counters.queries - before) / args.messages)

    line = b"lorem ipsum  dolor sit amet\t" * 2 + b" \r\n"
    big = signed(line * (args.big_mb * 1024 * 1024 // len(line)), args.canon.encode())
    big_view = await asyncio.to_thread(MessageView.parse, big)
    lags: list[float] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(lags, stop))
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(check, config, warm_r, big_view) for _ in range(args.big)))
    wall = time.perf_counter() - t0
    stop.set()
    await tick
    ok = sum(1 for _, n in results if n.count("dkim.pass") == 2)
    print(f"big bodies   {args.big} x {len(big) / 1e6:.1f} MB ({args.canon}) concurrently: wall {wall:.2f} s, "
          f"{ok}/{args.big} with both signatures passing")
    print(f"loop lag     max {max(lags) * 1000:.1f} ms, p99 "
          f"{sorted(lags)[int(len(lags) * 0.99)] * 1000:.1f} ms over {len(lags)} ticks of 5 ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--big", type=int, default=50)
    ap.add_argument("--big-mb", type=int, default=2)
    ap.add_argument("--canon", default="relaxed/relaxed", help="c= of the big messages' signatures")
    args = ap.parse_args()
    with TestDNSServer() as server, tempfile.TemporaryDirectory() as tmp:
        zone(server)
        config = make_config(1, Path(tmp))
        asyncio.run(bench(args, server.port, config))


if __name__ == "__main__":
    main()
