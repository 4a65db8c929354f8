"""Hostile signature fields (attack33): dkimpy is never handed a field it reads in quadratic time,
and a signature that makes dkimpy raise outside its own exceptions is that signature's permerror,
never the loss of every authentication result. Real DNS server on 127.0.0.1, real dkimpy."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks import CheckContext, run_checks
from gateway.checks.auth import AuthCheck, AuthFacts
from gateway.checks.auth.arc import verify_arc
from gateway.checks.auth.dkim import verify_dkim
from gateway.checks.auth.engine import BLANK_RUN_LIMIT
from gateway.dns import Resolver
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from tests.conftest import make_config
from tests.support.dkimkeys import message, rsa_key
from tests.support.dnsserver import TestDNSServer

BH = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # sha256 of the empty body: syntax only


def public_key_txt(modulus: int, exponent: int) -> str:
    """A DKIM key record for any RSA public numbers (no private key needed: atk47's keys are published, not used)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa as crsa
    der = crsa.RSAPublicNumbers(exponent, modulus).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


BIG_MODULUS = (1 << 8191) | secrets.randbits(8190) | 1  # 8,192 bits, odd
BIG_EXPONENT = (1 << 2046) | secrets.randbits(2045) | 1  # 2,047 bits, odd, below the 2,048-bit modulus below
HUGE = public_key_txt(BIG_MODULUS, 65537)
KEYS = {
    "huge": HUGE,
    "bigexp": public_key_txt((1 << 2047) | secrets.randbits(2046) | 1, BIG_EXPONENT),
    # what a strict base64 decode refuses and dkimpy's lenient one reads past (review47b #1): the same huge key
    "bang": HUGE.replace("p=", "p=!", 1),
    "tail": HUGE + "==AAAA",
    "just": public_key_txt((1 << 4096) | 1, 65537),  # 4,097 bits
}


@pytest.fixture(scope="module")
def dns():
    with TestDNSServer() as server:
        server.add("example.com", "TXT", "v=spf1 ip4:192.0.2.10 -all")
        server.add("sel._domainkey.example.com", "TXT", rsa_key().txt)
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        for selector, txt in KEYS.items():
            server.add(f"{selector}._domainkey.example.com", "TXT", txt)
        yield server


@pytest.mark.parametrize("selector, why", [("huge", "RSA key too large (8192 bits"),
                                           ("bigexp", "RSA public exponent too large (2047 bits"),
                                           ("bang", "RSA key too large (8192 bits"),
                                           ("tail", "RSA key too large (8192 bits"),
                                           ("just", "RSA key too large (4097 bits; verified up to 4096, RFC 8301)")])
def test_a_key_too_large_for_its_rsa_never_reaches_it(dns, monkeypatch, selector, why):
    """atk47 #1: dkimpy verifies with pow(signature, exponent, modulus), which holds the GIL (the worker's event loop
    stands still) and no deadline interrupts: an 8,192-bit key a sender publishes cost 2.2 s a signature, 16,384
    bits 20.5 s. A modulus over 4,096 bits (RFC 8301: verifiers MAY refuse) or an exponent over 33 bits is refused
    as the signature's permerror before any RSA, however its record is written (review47b #1: a "!" in p= that a
    strict base64 decode refuses and dkimpy's reads past); the next, ordinary signature still passes."""
    import dkim.crypto
    moduli: list[int] = []
    real = dkim.crypto.rsa_encrypt

    def counted(message, pk, mlen):
        moduli.append(int(pk["modulus"]).bit_length())
        return real(message, pk, mlen)
    monkeypatch.setattr(dkim.crypto, "rsa_encrypt", counted)
    signed = rsa_key().sign(message(), "example.com")  # selector sel: an ordinary 2,048-bit key
    raw = rsa_key().sign(signed, "example.com", selector=selector)  # the same signer naming the hostile key
    hostile, ordinary = verify(dns, raw)
    assert hostile.result == "permerror" and hostile.reason.startswith(why), hostile
    assert ordinary.result == "pass"
    assert moduli == [2048]  # one RSA operation, the ordinary key's


def test_a_signature_longer_than_its_key_is_not_read(dns, monkeypatch):
    """review47b #3: dkimpy turns b= into a number a byte at a time, each step on the whole number so far (quadratic:
    a 92 KB b= cost 0.5 s with any key). A signature is exactly as long as the modulus (RFC 8017 section 8.2.2): a
    longer one is refused before it is read as a number."""
    import dkim.crypto
    calls: list[int] = []
    real = dkim.crypto.str2int
    monkeypatch.setattr(dkim.crypto, "str2int", lambda s: calls.append(len(s)) or real(s))
    long_b = base64.b64encode(secrets.token_bytes(60_000)).decode()
    forged = with_signature(message(), f"bh={BH}; b={long_b}")  # the ordinary 2,048-bit key, a 60,000-byte b=
    (result,) = verify(dns, forged)
    assert result.result == "permerror" and result.reason.startswith("signature longer than its key"), result
    assert all(n <= 256 for n in calls), calls  # only the ordinary 256-byte numbers, if any


@pytest.mark.parametrize("bits, exponent", [(1024, 65537), (2048, 3), (3072, 65537), (4096, 65537)])
def test_keys_rfc_8301_says_verifiers_must_handle_still_pass(bits, exponent):
    """The refusal is for keys past what RFC 8301 requires (1,024-4,096 bits) and past every real exponent."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa as crsa
    k = crsa.generate_private_key(public_exponent=exponent, key_size=bits)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    pub = k.public_key().public_numbers()
    with TestDNSServer() as server:
        server.add("k._domainkey.example.com", "TXT", public_key_txt(pub.n, pub.e))
        raw = dkim.sign(message(), b"k", b"example.com", pem) + message()
        (result,) = verify(server, raw)
    assert result.result == "pass" and result.bits == bits, result


def resolver(dns):
    return Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5)


def verify(dns, raw):
    async def go():
        return await verify_dkim(raw, resolver(dns))
    return asyncio.run(go())


def with_signature(raw: bytes, tags: str) -> bytes:
    return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel;\r\n"
            f"\th=from:to:subject; {tags}\r\n").encode() + raw


CRASHERS = {
    "i= equal to d=, no @": f"i=example.com; bh={BH}; b=AAAA",
    "t= of 4,301 digits": f"t={'1' * 4301}; bh={BH}; b=AAAA",
    "x= of 4,301 digits": f"x={'9' * 4301}; bh={BH}; b=AAAA",
}


@pytest.mark.parametrize("tags", CRASHERS.values(), ids=CRASHERS.keys())
def test_a_signature_dkimpy_crashes_on_is_permerror_and_the_next_one_still_verifies(dns, tags):
    raw = with_signature(rsa_key().sign(message(), "example.com"), tags)
    bad, good = verify(dns, raw)
    assert bad.result == "permerror" and bad.reason.split(":")[0] in ("IndexError", "ValueError")
    assert good.result == "pass"


def blanks_then(n: int, end: str = "!") -> str:
    """b= of "A", `n` blanks and line breaks (folded lines of 60), then `end`."""
    run = ("\r\n" + " " * 58) * (n // 60) + " " * (n % 60)
    return f"bh={BH}; b=A{run}{end}"


def test_a_long_blank_run_is_refused_before_dkimpy_reads_it(dns):
    (res,) = verify(dns, with_signature(message(), blanks_then(30_000)))
    assert res.result == "permerror" and f"more than {BLANK_RUN_LIMIT} blanks in a row" in res.reason


@pytest.mark.parametrize("n,screened", [(BLANK_RUN_LIMIT, False), (BLANK_RUN_LIMIT + 1, True)])
def test_the_blank_run_limit_is_exact(dns, n, screened):
    run = " " * n
    (res,) = verify(dns, with_signature(message(), f"bh={BH}; b=A{run}!"))
    assert res.result == "permerror"
    assert ("blanks in a row" in res.reason) is screened  # else dkimpy's own b= complaint
    if not screened:
        assert "b= value is not valid base64" in res.reason


def test_real_folding_is_not_screened(dns):
    """A signer's folding (a line break and a tab, or eight spaces) stays far below the limit."""
    raw = rsa_key().sign(message(), "example.com")
    assert re.search(rb"\r\n[ \t]", raw.split(b"\r\n\r\n")[0])  # the signature is folded
    (res,) = verify(dns, raw)
    assert res.result == "pass"


def test_an_arc_field_with_a_long_blank_run_fails_the_chain_unread(dns):
    seal = f"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.com; s=sel; t=1700000000; b=A{' ' * 5000}!\r\n"
    ams = (f"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=from;\r\n"
           f" bh={BH}; b=AAAA\r\n")
    aar = "ARC-Authentication-Results: i=1; mx.example.com; spf=pass\r\n"
    raw = (seal + ams + aar).encode() + message()

    async def go():
        return await verify_arc(raw, resolver(dns))
    res = asyncio.run(go())
    assert res.result == "fail" and "blanks in a row" in res.reason


def check(dns, raw, tmp_path, ip="203.0.113.9"):
    config = make_config(1, tmp_path, "")

    async def go():
        ctx = CheckContext(view=MessageView.parse(raw), config=config, data=ReferenceData(),
                           domains=Domains(config.local_domains), offline=False, resolver=resolver(dns),
                           envelope=Envelope("alice@example.com", ("bob@example.org",), Client(ip=ip, helo="x")))
        run = await run_checks([AuthCheck()], ctx)
        return sorted(s.name for s in run.signals), ctx.get(AuthFacts)
    return asyncio.run(go())


@pytest.mark.parametrize("tags", CRASHERS.values(), ids=CRASHERS.keys())
def test_a_forged_from_with_a_crashing_signature_still_fails_dmarc(dns, tmp_path, tags):
    """attack33 #2: the i=d signature had lost every auth signal (check.error), so a forged From
    of a p=reject domain read clean."""
    names, facts = check(dns, with_signature(message(), tags), tmp_path)
    assert "check.error" not in names
    assert {"spf.fail", "dkim.permerror", "dmarc.fail", "dmarc.fail_reject_policy"} <= set(names)
    assert "dkim=permerror" in facts.header_value


def test_a_method_that_raises_leaves_the_others_and_dmarc(dns, tmp_path, monkeypatch):
    import gateway.checks.auth as auth

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")
    raw = rsa_key().sign(message(), "example.com")
    monkeypatch.setattr(auth, "verify_dkim", broken)
    names, facts = check(dns, raw, tmp_path, ip="192.0.2.10")
    assert names == ["arc.none", "dkim.temperror", "dmarc.pass", "spf.pass"]  # SPF aligned: DMARC still passes
    names, facts = check(dns, raw, tmp_path)  # fails closed: no aligned pass (review33 #3)
    assert names == ["arc.none", "dkim.temperror", "dmarc.fail", "dmarc.fail_reject_policy", "spf.fail"]
    monkeypatch.undo()
    monkeypatch.setattr(auth, "check_spf", broken)
    names, facts = check(dns, raw, tmp_path)
    assert names == ["arc.none", "dkim.aligned", "dkim.pass", "dmarc.pass", "spf.temperror"]
    assert "spf=temperror" in facts.header_value and "smtp.mailfrom=alice@example.com" in facts.header_value
    monkeypatch.undo()
    monkeypatch.setattr(auth, "verify_arc", broken)
    names, _ = check(dns, raw, tmp_path)
    assert names == ["arc.fail", "dkim.aligned", "dkim.pass", "dmarc.pass", "spf.fail"]


_text = st.text(st.sampled_from("AB+/= \t\r\n!:;@.-"), max_size=300)
_digits = st.integers(1, 6000).map(lambda n: "7" * n)
_names = st.sampled_from(["example.com", "EXAMPLE.com", "@example.com", "x@example.com", "a.example.com", "", "="])
def _mostly(valid: str, other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.just(valid), st.just(valid), st.just(valid), other)


# Mostly valid required tags, so that dkimpy's checks get as far as the optional ones.
_REQUIRED = {"v": _mostly("1", st.just("2")), "a": _mostly("rsa-sha256", st.just("x")), "b": _mostly("AAAA", _text),
             "bh": _mostly(BH, _text), "d": _mostly("example.com", _names), "h": _mostly("from:to", _text),
             "s": _mostly("sel", st.sampled_from(["", "x y"]))}
_OPTIONAL = {"c": st.sampled_from(["relaxed/relaxed", "simple", "x/y"]), "i": _names, "l": _digits, "q": _text,
             "t": _digits, "x": _digits, "z": _text}


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries(_REQUIRED, optional=_OPTIONAL))
def test_any_signature_tags_give_a_result_never_an_exception(dns, tags):
    value = "; ".join(f"{k}={v}" for k, v in tags.items())
    raw = f"DKIM-Signature: {value}\r\n".encode() + message()
    (res,) = verify(dns, raw)
    assert res.result in ("pass", "fail", "neutral", "temperror", "permerror")


