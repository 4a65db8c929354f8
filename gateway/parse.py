"""A bounded, read-only view of one message's raw bytes.

Purpose: every check reads the message through `MessageView`, never through the raw bytes, so the
caps below hold for all of them: header count and bytes, MIME depth and part count, and the amount
of decoded text. The original bytes are kept untouched; changes are edits applied later.

The structure is parsed with the stdlib's `compat32` policy and header values are decoded here
(RFC 2047, raw 8-bit as UTF-8): `policy.default`'s header objects cost ~0.14 ms per access and
were most of the analysis CPU (scan went from 3.0 to 2.25 ms per message, benchmarks/scan_bench.py).

Untrusted input: the whole message, from a stranger. Malformed MIME, unknown or lying charsets,
broken base64 and absurd nesting must never raise out of this module: they become `defects`.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.feedparser import BytesFeedParser
from email.message import Message
from functools import cached_property
from io import StringIO
from typing import Any

from gateway.charsets import decode_text
from gateway.html_text import MarkupBudget, differing_words, html_scan, html_to_text
from gateway.mailboxes import Mailbox, parse_address_fields
from gateway.mimewalk import (
    DOVECOT_BOUNDARY,
    MIME_FIELDS,
    SPACED_PART_FIELD,
    MimeError,
    attached,
    exact_delimiters,
    field_name,
    loose_delimiters,
    mime_field,
    spaced_part_field_in,
    walk,
)
from gateway.rfc2047 import decode_words
from gateway.textsafe import (
    MAX_FOLDED,
    MAX_REORDERED,
    MAX_SPACED,
    drop_narrow_by_blank,
    has_lookalikes,
    has_rtl_letters,
    join_split_words,
    letter_spaced,
    overrides_in,
    plain_spaces,
    read_lookalikes,
    reading_order,
    visible_text,
)

__all__ = ["HeaderLimitExceeded", "Mailbox", "MessageView", "TextPart", "ViewLimits", "addresses",
           "decode_header_value", "from_identity", "header_end", "header_fields", "header_stats", "html_to_text",
           "normalize_header_section", "split_header_block"]

from gateway.errors import MessageRejected

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LINE_ENDINGS = re.compile(rb"\r\n|\r|\n")


def has_bare_newline(raw: bytes) -> bool:
    """A lone CR or LF: the raw material of SMTP smuggling (CVE-2023-51764 and kin)."""
    return _BARE.search(raw) is not None


def normalize_newlines(raw: bytes) -> bytes:
    """Every CR, LF or CRLF becomes CRLF (Postfix's smtpd_forbid_bare_newline=normalize)."""
    return _LINE_ENDINGS.sub(b"\r\n", raw)
_ADDR_SPEC = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_FIELD_START = re.compile(rb"^[^ \t\r\n]", re.M)
_NEWLINES = re.compile(r"[\r\n]+")
_SURROGATE = re.compile("[\udc80-\udcff]")


def addresses(values: list[str]) -> list[str]:
    """Lower-cased addresses of RAW address-list header values (`MessageView.raw_headers`,
    never decoded ones: see gateway/mailboxes.py), in order."""
    return [m.address for m in parse_address_fields(values)]


@dataclass(frozen=True)
class ViewLimits:
    max_header_count: int = 1000
    max_header_bytes: int = 102_400
    max_mime_depth: int = 20
    max_mime_parts: int = 500
    max_text_bytes: int = 1_048_576


class HeaderLimitExceeded(MessageRejected, ValueError):
    """The header block is larger than the configured limits (the receiver rejects with 552)."""


def header_end(raw: bytes) -> int:
    """Where the header block ends (after its final line break; len(raw) if there is no blank
    line): `raw[:header_end(raw)]` is the header block, the rest is the blank line and body.
    The first match of `\\r?\\n\\r?\\n` (`_HEADER_END`), found as its first LF followed by
    CRLF or LF with two `bytes.find` (a third of the regex's cost: it cannot skip ahead)."""
    crlf = raw.find(b"\n\r\n")
    lf = raw.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(raw))
    nl = lf if lf >= 0 else crlf
    if nl < 0:
        return len(raw)
    start = nl - 1 if nl and raw[nl - 1] == 0x0D else nl  # the match starts at the CR before it
    return start + (2 if raw[start:start + 2] == b"\r\n" else 1)


def split_header_block(raw: bytes) -> tuple[bytes, bytes]:
    """(header block including its final line break, rest). No blank line: all header.
    The rest is a copy: where the body is large, slice with `header_end` instead."""
    cut = header_end(raw)
    return raw[:cut], raw[cut:]


# A field line: a name of RFC 5322 ftext (printable ASCII but ':'), optional WSP before the colon
# (obs-optional, RFC 5322 section 4.5.8 obs-syntax: Dovecot and Postfix read it as the same name).
_FIELD_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")


def header_fields(block: bytes) -> list[bytes]:
    """A raw header block split into whole fields (continuation lines kept with their field)."""
    fields: list[list[bytes]] = []
    for line in block.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1].append(line)  # joined once below: no quadratic bytes concatenation
        else:
            fields.append([line])
    return [b"".join(f) for f in fields]




def normalize_header_section(raw: bytes, cut: int | None = None) -> tuple[bytes, list[str]]:
    """The message with an unambiguous header section, and notes on what was changed.

    Readers disagree about a header block line that is not a valid field (a name with NUL,
    control, 8-bit or space characters, no colon at all, a first line that starts with
    whitespace): Postfix's cleanup and the stdlib parser end the header section there (Postfix
    inserts the empty line), Dovecot and Sieve read on to the empty line and truncate a name at
    NUL, so `X-Approach-Verdict\\0: high` was a verdict to Sieve. Here the header section ends at
    the first such line and the empty line is inserted before it, as Postfix does: that line
    and everything after it are body text for every reader (nothing is deleted: a message
    without its empty line keeps its text), and nothing after it can be read as a header by
    anyone. Whitespace before a field's colon is removed (`Name :` -> `Name:`, as Postfix
    writes it). A first line `From ...` (mbox separator) is kept as the stdlib reads it.
    Used for the analysis (`MessageView.parse`) and for the relayed bytes
    (`gateway.act.headers.apply_edits`), so what is analysed is what is delivered. `cut`:
    `header_end(raw)` when the caller has it."""
    cut = header_end(raw) if cut is None else cut
    block = raw[:cut]
    if _plain_block(block):
        return raw, []
    rest = memoryview(raw)[cut:]  # the body is not copied unless changed
    out: list[bytes] = []
    notes: list[str] = []
    kept_field = False
    lines = block.splitlines(keepends=True)
    for idx, line in enumerate(lines):
        if kept_field and line[:1] in (b" ", b"\t"):
            out.append(line)
            continue
        m = _FIELD_LINE.match(line)
        if m:
            if m.group(2):
                line = m.group(1) + line[m.end() - 1:]
                notes.append("whitespace before a header colon")
            out.append(line)
            kept_field = True
            continue
        if idx == 0 and line.startswith(b"From "):
            out.append(line)
            kept_field = True
            continue
        eol = b"\r\n" if line.endswith(b"\r\n") or not line.endswith(b"\n") else b"\n"
        notes.append("invalid header line: header ended before it")
        return b"".join([*out, eol, *lines[idx:], rest]), notes
    if not notes:
        return raw, notes
    return b"".join([*out, rest]), notes


# `_plain_block`: a field's name and its colon, with no white space between them; a line break that
# starts a line which is neither that nor a continuation line (found from its LF: a literal prefix)
_PLAIN_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_UNPLAIN_LINE = re.compile(rb"\n(?![ \t]|[\x21-\x39\x3b-\x7e]+:|\Z)")


def _plain_block(block: bytes) -> bool:
    """True only for a header block `block` that `normalize_header_section` keeps as it is, found
    without reading it line by line (C-speed counts and scans; most mail; a False sends the block to
    the line-by-line reading, which may keep it too): its lines end in LF or CRLF only (no CR
    alone: the lines that start after an LF are all the others `bytes.splitlines` makes), its
    first line is a field with no white space before its colon or a `From ` line that is not a
    field (`From :` is one to normalise), and each other line is such a field or a continuation
    (`_UNPLAIN_LINE` finds none)."""
    if block.count(b"\r") != block.count(b"\r\n"):
        return False
    if _PLAIN_FIELD.match(block) is None and (not block.startswith(b"From ") or _FIELD_LINE.match(block)):
        return not block  # (an empty block: no line to read)
    return _UNPLAIN_LINE.search(block) is None


def header_stats(raw: bytes, cut: int | None = None) -> tuple[int, int]:
    """(field count, header bytes) of the raw header block, without parsing it: the lines that
    start with neither whitespace nor a line break (`_FIELD_START`): all lines less the others,
    which `_NOT_FIELD_LINE` finds from their LF (a literal prefix: a third fewer instructions than
    splitting the block and testing each line in Python). `cut`: `header_end(raw)` when the
    caller has it."""
    block = raw[:header_end(raw) if cut is None else cut]
    lines = block.count(b"\n") + 1
    not_fields = len(_NOT_FIELD_LINE.findall(block)) + (block[:1] in _NOT_FIELD_START)
    return lines - not_fields, len(block)


