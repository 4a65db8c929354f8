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
Bidi controls go too, after the text an override (U+202D, U+202E) reorders is put in the order
a reader sees it (`reading_order`: "\u202eppastahW\u202c" shows "WhatsApp"; a link target only
loses them, as a browser follows it as written). Not to `view.subject` itself: the subject tag
writes it back into the delivered message, which must keep them.

`read_lookalikes` maps Cyrillic, Greek, Armenian, Cherokee and Coptic letters (and Latin compatibility
forms) that render as Latin ones (UTS #39 confusables) to those Latin letters in the words a reader
takes for Latin: a mixed-script word ("Ch\u0430tham House") and, in a line of Latin text, a word made
of look-alikes only; Russian, Greek, Armenian ... words and text stay as written, and so do host
names and addresses (the links check reads hosts in the same text: a look-alike host
"ch\u0430thamhouse.org" must stay what it is there). One character for one, so offsets stay
valid. The message view applies it to the body's text parts and the Subject, after `visible_text`,
and counts what it folded and reordered (`parse.Disguises`, the structure check's `text.confusables`
and `text.bidi_override`); the organisation matcher (`refdata.AliasMatcher`) applies it to display
names and other text too.

Untrusted input: any text; never raises.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# Bidi embeddings/overrides/isolates and marks, line/paragraph separators
_UNICODE_CONTROLS = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_TERMINAL_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
_TERMINAL_UNSAFE_KEEP_LF = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_UNICODE_CONTROLS}]")
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_UNICODE_CONTROLS}]")


# What a reader sees nothing of: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt,
# Unicode 14.0.0, the version of Python's unicodedata; the same ranges as perl's Unicode::UCD
# prop_invlist), all of it dropped: the soft hyphen (a glyph only at a line break), the
# combining grapheme joiner, zero-width space, non-joiner and joiner (emoji sequences fall apart
# into their emoji, a Persian word's letters join differently: both read the same), word joiner,
# invisible operators (U+2061-4), BOM, the bidi marks, embeddings, overrides and isolates, the
# deprecated format controls (U+206A-F), Hangul fillers (U+115F/60, U+3164, U+FFA0), Khmer
# inherent vowels, Mongolian and other variation selectors (a glyph's variant, the same letter),
# tag characters (U+E0000-E0FFF) and the unassigned rest of those ranges. attack22 #4: U+2063,
# U+2064, U+034F, U+FE0F, U+180E, U+E0020, U+3164 split cue words for the checks.
_IGNORABLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
              (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
              (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
INVISIBLE = "".join(chr(c) for first, last in _IGNORABLE for c in range(first, last + 1))
_INVISIBLE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _IGNORABLE) + "]")
_ZERO_WIDTH = re.compile(f"(?![{BIDI_CONTROLS}]){_INVISIBLE.pattern}")  # the same but the bidi controls


def visible_text(text: str, *, bidi: str = "read") -> str:
    """`text` without the characters a reader sees nothing of (`INVISIBLE`: zero-width characters,
    soft hyphens, variation selectors, tags, bidi controls ...; ASCII text as it is: fast path).
    One search of a class of them in C (~6 ms a MB of non-ASCII text without them), and a `sub`
    where there are (~13 ms a MB with one in ten words).

    `bidi`: "read" (the default) first puts the text an override (U+202D LRO, U+202E RLO) forces
    into the order a reader sees it (`reading_order`: "\u202eppastahW\u202c" shows "WhatsApp");
    "drop" only drops the controls (a link target: a browser follows the href as written); "keep"
    drops the other invisible characters and keeps the bidi controls (HTML markup, whose visible
    text is read with "read" once the tags are gone)."""
    if text.isascii():
        return text
    if bidi == "read" and ("\u202d" in text or "\u202e" in text):
        text = reading_order(text)[0]
    if _INVISIBLE.search(text) is None:
        return text
    return (_ZERO_WIDTH if bidi == "keep" else _INVISIBLE).sub("", text)


# Spaces narrower than a word space and the braille blank (attack23 N2): between two letters a reader
# reads one word ("Wh\u200aatsApp", a hair space of about 1/10 em, shows as WhatsApp): U+2006 six-per-em,
# U+2008 punctuation, U+2009 thin, U+200A hair, U+202F narrow no-break space (French puts it before
# "!?;:" and between digits: not between two letters), U+2800 braille pattern blank. Not U+0020, the
# no-break space or the wider en/em spaces: word breaks.
NARROW_SPACES = "\u2006\u2008\u2009\u200a\u202f\u2800"
# The word spaces other than U+0020 (what `NARROW_SPACES` leaves): the no-break space U+00A0 (HTML's &nbsp;, of
# which Outlook's and Gmail's HTML are full), the en and em spaces and their kin U+2000-U+2005 and U+2007, the
# medium mathematical space U+205F, the ideographic space U+3000, the Ogham space mark U+1680. A reader sees a space;
# the checks' phrases are written with " " (RE2 reads them byte for byte, and a literal " " in a Python pattern is
# no other space), so "keep&nbsp;this&nbsp;between&nbsp;us" was no discretion and a stranger could hide every cue
# phrase, a claimed role and a request for a personal number behind &nbsp; (session 41). Read as " ".
WORD_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2007\u205f\u3000"
_AS_SPACE = str.maketrans({c: " " for c in WORD_SPACES})
_WORD_SPACE = re.compile(f"[{WORD_SPACES}]")  # (a search in C first: a translate looks up every character, bench43)


# A narrow space (`NARROW_SPACES`) beside a space or tab: in plain text a reader sees a wider gap; in HTML a browser
# collapses it with the space. Linear: a narrow run is tried only from its start.
_NARROW_BY_BLANK = re.compile(f"(?<![{NARROW_SPACES}])[{NARROW_SPACES}]++(?=[ \\t])|(?<=[ \\t])[{NARROW_SPACES}]++")


def drop_narrow_by_blank(text: str) -> str:
    """`text` without the narrow spaces beside a space or tab (`_NARROW_BY_BLANK`): "keep \u2800this" reads
    "keep this" for every check (review42 #5: a braille blank beside each space hid the claimed role, the
    messenger and the personal number). One search in C (none for ASCII text)."""
    if text.isascii() or _NARROW.search(text) is None:
        return text
    return _NARROW_BY_BLANK.sub("", text)


def one_space(text: str) -> str:
    """`text` with every run of spaces and tabs read as one " ", for matchers whose
    phrases are written with one space: "keep  this  between  us" with two spaces or tabs between the
    words, or a braille blank U+2800 beside each space, hid every cue phrase (attack42 #2). Not the same
    length; in C: a tab search and a replace per halving of the longest run (11 us a message over
    300 ham texts; the regex it replaced cost 25-39), two more passes for non-ASCII text with a narrow
    space."""
    text = drop_narrow_by_blank(text)
    if "\t" in text:
        text = text.replace("\t", " ")
    while "  " in text:  # each pass halves every run: log2 of the longest run passes (1 MB of spaces: 20, ~6 ms)
        text = text.replace("  ", " ")
    return text


def plain_spaces(text: str) -> str:
    """`text` with its word spaces (`WORD_SPACES`) read as " " (same length). A search and, where there is one, a
    pass in C; ASCII text is returned as it is."""
    return text if text.isascii() or _WORD_SPACE.search(text) is None else text.translate(_AS_SPACE)


# Except one U+202F between two letters of the Mongolian script (U+1800-18AF, Mongolian Supplement
# U+11660-1167F): there it is the standard separator between a word and its case suffix or particle
# (The Unicode Standard, ch. 13.5 "Mongolian"; UAX #14: NNBSP "is regularly used in Mongolian ...
# before a particle", L2/07-209R), not a split: real Mongolian text raised text.split_words.
MONGOLIAN = "\u1800-\u18af\U00011660-\U0001167f"
# a run of them between two letters, but not that one. Linear: a start inside a run fails at once on
# the look-behind; the exception is one look each way (a character) at a run's start
_SPLIT = re.compile(f"(?<=[^\\W\\d_])(?!(?<=[{MONGOLIAN}])\u202f[{MONGOLIAN}])[{NARROW_SPACES}]++(?=[^\\W\\d_])")
_NARROW = re.compile(f"[{NARROW_SPACES}]")
_WORD_BEFORE = re.compile(r"\w{1,40}\Z")
_WORD_AFTER = re.compile(r"\w{1,40}")


