"""The byte-level walk reads a part's Content-Type capped like the parser (gateway/mimewalk.py
MAX_PARAMS, MAX_PARAM_HEADER): the stdlib's _parseparam is quadratic in ';', and the walk asked
each multipart's boundary of the whole field (a nested multipart with 200 KB of ';' before its
boundary: ~0.4 s in the skeleton, on the event loop). Behaviour, not timings."""

from __future__ import annotations

import pytest

from gateway.mimewalk import MAX_PARAMS, MimeError, walk
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


@pytest.mark.parametrize("params,filler", [(MAX_PARAMS, b"; a=b"), (200_000, b";")])
def test_a_boundary_past_the_cap_is_not_read_by_the_walk_nor_the_parser(params: int, filler: bytes) -> None:
    raw = nested(params, filler)
    with pytest.raises(MimeError, match="boundary"):
        walk(raw)
    view = MessageView.parse(raw)  # the whole message goes to the parser, which caps alike
    assert [p.get_content_type() for p, _ in view.leaf_parts] == ["multipart/mixed", "text/plain"]
    assert view.plain_text == "outer text"
