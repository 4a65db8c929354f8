"""Delimiter lines with more after the boundary (`--XX note`, RFC 2046 5.1.1, as Dovecot reads
them): found in one bounded pass (`gateway.mimewalk.loose_delimiters`) and written exactly for the
parser (`exact_delimiters`). The differential test against Dovecot is
tests/integration/test_reads_as_dovecot.py; these are the unit-level bounds and spellings."""

from __future__ import annotations

import random
import re

import pytest

import gateway.parse
from gateway import mimewalk
from gateway.act.banner import Banner, insert_banner
from gateway.mimewalk import loose_delimiters
from gateway.parse import MessageView

HEAD = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"


def _loose_scan_message(k: int, boundary: bytes) -> bytes:
    """attack22 finding 3's shape: k empty multiparts with `boundary` (numbered: the same boundary
    twice sends the message to the walk at once) and lines full of dashes."""
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="Q"\r\n\r\n--Q\r\nContent-Type: text/plain\r\n\r\nHi\r\n']
    out += [b"x" + b"-" * 97 + b"\r\n"] * 50
    out += [b'--Q\r\nContent-Type: multipart/mixed; boundary="' + boundary + b'%d"\r\n\r\n' % i for i in range(k)]
    out.append(b"--Q--\r\n")
    return b"".join(out)


def test_the_lines_are_scanned_once_for_all_the_multiparts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counted(raw: bytes, boundaries: object, start: int = 0) -> bool:
        calls.append(start)
        return loose_delimiters(raw, boundaries, start)  # type: ignore[arg-type]

    monkeypatch.setattr(gateway.parse, "loose_delimiters", counted)
    MessageView.parse(_loose_scan_message(40, b"-"))
    assert len(calls) == 1


def test_a_line_costs_one_lookup_per_boundary_length_not_per_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's Python steps: one per line beginning with "--" and distinct boundary length."""
    steps = [0]

    class Counted(set[bytes]):
        def __contains__(self, item: object) -> bool:
            steps[0] += 1
            return super().__contains__(item)

    monkeypatch.setattr(mimewalk, "set", Counted, raising=False)
    raw = HEAD + b"\r\n" + b"".join(b"--" + b"x" * 60 + b"\r\n" for _ in range(100))
    assert not loose_delimiters(raw, [f"b{i:03d}" for i in range(300)] + ["y", "yy"], len(HEAD) + 2)
    assert steps[0] <= 100 * 3  # three lengths (4, 1, 2) per line; was a step per boundary per "--"+boundary


@pytest.mark.parametrize(("body", "boundaries", "loose"), [
    (b"--XX\r\nx\r\n--XX--\r\n", ["XX"], False),
    (b"--XX \t\r\nx\r\n--XX--  \r\n", ["XX"], False),
    (b"--XX note\r\nx\r\n--XX--\r\n", ["XX"], True),
    (b"--XX\r\nx\r\n--XX--junk\r\n", ["XX"], True),
    (b"--XX\r\nx\r\n--XX_alt\r\n", ["XX", "XX_alt"], True),  # loose for XX (the walk decides whose it is)
    (b"--YY note\r\n", ["XX"], False),
    (b"x--XX note\r\n", ["XX"], False),  # not at a line start
    (b"--XX note\r\n", ["X\u00e9", "", "X" * 201], False),  # boundaries the walk refuses are skipped
    (b"--XXX note\r\n", ["X" * 201, "XX"], True),
    (b"--XX\r note\n", ["XX"], False),  # a bare CR ends the line as it does for the parser
    (b"--XX note", ["XX"], True),  # the last line without a line break
])
def test_loose_lines(body: bytes, boundaries: list[str], loose: bool) -> None:
    raw = HEAD + b"\r\n" + body
    assert loose_delimiters(raw, boundaries, len(HEAD) + 2) is loose
    assert loose_delimiters(raw, boundaries[::-1], len(HEAD) + 2) is loose


def test_the_first_body_line_counts_only_at_a_line_start() -> None:
    assert loose_delimiters(b"--XX note\n", ["XX"], 0)
    assert not loose_delimiters(b"a--XX note\n", ["XX"], 1)


HIDDEN = (HEAD + b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n'
          b"See the note.\r\n--XX note\r\nContent-Type: text/plain\r\n\r\nCould we continue on WhatsApp?\r\n")
UNSPLITTABLE = {
    "empty": b'Content-Type: multipart/mixed; boundary="ZZ"\r\n\r\nnothing here\r\n',
    "non-ASCII": b'Content-Type: multipart/mixed; boundary="Z\xc3\xa9"\r\n\r\n--Z\xc3\xa9\r\n'
                 b'\r\nx\r\n--Z\xc3\xa9--\r\n',
    "no boundary": b"Content-Type: multipart/mixed\r\n\r\nnothing\r\n",
}