MAX_SPACED = 20_000  # characters of a message's other readings (parse.Disguises.spaced)
MAX_SPACED_LINES = 1_000  # lines with a split read one by one in a text; past them the rest is read as one block
_SEPARATING = re.compile(r"(?<=\S) +(?=\S)")  # a run of spaces between two words (not a line's trailing blanks)


def join_split_words(text: str, other: list[str] | None = None) -> tuple[str, int, str]:
    """`text` with the narrow spaces (`NARROW_SPACES`) between two letters dropped (not a Mongolian
    suffix's U+202F: `MONGOLIAN`): the word a reader reads. Also: how many were dropped, and the
    first word so joined (at most 40 letters each side of the first split). Two searches in C (none
    for ASCII text), and where there is such a space, a few passes in C per line holding one (at most
    `MAX_SPACED_LINES` lines; the rest of the text is read as one block).

    But a line whose narrow spaces stand where spaces would (at least two of them, and more than twice
    as many as the runs of spaces between its words: "keep\u2009this\u2009between\u2009us", an approach
    written with thin spaces) has them as its word spaces, read as " ": joined, every word ran into the
    next and no phrase was read (attack42 #2). A line with two or more of them that is not such a line
    is read joined, and its reading with them as spaces is added to `other` (the cue phrases read both:
    "please keep\u2009this\u2009between\u2009us and reply" and "Plea\u200ase kee\u200ap thi\u200as",
    a split in every word: review42 #3)."""
    if text.isascii() or _NARROW.search(text) is None or _SPLIT.search(text) is None:
        return text, 0, ""
    n = 0
    example = ""

    def read(part: str, first: re.Match[str]) -> str:
        nonlocal n, example
        joined, runs = _SPLIT.subn("", part)
        if runs >= 2:
            spaced = _SPLIT.sub(" ", part)
            if runs > 2 * len(_SEPARATING.findall(part)):
                return spaced
            if other is not None:
                other.append(spaced)
        example = example or _example(first.string, first)
        n += runs
        return joined

    pieces: list[str] = []
    at = 0
    for _ in range(MAX_SPACED_LINES):
        m = _SPLIT.search(text, at)  # the next line holding a split
        if m is None:
            break
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        pieces += (text[at:start], read(text[start:end], m))
        at = end
    tail = text[at:]
    m = _SPLIT.search(text, at) if tail else None
    return "".join(pieces) + (read(tail, m) if m is not None else tail), n, example


# Words written with a space between their letters ("W h a t s A p p", "k e e p  t h i s  b e t w e e n  u s", the
# spaced-text generators' output, attack42 #4), or with two or three spaces, a tab, a dot, a hyphen, an underscore,
# an asterisk, a slash, a bar, a middle dot or bullet, or one of Unicode's hyphens and dashes between them (U+2010 to
# U+2015 and the minus sign: what Word and Outlook make of a typed " - ", review44 #4), a space either side of the
# mark or not ("W  h  a  t  s", "S.i.g.n.a.l", "W-h-a-t-s-A-p-p", "W . h . a . t", "W \u2013 h \u2013 a"; review43b #4):
# a reader reads the words; no phrase, written with whole words, was read. A run of four or more one-letter words
# with the same separator between each two (the words of a spaced line are set apart by a wider one), and near it the
# runs of two or three too ("u s"). A letter goes with the tighter of its two separators (a mark alone, one blank, a
# mark with blanks, two blanks, three): in "t h i s  a  s e c r e t" the "a" is a word and the "s" the first letter
# of the next (review44 #1: "a  s" read as a run took it, "as ecret"). Prefilters first, each a search in C led by a
# literal (the middle dots and dashes only in non-ASCII text; one pattern for all of them, led by a class, cost twice
# as much), covering every separator the runs accept (review44 #2); the run search only on the ~3 % of texts they
# let through (134 of the shared ham's 4,241 text parts: docreview45). On those texts, large ones included: 52 us a
# text, 62 us with the slash and the bar (review45; review44 had timed ~16 us on smaller texts).
# Linear: a run is tried from a letter no letter precedes, its separator is one of a few fixed strings, each of its
# letters is looked at a bounded number of times, and the lookaheads read at most five characters.
_LETTER = r"[^\W\d_]"
_WIDE_MARKS = "\u00b7\u2022\u2010-\u2015\u2212"  # (the marks outside ASCII)
_MARK = f"[.\\-_*/|{_WIDE_MARKS}]"
_LETTERS_PREFILTERS = tuple(re.compile(p) for p in (
    f" {_LETTER} {_LETTER} ", f"  {_LETTER} {{2,3}}{_LETTER}  ", f"\t[ \t]{{0,2}}{_LETTER}[ \t]{{0,2}}\t",
    *(f"{c}[ \t]?{_LETTER}[ \t]?{c}[ \t]?{_LETTER}[ \t]?{c}" for c in ("\\.", "-", "_", "\\*", "/", "\\|"))))
_DOTS_PREFILTER = re.compile(f"[{_WIDE_MARKS}][ \t]?{_LETTER}[ \t]?[{_WIDE_MARKS}]")  # (non-ASCII text only)
_ONE_LETTER = f"{_LETTER}(?!{_LETTER})"
_MARK_BLANKS = f"(?:[ \t]{_MARK}[ \t]|[ \t]{_MARK}|{_MARK}[ \t])"
# the separator (group 1), by kind, in the order tried (a mark alone, then the longer forms first): a mark alone, a
# mark with blanks, three, two, one blank(s); `_TIGHTER` ranks them by tightness as above
_SEPARATOR = f"((?P<mark>{_MARK})|(?P<marked>{_MARK_BLANKS})|(?P<three>[ \t]{{3}})|(?P<two>[ \t]{{2}})|(?P<one>[ \t]))"
# the second letter stays with the first only if no tighter separator and one-letter word follow it
_TIGHTER = (f"(?(mark)|(?!{_MARK}{_ONE_LETTER}))"
            f"(?(mark)|(?(one)|(?![ \t]{_ONE_LETTER})))"
            f"(?(two)(?!{_MARK_BLANKS}{_ONE_LETTER})|)"
            f"(?(three)(?!{_MARK_BLANKS}{_ONE_LETTER})(?![ \t]{{2}}{_ONE_LETTER})|)")
_RUN_HEAD = f"(?<!{_LETTER}){_LETTER}{_SEPARATOR}{_ONE_LETTER}{_TIGHTER}"  # a first letter, its separator, a second
_LETTER_RUN = re.compile(f"{_RUN_HEAD}(?:\\1{_ONE_LETTER}){{2,}}")
_SHORT_RUN = re.compile(f"{_RUN_HEAD}(?:\\1{_ONE_LETTER})*")
_NOT_A_LETTER = re.compile(f"[ \t.\\-_*/|{_WIDE_MARKS}]")
SPACED_MARGIN = 500  # characters of a long line read each side of its run (review44 #3)


def _may_be_letter_spaced(text: str) -> bool:
    return (any(p.search(text) is not None for p in _LETTERS_PREFILTERS)
            or (not text.isascii() and _DOTS_PREFILTER.search(text) is not None))


