"""Byte-level MIME structure: where each entity's headers and body sit in the raw message.

Purpose: the banner must change only the bodies of a few text parts and leave every other byte
where it was (STYLE.md rule 4), so we locate entities by walking boundary lines on the bytes
ourselves; the stdlib parser only reads each entity's own header block. The parse step walks
the same tree to leave unread attachment bodies out of the parse (gateway/parse.py `skeleton`),
and the staff-report intake to find a reported message: it sits below parse/ and act/ alike.

Untrusted input: the whole message. Missing or repeated boundaries, absurd nesting, header blocks
without an end and parameters that do not parse are all expected; the walk is bounded by depth
and part count and raises `MimeError` (never anything else) when it gives up.
"""

from __future__ import annotations

import bisect
import email.policy
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from gateway.authres import strip_comments

_BLANK_LINE = re.compile(rb"\n\r?\n")

# MIME parameters are parsed by the stdlib's `email.message._parseparam`, quadratic in the number
# of ';' (it re-slices the rest of the value per parameter: 640 KB of ';' in one part's
# Content-Type took 10 s, and a folded header in a body part is bounded only by the message
# size). A part's Content-Type / Content-Disposition is read cut after MAX_PARAMS parameters or
# MAX_PARAM_HEADER characters; real ones have a few (RFC 2231 continuations a few dozen). Of the
# rest only the parameters a reader acts on (KEPT_PARAMS: the boundary above all -- a boundary put
# after 100 junk parameters hid a multipart's text from the analysis, while mail clients split it
# and showed it) are kept, at most MAX_KEPT of them, in order. A field with 8-bit bytes comes from
# the compat32 policy as an `email.header.Header`, which the stdlib reads as str(): capped alike
# (it was not, and 160 KB of ';' in such a field cost 3 s). Here (the walk asks a multipart's
# boundary) and in gateway/parse.py, through `mime_field`: once per field and message object.
MAX_PARAMS = 100
MAX_PARAM_HEADER = 8192
PARAM_HEADERS = frozenset({"content-type", "content-disposition"})
KEPT_PARAMS = ("boundary", "charset", "name", "filename")
MAX_KEPT = 16
MAX_KEPT_CHARS = 1000  # a kept parameter longer than this is left out (boundaries <= 70, names <= 255)
# a kept parameter after the cap: ';', its name (RFC 2231: name*, name*0, name*0*), '='
_KEPT = re.compile(r";[ \t\r\n]*(?:" + "|".join(KEPT_PARAMS) + r")(?:\*[0-9]{0,3}\*?)?[ \t\r\n]*=", re.I)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_ANY_PAIR = re.compile(r"\\.", re.S)


def _blank_pairs(text: str) -> str:
    """`text` with each quoted-pair (read left to right: an escaped backslash is one) as two NULs:
    the same length, and a quote left in it is a real one (`x="a\\\\"` ends after the a\\)."""
    return _ANY_PAIR.sub("\0\0", text) if "\\" in text else text


def _quotes(text: str) -> int:
    return _blank_pairs(text).count('"')


def cap_params(value: str) -> str:
    """`value` up to its MAX_PARAMS-th ';' (the type and MAX_PARAMS - 1 parameters) and
    MAX_PARAM_HEADER characters, then the KEPT_PARAMS parameters of the rest. Linear: the cut is
    found by `str.split` (C speed), the rest read by one regex scan and a running count of the
    quotes before each candidate (one inside a quoted string is not a parameter)."""
    head = value[:MAX_PARAM_HEADER]
    pieces = head.split(";", MAX_PARAMS)
    if len(pieces) > MAX_PARAMS:
        head = head[:len(head) - len(pieces[-1]) - 1]
    elif len(value) <= MAX_PARAM_HEADER:
        return value
    quotes, counted = _quotes(head), len(head)
    if quotes % 2:  # the cut fell inside a quoted string: the head ends before that parameter
        q = _blank_pairs(head).rfind('"')
        head = head[:max(head.rfind(";", 0, q), 0)]
        quotes, counted = _quotes(head), len(head)
        if quotes % 2:  # quotes that do not pair up before it: the type alone
            head = head.split(";", 1)[0]
            quotes, counted = _quotes(head), len(head)
    kept: list[str] = []
    for m in _KEPT.finditer(value, len(head)):
        if m.start() < counted:  # inside a parameter kept just before
            continue
        quotes += _quotes(value[counted:m.start()])
        counted = m.start()
        if quotes % 2:
            continue  # inside a quoted string
        start = m.end()
        while start < len(value) and value[start] in " \t\r\n":
            start += 1
        quoted = _QUOTED.match(value, start) if value.startswith('"', start) else None
        if quoted is not None:
            end = quoted.end()
        else:
            end = value.find(";", start)
            end = len(value) if end < 0 else end
        param = value[m.start() + 1:end].strip()
        quotes += _quotes(value[counted:end])
        counted = end
        if len(param) <= MAX_KEPT_CHARS:
            kept.append(param)
            if len(kept) == MAX_KEPT:
                break
    return "; ".join([head, *kept]) if kept else head


