"""Forged copies of the gateway's verdict and Authentication-Results fields, and readers that
count them the way mail clients, Sieve and Postfix read header fields.

Used by the unit test of the strip (tests/unit/act/test_headers.py), by the Sieve test (real
Pigeonhole sieve-test on the relayed bytes) and by the Postfix test (real Postfix delivering to a
Maildir behind the gateway)."""

from __future__ import annotations

import email
import email.policy
import re

AUTHSERV_ID = "gw.example.org"
BODY_MARK = b"Body text that must arrive."

# (label, header line without its CRLF): each forges "high" (or our authserv-id)
FORGED_VERDICT: list[tuple[str, bytes]] = [
    ("nul-suffix", b"X-Approach-Verdict\x00: high"),
    ("nul-then-junk", b"X-Approach-Verdict\x00junk: high"),
    ("space-before-colon", b"X-Approach-Verdict : high"),
    ("tab-before-colon", b"X-Approach-Verdict\t: high"),
    ("lower-case", b"x-approach-verdict: high"),
    ("upper-no-space", b"X-APPROACH-VERDICT:high"),
    ("utf8-nbsp", b"X-Approach-Verdict\xc2\xa0: high"),
    ("latin1-nbsp", b"X-Approach-Verdict\xa0: high"),
    ("cyrillic-a", "X-\u0410pproach-Verdict: high".encode()),
    ("zero-width", b"X-Approach-Verdict\xe2\x80\x8b: high"),
    ("control", b"X-Approach-Verdict\x01: high"),
    ("del", b"X-Approach-Verdict\x7f: high"),
    ("folded", b"X-Approach-Verdict:\r\n high"),
    ("score-space", b"X-Approach-Score : -100"),
    ("reasons-nul", b"X-Approach-Reasons\x00: none"),
]

FORGED_AR: list[tuple[str, bytes]] = [
    ("ar-nul-name", b"Authentication-Results\x00: gw.example.org; dkim=pass header.d=bank.test"),
    ("ar-space-name", b"Authentication-Results : gw.example.org; dkim=pass header.d=bank.test"),
    ("ar-lower-name", b"authentication-results: gw.example.org; dkim=pass header.d=bank.test"),
    ("ar-quoted", b'Authentication-Results: "gw.example.org"; dkim=pass header.d=bank.test'),
    ("ar-comment-first", b"Authentication-Results: (x (y) z) gw.example.org; dkim=pass header.d=bank.test"),
    ("ar-comment-after", b"Authentication-Results: gw.example.org(c)1; dkim=pass header.d=bank.test"),
    ("ar-trailing-dot", b"Authentication-Results: gw.example.org.; dkim=pass header.d=bank.test"),
    ("ar-case", b"Authentication-Results: GW.Example.ORG; dkim=pass header.d=bank.test"),
    ("ar-folded", b"Authentication-Results:\r\n gw.example.org;\r\n\tdkim=pass header.d=bank.test"),
    ("ar-version", b"Authentication-Results: gw.example.org 1 ; dkim=pass header.d=bank.test"),
    ("ar-no-space", b"Authentication-Results: gw.example.org;dkim=pass header.d=bank.test"),
    ("ar-quoted-semicolon", b'Authentication-Results: "gw.example.org;" dkim=pass header.d=bank.test'),
    ("ar-escaped-comment", b"Authentication-Results: (a\\) gw.example.org; dkim=pass header.d=bank.test"),
    ("ar-nul-id", b"Authentication-Results: gw.example.org\x00; dkim=pass header.d=bank.test"),
    ("ar-encoded-word", b"Authentication-Results: =?utf-8?q?gw.example.org?=; dkim=pass header.d=bank.test"),
    ("ar-slash-version", b"Authentication-Results: gw.example.org/1; dkim=pass header.d=bank.test"),
    # encoded-words a decoding reader (email.policy.default, Sieve) reads as our id (attack19, 2026-12-04)
    ("ar-encoded-b64", b"Authentication-Results: =?utf-8?b?Z3cuZXhhbXBsZS5vcmc=?=; dkim=pass header.d=bank.test"),
    ("ar-encoded-dots", b"Authentication-Results: =?utf-8?q?gw=2Eexample=2Eorg?=; dkim=pass header.d=bank.test"),
    ("ar-encoded-part", b"Authentication-Results: =?utf-8?q?gw?=.example.org; dkim=pass header.d=bank.test"),
    ("ar-encoded-two", b"Authentication-Results: =?utf-8?q?gw?= =?utf-8?q?=2Eexample=2Eorg?=; dkim=pass"),
    ("ar-encoded-whole", b"Authentication-Results: =?utf-8?q?gw=2Eexample=2Eorg=3B_dkim=3Dpass?="),
    ("ar-encoded-lang", b"Authentication-Results: =?utf-8*en?b?Z3cuZXhhbXBsZS5vcmc=?=; dkim=pass"),
]

ALL_FORGED = FORGED_VERDICT + FORGED_AR


def forged_message(line: bytes, where: str = "middle", token: str = "t") -> bytes:
    """A plain message from a stranger with `line` at the top, in the middle or last."""
    head = [b"From: Recruiter <r@gmail.com>", b"To: ok@example.org",
            b"Subject: forged " + token.encode(), b"Message-ID: <" + token.encode() + b"@remote.test>",
            b"Date: Wed, 02 Dec 2026 10:00:00 +0000"]
    at = {"top": 0, "middle": 3, "last": len(head)}[where]
    head.insert(at, line)
    return b"\r\n".join(head) + b"\r\n\r\n" + BODY_MARK + b"\r\n"


def header_section(raw: bytes) -> list[bytes]:
    """Whole fields up to the first empty line, as Dovecot reads them (lines without a colon
    included, as it reads on)."""
    block = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0] + b"\n"
    fields: list[bytes] = []
    for line in block.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        elif line.strip():
            fields.append(line)
    return fields


def lenient_names(field: bytes) -> set[str]:
    """Every name a lenient reader could give this field: the bytes before the colon as Dovecot
    reads them (cut at NUL, whitespace around dropped) and with every character that is not an
    ASCII letter, digit or '-' removed (look-alikes, controls, 8-bit); lower-case."""
    name = field.split(b":", 1)[0]
    cut = name.split(b"\x00", 1)[0].strip()
    loose = re.sub(rb"[^A-Za-z0-9-]", b"", name.split(b"\x00", 1)[0])
    return {cut.decode("latin-1").lower(), loose.decode("latin-1").lower()}


def fields_named(raw: bytes, name: str) -> list[bytes]:
    """Header fields any lenient reader could take for `name`."""
    return [f for f in header_section(raw) if b":" in f and name.lower() in lenient_names(f)]


def our_auth_results(raw: bytes) -> list[bytes]:
    """Authentication-Results fields (any spelling) whose text before the first ';' mentions
    our authserv-id in any case, as written or with its encoded-words decoded the way
    email.policy.default decodes them."""
    out = []
    for f in fields_named(raw, "Authentication-Results"):
        value = f.split(b":", 1)[1]
        decoded = str(email.message_from_bytes(b"X: " + value.strip() + b"\r\n\r\n", policy=email.policy.default)["X"])
        for text in (value.decode("utf-8", "replace"), decoded):
            if AUTHSERV_ID in text.lstrip(" \t\r\n;").split(";", 1)[0].lower():
                out.append(f)
                break
    return out