def letter_spaced(text: str, other: list[str]) -> None:
    """Add to `other` each line of `text` holding a run of four or more letters written one apart (the same
    separator between each two: a space, two or three, a tab, a dot, a hyphen ...), read with the runs of two or
    more such letters joined ("Move to W h a t s A p p" -> "Move to WhatsApp", "S.i.g.n.a.l" -> "Signal"); of a
    line longer than that, SPACED_MARGIN characters each side of the run (an abbreviation in a long paragraph,
    "U.S.A.F.", used up the message's MAX_SPACED characters of other readings, and a spaced line longer than them
    was never read: review44 #3); at most MAX_SPACED_LINES such readings. The text itself is left as written (a
    reader reads "a b c d" as the letters it is as readily): the cue phrases, the messenger mention and the
    personal-number request read both (not a social-network notification's persona text). Past MAX_SPACED_LINES
    readings, the rest of the text (at most MAX_SPACED characters of it) is one more."""
    if not _may_be_letter_spaced(text):
        return
    at = 0
    for _ in range(MAX_SPACED_LINES):
        m = _LETTER_RUN.search(text, at)
        if m is None:
            return
        near = max(at, m.start() - SPACED_MARGIN)  # (bounded: each search of a long line's runs looks back this far)
        start = text.rfind("\n", near, m.start()) + 1 or near
        end = text.find("\n", m.end(), m.end() + SPACED_MARGIN)
        end = min(len(text), m.end() + SPACED_MARGIN) if end < 0 else end
        other.append(_SHORT_RUN.sub(_joined, text[start:end]))
        at = end
    if _LETTER_RUN.search(text, at) is not None:  # past them, the rest of the text as one block (its first MAX_SPACED
        other.append(_SHORT_RUN.sub(_joined, text[at:at + MAX_SPACED]))  # characters): 1,001 lines of "a b c d"


def _joined(run: re.Match[str]) -> str:
    return _NOT_A_LETTER.sub("", run.group())


def _example(text: str, split: re.Match[str]) -> str:
    """The word around `split` (at most 40 letters each side), as a reader reads it joined."""
    before = _WORD_BEFORE.search(text, max(0, split.start() - 40), split.start())
    after = _WORD_AFTER.match(text, split.end())
    return (before.group() if before else "") + (after.group() if after else "")


def overrides_in(text: str) -> int:
    """How many bidi overrides (U+202D LRO, U+202E RLO) `text` holds (two counts in C)."""
    return 0 if text.isascii() else text.count("\u202d") + text.count("\u202e")


# Letters of the scripts written right to left (Hebrew, Arabic, Syriac, Thaana, NKo, Samaritan ...,
# their presentation forms): an override in such text may be the writer's, not a disguise
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\U00010800-\U00010fff\U0001e800-\U0001efff]")


def has_rtl_letters(text: str) -> bool:
    """Whether `text` has a letter of a script written right to left."""
    return not text.isascii() and _RTL.search(text) is not None


MAX_REORDERED = 20_000  # characters of lines with an override that `reading_order` reorders per text
MAX_FOLDED = 65_536  # characters of a message's text that `parse.Disguises` reads look-alikes in (FIELD_CAP)
_MAX_LEVEL = 15  # embedding levels followed (UAX #9 allows 125; pushes past this one are ignored)
# LRE RLE LRO RLO LRI RLI FSI (FSI read as LRI): (odd level, override, isolate)
_OPENERS: dict[str, tuple[bool, str | None, bool]] = {
    "\u202a": (False, None, False), "\u202b": (True, None, False), "\u202d": (False, "L", False),
    "\u202e": (True, "R", False), "\u2066": (False, None, True), "\u2067": (True, None, True),
    "\u2068": (False, None, True)}
# a paragraph (UAX #9 paragraph separators end one) holding an override. Linear: a match starts
# only at a paragraph's start (an attempt inside one fails at once on the look-behind, not after
# scanning the rest of the line: attack22 #1, O(L^2) on a long line without an override), and
# the possessive prefix stops at the first override.
_PARAGRAPH_END = "\n\r\x1c-\x1e\x85\u2029"
_OVERRIDE_LINE = re.compile(
    f"(?:^|(?<=[{_PARAGRAPH_END}]))[^{_PARAGRAPH_END}\u202d\u202e]*+[\u202d\u202e][^{_PARAGRAPH_END}]*+")


def reading_order(text: str, limit: int = MAX_REORDERED) -> tuple[str, int]:
    """`text` with each paragraph (line) that holds a bidi override in the order a reader sees it:
    UAX #9 in a left-to-right paragraph: the explicit levels (X1-X8: embeddings, overrides,
    isolates, PDF, PDI; the line's end closes them all), X9/X10 (the embedding and override
    controls take no part, runs joined across isolates), the weak and neutral types (W1, W4, W5,
    W7, N1, N2), the implicit levels (I1/I2), L1 and the reordering of runs (L2): what libfribidi
    shows (tests/unit/test_textsafe.py compares them). Simplified: a letter of a right-to-left
    script outside any embedding stays at level 0, so a Hebrew phrase keeps its logical order
    (the order its reader reads it in); the other weak rules (W2, W3, W6) are not needed by text a
    reader reads left to right. The controls stay (`visible_text` drops them).
    Also: how many characters were reordered. At most `limit` characters of such lines are
    reordered (Python loops of ~2 us a character); the lines from the first one past that keep
    their logical order."""
    pieces: list[str] = []
    at = used = 0
    for m in _OVERRIDE_LINE.finditer(text):
        line = m.group()
        if used + len(line) > limit:
            break
        used += len(line)
        pieces += (text[at:m.start()], _reorder_line(line))
        at = m.end()
    return ("".join(pieces) + text[at:] if pieces else text), used


def _reorder_line(s: str) -> str:
    """One paragraph's characters in display order (see `reading_order`)."""
    chars, levels = list(s), _levels(s)
    n = len(chars)
    for at in range(max(levels, default=0), 0, -1):  # L2: reverse each run at this level or higher
        i = 0
        while i < n:
            if levels[i] < at:
                i += 1
                continue
            j = i
            while j < n and levels[j] >= at:
                j += 1
            chars[i:j] = chars[i:j][::-1]
            levels[i:j] = levels[i:j][::-1]
            i = j
    return "".join(chars)


def _levels(s: str) -> list[int]:
    """The embedding level of each character of one paragraph (see `reading_order`): UAX #9 X1-X8
    (the explicit levels, each character's type under an override), X9 (embeddings, overrides, PDF
    and boundary-neutral characters take no part: they get the level of the character before
    them, so "RLO ppAs PDF RLO tahW PDF" is one run at level 1 and shows "WhatsApp", attack22 #5),
    X10 (level runs; their sos and eos from the higher of the levels on either side), and within
    each run above level 0 W1 (a mark takes the type before it), W7 (a digit after L or an sos of
    L is L), N1/N2 (neutrals between two of one direction take it, others the run's direction),
    I1/I2. A run at level 0 keeps its logical order (see `reading_order`); a segment separator
    (tab) and the whitespace before it or at the line's end go to level 0 (L1)."""
    stack: list[tuple[int, str | None, bool, int]] = [(0, None, False, -1)]  # ..., where an isolate opened
    ignored = 0  # pushes past _MAX_LEVEL: their PDF or PDI is ignored too
    isolates: dict[int, int] = {}  # an isolate's initiator: its PDI (-1: none)
    levels: list[int] = []
    kinds: list[str] = []  # "L", "R", "E" (a digit), "N" (neutral), "M" (a mark), "X" (X9: no part)
    spaces: list[str] = []  # for L1, by the type before any override: "S" a tab, "W" whitespace or a control
    for at, ch in enumerate(s):
        level, override, _isolate, _opened = stack[-1]
        opener = _OPENERS.get(ch)
        if opener is not None:
            odd, kind, isolate = opener
            new = (level + 1) | 1 if odd else (level + 2) & ~1
            if new > _MAX_LEVEL or ignored:
                ignored += 1
            else:
                stack.append((new, kind, isolate, at))
            if isolate:
                isolates[at] = -1
            levels.append(level)  # X5a-c: an isolate's initiator is at the level outside it
            kinds.append((override or "N") if isolate else "X")
            spaces.append("W")
            continue
        if ch in "\u202c\u2069":  # PDF ends an embedding or override, PDI an isolate and all inside it
            if ignored:
                ignored -= 1
            elif ch == "\u202c":
                if len(stack) > 1 and not stack[-1][2]:
                    stack.pop()
            elif any(entry[2] for entry in stack):
                while not stack[-1][2]:
                    stack.pop()
                isolates[stack.pop()[3]] = at
            level, override = stack[-1][0], stack[-1][1]
            levels.append(level)
            kinds.append("X" if ch == "\u202c" else (override or "N"))
            spaces.append("W")
            continue
        bidi = unicodedata.bidirectional(ch)
        levels.append(level)
        kinds.append("X" if bidi == "BN" else override or _KINDS.get(bidi, "N"))
        spaces.append("S" if bidi in ("S", "B") else "W" if bidi in ("WS", "BN") else "")
    _resolve(levels, kinds, spaces, isolates)
    return levels