_NOT_FIELD_START = (b"", b" ", b"\t", b"\r", b"\n")  # the first line's (b"\n": it is empty)
_NOT_FIELD_LINE = re.compile(rb"\n(?=[ \t\r\n]|\Z)")  # a later line's


# MIME fields: read as mail readers read them, parameters capped (gateway/mimewalk.py `mime_field`).


# message/delivery-status (RFC 3464) and message/global-delivery-status (RFC 6533) bodies are
# blocks of fields separated by blank lines. The stdlib parser makes one Message per block (and per
# blank line), which nothing counted against max_mime_parts: 248 KB of blank lines cost ~0.9 s of
# CPU on the event loop, ~4 s and ~250 MB per MB. Here such a body is read as one payload, like a
# text part's (`_BoundedFeedParser._parse_headers`), and analysed as text/plain (`text_parts`), so
# prose placed in one is still read; the entity is one leaf part.
OPAQUE_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})


class _BoundedMessage(Message):
    """compat32 Message whose parameter headers are read capped (see MAX_PARAMS): every
    parameter lookup -- the parser's own boundary lookup too -- goes through `get`.

    `get` and `in` read an index of the fields of each (lower-cased) name instead of
    scanning every field with `str.lower` per lookup: the parser, `get_content_type`,
    `get_filename`, `get_param` and `get_payload` look up a part's Content-* fields about a
    dozen times, each a scan of all its fields (~40 on a top-level part), and the structure
    check asks for every Content-Type and Content-Disposition field (`fields_named`). The index
    is built from the field list it was made for and rebuilt when that list is replaced
    (`__delitem__`, `set_boundary`) or grows (`set_raw`, `__setitem__`, `add_header`); the one
    change in place, `replace_header`, drops it. `get_content_type` is remembered per index (and
    default type): a new index, a new reading. The index has the fields by `str.lower` name too,
    what `MessageView.raw_headers` reads (the same dict where no name ends in white space)."""

    # (the field list indexed, its length, the fields of each name (`field_name`) in order, the
    # fields of each `str.lower` name in order); its dicts are never changed once made, and hold
    # tuples, so that no reader can change what another reads (review40b #1). The list is changed in
    # place only by `replace_header`, which drops the index: a same-length edit of `_headers[i]`
    # would not be seen (nothing here writes one; review40b #2)
    _index: tuple[list[tuple[str, Any]], int, dict[str, tuple[tuple[str, Any], ...]],
                  dict[str, tuple[tuple[str, Any], ...]]] | None = None
    # (the index it was read from, the default type it was read with, the content type)
    _ctype: tuple[object, str, str] | None = None
    # why the parser did not read this entity as a multipart ("depth", "parts"; "" when it did):
    # see _BoundedFeedParser
    cut: str = ""
    # true only while the parser reads this OPAQUE_TYPES entity's body: the parser then sees a
    # type whose body is one payload (see _BoundedFeedParser._parse_headers)
    opaque: bool = False

    def get_content_type(self) -> str:
        if self.opaque:
            return "application/octet-stream"
        index = self._indexed()
        memo = self._ctype
        default = self._default_type  # type: ignore[attr-defined]
        if memo is not None and memo[0] is index and memo[1] == default:
            return memo[2]
        ctype = super().get_content_type()
        self._ctype = (index, default, ctype)
        return ctype

    def _indexed(self) -> tuple[list[tuple[str, Any]], int, dict[str, tuple[tuple[str, Any], ...]],
                                dict[str, tuple[tuple[str, Any], ...]]]:
        headers = self._headers  # type: ignore[attr-defined]
        index = self._index
        if index is None or index[0] is not headers or index[1] != len(headers):
            lowered: dict[str, list[tuple[str, Any]]] = {}
            spaced = False
            for item in headers:
                name = item[0].lower()  # once per field of every part
                spaced = spaced or name[-1:] in (" ", "\t")
                found = lowered.get(name)
                if found is None:
                    lowered[name] = [item]
                else:
                    found.append(item)
            frozen = {k: tuple(v) for k, v in lowered.items()}
            named = frozen
            if spaced:  # a name with white space before its colon (`field_name`): rare
                by_name: dict[str, list[tuple[str, Any]]] = {}
                for item in headers:
                    by_name.setdefault(field_name(item[0]), []).append(item)
                named = {k: tuple(v) for k, v in by_name.items()}
            index = self._index = (headers, len(headers), named, frozen)
        return index

    def fields_named(self, name: str) -> list[tuple[str, Any]]:
        """The stored fields of `name` (lower case, as `field_name` reads names), in order
        (`gateway.mimewalk.mime_fields_of`)."""
        return list(self._indexed()[2].get(name, ()))

    def get(self, name: str, failobj: Any = None) -> Any:
        lname = name.lower()
        found = self._indexed()[2].get(lname)
        if found is None:
            return failobj
        if lname == "content-transfer-encoding":  # every copy counts (see mime_field)
            return mime_field(self, lname, list(found))
        if lname in MIME_FIELDS:
            return mime_field(self, lname, list(found[:1]))
        return self.policy.header_fetch_parse(*found[0])

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._indexed()[2]

    _params: dict[tuple[str, str], Any] | None = None

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        """The stdlib's parameter list of `header`, parsed once per value: `get_filename`,
        `get_content_charset` and `get_param` each parsed the (capped) field again (a part with
        99 parameters: ~0.3 ms, three times)."""
        value = self.get(header)
        if not isinstance(value, str):
            return super()._get_params_preserve(failobj, header)  # type: ignore[misc]
        cache = self._params if self._params is not None else {}
        self._params = cache
        key = (header.lower(), value)
        found = cache.get(key)
        if found is None:
            found = cache[key] = super()._get_params_preserve(failobj, header)  # type: ignore[misc]
        return found

    def replace_header(self, _name: str, _value: Any) -> None:
        self._index = None
        super().replace_header(_name, _value)

    def get_boundary(self, failobj: Any = None) -> Any:
        """No boundary for an entity the parser was told not to split (`cut`): the feed parser
        then reads its body as one payload (to its parent's next boundary) instead of
        descending into it."""
        if self.cut:
            return failobj
        return super().get_boundary(failobj)


class _BoundedFeedParser(BytesFeedParser):
    """The stdlib's feed parser, descending no deeper and into no more multiparts than
    `MessageView.leaf_parts` reads. The stdlib parser tests every line against the boundary of
    every enclosing multipart and compiles a regex for each multipart's boundary: 900 nested
    multiparts (60 KB) cost it ~1.6 s, all on the event loop below INLINE_BYTES. An entity at
    depth `max_depth` or after `max_entities` entities keeps its headers and gets its body as
    one payload (`_BoundedMessage.cut`), which `leaf_parts` reports as the limit it exceeded."""

    def __init__(self, max_depth: int, max_entities: int) -> None:
        self._max_depth, self._max_entities, self._made = max_depth, max_entities, 0
        self._opaque: list[_BoundedMessage] = []
        super().__init__(self._new, policy=email.policy.compat32)
        self._made = 0  # the stdlib's trial call of the factory made one

    def _new(self, policy: Any = email.policy.compat32) -> _BoundedMessage:
        msg = _BoundedMessage(policy)
        depth = len(getattr(self, "_msgstack", ()))  # the new entity's parent chain
        self._made += 1
        msg.cut = "depth" if depth >= self._max_depth else "parts" if self._made > self._max_entities else ""
        return msg

    # the stdlib parser decides how to read an entity's body from its content type right after
    # it has parsed the entity's header block here
    def _parse_headers(self, lines: list[str]) -> None:
        super()._parse_headers(lines)  # type: ignore[misc]
        cur = self._cur  # type: ignore[attr-defined]
        if isinstance(cur, _BoundedMessage) and cur.get_content_type() in OPAQUE_TYPES:
            cur.opaque = True
            self._opaque.append(cur)

    def close(self) -> Message:
        try:
            return super().close()
        finally:
            for msg in self._opaque:
                msg.opaque = False


def bounded_parse(raw: bytes, max_depth: int, max_parts: int) -> Message:
    """The stdlib's Message of `raw` (compat32) read as the analysis reads it: no deeper than
    `max_depth`, no more than `max_parts` entities, a delivery-status body one part (the act
    step compares a message's structure before and after an edit with it: the stdlib's own
    parser made one Message per blank-line block of a delivery-status part, seconds per MB)."""
    return _parse_bytes(raw, ViewLimits(max_mime_depth=max_depth, max_mime_parts=max_parts))


def _parse_bytes(raw: bytes, limits: ViewLimits, *, headersonly: bool = False) -> Message:
    parser = _BoundedFeedParser(limits.max_mime_depth, limits.max_mime_parts)
    if headersonly:
        parser._set_headersonly()  # type: ignore[attr-defined]  # what BytesParser(headersonly=True) calls
    parser.feed(raw)
    return parser.close()


# A line beginning with "--" (a boundary delimiter, or text that looks like one): the parser
# reads at most this many times `max_mime_parts` of them (`_cap_delimiter_lines`).
DELIMITER_LINES_FACTOR = 2


# a Content-Type field of the header section naming a type the parser descends into
_SPLIT_TYPE = re.compile(rb"(?im)^content-type[ \t]*:[ \t\r\n]*(?:multipart|message)/")


