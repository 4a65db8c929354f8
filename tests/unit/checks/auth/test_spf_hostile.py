"""SPF records an outsider publishes for its own domains (attack33b): bounded work, the same answers.

The records are served by an in-memory resolver (the evaluator's DNS seam; the RFC 7208 suite and
tests/unit/checks/auth/test_authcheck.py run it against a real DNS server on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random

import pytest

from gateway.checks.auth import spf as spf_mod
from gateway.checks.auth.spf import MAX_ADDRESSES, check_spf
from gateway.checks.auth.spf_terms import MAX_EXPANSION, MacroVars, SpfSyntaxError, Term, expand, truncate_domain
from gateway.dns import Answer


class Zone:
    """Answers from a dict {(name, rdtype): records}; NXDOMAIN otherwise."""

    def __init__(self, records: dict[tuple[str, str], tuple[str, ...]]) -> None:
        self.records = records

    async def query(self, name, rdtype, timeout=None):
        found = self.records.get((name.lower().rstrip("."), rdtype))
        return Answer(name, rdtype, "NOERROR", found, 60) if found else Answer(name, rdtype, "NXDOMAIN", (), 60)


def spf(zone: Zone, mail_from: str, ip: str = "192.0.2.1"):
    return asyncio.run(check_spf(zone, ip, mail_from, "mail.evil.test", timeout=5))


def _old_truncate(name: str) -> str:
    name = name.rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return name


def test_a_long_name_is_truncated_as_label_by_label_truncation_did():
    rnd = random.Random(33)
    for _ in range(20_000):
        n = rnd.choice([10, 250, 253, 254, 255, 300, 600, 3_000])
        name = "".join(rnd.choice("ab.") if rnd.random() < 0.9 else rnd.choice(".-") for _ in range(n))
        if rnd.random() < 0.2:
            name += "." * rnd.randrange(1, 3)
        assert truncate_domain(name) == _old_truncate(name), name


def test_a_record_that_repeats_a_macro_of_the_senders_own_address_is_permerror():
    """attack33b #1: 2,000 "%{s-}" of a 500-byte MAIL FROM of dashes (each a dot) cost 15 s of the event loop."""
    sender = "-" * 490 + "@evil.test"
    record = "v=spf1 exists:" + "%{s-}" * 2_000 + " -all"
    res = spf(Zone({("evil.test", "TXT"): (record,)}), sender)
    assert res.result == "permerror" and f"longer than {MAX_EXPANSION}" in res.problem
    fits = "v=spf1 exists:" + "%{s-}" * 3 + ".x.evil.test -all"  # 3 x 500 characters: expanded, truncated, looked up
    assert spf(Zone({("evil.test", "TXT"): (fits,)}), sender).result == "fail"


def test_an_explanation_too_long_to_expand_is_no_explanation_not_another_result():
    sender = "a" * 400 + "@evil.test"
    zone = Zone({("evil.test", "TXT"): ("v=spf1 -all exp=exp.evil.test",),
                 ("exp.evil.test", "TXT"): ("%{s}" * 100,)})
    res = spf(zone, sender)
    assert res.result == "fail" and res.explanation == ""
    zone.records[("exp.evil.test", "TXT")] = ("%{l} may not send",)
    assert spf(zone, sender).explanation == "a" * 400 + " may not send"


@pytest.mark.parametrize("digits", ["1" * 4_301, "0" * 4_300 + "2", "9" * 7])
def test_a_label_count_of_any_length_is_read_as_its_number(digits):
    """attack33b #4: int() of 4,301 digits raised ValueError out of the evaluation."""
    v = MacroVars(sender="a@b.c.evil.test", local="a", domain_of_sender="b.c.evil.test",
                  ip=ipaddress.ip_address("192.0.2.1"), helo="h")
    want = "evil.test" if digits.lstrip("0") == "2" else "b.c.evil.test"  # the last two labels, or every one
    assert expand("%{o" + digits + "}", v, "evil.test") == want
    zone = Zone({("evil.test", "TXT"): ("v=spf1 exists:%{o" + digits + "} -all",)})
    assert spf(zone, "a@evil.test").result == "fail"


def test_a_zero_label_count_is_still_a_syntax_error():
    v = MacroVars(sender="a@evil.test", local="a", domain_of_sender="evil.test", ip=ipaddress.ip_address("192.0.2.1"),
                  helo="h")
    with pytest.raises(SpfSyntaxError, match="zero label count"):
        expand("%{d" + "0" * 5_000 + "}", v, "evil.test")


def _old_in_net(ip, addresses, prefix):
    for text in addresses:
        try:
            net = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
        except ValueError:
            continue
        if net.version == ip.version and ip in net:
            return True
    return False


def test_addresses_are_compared_as_the_network_comparison_did():
    rnd = random.Random(33)
    texts = ["192.0.2.1", "192.0.2.200", "192.0.3.1", "10.0.0.1", "2001:db8::1", "2001:db8:0:1::1", "2001:db9::1",
             "::ffff:192.0.2.1", "not-an-ip", "", "192.0.2.1/24", "fe80::1%eth0"]
    for _ in range(5_000):
        ip = ipaddress.ip_address(rnd.choice(["192.0.2.1", "192.0.2.77", "2001:db8::1", "2001:db8::ff"]))
        cidr4, cidr6 = rnd.choice([0, 1, 8, 24, 31, 32]), rnd.choice([0, 32, 48, 64, 127, 128])
        addresses = tuple(rnd.choice(texts) for _ in range(rnd.randrange(0, 4)))
        ev = spf_mod._Evaluator(None, ip, None, 0)
        term = Term("a", "pass", cidr4=cidr4, cidr6=cidr6)
        assert ev._in_net(addresses, term) == _old_in_net(ip, addresses, cidr4 if ip.version == 4 else cidr6)


def test_more_addresses_than_the_cap_behind_mx_names_is_permerror():
    """attack33b #2: ten MX names of 4,000 addresses each cost 3.6 s (an ip_network per address)."""
    per_name = MAX_ADDRESSES // 10 + 1
    records = {("evil.test", "TXT"): ("v=spf1 mx -all",),
               ("evil.test", "MX"): tuple(f"10 mx{i}.evil.test." for i in range(10))}
    for i in range(10):
        records[(f"mx{i}.evil.test", "A")] = tuple(f"10.{i}.{j // 256}.{j % 256}" for j in range(per_name))
    res = spf(Zone(records), "a@evil.test")
    assert res.result == "permerror" and f"more than {MAX_ADDRESSES} addresses" in res.problem
    records[("mx9.evil.test", "A")] = ("192.0.2.1",)  # under the cap, the client's address is still found
    assert spf(Zone(records), "a@evil.test").result == "pass"


def test_macros_that_expand_to_little_still_count_what_they_read():
    """review33b #4: `%{s1r-}` writes one label but splits the whole 500-byte MAIL FROM: 60 KB of them in chained
    records cost 2.2 s of the event loop; what each macro reads counts toward MAX_EXPANSION."""
    sender = "-" * 490 + "@evil.test"
    record = "v=spf1 exists:" + "%{s1r-}" * 2_000 + ".x.evil.test -all"
    res = spf(Zone({("evil.test", "TXT"): (record,)}), sender)
    assert res.result == "permerror" and f"longer than {MAX_EXPANSION}" in res.problem
    v = MacroVars(sender=sender, local="-" * 490, domain_of_sender="evil.test", ip=ipaddress.ip_address("192.0.2.1"),
                  helo="h")
    assert expand("%{s1r-}" * 8 + ".x", v, "evil.test")  # 8 x 500 read: within