# bidi classes (unicodedata.bidirectional) as `_levels` reads them; the rest are neutral
_KINDS = {"L": "L", "R": "R", "AL": "R", "EN": "E", "AN": "E", "NSM": "M", "ES": "s", "CS": "c", "ET": "t"}


def _resolve(levels: list[int], kinds: list[str], spaces: list[str], isolates: dict[int, int]) -> None:
    """`_levels`' X9, X10, W1, W4, W5, W7, N1/N2, I1/I2 and L1 over the explicit levels and types,
    in place."""
    explicit = levels[:]
    for run, sos, eos in _sequences(explicit, kinds, isolates):
        level = explicit[run[0]]
        types = _weak([kinds[i] for i in run], sos)
        _neutrals(types, sos, eos, "R" if level & 1 else "L")
        for i, kind in zip(run, types, strict=True):  # I1/I2 (a letter of a right-to-left script
            if kind == "E":                              # outside any embedding stays at level 0)
                levels[i] = level + 1 if level & 1 else level + 2
            elif (kind == "R") != bool(level & 1) and (level or kinds[i] != "R"):
                levels[i] = level + 1
    previous = 0
    for i, kind in enumerate(kinds):  # X9: the removed characters join the character before them
        if kind == "X":
            levels[i] = previous
        previous = levels[i]
    trailing = True  # L1: a tab, and the whitespace before it or at the line's end, at level 0
    for i in range(len(spaces) - 1, -1, -1):
        if spaces[i] == "S":
            levels[i], trailing = 0, True
        elif trailing and spaces[i] == "W":
            levels[i] = 0
        else:
            trailing = False


def _sequences(levels: list[int], kinds: list[str], isolates: dict[int, int]) -> list[tuple[list[int], str, str]]:
    """X10: the isolating run sequences (level runs of the characters X9 keeps, joined from an
    isolate's initiator to its PDI), each with its sos and eos."""
    kept = [i for i, kind in enumerate(kinds) if kind != "X"]
    runs: list[tuple[int, int]] = []  # positions in `kept`
    at = 0
    while at < len(kept):
        end = at
        while end < len(kept) and levels[kept[end]] == levels[kept[at]]:
            end += 1
        runs.append((at, end))
        at = end
    starts = {kept[first]: n for n, (first, _last) in enumerate(runs)}
    pdis = set(isolates.values())
    out = []
    for first, last in runs:
        if first and kept[first] in pdis:  # continues the sequence of its isolate's initiator
            continue
        run = kept[first:last]
        while run[-1] in isolates and isolates[run[-1]] in starts:
            first_more, last = runs[starts[isolates[run[-1]]]]
            run += kept[first_more:last]
        level = levels[run[0]]
        before = levels[kept[first - 1]] if first else 0
        after = 0 if run[-1] in isolates or last == len(kept) else levels[kept[last]]
        out.append((run, "R" if max(level, before) & 1 else "L", "R" if max(level, after) & 1 else "L"))
    return out


def _weak(types: list[str], sos: str) -> list[str]:
    """W1 (a mark takes the type before it), W4 (one separator between two digits), W5 (number
    terminators next to a digit), W7 (a digit after L is L) of one sequence's types."""
    for k, kind in enumerate(types):
        if kind == "M":
            types[k] = types[k - 1] if k else sos
    for k in range(1, len(types) - 1):
        if types[k] in "sc" and types[k - 1] == types[k + 1] == "E":
            types[k] = "E"
    k = 0
    while k < len(types):  # each stretch of terminators once
        m = k
        while m < len(types) and types[m] == "t":
            m += 1
        if m > k and ((k and types[k - 1] == "E") or (m < len(types) and types[m] == "E")):
            types[k:m] = ["E"] * (m - k)
        k = max(m, k + 1)
    strong = sos
    for k, kind in enumerate(types):
        if kind == "E" and strong == "L":
            types[k] = "L"
        elif kind in "LR":
            strong = kind
    return types


def _neutrals(types: list[str], sos: str, eos: str, embedding: str) -> None:
    """N1/N2: a stretch of neutrals takes the direction on both its sides (a digit counts as R), or
    else the embedding's, in place."""
    n = 0
    while n < len(types):
        if types[n] in "LRE":
            n += 1
            continue
        m = n
        while m < len(types) and types[m] not in "LRE":
            m += 1
        left = ("R" if types[n - 1] == "E" else types[n - 1]) if n else sos
        right = ("R" if types[m] == "E" else types[m]) if m < len(types) else eos
        types[n:m] = [left if left == right else embedding] * (m - n)
        n = m


# Cyrillic and Greek letters a reader takes for Latin ones, both cases: Unicode's confusables.txt
# (UTS #39 version 14.0.0, unicode.org/Public/security), every Cyrillic or Greek letter whose
# prototype is one ASCII letter (Latin capital I's prototype is "l": a capital maps to "I"), a
# Latin small capital (\u0432 -> \u0299 is b, \u043d -> \u029c is h, \u0442 -> \u1d1b is t) or the kra
# (\u043a -> \u0138 is k); and Greek chi as x, which that list leaves out.
LOOKALIKES: dict[str, str] = {
    "\u037f": "J", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H",
    "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T",
    "\u03a5": "Y", "\u03a7": "X", "\u03b1": "a", "\u03b3": "y", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v",
    "\u03bf": "o", "\u03c1": "p", "\u03c3": "o", "\u03c4": "t", "\u03c5": "u", "\u03d2": "Y", "\u03dc": "F",
    "\u03f0": "k", "\u03f1": "p", "\u03f2": "c", "\u03f3": "j", "\u03f9": "C", "\u03fa": "M", "\u0405": "S",
    "\u0406": "I", "\u0408": "J", "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M",
    "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0423": "Y", "\u0425": "X",
    "\u042c": "b", "\u0430": "a", "\u0432": "b", "\u0433": "r", "\u0435": "e", "\u043a": "k", "\u043d": "h",
    "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y", "\u0445": "x", "\u0455": "s",
    "\u0456": "i", "\u0458": "j", "\u0461": "w", "\u0474": "V", "\u0475": "v", "\u04ae": "Y", "\u04af": "y",
    "\u04bb": "h", "\u04bd": "e", "\u04c0": "I", "\u04cf": "i", "\u0501": "d", "\u050c": "G", "\u050d": "g",
    "\u051b": "q", "\u051c": "W", "\u051d": "w", "\u1d26": "r", "\u1d29": "p", "\u1fbe": "i", "\ua647": "i",
    "\u03c7": "x",
}
# attack22 #10, look-alikes outside Cyrillic and Greek: the compatibility forms of Latin letters
# (NFKC makes each one ASCII letter: fullwidth "\uff41", mathematical "\U0001d41a", letterlike
# "\u210e"), and the letters of Latin's extensions outside `_LATIN` (no language's alphabet there
# uses them) that confusables.txt reads as one ASCII letter: IPA alpha "\u0251", small capitals
# "\u1d04" ...; not "\u028b" and "\u0263" (Ewe, Akan and others write them).
LOOKALIKES.update({c: n for first, last in ((0x2100, 0x214F), (0xFF21, 0xFF5A), (0x1D400, 0x1D7FF))
                   for c in map(chr, range(first, last + 1))
                   if unicodedata.category(c) in ("Lu", "Ll") and len(n := unicodedata.normalize("NFKC", c)) == 1
                   and n.isascii() and n.isalpha()})
