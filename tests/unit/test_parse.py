from __future__ import annotations

import base64

import pytest

from gateway.parse import HeaderLimitExceeded, MessageView, ViewLimits, header_stats, html_to_text


def test_header_stats_counts_fields_not_continuations() -> None:
    raw = b"A: 1\r\nB: 2\r\n continued\r\nC: 3\r\n\r\nbody: not a header\r\n"
    assert header_stats(raw) == (3, len(b"A: 1\r\nB: 2\r\n continued\r\nC: 3\r\n"))


def test_header_limits_raise() -> None:
    raw = b"".join(b"X-%d: y\r\n" % i for i in range(20)) + b"\r\nbody"
    with pytest.raises(HeaderLimitExceeded):
        MessageView.parse(raw, ViewLimits(max_header_count=10))


def test_bad_charset_and_bad_base64_degrade_to_text() -> None:
    raw = (b"From: A <a@x.test>\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n")
    view = MessageView.parse(raw)
    assert "hello world" in view.plain_text
    assert view.from_address == "a@x.test" and view.from_display == "A"


def test_depth_and_parts_limits_are_flagged_not_raised() -> None:
    body = b"leaf\r\n"
    for i in range(8):
        b = b"b%d" % i
        body = (b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
                + b"\r\n--" + b + b"--\r\n")
    view = MessageView.parse(b"From: a@x.test\r\n" + body, ViewLimits(max_mime_depth=3))
    assert view.text_parts == [] and view.mime_depth_exceeded


def test_text_budget_caps_decoded_text() -> None:
    raw = b"Content-Type: text/plain\r\n\r\n" + b"a" * 5000
    view = MessageView.parse(raw, ViewLimits(max_text_bytes=100))
    assert len(view.plain_text) == 100


def test_html_to_text_skips_script_and_collects_links() -> None:
    text, links = html_to_text('<html><script>evil()</script><p>Hi <a href="https://wa.me/1">there</a></p>')
    assert text == "Hi there" and links == ["https://wa.me/1"]


def test_binary_garbage_never_raises() -> None:
    view = MessageView.parse(bytes(range(256)) * 50)
    assert isinstance(view.body_text, str)


def test_header_the_stdlib_parser_chokes_on_falls_back_to_raw_text() -> None:
    """Regression: a real phishing Message-ID made email.headerregistry raise IndexError, which
    failed the whole analysis (the message went out unchecked)."""
    raw = b"Message-ID: < [an10]. [an6].[anl12] [an11]@cpfl.com.br>\r\nSubject: x\r\n\r\nbody\r\n"
    view = MessageView.parse(raw)
    assert view.header("Message-ID") == "< [an10]. [an6].[anl12] [an11]@cpfl.com.br>"


# ---- hostile header values: linear decoding (guards only; no timed assertions) -------------

BIG = ViewLimits(max_header_bytes=2_000_000, max_header_count=100)


@pytest.mark.timeout(60)
def test_long_whitespace_run_in_a_header_is_unfolded_in_linear_time() -> None:
    """Regression: `\\s*[\\r\\n]+\\s*` backtracked over every run of spaces (100 KB: ~46 s)."""
    raw = b"Subject: a" + b" " * 400_000 + b"b\r\n folded\r\n\r\nbody\r\n"
    view = MessageView.parse(raw, BIG)
    assert view.subject == "a" + " " * 400_000 + "b folded"


@pytest.mark.timeout(60)
def test_encoded_word_flood_is_decoded_in_linear_time() -> None:
    """Regression: email.header.decode_header deletes from a list per dropped space (quadratic)."""
    words = 60_000
    raw = b"Subject: " + b" ".join([b"=?utf-8?q?ab?="] * words) + b"\r\n\r\nbody\r\n"
    assert MessageView.parse(raw, BIG).subject == "ab" * words