# The MIME fields as RFC 2045/2183 write them and mail readers read them, before the stdlib
# sees them (it reads none of this: a trailing space, a comment or a fold after "base64" left the
# body undecoded, a comment after the type or the boundary hid the parts, while Dovecot and mail
# clients decoded and showed the text; attack20 findings 1-3): folds unfolded, comments
# (nested, with quoted-pairs) dropped outside quoted strings, quoted-pairs in quoted strings
# resolved (`boundary="X\X"` is X X without the backslash), a field name written with space
# before its colon found (see `field_name`); of several Content-Transfer-Encoding fields a
# decoding one (base64, then quoted-printable) wins, so the text some reader decodes is read.
MIME_FIELDS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
MAX_FIELD_COPIES = 8  # repeated fields of one name read at most
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# a quoted string (its end quote optional, so an unterminated one never backtracks: linear; the
# parentheses in it are its own) or one innermost comment (a '"' in it is just a character);
# comments nest: repeated passes (`_clean_pass`)
_OPENING = re.compile(r'["(]')
_QUOTED_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?', re.S)
_IN_COMMENT = re.compile(r"(?:[^()\\]|\\.)*+", re.S)  # a comment's text, up to its ")" (or a "(" or the end)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)  # read left to right: an escaped backslash is one pair
MAX_COMMENT_PASSES = 4
MAX_DEEP_COMMENTS = 4096  # a field longer than this keeps comments nested deeper than the passes


def _clean_pass(text: str) -> str:
    """`text` with each quoted string's quoted-pairs resolved and each innermost comment read as white space (as
    `re.sub(r'("(?:[^"\\\\]|\\\\.)*"?)|\\((?:[^()\\\\]|\\\\.)*\\)', ...)` read it), in one pass: that search started
    again at every "(" inside a comment it had followed to its end without finding a ")" (an escaped one, `\\(`),
    which failed the same way: 49 s for 100 KB of `\\(` in a Content-Transfer-Encoding field (regex32 #1). A "("
    inside such a comment is passed over; a '"' inside it still opens a quoted string, as it did."""
    out: list[str] = []
    kept = at = 0
    failed = -1  # where the last comment that found no ")" stopped
    while (m := _OPENING.search(text, at)) is not None:
        start = m.start()
        if text[start] == '"':
            end = _QUOTED_STRING.match(text, start).end()  # type: ignore[union-attr]  # (it always matches)
            quoted = text[start:end]
            out += [text[kept:start], _QUOTED_PAIR.sub(_pair, quoted) if "\\" in quoted else quoted]
            kept = at = end
        elif start < failed:
            at = start + 1  # (its comment stops where the one round it stopped: no ")")
        else:
            end = _IN_COMMENT.match(text, start + 1).end()  # type: ignore[union-attr]  # (it always matches)
            if end < len(text) and text[end] == ")":
                if not _in_a_value(text, start):  # a comment reads as white space
                    out += [text[kept:start], " "]
                    kept = end + 1
                at = end + 1
            else:
                failed, at = end, start + 1
    return "".join(out) + text[kept:] if out else text


def _in_a_value(text: str, at: int) -> bool:
    """Whether the '(' at `at` is part of an unquoted parameter value (`boundary=a(b)c`: RFC 2046
    boundaries may hold parentheses, and readers that split on `--a(b)c` show the parts; review20):
    right after a value's character, with the parameter's '=' in the 200 characters before it."""
    if at == 0 or text[at - 1] in ' \t\r\n;="':
        return False
    start = max(0, at - 200)
    return "=" in text[max(text.rfind(";", start, at) + 1, start):at]


def _pair(m: re.Match[str]) -> str:
    """A quoted-pair resolved, but \\" and \\\\ kept: the stdlib's unquote reads those two."""
    return m.group(0) if m.group(1) in '"\\' else m.group(1)


def clean_field(text: str) -> str:
    """A MIME field's value unfolded, without comments, quoted-pairs in quoted strings resolved
    (but \\" and \\\\, which the stdlib's unquote reads). Linear: C-speed regex passes."""
    if "\n" in text:
        text = _FOLD.sub("", text)
    if "(" not in text and "\\" not in text:
        return text
    for _ in range(MAX_COMMENT_PASSES):
        cleaned = _clean_pass(text)
        if cleaned == text:
            return text
        text = cleaned
    if "(" in text and len(text) <= MAX_DEEP_COMMENTS:  # nested deeper than the passes (review20:
        return strip_comments(text)  # `base64 (((((c)))))`): one counted walk, as the AR parser's
    return text