LOOKALIKES.update({
    "\u0251": "a", "\u0261": "g", "\u0269": "i", "\u026a": "i", "\u026f": "w", "\u028f": "y", "\u1d04": "c",
    "\u1d0f": "o", "\u1d11": "o", "\u1d1c": "u", "\u1d20": "v", "\u1d21": "w", "\u1d22": "z", "\u1d83": "g",
    "\u1d8c": "y", "\ua731": "s", "\ua798": "F", "\ua799": "f", "\ua79f": "u", "\ua7b2": "J", "\ua7b3": "X",
    "\ua7b4": "B", "\uab32": "e", "\uab35": "f", "\uab3d": "o", "\uab47": "r", "\uab48": "r", "\uab4e": "u",
    "\uab52": "u", "\uab5a": "y",
})
# attack23 N1, more letters NFKC makes one ASCII letter (UAX #15 compatibility decompositions, Unicode
# 14.0.0 as Python's unicodedata): circled "\u24d0" and squared "\U0001f130" letters (So), modifier
# (superscript) "\u1d43" and subscript "\u2090" letters (Lm), roman numerals "\u2170" (Nl); not the
# ordinal indicators "\u00aa" "\u00ba" ("1\u00ba", "n\u00ba" are how Spanish and Portuguese write) nor the
# long s "\u017f" (a Latin letter of `_LATIN`). And the Latin small capitals of one letter (UnicodeData.txt
# names "LATIN LETTER SMALL CAPITAL A" ...: confusables.txt reads them as that letter, "\u1d00" A), which
# have no NFKC form.
LOOKALIKES.update({c: n for first, last in ((0x02B0, 0x02FF), (0x1D00, 0x1DBF), (0x2070, 0x209F), (0x2150, 0x218F),
                                            (0x2460, 0x24FF), (0x2C7C, 0x2C7D), (0xA7F0, 0xA7FF), (0x10780, 0x107BF),
                                            (0x1F100, 0x1F1FF))
                   for c in map(chr, range(first, last + 1))
                   if unicodedata.category(c) in ("Lm", "Nl", "So") and len(n := unicodedata.normalize("NFKC", c)) == 1
                   and n.isascii() and n.isalpha()})
# the negative circled and squared capitals U+1F150-1F169 and U+1F170-1F189 ("\U0001f166\U0001f157\U0001f150..."
# reads WHATSAPP), which have no compatibility decomposition to build them from (attack42 #10)
LOOKALIKES.update({c: name[-1] for c in map(chr, range(0x1F150, 0x1F18A))
                   if re.fullmatch(r"NEGATIVE (?:CIRCLED|SQUARED) LATIN CAPITAL LETTER [A-Z]",
                                   name := unicodedata.name(c, ""))})
LOOKALIKES.update({c: name[-1].lower() for first, last in ((0x0250, 0x02AF), (0x1D00, 0x1D2B), (0xA730, 0xA7FF))
                   for c in map(chr, range(first, last + 1))
                   if len(name := unicodedata.name(c, "")) == 28 and name.startswith("LATIN LETTER SMALL CAPITAL ")})
# fix25look, look-alikes of three more scripts: an approach with its cue words written with Armenian
# ("\u0570\u0585n\u0585rarium"), Cherokee ("\u13b3h\u13aatsApp") or Coptic ("c\u2c9fnfidential") letters scored
# clean 2.6, with Cyrillic ones high. Unicode's confusables.txt (UTS #39) 15.1.0 (2023-08-11, as ICU 74 ships it;
# 13.0.0 and 15.0.0 map these blocks the same, and so does 14.0.0 between them): every letter (L*) of the
# Armenian (U+0530-058F, U+FB13-FB17), Cherokee (U+13A0-13FF, U+AB70-ABBF) and Coptic (U+2C80-2CFF,
# U+03E2-03EF) blocks whose prototype is one ASCII letter, or a Latin small capital, the kra, tone six or
# Greek chi that this table or `CUE_SKELETON` reads as one ("\uab70" -> "\u1d05" is d), a capital whose
# prototype is "l" as "I" (as above). Left out: prototypes of two characters (Armenian ligatures
# U+FB13-FB17 and "\u0587", an O with a stroke "\u13be", "O'"), digits ("\u13ce" 4, "\u2cca" 9), Greek,
# Cyrillic and Ethiopic letters not read as Latin (Armenian capitals "\u053b" \u12ae, Coptic "\u2c84" \u0393),
# other Latin letters ("\u0575" \u0237, "\u13f0" \u00df) and punctuation (the Armenian full stop is ":").
# Armenian and Cherokee text stays as written as Russian does: a letter of them here is read only in a word
# mixing in Latin letters or, in a line of Latin text, a word of look-alikes only (`read_lookalikes`).
LOOKALIKES.update({
    "\u054d": "U", "\u054f": "S", "\u0555": "O", "\u0561": "w", "\u0563": "q", "\u0566": "q", "\u0570": "h",
    "\u0578": "n", "\u057c": "n", "\u057d": "u", "\u0581": "g", "\u0584": "f", "\u0585": "o", "\u13a0": "D",
    "\u13a1": "R", "\u13a2": "T", "\u13a5": "i", "\u13a9": "Y", "\u13aa": "A", "\u13ab": "J", "\u13ac": "E",
    "\u13b3": "W", "\u13b7": "M", "\u13bb": "H", "\u13bd": "Y", "\u13c0": "G", "\u13c2": "h", "\u13c3": "Z",
    "\u13cf": "b", "\u13d2": "R", "\u13d4": "W", "\u13d5": "S", "\u13d9": "V", "\u13da": "S", "\u13de": "L",
    "\u13df": "C", "\u13e2": "P", "\u13e6": "K", "\u13e7": "d", "\u13f3": "G", "\u13f4": "B", "\u13fb": "g",
    "\u13fc": "b", "\u2c85": "r", "\u2c8e": "H", "\u2c92": "I", "\u2c94": "K", "\u2c95": "k", "\u2c98": "M",
    "\u2c9a": "N", "\u2c9e": "O", "\u2c9f": "o", "\u2ca2": "P", "\u2ca3": "p", "\u2ca4": "C", "\u2ca5": "c",
    "\u2ca6": "T", "\u2ca8": "Y", "\u2cac": "X", "\u2cad": "x", "\u2cd0": "L", "\u2cd1": "l", "\uab70": "d",
    "\uab71": "r", "\uab72": "t", "\uab75": "i", "\uab7a": "a", "\uab7b": "j", "\uab7c": "e", "\uab81": "r",
    "\uab83": "w", "\uab8b": "h", "\uab90": "g", "\uab93": "z", "\uab9f": "b", "\uaba2": "r", "\uaba9": "v",
    "\uabaa": "s", "\uabae": "l", "\uabaf": "c", "\uabb2": "p", "\uabb6": "k",
})
# the 12 letters of those blocks that confusables.txt 17.0.0 (2025-07-22) adds by the same rule, all
# assigned in 14.0.0: Coptic small letters ("\u2ca7" -> "\u1d1b" is t), "\u2c82" B, Armenian "\u0582" i
LOOKALIKES.update({
    "\u03ed": "o", "\u0582": "i", "\u2c82": "B", "\u2c83": "b", "\u2c8f": "h", "\u2c93": "i", "\u2c9b": "n",
    "\u2ca7": "t", "\u2ca9": "y", "\u2cbd": "w", "\u2cce": "P", "\u2ccf": "p",
})
_FOLD_LOOKALIKES = str.maketrans(LOOKALIKES)
# the look-alikes that are letters of no script: forms of a Latin letter by Unicode's compatibility mapping
# (mathematical, full-width, circled, squared, parenthesised, superscript) and the negative circled and squared ones
COMPAT_LETTERS: dict[str, str] = {c: n for c, n in LOOKALIKES.items()
                                  if unicodedata.normalize("NFKC", c) == n or 0x1F150 <= ord(c) <= 0x1F189}
