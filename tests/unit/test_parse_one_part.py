"""`parse_message` (the payload of a one-part message set from the bytes after the header block)
builds the message the stdlib parser builds from the whole bytes: the same tree, headers, payloads,
defects, unix-from, preamble and epilogue, on the corpus, on the real ham corpus when it is
present, and on hypothesis-built header blocks and bodies full of what the fast path must refuse
(blank lines of every line ending inside the header block, stray lines, a trailing `From `, a
continuation first, multipart and message/ types however they are spelt).

`MessageView.of_header` (the header block alone, for `scan`'s and `evaluate`'s envelope sender
and Date) reads the headers `MessageView.parse(raw[:262_144])` reads and raises where it raises."""

from __future__ import annotations

import re
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import parse
from gateway.parse import (
    HeaderLimitExceeded,
    MessageView,
    ViewLimits,
    _parse_bytes,
    normalize_header_section,
    parse_message,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LIMITS = ViewLimits()
HAM = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "ham" / "spamassassin"


def tree(msg: Message) -> Any:
    """Everything the parser decides about a message, recursively."""
    payload = msg.get_payload()
    return (type(msg).__name__, list(msg.raw_items()), msg.get_unixfrom(), msg.preamble, msg.epilogue,
            msg.get_default_type(), [(type(d).__name__, str(d)) for d in msg.defects],
            [tree(p) for p in payload] if isinstance(payload, list) else payload)


def same(raw: bytes) -> None:
    readable, _ = normalize_header_section(raw)
    assert tree(parse_message(readable, LIMITS)) == tree(_parse_bytes(readable, LIMITS))


def one_part_used(raw: bytes) -> bool:
    """Whether `parse_message` took the one-part path (the stdlib parser is not called)."""
    calls: list[bytes] = []
    real = parse._parse_bytes

    def spy(data: bytes, limits: ViewLimits, *, headersonly: bool = False) -> Message:
        calls.append(data)
        return real(data, limits, headersonly=headersonly)

    parse._parse_bytes = spy  # type: ignore[assignment]
    try:
        parse_message(raw, LIMITS)
    finally:
        parse._parse_bytes = real
    return not calls


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.eml")), ids=lambda p: p.name)
def test_corpus_parses_as_the_stdlib_parses(path: Path) -> None:
    same(path.read_bytes())


def test_real_ham_parses_as_the_stdlib_parses() -> None:
    files = sorted(p for p in HAM.rglob("*") if p.is_file())[:1500] if HAM.is_dir() else []
    if not files:
        pytest.skip(f"no ham corpus at {HAM}")
    fast = 0
    for f in files:
        raw = f.read_bytes()
        same(raw)
        fast += one_part_used(raw)
    assert fast > len(files) // 2  # most of that corpus is one part: the fast path is exercised


def test_the_fast_path_is_taken_and_refused_where_it_should_be() -> None:
    assert one_part_used(b"From: a@b.test\r\nSubject: s\r\n\r\nbody\r\n")
    assert one_part_used(b"From: a@b.test\nContent-Type: text/plain\n\nbody\n\n\nmore")
    for raw in (b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nt\r\n--x--\r\n",
                b"From: a@b.test\r\nContent-Type: Message/RFC822\r\n\r\nSubject: inner\r\n\r\nb\r\n",
                b"From: a@b.test\r\n\rSubject: s\r\n\r\nbody\r\n",  # a lone CR line ends the headers
                b"From: a@b.test\r\nFrom x\r\n\r\nbody\r\n",  # a trailing 'From ' goes to the body
                b"From: a@b.test\r\nnot a header\r\n\r\nbody\r\n"):
        assert not one_part_used(raw), raw
        same(raw)


HEAD_LINES = st.sampled_from([
    b"From: a@b.test", b"Subject: s", b" folded", b"\tfolded", b"From x", b"not a header", b":empty name",
    b"Content-Type: text/plain", b"Content-Type: multipart/mixed; boundary=b1", b"content-type: MULTIPART/x",
    b"Content-Type: message/rfc822", b"Content-Type: message/delivery-status", b"Content-Type: text/x; a=multipart",
    b"Content-Type:", b"X: \xff\xfe 8-bit", b"", b"X: a\rb", b"Content-Transfer-Encoding: base64",
    b"From a: b", b"bad name: x", b"X\x7f: del", b"X:\t\ttabbed", b"X: \t",
])
EOLS = st.sampled_from([b"\r\n", b"\n", b"\r"])
BODY_LINES = st.sampled_from([b"", b"body", b"--b1", b"--b1--", b"From me", b"Subject: x", b"\xe9t\xe9", b"."])


@st.composite
def messages(draw: Any) -> bytes:
    head = b"".join(line + draw(EOLS) for line in draw(st.lists(HEAD_LINES, max_size=8)))
    sep = draw(st.sampled_from([b"\r\n", b"\n", b"", b"\r", b"\r\n\r\n"]))
    body = b"".join(line + draw(EOLS) for line in draw(st.lists(BODY_LINES, max_size=6)))
    return head + sep + body + draw(st.sampled_from([b"", b"tail", b"\r"]))


@settings(max_examples=1500, deadline=None)
@given(messages())
def test_built_messages_parse_as_the_stdlib_parses(raw: bytes) -> None:
    same(raw)
    assert tree(parse_message(raw, LIMITS)) == tree(_parse_bytes(raw, LIMITS))  # not normalised first, too


# ----------------------------------------------------------------------------- MessageView.of_header

def headers_of(view: MessageView) -> Any:
    msg = view.msg
    return (list(msg.raw_items()), msg.get_unixfrom(), view.return_path, view.header("Date"), view.from_identity,
            view.header_count, view.header_bytes, sorted(view.defects))


def same_header(raw: bytes, within: int = 262_144) -> None:
    try:
        whole = headers_of(MessageView.parse(raw[:within]))
    except HeaderLimitExceeded as exc:
        with pytest.raises(HeaderLimitExceeded, match=re.escape(str(exc))):
            MessageView.of_header(raw, within=within)
        return
    assert headers_of(MessageView.of_header(raw, within=within)) == whole


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.eml")), ids=lambda p: p.name)
def test_of_header_reads_the_corpus_headers_as_the_whole_parse(path: Path) -> None:
    same_header(path.read_bytes())


@settings(max_examples=1000, deadline=None)
@given(messages(), st.sampled_from([262_144, 5, 20, 40]))
def test_of_header_reads_built_headers_as_the_whole_parse(raw: bytes, within: int) -> None:
    same_header(raw, within)


def test_of_header_keeps_the_limits() -> None:
    many = b"".join(b"X-%d: v\r\n" % i for i in range(1200)) + b"\r\nbody"
    same_header(many)  # 1,200 fields: over the default 1,000, raised by both
    with pytest.raises(HeaderLimitExceeded):
        MessageView.of_header(many)
    huge = b"X: " + b"a" * 300_000 + b"\r\n\r\nbody"  # no blank line in the first 256 KiB
    same_header(huge)


PHISH = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "phish" / "phishing_pot"


def _hostile_one_part() -> list[bytes]:
    """Single-part messages of the shapes attack_bench sends (review10): encoded-word storms with
    broken payloads in Subject and From, invisible and bidi characters and look-alike letters in
    display names, fields folded thousands of times, broken quoted-printable, 8-bit and odd names."""
    words = b"\r\n ".join(b"=?%s?%s?%s?=" % (cs, enc, payload) for cs, enc, payload in
                          [(b"utf-8", b"B", b"QmF!k"), (b"koi8-r", b"Q", b"=ZZ=C3"), (b"x-unknown", b"B", b"Q"),
                           (b"utf-16", b"Q", b"="), (b"iso-2022-jp", b"B", b"4oCLQ2hh4oCu")] * 400)
    name = "Dr.\u202e Ann\u200ba We\u0431er, Ch\u0430tham\u2066 House".encode()
    heads = [
        b"From: " + words + b" <a@b.test>\r\nSubject: " + words + b"\r\n",
        b"From: " + name + b" <a@b.test>\r\nCc: " + b",\r\n ".join([name + b" <c@gmail.com>"] * 200) + b"\r\n",
        b"From: a@b.test\r\nX-Folded: x" + b"\r\n x" * 20_000 + b"\r\nSubject: x" + b"\r\n\ty" * 5_000 + b"\r\n",
        b"From: a@b.test\r\nX-\xe9: 8-bit name\r\nSubject: \xe2\x80\x8binvisible\r\nX-Empty:\r\n\r\n",
        b"From a@b.test Sun Nov 29 10:00:00 2026\r\nFrom: a@b.test\r\nContent-Type: text/plain; charset=\"utf-8\r\n",
    ]
    bodies = [b"=ZZ=\r\n=3D=E9=" * 2_000 + b"Senior Fellow at Chatham House=\r\n" * 500,
              b"\r\n\r\n\r\n", b"", b"--b\r\n--b--\r\n" * 100, "Ch\u0430t\u202eham\u200b".encode() * 1_000]
    extra = b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    return [h + extra + b"\r\n" + body for h in heads for body in bodies]


def test_hostile_one_part_messages_parse_as_the_stdlib_parses() -> None:
    messages = _hostile_one_part()
    for raw in messages:
        same(raw)
        assert tree(parse_message(raw, LIMITS)) == tree(_parse_bytes(raw, LIMITS))
    # all but the 8-bit field name's (the parser ends the header section there) take the fast path
    assert sum(map(one_part_used, messages)) == len(messages) - 5


def test_real_phishing_parses_as_the_stdlib_parses() -> None:
    files = sorted(p for p in PHISH.glob("*.eml")) if PHISH.is_dir() else []
    if not files:
        pytest.skip(f"no phishing corpus at {PHISH}")
    for f in files:
        same(f.read_bytes())
