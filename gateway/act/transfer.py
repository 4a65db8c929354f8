"""Content-Transfer-Encoding and charset helpers for editing one text body in place.

Purpose: prepend or insert a few bytes into a text body while keeping its transfer encoding and
charset: 7bit/8bit/binary bodies are spliced directly, quoted-printable bodies get the inserted
bytes encoded and spliced without re-encoding the original where possible, base64 bodies are
decoded and re-encoded in the original line length and line ending (a body that is not canonical
base64 -- padding missing, junk characters inside -- is read as the analysis reads it and written
back as canonical base64 in 76-column lines: `b64_decode`). UTF-16 and UTF-32 text (not
ASCII-compatible) is edited as UTF-8 and encoded back (`wide_inserter`).

Untrusted input: the body bytes of a stranger's text part (broken base64, lying charsets, stray
CR/LF). Anything that cannot be done exactly (base64 that not even the analysis's lenient decoder
reads) returns None so the caller leaves the part alone.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import sys
from collections.abc import Callable
from email.errors import InvalidBase64LengthDefect
from email.message import Message

from gateway.charsets import WIDE, python_codec

_WS = re.compile(rb"[ \t\r\n]+")
_STATEFUL = ("iso-2022", "iso2022", "utf-7", "utf_7", "hz")
_PROBE = "<body>\r\n =-"

Inserter = Callable[[bytes], "bytes | None"]


def codec_name(charset: str) -> str | None:
    """Python's codec name for a MIME charset (`gateway.charsets`: the analysis's), or None when
    unknown or not ASCII-compatible."""
    name = python_codec(charset)
    if name is None:
        return None
    try:
        if _PROBE.encode(name) != _PROBE.encode("ascii"):
            return None
    except (UnicodeError, LookupError):
        return None
    return name


def wide_codec(charset: str) -> str | None:
    """Python's codec name for a UTF-16 or UTF-32 charset (not ASCII-compatible: the banner goes
    into the decoded text, `wide_split`), else None."""
    name = python_codec(charset)
    return name if name in WIDE else None


def wide_split(content: bytes, codec: str) -> tuple[bytes, str, bytes, bytes]:
    """(BOM, codec with its byte order, the whole code units, a trailing partial unit) of
    UTF-16/32 `content`, read as the analysis reads it (`bytes.decode(codec)`): for `utf-16` and
    `utf-32` a BOM gives the byte order and without one it is the machine's (little-endian, as
    the WHATWG standard reads a BOM-less `utf-16`); a BOM in an explicit order stays first."""
    family = codec[:6]
    unit = 2 if family == "utf-16" else 4
    if codec == family:
        boms = {"utf-16": ((codecs.BOM_UTF16_LE, "le"), (codecs.BOM_UTF16_BE, "be")),
                "utf-32": ((codecs.BOM_UTF32_LE, "le"), (codecs.BOM_UTF32_BE, "be"))}[family]
        order = next((o for b, o in boms if content.startswith(b)), "le" if sys.byteorder == "little" else "be")
        codec = f"{family}-{order}"
    bom = "\ufeff".encode(codec)
    bom = bom if content.startswith(bom) else b""
    whole = len(bom) + (len(content) - len(bom)) // unit * unit
    return bom, codec, content[len(bom):whole], content[whole:]


def wide_inserter(insert: Inserter, codec: str) -> Inserter:
    """`insert` (which edits UTF-8) applied to UTF-16/32 content: decoded, transcoded to UTF-8,
    edited, encoded back in the same byte order, BOM and trailing partial unit kept. Lone
    surrogates pass through; content that does not decode exactly (a code point beyond
    U+10FFFF in UTF-32) gives None."""
    def wide(content: bytes) -> bytes | None:
        bom, order, units, tail = wide_split(content, codec)
        try:
            text = units.decode(order, "surrogatepass")
            if text.encode(order, "surrogatepass") != units:
                return None
            new = insert(text.encode("utf-8", "surrogatepass"))
            if new is None:
                return None
            return bom + new.decode("utf-8", "surrogatepass").encode(order, "surrogatepass") + tail
        except UnicodeError:
            return None
    return wide


def is_stateful(codec: str) -> bool:
    return any(codec.replace("_", "-").startswith(s) for s in _STATEFUL)


def line_ending(data: bytes) -> bytes:
    head = data[:65536]
    i = head.find(b"\n")
    if i < 0:
        return b"\r\n"
    return b"\r\n" if i > 0 and head[i - 1:i] == b"\r" else b"\n"


def _qp_line(line: bytes) -> list[bytes]:
    """Encode one line (no line ending) as quoted-printable, soft-wrapped at 76 columns, a "-" that
    would begin a line written =2D (valid QP, decoded as "-"): no encoded line begins "--", a delimiter."""
    tokens = []
    for i, byte in enumerate(line):
        last = i == len(line) - 1
        if (33 <= byte <= 126 and byte != 61) or (byte in (32, 9) and not last):
            tokens.append(bytes([byte]))
        else:
            tokens.append(b"=%02X" % byte)
    out: list[bytes] = []
    current = b""
    for tok in tokens:
        if len(current) + len(tok) > 75:
            out.append(current + b"=")
            current = b""
        if not current and tok == b"-":
            tok = b"=2D"  # no encoded line begins with "-": none reads as a boundary delimiter (review38 #4)
        current += tok
    out.append(current)
    return out


def qp_encode(data: bytes, eol: bytes) -> bytes:
    """Quoted-printable with hard line breaks at `eol` in `data` written as `eol`."""
    lines = data.split(eol)
    encoded: list[bytes] = []
    for line in lines:
        encoded.extend(_qp_line(line))
    return eol.join(encoded)


def compact(data: bytes) -> bytes:
    """`data` without spaces, tabs and line breaks (base64 text)."""
    return _WS.sub(b"", data)


def b64_decode_exact(body: bytes) -> tuple[bytes, int, bytes] | None:
    """(decoded, line length, line ending) when `body` is canonical base64, else None."""
    compact = _WS.sub(b"", body)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(decoded) != compact:
        return None
    first = body.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    width = len(first) if 4 <= len(first) <= 998 and len(first) % 4 == 0 else 76
    return decoded, width, line_ending(body)


_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_LETTER = re.compile(rb"[A-Za-z0-9+/]")


def b64_decode_lenient(body: bytes) -> bytes | None:
    """`body` decoded as the analysis decodes a base64 part (`gateway.parse._decode_part`: the
    stdlib's `Message.get_payload(decode=True)`, compat32; this very function, not a copy), which
    drops characters outside the base64 alphabet, supplies missing padding and stops at a
    padding that ends a group. None when even that cannot read it (then the stdlib returns the
    encoded text itself and records an InvalidBase64LengthDefect), and when base64 follows a
    padding: the decoder stops there, and writing back what it read would drop that text from
    the delivered message (some joined-chunk mailers write such bodies)."""
    letters = _NOT_B64.sub(b"", body)
    pad = letters.find(b"=")
    if pad >= 0 and _B64_LETTER.search(letters, pad):
        return None
    part = Message()  # compat32, the analysis's policy (a defect is recorded, never raised)
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(body.decode("ascii", "surrogateescape"))  # as BytesFeedParser stores a body
    decoded = part.get_payload(decode=True)
    if not isinstance(decoded, bytes) or any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects):
        return None
    return decoded


def b64_decode(body: bytes) -> tuple[bytes, int, bytes] | None:
    """(decoded, line length, line ending) of a base64 body: canonical base64 keeps its line
    length (`b64_decode_exact`); any other is read as the analysis reads it
    (`b64_decode_lenient`) and is to be written back in 76-column lines. None when unreadable."""
    exact = b64_decode_exact(body)
    if exact is not None:
        return exact
    lenient = b64_decode_lenient(body)
    return None if lenient is None else (lenient, 76, line_ending(body))


def b64_encode(data: bytes, width: int, eol: bytes, trailing: bool) -> bytes:
    text = base64.b64encode(data)
    lines = [text[i:i + width] for i in range(0, len(text), width)] or [b""]
    return eol.join(lines) + (eol if trailing else b"")


def body_eol(body: bytes, default: bytes) -> bytes:
    """The line ending a body uses, or `default` (its header block's) when it has none: an empty
    base64 or quoted-printable part of an LF-only message had got CRLF lines (review37b #5)."""
    return line_ending(body) if b"\n" in body[:65536] else default


def edit_body(body: bytes, cte: str, insert: Inserter, prepend_qp: bytes | None,
              default_eol: bytes = b"\r\n") -> bytes | None:
    """Apply `insert` (decoded content -> new content) to a body in transfer encoding `cte`.

    `prepend_qp`, when given, is the decoded text to prepend: for quoted-printable it is encoded
    and placed before the untouched original bytes. `default_eol`: the line ending written into a
    body that has none of its own."""
    if cte in ("7bit", "8bit", "binary"):
        return insert(body)
    if cte == "quoted-printable":
        eol = body_eol(body, default_eol)
        if prepend_qp is not None:
            head = prepend_qp[:-len(eol)] if prepend_qp.endswith(eol) else prepend_qp
            return qp_encode(head, eol) + eol + body
        decoded = binascii.a2b_qp(body)
        new = insert(decoded)
        return None if new is None else qp_encode(new, eol)
    if cte == "base64":
        read = b64_decode(body)
        if read is None:
            return None
        decoded, width, eol = read
        eol = body_eol(body, default_eol)
        new = insert(decoded)
        trailing = body.endswith(b"\n")
        return None if new is None else b64_encode(new, width, eol, trailing)
    return None