_FOLD_COMPAT = str.maketrans(COMPAT_LETTERS)


def class_ranges(chars: Iterable[str]) -> str:
    """`chars` as the body of a regex character class in runs (`a-z`): the same set. Python's
    `re` keeps a class's BMP members in a bitmap and tests each of the others, one by one, at every
    position of the text (the 652 look-alikes beyond the BMP written singly: 4-5 ms a non-ASCII ham
    text part); written in runs they are 19 tests, and a class of BMP characters alone is one
    bitmap look-up."""
    runs: list[list[int]] = []
    for o in sorted(set(map(ord, chars))):
        if runs and runs[-1][1] == o - 1:
            runs[-1][1] = o
        else:
            runs.append([o, o])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in runs)


_L = class_ranges(LOOKALIKES)
# `has_lookalikes`' screen in three searches in C: the BMP look-alikes (a bitmap), and only in a
# text with a character beyond the BMP (emoji; one range) the mathematical letters' runs
_BMP_LOOKALIKE = re.compile(f"[{class_ranges(c for c in LOOKALIKES if ord(c) <= 0xFFFF)}]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_LOOKALIKE = re.compile(f"[{class_ranges(c for c in LOOKALIKES if ord(c) > 0xFFFF)}]")
_COMPAT_LETTER = re.compile(f"[{class_ranges(COMPAT_LETTERS)}]")
# Latin letters with or without marks, digits and "_": with the look-alikes, what a word a reader
# takes for Latin is made of
_LATIN = "A-Za-z0-9_\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\u0300-\u036f"
# a whole word of those holding a look-alike, not part of a host name, address or link (not after
# "." or "x@", not before "@" or ".x": a look-alike host stays what it is for the links and
# indicator checks). Linear: the prefix is possessive and stops at the first look-alike, and a
# start inside a word fails at once on the look-behind (a combining mark is inside a word too: not
# \w, it let a scan of the rest of the run start after each mark, attack22 #2).
# (circled and squared letters are not \w: "p\u24d0rtners" is one word, attack23 N1)
_WORD_START = f"(?<![\\w.{_L}\u0300-\u036f])(?<!\\w@)"
_WORD = f"{_WORD_START}[{_LATIN}]*+[{_L}][{_LATIN}{_L}]*+(?![\\w@]|\\.\\w)"
_LATIN_WORD = re.compile(_WORD)
# the same of two letters or more, combining marks aside (what is counted), and the same mixing in a Latin letter (the
# lazy look-ahead stops at the word's end: a space or a letter of another script is not in it; it
# comes after the word's start, else it scanned a run of look-alikes from each of its letters)
_TWO_LETTERS = f"(?=[\u0300-\u036f]*+[\\w{_L}][\u0300-\u036f]*+[\\w{_L}])"
_COUNTED = re.compile(f"{_WORD_START}{_TWO_LETTERS}{_WORD}")
# a counted word mixing in a Latin letter (attack22 #14: a word of look-alikes only,
# "\u041c\u041e\u0421\u041a\u0412\u0410", counts only in a text that has one of these)
_COUNTED_MIXED = re.compile(f"{_WORD_START}{_TWO_LETTERS}(?=[{_LATIN}{_L}]*?[A-Za-z]){_WORD}")
_MIXED_WORD = re.compile(f"{_WORD_START}(?=[{_LATIN}{_L}]*?[A-Za-z]){_WORD}")
# a word with a look-alike in a host name or address: right after "." or "x@", right before "@" or ".x"
_HOSTISH = re.compile(f"(?:(?<=\\.)|(?<=\\w@))[^\\W{_L}]*+[{_L}][\\w{_L}]*+"
                      f"|(?<!\\w)[^\\W{_L}]*+[{_L}][\\w{_L}]*+(?=@|\\.\\w)")
# letters that are neither Latin nor look-alikes (a Russian "\u0434", a Greek "\u03bb", a Chinese character)
_HOST_SCREEN = re.compile(r"[.@]\w|\w@")  # where a host name or address may be
_FOREIGN = re.compile(f"[^\\W\\d{_LATIN}{_L}]+")
_NOT_LETTER = re.compile(r"[\W\d_]+")
_ASCII_LETTER = re.compile("[A-Za-z]")
_NOT_ASCII_LETTER = re.compile("[^A-Za-z]+")
# a line with a look-alike; a match starts only at a line's start (attack22 #2: one attempt from each
# position of a long line without one, O(L^2))
_LOOKALIKE_LINE = re.compile(f"(?:^|(?<=\n))[^\n{_L}]*+[{_L}][^\n]*+")
# a line with a look-alike and no Latin letter (a Russian word whose letters all look Latin)
_NO_LATIN_LINE = re.compile(f"(?m)^[^A-Za-z\n{_L}]*+[{_L}][^A-Za-z\n]*+$")
MAX_LINES = 1_000  # lines with a look-alike read one by one in a text with other scripts' letters
MAX_FOLDS = 2_000  # words folded one by one (a Python call each), host names kept; real mail is far below


def has_lookalikes(text: str) -> bool:
    """Whether `text` has a look-alike letter (searches in C: `_BMP_LOOKALIKE`)."""
    if text.isascii():
        return False
    if _BMP_LOOKALIKE.search(text) is not None:
        return True
    return _ASTRAL.search(text) is not None and _ASTRAL_LOOKALIKE.search(text) is not None


def fold_lookalikes(text: str) -> str:
    """`text` with its look-alike letters read as a reader takes them (`read_lookalikes`)."""
    return read_lookalikes(text)[0]


# the ideographic and full-width full stops, which IDNA reads as the dots of a host name (UTS #46
# maps them to "."): "ch\u0430thamhouse\u3002org" is a host name, the links check's (attack23 K3)
IDEOGRAPHIC_DOTS = "\u3002\uff0e\uff61"
_IDEO_DOT = re.compile(f"[{IDEOGRAPHIC_DOTS}]")
DOTS_TO_ASCII = str.maketrans(IDEOGRAPHIC_DOTS, "...")  # also the links check's host reading


# attack24 #9: Latin letters the look-alike reading keeps as Latin (they are letters of some language's
# alphabet: Turkish "\u0131", Polish "\u0142", Danish "\u00f8", the dental click "\u01c0"), which a reader
# of an English word takes for the ASCII letter they resemble: "d\u0131screetly", "Te\u01c0egram". For
# the cue-word matchers only (`cue_skeleton`), never counted as a disguise. The letters of `_LATIN`
# whose confusables.txt prototype (UTS #39, Unicode 14.0.0; through `LOOKALIKES` when it is a Cyrillic
# letter) is one ASCII letter once its marks are dropped; and the kra "\u0138" and tone six "\u0185",
# themselves the prototypes of the Cyrillic "\u043a" and "\u044c", read as the k and b
# `LOOKALIKES` reads those as.
CUE_SKELETON: dict[str, str] = {
    "\u00d0": "D", "\u00d8": "O", "\u00f8": "o", "\u0110": "D", "\u0111": "d", "\u0126": "H", "\u0127": "h",
    "\u0131": "i", "\u0138": "k", "\u0141": "L", "\u0142": "l", "\u0166": "T", "\u0167": "t", "\u017f": "f",
    "\u0180": "b", "\u0182": "b", "\u0183": "b", "\u0184": "b", "\u0185": "b", "\u0189": "D", "\u018c": "d",
    "\u018d": "g", "\u0191": "F", "\u0192": "f", "\u0196": "l", "\u0197": "l", "\u0199": "k", "\u019a": "l",
    "\u019d": "N", "\u019e": "n", "\u019f": "O", "\u01a5": "p", "\u01a6": "R", "\u01ad": "t", "\u01ae": "T",
    "\u01b4": "y", "\u01b5": "Z", "\u01b6": "z", "\u01bd": "s", "\u01c0": "l", "\u01e4": "G", "\u01e5": "g",
    "\u0224": "Z", "\u0225": "z", "\u023c": "c", "\u023e": "T", "\u0244": "U", "\u0246": "E", "\u0247": "e",
    "\u0248": "J", "\u0249": "j", "\u024d": "r", "\u024e": "Y", "\u024f": "y", "\u1e9a": "a", "\u1e9d": "f",
    "\u1eff": "y",
}
# The apostrophes mail clients and keyboards write for "'" (Outlook, Apple Mail and Word turn "don't" into
# "don\u2019t"; U+2018, the modifier letter U+02BC, the full-width U+FF07, the acute accent U+00B4 and the prime
# U+2032 typed for it): the cue phrases are written with "'" ("don't tell", "we'd", "I'm"), and a writer's
# typography is no reason to miss them (review41 #8: "Please don\u2019t tell your colleagues" was no discretion).
APOSTROPHES: dict[str, str] = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'", "\u00b4": "'", "\u2032": "'"}
# ... and the other marks a reader takes for one (attack42 #15): the reversed comma U+201B, the modifier letters
# turned comma U+02BB, reversed comma U+02BD, prime U+02B9 and vertical line U+02C8, the saltillo U+A78C, the
# reversed prime U+2035, the Armenian apostrophe U+055A, the Hebrew geresh U+05F3, the Greek koronis U+1FBD and
# psili U+1FBF, the grave accent "`" and its full-width U+FF40 ("don`t")
APOSTROPHES.update({c: "'" for c in "\u201b\u02bb\u02bd\u02b9\u02c8\ua78c\u2035\u055a\u05f3\u1fbd\u1fbf`\uff40"})
# (review42 #6: the modifier letters double apostrophe U+02EE and acute U+02CA, the capital saltillo U+A78B; and the
# combining commas above U+0312-0315, read as "'" before the marks are dropped: "don\u0313t" is no "dont")
APOSTROPHES.update({c: "'" for c in "\u02ee\u02ca\ua78b"})
_COMMA_MARKS = str.maketrans({c: "'" for c in "\u0312\u0313\u0314\u0315\u0343"})  # (U+0343: NFD U+0313)
_COMMA = re.compile("[\u0312-\u0315\u0343]")
# The Latin ligatures of the Alphabetic Presentation Forms (U+FB00-U+FB06: "con\ufb01dential", "o\ufb00er", as PDF
# text and some fonts write them, and as a stranger can) read as their letters, and the Unicode hyphens U+2010 and
# the no-break U+2011 as "-" ("off\u2011the\u2011record"): a reader reads the word.
LIGATURES: dict[str, str] = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                             "\ufb05": "st", "\ufb06": "st", "\u2010": "-", "\u2011": "-"}
# The other dashes read as "-" too ("off\u2013the\u2013record" with en dashes, as Word's autocorrect and a stranger
# write it: attack42 #14): the figure dash U+2012, en and em dashes U+2013/U+2014, the horizontal bar U+2015, the
# minus sign U+2212, the small em dash and small hyphen-minus U+FE58/U+FE63 and the full-width hyphen-minus U+FF0D.
# Only for the cue matchers: "London\u2013Paris" reads "London-Paris" there, a word break all the same.
DASHES: dict[str, str] = {c: "-" for c in "\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
                          # the hyphen bullet, modifier minus, two- and three-em dashes, the katakana-hiragana
                          # prolonged sound mark, the vertical em dash and the heavy minus (review42 #6)
                          "\u2043\u02d7\u2e3a\u2e3b\u30fc\ufe31\u2796"}
