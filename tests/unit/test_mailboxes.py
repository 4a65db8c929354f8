"""Whose mail is it: the From address is parsed from the RAW header, display names decoded after
(gateway/mailboxes.py, gateway.parse.from_identity), fuzzed with hypothesis against values
whose true addresses the generator knows."""

from __future__ import annotations

import asyncio
import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.checks.content import ContentCheck
from gateway.checks.identity import IdentityCheck
from gateway.checks.sender import SenderCheck
from gateway.checks.structure import StructureCheck
from gateway.mailboxes import Mailbox, parse_mailboxes
from gateway.model import Envelope
from gateway.parse import MessageView, from_identity
from gateway.runtime import Runtime
from gateway.store.learn import sent_pairs
from tests.conftest import ROOT
from tests.support.messages import config, message, names, one, run


def b64word(text: str) -> str:
    return "=?utf-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def qword(text: str) -> str:
    return "=?utf-8?Q?" + "".join(f"={b:02X}" for b in text.encode()) + "?="


SPOOF = f"{b64word('boss@example.org')} <stranger@gmail.com>"


def test_encoded_display_name_never_becomes_the_address() -> None:
    """Regression: the value was RFC 2047-decoded before parsing, so the address was
    boss@example.org (ours) and every identity check treated the stranger as internal."""
    view = MessageView.parse(message(SPOOF))
    assert view.from_pair == ("boss@example.org", "stranger@gmail.com")
    assert view.from_domain == "gmail.com"


def test_encoded_display_name_spoof_is_judged_as_the_stranger_it_is() -> None:
    sig, _ = run([SenderCheck(), IdentityCheck(), ContentCheck()], message(SPOOF))
    assert "sender.freemail" in names(sig)
    ev = one(sig, "identity.display_name_address").evidence
    assert ev["address"] == "boss@example.org" and ev["from"] == "stranger@gmail.com"


def test_an_address_beside_empty_brackets_is_read_not_dropped() -> None:
    """review34b #1: `<>b@example.org` and `b@example.org<` had no address in the brackets and were dropped, so a
    From of two items read as one well-formed address of the other; others read the one beside the brackets."""
    assert [(m.address, m.malformed) for m in parse_mailboxes("<>b@example.org;<a@evil.example>")] == [
        ("b@example.org", "no address in the angle brackets"), ("a@evil.example", "")]
    assert [m.address for m in parse_mailboxes("a@evil.example;b@example.org<")] == ["a@evil.example", "b@example.org"]
    assert parse_mailboxes("Joe <>") == [] and parse_mailboxes("Undisclosed recipients:;") == []
    # an item that is an encoded display name alone names no address: left to the callers (review34c #3)
    assert [m.malformed for m in parse_mailboxes("=?utf-8?q?Name?= , <a@x.test>")] == ["", ""]


@pytest.mark.parametrize("value,expected", [
    ('"boss@example.org <boss@example.org>" <stranger@gmail.com>',
     [Mailbox("boss@example.org <boss@example.org>", "stranger@gmail.com")]),
    (f'"{qword("<boss@example.org>")}" <s@gmail.com>', [Mailbox("<boss@example.org>", "s@gmail.com")]),
    (f"{b64word('x')}@gmail.com", [Mailbox("", b64word("x").lower() + "@gmail.com",
                                           problem="an encoded word in the address", other_spec="x@gmail.com")]),
    ("Joe (the <boss@example.org>) Smith <joe@x.test>", [Mailbox("Joe Smith", "joe@x.test")]),
    ("joe@x.test (Joe <boss@example.org>)", [Mailbox("Joe <boss@example.org>", "joe@x.test")]),
    ("Team: a@x.test, B <b@y.test>;, c@z.test", [Mailbox("", "a@x.test"), Mailbox("B", "b@y.test"),
                                                Mailbox("", "c@z.test")]),
    ("Undisclosed recipients:;", []),
    ("<@relay.test,@r2.test:u@d.test>", [Mailbox("", "u@d.test")]),
    ("john . doe @ example . com", [Mailbox("", "john.doe@example.com")]),
    ("Joe Smith joe@x.test", [Mailbox("Joe Smith", "joe@x.test")]),
    ("Joe <joe@x.test", [Mailbox("Joe", "joe@x.test", problem="no closing >")]),
    ('"a, b: c;" <q@x.test>', [Mailbox("a, b: c;", "q@x.test")]),
    ("Ünïcode Näme <ÜSER@bär.test>", [Mailbox("Ünïcode Näme", "üser@bär.test")]),
    ("MAILER-DAEMON", [Mailbox("", "mailer-daemon")]),
    ("(((((((((deep))))))))) <a@b.test>", [Mailbox("", "a@b.test")]),
])
def test_forms(value: str, expected: list[Mailbox]) -> None:
    assert parse_mailboxes(value) == expected


