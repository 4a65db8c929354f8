from __future__ import annotations

import asyncio

import pytest

from gateway.checks.auth.dkim import verify_dkim
from gateway.dns import Resolver
from tests.support.dkimkeys import ed25519_key, message, rsa_key
from tests.support.dnsserver import TestDNSServer


@pytest.fixture(scope="module")
def dns():
    with TestDNSServer() as server:
        server.add("sel._domainkey.example.com", "TXT", rsa_key().txt)
        server.add("ed._domainkey.example.com", "TXT", ed25519_key().txt)
        server.add("sel._domainkey.list.example.net", "TXT", rsa_key().txt)
        server.fail("slow._domainkey.example.com", "timeout")
        server.fail("broken._domainkey.example.com", "servfail")
        yield server


def verify(dns, raw, timeout=0.5):
    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=timeout)
        return await verify_dkim(raw, r)
    return asyncio.run(go())


def test_unsigned_message_has_no_results(dns):
    assert verify(dns, message()) == []


def test_rsa_2048_signature_passes_with_details(dns):
    (res,) = verify(dns, rsa_key().sign(message(), "example.com"))
    assert (res.result, res.domain, res.selector, res.algorithm, res.bits) == \
        ("pass", "example.com", "sel", "rsa-sha256", 2048)
    assert res.identity == "@example.com" and len(res.b) == 12


def test_ed25519_signature_passes(dns):
    (res,) = verify(dns, ed25519_key().sign(message(), "example.com", selector="ed"))
    assert (res.result, res.algorithm, res.bits) == ("pass", "ed25519-sha256", 256)


def test_every_signature_is_verified_not_just_the_first(dns):
    raw = rsa_key().sign(message(), "example.com")
    raw = ed25519_key().sign(raw, "example.com", selector="ed")
    raw = rsa_key().sign(raw, "list.example.net")
    results = verify(dns, raw)
    assert [(r.domain, r.selector, r.result) for r in results] == [
        ("list.example.net", "sel", "pass"), ("example.com", "ed", "pass"), ("example.com", "sel", "pass")]


def test_altered_body_fails(dns):
    raw = rsa_key().sign(message(), "example.com").replace(b"Hello there.", b"Hello THERE.")
    (res,) = verify(dns, raw)
    assert res.result == "fail" and "body hash" in res.reason


def test_altered_signed_header_fails(dns):
    raw = rsa_key().sign(message(), "example.com").replace(b"Subject: Meeting", b"Subject: Meetings")
    (res,) = verify(dns, raw)
    assert res.result == "fail"


def test_key_signed_by_other_key_fails(dns):
    raw = ed25519_key().sign(message(), "example.com", selector="sel")  # sel holds an RSA key
    (res,) = verify(dns, raw)
    assert res.result in ("fail", "permerror")


def test_missing_key_is_permerror(dns):
    (res,) = verify(dns, rsa_key().sign(message(), "example.com", selector="gone"))
    assert res.result == "permerror" and res.reason == "no key for signature"


@pytest.mark.parametrize("selector", ["slow", "broken"])
def test_key_lookup_timeout_or_servfail_is_temperror(dns, selector):
    (res,) = verify(dns, rsa_key().sign(message(), "example.com", selector=selector), timeout=0.3)
    assert res.result == "temperror"


def test_malformed_signature_is_permerror(dns):
    raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com\r\n" + message()
    (res,) = verify(dns, raw)
    assert res.result == "permerror"


def test_signatures_beyond_the_cap_are_not_verified(dns):
    raw = message()
    for _ in range(12):
        raw = rsa_key().sign(raw, "example.com")
    results = verify(dns, raw)
    assert len(results) == 12
    assert [r.result for r in results[10:]] == ["neutral", "neutral"]
    assert all(r.result == "fail" or r.result == "pass" for r in results[:10])
    assert results[0].result == "pass"


def test_key_fetcher_bridges_unforeseen_names_to_the_loop(dns):
    import time

    from gateway.checks.auth.keys import KeyFetcher

    async def go():
        r = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5)
        fetcher = KeyFetcher(r, time.monotonic() + 2)
        await fetcher.prefetch([])  # binds the loop, fetches nothing
        txt = await asyncio.to_thread(fetcher.dnsfunc, b"sel._domainkey.example.com.")
        missing = await asyncio.to_thread(fetcher.dnsfunc, b"nope._domainkey.example.com.")
        return txt, missing, fetcher.outcome("nope._domainkey.example.com")
    txt, missing, outcome = asyncio.run(go())
    assert txt == rsa_key().txt.encode() and missing is None and outcome == "missing"