def field_name(name: str) -> str:
    """A stored field name as looked up: lower case, without the white space RFC 5322's obsolete
    syntax allows before the colon (`Content-Type :`, which mail readers accept)."""
    name = name.lower()
    return name.rstrip(" \t") if name[-1:] in (" ", "\t") else name


def mime_field(owner: Message, name: str, fields: list[tuple[str, str]]) -> Any:
    """What `get` answers for the MIME field `name` (lower case; see MIME_FIELDS) of `owner`,
    given its stored fields of that name in order (name as written, value): the value cleaned
    (`clean_field`; an 8-bit field, which compat32 gives as a `Header`, read as text, as the
    stdlib itself reads it), a parameter field capped (`cap_params`), a transfer encoding
    stripped and chosen among several. Remembered per stored values on `owner`: a part's MIME
    fields are asked about ten times, and compat32 builds a new `Header` each time."""
    memo: dict[str, tuple[tuple[str, ...], Any]] | None = owner.__dict__.get("_mime")
    if memo is None:
        memo = owner.__dict__["_mime"] = {}
    values = tuple(v for _, v in fields[:MAX_FIELD_COPIES])
    hit = memo.get(name)
    if hit is not None and len(hit[0]) == len(values) and all(a is b for a, b in zip(hit[0], values, strict=True)):
        return hit[1]
    texts = []
    for k, v in fields[:MAX_FIELD_COPIES] if name == "content-transfer-encoding" else fields[:1]:
        value = owner.policy.header_fetch_parse(k, v)
        text = value if isinstance(value, str) else str(value)
        if "\n" in text:
            text = _FOLD.sub("", text)
        if name != "content-transfer-encoding" and len(text) > 64:
            text = cap_params(text)
        texts.append(clean_field(text))
    answer: str = texts[0]
    if name == "content-transfer-encoding":
        codes = [t.strip().lower() for t in texts]
        answer = next((c for c in ("base64", "quoted-printable") if c in codes and len(set(codes)) > 1),
                      texts[0].strip())
    memo[name] = (values, answer)
    return answer


def mime_fields_of(owner: Message, name: str) -> list[tuple[str, str]]:
    """The stored fields of the MIME field `name` (lower case), in order (from the owner's index
    of its fields by name where it has one: `gateway.parse._BoundedMessage.fields_named`)."""
    named = getattr(owner, "fields_named", None)
    if named is not None:
        return named(name)  # type: ignore[no-any-return]
    return [(k, v) for k, v in owner._headers if field_name(k) == name]  # type: ignore[attr-defined]


def attached(headers: Message) -> bool:
    """A part its reader opens rather than sees: `Content-Disposition: attachment` (RFC 2183). A
    part with a file name but no such disposition is shown in the body (Thunderbird and Apple
    Mail show it there; RFC 2183 2.1): it is read, and gets the banner."""
    return str(headers.get("Content-Disposition", "")).split(";", 1)[0].strip().lower() == "attachment"


class _CappedMessage(Message):
    """compat32 Message whose MIME fields are read as mail readers read them, capped
    (`mime_field`): a nested multipart with 200 KB of ';' before its boundary cost the walk
    ~0.4 s (the skeleton walks every message above 64 KB, on the event loop below
    offload_bytes)."""

    def get(self, name: str, failobj: Any = None) -> Any:
        lname = name.lower()
        if lname not in MIME_FIELDS:
            return super().get(name, failobj)
        fields = mime_fields_of(self, lname)
        if lname != "content-transfer-encoding":
            fields = fields[:1]  # the first counts, as in gateway/parse.py (only the CTE's copies are weighed)
        return mime_field(self, lname, fields) if fields else failobj


_PARSER = BytesHeaderParser(_CappedMessage, policy=email.policy.compat32)


class MimeError(ValueError):
    """The structure could not be walked within the limits; the caller leaves the body alone."""


class UnsplittableError(MimeError):
    """One multipart cannot be split (no usable boundary, a boundary the walk refuses, no
    delimiter line): below the top, `walk` reads it as one opaque part, as Dovecot reads it, and
    goes on with the rest (a decoy part once made the walk give up on the whole message: attack22)."""