def _cap_delimiter_lines(raw: bytes, cut: int, most: int) -> bytes | None:
    """`raw` up to its `most`+1-th line beginning with "--" after the header section (which ends
    at `cut`), or None when it has no more than `most` or is not a multipart or message/* (whose
    body the parser never splits: "-- " signatures, SQL comments, separators stay). A part needs
    at least one delimiter line, so the parser meets at most `most` parts; the feed parser costs
    ~0.1-0.3 ms a part (a flat multipart of 100,000 tiny parts in 7.9 MB took it 14 s, holding
    the GIL in its worker thread)."""
    if raw.count(b"\n--", cut) <= most or _SPLIT_TYPE.search(raw, 0, cut) is None:
        return None
    at = cut - 1
    for _ in range(most + 1):
        at = raw.find(b"\n--", at + 1)
    return raw[:at + 1]


_PARSED_PARTS = (b"multipart", b"message/")  # in a header block: the parser may descend into the body
# a field line as the stdlib parser reads one (feedparser.headerRE, `[\041-\071\073-\176]*:`, after its
# other readings: a line that starts with white space or `From `, which has a space before any colon, and
# a line whose first colon starts it, which the parser reads as a defect)
_FIELD_NAME = re.compile(r"[\041-\071\073-\176]+:")


# a line break that starts a line which is neither a field (`_FIELD_NAME`) nor a continuation; one
# after which a field's lines end (found from the LF: a literal prefix; the lookahead reads one line at most)
_STRAY_LINE = re.compile(r"\n(?![ \t]|[\041-\071\073-\176]+:|\Z)")
_FIELD_ENDS = re.compile(r"\n(?![ \t]|\Z)")


def _plain_header_block(text: str) -> Message | None:
    """The message the stdlib parser makes of the header block `text` (its headers, its unix-from
    line), when each of its lines is a plain header line as the parser reads them: a field
    (a name of printable characters but ':' and a colon), a continuation of the field above, or
    a first line `From ` (mbox). None when any line is something else (a blank line, a stray
    line, a continuation first, a later `From `): there the parser ends the header section,
    records a defect or pushes the line back into the body, and the caller lets it do so.
    Lines end at CR, LF or CRLF as the parser splits them (`StringIO(newline="")`); each field
    is stored as compat32's `header_source_parse` makes it (inline: once per field of every
    message), with `set_raw`'s append. Where a CR ends lines only in CRLF (most mail), the
    lines are checked and the fields cut by two scans from their LFs (`_STRAY_LINE`,
    `_FIELD_ENDS`), not line by line (`_plain_header_lines`)."""
    msg = _BoundedMessage(policy=email.policy.compat32)
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return _plain_header_lines(msg, text)
    at = 0
    if text.startswith("From "):
        at = text.find("\n") + 1 or len(text)
        msg.set_unixfrom(text[:at].rstrip("\r\n"))  # one line break at most: the split ended the line there
    if at == len(text):
        return msg
    if _FIELD_NAME.match(text, at) is None or _STRAY_LINE.search(text, at) is not None:
        return None
    headers = msg._headers  # type: ignore[attr-defined]
    for end in [m.end() for m in _FIELD_ENDS.finditer(text, at)] + [len(text)]:
        name, value = text[at:end].split(":", 1)  # the continuation lines joined as they are
        headers.append((name, value.lstrip(" \t").rstrip("\r\n")))  # (a line break ends the lstrip)
        at = end
    return msg


def _plain_header_lines(msg: Message, text: str) -> Message | None:
    """`_plain_header_block`'s reading of a block with a CR alone, line by line."""
    lines = StringIO(text, newline="").readlines()
    starts: list[int] = []  # each field's first line
    for n, line in enumerate(lines):
        if line[:1] in (" ", "\t"):
            if not starts:
                return None
        elif _FIELD_NAME.match(line) is not None:
            starts.append(n)
        elif n == 0 and line.startswith("From "):
            msg.set_unixfrom(line.rstrip("\r\n"))  # one line break at most: the split ended the line there
        else:
            return None
    headers = msg._headers  # type: ignore[attr-defined]
    starts.append(len(lines))
    for a, b in zip(starts, starts[1:], strict=False):
        name, value = lines[a].split(":", 1)
        value = value.lstrip(" \t")
        if b > a + 1:
            value += "".join(lines[a + 1:b])
        headers.append((name, value.rstrip("\r\n")))
    return msg


def parse_message(readable: bytes, limits: ViewLimits, cut: int | None = None) -> Message:
    """`_parse_bytes(readable, limits)`, the same message, with less work where the body is one
    part: the stdlib parser reads a body line by line (a str per line, a deque round trip each)
    only to join the lines again as the payload of a part that is neither multipart/* nor
    message/*, and its header parse goes through the same line machinery. Here, when every
    line of the header block is a plain header line (`_plain_header_block`) and the content type
    is not one the parser descends into (OPAQUE_TYPES are not: see `_BoundedFeedParser`), the
    message is built from the header block and its
    payload set to the rest after the blank line, which is exactly what the parser would have
    joined. Anything else is parsed whole, as before; a header block that names multipart or
    message/ anywhere, and not delivery-status, goes there directly (case-insensitively on the raw bytes: a cheap screen
    only, the content type as the message reads it decides). Bounded like the parse: the
    header block is part of `readable`, whose header size the caller has already checked.
    `cut`: `header_end(readable)` when the caller has it."""
    cut = header_end(readable) if cut is None else cut
    head = readable[:cut]
    low = head.lower()
    if any(word in low for word in _PARSED_PARTS) and b"delivery-status" not in low:
        return _parse_bytes(readable, limits)
    msg = _plain_header_block(head.decode("ascii", "surrogateescape"))
    if msg is None or (msg.get_content_maintype() in ("multipart", "message")
                       and msg.get_content_type() not in OPAQUE_TYPES):
        return _parse_bytes(readable, limits)
    blank = readable[cut:cut + 2]
    skip = 2 if blank == b"\r\n" else 1 if blank[:1] == b"\n" else 0  # the blank line, dropped
    msg.set_payload(str(memoryview(readable)[cut + skip:], "ascii", "surrogateescape"))
    return msg


@dataclass(frozen=True)
class TextPart:
    content_type: str
    text: str  # a plain part's text; an HTML part's markup
    depth: int
    shown: str = ""  # an HTML part's visible text (html_to_text), what its share of the budget counts
    links: tuple[str, ...] = ()  # an HTML part's link targets
    alternative: int = 0  # its nearest multipart/alternative ancestor (a number per message; 0: none)
    ahead: str = ""  # an HTML part with much text a style may hide: the beginning of its text without it (see reading)
    seen: int = -1  # an HTML part's characters of text no style may hide (-1: as `shown`)
    first: str | None = None  # an HTML part read another way too: its first reading alone, what `parts_differ`
    # compares (None: `shown`)
    salted: bool = False  # an HTML part read another way too (without text a style may hide, without lines a block
    # that may be shown in the line breaks, without a style block's bidi rules) reads words differently (`body_text`)

    @property
    def reading(self) -> str:
        """An HTML part's text as the checks read it: `shown`, and with `ahead`, the first AHEAD_CHARS of each
        reading before the rest (the text a style may hide stays in place: what one reader hides another may
        show, review26c #1; read ahead of it, the text no style hides still starts within the readers' windows
        when 200 KB of hidden text stands before it)."""
        return "\n".join(_heads_first(self.shown, self.ahead, AHEAD_CHARS)) if self.ahead else self.shown


def raw_text(value: object) -> str:
    """A raw header value as text: 8-bit bytes (kept by the parser as surrogates) read as UTF-8,
    folding removed (each line break with the whitespace around it becomes one space; linear),
    encoded-words left as they are."""
    text = value if isinstance(value, str) else str(value)
    if _SURROGATE.search(text):
        text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    if "\r" in text or "\n" in text:
        text = " ".join(part.strip() for part in _NEWLINES.split(text))
    return text.strip()


def decode_header_value(value: object) -> str:
    """A header value as text: unfolded, raw 8-bit read as UTF-8, RFC 2047 encoded-words decoded
    (gateway/rfc2047.py, linear), unknown charsets degraded; never raises. Not for address
    fields: their addresses are parsed from the raw value (`MessageView.mailboxes`)."""
    return decode_words(raw_text(value))


@dataclass(frozen=True)
class FromIdentity:
    """Who the message says wrote it: see `from_identity`."""

    display: str
    address: str
    mailboxes: tuple[Mailbox, ...] = ()
    fields: int = 0

    @property
    def domain(self) -> str:
        return self.mailboxes[0].domain if self.mailboxes else ""

    @property
    def malformed(self) -> str:
        """Why the identity's address is not a valid addr-spec ("" when it is): readers then
        disagree on its domain (`domain_readings`, gateway.mailboxes.Mailbox.malformed)."""
        return self.mailboxes[0].malformed if self.mailboxes else ""

    @property
    def domain_readings(self) -> tuple[str, ...]:
        """Every domain a reader may take from the From fields: `domain` first, then the others'
        readings of a malformed address, then those of every other From mailbox of every From
        field (the origin check applies our own-domain rule when any of them is ours). A reader
        does not stop at the first: Dovecot's Sieve `address :domain "from"` matches any address
        of any From field (attack24: `From: a@gmail.com, b@example.org`, a group, a second From
        field). RFC 5322 3.6 allows one From field, and several mailboxes in it only with a
        Sender: none of these is a single author's plain From (`multiple` says so)."""
        return tuple(dict.fromkeys(d for m in self.mailboxes for d in m.domain_readings))

    @property
    def multiple(self) -> bool:
        """More than one From address (or From field): RFC 5322 then requires Sender."""
        return len(self.mailboxes) > 1 or self.fields > 1


