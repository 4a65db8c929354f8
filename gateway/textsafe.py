"""Text from strangers made safe for a terminal and for JSON lines.

Purpose: `quarantine list/show`, `hunt` and `scan --json` print a stranger's Subject, From,
addresses and reasons quoting them. A terminal acts on C0 controls (ESC starts a sequence), DEL
and the C1 controls U+0080-U+009F (U+009B is CSI, a whole escape sequence introducer, on
terminals that honour 8-bit controls), and reorders text at bidi overrides ("Trojan source").
`terminal_text` shows each as a visible escape (`\\x1b`, `\\x9b`, `\\u202e`); the text stays
readable otherwise. `json_line` keeps `ensure_ascii=False` (names and subjects stay readable
UTF-8 for operators and tools) and additionally escapes DEL, the C1 controls, U+2028/U+2029 and
the bidi controls as `\\uXXXX`: JSON allows them raw, but U+0085/U+2028/U+2029 are line breaks
to many line-based readers (and U+2028/9 end a JavaScript string), so one object stays one line.

`visible_text` is the other direction, for reading: a stranger's text without the invisible
characters that split a word for a matcher but not for a reader ("Chat\u200bham House"). The
message view applies it once to the text it hands the checks (decoded text parts, the HTML's
visible text and links, display names), so no check has to. Not to other decoded header values:
the subject tag writes `view.subject` back into the delivered message, which must keep them.

Untrusted input: any text; never raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Bidi embeddings/overrides/isolates and marks, line/paragraph separators
_UNICODE_CONTROLS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_TERMINAL_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
_TERMINAL_UNSAFE_KEEP_LF = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_UNICODE_CONTROLS}]")


# Zero-width space, non-joiner and joiner, word joiner, zero-width no-break space (BOM), soft
# hyphen: no width and no glyph in running text (the soft hyphen only at a line break).
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]+")


def visible_text(text: str) -> str:
    """`text` without zero-width characters and soft hyphens (ASCII text as it is: fast path)."""
    return text if text.isascii() else _INVISIBLE.sub("", text)


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal_text(text: object, *, keep_newlines: bool = False) -> str:
    """`text` with every control a terminal could act on shown as a visible escape."""
    s = text if isinstance(text, str) else str(text)
    return (_TERMINAL_UNSAFE_KEEP_LF if keep_newlines else _TERMINAL_UNSAFE).sub(_escape, s)


def json_line(obj: Any) -> str:
    """One JSON object on one line, UTF-8 kept, line-breaking and control characters escaped."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, ensure_ascii=False))