@dataclass
class Entity:
    """One MIME entity: raw[start:body_start] is its header block, raw[body_start:end] its body."""

    start: int
    body_start: int
    end: int
    headers: Message
    depth: int
    children: list[Entity] = field(default_factory=list)
    delimiters: list[Delimiter] = field(default_factory=list)  # of a multipart: the lines that split it

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    @property
    def maintype(self) -> str:
        return self.headers.get_content_maintype()

    @property
    def charset(self) -> str:
        cs = self.headers.get_content_charset("us-ascii")
        return cs or "us-ascii"

    @property
    def cte(self) -> str:
        value = self.headers.get("Content-Transfer-Encoding", "7bit")
        return str(value).strip().lower() or "7bit"

    @property
    def is_attachment(self) -> bool:
        return attached(self.headers)

    def walk(self) -> list[Entity]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _header_end(raw: bytes, start: int, end: int) -> int:
    """Offset where the body of the entity starting at `start` begins (end if no blank line)."""
    if raw.startswith(b"\r\n", start) and start + 2 <= end:
        return start + 2
    if raw.startswith(b"\n", start) and start + 1 <= end:
        return start + 1
    m = _BLANK_LINE.search(raw, start, end)
    return m.end() if m else end


# A MIME part's field written with white space before its colon (`Content-Type : text/plain`, RFC
# 5322 obs-syntax): Dovecot and mail readers take it as the field, the stdlib's feed parser ends
# the part's header block there and reads the base64 as text (attack20: an approach so written
# scanned clean while Dovecot decoded it). For the analysis (gateway.parse) every such line after
# the message's header block loses that white space (a body line "Note : x" reads as "Note: x",
# which changes no signal); here, a part's header block is read so (the banner put plain text at
# the top of its base64 body, session 21); a boundary line (starting "--", whose boundary may
# hold " :") is left alone.
SPACED_PART_FIELD = re.compile(rb"^(?!--)([!-9;-~]+)[ \t]+:", re.MULTILINE)
_SPACED_AFTER_LF = re.compile(rb"\n(?!--)[!-9;-~]+[ \t]+:")  # such a line found from the LF before it


def spaced_part_field_in(raw: bytes, start: int) -> bool:
    """Whether `SPACED_PART_FIELD.search(raw, start)` finds one, in a search from each LF (a literal
    prefix: the multiline `^` had the search try every byte of the body; ~2.5 times the instructions)
    and a match at `start` itself (where `^` holds there: at 0 or after an LF)."""
    return SPACED_PART_FIELD.match(raw, start) is not None or _SPACED_AFTER_LF.search(raw, start) is not None


def _entity(raw: bytes, start: int, end: int, depth: int) -> Entity:
    body_start = _header_end(raw, start, end)
    block = raw[start:body_start]
    headers = _PARSER.parsebytes(SPACED_PART_FIELD.sub(rb"\1:", block) if SPACED_PART_FIELD.search(block) else block)
    return Entity(start=start, body_start=body_start, end=end, headers=headers, depth=depth)


# A delimiter line is "--" and the boundary at a line start (RFC 2046 5.1.1: "Boundary string
# comparisons must compare the boundary value with the beginning of each candidate line. An exact
# match of the entire candidate line is not required"); "--" after the boundary makes it the close
# delimiter, whatever follows. Dovecot reads them so (and shows IMAP clients the parts), while the
# stdlib parser wants nothing but white space after the boundary: a message written with
# `--XXjunk` lines hid its text from the analysis (session 21). A line that begins with the
# boundary of a multipart nested in the part it opens (`XX_alt` inside `XX`) is that multipart's,
# as in Dovecot, whose innermost boundary is tried first.
MAX_DELIMITER_LINES = 100_000
MAX_STACK = 20


@dataclass(frozen=True)
class Delimiter:
    """One delimiter line: raw[start:end] without its line break."""

    start: int  # of "--"
    end: int
    close: bool  # "--" after the boundary
    tail: int  # where the rest after the boundary (and its "--") starts
    rest: bytes  # raw[tail:end]: nothing, or white space only, on an exact line

    @property
    def exact(self) -> bool:
        """Nothing but white space after the boundary, up to the line's end; a bare CR ends the
        line here as it does for the stdlib parser (SMTP brings none: `gateway.smtp` normalises)."""
        return not self.rest.split(b"\r", 1)[0].strip(b" \t")


# Dovecot cuts a boundary to its first 80 characters (message-parser's BOUNDARY_STRING_MAX_LEN,
# 70 + 10) and matches lines by that prefix: a 100-character boundary's parts open at any line
# "--" and its first 80 characters (attack22: an approach behind such a line, or in a part of a
# 201-character boundary the walk refused, scanned unread). The walk reads lines so;
# `exact_delimiters` writes them with the whole boundary for the stdlib parser.
DOVECOT_BOUNDARY = 80


def _matched(boundary: str) -> bytes:
    """The bytes a delimiter line begins with after "--", as Dovecot matches them."""
    try:
        b = boundary.encode("ascii")
    except UnicodeEncodeError as exc:
        raise UnsplittableError("non-ASCII boundary") from exc
    if not b:
        raise UnsplittableError("empty boundary")
    return b[:DOVECOT_BOUNDARY]