def test_encoded_words_join_and_degrade() -> None:
    raw = (b"Subject: =?utf-8?B?w6k=?= =?utf-8?B?w6k=?= x =?x-unknown?q?abc?= =?utf-8?b?!!?=\r\n"
           b"X-Split: =?utf-8?B?8J+Y?= =?utf-8?B?gA==?=\r\n"
           b"X-Charset: =?zlib?b?eJw=?= =?iso-8859-1?q?caf=E9_au_lait?=\r\n\r\nbody\r\n")
    view = MessageView.parse(raw)
    assert view.subject.startswith("\xe9\xe9 x abc")
    assert view.header("X-Split") == "\U0001f600"  # a character split across two words
    assert view.header("X-Charset") == "x\ufffd" + "caf\xe9 au lait"


@pytest.mark.timeout(60)
def test_hostile_encoded_word_syntax_is_linear() -> None:
    raw = b"Subject: " + b"=?a?q?" * 200_000 + b"\r\n\r\nbody\r\n"
    assert MessageView.parse(raw, BIG).subject.startswith("=?a?q?")


@pytest.mark.timeout(60)
def test_mime_parameters_are_read_capped() -> None:
    """Regression: email.message._parseparam is quadratic in ';' (640 KB in one part's
    Content-Type: 10 s; a folded part header is bounded only by the message size)."""
    raw = (b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\n"
           b"Content-Type: text/plain; charset=utf-8" + b";\r\n " * 1_000_000 + b"\r\n\r\nhello\r\n--p--\r\n")
    view = MessageView.parse(raw)
    assert view.plain_text.strip() == "hello"
    assert view.text_parts[0].content_type == "text/plain"
    long_name = "n" * 3000  # a long RFC 2231 filename still reads whole
    raw = (b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\n"
           b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="' + long_name.encode()
           + b'"\r\n\r\nx\r\n--p--\r\n')
    [(leaf, _)] = MessageView.parse(raw).leaf_parts
    assert leaf.get_filename() == long_name


def _tree_depth_and_size(msg: object) -> tuple[int, int]:
    """(deepest nesting, number of entities) of the tree the stdlib parser built."""
    deepest, size, stack = 0, 0, [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        size += 1
        deepest = max(deepest, depth)
        children = part.get_payload()  # type: ignore[attr-defined]
        if isinstance(children, list):
            stack += [(c, depth + 1) for c in children]
    return deepest, size


def _nested(depth: int, *, closed: bool = True) -> bytes:
    """`depth` nested multiparts (each its own boundary), a text leaf at the bottom, then a
    text part beside the outermost multipart's first child."""
    head = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i, i + 1)
                    for i in range(1, depth))
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(2, depth + 1))) if closed else b""
    return (b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" + head
            + b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep leaf\r\n" % depth + tail
            + b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nshallow text\r\n--b1--\r\n")


@pytest.mark.parametrize("closed", [True, False])
def test_the_parser_descends_no_deeper_than_the_depth_limit(closed: bool) -> None:
    """Hostile nesting: the stdlib parser tests every line against every enclosing boundary and
    compiles a regex per boundary (900 levels in 60 KB cost it 1.6 s on the event loop). It now
    stops splitting at `max_mime_depth`; the text beside the deep branch is still read and the
    limit still reported. Before, the parsed tree was 300 deep."""
    view = MessageView.parse(_nested(300, closed=closed), ViewLimits(max_mime_depth=5))
    deepest, _ = _tree_depth_and_size(view.msg)
    assert deepest <= 5
    assert "shallow text" in view.plain_text and "deep leaf" not in view.plain_text
    assert view.mime_depth_exceeded


def test_nesting_within_the_limit_is_parsed_as_before() -> None:
    view = MessageView.parse(_nested(4), ViewLimits(max_mime_depth=5))
    assert "deep leaf" in view.plain_text and "shallow text" in view.plain_text
    assert not view.mime_depth_exceeded and not view.mime_parts_exceeded


def test_a_text_leaf_at_the_depth_limit_is_read_and_no_limit_reported() -> None:
    """The bounded parser marks every entity it makes at `max_mime_depth` as cut, leaves as well as
    multiparts; only a multipart it did not split exceeds the limit. A text part whose parent is
    one level above the limit is read as before, and the view reports no depth exceeded
    (review10: it reported one, a `structure` signal on a message within the limit)."""
    view = MessageView.parse(_nested(5), ViewLimits(max_mime_depth=5))
    assert "deep leaf" in view.plain_text and "shallow text" in view.plain_text
    assert not view.mime_depth_exceeded and not view.mime_parts_exceeded
    one_more = MessageView.parse(_nested(6), ViewLimits(max_mime_depth=5))
    assert "deep leaf" not in one_more.plain_text and one_more.mime_depth_exceeded


def test_the_parser_reads_a_bounded_number_of_parts() -> None:
    """A flat multipart of thousands of tiny parts (100,000 in 7.9 MB cost the parser 14 s of
    GIL): the parser meets at most `DELIMITER_LINES_FACTOR` x `max_mime_parts` delimiter lines,
    the first parts are read and the limit reported. Before, all 3,000 were parsed."""
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(3000))
    raw = b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n" + parts + b"--p--\r\n"
    view = MessageView.parse(raw, ViewLimits(max_mime_parts=50))
    _, size = _tree_depth_and_size(view.msg)
    assert size <= 2 * 50 + 1
    assert "part 0\n" in view.plain_text + "\n" and "part 48" in view.plain_text
    assert view.mime_parts_exceeded and view.header("From") == "a@x.test"


