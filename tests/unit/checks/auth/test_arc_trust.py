"""Which ARC chains vouch for a DMARC failure: only a trusted sealer's record of a DMARC pass
(`trusted_arc_sealers`, `arc.trusted_pass`). Any domain can seal its own forged message with its own
key: a chain that validates proves custody, not honesty (review33c #1: a forged p=reject From sealed by
the attacker's own domain fell from high to suspicious). Real dkimpy sealing and verifying, a real DNS
server, the shipped policies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.act.seal import ArcKey, arc_seal
from gateway.checks import CheckContext, run_checks
from gateway.checks.auth import AuthCheck
from gateway.checks.auth.arc import MAX_INSTANCES, sets_from_fields, vouch
from gateway.config import ArcConfig
from gateway.dns import Resolver
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.policy import load_policies
from gateway.refdata import ReferenceData
from tests.conftest import make_config
from tests.support.dkimkeys import message, rsa_key
from tests.support.dnsserver import TestDNSServer

pytest.importorskip("authres")  # dkimpy's ARC signer needs it

ROOT = Path(__file__).resolve().parents[4]
TRUST = "trusted_arc_sealers: [relay.example.net]"
FORGED = message("Pay Desk <payments@example.com>")  # sent from 198.51.100.7: SPF fails, no DKIM


@pytest.fixture(scope="module")
def dns():
    with TestDNSServer() as server:
        server.add("example.com", "TXT", "v=spf1 ip4:192.0.2.10 -all")
        server.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
        for sealer in ("relay.example.net", "evil.example", "gw.example.org"):
            server.add(f"arc._domainkey.{sealer}", "TXT", rsa_key().txt)
        yield server


def seal(raw: bytes, sealer: str, results: str = "dmarc=pass header.from=example.com") -> bytes:
    return arc_seal(raw, f"{sealer}; {results}", ArcKey("arc", sealer, rsa_key().private), sealer)


def run(dns, raw, tmp_path, extra=TRUST, *, offline=False):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = make_config(1, tmp_path, extra)

    async def go():
        r = None if offline else Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5)
        ctx = CheckContext(view=MessageView.parse(raw), config=config, data=ReferenceData(),
                           domains=Domains(config.local_domains), offline=offline, resolver=r,
                           envelope=Envelope("payments@example.com", ("bob@example.org",),
                                             Client(ip="198.51.100.7", helo="mail.evil.example")))
        return (await run_checks([AuthCheck()], ctx)).signals
    return {s.name: s for s in asyncio.run(go())}


def shipped_rules(signals) -> list[str]:
    return [h.rule_id for h in load_policies([str(ROOT / "policies")]).evaluate(list(signals.values())).hits]


def test_the_forgers_own_seal_vouches_for_nothing(dns, tmp_path):
    """review33c #1: the attacker seals its forged From with its own domain and writes dmarc=pass in its own
    ARC-Authentication-Results. The chain validates (arc.pass), but it counts as no forwarding."""
    got = run(dns, seal(FORGED, "evil.example"), tmp_path)
    assert {"arc.pass", "dmarc.fail", "dmarc.fail_reject_policy"} <= got.keys()
    assert "arc.trusted_pass" not in got
    assert "dmarc-fail-reject" in shipped_rules(got) and "dmarc-fail-reject-arc" not in shipped_rules(got)


def test_a_trusted_forwarders_record_of_a_dmarc_pass_vouches(dns, tmp_path):
    """A list or forwarder the administrator trusts recorded the DMARC pass when the message reached it; its
    changes broke DMARC since: the failure weighs less (Microsoft 365's trusted ARC sealers)."""
    got = run(dns, seal(FORGED, "relay.example.net"), tmp_path)
    assert {"arc.pass", "arc.trusted_pass", "dmarc.fail_reject_policy"} <= got.keys()
    assert got["arc.trusted_pass"].evidence == {"instance": 1, "sealer": "relay.example.net",
                                                "from_domain": "example.com"}
    assert "dmarc-fail-reject-arc" in shipped_rules(got) and "dmarc-fail-reject" not in shipped_rules(got)
    # nobody trusted (the default): the same chain is custody only
    assert "arc.trusted_pass" not in run(dns, seal(FORGED, "relay.example.net"), tmp_path / "none", extra="")


@pytest.mark.parametrize("results", [
    "dmarc=fail header.from=example.com",  # the attacker posted its forgery through a trusted list
    "dmarc=pass header.from=other.example",  # a pass for another From domain
    "spf=pass smtp.mailfrom=example.com",  # no DMARC result recorded
])
def test_a_trusted_sealer_vouches_only_for_a_dmarc_pass_of_this_from_domain(dns, tmp_path, results):
    got = run(dns, seal(FORGED, "relay.example.net", results), tmp_path)
    assert "arc.pass" in got and "arc.trusted_pass" not in got


def test_an_untrusted_hop_after_the_trusted_one_breaks_the_vouch(dns, tmp_path):
    """What the trusted sealer recorded describes the message it saw; a later untrusted hop could have
    changed it. Walking down from the newest set, only the trusted sealers next to us count."""
    got = run(dns, seal(seal(FORGED, "relay.example.net"), "evil.example", "arc=pass"), tmp_path)
    assert "arc.pass" in got and "arc.trusted_pass" not in got
    hop2 = seal(seal(FORGED, "evil.example", "dmarc=fail header.from=example.com"), "relay.example.net",
                "arc=pass; dmarc=pass header.from=example.com")
    got = run(dns, hop2, tmp_path / "b")
    assert got["arc.trusted_pass"].evidence["instance"] == 2


def test_a_sealer_is_trusted_only_when_listed(tmp_path):
    """Listed domains and their subdomains; nothing implicitly, our own sealing domain neither (review34 #5: its
    subdomains' keys are not ours to vouch for)."""
    import dataclasses
    config = make_config(1, tmp_path)
    ours = dataclasses.replace(config, arc=ArcConfig(selector="arc", domain="gw.example.org", key_file="k"))
    assert not ours.arc_sealer_trusted("gw.example.org") and not ours.arc_sealer_trusted("x.gw.example.org")
    (tmp_path / "l").mkdir()
    listed = make_config(1, tmp_path / "l", TRUST)
    assert listed.arc_sealer_trusted("relay.example.net") and listed.arc_sealer_trusted("eu.relay.example.net.")
    assert not listed.arc_sealer_trusted("evilrelay.example.net") and not listed.arc_sealer_trusted("")
    assert not listed.arc_sealer_trusted("relay.example.net.evil.example")


FAKE_SET = (b"ARC-Seal: zz=i=0; i=2; a=rsa-sha256; t=1796550000; cv=pass; d=relay.example.net; s=arc; b=AAAA\r\n"
            b"ARC-Message-Signature: zz=i=0; i=2; a=rsa-sha256; c=relaxed/relaxed; d=relay.example.net; s=arc;"
            b" h=from; bh=AAAA; b=AAAA\r\n"
            b"ARC-Authentication-Results: zz=i=0; i=2; relay.example.net; dmarc=pass header.from=example.com\r\n")


def test_a_set_dkimpy_numbers_otherwise_is_no_trusted_set(dns, tmp_path):
    """review34 #1: "zz=i=0; i=2" is instance 0 to dkimpy (the first "i=" digits anywhere), covered by the forger's
    own seal of instance 1, and was instance 2 of relay.example.net to the structure check and the sealers: a set
    nobody trusted sealed vouched for the forgery. A field read two ways fails the chain; the sealers vouched for are
    those dkimpy verified."""
    got = run(dns, seal(FAKE_SET + FORGED, "evil.example"), tmp_path)
    assert "arc.trusted_pass" not in got and "arc.pass" not in got and "arc.fail" in got
    assert "dmarc-fail-reject" in shipped_rules(got)
    assert sets_from_fields([(n, v) for line in FAKE_SET.split(b"\r\n") if line
                             for n, v in [line.split(b":", 1)]]) == ()


@pytest.mark.parametrize("from_addr", ["Pay Desk <payments@example.com>, Other <x@evil.example>",
                                       "<payments@example.com@evil.example>"])
def test_several_from_readings_get_no_vouch(dns, tmp_path, from_addr):
    """review34 #3: a record names one From domain; a message another reader reads as another author would ride on
    it. A trusted pass is for one From address every reader reads alike."""
    got = run(dns, seal(message(from_addr), "relay.example.net"), tmp_path)
    assert "arc.pass" in got and "arc.trusted_pass" not in got


def test_a_trusted_border_arc_pass_is_read_with_the_sets_it_verified(dns, tmp_path):
    """Behind a trusted border the border's arc=pass is believed (offline too) and the sealer read from the sets it
    passed on: its arc=pass says the chain validates, not who sealed it."""
    border = (b"Authentication-Results: mx.border.example; spf=fail smtp.mailfrom=payments@example.com;\r\n"
              b" dkim=none; dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=example.com; arc=pass\r\n")
    extra = "trusted_authserv_ids: [mx.border.example]\n" + TRUST
    got = run(dns, border + seal(FORGED, "relay.example.net"), tmp_path, extra, offline=True)
    assert {"auth.trusted_results", "arc.pass", "arc.trusted_pass", "dmarc.fail_reject_policy"} <= got.keys()
    got = run(dns, border + seal(FORGED, "evil.example"), tmp_path / "b", extra, offline=True)
    assert "arc.pass" in got and "arc.trusted_pass" not in got
    got = run(dns, border + FORGED, tmp_path / "c", extra, offline=True)  # arc=pass, no sets: no sealer known
    assert "arc.pass" in got and "arc.trusted_pass" not in got


def _sets(*sets: tuple[int, str, str]) -> tuple[tuple[int, str, str], ...]:
    return tuple((i, sealer, f"i={i}; {sealer}; {results}") for i, sealer, results in sets)


def test_vouch_reads_one_dmarc_pass_of_a_trusted_sealer():
    ok = "dmarc=pass header.from=example.com"
    trusted = {"relay.example.net"}.__contains__
    assert vouch(_sets((1, "relay.example.net", ok)), trusted, "Example.COM.") == (1, "relay.example.net")
    assert vouch(_sets((1, "relay.example.net", ok)), trusted, "") is None
    assert vouch(_sets((2, "evil.example", ok), (1, "relay.example.net", ok)), trusted, "example.com") is None
    # a comment holding the words does not count; a commented policy does not disturb the reading
    assert vouch(_sets((1, "relay.example.net", "dmarc=fail (dmarc=pass) header.from=example.com")),
                 trusted, "example.com") is None
    assert vouch(_sets((1, "relay.example.net", "dmarc=pass (p=REJECT) header.from=example.com")),
                 trusted, "example.com") == (1, "relay.example.net")
    # review34 #2: a second DMARC clause is someone else's text, whichever comes first
    for two in (f"{ok}; dmarc=fail header.from=example.com", f"dmarc=fail header.from=example.com; {ok}"):
        assert vouch(_sets((1, "relay.example.net", two)), trusted, "example.com") is None
    # a record longer than read vouches for nothing: its second DMARC clause may lie past any cut (review34b #2)
    padded = f"{ok}; spf=pass smtp.mailfrom={'x' * 4000}.example; dmarc=fail header.from=example.com"
    assert vouch(_sets((1, "relay.example.net", padded)), trusted, "example.com") is None
    assert vouch(sets_from_fields(_fields((1, "relay.example.net", padded))), trusted, "example.com") is None
    # what one message's walk reads is bounded
    long = _sets(*((i, "relay.example.net", "spf=pass " + "x" * 3900) for i in range(50, 0, -1)))
    assert vouch(long + _sets((0, "relay.example.net", ok)), trusted, "example.com") is None


def _fields(*sets: tuple[int, str, str]) -> list[tuple[bytes, bytes]]:
    out = []
    for i, sealer, results in sets:
        out.append((b"ARC-Seal", f" i={i}; a=rsa-sha256; cv=none; d={sealer}; s=arc; b=AAAA\r\n".encode()))
        out.append((b"ARC-Authentication-Results", f" i={i}; {sealer}; {results}\r\n".encode()))
    return out


def test_sets_from_fields_reads_only_well_formed_sets():
    ok = "dmarc=pass header.from=example.com"
    assert [s[:2] for s in sets_from_fields(_fields((1, "a.example", ok), (2, "b.example", ok)))] == [
        (2, "b.example"), (1, "a.example")]
    # two seals of one instance, a missing results field, an instance out of range, too many
    assert sets_from_fields(_fields((1, "relay.example.net", ok), (1, "relay.example.net", ok))) == ()
    assert sets_from_fields(_fields((1, "relay.example.net", ok))[:1]) == ()
    assert sets_from_fields(_fields((2, "relay.example.net", ok))) == ()
    assert sets_from_fields(_fields((MAX_INSTANCES + 1, "relay.example.net", ok))) == ()
    assert sets_from_fields(_fields(*((i, "relay.example.net", ok) for i in range(1, MAX_INSTANCES + 2)))) == ()