def from_identity(raw_from_values: list[str]) -> FromIdentity:
    """THE From address and display name of a message -- the one decision every check, the
    policy fields `from.*`, the store and `learn` use.

    `raw_from_values` are the raw values of every From field, in order (not RFC 2047-decoded:
    the address is parsed first, display names are decoded afterwards, so an encoded-word can
    never become an address). The identity is the FIRST mailbox of the first From field that
    has one: what mail clients show first and what DMARC reads when there is one author.
    RFC 5322 allows several From addresses (with a Sender field) and RFC 6854 a group; then
    every mailbox is kept in `mailboxes` (in order, across fields) and `multiple` is true: the
    structure check emits `identity.multiple_from` listing them all, so a stranger's address
    placed after one of ours cannot hide (docs/signals.md)."""
    mailboxes = tuple(parse_address_fields(raw_from_values))
    if not mailboxes:
        return FromIdentity("", "", (), len(raw_from_values))
    first = mailboxes[0]
    return FromIdentity(first.display, first.address, mailboxes, len(raw_from_values))


def _decode_part(part: Message, default_charset: str = "us-ascii") -> str:
    """Decoded text of a leaf part; bad charsets and encodings degrade, never raise."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    # as the banner reads it, but for a latin-1 or ASCII label's bytes 0x80-0x9F (read as windows-1252, as a reader
    # shows them: `gateway.charsets.decode_text`)
    return decode_text(payload, part.get_content_charset() or default_charset)


# a soft break of an unquoted flowed text (`unflow`, after the lines' stuffing spaces are taken off): a line's last
# space, not the separator's ("-- "), nor one before a separator line. In C: 1 MB of short lines costs 30-80 ms
_SOFT_BREAK = re.compile(r"(?<!^--) \n(?!-- (?:\n|$))", re.M)
_STUFFED = re.compile(r"^ ", re.M)
_BLANK_RUN = re.compile(r"[ \t]{64,}")


def unflow(text: str, delsp: bool) -> str:
    """A `format=flowed` text (RFC 3676) as a reader shows it: a line that ends in a space (a soft break; not the
    signature separator "-- ") joins the next line of the same quote depth (not a separator line), without that
    space when `delsp` (DelSp=yes); one space after the quote marks, or at the start of an unquoted line, is
    stuffing and goes; quoted lines are written back as "> " marks and their text. Linear: an unquoted text in two
    regular-expression passes, a quoted one in one pass over its lines. (attack32 #2: with DelSp=yes Thunderbird and
    Apple Mail join "hono \\nrarium" into "honorarium", which the checks read cut in two.) A text without a soft
    break is returned as it is."""
    text = text.replace("\r\n", "\n") if "\r" in text else text
    if " \n" not in text:
        return text
    if "\n>" in text or text.startswith(">"):
        return _unflow_lines(text, delsp)
    if text.startswith(" ") or "\n " in text:  # (no quoted line: no depth to follow)
        text = _STUFFED.sub("", text)
    text = _SOFT_BREAK.sub("" if delsp else " ", text)
    return text[:-1] if delsp and text.endswith(" ") and not text.endswith("\n-- ") and text != "-- " else text


def _unflow_lines(text: str, delsp: bool) -> str:
    """`unflow` line by line, quote depths followed."""
    out: list[str] = []
    flowing: list[str] = []  # a paragraph's lines so far
    at_depth = 0
    for line in text.split("\n"):
        body = line.lstrip(">")
        depth = len(line) - len(body)
        body = body.removeprefix(" ")
        if flowing and (depth != at_depth or body == "-- "):  # a soft break before another depth, or before the
            out.append(_quoted_as(at_depth, "".join(flowing)))  # separator, is a hard one (RFC 3676 4.3, 4.5)
            flowing = []
        if body.endswith(" ") and body != "-- ":
            flowing.append(body[:-1] if delsp else body)
            at_depth = depth
            continue
        flowing.append(body)
        out.append(_quoted_as(depth, "".join(flowing)))
        flowing = []
    if flowing:
        out.append(_quoted_as(at_depth, "".join(flowing)))
    return "\n".join(out)


def _quoted_as(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth else text


def _flowed(part: Message) -> bool | None:
    """None for a part that is not `format=flowed`; else whether its DelSp is yes (RFC 3676 4.2)."""
    if str(part.get_param("format", "") or "").strip().lower() != "flowed":
        return None
    return str(part.get_param("delsp", "") or "").strip().lower() == "yes"


# Messages above this size are parsed as their skeleton (see `skeleton`): the stdlib parser
# materialises every part's payload as text, with a str per line on the way (about 8 bytes of
# memory and 0.1 s of CPU per byte and 10 MB), which for a 10 MB attachment nothing ever reads.
SKELETON_ABOVE = 65_536
def _loose_delimiters_in(msg: Message, readable: bytes, at: int, most: int) -> bool:
    """Whether a multipart the parser found has a line that begins with its delimiter but holds
    more (`--XXjunk`): RFC 2046 5.1.1 and Dovecot split there, the stdlib parser does not
    (`gateway.mimewalk.exact_delimiters` writes them for it). One pass over the lines beginning
    with "--" for all the boundaries (`loose_delimiters`), not one per multipart (attack22)."""
    if msg.get_content_maintype() != "multipart":
        return False
    boundaries: set[str] = set()
    for i, part in enumerate(msg.walk()):
        if i > most:
            break
        boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
        if isinstance(boundary, str):
            if boundary in boundaries or boundary + "--" in boundaries or boundary.endswith("--") \
                    and boundary[:-2] in boundaries or len(boundary) > DOVECOT_BOUNDARY:
                # a boundary that (nearly) repeats another, or one Dovecot matches by its prefix
                return True
            boundaries.add(boundary)
    return loose_delimiters(readable, boundaries, at)


TEXT_BODY_FACTOR = 8  # a text part's body is cut after this many times max_text_bytes
# `MessageView.parts_differ`: an HTML alternative showing PARTS_DIFFER_RUNS distinct runs of three words that
# its plain alternative lacks, or a quarter of its runs and at least PARTS_DIFFER_MIN of them (a short
# message), is read instead of it. Words are what white space separates, case-folded, punctuation at either
# end dropped: "I_am_a_correspondent" in a plain decoy is one word where the HTML shows four (attack25 F3),
# and runs, not words: a decoy of the same words in another order shares the words, not the runs. At most
# PARTS_COMPARE_CHARS characters are compared per message, of both sides of every alternative together
# (set lookups, linear).
PARTS_DIFFER_RUNS = 12
PARTS_DIFFER_MIN = 3
PARTS_COMPARE_CHARS = 200_000
_WORD_MARKS = re.compile(r"[\W_]*+")  # marks at a word's start (and, on the word reversed, at its end)
_WORD_EDGE = "\"'()[]{}<>*.,;:!?\u2018\u2019\u201c\u201d"
# how a plain alternative writes a link (Outlook "word<https://...>", "[https://...]", a bare URL): not words
_LINK_WRITTEN = re.compile(r"<[^<>\s]{0,2048}>|\[[^\[\]\s]{0,2048}\]|(?:https?://|www\.|mailto:)\S{0,2048}", re.I)


def _link_form(found: re.Match[str]) -> str:
    """A `_LINK_WRITTEN` match as the words it stands for: none for a link or an address ("<https://...>",
    "[cid:image001.png]", "<tom@example.org>", "[image001.png]", a footnote's "[1]"); in square brackets, text with a
    letter, no ":" or "/" and no host or file name at its end is a word (review30c: "[HONORARIUM]" in the HTML beside a
    plain part without it was read as a link, so too few runs differed and the plain part alone was read; review30d
    #3: so were "[HONORARIUM.]" and "[HON@RARIUM]")."""
    text = found.group()
    word = text[0] == "[" and not any(c in text for c in ":/") and any(c.isalpha() for c in text) and \
        not _names_a_place(text[1:-1])  # (in angle brackets: a tag a converter left, "<br>", as before)
    return text if word else " "


def _names_a_place(text: str) -> bool:
    """Whether `text` ends in a host or file name, an address's or not: a dot, then a label of two or more letters,
    digits or hyphens that starts with a letter ("example.org", "tom@example.org", "image001.png"; not "e.g.",
    "HONORARIUM." or "HON@RARIUM")."""
    host, dot, last = text.rpartition("@")[2].rpartition(".")
    return bool(host and dot) and len(last) >= 2 and last[0].isalpha() and last.replace("-", "").isalnum()


NEAR_PASSAGE_CHARS = 1000  # an alternative's HTML passages read beside its plain part (`_compared`)
HEAD_CHARS = 2000  # both sides of a differing alternative: each one's first this many characters come first
AHEAD_CHARS = 2000  # an HTML part's other readings: each one's first this many characters first (`reading`)
# the plain sides of alternatives whose HTML shows under a quarter of them (`_thin_alternatives`: a reader of the
# HTML sees little of them) are read in their place up to this many characters in all, the rest after the rest
THIN_IN_PLACE = 10_000  # (review26d #3: an approach past 2,000 characters of such a side went behind later parts;
# past 10,000 it still does. The readers' windows are 20,000-60,000 characters, the text model's 2,000-4,000)


def _word_key(word: str) -> str:
    """A word as the HTML's passages compare it (`_compared`): case folded, without any mark round it ("|" between a
    signature's fields, a quote's ">"); a link as a plain part writes it ("<https://...>", an address in angle
    brackets), none (review30b #1, #2: hard wraps, punctuation and a signature set with bars made passages of a
    reply's attribution line, ahead of the plain part, where the quoted history was cut)."""
    link = _LINK_WRITTEN.fullmatch(word)
    return "" if link is not None and _link_form(link) == " " else _without_marks(word).casefold()


def _without_marks(word: str) -> str:
    """`word` without the marks round it, in two linear scans (`re.sub(r"^[\\W_]+|[\\W_]+$", "", word)` tried its
    second branch at every mark of a run inside the word: 8,000 "!" between two letters cost 0.8 s, regex32 #2)."""
    start = _WORD_MARKS.match(word).end()  # type: ignore[union-attr]  # (it matches the empty string)
    if start == len(word):
        return ""
    return word[start:len(word) - _WORD_MARKS.match(word[::-1]).end()]  # type: ignore[union-attr]


def _word_runs(text: str, html: bool = False) -> set[tuple[str, str, str]]:
    """Runs of three words, links as a plain part writes them left out; an HTML's words in square brackets (`html`,
    `_link_form`) counted. A plain part's such words may be images' text the HTML does not show ("[signature_123]",
    "[Facebook]<url>": review30d #2, an Outlook reply's plain part then differed) or text it does ("[REQ-4521]",
    Markdown's "[here](url)"): its runs are those read either way."""
    runs = _runs(_LINK_WRITTEN.sub(_link_form if html else " ", text))
    return runs if html or "[" not in text else runs | _runs(_LINK_WRITTEN.sub(_link_form, text))


def _says_more(plain: str, runs: set[tuple[str, str, str]], html_runs: set[tuple[str, str, str]]) -> bool:
    """Whether a plain part has as many runs its HTML lacks as `parts_differ` asks of an HTML (`runs`: its
    `_word_runs`, which reads its words in square brackets both ways; the fewer of the two readings counts)."""
    extra = len(runs - html_runs)
    if "[" in plain and extra >= PARTS_DIFFER_MIN:
        extra = min(extra, len(_runs(_LINK_WRITTEN.sub(" ", plain)) - html_runs),
                    len(_runs(_LINK_WRITTEN.sub(_link_form, plain)) - html_runs))
    return extra >= PARTS_DIFFER_RUNS or extra >= PARTS_DIFFER_MIN and 4 * extra >= len(runs)


def _runs(text: str) -> set[tuple[str, str, str]]:
    words = [w for w in (w.strip(_WORD_EDGE) for w in text.casefold().split()) if w]
    return set(zip(words, words[1:], words[2:], strict=False))


def _has_text(text: str) -> bool:
    """Whether a text holds a letter or digit (a part of blanks, braille blanks or rules says nothing)."""
    return any(c.isalnum() for c in text)


def _head(text: str, size: int = HEAD_CHARS) -> int:
    """Where `text`'s first `size` characters end, at a line break or a space when one is near."""
    if len(text) <= size:
        return len(text)
    cut = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
    return cut if cut >= size // 2 else size


def _heads_first(first: str, second: str, size: int = HEAD_CHARS) -> list[str]:
    """Two readings' non-empty pieces in reading order: each one's first `size` characters (`_head`), then the rest
    of the first, then the rest of the second: a long first reading no longer pushes the second past the readers'
    windows (review25 #1, review26d #2)."""
    h, e = _head(first, size), _head(second, size)
    return [x for x in (first[:h], second[:e], first[h:], second[e:]) if x]


def skeleton(raw: bytes, limits: ViewLimits, text_cut: list[bool] | None = None) -> bytes:
    """`raw` with the bodies of the parts `MessageView` never reads left out, for the parser.

    The MIME tree is walked on the bytes (`gateway.mimewalk`, bounded by the view's depth
    and part limits); a leaf part that is neither text/* nor multipart/* or message/* (the
    parser descends into both), keeps its header block and loses its body; a
    text/* or OPAQUE_TYPES body is cut at the first line break after
    TEXT_BODY_FACTOR times `max_text_bytes` (the checks read at most `max_text_bytes` characters of decoded text; a
    base64 or quoted-printable body decodes to no more bytes than it has). Every boundary line
    and header block stays as it was, so the parser builds the same tree with the same headers:
    only those payloads are empty (or shorter). A structure the walk does not accept (a
    missing close delimiter, over the limits, a bad boundary) is parsed whole, as before.
    `text_cut`, when given, gets True appended when a text body was cut (text left unread)."""
    try:
        root = walk(raw, max_depth=limits.max_mime_depth, max_parts=limits.max_mime_parts)
    except (MimeError, RecursionError):
        return raw
    text_cap = TEXT_BODY_FACTOR * limits.max_text_bytes
    cuts: list[tuple[int, int]] = []
    for entity in root.walk():
        if entity.children or entity.body_start >= entity.end:
            continue
        ctype = entity.content_type
        if ctype in ("text/plain", "text/html") or ctype in OPAQUE_TYPES:
            if entity.end - entity.body_start <= text_cap:
                continue
            cut = raw.find(b"\n", entity.body_start + text_cap, entity.end) + 1
            if cut <= 0:
                continue
            cuts.append((cut, entity.end))
            if text_cut is not None:
                text_cut.append(True)
        elif entity.maintype not in ("multipart", "message"):
            cuts.append((entity.body_start, entity.end))
    if not cuts:
        return raw
    pieces: list[bytes] = []
    at = 0
    view = memoryview(raw)
    for start, end in sorted(cuts):
        pieces.append(view[at:start])  # type: ignore[arg-type]
        at = end
    pieces.append(view[at:])  # type: ignore[arg-type]
    return b"".join(pieces)


@dataclass
class Disguises:
    """What the view undid to read a stranger's text as a reader sees it (`textsafe`): bidi
    overrides put in display order, look-alike letters (Cyrillic, Greek ...) read as Latin ones,
    words split by a narrow space read joined."""

    overrides: int = 0  # U+202D/U+202E in the body's text parts and the Subject
    rtl: bool = False  # a text holding them has letters of a right-to-left script too
    lookalike_words: int = 0  # words of two letters or more read as Latin (`textsafe.read_lookalikes`)
    lookalike_example: str = ""  # the first of them, as read
    split_words: int = 0  # narrow spaces between two letters dropped (`textsafe.join_split_words`)
    split_example: str = ""  # the first word so joined
    # lines read joined that hold two or more such splits, read with them as spaces instead, and lines holding words
    # written a letter at a time, read with those letters joined: the cue phrases, the messenger mention and the
    # personal-number request read both, not for a relayed persona (`textsafe.join_split_words`' other reading,
    # `textsafe.letter_spaced`; at most MAX_SPACED characters a message)
    spaced: list[str] = field(default_factory=list)
    spaced_left: int = MAX_SPACED
    salted: int = 0  # runs of text a style may hide between two letters of a word (html_text: hidden-text salting)
    # what is left of the message's budgets: characters reordered (`textsafe.reading_order`) and
    # characters of texts with look-alikes read (the first MAX_FOLDED: more than any check reads
    # of the body's text, pretext and claims 20,000, content and links 60,000, policies 65,536)
    reorder_left: int = MAX_REORDERED
    fold_left: int = MAX_FOLDED

    def read(self, text: str) -> str:
        """`text` as the checks read it (`visible`, then `fold`)."""
        return self.fold(self.visible(text))

    def visible(self, text: str) -> str:
        """`textsafe.visible_text(text)`, its overrides counted and read within the budget, its
        words split by a narrow space joined and counted (`textsafe.join_split_words`), and its other
        word spaces (&nbsp;) read as " " (`textsafe.plain_spaces`); the other readings of its lines (`spaced`)."""
        found = overrides_in(text)
        if found:
            self.overrides += found
            self.rtl = self.rtl or has_rtl_letters(text)
            text, used = reading_order(text, self.reorder_left)
            self.reorder_left -= used
        other: list[str] = []
        text, split, example = join_split_words(visible_text(text, bidi="drop"), other)
        if split:
            self.split_words += split
            self.split_example = self.split_example or example
        text = plain_spaces(drop_narrow_by_blank(text))
        if self.spaced_left > 0:
            letter_spaced(text, other)
        for line in other:
            if len(line) > self.spaced_left:
                continue  # (one that does not fit does not keep out the ones that do: review43b #3)
            self.spaced.append(line)
            self.spaced_left -= len(line)
        return text

    def fold(self, text: str) -> str:
        """`textsafe.read_lookalikes(text)` within the budget, its words counted, then its words split
        by a narrow space next to a look-alike joined (`textsafe.join_split_words` again): a circled
        or squared letter is no letter to the first join (So), so "Wh\u200a\u24d0tsApp" was neither
        joined nor, read as "Wh\u200aatsApp", one word (attack24 #8); a reader sees "WhatsApp". Joining
        before folding and again after it reads both tricks together as each alone: the first join
        makes "Whats\u200a\u0410\u0440\u0440" a word mixing in Latin letters, which a line of
        Russian folds too."""
        if self.fold_left <= 0 or not has_lookalikes(text):
            return text
        head = text[:self.fold_left]
        self.fold_left -= len(head)
        cut = len(head)
        head, words, example = read_lookalikes(head)
        self.lookalike_words += words
        self.lookalike_example = self.lookalike_example or example
        head, split, joined = join_split_words(head)
        if split:
            self.split_words += split
            self.split_example = self.split_example or joined
        return head + text[cut:]


@dataclass
class MessageView:
    """Lazily decoded, capped view of `raw`. Build with `MessageView.parse`."""

    raw: bytes
    limits: ViewLimits
    msg: Message  # compat32: structure only; header values are decoded by decode_header_value
    header_count: int
    header_bytes: int
    defects: list[str] = field(default_factory=list)
    mime_depth_exceeded: bool = False
    mime_parts_exceeded: bool = False
    body_cut: bool = False  # a text body longer than TEXT_BODY_FACTOR times max_text_bytes, cut before the parser
    header_normal: bool = False  # normalize_header_section left `raw`'s header section as it is
    _budget_cut: bool = field(default=False, repr=False)  # text_parts left text unread
    _disguises: Disguises = field(default_factory=Disguises, repr=False)  # filled by text_parts, visible_subject
    _markup: MarkupBudget = field(default_factory=MarkupBudget, repr=False)  # what text_parts' HTML readings may
    # still spend in all (attack35a finding 1: the tag budgets were each reading's own)
    _alternatives: dict[int, int] = field(default_factory=dict, repr=False)  # filled by leaf_parts
    _alternative_children: set[int] = field(default_factory=set, repr=False)  # filled by leaf_parts
    _outer_alternatives: dict[int, int] = field(default_factory=dict, repr=False)  # a nested one's: by leaf_parts
    _header_cache: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _mailbox_cache: dict[tuple[str, ...], list[Mailbox]] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: bytes, limits: ViewLimits | None = None, *,
              skeleton_above: int = SKELETON_ABOVE, cut: int | None = None) -> MessageView:
        """The view of `raw`. The stdlib parser sees `skeleton(raw)` when `raw` is larger than
        `skeleton_above` bytes: the same structure, headers and text, without the bodies of
        the parts nothing reads (attachments); `raw` itself is kept whole for the checks that
        read bytes (DKIM, ARC). `cut`: `header_end(raw)` when the caller has it."""
        limits = limits or ViewLimits()
        cut = header_end(raw) if cut is None else cut
        count, size = header_stats(raw, cut)
        if count > limits.max_header_count or size > limits.max_header_bytes:
            raise HeaderLimitExceeded(
                f"header has {count} fields / {size} bytes; limits are "
                f"{limits.max_header_count} fields / {limits.max_header_bytes} bytes")
        defects: list[str] = []
        too_deep = False
        # parse what will be delivered: the header section as normalize_header_section ends it
        readable, notes = normalize_header_section(raw, cut)
        defects += sorted(set(notes))
        text_cut: list[bool] = []
        if len(readable) > skeleton_above:
            readable = skeleton(readable, limits, text_cut)
        # the header block's end in what is parsed: `cut` again unless normalising or the skeleton made a copy
        at = cut if readable is raw else header_end(readable)
        if spaced_part_field_in(readable, at):  # see SPACED_PART_FIELD
            readable = readable[:at] + SPACED_PART_FIELD.sub(rb"\1:", readable[at:])
        capped = _cap_delimiter_lines(readable, min(at, len(readable)), DELIMITER_LINES_FACTOR * limits.max_mime_parts)
        if capped is not None:
            readable = capped
        try:
            msg = parse_message(readable, limits, at if readable is raw else None)
            if _loose_delimiters_in(msg, readable, at, limits.max_mime_parts):
                exact = exact_delimiters(readable, max_depth=limits.max_mime_depth, max_parts=limits.max_mime_parts)
                if exact is not readable:  # parsed again with the delimiter lines a reader splits on
                    readable = exact
                    defects.append("delimiter lines with text after the boundary")
                    msg = parse_message(readable, limits)
        except Exception as exc:  # noqa: BLE001 - stdlib parser on hostile bytes (RecursionError too)
            # Keep the headers (the body is left unparsed): From, Subject and the rest still count.
            defects.append(f"unparseable: {type(exc).__name__}")
            too_deep = isinstance(exc, RecursionError)
            try:
                msg = _parse_bytes(readable, limits, headersonly=True)
            except Exception:  # noqa: BLE001
                msg = Message()
        return cls(raw=raw, limits=limits, msg=msg, header_count=count, header_bytes=size, defects=defects,
                   mime_depth_exceeded=too_deep, mime_parts_exceeded=capped is not None, body_cut=bool(text_cut),
                   header_normal=not notes)

    @classmethod
    def of_header(cls, raw: bytes, limits: ViewLimits | None = None, *, within: int = 262_144) -> MessageView:
        """The view of `raw`'s header block alone, for tools that read a header of a file (the
        Return-Path `scan` and `evaluate` take as the envelope sender, a Date): its headers are
        those of `MessageView.parse(raw[:within])` (the header section ends where it ends
        there, the same limits apply and raise alike), without parsing the body. Its body and
        MIME structure are empty: not for analysis."""
        head = raw[:within]
        return cls.parse(head[:header_end(head)], limits)

    # ---------------------------------------------------------------- headers

    def header(self, name: str) -> str | None:
        """First value of header `name`, decoded and unfolded, or None."""
        values = self.headers(name)
        return values[0] if values else None

    def headers(self, name: str) -> list[str]:
        """Every value of header `name`, decoded and unfolded (cached: checks ask repeatedly)."""
        key = name.lower()
        cached = self._header_cache.get(key)
        if cached is None:
            cached = self._header_cache[key] = self._decode_headers(name)
        return list(cached)

    def _decode_headers(self, name: str) -> list[str]:
        return [decode_words(v) for v in self.raw_headers(name)]

    def raw_headers(self, name: str) -> list[str]:
        """Every value of header `name`, unfolded, 8-bit read as UTF-8, NOT RFC 2047-decoded:
        what address fields are parsed from (cached)."""
        key = "\0raw:" + name.lower()
        cached = self._header_cache.get(key)
        if cached is None:
            # raw values (8-bit bytes kept as surrogates): never the policy's header objects
            cached = self._header_cache[key] = [raw_text(v) for _, v in self._raw_by_name.get(name.lower(), ())]
        return list(cached)

    @cached_property
    def _raw_by_name(self) -> Mapping[str, Sequence[tuple[str, Any]]]:
        """Every raw header field by lower-cased name, in order: one pass over the fields for all
        the names the checks ask for (instead of one pass per name); the message's own index of
        them where it has one (`_BoundedMessage`: made once for its lookups, never changed)."""
        if isinstance(self.msg, _BoundedMessage):
            return self.msg._indexed()[3]
        index: dict[str, list[tuple[str, Any]]] = {}
        for k, v in self.msg.raw_items():
            index.setdefault(k.lower(), []).append((k, v))
        return index

    def mailboxes(self, *names: str) -> list[Mailbox]:
        """Mailboxes of the named address fields (e.g. "To", "Cc"), parsed from the raw values
        (cached: the sender and campaign checks, the store's metadata and policies ask alike)."""
        key = tuple(n.lower() for n in names)
        cached = self._mailbox_cache.get(key)
        if cached is None:
            cached = self._mailbox_cache[key] = parse_address_fields([v for n in names for v in self.raw_headers(n)])
        return list(cached)

    def addresses(self, *names: str) -> list[str]:
        """Lower-cased addresses of the named address fields (see `mailboxes`)."""
        return [m.address for m in self.mailboxes(*names)]

    @cached_property
    def from_identity(self) -> FromIdentity:
        """The From identity (`from_identity`: the one function that decides it)."""
        return from_identity(self.raw_headers("From"))

    @property
    def from_pair(self) -> tuple[str, str]:
        """(display name, address) of the From identity, lower-cased address."""
        ident = self.from_identity
        return ident.display, ident.address

    @property
    def from_address(self) -> str:
        return self.from_identity.address

    @property
    def from_display(self) -> str:
        return self.from_identity.display

    @property
    def from_domain(self) -> str:
        return self.from_identity.domain

    @cached_property
    def reply_to(self) -> list[str]:
        """Reply-To addresses, parsed from the raw value like From (every one, in order)."""
        return self.addresses("Reply-To")

    @property
    def return_path(self) -> str:
        """The Return-Path address (the envelope sender a delivering MTA recorded; "" for
        `<>` or none), parsed from the raw value."""
        found = self.addresses("Return-Path")
        return found[0] if found else ""

    @property
    def subject(self) -> str:
        """The decoded Subject as written (the subject tag writes it back: invisible characters kept)."""
        return self.header("Subject") or ""

    @cached_property
    def visible_subject(self) -> str:
        """The Subject as the checks read it: without zero-width characters, soft hyphens and bidi
        controls, the text an override reorders in the order a reader sees it
        (`textsafe.visible_text`, as the body and the display names), and its look-alike letters
        read as the Latin ones a reader takes them for (`textsafe.read_lookalikes`, as the body)."""
        return self._disguises.read(self.subject)

    @property
    def disguises(self) -> Disguises:
        """What reading the body's text parts and the Subject undid (`Disguises`)."""
        self.text_parts  # fills _disguises
        self.visible_subject
        return self._disguises

    # ---------------------------------------------------------------- body

    @cached_property
    def leaf_parts(self) -> list[tuple[Message, int]]:
        """Leaf parts with their depth, within the depth and part-count limits (and, in
        `_alternatives`, each leaf's nearest multipart/alternative ancestor, numbered from 1)."""
        out: list[tuple[Message, int]] = []
        stack: list[tuple[Message, int, int, bool]] = [(self.msg, 0, 0, False)]
        seen = groups = 0
        while stack:
            part, depth, group, direct = stack.pop()
            seen += 1
            if seen > self.limits.max_mime_parts:
                self.mime_parts_exceeded = True
                break
            if part.is_multipart():
                if depth >= self.limits.max_mime_depth:
                    self.mime_depth_exceeded = True
                    continue
                children = part.get_payload()
                alternative = part.get_content_subtype() == "alternative"
                if alternative:
                    groups += 1
                    if group:
                        self._outer_alternatives[groups] = group
                    group = groups
                if isinstance(children, list):
                    stack.extend((c, depth + 1, group, alternative) for c in reversed(children)
                                 if isinstance(c, Message))
            else:
                # a multipart the parser did not split: the parser marks every entity it makes past
                # a limit, but only a multipart's reading is cut (a text leaf at the depth limit is read)
                cut = getattr(part, "cut", "") if part.get_content_maintype() == "multipart" else ""
                if cut == "depth":
                    self.mime_depth_exceeded = True
                    continue
                if cut == "parts":
                    self.mime_parts_exceeded = True
                out.append((part, depth))
                if group:
                    self._alternatives[id(part)] = group
                if direct:
                    self._alternative_children.add(id(part))
        return out

    @cached_property
    def text_parts(self) -> list[TextPart]:
        """Decoded text parts (text/html; every other text/* and OPAQUE_TYPES read as text/plain) that
        are not attachments, in order, with at most max_text_bytes of text
        for the checks to read in all: a plain part's text, an HTML part's visible text. An HTML
        part's markup, comments, scripts and styles do not use the budget (up to TEXT_BODY_FACTOR
        times it of markup is read): 1.3 MB of an HTML comment before an approach's text had
        used it up and left the text unread. What is left unread: `text_cut`."""
        budget = self.limits.max_text_bytes
        markup_cap = TEXT_BODY_FACTOR * budget
        out: list[TextPart] = []
        for part, depth in self.leaf_parts:
            ctype = part.get_content_type()
            opaque = ctype in OPAQUE_TYPES  # read as the text it is (see OPAQUE_TYPES)
            # an alternative is shown inline whatever its disposition says (Thunderbird forces the chosen
            # one inline, mimemalt.cpp; RFC 2046 5.1.4 offers no other reading): attack25 F7. Only the
            # alternative itself: an attachment of a multipart/mixed inside one (Apple Mail) stays one.
            shown_anyway = id(part) in self._alternative_children
            if not (opaque or ctype.startswith("text/")) or attached(part) and not shown_anyway:
                continue
            if budget <= 0:
                self._budget_cut = True  # a text part the budget leaves unread
                break
            if ctype != "text/html":  # text/enriched, text/x-anything: shown as text (attack20 finding 3)
                ctype = "text/plain"
            try:
                text = _decode_part(part, "utf-8" if opaque else "us-ascii")
            except Exception as exc:  # noqa: BLE001 - broken transfer encodings
                self.defects.append(f"undecodable part: {type(exc).__name__}")
                continue
            if ctype == "text/html":
                # the bidi controls stay until the tags are gone: what an override reorders is text
                text = visible_text(text, bidi="keep")
                markup = text[:markup_cap]
                result = html_scan(markup, markup_cap, self._markup)  # entities decoded: &#8203; too
                shown, links = result.text, result.links
                if result.salted:  # hidden-text salting: the reading without what a style may hide, too
                    self._disguises.salted += result.salted
                # and the words read without what a style may hide, the lines read without a style block's bidi
                # rules (which may not apply where they were applied), each reading's first AHEAD_CHARS characters
                # first (review26d #2, #5: after a long part they were past the readers' windows); CSS generated
                # content after the rest
                extra = "\n".join(x for x in (result.salt_free, result.bidi_free) if x)
                first = None
                if extra:  # (the other readings are read beside a plain alternative, `body_text`, not compared with
                    # it: a flex row read joined is no text a plain part lacks, review29c #5, review29e #2)
                    scratch = replace(self._disguises, spaced=[])
                    first = "\n".join(x for x in (shown, result.generated) if x)
                    first = scratch.fold(scratch.visible(first)[:budget])
                    shown = "\n".join(_heads_first(shown, extra, AHEAD_CHARS))
                shown = "\n".join(x for x in (shown, result.generated) if x)
                shown = self._disguises.visible(shown)
                if result.unapplied:  # style-block bidi overrides not applied: counted (attack23 H1)
                    self._disguises.overrides += result.unapplied
                    self._disguises.rtl = self._disguises.rtl or has_rtl_letters(shown)
                if len(text) > markup_cap or len(shown) > budget:
                    self._budget_cut = True
                shown = self._disguises.fold(shown[:budget])
                budget -= len(shown)
                ahead = ""
                if result.visible:  # its beginning (the rest is in `shown`, its disguises counted there): in the
                    scratch = replace(self._disguises, spaced=[])  # budget, not counted twice
                    ahead = scratch.visible(result.visible[:2 * AHEAD_CHARS])
                    ahead = scratch.fold(ahead[:_head(ahead, AHEAD_CHARS)][:budget])
                    budget -= len(ahead)
                out.append(TextPart(ctype, markup, depth, shown,
                                    tuple(visible_text(link, bidi="drop") for link in links),
                                    self._alternatives.get(id(part), 0), ahead,
                                    len(result.visible) + len(result.generated) if result.visible else -1, first,
                                    bool(extra)))
                continue
            flowed = _flowed(part) if part.get_content_type() == "text/plain" else None
            if flowed is not None:
                text = self._read_flowed(text, flowed, budget)
            if "    " in text or "\t\t" in text:  # a long run of blanks reads as one (a reader sees empty space; as
                text = _BLANK_RUN.sub(" ", text)  # characters it had pushed an approach past the readers' windows)
            text = self._disguises.visible(text)
            if len(text) > budget:
                self._budget_cut = True
            text = self._disguises.fold(text[:budget])
            budget -= len(text)
            out.append(TextPart(ctype, text, depth, alternative=self._alternatives.get(id(part), 0)))
        return out

    def _read_flowed(self, text: str, delsp: bool, budget: int) -> str:
        """A format=flowed plain part read joined (`unflow`); where DelSp=yes joins two words' letters, as written too
        (a reader that does not read format=flowed shows them apart: review32 #1, review32b #1), each one's beginning
        first. A quoted one is read line by line, its first `budget` characters (the rest is left unread)."""
        if len(text) > budget and ("\n>" in text or text.startswith(">")):
            text = text[:budget]
            self._budget_cut = True
        joined = unflow(text, delsp)
        if delsp and joined != text:
            kept = unflow(text, False)
            if joined.split() != kept.split():
                return "\n".join(_heads_first(joined, kept))
        return joined

    @property
    def markup_short(self) -> bool:
        """Whether the message's HTML budget ran out (`html_text.MarkupBudget.short`): some markup was read
        coarsely, references left undecoded, or a second reading not made, so what the checks read of an HTML part
        may not be what a reader sees."""
        self.text_parts  # the readings charge the budget
        return self._markup.short

    @property
    def text_cut(self) -> bool:
        """Whether some of the message's text is not read by the checks: beyond max_text_bytes
        (`text_parts`) or in a body cut before the parser (`skeleton`)."""
        self.text_parts  # computes _budget_cut
        return self.body_cut or self._budget_cut

    @cached_property
    def plain_text(self) -> str:
        return "\n".join(p.text for p in self.text_parts if p.content_type == "text/plain")

    @cached_property
    def _html(self) -> tuple[str, list[str]]:
        parts = [p for p in self.text_parts if p.content_type == "text/html"]
        return "\n".join(p.reading for p in parts), [link for p in parts for link in p.links]

    @property
    def html_text(self) -> str:
        return self._html[0]

    @property
    def html_links(self) -> list[str]:
        return self._html[1]

    @cached_property
    def parts_differ(self) -> dict[int, tuple[int, int]]:
        """The alternatives whose HTML shows what their plain part does not (`_compared`)."""
        return self._compared[0]

    @cached_property
    def _compared(self) -> tuple[dict[int, tuple[int, int]], dict[int, str], set[int]]:
        """`parts_differ`: the multipart/alternatives whose HTML shows what their plain alternative does not (runs of
        three words the plain text lacks: `PARTS_DIFFER_RUNS`, or a quarter of the HTML's): alternative
        -> (distinct runs of the HTML not in the plain text, distinct runs of the HTML); (0, 0) for one
        the budget left compared in part only or not at all (both sides are read). A reader shows the
        HTML alternative (RFC 2046 section 5.1.4 prefers the last one a reader can show, which senders
        make the HTML; clients prefer HTML wherever it stands), so a plain part that says something
        else is read by the checks only: "Thank you, I will be in touch" over an approach written in
        the HTML hid the approach from every text check. Rspamd's R_PARTS_DIFFER and SpamAssassin's
        MPART_ALT_DIFF compare the same two parts. Words and the budget: see PARTS_DIFFER_RUNS; linear.
        And for each alternative whose HTML shows a few such runs, too few to differ, the HTML's passages round the
        words the plain part does not have (`differing_words` by `_word_key`, at most NEAR_PASSAGE_CHARS): a plain
        part that cuts a few cue words with blanks ("HON ORARIUM", "WHATS APP") beside an HTML that shows them whole
        hid them from every text check (review29d K1, K4, K8).
        Third: the alternatives whose plain part says what their HTML does not (as many of its runs the HTML lacks):
        both sides are read, as for `parts_differ` (no signal: a plain part written apart from its HTML is common).
        A plain part of the HTML's runs of three words in another order, or 30 KB of other text ahead of them, holds
        every run the HTML shows, and had the checks read it alone (attack32 #1: high 10 -> clean 0.5)."""
        sides: dict[int, tuple[list[str], list[str]]] = {}
        for p in self.text_parts:
            if p.alternative:
                plain, shown = sides.setdefault(p.alternative, ([], []))
                if p.content_type == "text/html":
                    shown.append(p.shown if p.first is None else p.first)  # its visible text only, never its markup
                elif _has_text(p.text):  # a blank plain part stands in for nothing (Rspamd compares two
                    plain.append(p.text)  # non-empty parts): its HTML is read as one no plain part stands in for
        out: dict[int, tuple[int, int]] = {}
        near: dict[int, str] = {}
        plain_says: set[int] = set()
        budget = PARTS_COMPARE_CHARS
        for group, (plain, shown) in sides.items():
            if not plain or not shown:
                continue
            if budget <= 0:  # not compared: read both sides (review25 #2: leading alternatives used it up)
                out[group] = (0, 0)
                continue
            html_all, plain_all = "\n".join(shown), "\n".join(plain)
            html_text, plain_text = html_all[:budget // 2], plain_all[:budget // 2]
            budget -= len(html_text) + len(plain_text)
            html_runs = _word_runs(html_text, html=True)
            plain_runs = _word_runs(plain_text)
            only = len(html_runs - plain_runs)
            if only >= PARTS_DIFFER_RUNS or only >= PARTS_DIFFER_MIN and 4 * only >= len(html_runs):
                out[group] = (only, len(html_runs))
            elif len(html_text) < len(html_all) or len(plain_text) < len(plain_all):
                out[group] = (0, 0)  # compared in part only: read both sides (review25 #2)
            elif _says_more(plain_text, plain_runs, html_runs):
                plain_says.add(group)
            elif only and (passages := differing_words(plain_text, html_text, _word_key)):
                near[group] = passages[:_head(passages, NEAR_PASSAGE_CHARS)]
        return out, near, plain_says

    @cached_property
    def body_text(self) -> str:
        """What a reader sees of the text parts: plain text if the message has any, else the visible
        text of its HTML; and an HTML part that no plain part stands in for: in an alternative whose
        HTML shows what its plain text does not (`parts_differ`), the HTML's text instead of the plain
        one; an HTML part in an alternative without a plain part (a nested alternative: attack25 F1,
        F2), or outside any alternative (a multipart/mixed's inline part: readers show them all, in
        order), besides the plain text; and an HTML part whose words read differently without the text a style
        may hide (salting) or the lines a block shown in the line may not break, besides its plain alternative."""
        plain = self.plain_text
        if not _has_text(plain):
            return self.html_text
        differ = set(self.parts_differ) | {p.alternative for p in self.text_parts if p.salted and p.alternative} | \
            self._compared[2]
        # (an HTML part read another way beside a plain one that holds its junk or its lines, as its first reading
        # does: both read, each one's beginning first, review29d #1, review29e #1)
        with_plain = {p.alternative for p in self.text_parts
                      if p.alternative and p.content_type != "text/html" and _has_text(p.text)}
        shown = [p for p in self.text_parts if p.content_type != "text/html"
                 or p.alternative in differ or p.alternative not in with_plain]
        thin = self._thin_alternatives(with_plain)
        near = {a: v for a, v in self._compared[1].items() if a not in differ}  # (an HTML's few runs its plain part
        # lacks: read right before the plain part)
        if not thin and not near and all(p.content_type != "text/html" for p in shown):
            return plain
        # the plain side of an alternative whose HTML shows far less (`_thin_alternatives`): THIN_IN_PLACE
        # characters of all such sides in their place, the rest after the rest: 200 KB of plain parts under an
        # empty HTML ahead of an approach pushed it past the readers' windows (review25 #2's shape)
        later: list[str] = []
        left = THIN_IN_PLACE
        # a differing alternative: both sides (the plain one is what a reader preferring plain text sees,
        # and what an HTML hiding it behind CSS content would not show the checks: attack25 F5), each one's
        # first HEAD_CHARS characters before the rest of either, the HTML's first: a long side no longer
        # pushes the other past the readers' windows (the text model's 4,000 characters, review25 #1)
        out: list[str] = []
        done: set[int] = set()
        for p in shown:
            passages = near.pop(p.alternative, "") if p.content_type != "text/html" else ""  # (a group's first plain
            if p.alternative in thin and p.content_type == "text/html":  # part only)
                continue  # (its beginning is read ahead of its plain side, the rest after the rest)
            if p.alternative in thin:
                if p.alternative not in done:  # the beginning of the HTML a reader sees, ahead of a plain side that
                    done.add(p.alternative)  # says far more: 30 KB of other text, or of one paragraph repeated, had
                    html = "\n".join(q.reading for q in self.text_parts  # hidden the HTML's approach behind it
                                     if q.alternative == p.alternative and q.content_type == "text/html")
                    head = _head(html, HEAD_CHARS)  # (attack32 #1, review32 #3; only its beginning: a salted HTML's
                    out.append(html[:head])  # hidden text read whole had pushed the plain side out, review32 #2)
                    later.append(html[head:])
                cut = len(p.text) if len(p.text) <= left else max(p.text.rfind("\n", 0, left) + 1,
                                                                  p.text.rfind(" ", 0, left) + 1)
                out += [passages, p.text[:cut]]  # (at a line break or a space: no word split)
                later.append(p.text[cut:])
                left -= cut
            elif passages:  # (ahead of the plain part: after it, a passage's sign-off and cut signature had
                out += [passages, p.text]  # become the signature the claims reader reads)
            elif p.alternative not in differ:
                out.append(p.reading if p.content_type == "text/html" else p.text)
            elif p.alternative not in done:
                done.add(p.alternative)
                group = [q for q in shown if q.alternative == p.alternative]
                html = "\n".join(q.reading for q in group if q.content_type == "text/html")
                text = "\n".join(q.text for q in group if q.content_type != "text/html")
                out += _heads_first(html, text)  # both beginnings within every reader's reach (review25 #1)
        return "\n".join([x for x in out if x] + [x for x in later if x])

    def _thin_alternatives(self, alternatives: set[int]) -> set[int]:
        """Of these alternatives (with a plain side), those whose HTML shows less than a quarter of what their
        plain side says (`TextPart.seen`: without what a style may hide; CSS generated content counts): a reader
        of the HTML sees little of it. A nested alternative is its outer one's HTML side: what its HTML shows
        counts, its plain side only when it has no HTML (review26c E12: 200 KB of plain text beside a nested
        alternative pushed its approach out; review27 #2: a nested plain side no reader of the HTML sees)."""
        if not alternatives:
            return set()
        plain: dict[int, int] = {}
        html: dict[int, int] = {}
        for p in self.text_parts:
            side = html if p.content_type == "text/html" else plain
            side[p.alternative] = side.get(p.alternative, 0) + (
                (p.seen if p.seen >= 0 else len(p.shown.strip())) if side is html else len(p.text.strip()))
        shows: dict[int, int] = {}  # what each alternative's nested ones show, the innermost first (numbered
        for nested in sorted(self._outer_alternatives, reverse=True):  # after their outer ones)
            outer = self._outer_alternatives[nested]
            shown = nested in html or nested in shows
            size = html.get(nested, 0) + shows.get(nested, 0) if shown else plain.get(nested, 0)
            shows[outer] = shows.get(outer, 0) + size
        return {a for a in alternatives if a in plain and (a in html or a in shows)
                and 4 * (html.get(a, 0) + shows.get(a, 0)) < plain[a]}

    @cached_property
    def content_type(self) -> str:
        return self.msg.get_content_type()
