"""gateway.smtp.upstream: the DATA payload (dot-stuffing, line endings) equals what aiosmtplib
would send, and the bare-newline test equals gateway.parse's."""

from __future__ import annotations

from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import Outgoing
from gateway.parse import has_bare_newline, normalize_newlines
from gateway.smtp.upstream import crlf_normalized, dot_stuffed, dot_stuffed_pieces, only_crlf

PIECES = st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b".", b"..", b"a", b"\x00", b" ", b"\r\n.\r\n"]),
                  max_size=40).map(b"".join)


@settings(max_examples=400)
@given(PIECES)
def test_only_crlf_is_the_negation_of_has_bare_newline(data: bytes) -> None:
    assert only_crlf(data) is not has_bare_newline(data)


@settings(max_examples=400)
@given(PIECES)
def test_dot_stuffed_equals_aiosmtplibs_payload(data: bytes) -> None:
    reference = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"
    assert dot_stuffed(data) == reference


def test_dot_stuffed_examples() -> None:
    assert dot_stuffed(b".start\r\nmid\r\n.\r\n..x") == b"..start\r\nmid\r\n..\r\n...x\r\n.\r\n"
    assert dot_stuffed(b"") == b"\r\n.\r\n"


@settings(max_examples=400)
@given(PIECES, st.integers(1, 12))
def test_slices_give_the_same_payload(data: bytes, piece: int) -> None:
    pieces = list(dot_stuffed_pieces(data, piece))
    assert b"".join(pieces) == dot_stuffed(data)
    assert all(p for p in pieces)


@settings(max_examples=400)
@given(PIECES)
def test_crlf_normalized_equals_parse_normalize_newlines(data: bytes) -> None:
    assert crlf_normalized(data) == normalize_newlines(data)


@settings(max_examples=400)
@given(st.lists(st.sampled_from([b"\r\n", b"a", b"\x00", b" ", b"x.", b"\r\nb."]), max_size=40).map(b"".join),
       st.integers(0, 40), st.integers(1, 12))
def test_a_plain_body_is_sent_as_it_is_and_the_same(data: bytes, at: int, piece: int) -> None:
    """`Outgoing.plain` (CRLF only, no line starting with a dot: what the receiver counted) skips
    the normalising and stuffing of the body, for the same payload."""
    body = b"Subject: x\r\n\r\n" + data
    start = body.index(b"\r\n\r\n") + 2
    head = b"Received: by us\r\n" + body[:start]
    plain = Outgoing(head, body, start, plain=True)
    assert b"".join(dot_stuffed_pieces(plain, piece)) == dot_stuffed(bytes(plain))
    checked = Outgoing(head, body, start)
    assert b"".join(dot_stuffed_pieces(plain, piece)) == b"".join(dot_stuffed_pieces(checked, piece))


def test_slices_that_need_no_change_are_views_of_the_message_not_copies() -> None:
    """A slice with CRLF only and no line starting with a dot (checked or `plain`) goes out as a
    memoryview of the message; one that needs stuffing or normalising is a new bytes object;
    the last carries the terminating line (one copy of it); the payload is the same."""
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0123456789\r\n"
    body = b"Subject: x\r\n\r\n" + line * 100 + b".dot\r\n" + line * 100 + b"bare\n" + line * 100
    pieces = list(dot_stuffed_pieces(body, 1000))
    reference = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(body)) + b".\r\n"  # aiosmtplib's
    assert b"".join(pieces) == dot_stuffed(body) == reference
    views = [p for p in pieces if isinstance(p, memoryview)]
    assert views and all(v.obj is body for v in views)
    assert len(views) >= len(pieces) - 4  # only the slices with ".dot", "bare\n" and the last are copies
    assert not any(b"\r\n." in bytes(v) or bytes(v).startswith(b".") for v in views)
    assert isinstance(pieces[-1], bytes) and pieces[-1].endswith(line + b".\r\n")
    start = body.index(b"\r\n\r\n") + 2
    clean = b"Subject: x\r\n\r\n" + line * 300
    plain = Outgoing(b"Received: by us\r\n" + clean[:start], clean, start, plain=True)
    pieces = list(dot_stuffed_pieces(plain, 1000))
    assert b"".join(pieces) == dot_stuffed(bytes(plain))
    assert all(isinstance(p, memoryview) and p.obj in (plain.head, clean) for p in pieces[:-1])
