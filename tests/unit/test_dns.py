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