@pytest.mark.parametrize("decoy", sorted(UNSPLITTABLE))
@pytest.mark.parametrize("first", [True, False])
def test_a_multipart_the_walk_cannot_split_is_one_part_and_the_rest_is_read(decoy: str, first: bool) -> None:
    d = b"--XX\r\n" + UNSPLITTABLE[decoy]
    raw = (HIDDEN.replace(b"--XX\r\n", b"--XX\r\n" + UNSPLITTABLE[decoy] + b"--XX\r\n", 1) if first
           else HIDDEN + d) + b"--XX--\r\n"
    root = mimewalk.walk(raw, lenient=True)
    assert [c.content_type for c in root.children] == (["multipart/mixed", "text/plain", "text/plain"] if first
                                                        else ["text/plain", "text/plain", "multipart/mixed"])
    assert not [c for c in root.children if c.maintype == "multipart"][0].children
    assert b"--XX note" not in mimewalk.exact_delimiters(raw)
    view = MessageView.parse(raw)
    assert any("WhatsApp" in p.text for p in view.text_parts)


def test_the_top_multipart_unsplittable_still_gives_up() -> None:
    with pytest.raises(mimewalk.MimeError):
        mimewalk.walk(HEAD + UNSPLITTABLE["no boundary"])


TEXT = b"Content-Type: text/plain\r\n\r\nCould we continue on WhatsApp?\r\n"
NOTE = b"Content-Type: text/plain\r\n\r\nSee the note.\r\n"
NESTED_SAME = (HEAD + b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
               b'Content-Type: multipart/alternative; boundary="XX"\r\n\r\n--XX\r\n' + NOTE
               + b"--XX--\r\n--XX\r\n" + TEXT + b"--XX--\r\n")
NESTED_DASHED = (HEAD + b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: multipart/mixed;'
                 b' boundary="XX--"\r\n\r\n--XX--\r\n' + NOTE + b"--XX--\r\n" + TEXT + b"--XX----\r\n--XX\r\n" + NOTE
                 + b"--XX--\r\n")


@pytest.mark.parametrize("raw", [NESTED_SAME, NESTED_DASHED, NESTED_SAME.replace(b"\r\n", b"\n")])
def test_a_nested_boundary_that_repeats_the_outer_one_is_read_innermost_first(raw: bytes) -> None:
    root = mimewalk.walk(raw, lenient=True)
    assert [c.content_type for c in root.children][0].startswith("multipart/")
    assert [len(c.children) for c in root.children] == [2 if raw is NESTED_DASHED else 1, 0]
    exact = mimewalk.exact_delimiters(raw)
    assert exact != raw and b"=_gateway_nested_1_" in exact
    view = MessageView.parse(raw)
    assert any("WhatsApp" in p.text for p in view.text_parts)


def test_a_fresh_boundary_is_not_in_the_message() -> None:
    """The renamed boundary occurs nowhere in the message, also when the message holds the readable
    name followed by a long run of one letter (growing the name letter by letter scanned the whole
    message once per letter of the run)."""
    for text in (b"=_gateway_nested_1_ =_gateway_nested_1_x", b"=_gateway_nested_1_" + b"x" * 50_000):
        raw = NESTED_SAME.replace(b"See the note.", text)
        exact = mimewalk.exact_delimiters(raw)
        fresh = re.findall(rb"=_gateway_nested_1_[0-9a-f]{16}", exact)
        assert fresh and all(f not in raw for f in fresh), fresh[:2]
        assert not re.search(rb"=_gateway_nested_1_x{2}", exact.replace(text, b""))


def _prefix_nested(depth: int, loose: int) -> bytes:
    """attack22 finding 13's shape: `depth` multiparts whose boundaries each extend the one
    around them (B, B1, B11 ...), the innermost opened by `loose` lines '--B1..1 note'."""
    bs = [b"B" + b"1" * i for i in range(depth)]
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n']
    out += [b"--" + bs[i] + b'\r\nContent-Type: multipart/mixed; boundary="' + bs[i + 1] + b'"\r\n\r\n'
            for i in range(depth - 1)]
    out += [b"--" + bs[-1] + b" note\r\nContent-Type: text/plain\r\n\r\ntext %d\r\n" % i for i in range(loose)]
    out += [b"--" + b + b"--\r\n" for b in reversed(bs)]
    return b"".join(out)


def test_each_nested_header_block_is_read_once_whatever_the_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = [0]
    parse = mimewalk._PARSER.parsebytes

    def counted(text: bytes, headersonly: bool = False) -> object:
        reads[0] += 1
        return parse(text, headersonly)

    monkeypatch.setattr(mimewalk._PARSER, "parsebytes", counted)
    for depth in (2, 20):
        reads[0] = 0
        root = mimewalk.walk(_prefix_nested(depth, 200), lenient=True)
        assert len(root.walk()) == depth + 200
        # a block per entity and per line the innermost-first reading looks behind: not per level
        assert reads[0] <= 2 * (depth + 200) + depth, (depth, reads[0])