# A Latin letter with a hook, stroke, tilde, belt or curl that has no decomposition (so NFD and the marks' removal
# leave it) and that `CUE_SKELETON` does not list reads as its base letter, by its Unicode name ("LATIN SMALL
# LETTER D WITH HOOK" "\u0257" is d; "\u0257iscreetly", "W\u0266atsApp" with hooks or mid-tildes hid cue words:
# attack42 #9). Not the digraphs named "... WITH SMALL LETTER Z WITH CARON".
_WITH = re.compile(r"LATIN (SMALL|CAPITAL) LETTER ([A-Z]) WITH (?!.*\bLETTER\b)")
HOOKED: dict[str, str] = {
    c: (m.group(2).lower() if m.group(1) == "SMALL" else m.group(2))
    for first, last in ((0x0180, 0x02AF), (0x1D00, 0x1DBF), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF),
                        (0xAB30, 0xAB6F), (0x1DF00, 0x1DFFF))
    for c in map(chr, range(first, last + 1))
    if c not in CUE_SKELETON and len(unicodedata.normalize("NFD", c)) == 1
    and (m := _WITH.match(unicodedata.name(c, ""))) is not None}
_CUE_FOLD = str.maketrans({**HOOKED, **CUE_SKELETON, **APOSTROPHES, **LIGATURES, **DASHES})
_CUE_FOLDED = re.compile(f"[{class_ranges({**HOOKED, **CUE_SKELETON, **APOSTROPHES, **LIGATURES, **DASHES})}]")
# combining marks: every nonspacing and enclosing mark (Mn, Me) of the Unicode version Python ships, not only the
# diacritical blocks (U+0300-036F, U+1AB0-1AFF, U+1DC0-1DFF, U+20D0-20FF, U+FE20-FE2F): a Cyrillic titlo U+0483, a
# Hebrew meteg U+05BD, an Arabic shadda U+0651, a Thai tone mark U+0E48 or a musical stem U+1D167 on "WhatsApp" is a
# mark a reader reads through as well (attack42 #6). The BMP marks are one bitmap; those beyond it (~650, in runs a
# class Python tests one by one: 3 ms on 20 KB) only where the text has a character beyond the BMP. And the 25 spacing
# marks of a nonzero combining class (viramas, the Hangul tone marks U+302E/U+302F, musical stems and flags), which
# normalising sorts as it sorts the others (`cue_skeleton`, `stream_safe`). Built in ~15-25 ms at import.
_MARK_CODES = [c for c in range(0x0300, 0x20000)
               if unicodedata.category(chr(c)) in ("Mn", "Me") or unicodedata.combining(chr(c))]
_MARKS = re.compile(f"[{class_ranges(chr(c) for c in _MARK_CODES if c <= 0xFFFF)}]+")
_ASTRAL_MARKS = re.compile(f"[{class_ranges(chr(c) for c in _MARK_CODES if c > 0xFFFF)}]+")


def drop_marks(text: str) -> str:
    """`text` without its combining marks (`_MARK_CODES`): one pass in C, two where it has a character beyond the
    BMP."""
    plain = _MARKS.sub("", text)
    return _ASTRAL_MARKS.sub("", plain) if _ASTRAL.search(plain) is not None else plain


# A run of combining marks (`_MARK_CODES`, or a character that decomposes to marks: the half-width sound marks)
# longer than the bound of UAX #15's stream-safe format: `unicodedata.normalize` sorts each run of marks by
# insertion, and a stranger's run of 60,000 in descending class cost 7.6 s of CPU in one C call on the event loop
# (cpu43 #1).
STREAM_SAFE = 30


def _mark_run(codes: Iterable[int]) -> re.Pattern[str]:
    marks = f"[{class_ranges(chr(c) for c in codes)}\uff9e\uff9f]"
    return re.compile(f"({marks}{{{STREAM_SAFE}}}){marks}+")


# (the BMP's marks are one bitmap; those beyond it a class Python tests one by one: only where the text has a character
# beyond the BMP, review43c #3: 3.7 -> 13.5 ms on 64 K characters of Japanese with them always)
_MARK_RUN = _mark_run(c for c in _MARK_CODES if c <= 0xFFFF)
_ANY_MARK_RUN = _mark_run(_MARK_CODES)


