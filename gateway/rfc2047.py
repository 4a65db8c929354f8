"""RFC 2047 encoded-words (`=?charset?B|Q?text?=`) decoded in linear time.

Purpose: header text for the checks (Subject, display names). `email.header.decode_header` is
quadratic in the number of encoded-words (it deletes from a list per dropped space: 20,000
words took 0.5 s, and it grows 4x per doubling), and raises on broken base64; this decoder makes
one pass over the value.

Rules (as mail clients read them, lenient where they are): an encoded-word is decoded wherever
it stands, also inside quoted strings and next to other text; whitespace between two adjacent
encoded-words is dropped (RFC 2047 section 6.2); adjacent encoded-words in the same charset are
joined as bytes before decoding, so a character split across two words survives; a charset is
read as the body's (`gateway.charsets`: Python's codecs, then the WHATWG labels readers know);
an unknown one or a non-text codec reads as UTF-8; broken base64 is decoded as far as it goes;
invalid bytes and lone surrogates become U+FFFD. A charset name is at most 64 characters (RFC 2978 names are shorter).

Untrusted input: header values of a stranger's message. Never raises.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re

from gateway.charsets import no_surrogates, python_codec

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?]*)\?=")
_B64_JUNK = re.compile(r"[^A-Za-z0-9+/]")


@functools.lru_cache(maxsize=64)
def _codec(charset: str) -> str:
    return python_codec(charset.split("*", 1)[0]) or "utf-8"  # RFC 2231 language suffix


def _payload(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8", "replace")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    clean = _B64_JUNK.sub("", text.rstrip("="))
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return data


def _decode(data: bytes, charset: str) -> str:
    try:
        return no_surrogates(data.decode(_codec(charset), "replace"))  # UTF-7 "+2D0-": a lone U+D83D
    except Exception:  # noqa: BLE001 - exotic codecs: read as UTF-8
        return data.decode("utf-8", "replace")


def decode_words(text: str) -> str:
    """`text` with its encoded-words decoded (see the module docstring)."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[bytes] = []  # payloads of adjacent words in one charset, joined once
    pending_charset = ""
    last_end = 0
    for m in _ENCODED_WORD.finditer(text):
        gap = text[last_end:m.start()]
        charset = m.group(1)
        if gap and (not pending or not gap.isspace()):
            if pending:
                out.append(_decode(b"".join(pending), pending_charset))
                pending = []
            out.append(gap)
        if pending and charset.lower() != pending_charset.lower():
            out.append(_decode(b"".join(pending), pending_charset))
            pending = []
        pending.append(_payload(m.group(2), m.group(3)))
        pending_charset = charset
        last_end = m.end()
    if pending:
        out.append(_decode(b"".join(pending), pending_charset))
    out.append(text[last_end:])
    return "".join(out)