LONG = b"Y" * 100


@pytest.mark.parametrize("line", [LONG[:80], LONG[:80] + b"X note", LONG + b" note"])
def test_a_long_boundary_is_matched_by_its_first_80_characters_as_dovecot_does(line: bytes) -> None:
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="' + LONG + b'"\r\n\r\n--' + LONG + b"\r\n" + NOTE
           + b"--" + line + b"\r\n" + TEXT + b"--" + LONG + b"--\r\n")
    assert len(mimewalk.walk(raw, lenient=True).children) == 3  # the close line opens a part in Dovecot too
    exact = mimewalk.exact_delimiters(raw)
    assert exact.count(b"--" + LONG + b"\r\n") == 3  # every line written whole for the parser
    assert any("WhatsApp" in p.text for p in MessageView.parse(raw).text_parts)


def test_a_long_boundary_written_whole_is_left_as_it_is() -> None:
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="' + LONG + b'"\r\n\r\n--' + LONG + b"\r\n" + NOTE
           + b"--" + LONG + b"\r\n" + TEXT)
    assert mimewalk.exact_delimiters(raw) is raw
    assert MessageView.parse(raw).defects == []


def _long_shared(outer: bytes, inner: bytes) -> bytes:
    """attack23 B1: a nested multipart whose 100-character boundary shares its first 80 with the
    enclosing one's; the text after the nested one's close delimiter."""
    return (HEAD + b'Content-Type: multipart/mixed; boundary="' + outer + b'"\r\n\r\n--' + outer + b"\r\n"
            + b'Content-Type: multipart/mixed; boundary="' + inner + b'"\r\n\r\n--' + inner + b"\r\n" + NOTE
            + b"--" + inner + b"--\r\n--" + outer + b"\r\n" + TEXT + b"--" + outer + b"--\r\n")


def test_a_nested_long_boundary_sharing_80_characters_is_closed_whole_for_the_banner() -> None:
    """The banner's walk (not lenient: the stdlib parser checks its edit) closes a long boundary's
    multipart at its whole close delimiter; a nested one's too, so the enclosing multipart keeps
    the lines after it and its own close (it had none: no banner, while Dovecot and the analysis
    read the text)."""
    raw = _long_shared(LONG[:80] + b"A" * 20, LONG[:80] + b"B" * 20)
    root = mimewalk.walk(raw)
    assert [c.content_type for c in root.children] == ["multipart/mixed", "text/plain"]
    assert len(root.children[0].children) == 1
    assert len(mimewalk.walk(raw, lenient=True).children) == 1  # Dovecot's reading: every line the nested one's
    assert any("WhatsApp" in p.text for p in MessageView.parse(raw).text_parts)
    out = insert_banner(raw, Banner(plain="WARNING\n", html="<p>WARNING</p>\n"))
    assert out.replace(b"\r\n\r\nWARNING\r\n", b"\r\n\r\n", 1) == raw != out


def _shared_nested(levels: int, parts: int) -> bytes:
    """attack23 C1: nested multiparts whose 100-character boundaries share their first 80."""
    bs = [LONG[:80] + b"%020d" % i for i in range(levels + 1)]
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="' + bs[0] + b'"\r\n\r\n']
    out += [b"--" + bs[i] + b'\r\nContent-Type: multipart/mixed; boundary="' + bs[i + 1] + b'"\r\n\r\n'
            for i in range(levels)]
    out += [b"--" + bs[levels] + b"\r\n" + NOTE] * parts
    out += [b"--" + b + b"--\r\n" for b in reversed(bs)]
    return b"".join(out)


