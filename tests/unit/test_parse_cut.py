"""`MessageView.parse(raw, cut=header_end(raw))` (what `Runtime.analyse` passes when it found the
header block's end for the offload test) and `MessageView.parse(raw)` build the view the parse
built before it took `cut` (`reference` below: every step found the header block's end in the
bytes it was given): the same header limits, the same tree, on messages whose parsed bytes are
not `raw` (a header section the normaliser ends early, the skeleton of a large message, a
multipart capped at its delimiter lines), with LF, CR or CRLF line ends, and with no blank line."""

from __future__ import annotations

import re
from email.message import Message
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mimewalk import exact_delimiters
from gateway.parse import (
    DELIMITER_LINES_FACTOR,
    HeaderLimitExceeded,
    MessageView,
    ViewLimits,
    _cap_delimiter_lines,
    _loose_delimiters_in,
    _parse_bytes,
    header_end,
    header_stats,
    normalize_header_section,
    parse_message,
    skeleton,
)

HEAD_LINES = st.sampled_from([
    b"From: a@example.com", b"Subject: hi", b" folded", b"Content-Type: multipart/mixed; boundary=b1",
    b"Content-Type: text/plain", b"X: \xff 8-bit", b"bad name: x", b"no colon", b"X: a\rb", b"To: b@example.org",
    b"--b1",  # not a field: the normaliser ends the header section before it, a delimiter line after
])
EOLS = st.sampled_from([b"\r\n", b"\n", b"\r"])
BODY_LINES = st.sampled_from([b"", b"body", b"--b1", b"--b1--", b"Content-Type: application/pdf",
                              b"Content-Type: text/plain", b"QUFBQUFBQUFB", b"From me", b"."])


@st.composite
def messages(draw: Any) -> bytes:
    head = b"".join(line + draw(EOLS) for line in draw(st.lists(HEAD_LINES, max_size=8)))
    sep = draw(st.sampled_from([b"\r\n", b"\n", b"", b"\r", b"\r\n\r\n"]))
    body = b"".join(line + draw(EOLS) for line in draw(st.lists(BODY_LINES, max_size=12)))
    return head + sep + body


def tree(msg: Message) -> Any:
    payload = msg.get_payload()
    return (list(msg.raw_items()), msg.preamble, msg.epilogue, [(type(d).__name__, str(d)) for d in msg.defects],
            [tree(p) for p in payload] if isinstance(payload, list) else payload)


def view_of(raw: bytes, limits: ViewLimits, skeleton_above: int, cut: int | None) -> Any:
    try:
        view = MessageView.parse(raw, limits, skeleton_above=skeleton_above, cut=cut)
    except HeaderLimitExceeded as exc:
        return ("raised", str(exc))
    return (tree(view.msg), view.header_count, view.header_bytes, view.defects, view.mime_parts_exceeded)


def reference(raw: bytes, limits: ViewLimits, skeleton_above: int) -> Any:
    """`MessageView.parse` as it was before `cut=`: the header block's end found again in each copy."""
    count, size = header_stats(raw)
    if count > limits.max_header_count or size > limits.max_header_bytes:
        return ("raised", f"header has {count} fields / {size} bytes; limits are "
                          f"{limits.max_header_count} fields / {limits.max_header_bytes} bytes")
    readable, notes = normalize_header_section(raw)
    if len(readable) > skeleton_above:
        readable = skeleton(readable, limits)
    capped = _cap_delimiter_lines(readable, min(header_end(readable), len(readable)),
                                  DELIMITER_LINES_FACTOR * limits.max_mime_parts)
    if capped is not None:
        readable = capped
    try:
        msg = parse_message(readable, limits)
        defects = sorted(set(notes))
        if _loose_delimiters_in(msg, readable, header_end(readable), limits.max_mime_parts):
            exact = exact_delimiters(readable, max_depth=limits.max_mime_depth, max_parts=limits.max_mime_parts)
            if exact is not readable:
                readable = exact
                defects.append("delimiter lines with text after the boundary")
                msg = parse_message(readable, limits)
    except Exception as exc:  # noqa: BLE001 - as the view does
        msg = _parse_bytes(readable, limits, headersonly=True)
        defects = [*sorted(set(notes)), f"unparseable: {type(exc).__name__}"]
    return (tree(msg), count, size, defects, capped is not None)


@settings(max_examples=1500, deadline=None)
@given(messages(), st.sampled_from([0, 40, 10**9]), st.sampled_from([1, 2, 500]), st.sampled_from([3, 1000]))
def test_the_view_with_the_callers_cut_is_the_view_without(raw: bytes, skeleton_above: int, parts: int,
                                                           fields: int) -> None:
    # (skeleton_above 0 and 40: the skeleton's copy is parsed; parts 1 and 2: the delimiter cap's copy)
    limits = ViewLimits(max_mime_parts=parts, max_header_count=fields)
    want = reference(raw, limits, skeleton_above)
    assert view_of(raw, limits, skeleton_above, header_end(raw)) == want
    assert view_of(raw, limits, skeleton_above, None) == want


@pytest.mark.parametrize("raw", [
    b"Subject: a\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\n\nx\n--b1\n\ny\n--b1--\n",
    # delimiter lines the normaliser moves from the header block into the body: counted by the cap
    b"Content-Type: multipart/mixed; boundary=b1\n--b1\n--b1\n--b1\n\n--b1\nx\n--b1--\n",
    b"Subject: a\r\nTo: b@example.org\r\n",  # no blank line: the whole message is header
    b" folded first\r\nSubject: a\r\n\r\nbody\r\n",  # the normaliser ends the header section early
])
def test_examples(raw: bytes) -> None:
    for skeleton_above in (0, 10**9):
        for parts in (1, 500):
            limits = ViewLimits(max_mime_parts=parts)
            want = reference(raw, limits, skeleton_above)
            assert view_of(raw, limits, skeleton_above, header_end(raw)) == want
            assert view_of(raw, limits, skeleton_above, None) == want


def test_the_header_limits_hold_with_the_callers_cut() -> None:
    raw = b"".join(b"X-%d: v\n" % i for i in range(30)) + b"\nbody\n"
    with pytest.raises(HeaderLimitExceeded, match=re.escape("header has 30 fields")):
        MessageView.parse(raw, ViewLimits(max_header_count=29), cut=header_end(raw))