def test_eight_bit_raw_bytes_in_the_header() -> None:
    raw = b"From: J\xc3\xbcrgen \xff <j@x.test>\r\nTo: a@example.org\r\n\r\nbody\r\n"
    view = MessageView.parse(raw)
    assert view.from_pair == ("J\xfcrgen \ufffd", "j@x.test")


def test_deep_comment_nesting_is_not_recursion() -> None:
    value = "(" * 100_000 + "x" + ")" * 100_000 + " <a@b.test>"
    assert [m.address for m in parse_mailboxes(value)] == ["a@b.test"]


# ---- several From addresses -------------------------------------------------------------------


def test_first_address_is_the_identity_and_all_are_signalled() -> None:
    raw = message("Boss <boss@example.org>, Stranger <s@gmail.com>", headers={"Sender": "s@gmail.com"})
    view = MessageView.parse(raw)
    assert view.from_address == "boss@example.org" and view.from_identity.multiple
    sig, _ = run([StructureCheck()], raw)
    ev = one(sig, "identity.multiple_from").evidence
    assert ev["addresses"] == "boss@example.org, s@gmail.com" and ev["sender"] == "s@gmail.com"
    assert ev["outside_behind_internal"] == "s@gmail.com"


def test_two_from_fields_are_multiple_too() -> None:
    raw = b"From: a@x.test\r\nFrom: b@y.test\r\nTo: c@example.org\r\n\r\nbody\r\n"
    ident = MessageView.parse(raw).from_identity
    assert ident.address == "a@x.test" and ident.fields == 2 and ident.multiple
    sig, _ = run([StructureCheck()], raw)
    assert "outside_behind_internal" not in one(sig, "identity.multiple_from").evidence


def test_shipped_policy_scores_a_stranger_behind_an_internal_from() -> None:
    cfg = config(f"policies: [{ROOT / 'policies'}]\nstore: {{backend: memory}}\n")
    raw = message("Boss <boss@example.org>, Stranger <s@gmail.com>")
    result = asyncio.run(Runtime(cfg, offline=True).analyse(raw, Envelope("", ()), add_received=False))
    ids = {h.rule_id for h in result.decision.hits}
    assert {"several-from-addresses", "stranger-behind-internal-from"} <= ids
    assert result.decision.verdict.word in ("suspicious", "high")


def test_reply_to_and_return_path_are_parsed_raw_too() -> None:
    raw = message("a@x.test", headers={"Reply-To": f"{b64word('boss@example.org')} <r@gmail.com>",
                                       "Return-Path": f"<{b64word('x')}@evil.test>"})
    view = MessageView.parse(raw)
    assert view.reply_to == ["r@gmail.com"]
    assert view.return_path.endswith("@evil.test")


def test_learn_reads_the_same_identity() -> None:
    from email.parser import BytesHeaderParser

    msg = BytesHeaderParser().parsebytes(
        f"From: {b64word('x@example.org')} <me@outside.test>\r\nTo: t@else.test\r\n\r\n".encode())
    assert sent_pairs(msg, ["example.org"]) == []  # not sent by us, whatever the name says
    msg = BytesHeaderParser().parsebytes(
        f"From: Me <me@example.org>\r\nTo: {b64word('y@example.org')} <t@else.test>\r\n\r\n".encode())
    assert [p[:2] for p in sent_pairs(msg, ["example.org"])] == [("me@example.org", "t@else.test")]


# ---- fuzz: values whose true mailboxes the generator knows ------------------------------------

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
atoms = st.text(ATEXT, min_size=1, max_size=8)
labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
hostile_text = st.lists(st.sampled_from(list('ab <>@,;:."()\\[]=?ü\x00\t') + ["x@y.test", "<z@w.test>"]),
                        max_size=12).map("".join)