# A nested multipart's header block as _innermost reads it, by (start, end): the walk reads the
# same block once for every enclosing multipart whose boundary the nested ones extend (20 levels
# of prefix boundaries read each of 400 blocks 20 times: 110 ms for 39 KB, attack22)
HeaderCache = dict[tuple[int, int], bytes | None]


# The lines found for one matched boundary, by that boundary: (start, end, the lines in
# raw[start:end]). Nested multiparts whose boundaries share their first 80 characters (or are the
# same) all match the same lines: each one's range lies inside the one found before it (the walk
# splits an enclosing multipart first), and its lines are a slice of those, found by bisection,
# instead of a new scan and a new Delimiter per line and level (19 levels of 100-character
# boundaries sharing 80 over 1,500 parts cost 19 scans of every line: 57 ms of a 92 ms walk, attack23 C1)
LineCache = dict[bytes, tuple[int, int, list[Delimiter]]]


@dataclass
class _Owned:
    """The lines a nested multipart owns in an enclosing one's innermost-first reading, where
    its boundary as matched is the enclosing one's (`OwnedLines`)."""

    lines: list[Delimiter] = field(default_factory=list)
    stop: int | None = None  # where its range ends: the start of the line that ends it, or the end


# A nested multipart whose boundary, as matched, is the enclosing one's (the same 80 characters)
# meets, in its own innermost-first reading, the very lines and stack the enclosing one's reading
# met over its range: that reading's lines for it are kept, by (boundary, body start), and its own
# split takes them instead of reading every line again, level after level (attack23 C1). Kept
# only while the stack never reached MAX_STACK (a shorter stack below could push more), and taken
# only when the range the walk gives it ends where that reading ended it.
OwnedLines = dict[tuple[bytes, int], _Owned]


def _cached_lines(raw: bytes, boundary: str, start: int, end: int, lines: LineCache | None) -> list[Delimiter]:
    """`_lines(raw, boundary, start, end)`, from `lines` when an earlier range held this one."""
    if lines is None:
        return _lines(raw, boundary, start, end)
    b = _matched(boundary)
    hit = lines.get(b)
    if hit is None or not hit[0] <= start <= end <= hit[1]:
        found = _lines(raw, boundary, start, end)
        lines[b] = (start, end, found)
        return found
    whole = hit[2]
    first = bisect.bisect_left(whole, start, key=lambda d: d.start)
    last = bisect.bisect_left(whole, end - 2 - len(b) + 1, lo=first, key=lambda d: d.start)
    found = whole[first:last]
    if found and found[-1].end > end:  # the range ends inside its last line: cut there, as `_lines` does
        d = found[-1]
        close = raw.startswith(b"--", d.start + 2 + len(b)) and d.start + 2 + len(b) + 2 <= end
        tail = d.start + 2 + len(b) + (2 if close else 0)
        found[-1] = Delimiter(d.start, end, close, tail, raw[tail:end])
    return found


def _delimiters(raw: bytes, boundary: str, start: int, end: int, most: int = 500,
                cache: HeaderCache | None = None, lenient: bool = True,
                lines: LineCache | None = None, owned: OwnedLines | None = None) -> list[Delimiter]:
    found = _cached_lines(raw, boundary, start, end, lines)
    b = _matched(boundary)
    # the boundary written elsewhere than in its delimiter lines (a nested multipart naming it,
    # or one that extends it: `XX` or `XX--` inside `XX`, attack22) makes the nesting matter;
    # otherwise exact lines are all the multipart's own (bytes.count: no header block is read)
    if all(d.exact for d in found) and raw.count(b, start, end) <= len(found):
        return found
    read = owned.pop((b, start), None) if owned is not None else None
    if read is not None and read.stop is not None and len(found) <= 4 * most and \
            (read.stop if read.stop >= len(raw) or read.stop == end else _line_start(raw, read.stop, start)) == end:
        mine = read.lines[:]
        if mine and mine[-1].end > end:  # cut at the range's end, as `_lines` cuts the last line
            d = mine[-1]
            close = raw.startswith(b"--", d.start + 2 + len(b)) and d.start + 2 + len(b) + 2 <= end
            tail = d.start + 2 + len(b) + (2 if close else 0)
            mine[-1] = Delimiter(d.start, end, close, tail, raw[tail:end])
        return mine
    return _innermost(raw, b, found, end, most, {} if cache is None else cache, lenient, owned)


