"""auth `header_fields` finds the header section and its lines without regexes; it must give
what the regexes gave (`_HEADER_END` searched within `_MAX_HEADER_BYTES`, `re.split(\\r?\\n)`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks.auth import keys

HAM = Path(__file__).resolve().parents[5] / "shared" / "corpora" / "ham" / "spamassassin"


def by_regex(raw: bytes) -> list[tuple[bytes, bytes]]:
    m = keys._HEADER_END.search(raw, 0, keys._MAX_HEADER_BYTES)
    head = raw[:m.start()] if m else raw[:keys._MAX_HEADER_BYTES]
    out: list[tuple[bytes, bytes]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and out:
            name, value = out[-1]
            out[-1] = (name, value + b" " + line.strip())
        elif b":" in line:
            name, _, value = line.partition(b":")
            out.append((name.strip(), value.strip()))
    return out


PIECES = [b"\r", b"\n", b"\r\n", b"a", b":", b" ", b"\t", b"DKIM-Signature: v=1;", b"x"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join), st.integers(1, 40))
def test_the_same_fields_as_the_regexes(raw: bytes, limit: int) -> None:
    assert keys.header_fields(raw) == by_regex(raw)
    with pytest.MonkeyPatch.context() as mp:  # the cap on the header section too
        mp.setattr(keys, "_MAX_HEADER_BYTES", limit)
        assert keys.header_fields(raw) == by_regex(raw)


def test_the_same_fields_on_real_mail() -> None:
    files = sorted(p for p in HAM.glob("*/*") if p.is_file())[:300]
    if not files:
        pytest.skip(f"corpus not found under {HAM}")
    for f in files:
        raw = f.read_bytes()
        for variant in (raw, raw.replace(b"\n", b"\r\n")):
            assert keys.header_fields(variant) == by_regex(variant), f


def test_a_field_folded_thousands_of_times_is_one_field() -> None:
    """A field folded 20,000 times (80 KB, within the header limits): one field, its pieces joined by
    one space, as the regexes read it. Its pieces are joined once (linear); adding each to the value
    copied the value each time (~0.15 s a call; attack_bench msg:header-folded-20k measures it)."""
    raw = b"From: a@b.test\r\nX-Folded: x" + b"\r\n x" * 20_000 + b"\r\nSubject: s\r\n\r\nbody\r\n"
    fields = keys.header_fields(raw)
    assert fields == by_regex(raw)
    assert [n for n, _ in fields] == [b"From", b"X-Folded", b"Subject"]
    assert fields[1][1] == b" ".join([b"x"] * 20_001)
