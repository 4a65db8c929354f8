from __future__ import annotations

import asyncio

import pytest

from gateway.dns import Resolver
from tests.support.dnsserver import TestDNSServer


@pytest.fixture
def dns_server():
    with TestDNSServer() as server:
        server.add("example.test", "TXT", "v=spf1 -all")
        server.add("example.test", "A", "192.0.2.1")
        server.add("mx.example.test", "MX", "10 mail.example.test.")
        server.fail("slow.example.test", "timeout")
        server.fail("broken.example.test", "servfail")
        yield server


def run(coro):
    return asyncio.run(coro)


def test_answers_txt_a_mx_over_udp(dns_server):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=2)
        txt = await r.query("example.test", "TXT")
        a = await r.query("example.test", "A")
        mx = await r.query("mx.example.test", "MX")
        return txt, a, mx
    txt, a, mx = run(go())
    assert txt.ok and txt.records == ("v=spf1 -all",)
    assert a.records == ("192.0.2.1",)
    assert mx.records == ("10 mail.example.test",)


def test_cache_serves_repeat_lookups_without_traffic(dns_server):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=2)
        await r.query("example.test", "TXT")
        await r.query("EXAMPLE.test.", "TXT")
        return r
    r = run(go())
    assert r.counters.queries == 1 and r.counters.cache_hits == 1
    assert dns_server.log.count(("example.test", "TXT")) == 1


def test_nxdomain_and_nodata_are_answers_not_errors(dns_server):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=2)
        return await r.query("nope.example.test", "TXT"), await r.query("example.test", "MX")
    nx, nodata = run(go())
    assert nx.nxdomain and not nx.temporary and nx.ttl == 60
    assert nodata.ok and nodata.records == ()


def test_timeout_and_servfail_become_temporary_answers(dns_server):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=0.3)
        return r, await r.query("slow.example.test", "TXT"), await r.query("broken.example.test", "TXT")
    r, slow, broken = run(go())
    assert slow.rcode == "TIMEOUT" and slow.temporary
    assert broken.rcode == "SERVFAIL" and broken.temporary
    assert r.counters.timeouts == 1 and r.counters.servfails == 1


def test_deadline_caps_the_lookup(dns_server):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=5)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ans = await r.query("slow.example.test", "TXT", timeout=0.2)
        return ans, loop.time() - t0
    ans, took = run(go())
    assert ans.rcode == "TIMEOUT" and took < 2.0


def test_invalid_name_is_formerr(dns_server):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=1)
        return await r.query("a" * 70 + ".example.test", "TXT")
    assert run(go()).rcode == "FORMERR"


def test_the_cache_is_bounded_in_bytes_and_time(dns_server):
    """atk47 #3: the cache was bounded by count alone (20,000 answers) and kept each for the TTL its owner chose:
    2,000 distinct 60 KB TXT answers grew a process by 116 MiB. Now its text is bounded too (oldest out first), an
    answer over 1/64 of the budget is not kept, and no answer is kept longer than MAX_TTL (a day)."""
    import time

    from gateway.dns import MAX_TTL
    big = "x" * 1500  # an entry of about 1.7 KB: 100 of them are more than the 128 KiB below
    for i in range(100):
        dns_server.add(f"k{i}.example.test", "TXT", big, ttl=10 ** 7)
    dns_server.add("huge.example.test", "TXT", "y" * 3000)

    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=2, cache_bytes=128 * 1024)
        for i in range(100):
            assert (await r.query(f"k{i}.example.test", "TXT")).records == (big,)
        sizes = r.cached_bytes, len(r._cache)
        await r.query("k99.example.test", "TXT")  # the newest is still there
        await r.query("k0.example.test", "TXT")  # the oldest was let go: asked again
        first_expiry = r._cache[("k0.example.test", "TXT")][0]
        await r.query("huge.example.test", "TXT")  # 3 KB > 128 KiB / 64: answered, not kept
        await r.query("huge.example.test", "TXT")
        return r, sizes, first_expiry
    r, (cached, entries), expiry = run(go())
    assert cached <= 128 * 1024 and 60 < entries < 100, (cached, entries)
    assert dns_server.log.count(("k99.example.test", "TXT")) == 1
    assert dns_server.log.count(("k0.example.test", "TXT")) == 2
    assert dns_server.log.count(("huge.example.test", "TXT")) == 2
    assert expiry <= time.monotonic() + MAX_TTL  # the record said 10,000,000 s
    assert r.cached_bytes == sum(entry[2] for entry in r._cache.values())


def test_the_byte_budget_counts_memory_not_characters(dns_server):
    """review47b #2: counting characters let an answer of 4,000 short records, or of text with one character above
    U+FFFF (every character then 4 bytes), take 24 and 4 times the budget. Each string now counts as what it takes."""
    import sys
    for i in range(2000):  # one answer of 2,000 three-character records
        dns_server.add_txt("many.example.test", [f"{i:03d}".encode()])
    dns_server.add_txt("wide.example.test", ["\U0001F600".encode() + b"a" * 200])

    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns_server.port),), timeout=5, tcp=True)
        many = await r.query("many.example.test", "TXT")
        wide = await r.query("wide.example.test", "TXT")
        return r, many, wide
    r, many, wide = run(go())
    assert len(many.records) == 2000
    assert r.cached_bytes >= sum(sys.getsizeof(s) for s in many.records + wide.records)
    assert r.cached_bytes >= 2000 * 50  # each record string's own header, not three characters