def test_many_multiparts_are_not_all_split() -> None:
    """Each multipart the parser splits costs a compiled boundary regex: after `max_mime_parts`
    entities it splits none (three levels of 40 multiparts: 1,600 of them, limit 30)."""
    inner = b"".join(b"--c%d\r\nContent-Type: multipart/mixed; boundary=\"d%d\"\r\n\r\n--d%d\r\n\r\nx\r\n--d%d--\r\n"
                     % (i, i, i, i) for i in range(1))
    outer = b"".join(b"--a\r\nContent-Type: multipart/mixed; boundary=\"c%d\"\r\n\r\n%s--c%d--\r\n"
                     % (i, inner.replace(b"c0", b"c%d" % i), i) for i in range(40))
    raw = b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" + outer + b"--a--\r\n"
    view = MessageView.parse(raw, ViewLimits(max_mime_parts=30))
    _, size = _tree_depth_and_size(view.msg)
    assert size <= 30 + 40 + 1  # the entities up to the limit, then the outer parts unsplit
    view.leaf_parts
    assert view.mime_parts_exceeded


def test_lines_beginning_with_dashes_in_a_text_message_are_all_read() -> None:
    """The delimiter-line cap applies to what the parser splits (multipart, message/*): a plain
    text of thousands of "-- comment" lines is read whole and reports no limit."""
    raw = b"From: a@x.test\r\nContent-Type: text/plain\r\n\r\n" + b"-- a comment\r\n" * 3000 + b"last line\r\n"
    view = MessageView.parse(raw, ViewLimits(max_mime_parts=50))
    assert view.plain_text.count("-- a comment") == 3000 and "last line" in view.plain_text
    assert not view.mime_parts_exceeded
    folded = raw.replace(b"Content-Type: text/plain", b"Content-Type:\r\n multipart/mixed; boundary=p")
    assert MessageView.parse(folded, ViewLimits(max_mime_parts=50)).mime_parts_exceeded


def test_many_parameters_in_many_parts_are_read_once_and_capped() -> None:
    """attack19 finding 3: 500 parts with 99 Content-Type parameters each. Every part is read, a
    parameter within the cap (the 99th) is read, after it only a parameter a reader acts on (the
    charset: the first one counts, as everywhere); a field changed after a read is read again (the
    parsed parameters are kept per field value)."""
    filler = b"a=b; " * 98
    parts = b"".join(b"--b\r\nContent-Type: text/plain; " + filler + b"charset=iso-8859-1; " * (i % 2)
                     + b"a=b; charset=koi8-r\r\n\r\nx%d\r\n" % i for i in range(450))
    raw = b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    view = MessageView.parse(raw)
    assert len(view.leaf_parts) == 450 and not view.mime_parts_exceeded
    assert [p.text for p in view.text_parts][:3] == ["x0", "x1", "x2"] and len(view.text_parts) == 450
    charsets = [leaf.get_content_charset() for leaf, _ in view.leaf_parts]
    assert charsets == ["koi8-r", "iso-8859-1"] * 225  # koi8-r, the 100th/101st parameter, read when the first
    leaf = view.leaf_parts[0][0]
    assert leaf.get_params()[1:] == [("a", "b")] * 99 + [("charset", "koi8-r")]
    junk = view.leaf_parts[1][0].get_params()
    assert junk[1:] == [("a", "b")] * 98 + [("charset", "iso-8859-1"), ("charset", "koi8-r")]  # the a=b between: cut
    leaf.replace_header("Content-Type", "text/plain; charset=utf-8")
    assert leaf.get_content_charset() == "utf-8"


