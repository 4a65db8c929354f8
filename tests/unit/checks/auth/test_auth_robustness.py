"""Hostile input never crashes authentication: only the documented errors come out."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.authres import parse_authres
from gateway.checks.auth.dmarc import parse_record as parse_dmarc
from gateway.checks.auth.spf import check_spf
from gateway.checks.auth.spf_terms import SpfSyntaxError, parse_record
from gateway.dns import Answer

_spf_words = st.sampled_from(["v=spf1", "a", "mx", "-all", "ip4:", "ip4:1.2.3.4/33", "ip6:::1/129",
                              "include:%{d}", "exists:%{i}.x", "redirect=", "exp=%{", "%", "%{z}",
                              "a:example.com/24//64", "ptr:", "?", "a//", "=", ":", "/", "\u00e9", " "])


@settings(max_examples=500, deadline=None)
@given(st.lists(_spf_words, max_size=12).map(" ".join))
def test_spf_parser_raises_only_syntax_errors(record):
    try:
        parse_record(record)
    except SpfSyntaxError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_authres_parser_never_raises(text):
    parse_authres(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_dmarc_record_parser_raises_only_invalid(text):
    from gateway.checks.auth.dmarc import _Invalid
    try:
        parse_dmarc("v=DMARC1; " + text, "example.com")
    except _Invalid:
        pass


class _StaticResolver:
    """Answers every TXT with one record, everything else NXDOMAIN."""

    def __init__(self, txt: str) -> None:
        self.txt = txt

    async def query(self, name, rdtype, timeout=None):
        if rdtype == "TXT":
            return Answer(name, rdtype, "NOERROR", (self.txt,), 60)
        return Answer(name, rdtype, "NXDOMAIN", (), 60)


@settings(max_examples=200, deadline=None)
@given(st.lists(_spf_words, max_size=8).map(lambda w: "v=spf1 " + " ".join(w)),
       st.sampled_from(["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"]),
       st.sampled_from(["a@example.com", "", "@example.com", "example.com", "a@[1.2.3.4]", "a@\u00e9.example"]))
def test_spf_evaluation_always_returns_a_result(record, ip, mail_from):
    res = asyncio.run(check_spf(_StaticResolver(record), ip, mail_from, "helo.example.com", timeout=2))
    assert res.result in ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")


def test_non_ip_client_address_gives_none_not_a_crash():
    res = asyncio.run(check_spf(_StaticResolver("v=spf1 -all"), "unix:/run/sock", "a@example.com", "h"))
    assert res.result == "none" and res.problem