def _lines(raw: bytes, boundary: str, start: int, end: int) -> list[Delimiter]:
    """Every line in raw[start:end] that begins with "--" and `boundary` (its first 80
    characters, as Dovecot reads it: `DOVECOT_BOUNDARY`)."""
    b = _matched(boundary)
    # candidates found by bytes.find (C, memchr speed), then checked to be at a line start: a
    # regex scan of a 10 MB attachment took ~60 ms of the GIL
    found: list[Delimiter] = []
    needle = b"--" + b
    at = raw.find(needle, start, end)
    while at >= 0:
        if at == 0 or raw[at - 1] == 0x0A:
            eol = raw.find(b"\n", at, end)
            eol = end if eol < 0 else eol
            tail = at + len(needle)
            close = raw.startswith(b"--", tail) and tail + 2 <= eol
            tail += 2 if close else 0
            found.append(Delimiter(at, eol, close, tail, raw[tail:eol]))
            if len(found) > MAX_DELIMITER_LINES:
                raise MimeError("more delimiter lines than the limit")
        at = raw.find(needle, at + 1, end)
    return found


class _Reads:
    """Beside `_innermost`'s stack: the lines each nested multipart whose boundary, as matched,
    is the enclosing one's owns in that reading, and where its range ends (`OwnedLines`)."""

    def __init__(self, owned: OwnedLines, b: bytes) -> None:
        self.owned, self.b = owned, b
        self.reads: list[_Owned | None] = []  # one per stack entry
        self.kept: list[tuple[bytes, int]] = []
        self.ended: list[_Owned] = []  # closed: their range ends at the next line
        self.full = False  # the stack reached MAX_STACK: a reading below it could push more

    def line(self, d: Delimiter, owner: int | None, close: bool) -> None:
        """Before the stack changes for line `d` (owned by stack entry `owner`)."""
        for closed in self.ended:
            closed.stop = d.start
        self.ended.clear()
        first = 0 if owner is None else owner + 1
        for inner in self.reads[first:]:  # ended by this line
            if inner is not None:
                inner.stop = d.start
        del self.reads[first:]
        if owner is not None:
            read = self.reads[owner]
            if read is not None:
                read.lines.append(d)
                if close:
                    self.ended.append(read)
            if close:
                del self.reads[owner:]

    def push(self, nested: bytes, body_start: int) -> None:
        r = None
        if nested == self.b:
            r = _Owned()
            key = (self.b, body_start)
            self.owned[key] = r
            self.kept.append(key)
        self.reads.append(r)

    def done(self, end: int) -> None:
        for r in self.ended + [r for r in self.reads if r is not None]:
            r.stop = end
        if self.full:
            for key in self.kept:
                self.owned.pop(key, None)


def _innermost(raw: bytes, b: bytes, found: list[Delimiter], end: int, most: int,
               cache: HeaderCache, lenient: bool = True, owned: OwnedLines | None = None) -> list[Delimiter]:
    """Of the lines that begin with `b`, those that are not a nested multipart's own. The
    multiparts open inside the current part whose boundaries begin with `b` (`b-1` inside `b`,
    `b-2` inside that: a real mailer's nesting; `b` itself, `b--`) are stacked as Dovecot stacks them; a line that
    begins with one of those (the innermost first) is that multipart's (its close delimiter
    closes it and every one inside it), any other line is `b`'s and ends them all. Header
    blocks are read only here, where a line is not exact: at most 4 x `most` of them (the walk
    accepts `most` parts), and at most MAX_STACK multiparts deep. Not `lenient` (the banner,
    whose edit the stdlib parser checks), a nested boundary longer than `DOVECOT_BOUNDARY` is
    also closed by its whole close delimiter, as `_split_parts` closes that multipart itself:
    else the lines after it, the enclosing one's, were read as the nested one's, and the
    enclosing multipart had no close delimiter (no banner, attack23 B1)."""
    if len(found) > 4 * most:
        raise MimeError("more delimiter lines than the limit")
    out: list[Delimiter] = []
    # ("--" + boundary as matched, that and "--", its whole close delimiter), innermost last
    stack: list[tuple[bytes, bytes, bytes]] = []
    reads = None if owned is None else _Reads(owned, b)
    for i, d in enumerate(found):
        if stack and raw.startswith(stack[-1][0], d.start):  # the innermost: most lines, one look
            owner: int | None = len(stack) - 1
        else:
            owner = next((k for k in range(len(stack) - 2, -1, -1) if raw.startswith(stack[k][0], d.start)), None)
        close = owner is not None and (raw.startswith(stack[owner][1], d.start)
                                       or raw.startswith(stack[owner][2], d.start))
        if reads is not None:
            reads.line(d, owner, close)
        if owner is None:
            out.append(d)
            stack.clear()
            if d.close:
                break
        elif close:
            del stack[owner:]
            continue
        else:
            del stack[owner + 1:]
        # the part's header block ends before the next line that begins with b (bounded: no rescans)
        span = (d.end + 1, found[i + 1].start if i + 1 < len(found) else end)
        whole = cache[span] if span in cache else cache.setdefault(span, _boundary_at(raw, *span))
        if whole is not None and whole.startswith(b):  # `b` itself too, as Dovecot
            if len(stack) >= MAX_STACK:
                if reads is not None:
                    reads.full = True
                continue
            nested = whole[:DOVECOT_BOUNDARY]
            stack.append((b"--" + nested, b"--" + nested + b"--", b"--" + (nested if lenient else whole) + b"--"))
            if reads is not None:
                reads.push(nested, _header_end(raw, *span) if nested == b else -1)
    if reads is not None:
        reads.done(end)
    return out


