"""The SMTP address fast path (gateway/smtp/server.py) answers exactly as aiosmtpd's parser."""

from __future__ import annotations

from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smtp.server import GatewaySMTP


def smtp(limit: int = 0) -> GatewaySMTP:
    s = GatewaySMTP.__new__(GatewaySMTP)  # _getaddr needs nothing but the limit
    s.local_part_limit = limit
    return s


PIECES = ["<", ">", "@", ".", "a", "Z", "0", "-", "_", "+", "'", '"', " ", "\t", "(", ")", "[", "]",
          "\\", ",", ":", ";", "é", "\x00", "SIZE=10", " BODY=8BITMIME", "example.org", "ab.cd"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join), st.sampled_from([0, 3, 64]))
def test_fast_path_equals_aiosmtpd(arg: str, limit: int) -> None:
    ours = smtp(limit)
    try:
        want = SMTP._getaddr(ours, arg)
    except Exception:  # noqa: BLE001 - the stdlib parser's own crashes are (None, None) for us
        want = (None, None)
    assert ours._getaddr(arg) == want


def test_common_forms() -> None:
    s = smtp(64)
    assert s._getaddr("<a.b+tag@mail.example.org> SIZE=1000 BODY=8BITMIME") == \
        ("a.b+tag@mail.example.org", "SIZE=1000 BODY=8BITMIME")
    assert s._getaddr("<x@y>") == ("x@y", "")
    assert s._getaddr("<" + "l" * 65 + "@example.org>") == (None, None)  # local part over the limit
    assert s._getaddr("<>") == SMTP._getaddr(s, "<>")  # the null sender: aiosmtpd's answer
    assert s._getaddr('<"a b"@example.org>') == SMTP._getaddr(s, '<"a b"@example.org>')


ATOM = st.text("aZ0-_+'.!#~", min_size=0, max_size=6)
DOMAIN = st.text("aZ0-.", min_size=0, max_size=8)


@settings(max_examples=3000, deadline=None)
@given(ATOM, DOMAIN, st.sampled_from(["", " SIZE=5", ">", " <x@y>", "\t", "(c)"]), st.sampled_from([0, 3, 64]))
def test_near_simple_addresses(local: str, domain: str, rest: str, limit: int) -> None:
    arg = f"<{local}@{domain}>{rest}"
    ours = smtp(limit)
    try:
        want = SMTP._getaddr(ours, arg)
    except Exception:  # noqa: BLE001
        want = (None, None)
    assert ours._getaddr(arg) == want