@st.composite
def local_parts(draw: st.DrawFn) -> tuple[str, str]:
    """(as written, as the parser reports it) for a local part."""
    kind = draw(st.sampled_from(["dot-atom", "obs", "quoted", "encoded", "8bit"]))
    words = draw(st.lists(atoms, min_size=1, max_size=3))
    if kind == "dot-atom":
        text = ".".join(words)
        return text, text
    if kind == "obs":
        return " . ".join(words), ".".join(words)
    if kind == "quoted":
        inner = draw(st.text("abc <>@,;:.()", min_size=1, max_size=10))
        return f'"{inner}"', f'"{inner}"'
    if kind == "8bit":
        text = ".".join(w + "ü" for w in words)
        return text, text
    word = b64word(draw(hostile_text) or "x")
    return word, word


@st.composite
def mailbox_values(draw: st.DrawFn) -> tuple[str, Mailbox]:
    local, local_seen = draw(local_parts())
    domain = ".".join(draw(st.lists(labels, min_size=1, max_size=3)))
    address = f"{local}@{domain}"
    expected_addr = f"{local_seen}@{domain}".lower()
    name_kind = draw(st.sampled_from(["none", "atoms", "quoted", "encoded", "comment", "no-brackets"]))
    if name_kind == "none":
        return address, Mailbox("", expected_addr)
    if name_kind == "comment":
        comment = draw(st.text("ab <>@,;:\"", max_size=12)).replace('"', "")
        return f"<{address}> ({comment})", Mailbox("", expected_addr)
    if name_kind == "no-brackets":  # `Joe Smith joe@x.test`: display words, then the addr-spec
        words = draw(st.lists(st.text("abcXYZ", min_size=1, max_size=6), min_size=1, max_size=3))
        return f"{' '.join(words)} {address}", Mailbox(" ".join(words), expected_addr)
    if name_kind == "atoms":
        words = draw(st.lists(st.text("abcXYZ", min_size=1, max_size=6), min_size=1, max_size=3))
        return f"{' '.join(words)} <{address}>", Mailbox(" ".join(words), expected_addr)
    shown = draw(hostile_text)
    if name_kind == "quoted":
        escaped = shown.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>', Mailbox(" ".join(shown.split()), expected_addr)
    return f"{b64word(shown)} <{address}>", Mailbox(" ".join(shown.split()), expected_addr)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mailbox_values(), min_size=1, max_size=4), st.booleans())
def test_fuzz_parsed_mailboxes_are_the_written_ones(items: list[tuple[str, Mailbox]], group: bool) -> None:
    value = ", ".join(v for v, _ in items)
    if group:
        value = f"Group Name: {value};"
    got = parse_mailboxes(value)
    assert [m.address for m in got] == [m.address for m in (e for _, e in items)]
    for (_, want), have in zip(items, got, strict=True):
        if want.display and "\x00" not in want.display:
            assert have.display == want.display
    ident = from_identity([value])
    assert ident.address == items[0][1].address and ident.multiple == (len(items) > 1)


@settings(max_examples=300, deadline=None)
@given(hostile_text, st.text(max_size=60))
def test_fuzz_encoded_words_never_become_syntax(shown: str, junk: str) -> None:
    """Whatever an encoded-word decodes to, it is display text: the address stays."""
    for word in (b64word(shown + junk), qword(shown)):
        assert [m.address for m in parse_mailboxes(f"{word} <real@sender.test>")] == ["real@sender.test"]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_never_raise(data: bytes) -> None:
    raw = b"From: " + data.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\nTo: a@example.org\r\n\r\nx\r\n"
    view = MessageView.parse(raw)
    ident = view.from_identity
    assert isinstance(ident.address, str) and ident.address == ident.address.lower()
    assert view.from_domain == (ident.address.rsplit("@", 1)[1].rstrip(".") if "@" in ident.address else "")


def test_learn_skips_automatic_answers() -> None:
    """RFC 3834: an out-of-office answer in the Sent folder is not the organisation writing back."""
    from email.parser import BytesHeaderParser

    for mark in ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-generated", "Precedence: auto_reply",
                 "X-Autoreply: yes"):
        msg = BytesHeaderParser().parsebytes(f"From: Me <me@example.org>\r\nTo: t@else.test\r\n{mark}\r\n\r\n".encode())
        assert sent_pairs(msg, ["example.org"]) == [], mark
    msg = BytesHeaderParser().parsebytes(b"From: Me <me@example.org>\r\nTo: t@else.test\r\nAuto-Submitted: no\r\n\r\n")
    assert [p[:2] for p in sent_pairs(msg, ["example.org"])] == [("me@example.org", "t@else.test")]


