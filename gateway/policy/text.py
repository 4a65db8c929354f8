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
from collections.abc import Iterable

from gateway.policy.regex import Regex

FIELD_CAP = 64 * 1024  # characters of one field value that matching reads
VALUE_CAP = 80  # characters of one quoted value in a reason
REASON_CAP = 240  # characters of a rendered reason

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_NOT_WORD = re.compile(r"[\W_]+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u2060-\u2064\ufeff\s]+")

# Separators the phrase patterns tolerate: inside a word (obfuscation: "w h a t s", "whats-app")
# up to 3 non-alphanumerics; between words up to 12 (spaces, line breaks, quoting "> ").
_SEP = r"[^\pL\pN]"
_INTRA = _SEP + "{0,3}"
_INTER = _SEP + "{0,12}"
_LEFT = r"(?:^|[^\pL\pN])"
_RIGHT = r"(?:[^\pL\pN]|$)"


def fold(text: str) -> str:
    """Case- and accent-insensitive form: invisible characters removed, NFKD, marks dropped,
    casefolded. ASCII text skips the Unicode steps (the common case, and the fast one)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", _INVISIBLE.sub("", text))
        text = _MARKS.sub("", text)
    return text.casefold()


def phrase_words(phrase: str) -> list[str]:
    """The words of a phrase after folding; punctuation and spaces only separate words."""
    return [w for w in _NOT_WORD.split(fold(phrase)) if w]


def phrase_pattern(phrase: str) -> str:
    """RE2 source for one phrase over folded text (without the boundary anchors)."""
    words = phrase_words(phrase)
    return _INTER.join(_INTRA.join(re.escape(ch) for ch in word) for word in words)


def compile_phrases(phrases: Iterable[str]) -> Regex:
    """One RE2 pattern matching any of `phrases` at word boundaries, over folded UTF-8 text.
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
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + "\u2026"
    return text
