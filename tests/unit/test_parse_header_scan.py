"""`header_end` and `header_stats` scan without their regexes (`_HEADER_END`, `_FIELD_START`)
but must say exactly what the regexes say, on any bytes and on real mail; `normalize_header_section`
keeps a plain block (`_plain_block`, no line-by-line reading) as the line-by-line reading keeps it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import parse
from gateway.parse import _FIELD_START, _HEADER_END, MessageView, header_end, header_stats, normalize_header_section

HAM = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "ham" / "spamassassin"


def end_by_regex(raw: bytes) -> int:
    m = _HEADER_END.search(raw)
    if m is None:
        return len(raw)
    return m.start() + (2 if raw[m.start():m.start() + 2] == b"\r\n" else 1)


def stats_by_regex(raw: bytes) -> tuple[int, int]:
    block = raw[:end_by_regex(raw)]
    return len(_FIELD_START.findall(block)), len(block)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b":", b" ", b"\t", b"Subject: x"]), max_size=30)
       .map(b"".join))
def test_the_same_as_the_regexes_on_any_bytes(raw: bytes) -> None:
    assert header_end(raw) == end_by_regex(raw)
    assert header_stats(raw) == stats_by_regex(raw)
    assert header_stats(raw, header_end(raw)) == stats_by_regex(raw)
    assert normalize_header_section(raw, header_end(raw)) == normalize_header_section(raw)


def test_the_same_as_the_regexes_on_real_mail() -> None:
    files = sorted(p for p in HAM.glob("*/*") if p.is_file())[:500]
    for f in files:
        raw = f.read_bytes()
        for variant in (raw, raw.replace(b"\n", b"\r\n"), raw.replace(b"\n", b"\r")):
            assert header_end(variant) == end_by_regex(variant), f
            assert header_stats(variant) == stats_by_regex(variant), f


def test_the_view_counts_fields_as_before() -> None:
    raw = b"From: a@b.test\r\nSubject: one\r\n two\r\nTo: c@d.test\r\n\r\nbody\r\n\r\nFrom: not a header\r\n"
    view = MessageView.parse(raw)
    assert (view.header_count, view.header_bytes) == (3, raw.index(b"\r\n\r\n") + 2)


def test_mailboxes_are_parsed_once_and_handed_out_as_copies() -> None:
    raw = (b"From: a@b.test\r\nTo: One <one@example.org>, two@example.org\r\nCc: =?utf-8?q?Thr=C3=A9e?= "
           b"<three@example.org>\r\n\r\nbody\r\n")
    view = MessageView.parse(raw)
    first = view.mailboxes("To", "Cc")
    assert [m.address for m in first] == ["one@example.org", "two@example.org", "three@example.org"]
    first.clear()
    assert view.addresses("to", "CC") == ["one@example.org", "two@example.org", "three@example.org"]
    assert view.addresses("Cc") == ["three@example.org"]
    assert MessageView.parse(raw).mailboxes("To", "Cc") == view.mailboxes("To", "Cc")


def test_raw_headers_from_the_index_as_from_a_pass_per_name() -> None:
    from gateway.parse import raw_text

    files = sorted(p for p in HAM.glob("*/*") if p.is_file())[:300]
    raws = [f.read_bytes() for f in files] + [b"From: a@b.test\r\nX-\xe9: 1\r\nx-\xe9: 2\r\nFROM: c@d.test\r\n\r\nb"]
    for raw in raws:
        view = MessageView.parse(raw)
        names = {k for k, _ in view.msg.raw_items()} | {"from", "FROM", "Received", "X-Nothing", "x-\udce9"}
        for name in sorted(names):
            want = [raw_text(v) for k, v in view.msg.raw_items() if k.lower() == name.lower()]
            assert view.raw_headers(name) == want, (name, raw[:80])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"\t", b"X: y", b"a", b"\n\n", b"\n \n", b"\x00"]),
                max_size=40).map(b"".join))
def test_header_stats_counts_as_the_line_by_line_count(block: bytes) -> None:
    """`header_stats` counts in C what it counted line by line in Python."""
    fields = sum(1 for line in block.split(b"\n") if line[:1] not in (b"", b" ", b"\t", b"\r"))
    assert header_stats(block, len(block)) == (fields, len(block))


def normalize_by_lines(raw: bytes) -> tuple[bytes, list[str]]:
    """`normalize_header_section` with every block read line by line (no `_plain_block` shortcut)."""
    real = parse._plain_block
    parse._plain_block = lambda block: False  # type: ignore[assignment]
    try:
        return normalize_header_section(raw)
    finally:
        parse._plain_block = real


LINES = st.sampled_from([b"From a@b.test Mon Jan 1 00:00:00 2024", b"From :x", b"From\t: y", b"Subject: a", b"X-Y:b",
                         b" cont", b"\tcont", b"Name :v", b"Name\t:v", b"bad line", b"", b"\x00Bad: v", b":v", b"A:",
                         b"\xe9: v", b"A: \xe9"])
ENDS = st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b""])


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.tuples(LINES, ENDS), max_size=10).map(lambda x: b"".join(a + b for a, b in x)),
       st.sampled_from([b"", b"\r\n\r\nbody: x\r\n", b"\n\nbody\n", b"\r\n"]))
def test_a_plain_block_is_kept_as_the_line_by_line_reading_keeps_it(head: bytes, body: bytes) -> None:
    raw = head + body
    assert normalize_header_section(raw) == normalize_by_lines(raw)
    assert normalize_header_section(raw, header_end(raw)) == normalize_by_lines(raw)


def test_plain_blocks_of_real_mail_are_kept_as_the_line_by_line_reading_keeps_them() -> None:
    files = sorted(p for p in HAM.glob("*/*") if p.is_file())[:500]
    plain = 0
    for f in files:
        raw = f.read_bytes()
        for variant in (raw, raw.replace(b"\n", b"\r\n"), raw.replace(b"\n", b"\r")):
            assert normalize_header_section(variant) == normalize_by_lines(variant), f
            plain += parse._plain_block(variant[:header_end(variant)])
    assert not files or plain  # (the shortcut is taken)


def test_raw_headers_and_lookups_of_names_with_white_space_before_the_colon() -> None:
    """A stored name ending in white space: `get` and `fields_named` read it as its name without it
    (`field_name`), `raw_headers` by its `str.lower` name only (the index keeps both apart)."""
    from gateway.parse import ViewLimits, _BoundedMessage, raw_text

    msg = _BoundedMessage()
    for name, value in (("X-A ", "1"), ("x-a", "2"), ("X-A\t", "3"), ("Subject", "s")):
        msg.set_raw(name, value)
    view = MessageView(raw=b"", limits=ViewLimits(), msg=msg, header_count=4, header_bytes=0)
    for name in ("x-a", "X-A ", "x-a\t", "subject", "x-none"):
        want = [raw_text(v) for k, v in msg.raw_items() if k.lower() == name.lower()]
        assert view.raw_headers(name) == want, name
    assert msg.get("x-a") == "1"
    assert msg.fields_named("x-a") == [("X-A ", "1"), ("x-a", "2"), ("X-A\t", "3")]
    assert "x-a" in msg and "x-a " not in msg
