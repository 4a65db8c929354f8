"""Our GIL-friendly dkimpy parsing and relaxed canonicalisation must be byte-identical to dkimpy's."""

from __future__ import annotations

import asyncio
import threading

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks.auth import engine
from gateway.checks.auth.dkim import verify_dkim
from gateway.checks.auth.engine import relaxed_body, split_message

_pieces = st.sampled_from([b"a", b"b c", b" ", b"\t", b"\r\n", b"\n", b"\r", b"X: y", b"", b"  \t "])
_messages = st.lists(_pieces, max_size=60).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_messages)
def test_split_message_matches_rfc822_parse(message):
    try:
        expected = dkim.rfc822_parse(message)
    except (dkim.MessageFormatError, IndexError):
        with pytest.raises(dkim.MessageFormatError):
            split_message(message)
        return
    assert split_message(message) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"x", b"  ", b"\t", b" y", b"\r\n"]), max_size=400).map(b"".join),
       st.integers(min_value=1, max_value=40))
def test_sliced_relaxed_body_matches_dkimpy(body, slice_size):
    body = body.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    old = engine.SLICE
    engine.SLICE = slice_size
    try:
        assert relaxed_body(body) == engine._dkimpy_relaxed_body(body)
    finally:
        engine.SLICE = old


class _Keys:
    def __init__(self, txt: str) -> None:
        self.txt = txt

    async def query(self, name, rdtype, timeout=None):
        from gateway.dns import Answer
        return Answer(name, rdtype, "NOERROR", (self.txt,), 300)


def test_message_starting_with_continuation_line_is_permerror_not_a_crash():
    raw = b" folded\r\nDKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=; b=\r\n\r\nx"
    (res,) = asyncio.run(verify_dkim(raw, _Keys("v=DKIM1; p=")))
    assert res.result == "permerror"


def test_dkim_crypto_runs_off_the_event_loop_thread(monkeypatch):
    from tests.support.dkimkeys import message, rsa_key
    seen: list[int] = []
    original = engine.FastDKIM.verify

    def spy(self, *a, **k):
        seen.append(threading.get_ident())
        return original(self, *a, **k)

    monkeypatch.setattr(engine.FastDKIM, "verify", spy)
    raw = rsa_key().sign(message(body=b"x  y \r\n" * 20_000), "example.com",
                         canonicalize=(b"relaxed", b"relaxed"))

    async def go():
        return threading.get_ident(), await verify_dkim(raw, _Keys(rsa_key().txt))

    loop_thread, (res,) = asyncio.run(go())
    assert res.result == "pass"
    assert seen and all(t != loop_thread for t in seen)
