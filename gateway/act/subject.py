"""Subject tags: "[SUSPICIOUS] original subject", once, as header edits.

Purpose: build the two `HeaderEdit`s (remove every Subject field, prepend the tagged one) for a
configured tag. A subject that already carries the tag is left alone, so a message that passes
the gateway twice (forwarded inside the organisation) is not tagged twice. An ASCII subject keeps
its original bytes after the tag; anything else is decoded and re-encoded as RFC 2047 UTF-8.

Untrusted input: the stranger's Subject field (encoded-words, 8-bit bytes, folding, several
Subject fields); the tag is admin input validated in `gateway.act.actions`.
"""

from __future__ import annotations

import re

from gateway.charsets import no_surrogates
from gateway.folding import fold
from gateway.model import HeaderEdit
from gateway.parse import MessageView, split_header_block

_SUBJECT = re.compile(rb"(?im)^subject[ \t]*:((?:[^\r\n]*)(?:\r?\n[ \t][^\r\n]*)*)")
_MAX_SUBJECT = 2000
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def raw_subject(raw: bytes) -> bytes | None:
    """The raw value of the first Subject field (folding kept), or None."""
    block, _ = split_header_block(raw)
    m = _SUBJECT.search(block)
    return m.group(1) if m else None


def already_tagged(subject: str, tag: str) -> bool:
    return tag.strip().lower() in subject.lower()


def subject_edits(raw: bytes, view: MessageView, tag: str) -> tuple[HeaderEdit, ...]:
    """Edits that tag the Subject with `tag`, or () when it is already tagged."""
    tag = tag.strip()
    decoded = view.subject
    if not tag or already_tagged(decoded, tag):
        return ()
    original = raw_subject(raw)
    if original is not None and original.isascii() and tag.isascii() \
            and len(original) <= _MAX_SUBJECT and b"=?" not in original:
        text = original.decode("ascii").strip(" \t")
        text = re.sub(r"\r?\n(?=[ \t])", "\r\n", text)  # keep the folding, in CRLF
        value = f"{tag} {text}" if text else tag
        if "\r\n" not in value:
            value = fold("Subject", value)
    else:
        # a lone surrogate cannot be encoded (UnicodeEncodeError: "analysis failed", no tag); the decoded text's
        # line breaks and controls (an encoded "=0D=0A") are spaces and its "=?" is "= ?": they had written
        # fields of their own into the relayed header, our Authentication-Results among them (review33b #2)
        text = _CONTROLS.sub(" ", decoded[:_MAX_SUBJECT]).replace("=?", "= ?")
        value = fold("Subject", no_surrogates(f"{tag} {text}").strip())
    return (HeaderEdit("Subject"), HeaderEdit("Subject", value))
