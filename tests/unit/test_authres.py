import pytest


def test_dmarc_policy_from_the_receivers_comment_or_action() -> None:
    """OpenDMARC and Gmail write the policy in a comment, Microsoft as action=: both are read
    when policy.dmarc is absent, so a trusted border's 'p=reject' failure is recognised."""
    from gateway.authres import parse_authres

    def policy(value: str) -> str:
        parsed = parse_authres(value)
        assert parsed is not None
        return next(r.props.get("policy.dmarc", "") for r in parsed.results if r.method == "dmarc")

    assert policy("mx.example.org; dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=brand.example") == "reject"
    assert policy("mx.example.org; dmarc=fail action=oreject header.from=brand.example") == "reject"
    assert policy("mx.example.org; dmarc=fail (p=quarantine dis=quarantine) header.from=b.example") == "quarantine"
    assert policy("mx.example.org; dmarc=fail policy.dmarc=none (p=reject) header.from=b.example") == "none"


def test_our_field_stays_ascii_and_readable_whatever_the_values() -> None:
    """attack33c #2: one non-ASCII value (a signature's d= of "é.test", an SMTPUTF8 MAIL FROM) made the whole field
    one encoded word, our authserv-id and dmarc=fail included, which no reader of Authentication-Results decodes."""
    from gateway.authres import build_authres, parse_authres, resinfo
    clauses = [resinfo("spf", "fail", "", [("smtp.mailfrom", "jörg@evil.test")]),
               resinfo("dkim", "permerror", "d= é (bad)", [("header.d", "é.test"), ("header.s", "sél"),
                                                           ("header.i", "@münchen.de"), ("header.b", "\u2028")]),
               resinfo("dmarc", "fail", "p=reject", [("header.from", "paypal.com")])]
    value = build_authres("gw.example.org", clauses)
    assert value.isascii() and "=?" not in value
    parsed = parse_authres(value.replace("\r\n ", " "))
    assert parsed is not None and parsed.authserv_id == "gw.example.org"
    assert [(r.method, r.result) for r in parsed.results] == [("spf", "fail"), ("dkim", "permerror"),
                                                              ("dmarc", "fail")]
    assert parsed.results[0].props == {"smtp.mailfrom": "evil.test"}  # the domain alone (RFC 8601 2.7.2)
    assert parsed.results[1].props == {"header.d": "xn--9ca.test", "header.s": "xn--sl-bja",
                                       "header.i": "@xn--mnchen-3ya.de"}  # no ASCII form: left out


def test_a_domain_is_written_as_the_resolver_looked_it_up() -> None:
    """review33b #3: Python's "idna" codec (IDNA 2003) writes "faß.de" as fass.de, another domain; the resolver
    (dnspython, IDNA 2008) looks up xn--fa-hia.de."""
    from gateway.authres import resinfo
    assert resinfo("dmarc", "pass", "", [("header.from", "faß.de")]) == "dmarc=pass header.from=xn--fa-hia.de"
    assert resinfo("spf", "pass", "", [("smtp.mailfrom", "bounce@faß.de")]) == \
        "spf=pass smtp.mailfrom=bounce@xn--fa-hia.de"


def test_an_encoded_word_in_a_comment_is_not_one() -> None:
    """review33b #5: dkimpy's error text quotes the signature, which may hold an encoded word."""
    from gateway.authres import resinfo
    clause = resinfo("dkim", "permerror", "b= value is not valid (=?utf-8?q?=0D=0AX-Evil:_1?=)")
    assert "=?" not in clause


