"""The byte-level walk reads a part's Content-Type capped like the parser (gateway/mimewalk.py
MAX_PARAMS, MAX_PARAM_HEADER): the stdlib's _parseparam is quadratic in ';', and the walk asked
each multipart's boundary of the whole field (a nested multipart with 200 KB of ';' before its
boundary: ~0.4 s in the skeleton, on the event loop). Behaviour, not timings."""

from __future__ import annotations

import pytest

from gateway.mimewalk import MAX_KEPT, MAX_PARAMS, cap_params, walk
from gateway.parse import MessageView


def nested(params: int, filler: bytes = b"; a=b") -> bytes:
    inner = (b"Content-Type: multipart/mixed" + filler * params + b"; boundary=q\r\n\r\n"
             b"--q\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--q--\r\n")
    return (b"From: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\n"
            + inner + b"\r\n--p\r\nContent-Type: text/plain\r\n\r\nouter text\r\n--p--\r\n" + b"x" * 70_000)


def test_a_boundary_within_the_cap_is_walked() -> None:
    root = walk(nested(MAX_PARAMS - 3))
    assert [e.content_type for e in root.walk()] == ["multipart/mixed", "multipart/mixed", "text/plain",
                                                     "text/plain"]
    assert "inner text" in MessageView.parse(nested(MAX_PARAMS - 3)).plain_text


@pytest.mark.parametrize("params,filler", [(MAX_PARAMS, b"; a=b"), (200_000, b";"), (3_000, b'; a="x;y"')])
def test_a_boundary_past_the_cap_is_still_read_by_the_walk_and_the_parser(params: int, filler: bytes) -> None:
    """Found in session 20: a boundary after 100 junk parameters hid the multipart's text from the
    analysis (an approach scanned `high` 47.6 scanned `caution` 5.1 with 120 parameters before its
    boundary), while mail clients split it and show it. The junk is still not read."""
    raw = nested(params, filler)
    root = walk(raw)
    assert [e.content_type for e in root.walk()] == ["multipart/mixed", "multipart/mixed", "text/plain",
                                                     "text/plain"]
    view = MessageView.parse(raw)
    assert [p.get_content_type() for p, _ in view.leaf_parts] == ["text/plain", "text/plain"]
    assert view.plain_text.split() == ["inner", "text", "outer", "text"]
    inner = view.leaf_parts[0][0]
    assert inner.get_content_type() == "text/plain"  # its parent's params: capped, boundary kept
    parent = next(p for p in view.msg.walk() if p.get_boundary() == "q")
    assert len(parent.get_params()) <= MAX_PARAMS + 1


def quoted_tail(tail: str) -> str:
    return "multipart/mixed" + "; a=b" * 120 + tail


@pytest.mark.parametrize("tail,expected", [
    ('; boundary="q"', '"q"'),
    ('; x="; boundary=evil"; boundary=q', "q"),  # inside a quoted string: not a parameter
    ('; x="a\\"; boundary=evil"; boundary=q', "q"),  # an escaped quote does not end the string
    ("; BOUNDARY = q ; charset=utf-8", "q"),
    ("; boundary*0=q; boundary*1=r", "q r"),  # RFC 2231 continuations, in order
    ("; boundary=" + "z" * 2000 + "; boundary=q", "q"),  # an absurdly long one is left out
    ('; name="unterminated; boundary=q', None),  # the rest is one unterminated quoted string
])
def test_cap_params_keeps_what_a_reader_acts_on(tail: str, expected: str | None) -> None:
    capped = cap_params(quoted_tail(tail))
    assert capped.startswith("multipart/mixed" + "; a=b" * (MAX_PARAMS - 1))
    kept = capped[len("multipart/mixed" + "; a=b" * (MAX_PARAMS - 1)):]
    names = [p.split("=")[0].strip().lower() for p in kept.split(";") if "boundary" in p.lower()]
    values = [p.partition("=")[2].strip() for p in kept.split(";") if p.strip().lower().startswith("boundary")]
    if expected is None:
        assert values == []
    else:
        assert " ".join(values) == expected, capped[-200:]
        assert all(n.startswith("boundary") for n in names)


def test_at_most_max_kept_parameters_are_kept_from_the_rest() -> None:
    capped = cap_params(quoted_tail("; charset=x" * 1000))
    assert capped.count("charset=x") == MAX_KEPT


def test_an_8bit_field_is_capped_as_a_7bit_one() -> None:
    """compat32 gives a field with 8-bit bytes as an email.header.Header, which the cap passed by
    (and the stdlib then read as str(): 160 KB of ';' with one 8-bit byte cost 3 s)."""
    ct = b"Content-Type: multipart/mixed" + b";x" * 20_000 + b"; boundary=q; y=\xe9\r\n\r\n"
    raw = (b"From: a@x.test\r\nMIME-Version: 1.0\r\n" + ct + b"--q\r\nContent-Type: text/plain\r\n\r\n"
           b"inner text\r\n--q--\r\n")
    view = MessageView.parse(raw)
    value = view.msg.get("Content-Type")
    assert isinstance(value, str) and value.count(";") <= MAX_PARAMS + MAX_KEPT
    assert view.msg.get_boundary() == "q" and view.plain_text == "inner text"
    assert [e.content_type for e in walk(raw).walk()] == ["multipart/mixed", "text/plain"]


def test_a_cut_inside_a_quoted_boundary_keeps_the_whole_boundary() -> None:
    value = "multipart/mixed" + "; a=b" * (MAX_PARAMS - 2) + '; boundary="q;r"; z=1'  # 100th ';' inside quotes
    capped = cap_params(value)
    assert capped == "multipart/mixed" + "; a=b" * (MAX_PARAMS - 2) + '; boundary="q;r"'
