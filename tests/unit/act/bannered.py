"""A check shared by the banner tests: a part holding the banner added ahead of a multipart/mixed's first part."""

from __future__ import annotations

import email.policy
import re
from email.parser import BytesParser

from gateway.act.banner import Banner, insert_banner


def assert_banner_part_ahead(raw: bytes, out: bytes, banner: Banner) -> None:
    """`out` is `raw` with one UTF-8 text/plain part holding `banner` ahead of the top multipart/mixed's first part:
    every byte of `raw` in place around it (the parts after it byte for byte), the added bytes 7-bit with lines of at
    most 998 octets, and a second pass adding nothing."""
    before = BytesParser(policy=email.policy.default).parsebytes(raw)
    boundary = before.get_boundary()
    assert before.get_content_type() == "multipart/mixed" and boundary
    found = re.search(rb"(?m)^--" + re.escape(boundary.encode()), raw)
    assert found is not None
    at = found.start()
    assert out.startswith(raw[:at]) and out.endswith(raw[at:]) and len(out) > len(raw), "no banner part"
    added = out[at:len(out) - len(raw) + at]
    assert added.isascii() and max(len(line) for line in added.splitlines()) <= 998
    msg = BytesParser(policy=email.policy.default).parsebytes(out)
    assert [p.get_content_type() for p in msg.walk()] == (["multipart/mixed", "text/plain"]
                                                          + [p.get_content_type() for p in before.walk()][1:])
    first = next(msg.iter_parts())
    assert first.get_content_charset() == "utf-8" and first.get_content_disposition() == "inline"
    assert first.get_content().replace("\r\n", "\n") == banner.plain
    assert insert_banner(out, banner) == out