def test_a_local_part_that_spells_a_result_is_written_by_its_domain() -> None:
    """attack35b #3: `MAIL FROM:<dmarc=pass.dkim=pass@attacker.test>` is a valid dot-atom, and our field read
    `spf=pass smtp.mailfrom=dmarc=pass.dkim=pass@attacker.test; ... dmarc=fail`: the first "dmarc=" a filter's
    `contains` finds said pass. A local part of more than letters, digits and `._+-` is left out (RFC 8601 2.7.2)."""
    from gateway.authres import build_authres, parse_authres, resinfo
    value = build_authres("gw.example.org", [
        resinfo("spf", "pass", "", [("smtp.mailfrom", "dmarc=pass.dkim=pass.arc=pass@attacker.test")]),
        resinfo("dmarc", "fail", "p=reject", [("header.from", "paypal.com")])])
    assert "dmarc=pass" not in value and value.count("dmarc=") == 1
    parsed = parse_authres(value.replace("\r\n ", " "))
    assert parsed is not None and parsed.results[0].props == {"smtp.mailfrom": "attacker.test"}
    plain = build_authres("gw.example.org", [resinfo("spf", "pass", "", [("smtp.mailfrom", "j.doe+x@example.org")])])
    assert "smtp.mailfrom=j.doe+x@example.org" in plain  # an ordinary address is written whole, as before


@pytest.mark.parametrize("clause", [
    ("dkim", "fail", "", [("header.d", "attacker.test"), ("header.s", "dmarc=pass")]),  # s=dmarc=pass
    ("dkim", "permerror", "unknown signature algorithm: b'dmarc=pass'",
     [("header.d", "attacker.test"), ("header.a", "dmarc=pass")]),  # a=dmarc=pass
    ("spf", "none", "", [("smtp.helo", "dmarc=pass")]),  # EHLO dmarc=pass with a null MAIL FROM
    ("spf", "none", "", [("smtp.mailfrom", "dmarc=pass")]),  # a MAIL FROM without a domain
    ("dkim", "fail", "", [("header.i", "dmarc=pass")]),  # i= without its @domain
], ids=["selector", "algorithm", "helo", "mailfrom-without-domain", "identity-without-domain"])
def test_a_property_without_its_syntax_is_left_out(clause) -> None:
    """review35 #7: a DKIM selector, algorithm or HELO name is the sender's; written quoted, `dmarc=pass` came first in
    our field (and in the comment dkimpy's error text quotes), ahead of our own dmarc=fail. A value without its
    property's syntax is left out; in a comment "=" stays only after our own p=, sp= and pct=."""
    from gateway.authres import build_authres, resinfo
    value = build_authres("gw.example.org", [resinfo(*clause), resinfo("dmarc", "fail", "p=reject pct=100",
                                                                       [("header.from", "paypal.com")])])
    value = value.replace("\r\n ", " ")
    assert "dmarc=pass" not in value and value.count("dmarc=") == 1 and "(p=reject pct=100)" in value
    assert "header.d=attacker.test" in value or clause[0] == "spf" or clause[3][0][0] == "header.i"


def test_properties_with_their_syntax_are_written() -> None:
    """The guard beside review35 #7: real selectors (underscores too), the defined algorithms, a HELO domain or
    address literal, an identity with its domain are written as before."""
    from gateway.authres import resinfo
    assert resinfo("dkim", "pass", "2048-bit key", [
        ("header.d", "example.com"), ("header.i", "@example.com"), ("header.s", "s1._v2.2024"),
        ("header.a", "rsa-sha256"), ("header.b", "AbCd+/12")]) == (
        'dkim=pass (2048-bit key) header.d=example.com header.i=@example.com header.s=s1._v2.2024 header.a=rsa-sha256 '
        'header.b="AbCd+/12"')
    assert resinfo("dkim", "pass", "", [("header.a", "ed25519-sha256")]) == "dkim=pass header.a=ed25519-sha256"
    assert resinfo("spf", "pass", "", [("smtp.helo", "mx1.example.com")]) == "spf=pass smtp.helo=mx1.example.com"
    assert resinfo("spf", "pass", "", [("smtp.helo", "[192.0.2.1]")]) == 'spf=pass smtp.helo="[192.0.2.1]"'
    # review36 #10: an identity with a non-ASCII local part at an IDN domain, by its domain; a property with no
    # syntax known here is left out (a future caller cannot reopen review35 #7)
    assert resinfo("dkim", "pass", "", [("header.i", "jürgen@bücher.de")]) == "dkim=pass header.i=@xn--bcher-kva.de"
    assert resinfo("dkim", "pass", "", [("header.i", 'a"b@example.com')]) == "dkim=pass header.i=@example.com"
    assert resinfo("spf", "pass", "", [("smtp.remote-ip", "dmarc=pass")]) == "spf=pass"