def _html_message(html: str) -> bytes:
    return (b"From: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            + html.encode())


def test_html_markup_and_comments_do_not_use_the_text_budget() -> None:
    """Session 20: 1.3 MB of an HTML comment before an approach's text used up max_text_bytes of
    markup and left the text unread (the approach scanned caution). The budget counts what a
    reader sees: comments, scripts, styles and tags do not use it."""
    pad = "<!-- " + "lorem ipsum " * 2_000 + " --><script>" + "x" * 10_000 + "</script>" + "<b></b>" * 2_000
    view = MessageView.parse(_html_message(f"<html><body>{pad}<p>the approach's text</p></body></html>"),
                             ViewLimits(max_text_bytes=10_000))
    assert view.html_text == "the approach's text" and not view.text_cut
    assert sum(len(p.shown) for p in view.text_parts) <= 10_000


def test_text_beyond_the_budget_is_noted() -> None:
    limits = ViewLimits(max_text_bytes=1_000)
    shown = MessageView.parse(_html_message("<div style=display:none>" + "word " * 400 + "</div><p>text</p>"), limits)
    assert shown.text_cut and len(shown.html_text) == 1_000  # hidden by CSS, which the gateway does not read
    plain = MessageView.parse(b"Content-Type: text/plain\r\n\r\n" + b"a" * 1_001, limits)
    assert plain.text_cut and len(plain.plain_text) == 1_000
    exact = MessageView.parse(b"Content-Type: text/plain\r\n\r\n" + b"a" * 1_000, limits)
    assert not exact.text_cut and len(exact.plain_text) == 1_000
    two = (b"From: a@x.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
           + b"a" * 1_000 + b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n")
    second = MessageView.parse(two, limits)
    assert second.text_cut and "second" not in second.plain_text  # a whole part left unread
    assert not MessageView.parse(two.replace(b"a" * 1_000, b"a" * 900), limits).text_cut
    # a body cut before the parser (over TEXT_BODY_FACTOR times the budget): base64 markup decodes
    # to less than the markup cap, but its end was never read
    body = base64.encodebytes(("<!--" + "x" * 9_000 + "--><p>end</p>").encode())
    cut = MessageView.parse(b"From: a@x.test\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                            + body, ViewLimits(max_text_bytes=1_000), skeleton_above=0)
    assert cut.text_cut and "end" not in cut.html_text


@pytest.mark.parametrize("fields,read", [
    (b'Content-Type: text/plain; name="letter.txt"\r\n', True),
    (b'Content-Type: text/plain\r\nContent-Disposition: inline; filename="letter.txt"\r\n', True),
    (b'Content-Type: text/html; name="letter.html"\r\n', True),
    (b'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="letter.txt"\r\n', False),
    (b'Content-Type: text/plain\r\nContent-Disposition: ATTACHMENT\r\n', False),
])
def test_a_named_text_part_is_read_unless_it_is_an_attachment(fields: bytes, read: bool) -> None:
    """What the reader sees is read: a text part with a file name but no `attachment`
    disposition is shown in the body (RFC 2183; Thunderbird, Apple Mail). Session 20: an
    approach's text in an inline letter.txt behind a one-line body scanned caution."""
    raw = (b"From: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nSee my letter.\r\n--b\r\n" + fields
           + b"\r\n<p>the letter</p>\r\n--b--\r\n")
    view = MessageView.parse(raw)
    texts = " ".join([view.plain_text, view.html_text])
    assert ("the letter" in texts) is read, texts
    assert "See my letter." in view.plain_text
