from __future__ import annotations

import asyncio

import pytest

from gateway.checks.auth.dkim import DkimResult
from gateway.checks.auth.dmarc import check_dmarc, parse_record
from gateway.checks.auth.spf import SpfResult
from gateway.dns import Resolver
from tests.support.dnsserver import TestDNSServer


@pytest.fixture(scope="module")
def dns():
    with TestDNSServer() as server:
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject; sp=quarantine; pct=50")
        server.add("_dmarc.strict.example", "TXT", "v=DMARC1; p=quarantine; adkim=s; aspf=s")
        server.add("_dmarc.sub.example.co.uk", "TXT", "v=DMARC1; p=none")
        server.add("_dmarc.example.co.uk", "TXT", "v=DMARC1; p=reject")
        server.add("_dmarc.bad.example", "TXT", "v=DMARC1; p=bogus")
        server.fail("_dmarc.slow.example", "timeout")
        server.add("_dmarc.a.b.c.d.e.f.g.h.i.walk.example", "TXT", "not dmarc")
        server.add("_dmarc.walk.example", "TXT", "v=DMARC1; p=reject")
        yield server


def spf(result: str, domain: str) -> SpfResult:
    return SpfResult(result, domain, "mailfrom", f"x@{domain}", "192.0.2.1")


def dkim(result: str, domain: str) -> DkimResult:
    return DkimResult(result, domain=domain, selector="s")


def run(dns, from_domain, spf_res=None, dkim_res=(), **kw):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.4)
        return await check_dmarc(r, from_domain, spf_res, list(dkim_res), **kw)
    return asyncio.run(go())


def test_relaxed_dkim_alignment_passes_with_subdomain_signature(dns):
    res = run(dns, "example.com", dkim_res=[dkim("pass", "mail.example.com")])
    assert (res.result, res.aligned_dkim, res.aligned_spf, res.aligned_domain) == \
        ("pass", True, False, "mail.example.com")
    assert (res.policy, res.policy_tag, res.pct) == ("reject", "p", 50)


def test_relaxed_spf_alignment_passes(dns):
    res = run(dns, "example.com", spf("pass", "bounce.example.com"))
    assert res.result == "pass" and res.aligned_spf


def test_unaligned_passes_fail_with_reject_policy(dns):
    res = run(dns, "example.com", spf("pass", "example.net"), [dkim("pass", "example.net")])
    assert (res.result, res.policy) == ("fail", "reject")


def test_subdomain_uses_sp_from_organisational_domain(dns):
    res = run(dns, "news.example.com", spf("fail", "news.example.com"))
    assert (res.result, res.policy, res.policy_tag, res.record_domain) == \
        ("fail", "quarantine", "sp", "example.com")


def test_strict_alignment_rejects_subdomains(dns):
    res = run(dns, "strict.example", spf("pass", "mail.strict.example"), [dkim("pass", "x.strict.example")])
    assert res.result == "fail"
    assert run(dns, "strict.example", dkim_res=[dkim("pass", "strict.example")]).result == "pass"


def test_record_at_from_domain_wins_over_org(dns):
    res = run(dns, "sub.example.co.uk")
    assert (res.result, res.policy, res.org_domain) == ("fail", "none", "example.co.uk")


def test_no_record_is_none(dns):
    assert run(dns, "nodmarc.example", spf("pass", "nodmarc.example")).result == "none"


def test_invalid_policy_without_rua_is_permerror(dns):
    assert run(dns, "bad.example").result == "permerror"
    assert parse_record("v=DMARC1; p=bogus; rua=mailto:d@example.com", "x").p == "none"


def test_dns_timeout_is_temperror(dns):
    assert run(dns, "slow.example", spf("pass", "slow.example")).result == "temperror"


def test_aligned_temperror_is_not_reported_as_fail(dns):
    res = run(dns, "example.com", spf("temperror", "example.com"), [dkim("fail", "example.com")])
    assert res.result == "temperror"


def test_tree_walk_finds_a_parent_policy(dns):
    res = run(dns, "a.b.c.d.e.f.g.h.i.walk.example", tree_walk=True)
    assert (res.result, res.record_domain) == ("fail", "walk.example")
