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
visible text and links, display names, and `MessageView.visible_subject`), so no check has to.
Bidi controls go too: they reorder what a reader sees but add nothing to it ("Chatham\u202c
House"). Not to `view.subject` itself: the subject tag writes it back into the delivered message,
which must keep them.

`fold_lookalikes` maps Cyrillic and Greek letters that render as Latin ones to those Latin letters
where they touch a Latin letter ("Ch\u0430tham House", a mixed-script word: UTS #39 calls a
word like that a mixed-script confusable), one character for one, so offsets stay valid. The
view does not apply it: its text is also where the links check reads hosts, and a look-alike
host ("ch\u0430thamhouse.org") must stay what it is there. The organisation matcher
(`refdata.AliasMatcher`, behind claims and display names alike) applies it to what it searches.

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
# hyphen: no width and no glyph in running text (the soft hyphen only at a line break); the bidi
# marks, embeddings, overrides and isolates (U+061C, U+200E/F, U+202A-E, U+2066-9).
INVISIBLE = ("\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
             "\u2060\u2066\u2067\u2068\u2069\ufeff")


def visible_text(text: str) -> str:
    """`text` without zero-width characters, soft hyphens and bidi controls (`INVISIBLE`; ASCII text
    as it is: fast path). One `in` per character and a `replace` for those present, in C: a regex
    class of them cost ~35 ms a MB of any non-ASCII text (attack_bench qp-zw-bidi-orgs: 117 ms of
    1.3 MB), these ~1.5 ms a MB of text without them and ~65 ms with all of them, many times over."""
    if text.isascii():
        return text
    for ch in INVISIBLE:
        if ch in text:
            text = text.replace(ch, "")
    return text


# Cyrillic and Greek letters a reader takes for Latin ones (Unicode confusables.txt, UTS #39,
# the single-letter prototypes), both cases
LOOKALIKES: dict[str, str] = {
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x",
    "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u04bb": "h", "\u0501": "d", "\u051b": "q", "\u051d": "w",
    "\u04cf": "l", "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
    "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0423": "Y", "\u04ae": "Y",
    "\u0405": "S", "\u0406": "I", "\u0408": "J", "\u051a": "Q", "\u051c": "W", "\u04c0": "I",
    "\u03bf": "o", "\u03b1": "a", "\u03bd": "v", "\u03b9": "i", "\u03ba": "k", "\u03c1": "p", "\u03c5": "u",
    "\u03c7": "x", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y",
    "\u03a7": "X",
}
_FOLD_LOOKALIKES = str.maketrans(LOOKALIKES)
_L = "".join(LOOKALIKES)
# a run of look-alikes that touches a Latin letter on either side. Linear: the first branch
# starts only at a run's first character and the runs are possessive (no backtracking), so each
# character is read a bounded number of times however long the run
_MIXED_RUN = re.compile(f"(?<![{_L}])[{_L}]++(?=[A-Za-z])|(?<=[A-Za-z])[{_L}]++")
MAX_FOLDS = 10_000  # runs folded per text (each costs a Python call); the most in a real message is far below


# UTF-8 bytes by class, for a screen in C: an ASCII letter 'a', a Greek or Cyrillic lead byte
# (U+0380-U+053F: 0xCE-0xD4) 'L', a continuation byte 'c', anything else ' '
_CLASSES = bytes(ord("a") if chr(b).isascii() and chr(b).isalpha() else ord("L") if 0xCE <= b <= 0xD4
                 else ord("c") if 0x80 <= b <= 0xBF else ord(" ") for b in range(256))


def fold_lookalikes(text: str) -> str:
    """`text` with the look-alike letters (`LOOKALIKES`) that touch a Latin letter read as that Latin
    letter, at most `MAX_FOLDS` runs; the same length (offsets into `text` stay valid). Pure
    Cyrillic and Greek words are left as they are. A text where no Greek or Cyrillic letter
    touches a Latin one (nearly all mail) is screened out by a byte translation and two
    searches in C (the regex's character classes cost ~0.1 us a character of non-ASCII text)."""
    if text.isascii():
        return text
    marks = text.encode("utf-8", "surrogatepass").translate(_CLASSES)
    if b"aL" not in marks and b"Lca" not in marks:
        return text
    return _MIXED_RUN.sub(lambda m: m.group().translate(_FOLD_LOOKALIKES), text, count=MAX_FOLDS)


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