def _boundary_at(raw: bytes, start: int, end: int) -> bytes | None:
    """The boundary of the entity whose header block starts at `start`, if it is a multipart
    (whole: the caller cuts it to `DOVECOT_BOUNDARY`)."""
    if start >= end:
        return None
    block = raw[start:_header_end(raw, start, end)]
    if b"multipart" not in block.lower():  # no type "multipart" can be read from it: no parse (a
        return None  # text part's header costs the stdlib parser ~12 us; 1,500 of them per walk)
    headers = _PARSER.parsebytes(block)
    if headers.get_content_maintype() != "multipart":
        return None
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str):
        return None
    try:
        _matched(boundary)
    except UnsplittableError:
        return None
    return boundary.encode("ascii")


def loose_delimiters(raw: bytes, boundaries: Iterable[str], start: int = 0) -> bool:
    """Whether `raw` (from `start`) holds a line that begins with "--" and one of `boundaries` but
    is not an exact delimiter of it (for `MessageView.parse`, which then asks `exact_delimiters`).
    One pass over the lines that begin with "--" (found by bytes.find) for all the boundaries at
    once; per line, one set look-up per distinct boundary length (at most 80): a scan per
    boundary cost a Python step per "--"+boundary in the whole message for each multipart
    (boundary "-", 450 multiparts, 224 KB: 9 s, attack22). A boundary `_lines` refuses (not
    ASCII, empty) is skipped as it refused it; a boundary longer than `DOVECOT_BOUNDARY` is
    matched by its prefix as the walk matches it (its whole lines then read as loose: the walk
    decides)."""
    wanted: set[bytes] = set()
    for boundary in boundaries:
        try:
            wanted.add(_matched(boundary))
        except UnsplittableError:
            continue
    if not wanted:
        return False
    lengths = sorted({len(b) for b in wanted})
    end = len(raw)
    at = start if raw.startswith(b"--", start) and (start == 0 or raw[start - 1] == 0x0A) else raw.find(b"\n--", start)
    while 0 <= at < end:
        if raw[at] == 0x0A:
            at += 1
        eol = raw.find(b"\n", at)
        eol = end if eol < 0 else eol
        for n in lengths:
            if at + 2 + n > eol:
                break
            if raw[at + 2:at + 2 + n] in wanted:
                tail = at + 2 + n
                tail += 2 if raw.startswith(b"--", tail) and tail + 2 <= eol else 0
                if raw[tail:eol].split(b"\r", 1)[0].strip(b" \t"):
                    return True
        at = raw.find(b"\n--", eol)
    return False


def exact_delimiters(raw: bytes, *, max_depth: int = 20, max_parts: int = 500) -> bytes:
    """`raw` with each delimiter line the walk reads written exactly (`--XXjunk` as `--XX`,
    `--XX--junk` as `--XX--`): for the stdlib parser, which splits on exact lines only. A nested
    multipart whose exact lines the parser would take for an enclosing one's (its boundary the
    same, or the enclosing one's plus "--": Dovecot, like the walk, tries the innermost boundary
    first) gets a boundary of its own, in a Content-Type field put first in its header block
    (the parser reads the first) and in its delimiter lines (attack22). `raw` itself when the
    walk gives up or nothing is to be written."""
    try:
        root = walk(raw, max_depth=max_depth, max_parts=max_parts, lenient=True)
    except (MimeError, RecursionError):
        return raw
    edits: list[tuple[int, int, bytes]] = []  # (start, stop, written instead), none overlapping
    renamed = 0
    todo: list[tuple[Entity, tuple[bytes, ...]]] = [(root, ())]
    while todo:
        entity, outer = todo.pop()
        own = entity.headers.get_param("boundary") if entity.children else None
        b = own.encode("ascii", "replace") if isinstance(own, str) else b""
        if b and any(b in (a, a + b"--") for a in outer):
            renamed += 1
            b = _fresh_boundary(raw, renamed)
            eol = b"\r\n" if raw[entity.start:entity.body_start].endswith(b"\r\n") else b"\n"
            edits.append((entity.start, entity.start,
                          b"Content-Type: " + entity.content_type.encode("ascii", "replace") + b'; boundary="' + b
                          + b'"' + eol))
            edits += [(d.start, d.tail + len(d.rest.split(b"\r", 1)[0]), b"--" + b + (b"--" if d.close else b""))
                      for d in entity.delimiters]
        elif len(b) > DOVECOT_BOUNDARY:  # lines matched by the prefix: the parser wants the whole boundary
            edits += [(d.start, d.tail + len(d.rest.split(b"\r", 1)[0]), b"--" + b + (b"--" if d.close else b""))
                      for d in entity.delimiters]
        else:
            edits += [(d.tail, d.tail + len(d.rest.split(b"\r", 1)[0]), b"")  # up to the line's end (CR kept)
                      for d in entity.delimiters if not d.exact]
        todo += [(child, (*outer, b) if b else outer) for child in entity.children]
    edits = [e for e in edits if raw[e[0]:e[1]] != e[2]]  # a line already written so stays
    if not edits:
        return raw
    pieces, at = [], 0
    for start, stop, text in sorted(edits):
        pieces += [raw[at:start], text]
        at = max(at, stop)
    pieces.append(raw[at:])
    return b"".join(pieces)


