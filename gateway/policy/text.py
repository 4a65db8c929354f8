"""Text normalisation for matching, phrase-list patterns and one-line sanitising for reasons.

Purpose: phrase lists match case- and accent-insensitively (NFKD, combining marks dropped,
casefold), at word boundaries, across line breaks and runs of spaces, and through simple
obfuscation ("W h a t s A p p", "whats-app", "Whats\u200bApp"). Everything reads a bounded prefix
of each field (`FIELD_CAP` characters) so matching time does not grow with the message.

Untrusted input: message text and evidence values (a stranger's); only transformed and
searched with linear-time RE2 patterns, never executed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from gateway.regex import Regex
from gateway.textsafe import stream_safe

FIELD_CAP = 64 * 1024  # characters of one field value that matching reads
VALUE_CAP = 80  # characters of one quoted value in a reason
REASON_CAP = 240  # characters of a rendered reason

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u2060-\u2064\ufeff\s]+")

# Phrase patterns run over `words(text)`: folded, every run of non-alphanumerics (spaces, line
# breaks, punctuation, "> " quoting) turned into one space. Inside a word a pattern allows one
# optional space between letters ("w h a t s a p p", "whats-app" -> "whats app"); between words
# zero or one space ("long-term" = "longterm" = "long term").


def _char_class(wanted: Callable[[str], bool]) -> re.Pattern[str]:
    """A compiled character class of the non-ASCII BMP code points for which `wanted` holds."""
    ranges: list[tuple[int, int]] = []
    for cp in [*range(0x80, 0x2C00), *range(0x3000, 0x3040), *range(0xFE00, 0x10000)]:
        if wanted(unicodedata.category(chr(cp))):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    body = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)
    return re.compile(f"[{body}]+")


# Combining marks (after NFKD) and invisible format characters (zero-width joiners, soft hyphen).
_DROP = _char_class(lambda cat: cat in ("Mn", "Me", "Cf"))
# Non-ASCII punctuation, symbols and spaces; ASCII ones go through the byte table below.
_UNICODE_SEPARATORS = _char_class(lambda cat: cat[0] in "PSZ" or cat == "Cc")
_BYTE_SEPARATORS = bytes(b if b >= 0x80 or chr(b).isalnum() else 0x20 for b in range(256))
_LEFT = "(?:^| )"
_RIGHT = "(?: |$)"


def fold(text: str) -> str:
    """Case- and accent-insensitive form: invisible characters removed, NFKD, marks dropped,
    casefolded. ASCII text skips the Unicode steps (the common case, and the fast one)."""
    if text.isascii():
        return text.lower()
    # casefold before NFKD ("İ" -> "i" + dot, dropped) and after ("ℌ" -> "H" -> "h"); runs of combining marks cut to 30
    # first, which NFKD sorted in quadratic time (`textsafe.stream_safe`: cpu43 #1)
    return _DROP.sub("", unicodedata.normalize("NFKD", stream_safe(text.casefold()))).casefold()


def words_utf8(text: str) -> bytes:
    """Folded text as words separated by single spaces, UTF-8 (what phrase patterns search).
    Linear and mostly in C: one regex pass for rare non-ASCII separators, one byte table."""
    folded = fold(text)
    if not folded.isascii():
        folded = _UNICODE_SEPARATORS.sub(" ", folded)
    return b" ".join(folded.encode("utf-8", "replace").translate(_BYTE_SEPARATORS).split())


def words(text: str) -> str:
    return words_utf8(text).decode("utf-8")


def phrase_words(phrase: str) -> list[str]:
    """The words of a phrase after folding; punctuation and spaces only separate words."""
    return words(phrase).split()


def phrase_pattern(phrase: str) -> str:
    """RE2 source for one phrase over `words()` text (without the boundary anchors)."""
    return " ?".join(" ?".join(re.escape(ch) for ch in word) for word in phrase_words(phrase))


def compile_phrases(phrases: Iterable[str]) -> Regex:
    """One RE2 pattern matching any of `phrases` at word boundaries, over `words()` as UTF-8.
    Raises ValueError for an empty list or a phrase with no letters or digits."""
    parts = []
    for phrase in phrases:
        source = phrase_pattern(phrase)
        if not source:
            raise ValueError(f"phrase {phrase!r} has no letters or digits")
        parts.append(source)
    if not parts:
        raise ValueError("the phrase list is empty")
    # Longest first so the reported match is the most specific phrase.
    parts = sorted(set(parts), key=len, reverse=True)
    return Regex(_LEFT + "(?:" + "|".join(parts) + ")" + _RIGHT)


def clean_match(found: str) -> str:
    """A phrase match without the boundary characters it consumed."""
    return one_line(found)


def one_line(value: object, cap: int = VALUE_CAP) -> str:
    """A value fit to quote in a header: printable, one line, single spaces, at most `cap`."""
    text = _UNPRINTABLE.sub(" ", str(value)).strip()
    if not text.isascii():  # ASCII controls (the only ASCII category C) are gone already
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + "\u2026"
    return text