@pytest.mark.parametrize(("value", "problem", "readings"), [
    # ops23: Dovecot's Sieve reads example.org in the first, the gateway evil.example
    ("a@example.org@evil.example", "several @", ("evil.example", "example.org")),
    ("Boss <a@example.org@evil.example>", "several @", ("evil.example", "example.org")),
    ("b@example.org <a@evil.example>", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    ("@example.org", "nothing before the @", ("example.org",)),
    ("a@", "nothing after the @", ()),
    ("a@example..org", "an empty part in the domain (a dot at its start or end, or two dots)", ("example..org",)),
    ("a@example.org.", "an empty part in the domain (a dot at its start or end, or two dots)", ("example.org",)),
    # review33c #6: read as the sender's own well-formed address while a reader may show another
    ("<a@evil.example> security@example.org", "an address after the angle brackets", ("evil.example", "example.org")),
    ("=?utf-8?B?c2VjdXJpdHlAZXhhbXBsZS5vcmc=?=@evil.example", "an encoded word in the address",
     ("evil.example", "example.org")),  # decoded: security@example.org@evil.example
    ('"a@evil.example', "an unterminated quoted string", ("evil.example",)),
    ("Pay <a@evil.example", "no closing >", ("evil.example",)),
    # review34b #1: what follows the address, or an encoded display before a bare one, read by others as the address
    ("=?utf-8?q?security=40example.org?= security@evil.example", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    ("<security@evil.example>[<[,security@example.org", "an address after the angle brackets",
     ("evil.example", "example.org")),
    ('<a@evil.example>"b@example.org', "an address after the angle brackets", ("evil.example", "example.org")),
    ("a@evil.example:b@example.org", "an address after the address", ("evil.example", "example.org")),
    ("a@evil.example b@example.org", "an address after the address", ("evil.example", "example.org")),
    ("[b@example.org] <a@evil.example>", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    ("<a@evil.example>(\r\n  <b@example.org>", "an address after the angle brackets", ("evil.example", "example.org")),
    ("a@evil.example (\r\n b@example.org", "an unterminated comment holding an address",
     ("evil.example", "example.org")),
    # review34c #1: a domain with a character no host name has: DMARC had gone to that name; readers show the host
    ("security@example.org\\", "a domain that is no host name", ("example.org",)),
    ("security@example.org[", "a domain that is no host name", ("example.org",)),
    ('"security@example.org"', "a domain that is no host name", ("example.org",)),
    ("Pay <security@example.org\\>", "no closing >", ("example.org",)),
    # review34c #2: both addresses beside empty brackets
    ("a@evil.example <> security@example.org", "no address in the angle brackets", ("evil.example", "example.org")),
    # session 35: a repeat of the address before another one (review34c #3's rule let the other pass), an address
    # that only decoding writes or one beside a backslash outside quotes in the display name (Python's header
    # registry shows it), words of an address not joined by a dot (joined, they named the sender's own subdomain)
    ("<a@evil.example><a@evil.example>b@example.org", "an address after the angle brackets",
     ("evil.example", "example.org")),
    ("<a@evil.example>[a@evil.example,b@example.org>", "an address after the angle brackets",
     ("evil.example", "example.org")),
    ("a@evil.example a@evil.example b@example.org", "an address after the address", ("evil.example", "example.org")),
    ("=?utf-8?q?b=40example.org?=\\)<a@evil.example>", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    ("\\@example.org <a@evil.example>", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    ("=?utf-8?q?security=40example.org?=] <a@evil.example>", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    ("=?utf-8?q?security=40example.org?=> <a@evil.example>", "an address in the display name outside quotes",
     ("evil.example", "example.org")),
    # review35 #4: the same in a group's name
    ("security\\@example.org: a@evil.example;", "an address in the group name", ("evil.example", "example.org")),
    ("<a@example.org]x.evil.example>", "words of the address not joined by a dot",
     ("example.orgx.evil.example", "example.org")),
    ("<a@example.org evil.example>", "words of the address not joined by a dot",
     ("example.orgevil.example", "example.org")),
    # attack35b #1: a character IDNA maps away (soft hyphen, zero-width space, ideographic full stop, circled letter):
    # read up to it as before, and as IDNA maps it, which is what readers show and resolvers look up
    ("security@exam\u00adple.org", "a domain that is no host name", ("exam", "example.org")),
    ("security@exam\u200bple.org", "a domain that is no host name", ("exam", "example.org")),
    ("security@example\u3002org", "a domain that is no host name", ("example", "example.org")),
    ("security@\u24d4xample.org", "a domain that is no host name", ("example.org",)),
    # review35 #1: format characters Python's IDNA 2003 codec refused, and the resolver's own mapping (IDNA 2008)
    ("security@exam\u200eple.org", "a domain that is no host name", ("exam", "example.org")),
    ("security@exam\U000e0070ple.org", "a domain that is no host name", ("exam", "example.org")),
    ("security@exam\u00adple.org\u200e", "a domain that is no host name", ("exam", "example.org")),
    ("konto@straße\u00ad.example", "a domain that is no host name", ("straße", "xn--strae-oqa.example")),
    # valid: the same address in an encoded display name, whitespace around the dots and the '@' (obs syntax)
    ("=?utf-8?q?a=40evil.example?= <a@evil.example>", "", ("evil.example",)),
    # review35 #3: an encoded display name holding another address, nothing else odd, is how Google Groups writes
    # a poster without a name in a non-ASCII group: every reader takes the bracketed address
    ("=?UTF-8?Q?'jane=40yahoo.example'_via_Gr=C3=BCppe?= <gruppe@googlegroups.com>", "", ("googlegroups.com",)),
    ("=?utf-8?q?security=40example.org?= <a@evil.example>", "", ("evil.example",)),
    ("Team: a@evil.example, b@other.example;", "", ("evil.example",)),
    ("< a @ evil . example >", "", ("evil.example",)),
    ("a@faß.example", "", ("faß.example",)),  # letters are read as they are (IDNA 2003 would make it fass.example)
    # valid: a quoted local part may hold '@', a quoted display name an address
    ('"a@example.org"@evil.example', "", ("evil.example",)),
    ('"b@example.org" <a@evil.example>', "", ("evil.example",)),
    ("a@[192.0.2.1]", "", ("[192.0.2.1]",)),
    ("MAILER-DAEMON", "", ()),
    ('"a b" <a@evil.example> (Work, a@example.org)', "", ("evil.example",)),  # a comment after it is no address
    ("=?utf-8?q?J=C3=B6rg?= <j@evil.example>", "", ("evil.example",)),
    ("=?utf-8?q?J=C3=B6rg?= j@evil.example", "", ("evil.example",)),
    ("j@evil.example (J <b@example.org>)", "", ("evil.example",)),  # a comment is nobody's address
    ("security@example.org)Pay", "", ("example.org",)),  # a stray ")" ends the address (it read example.orgpay)
    ("a@evil.example a@evil.example", "", ("evil.example",)),  # the same address twice names no other (review34c #3)
    ("x_y@mail_srv.example.org", "", ("mail_srv.example.org",)),
    ("a@उदाहरण.भारत", "", ("उदाहरण.भारत",)),  # an IDN's vowel signs are marks, not stray characters
    ("a@ตัวอย่าง.ไทย", "", ("ตัวอย่าง.ไทย",)),
])
def test_a_malformed_addr_spec_and_every_domain_readers_take_from_it(
        value: str, problem: str, readings: tuple[str, ...]) -> None:
    mb = parse_mailboxes(value)[0]
    assert (mb.malformed, mb.domain_readings) == (problem, readings)


def test_display_names_are_put_in_reading_order_within_one_budget_per_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """attack35a #3: every display name had its own reordering budget (20,000 characters), so a 31 KB Cc of 22
    names, each an override and 1,300 characters, cost ~160 ms of the event loop. The display text put in reading
    order is now bounded per parse (the fields read together); the rest has its controls dropped."""
    import gateway.mailboxes as mailboxes
    reordered: list[int] = []
    real = mailboxes.visible_text

    def counting(text: str, *, bidi: str = "read") -> str:
        if bidi == "read":
            reordered.append(len(text))
        return real(text, bidi=bidi)

    monkeypatch.setattr(mailboxes, "visible_text", counting)
    name = "\u202e" + "\u202b" * 14 + "ab " * 430
    value = ", ".join(f'"{name}" <p{i}@evil.example>' for i in range(22))
    boxes = mailboxes.parse_address_fields([value, value])
    assert len(boxes) == 44 and all(len(b.display) <= mailboxes.MAX_DISPLAY for b in boxes)
    assert sum(reordered) <= 2 * mailboxes.MAX_DISPLAY * 4  # the budget, and one name that starts within it
    # the first display name of a parse is still read as a reader sees it
    assert parse_mailboxes("\u202eppAstahW\u202c <a@evil.example>")[0].display == "WhatsApp"
