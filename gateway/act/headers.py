"""The header contract and the one place where edits are applied to the original bytes.

Purpose: build the contract headers (X-Approach-Verdict/-Score/-Reasons, Received,
Authentication-Results) as `HeaderEdit`s, strip inbound copies of our headers and any
Authentication-Results carrying our authserv-id (RFC 8601 section 5), and apply all edits to the
raw message: removals inside the header block, additions prepended so existing DKIM signatures
still verify.

Every spelling a reader could take for one of our fields is stripped. Field names are read as
mail clients and Sieve read them: ASCII case-insensitive, whitespace before the colon ignored
(RFC 5322 obs-syntax). A line that is not a valid field at all (NUL, control, 8-bit or space in
the name, no colon) ends the header section: `parse.normalize_header_section` inserts the empty
line before it, as Postfix's cleanup does, so it is body text for every reader and the
analysis saw the same split (nothing is deleted; see that function for why not remove or
rename). An Authentication-Results field is removed when any reading of it names our
authserv-id (`names_authserv_id`): the authentication parser's, and a lenient one for readers
that skip comments and quotes differently, stop at NUL, or decode encoded-words.

Untrusted input: the raw header block (hostile folding, bare CR/LF, huge fields) and rule reasons
that may quote a stranger's text; values are sanitised to printable single-line text and folded.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from gateway.authres import parse_authres
from gateway.folding import fold
from gateway.model import Decision, Envelope, HeaderEdit, Outgoing
from gateway.parse import header_end, header_fields, normalize_header_section
from gateway.rfc2047 import decode_words

VERDICT = "X-Approach-Verdict"
SCORE = "X-Approach-Score"
REASONS = "X-Approach-Reasons"
CHECKED = "X-Approach-Checked"
AUTH_RESULTS = "Authentication-Results"
OUR_HEADERS = (VERDICT, SCORE, REASONS, CHECKED)

_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
_MAX_REASON_CHARS = 160
_MAX_REASONS_VALUE = 4000


def clean_text(text: str, limit: int = _MAX_REASON_CHARS) -> str:
    """One printable line: control characters (CR, LF included) become spaces; "=?" becomes "= ?", so that no
    outsider text in a reason (a display name) reads as an RFC 2047 encoded word to a mail client or a Sieve
    filter, which would decode the CR, LF and format characters taken out here (attack33c #3); capped."""
    text = _CTL.sub(" ", text).strip().replace("=?", "= ?")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def format_score(score: float) -> str:
    text = f"{score:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def reasons_value(decision: Decision) -> str:
    parts = [f"{clean_text(h.rule_id, 64)} ({format_score(h.score)}): {clean_text(h.reason)}"
             for h in decision.hits]
    value = "; ".join(parts) if parts else "none"
    if len(value) > _MAX_REASONS_VALUE:
        value = value[: _MAX_REASONS_VALUE - 1] + "\u2026"
    return value


def verdict_edits(decision: Decision) -> list[HeaderEdit]:
    """The contract headers for `decision` (prepended in this order, so Verdict comes first)."""
    edits = [
        HeaderEdit(VERDICT, decision.verdict.word),
        HeaderEdit(SCORE, format_score(decision.score)),
        HeaderEdit(REASONS, fold(REASONS, reasons_value(decision))),
    ]
    if not decision.checked:
        edits.append(HeaderEdit(CHECKED, fold(CHECKED, "no; " + clean_text(decision.note))))
    elif decision.note:  # some checks did not finish: the verdict rests on the others
        edits.append(HeaderEdit(CHECKED, fold(CHECKED, "partial; " + clean_text(decision.note))))
    return edits


def _trace_text(text: str, limit: int) -> str:
    """One printable ASCII line for a trace field: a stranger's HELO or address may carry
    8-bit bytes (kept by aiosmtpd as surrogates) or control characters."""
    return clean_text(text.encode("ascii", "backslashreplace").decode("ascii"), limit)


def received_value(envelope: Envelope, hostname: str, *, with_tls: bool,
                   date: str | None = None) -> str:
    """A Received field value in Postfix's shape (RFC 5321 4.4)."""
    c = envelope.client
    helo = _trace_text(c.helo or "unknown", 80).replace("(", "").replace(")", "")
    rdns = _trace_text(c.hostname or "unknown", 80).replace("(", "").replace(")", "")
    ip = _trace_text(c.ip or "unknown", 45).replace(" ", "")
    ip_text = f"IPv6:{ip}" if ":" in ip else ip
    proto = _trace_text(c.protocol.upper(), 10).replace(" ", "") if c.protocol else "ESMTP"
    if with_tls and not proto.endswith("S") and proto.startswith("ESMTP"):
        proto = proto + "S"
    parts = [f"from {helo} ({rdns} [{ip_text}])", f"by {hostname} (approach-gateway)",
             f"with {proto}"]
    if envelope.queue_id:
        parts.append(f"id {envelope.queue_id}")
    if len(envelope.rcpt_tos) == 1:
        parts.append(f"for <{_trace_text(envelope.rcpt_tos[0], 254).replace(' ', '')}>")
    words = " ".join(parts).split(" ")
    words[-1] += ";"
    words.append(date or email.utils.format_datetime(datetime.now(UTC)))
    return fold("Received", " ".join(words), words=words)


def authserv_id_of(value: str) -> str:
    """The authserv-id of an Authentication-Results value (RFC 8601 2.2), lower-case, read
    exactly as the authentication parser reads it (nested comments, quoted strings), so a
    spoofed field cannot hide from the strip and still be believed downstream."""
    parsed = parse_authres(value)
    return parsed.authserv_id.rstrip(".") if parsed is not None else ""


def names_authserv_id(value: str, ids: set[str]) -> bool:
    """Whether an (unfolded) Authentication-Results value names one of `ids` (lower-case,
    without trailing dots) as its authserv-id under any plausible reading: the authentication
    parser's (`authserv_id_of`), or -- over-inclusive on purpose -- the id appearing as a whole
    token in the text before the first ';' (after leading ';' and whitespace), with backslashes
    removed and any case or trailing dots: `gw(c)1;`, `"gw;"`, `(a\\) gw;`, `(unterminated gw`,
    `gw\\0;`, `=?utf-8?q?gw?=;`, `gw/1;`. A field that only mentions our id in its first
    clause's comment is removed too; no upstream writes that. A value with RFC 2047 encoded-words
    is also read decoded, as readers that decode them do (Python's email.policy.default, Sieve's
    header test): `=?utf-8?b?Z3cuZXhhbXBsZS5vcmc=?=;` is `gw.example.org;` to them."""
    if not ids:
        return False
    if _names(value, ids):
        return True
    return "=?" in value and _names(decode_words(value), ids)


def _names(value: str, ids: set[str]) -> bool:
    if authserv_id_of(value) in ids:
        return True
    head = value.lstrip(" \t;")
    cut = head.find(";")
    segment = (head if cut < 0 else head[:cut]).replace("\\", "").lower()
    return any(re.search(r"(?<![a-z0-9.-])" + re.escape(i) + r"\.*(?![a-z0-9.-])", segment) for i in ids)


def removal_edits(authserv_id: str) -> list[HeaderEdit]:
    return [HeaderEdit(name) for name in OUR_HEADERS] + [
        HeaderEdit(AUTH_RESULTS + ":" + authserv_id.lower())]


def _should_remove(field: bytes, removals: set[str], ar_ids: set[str]) -> bool:
    name, sep, value = field.partition(b":")
    if not sep:
        return False
    key = name.strip().decode("ascii", "replace").lower()
    if key in removals:
        return True
    if key == AUTH_RESULTS.lower() and ar_ids:
        unfolded = re.sub(r"\r?\n[ \t]", " ", value.decode("utf-8", "replace"))
        return names_authserv_id(unfolded, ar_ids)
    return False


def _may_remove(block: bytes, removals: set[str], ar_ids: set[str]) -> bool:
    """False when no field of `block` can be one `_should_remove` removes: none of the names
    occurs anywhere in the block (ASCII case folded, as `_should_remove` folds a field's name).
    Most mail carries none of our fields, so its header block is kept as it is, without
    splitting it into fields (joined back, the fields are the block byte for byte)."""
    if not all(name.isascii() for name in removals):
        return True  # (a name with U+FFFD equals an undecodable one: `_should_remove` decides)
    low = block.lower()
    if ar_ids and b"authentication-results" in low:
        return True
    return any(name.encode("ascii") in low for name in removals)


def apply_edits(raw: bytes, edits: Iterable[HeaderEdit]) -> bytes:
    """Apply removals to the header block, then prepend additions (first edit ends up on top)."""
    return bytes(edited(raw, edits))


def edited(raw: bytes, edits: Iterable[HeaderEdit], *, normal: bool = False) -> Outgoing:
    """`apply_edits` without copying the body: the new header block, then `raw`'s (or, when the
    header section had to be normalised, its normalised copy's) bytes from the blank line on.
    `normal`: `normalize_header_section(raw)` is known to leave `raw` as it is (the analysis'
    parse found so, `MessageView.header_normal`): not read again line by line."""
    removals: set[str] = set()
    ar_ids: set[str] = set()
    additions: list[HeaderEdit] = []
    for e in edits:
        if not e.is_removal:
            additions.append(e)
        elif e.name.lower().startswith(AUTH_RESULTS.lower() + ":"):
            ar_ids.add(e.name.split(":", 1)[1].lower())
        else:
            removals.add(e.name.lower())
    if (removals or ar_ids) and not normal:  # the strip: always on relayed mail (pipeline's removal_edits)
        raw, _notes = normalize_header_section(raw)
    cut = header_end(raw)
    block = raw[:cut]
    if (removals or ar_ids) and _may_remove(block, removals, ar_ids):
        ids = {a.rstrip(".") for a in ar_ids}
        block = b"".join(f for f in header_fields(block) if not _should_remove(f, removals, ids))
    head = b"".join(
        f"{e.name}: {_one_field(e.value or '')}\r\n".encode() for e in additions)
    return Outgoing(head + block, raw, cut)


_FIELD_BREAK = re.compile(r"\r\n(?![ \t])|\r(?!\n)|(?<!\r)\n|\x00")


def _one_field(value: str) -> str:
    """`value` as one field whatever made it: a line break not followed by a blank continues the field (each
    edit's value is folded already; a value with one is a bug, which had let a decoded Subject write fields of
    its own, review33b #2), a bare CR or LF is a space, NUL is dropped."""
    if "\r" not in value and "\n" not in value and "\x00" not in value:
        return value
    return _FIELD_BREAK.sub(lambda m: "\r\n " if m.group() == "\r\n" else "" if m.group() == "\x00" else " ", value)