def test_lines_shared_by_nested_boundaries_are_found_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every level's boundary matches every line below it (the same 80 characters): the lines are
    found by one scan and each level takes its slice, not one scan (and a Delimiter per line) per level."""
    scans: list[int] = []
    lines = mimewalk._lines

    def counted(raw: bytes, boundary: str, start: int, end: int) -> list[mimewalk.Delimiter]:
        found = lines(raw, boundary, start, end)
        scans.append(len(found))
        return found

    monkeypatch.setattr(mimewalk, "_lines", counted)
    raw = _shared_nested(19, 200)
    for lenient in (True, False):
        scans.clear()
        root = mimewalk.walk(raw, lenient=lenient)
        assert len(root.walk()) == 20 + 200 + (20 if lenient else 0)  # Dovecot: the close lines open parts
        assert len(scans) == 1 and scans[0] == 19 + 200 + 20, scans  # openers, parts, close lines


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 50])
def test_a_slice_of_the_lines_found_is_what_a_scan_of_the_range_finds(cut: int) -> None:
    raw = _shared_nested(3, 5)
    b = (LONG[:80] + b"%020d" % 0).decode()
    everything = mimewalk._lines(raw, b, 0, len(raw))
    cache: mimewalk.LineCache = {}
    mimewalk._cached_lines(raw, b, 0, len(raw), cache)
    for d in everything:
        for start, end in ((d.start, len(raw)), (d.start + 1, d.end - cut), (0, d.start + 82 + cut), (d.start, d.end)):
            if start <= end:
                assert mimewalk._cached_lines(raw, b, start, end, cache) == mimewalk._lines(raw, b, start, end)


def _reading(raw: bytes, lenient: bool) -> object:
    try:
        root = mimewalk.walk(raw, lenient=lenient)
    except mimewalk.MimeError as exc:
        return str(exc)
    return [(e.start, e.body_start, e.end, e.delimiters) for e in root.walk()]


def _random_nested(rng: random.Random, b: bytes, depth: int) -> bytes:
    """Lines that begin with `b`, its first 80 characters or a shared prefix, loose and close,
    part headers opening multiparts whose boundaries share `b`'s prefix (one spelled with a
    space before the colon: read differently by the two header readers)."""
    out = []
    for _ in range(rng.randint(0, 5)):
        line = rng.choice([b, b[:80], LONG[:80], LONG[:80] + b"A" * 20])
        out.append(b"--" + line + rng.choice([b"", b"", b" note", b"--", b"--x"]) + rng.choice([b"\r\n", b"\n"]))
        if rng.random() < 0.35 and depth < 5:
            nb = rng.choice([LONG[:80] + rng.choice([b"A", b"B", b""]) * rng.randint(0, 20), LONG[:rng.randint(1, 80)]])
            field = rng.choice([b"Content-Type: ", b"Content-Type : "])
            out.append(field + b'multipart/mixed; boundary="' + nb + b'"\r\n' + rng.choice([b"\r\n", b""]))
            out.append(_random_nested(rng, nb, depth + 1))
        else:
            out.append(NOTE)
    if rng.random() < 0.7:
        out.append(b"--" + rng.choice([b, b[:80]]) + b"--\r\n")
    return b"".join(out)


def test_the_lines_kept_from_an_enclosing_reading_read_as_the_nested_ones_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A nested multipart whose boundary as matched is the enclosing one's takes the lines the
    enclosing one's innermost-first reading gave it (`OwnedLines`): the walk reads every message
    as it does reading each level again (the reading without them, `_innermost` given no
    `owned`), shared-prefix shapes, deep stacks past MAX_STACK, and random spellings."""
    cases = [_shared_nested(levels, 30) for levels in (3, 19, 21, 25)]
    cases += [_shared_nested(19, 30).rsplit(b"--" + LONG[:80], 3)[0], _long_shared(LONG, LONG[:80] + b"B" * 20)]
    for seed in range(300):
        rng = random.Random(seed)
        b = rng.choice([LONG, LONG[:80] + b"A" * 20, LONG[:40]])
        cases.append(HEAD + b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n' + _random_nested(rng, b, 0))
    kept = [_reading(raw, lenient) for raw in cases for lenient in (True, False)]
    innermost = mimewalk._innermost
    monkeypatch.setattr(mimewalk, "_innermost", lambda *a: innermost(*a[:7]))  # no `owned`: each level read
    assert [_reading(raw, lenient) for raw in cases for lenient in (True, False)] == kept


def test_each_line_is_read_once_by_the_innermost_first_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """attack23 C1: with 19 levels sharing one 80-character prefix, each level's innermost-first
    reading went through every line below it (19 x 1,500 lines), and read each text part's
    header with the stdlib parser to learn it opens no multipart."""
    read: list[int] = []
    innermost = mimewalk._innermost
    parses = [0]
    parse = mimewalk._PARSER.parsebytes

    def counted(*a: object) -> list[mimewalk.Delimiter]:
        read.append(len(a[2]))  # type: ignore[arg-type]
        return innermost(*a)  # type: ignore[arg-type]

    def parsed(text: bytes, headersonly: bool = False) -> object:
        parses[0] += 1
        return parse(text, headersonly)

    monkeypatch.setattr(mimewalk, "_innermost", counted)
    monkeypatch.setattr(mimewalk._PARSER, "parsebytes", parsed)
    raw = _shared_nested(19, 400)
    root = mimewalk.walk(raw, lenient=True)
    assert len(root.walk()) == 20 + 400 + 20
    assert sum(read) <= 19 + 400 + 20, read  # the lines once (was 19 levels of them: 8,000)
    assert parses[0] <= 2 * 20 + 440, parses  # each entity's own block, and the multiparts' once more
