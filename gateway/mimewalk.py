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

import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

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
# boundary) and in gateway/parse.py, through `capped_field`: once per field and message object.
MAX_PARAMS = 100
MAX_PARAM_HEADER = 8192
PARAM_HEADERS = frozenset({"content-type", "content-disposition"})
KEPT_PARAMS = ("boundary", "charset", "name", "filename")
MAX_KEPT = 16
MAX_KEPT_CHARS = 1000  # a kept parameter longer than this is left out (boundaries <= 70, names <= 255)
# a kept parameter after the cap: ';', its name (RFC 2231: name*, name*0, name*0*), '='
_KEPT = re.compile(r";[ \t\r\n]*(?:" + "|".join(KEPT_PARAMS) + r")(?:\*[0-9]{0,3}\*?)?[ \t\r\n]*=", re.I)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


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
    quotes, counted = head.count('"') - head.count('\\"'), len(head)
    if quotes % 2:  # the cut fell inside a quoted string: the head ends before that parameter
        q = head.rfind('"')
        while q > 0 and head[q - 1] == "\\":
            q = head.rfind('"', 0, q - 1)
        head = head[:max(head.rfind(";", 0, q), 0)]
        quotes, counted = head.count('"') - head.count('\\"'), len(head)
        if quotes % 2:  # quotes that do not pair up before it: the type alone
            head = head.split(";", 1)[0]
            quotes, counted = head.count('"') - head.count('\\"'), len(head)
    kept: list[str] = []
    for m in _KEPT.finditer(value, len(head)):
        if m.start() < counted:  # inside a parameter kept just before
            continue
        quotes += value.count('"', counted, m.start()) - value.count('\\"', counted, m.start())
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
        quotes += value.count('"', counted, end) - value.count('\\"', counted, end)
        counted = end
        if len(param) <= MAX_KEPT_CHARS:
            kept.append(param)
            if len(kept) == MAX_KEPT:
                break
    return "; ".join([head, *kept]) if kept else head


def capped_field(owner: Message, name: str, raw: tuple[str, str]) -> Any:
    """What `get` answers for the stored field `raw` (name as written, value) of `owner`, when
    `name` (lower-case) is a parameter field: the policy's value capped by `cap_params` (an 8-bit
    field, which compat32 gives as a `Header`, read as text, as the stdlib itself reads it). The
    answer is remembered per stored value on `owner`: a part's parameter fields are asked about
    ten times, and compat32 builds a new `Header` each time."""
    memo: dict[str, tuple[str, Any]] | None = owner.__dict__.get("_capped")
    if memo is None:
        memo = owner.__dict__["_capped"] = {}
    hit = memo.get(name)
    if hit is not None and hit[0] is raw[1]:
        return hit[1]
    value = owner.policy.header_fetch_parse(*raw)
    text = value if isinstance(value, str) else str(value)
    answer = cap_params(text) if len(text) > 64 else value
    memo[name] = (raw[1], answer)
    return answer


class _CappedMessage(Message):
    """compat32 Message whose parameter headers are read capped (`capped_field`): a nested
    multipart with 200 KB of ';' before its boundary cost the walk ~0.4 s (the skeleton walks
    every message above 64 KB, on the event loop below offload_bytes)."""

    def get(self, name: str, failobj: Any = None) -> Any:
        lname = name.lower()
        if lname not in PARAM_HEADERS:
            return super().get(name, failobj)
        for k, v in self._headers:  # type: ignore[attr-defined]
            if k.lower() == lname:
                return capped_field(self, lname, (k, v))
        return failobj


_PARSER = BytesHeaderParser(_CappedMessage, policy=email.policy.compat32)


class MimeError(ValueError):
    """The structure could not be walked within the limits; the caller leaves the body alone."""


@dataclass
class Entity:
    """One MIME entity: raw[start:body_start] is its header block, raw[body_start:end] its body."""

    start: int
    body_start: int
    end: int
    headers: Message
    depth: int
    children: list[Entity] = field(default_factory=list)

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
        disposition = str(self.headers.get("Content-Disposition", "")).split(";", 1)[0]
        if disposition.strip().lower() == "attachment":
            return True
        try:
            return bool(self.headers.get_filename())
        except Exception:  # noqa: BLE001 - RFC 2231 parameters from a stranger
            return True

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


def _entity(raw: bytes, start: int, end: int, depth: int) -> Entity:
    body_start = _header_end(raw, start, end)
    headers = _PARSER.parsebytes(raw[start:body_start])
    return Entity(start=start, body_start=body_start, end=end, headers=headers, depth=depth)


def _delimiters(raw: bytes, boundary: str, start: int, end: int) -> list[re.Match[bytes]]:
    try:
        b = boundary.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MimeError("non-ASCII boundary") from exc
    if not b or len(b) > 200:
        raise MimeError("bad boundary length")
    pattern = re.compile(rb"(?m)^--" + re.escape(b) + rb"(--)?[ \t]*\r?$")
    # = list(pattern.finditer(raw, start, end)), but the candidates are found by bytes.find (C,
    # memchr speed) and only they are tried with the pattern: a regex scan of a 10 MB
    # attachment took ~60 ms of the GIL; `^` still means the string's start or after an LF
    found = []
    needle = b"--" + b
    at = raw.find(needle, start, end)
    while at >= 0:
        m = pattern.match(raw, at, end)
        if m is not None:
            found.append(m)
        at = raw.find(needle, at + 1, end)
    return found


def _line_start(raw: bytes, delim_start: int, floor: int) -> int:
    """The CRLF (or LF) before a delimiter belongs to the delimiter (RFC 2046 5.1.1)."""
    if delim_start >= floor + 2 and raw[delim_start - 2:delim_start] == b"\r\n":
        return delim_start - 2
    if delim_start >= floor + 1 and raw[delim_start - 1:delim_start] == b"\n":
        return delim_start - 1
    return delim_start


def _split_parts(raw: bytes, entity: Entity) -> list[tuple[int, int]]:
    boundary = entity.headers.get_param("boundary")
    if not isinstance(boundary, str):
        raise MimeError("multipart without a usable boundary")
    found = _delimiters(raw, boundary, entity.body_start, entity.end)
    if not found:
        raise MimeError("no boundary line found")
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(found):
        if m.group(1):  # close delimiter: the epilogue follows
            break
        part_start = m.end()
        if raw.startswith(b"\n", part_start):
            part_start += 1
        if i + 1 < len(found):
            part_end = _line_start(raw, found[i + 1].start(), part_start)
        else:
            part_end = entity.end
        spans.append((min(part_start, part_end), part_end))
    if not any(m.group(1) for m in found):
        raise MimeError("no close delimiter")
    return spans


def walk(raw: bytes, *, max_depth: int = 20, max_parts: int = 500) -> Entity:
    """The entity tree of `raw`. Descends into multipart/* only (not message/rfc822)."""
    root = _entity(raw, 0, len(raw), 0)
    count = 1
    stack = [root]
    while stack:
        entity = stack.pop()
        if entity.maintype != "multipart":
            continue
        if entity.depth >= max_depth:
            raise MimeError("MIME nesting deeper than the limit")
        for start, end in _split_parts(raw, entity):
            count += 1
            if count > max_parts:
                raise MimeError("more MIME parts than the limit")
            child = _entity(raw, start, end, entity.depth + 1)
            entity.children.append(child)
            stack.append(child)
    return root