def _fresh_boundary(raw: bytes, n: int) -> bytes:
    """A boundary found nowhere in `raw` (so no line of it begins with it): a readable one, or, when
    the message holds it, one with a random tail a sender cannot foresee. (Growing the name by a
    letter until it is not found let a message holding the name and a long run of that letter
    cost one scan of the whole message per letter.)"""
    b = b"=_gateway_nested_%d_" % n
    while b in raw:  # a random 64-bit tail: found in the message by chance, practically never
        b = b"=_gateway_nested_%d_%s" % (n, secrets.token_hex(8).encode())
    return b


def _line_start(raw: bytes, delim_start: int, floor: int) -> int:
    """The CRLF (or LF) before a delimiter belongs to the delimiter (RFC 2046 5.1.1)."""
    if delim_start >= floor + 2 and raw[delim_start - 2:delim_start] == b"\r\n":
        return delim_start - 2
    if delim_start >= floor + 1 and raw[delim_start - 1:delim_start] == b"\n":
        return delim_start - 1
    return delim_start


def _split_parts(raw: bytes, entity: Entity, lenient: bool = False, most: int = 500,
                 cache: HeaderCache | None = None, lines: LineCache | None = None,
                 owned: OwnedLines | None = None) -> list[tuple[int, int]]:
    boundary = entity.headers.get_param("boundary")
    if not isinstance(boundary, str):
        raise UnsplittableError("multipart without a usable boundary")
    found = _delimiters(raw, boundary, entity.body_start, entity.end, most, cache, lenient, lines, owned)
    if not found:
        raise UnsplittableError("no boundary line found")
    if not lenient and len(boundary) > DOVECOT_BOUNDARY:
        # the banner (which writes) ends a long boundary's multipart where the stdlib parser, whose
        # reading its edit is checked against, ends it: at the whole boundary and "--"
        close = b"--" + boundary.encode("ascii") + b"--"
        found = [Delimiter(d.start, d.end, True, d.start + len(close), raw[d.start + len(close):d.end])
                 if not d.close and raw.startswith(close, d.start) else d for d in found]
    spans: list[tuple[int, int]] = []
    for i, d in enumerate(found):
        entity.delimiters.append(d)
        if d.close:  # close delimiter: the epilogue follows
            break
        part_start = d.end
        if raw.startswith(b"\n", part_start):
            part_start += 1
        if i + 1 < len(found):
            part_end = _line_start(raw, found[i + 1].start, part_start)
        else:
            part_end = entity.end
        spans.append((min(part_start, part_end), part_end))
    if not lenient and not any(d.close for d in found):
        raise MimeError("no close delimiter")
    return spans


def walk(raw: bytes, *, max_depth: int = 20, max_parts: int = 500, lenient: bool = False) -> Entity:
    """The entity tree of `raw`. Descends into multipart/* only (not message/rfc822). `lenient`:
    a multipart without a close delimiter ends where its parent does, as readers take it (for
    reading; the banner, which writes, gives up there)."""
    root = _entity(raw, 0, len(raw), 0)
    count = 1
    cache: HeaderCache = {}  # each nested header block read once (see HeaderCache)
    lines: LineCache = {}  # each delimiter line found once (see LineCache)
    owned: OwnedLines = {}  # each line read once by the innermost-first reading (see OwnedLines)
    stack = [root]
    while stack:
        entity = stack.pop()
        if entity.maintype != "multipart":
            continue
        if entity.depth >= max_depth:
            raise MimeError("MIME nesting deeper than the limit")
        try:
            spans = _split_parts(raw, entity, lenient, max_parts, cache, lines, owned)
        except UnsplittableError:
            if entity is root:
                raise
            continue  # this multipart's body stays one opaque part; its siblings are walked
        for start, end in spans:
            count += 1
            if count > max_parts:
                raise MimeError("more MIME parts than the limit")
            child = _entity(raw, start, end, entity.depth + 1)
            entity.children.append(child)
            stack.append(child)
    return root