def stream_safe(text: str) -> str:
    """`text` with each run of more than STREAM_SAFE combining marks cut to its first STREAM_SAFE (the bound of
    UAX #15's stream-safe format, which inserts a U+034F there; this deletes the rest of the run): what
    `unicodedata.normalize` then sorts is bounded, its cost linear in the text. No reader reads 30 marks on one
    letter. One or two searches in C (ASCII text: none)."""
    if text.isascii():
        return text
    return (_ANY_MARK_RUN if _ASTRAL.search(text) is not None else _MARK_RUN).sub(r"\1", text)


def cue_skeleton(text: str) -> str:
    """`text` as the cue-word matchers read it besides as written: canonically decomposed (NFD), its
    combining marks dropped ("\u1ea1" and "a\u0323", an a with a dot below, read "a"), and the Latin
    letters of `CUE_SKELETON` read as their ASCII letters: a UTS #39 skeleton with the marks dropped,
    for English cue words a reader reads through a mark or a Latin look-alike ("h\u1ecdn\u1ecdr\u1ea1rium",
    "d\u0131screetly"), the typographic apostrophes of `APOSTROPHES` read as "'" ("don\u2019t"), and the
    ligatures and Unicode hyphens of `LIGATURES` as their letters and "-" ("con\ufb01dential").
    Not the same length; ASCII text is returned as it is (its grave accents read as "'"). Linear, in C."""
    if text.isascii():
        return text.replace("`", "'") if "`" in text else text
    # the marks dropped before NFD too, which sorted a stranger's run of them in quadratic time (cpu43 #1: 9.1 s of
    # analysis for a 216 KB message, in two calls); after it, what a letter's decomposition gives (every character of
    # a nonzero combining class is a mark here, a mark decomposes to marks only, and NFD reorders nothing else: the
    # same reading). The combining commas read as "'" where written and where a decomposition gives them; each table
    # used only where one of its characters is (a `str.translate` looks every character up: ~720 instructions each,
    # bench43)
    if _COMMA.search(text) is not None:
        text = text.translate(_COMMA_MARKS)
    plain = unicodedata.normalize("NFD", drop_marks(text))
    if _COMMA.search(plain) is not None:
        plain = plain.translate(_COMMA_MARKS)
    plain = drop_marks(plain)
    return plain.translate(_CUE_FOLD) if _CUE_FOLDED.search(plain) is not None else plain


def read_lookalikes(text: str) -> tuple[str, int, str]:
    """`text` with the look-alike letters (`LOOKALIKES`) read as the Latin letters a reader takes
    them for, in the words that look Latin: a word mixing them with Latin letters
    ("Wh\u0430ts\u0410pp", UTS #39's mixed-script confusable) and, in a line of Latin text (fewer
    than one letter in 5 of another script, and more Latin letters than those), a word made of
    them only ("\u0430", "\u0441\u043e\u0440\u0435"). A word with a letter of another script (the
    Russian "\u0441\u043e\u0441\u0435\u0434") stays, and so does a line of Russian or Greek text (but
    for its words mixing in Latin letters); a host name or address stays as written. Also: how
    many words of two letters or more were read so, and the first of them as read: the words mixing
    in a Latin letter, and the words of look-alikes only where the text has such a mixed word too
    (attack22 #14: alone, "\u041c\u041e\u0421\u041a\u0412\u0410" or "\u0412\u0435\u0440\u0430"
    in an English line is how Russian writes them, read as Latin but no sign of a disguise). The
    same length (offsets into `text` stay valid).

    Cost, all linear: text without look-alikes (nearly all mail) is screened out by one search in
    C; text without a letter of another script (nor a line of look-alikes without a Latin letter)
    is translated whole, in C (its host names put
    back: a Python call each, at most `MAX_FOLDS`; past that the rest stays as written). Other
    text is read line by line (a few passes in C each) for its first `MAX_LINES` lines with a
    look-alike, and past those only its mixed words are read; a word read alone costs a Python
    call, at most `MAX_FOLDS` of them."""
    if not has_lookalikes(text):
        return text, 0, ""
    if _IDEO_DOT.search(text) is not None:  # read with those as dots (a host name stays), then put back
        folded, words, example = read_lookalikes(text.translate(DOTS_TO_ASCII))
        pieces: list[str] = []
        at = 0
        for m in _IDEO_DOT.finditer(text):
            pieces += (folded[at:m.start()], m.group())
            at = m.end()
        return "".join(pieces) + folded[at:], words, example
    if _FOREIGN.search(text) is None and _NO_LATIN_LINE.search(text) is None:
        folded, words, mixed, example = _fold_latin(text)
        return (folded, words, example) if mixed else (folded, 0, "")
    words = mixed = folds = 0
    example = ""

    def word(m: re.Match[str]) -> str:
        nonlocal words, mixed, folds, example
        w = m.group()
        folded = w.translate(_FOLD_LOOKALIKES)
        folds += 1
        if len(w) > 1:
            words += 1
            mixed += _ASCII_LETTER.search(w) is not None
            example = example or folded
        return folded

    out: list[str] = []
    at = lines = 0
    cut = False
    for m in _LOOKALIKE_LINE.finditer(text):
        lines += 1
        if lines > MAX_LINES:
            cut = True
            break
        line = m.group()
        if _ASCII_LETTER.search(line) is None:  # no mixed word, no line of Latin text ...
            if _COMPAT_LETTER.search(line) is None:
                continue
            # ... but letters of no script, a line all in them ("\U0001d40f\U0001d425\U0001d41e..." in bold
            # mathematical letters, full-width or circled ones) read as the Latin letters they are forms of,
            # as Unicode's compatibility mapping (NFKC) reads them, before the line is read as Latin or not:
            # a line of Russian keeps its own letters (attack42 #1: the sentence "please keep this between us"
            # in bold mathematical letters, or a whole approach so written, was read as no text at all)
            line = line.translate(_FOLD_COMPAT)
        out.append(text[at:m.start()])
        at = m.end()
        letters = len(_NOT_LETTER.sub("", line))
        foreign = len(line) - len(_FOREIGN.sub("", line))
        # a line of Latin text: fewer than one letter in 5 of other scripts and more Latin letters
        # than those (a Russian word alone on a line whose letters all look Latin is Russian)
        if foreign * 5 < letters and len(_NOT_ASCII_LETTER.sub("", line)) > foreign:
            if not foreign:
                line, n, n_mixed, first = _fold_latin(line)
                words += n
                mixed += n_mixed
                example = example or first
            elif folds < MAX_FOLDS:
                line = _LATIN_WORD.sub(word, line, count=MAX_FOLDS - folds)
        elif folds < MAX_FOLDS:  # Russian, Greek ...: only the words mixing in Latin letters
            line = _MIXED_WORD.sub(word, line, count=MAX_FOLDS - folds)
        out.append(line)
    rest = text[at:]
    # a mixed word needs a look-alike and a Latin letter on one line, and the loop read every such line
    # but past MAX_LINES: only then can the rest hold one (searching the rest of a Russian or Armenian
    # text again, for none, took 1.0 of the 1.5 ms of 20 KB of either without a Latin word)
    out.append(_MIXED_WORD.sub(word, rest, count=MAX_FOLDS - folds) if cut and folds < MAX_FOLDS else rest)
    return ("".join(out), words, example) if mixed else ("".join(out), 0, "")


def _fold_latin(text: str) -> tuple[str, int, int, str]:
    """`read_lookalikes` of a text with no letter of another script: every look-alike read as its
    Latin letter but in host names and addresses (past `MAX_FOLDS` of those, nothing more)."""
    folded = text.translate(_FOLD_LOOKALIKES)
    pieces: list[str] = []
    at = 0
    for kept, m in enumerate(_HOSTISH.finditer(text) if _HOST_SCREEN.search(text) else ()):
        if kept == MAX_FOLDS:
            folded = folded[:m.start()] + text[m.start():]
            break
        pieces += (folded[at:m.start()], m.group())
        at = m.end()
    if pieces:
        folded = "".join(pieces) + folded[at:]
    first = _COUNTED.search(text)
    return (folded, len(_COUNTED.findall(text)), len(_COUNTED_MIXED.findall(text)),
            first.group().translate(_FOLD_LOOKALIKES) if first else "")


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
