"""DNS lookup cost on the gateway's side: our Resolver (dnspython's asyncio resolver behind a TTL
cache with in-flight de-duplication) beside aiodns (c-ares through pycares), in the same run.

Issue 13 asked whether c-ares or dnspython's own cache would serve the DNS path better. This
measures the CPU per lookup in the calling process (time.process_time, so the DNS server's work
is not counted: it runs in its own process) for:

  dnspython, uncached   every lookup goes to the server (the first sight of a name)
  Resolver, uncached    the same through gateway.dns.Resolver (cache cleared before each lookup)
  Resolver, cached      the same names again: answered from our cache
  aiodns, uncached      c-ares for the same names (only when `aiodns` is installed; it is NOT a
                        dependency of the gateway: pip install aiodns to include it)

Queries are TXT lookups of distinct names (half answered with a record, half NXDOMAIN), `--concurrency`
at a time, against the tests' dnslib server on 127.0.0.1 in a child process.

    .venv/bin/python benchmarks/dns_bench.py --names 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.asyncresolver  # noqa: E402
import dns.nameserver  # noqa: E402
import dns.resolver  # noqa: E402

from gateway.dns import Resolver  # noqa: E402

SERVER = """
import sys, threading
sys.path.insert(0, {root!r})
from tests.support.dnsserver import TestDNSServer
s = TestDNSServer()
for i in range({n}):
    if i % 2 == 0:
        s.add_txt(f"k{{i}}.bench.test", [b"v=spf1 -all"])
s.start()
print("PORT", s.port, flush=True)
threading.Event().wait()
"""


async def timed(label: str, names: list[str], one: Callable[[str], Awaitable[object]], concurrency: int,
                rounds: int) -> dict[str, float]:
    per: list[float] = []
    for _ in range(rounds):
        async def go(name: str, sem: asyncio.Semaphore = asyncio.Semaphore(concurrency)) -> None:  # noqa: B008
            async with sem:
                await one(name)
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(go(n) for n in names))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        per.append(cpu / len(names) * 1e6)
    out = {"cpu_us": statistics.median(per), "min": min(per), "max": max(per), "lookups_s": len(names) / wall}
    print(f"{label:<28} {out['cpu_us']:8.1f} us CPU/lookup  [{out['min']:.1f}-{out['max']:.1f}]"
          f"  {out['lookups_s']:8.0f} lookups/s (last round)", flush=True)
    return out


async def main_async(port: int, n: int, concurrency: int, rounds: int) -> None:
    names = [f"k{i}.bench.test" for i in range(n)]
    raw = dns.asyncresolver.Resolver(configure=False)
    raw.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    raw.cache = None

    async def dnspython(name: str) -> None:
        try:
            await raw.resolve(name, "TXT", raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            pass

    ours = Resolver(nameservers=(("127.0.0.1", port),), timeout=3.0)

    async def resolver_uncached(name: str) -> None:
        ours._cache.pop((name, "TXT"), None)
        await ours.query(name, "TXT")

    await timed("dnspython, uncached", names, dnspython, concurrency, rounds)
    await timed("Resolver, uncached", names, resolver_uncached, concurrency, rounds)
    for name in names:
        await ours.query(name, "TXT")
    await timed("Resolver, cached", names, lambda name: ours.query(name, "TXT"), concurrency, rounds)
    try:
        import aiodns
    except ImportError:
        print("aiodns, uncached             (not installed: pip install aiodns to compare c-ares)")
        return
    cares = aiodns.DNSResolver(nameservers=["127.0.0.1"], udp_port=port, tcp_port=port, timeout=3.0, tries=1)

    ask = getattr(cares, "query_dns", None) or cares.query  # aiodns 4 renamed query()

    async def aiodns_query(name: str) -> None:
        try:
            await ask(name, "TXT")
        except aiodns.error.DNSError:
            pass
    await timed("aiodns (c-ares), uncached", names, aiodns_query, concurrency, rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), n=args.names)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        print(f"{args.names} names (half NXDOMAIN), {args.concurrency} at a time, {args.rounds} rounds; "
              f"server pid {server.pid} port {port}")
        asyncio.run(main_async(port, args.names, args.concurrency, args.rounds))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
