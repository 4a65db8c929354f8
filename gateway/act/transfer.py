"""Content-Transfer-Encoding and charset helpers for editing one text body in place.

Purpose: prepend or insert a few bytes into a text body while keeping its transfer encoding and
charset: 7bit/8bit/binary bodies are spliced directly, quoted-printable bodies get the inserted
bytes encoded and spliced without re-encoding the original where possible, base64 bodies are
decoded and re-encoded in the original line length and line ending.

Untrusted input: the body bytes of a stranger's text part (broken base64, lying charsets, stray
CR/LF). Anything that cannot be done exactly returns None so the caller leaves the part alone.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Callable

_WS = re.compile(rb"[ \t\r\n]+")
_STATEFUL = ("iso-2022", "iso2022", "utf-7", "utf_7", "hz")
_PROBE = "<body>\r\n =-"

Inserter = Callable[[bytes], "bytes | None"]


def codec_name(charset: str) -> str | None:
    """Python's codec name for a MIME charset, or None when unknown or not ASCII-compatible."""
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):
        return None
    try:
        if _PROBE.encode(name) != _PROBE.encode("ascii"):
            return None
    except (UnicodeError, LookupError):
        return None
    return name


def is_stateful(codec: str) -> bool:
    return any(codec.replace("_", "-").startswith(s) for s in _STATEFUL)


def line_ending(data: bytes) -> bytes:
    head = data[:65536]
    i = head.find(b"\n")
    if i < 0:
        return b"\r\n"
    return b"\r\n" if i > 0 and head[i - 1:i] == b"\r" else b"\n"


def _qp_line(line: bytes) -> list[bytes]:
    """Encode one line (no line ending) as quoted-printable, soft-wrapped at 76 columns."""
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


def b64_encode(data: bytes, width: int, eol: bytes, trailing: bool) -> bytes:
    text = base64.b64encode(data)
    lines = [text[i:i + width] for i in range(0, len(text), width)] or [b""]
    return eol.join(lines) + (eol if trailing else b"")


def edit_body(body: bytes, cte: str, insert: Inserter, prepend_qp: bytes | None) -> bytes | None:
    """Apply `insert` (decoded content -> new content) to a body in transfer encoding `cte`.

    `prepend_qp`, when given, is the decoded text to prepend: for quoted-printable it is encoded
    and placed before the untouched original bytes."""
    if cte in ("7bit", "8bit", "binary"):
        return insert(body)
    if cte == "quoted-printable":
        eol = line_ending(body)
        if prepend_qp is not None:
            head = prepend_qp[:-len(eol)] if prepend_qp.endswith(eol) else prepend_qp
            return qp_encode(head, eol) + eol + body
        decoded = binascii.a2b_qp(body)
        new = insert(decoded)
        return None if new is None else qp_encode(new, eol)
    if cte == "base64":
        exact = b64_decode_exact(body)
        if exact is None:
            return None
        decoded, width, eol = exact
        new = insert(decoded)
        trailing = body.endswith(b"\n")
        return None if new is None else b64_encode(new, width, eol, trailing)
    return None
