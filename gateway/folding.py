"""Header field folding (RFC 5322 section 2.2.3), for every header the gateway writes.

Purpose: `fold` breaks a value at spaces into lines of at most 78 characters where it can, and
encodes a value that is not ASCII as RFC 2047 encoded-words. Below both the authentication
results (gateway/authres.py builds ours) and the act step's headers (gateway/act/headers.py),
so neither imports the other.

Untrusted input: none here; callers sanitise values (strangers' text included) before folding.
"""

from __future__ import annotations

from email.header import Header


def fold(name: str, value: str, width: int = 78, words: list[str] | None = None) -> str:
    """Fold `value` (ASCII) for header `name` at spaces, lines at most `width` where possible.

    `words` may give the unbreakable pieces explicitly (joined by single spaces)."""
    if not value.isascii():
        return Header(value, "utf-8", header_name=name, maxlinelen=width).encode(
            linesep="\r\n")
    words = words if words is not None else value.split(" ")
    lines: list[str] = []
    current = ""
    room = width - len(name) - 2
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) > room and current:
            lines.append(current)
            current = word
            room = width - 1
        else:
            current = candidate
    lines.append(current)
    return "\r\n ".join(lines)