def _split_differential_message() -> bytes:
    """review33 #1: a "From x: y" line is a field to one header reader and an mbox line to dkimpy, so the
    continuation line after it belongs, for dkimpy only, to the DKIM-Signature above: it verifies
    d="example.com\\r\\n .attacker.test" (a key under the attacker's wildcard) while example.com was reported."""
    import base64
    import hashlib

    import dkim
    from dkim.canonicalization import CanonicalizationPolicy
    from dkim.crypto import RSASSA_PKCS1_v1_5_sign, parse_pem_private_key
    from dkim.util import parse_tag_value

    body = b"Please confirm your account.\r\n"
    top = (b"From: PayPal <service@example.com>\r\nTo: bob@example.org\r\nSubject: Account notice\r\n"
           b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <x1@attacker.test>\r\n")
    canon = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    bh = base64.b64encode(hashlib.sha256(canon.canonicalize_body(body)).digest()).decode()

    def build(b: str) -> bytes:
        return top + (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; s=sel; h=from:to:subject;\r\n"
                      f"\tbh={bh}; b={b}; d=example.com\r\nFrom x: y\r\n .attacker.test\r\n").encode() + b"\r\n" + body
    d = dkim.DKIM(build(""))
    sig_header = [(x, y) for x, y in d.headers if x.lower() == b"dkim-signature"][0]
    h = dkim.HashThrough(hashlib.sha256())
    dkim.hash_headers(h, canon, canon.canonicalize_headers(d.headers), [b"from", b"to", b"subject", b"from"],
                      sig_header, parse_tag_value(sig_header[1]))
    return build(base64.b64encode(RSASSA_PKCS1_v1_5_sign(h, parse_pem_private_key(rsa_key().private))).decode())


def test_a_signature_is_reported_as_dkimpy_read_it_and_a_d_that_is_no_name_is_refused(tmp_path):
    raw = _split_differential_message()
    with TestDNSServer() as server:
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        server.add("*.attacker.test", "TXT", rsa_key().txt)  # the attacker's own zone
        names, facts = check(server, raw, tmp_path)  # the auth check verifies the delivered header section
        assert "dkim.pass" not in names and "dmarc.pass" not in names
        assert {"dkim.permerror", "dmarc.fail", "dmarc.fail_reject_policy"} <= set(names)
        (res,) = asyncio.run(verify_dkim(raw, resolver(server)))  # the verifier alone, on the raw bytes
        assert res.result == "permerror" and res.reason == "d= is not a domain name"
        assert res.domain == "example.com.attacker.test"  # reported without its blanks and line break
        assert not [q for q in server.log if "attacker.test" in q[0]]  # its key was never looked up


def test_arc_sets_that_are_not_one_of_each_per_instance_fail_without_a_lookup(dns):
    """attack33c #1: 950 ARC-Seals of instance 1 had bought 950 concurrent key lookups."""
    seal = "ARC-Seal: i={i}; a=rsa-sha256; cv=none; d=e.test; s=s{j}; t=1700000000; b=AAAA\r\n"
    raw = "".join(seal.format(i=1, j=j) for j in range(950)).encode() + message()
    before = len(dns.log)

    async def go():
        return await verify_arc(raw, resolver(dns))
    res = asyncio.run(go())
    assert res.result == "fail" and "per instance" in res.reason and len(dns.log) == before
    ams = "ARC-Message-Signature: i={i}; a=rsa-sha256; d=e.test; s=s; h=from; bh={bh}; b=AAAA\r\n"
    aar = "ARC-Authentication-Results: i={i}; mx.e.test; spf=pass\r\n"
    whole = "".join(f.format(i=i, j=i, bh=BH) for i in (2, 1) for f in (seal, ams, aar))  # two complete sets
    res = asyncio.run(verify_arc(whole.encode() + message(), resolver(dns)))
    assert res.result == "fail" and "per instance" not in res.reason and len(dns.log) > before  # checked by keys


@pytest.mark.parametrize("mail_from,helo,want", [
    ("alice@evil.test", "h.test", ("evil.test", "alice@evil.test", "mailfrom")),
    ("@evil.test", "h.test", ("evil.test", "postmaster@evil.test", "mailfrom")),
    ("evil.test", "h.test", ("evil.test", "postmaster@evil.test", "mailfrom")),
    ("", "h.test", ("h.test", "postmaster@h.test", "helo")),
])
def test_an_spf_check_that_raises_reads_temperror_for_the_identity_spf_checks(dns, tmp_path, monkeypatch,
                                                                              mail_from, helo, want):
    """review33 #5: the identity of a broken check is the one `check_spf` would have checked."""
    import gateway.checks.auth as auth
    from gateway.checks.auth.spf import spf_identity
    assert spf_identity(mail_from, helo) == want

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")
    monkeypatch.setattr(auth, "check_spf", broken)
    config = make_config(1, tmp_path, "")

    async def go():
        ctx = CheckContext(view=MessageView.parse(message()), config=config, data=ReferenceData(),
                           domains=Domains(config.local_domains), offline=False, resolver=resolver(dns),
                           envelope=Envelope(mail_from, ("bob@example.org",), Client(ip="203.0.113.9", helo=helo)))
        run = await run_checks([AuthCheck()], ctx)
        return next(s for s in run.signals if s.name.startswith("spf."))
    sig = asyncio.run(go())
    assert sig.name == "spf.temperror" and (sig.evidence["domain"], sig.evidence["identity"]) == (want[0], want[2])


def _replayed(include: list[bytes], above: bytes, below: bytes) -> bytes:
    """example.com's genuinely signed message (its key) re-sent with `above` its header fields and `below` them
    a line that ends the header section for every reader but dkimpy, which skips it ("From x")."""
    orig = (b"From: Example Bank <service@example.com>\r\nTo: attacker@attacker.test\r\n"
            b"Subject: Your monthly statement\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <stmt-1@example.com>\r\n\r\nYour statement is ready.\r\n")
    head, body = rsa_key().sign(orig, "example.com", include_headers=include).split(b"\r\n\r\n", 1)
    return above + head + b"\r\n" + below + b"\r\n" + body


@pytest.mark.parametrize("raw", [
    _replayed([b"from", b"to", b"subject", b"date", b"message-id"], b"",  # A: the attacker's body is what is read
              b"Content-Type: text/html\r\nFrom x\r\n <h1>Account suspended</h1><a href='https://evil.test/'>log in"
              b"</a><!--\r\n"),
    _replayed([b"from", b"from", b"to", b"subject", b"date", b"message-id"],  # B: the From read is not the signed
              b"From : Example Bank Security <security@example.com>\r\nFrom y\r\n", b""),
], ids=["body-after-a-from-line", "from-with-a-space"])
def test_a_signature_is_verified_over_the_header_section_everybody_reads(tmp_path, raw):
    """review33b #1: dkimpy skips a line "From x" or "From : ..." that ends the header section for MessageView and
    for the relayed message, so a replayed signature of example.com's passed (dkim.aligned, dmarc.pass) over fields
    and a body nobody reads, while DMARC took the From, and the recipient the body, that nobody signed."""
    with TestDNSServer() as server:
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        server.add("sel._domainkey.example.com", "TXT", rsa_key().txt)
        names, _ = check(server, raw, tmp_path)
        assert "dkim.pass" not in names and "dmarc.pass" not in names
        assert {"dmarc.fail", "dmarc.fail_reject_policy"} <= set(names)
        clean = raw.replace(b"From x\r\n", b"").replace(b"From : Example Bank Security <security@example.com>\r\n"
                                                       b"From y\r\n", b"")
        if b"Content-Type" not in clean:  # the same signature, nothing hidden: it passes
            assert {"dkim.pass", "dkim.aligned", "dmarc.pass"} <= set(check(server, clean, tmp_path)[0])


def test_a_malformed_from_gets_no_dmarc_result_of_any_one_readers_domain(tmp_path):
    """review33b #6: "<service@example.com@attacker.test>" had a DMARC pass for attacker.test (signed by it), which
    other readers do not take as the author's domain."""
    raw = rsa_key().sign(message(from_addr="PayPal <service@example.com@attacker.test>"), "attacker.test")
    with TestDNSServer() as server:
        server.add("sel._domainkey.attacker.test", "TXT", rsa_key().txt)
        server.add("_dmarc.attacker.test", "TXT", "v=DMARC1; p=none")
        names, facts = check(server, raw, tmp_path)
    assert "dkim.pass" in names and "dmarc.pass" not in names and "dmarc.none" in names
    assert "dmarc=none" in facts.header_value


@pytest.mark.parametrize("from_addr", ["<a@attacker.test> security@example.com",
                                       "=?utf-8?B?c2VjdXJpdHlAZXhhbXBsZS5jb20=?=@attacker.test",
                                       "=?utf-8?q?security=40example.com?= security@attacker.test",
                                       "a@attacker.test <> security@example.com",
                                       "security@example.com\\",
                                       "<a@attacker.test><a@attacker.test>security@example.com",
                                       "=?utf-8?q?security=40example.com?=] <a@attacker.test>",
                                       "security\\@example.com: a@attacker.test;",
                                       "security@exam\u200eple.com",
                                       "\\@example.com <a@attacker.test>",
                                       "<security@example.com]x.attacker.test>",
                                       "security@exam\u00adple.com", "security@example\u3002com"],
                         ids=["address-after-the-angle-brackets", "encoded-word-in-the-address",
                              "encoded-address-before-a-bare-one", "address-beside-empty-brackets",
                              "domain-with-a-stray-backslash", "address-repeated-before-another",
                              "encoded-address-in-the-display-name-with-junk", "escaped-at-in-a-group-name",
                              "bidi-mark-in-the-domain", "escaped-at-in-the-display-name",
                              "words-joined-across-a-stray-bracket", "soft-hyphen-in-the-domain",
                              "ideographic-full-stop-in-the-domain"])
def test_a_from_a_reader_may_show_as_another_domain_is_checked_for_that_domain_too(tmp_path, from_addr):
    """review33c #6: read as the sender's own well-formed address, signed by it: dmarc=pass for attacker.test while
    a reader may show security@example.com (the second address; the encoded word decoded). Malformed now, so DMARC
    is evaluated for every reading, and example.com's p=reject fails it."""
    raw = rsa_key().sign(message(from_addr=from_addr), "attacker.test")
    with TestDNSServer() as server:
        server.add("sel._domainkey.attacker.test", "TXT", rsa_key().txt)
        server.add("_dmarc.attacker.test", "TXT", "v=DMARC1; p=none")
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        names, facts = check(server, raw, tmp_path)
    assert "dkim.pass" in names and "dmarc.pass" not in names
    assert {"dmarc.fail", "dmarc.fail_reject_policy"} <= set(names) and "header.from=example.com" in facts.header_value


def _bank_reply(**kw) -> bytes:
    orig = (b"From: Example Bank <service@example.com>\r\nTo: bob@example.org\r\nSubject: Your statement\r\n"
            b"Reply-To: service@example.com\r\nContent-Type: text/plain\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <stmt-1@example.com>\r\n\r\nYour statement is ready.\r\n")
    return rsa_key().sign(orig, "example.com", include_headers=[b"from", b"to", b"subject", b"reply-to",
                                                                b"content-type", b"date", b"message-id"], **kw)


@pytest.mark.parametrize("added", [b"Subject: URGENT: your account is locked\r\n",
                                   b"Reply-To: help@attacker.test\r\n",
                                   b"Content-Type: text/html\r\n"])
def test_an_unsigned_copy_of_a_signed_field_added_above_breaks_the_signature(dns, added):
    """review33c #3: dkimpy hashes the bottom copy of each field h= names and checks an extra From only; clients and
    the gateway read the top one, so an unsigned Subject, Reply-To or Content-Type added above a replayed signed
    message had kept its pass (and DMARC's)."""
    raw = _bank_reply()
    (res,) = verify(dns, raw)
    assert res.result == "pass"
    (res,) = verify(dns, added + raw)
    assert res.result == "fail"
    (res,) = verify(dns, b"X-" + added + raw)  # an unsigned field of another name: still a pass
    assert res.result == "pass"


def test_a_signature_that_signs_part_of_the_body_does_not_pass(dns):
    """review33c #4: with l= the signer signs the body's first bytes; what an attacker appends (an HTML part that
    shows instead of the signed text) had kept the pass. The whole body signed by l=: a pass."""
    raw = _bank_reply(length=True)
    assert b"l=" in raw.split(b"\r\n\r\n")[0]
    (res,) = verify(dns, raw)
    assert res.result == "pass"
    (res,) = verify(dns, raw + b"Click https://evil.test/login to unlock your account.\r\n")
    assert res.result == "permerror" and "l= signs" in res.reason


@pytest.mark.parametrize("from_lines", [
    b"From: Example Bank <service@example.com>\r\nFrom: a@attacker.test\r\n",  # a second From field
    b"From: Example Bank <service@example.com>, a@attacker.test\r\n",  # a second address
    b"From: Example Bank <service@example.com@attacker.test>\r\n",  # malformed: readers differ on the domain
], ids=["second-field", "second-address", "malformed"])
def test_a_forged_from_that_is_not_single_still_fails_dmarc(tmp_path, from_lines):
    """review33c #2: a second From, a second address or a malformed one had made DMARC none (no single author
    domain), so a forged p=reject From lost its fail (high 23.7 -> suspicious 6.5-7.0), while clients show the
    first. Every domain a reader may take is checked: a fail of any is the message's."""
    raw = rsa_key().sign(from_lines + b"To: bob@example.org\r\nSubject: Account notice\r\n\r\nPlease log in.\r\n",
                         "attacker.test")
    with TestDNSServer() as server:
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        server.add("sel._domainkey.attacker.test", "TXT", rsa_key().txt)
        server.add("_dmarc.attacker.test", "TXT", "v=DMARC1; p=none")
        names, facts = check(server, raw, tmp_path)
    assert {"dmarc.fail", "dmarc.fail_reject_policy"} <= set(names) and "dmarc.pass" not in names
    assert "header.from=example.com" in facts.header_value.replace("\r\n ", " ")


@pytest.mark.parametrize("fillers", [4, 5, 9])
def test_from_domains_past_the_checked_ones_fail_closed(tmp_path, fillers):
    """review35 #5: DMARC is evaluated for the first five From domains; five filler addresses ahead of a forged
    p=reject domain had left it unchecked (dmarc none: `high` 25.2 -> `suspicious` 7.0). A domain past the fifth
    now reads as failing under the strictest policy; with four fillers the forged domain is itself checked (its own
    record names the fail). The fillers publish p=none and their addresses are signed: nothing else fails."""
    addrs = b", ".join(b"a@x%d.test" % i for i in range(1, fillers + 1))
    raw = rsa_key().sign(b"From: " + addrs + b", PayPal Security <security@example.com>\r\nSender: a@x1.test\r\n"
                         b"To: bob@example.org\r\nSubject: Account notice\r\n\r\nPlease log in.\r\n", "x1.test")
    with TestDNSServer() as server:
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        server.add("sel._domainkey.x1.test", "TXT", rsa_key().txt)
        for i in range(1, fillers + 1):
            server.add(f"_dmarc.x{i}.test", "TXT", "v=DMARC1; p=none")
        names, facts = check(server, raw, tmp_path)
    assert {"dmarc.fail", "dmarc.fail_reject_policy"} <= set(names) and "dmarc.pass" not in names
    value = facts.header_value.replace("\r\n ", " ")
    if fillers == 4:  # checked: the domain's own record
        assert "header.from=example.com" in value and "(p=reject pct=100)" in value
    else:  # the first domain past the fifth, and why it fails
        assert f"header.from={'example.com' if fillers == 5 else 'x6.test'}" in value
        assert f"({fillers + 1} From domains, more than the 5 checked" in value and "policy.dmarc=reject" in value
