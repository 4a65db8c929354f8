"""Outsider text read in one pass where a backtracking pattern had read it in quadratic time (regex32).

Each function below replaced a Python `re` pattern that an outside review measured at 0.4-49 s of CPU on a message
under 256 KiB (analysed on the event loop, where a pattern running in C cannot be interrupted). Each must answer
exactly what the pattern answered: compared on random texts built from the characters the pattern cares about.
What they cost is measured by benchmarks/attack_bench.py's hostile messages, not asserted here.
"""

from __future__ import annotations

import random
import re

from gateway import mimewalk
from gateway.authres import _pairs, _split_outside_quotes, _unquote
from gateway.checks.content import _PHONE, _offset_minutes, _phones
from gateway.parse import _without_marks


def _texts(seed: int, pieces: list[str], longest: int, n: int = 40_000) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, longest))) for _ in range(n)]


def test_a_mime_fields_comments_and_quoted_strings_are_read_as_the_pattern_read_them() -> None:
    """regex32 #1: 100 KB of `\\(` in a Content-Transfer-Encoding field cost 49 s."""
    pattern = re.compile(r'("(?:[^"\\]|\\.)*"?)|\((?:[^()\\]|\\.)*\)', re.S)

    def before(m: re.Match[str]) -> str:
        quoted = m.group(1)
        if quoted is None:
            return m.group(0) if mimewalk._in_a_value(m.string, m.start()) else " "
        return mimewalk._QUOTED_PAIR.sub(mimewalk._pair, quoted) if "\\" in quoted else quoted

    changed = 0
    for text in _texts(1, ["a", "b", '"', "(", ")", "\\", " ", "=", ";", "\n"], 24):
        assert mimewalk._clean_pass(text) == pattern.sub(before, text), text
        changed += mimewalk._clean_pass(text) != text
    assert changed > 10_000
    assert mimewalk.clean_field("base64 (a \\) b) (c") == "base64   (c"
    assert mimewalk.clean_field("7bit" + " (\\(" * 20_000) == "7bit" + " (\\(" * 20_000  # (no comment ends)


def test_a_words_marks_are_taken_off_as_the_pattern_took_them() -> None:
    """regex32 #2: a word of 8,000 "!" between two letters cost 0.8 s."""
    pattern = re.compile(r"^[\W_]+|[\W_]+$")
    for word in _texts(2, ["a", "b", "_", "!", "-", ".", "\u00e9", "\u0663", "\n", "|"], 12):
        assert _without_marks(word) == pattern.sub("", word), word
    assert _without_marks("a" + "!" * 50_000 + "b") == "a" + "!" * 50_000 + "b"


def test_authentication_results_pairs_are_read_as_the_pattern_read_them() -> None:
    """regex32 #3: 16,000 blanks in an Authentication-Results field cost 0.5 s (a run of n blanks: n^2)."""
    def before(resinfo: str) -> list[tuple[str, str]]:  # (authres._pairs as it was)
        text = re.sub(r"\s*=\s*", "=", resinfo.strip())
        return [(k.strip().lower(), _unquote(v)) for k, _, v in
                (w.partition("=") for w in _split_outside_quotes(text, " ") if "=" in w)]

    for text in _texts(3, ["a", "b", "=", " ", "\t", "\u00a0", "\n", "x=y", '"', "\\"], 16):
        assert _pairs(text) == before(text), text
    assert _pairs("spf=pass" + " " * 30_000 + "x") == [("spf", "pass")]


def test_a_dates_zone_offset_is_found_as_the_pattern_found_it() -> None:
    """regex32 #4: a 97 KB Date of "+0000 (" cost 0.75 s (for a location claim's check)."""
    pattern = re.compile(r"([+-])(\d{2})(\d{2})\s*(?:\(.*\))?\s*$")

    def before(value: str) -> int | None:
        m = pattern.search(value)
        if not m:
            return None
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        return -minutes if m.group(1) == "-" else minutes

    found = 0
    for text in _texts(4, ["+0100", "-0530", "+", "-", "0", "1", " ", "(", ")", "(CET)", "\n", "C", "\t", "\u0663"],
                       12):
        assert _offset_minutes(text) == before(text), text
        found += before(text) is not None
    assert found > 1_000
    assert _offset_minutes("Tue, 3 Mar 2026 09:00:00 +0100 (CET)\n") == 60
    assert _offset_minutes("+0000 (" * 20_000) is None


def test_phone_numbers_are_found_as_the_pattern_found_them() -> None:
    """regex32 #5: 60 KB of "+" and 19 digits cost 0.24 s (some 1,400 splits tried per number)."""
    found = 0
    for text in _texts(5, ["+", "00", "0", "1", "4", "7", " ", ".", "-", "(", ")", "x", "\u0663", "_"], 40):
        expected = [re.sub(r"[\s().-]", "", m.group(0)) for m in _PHONE.finditer(text)]
        assert _phones(text) == expected, text
        found += bool(expected)
    assert found > 500
    assert _phones("call +44 (0)7700 900123, or 0049 30 1234 5678.") == ["+4407700900123", "00493012345678"]
    assert _phones("+1111111111111111111x " * 3_000) == []


def test_a_sign_off_line_is_found_as_the_pattern_found_it() -> None:
    """review32b #5: a line of 30,000 blanks cost 49 s (`^[ \\t]*(...)?[ \\t]*` split it n^2 ways)."""
    from gateway.checks.identity import _SIGN_OFF
    pattern = re.compile(r"^[ \t]*(?:best|kind|warm|with best)?[ \t]*(?:regards|wishes|best|thanks|thank you|cheers|"
                         r"sincerely|yours)[ ,.!\w]{0,20}$|^--[ \t]*$", re.I | re.M)
    found = 0
    for text in _texts(6, [" ", "\t", "\n", "best", "kind", "regards", "with best", "thanks", "--", ",", "x"], 10):
        expected = [m.span() for m in pattern.finditer(text)]
        assert [m.span() for m in _SIGN_OFF.finditer(text)] == expected, text
        found += bool(expected)
    assert found > 1_000


def test_an_outlook_quote_marks_author_is_read_from_300_characters_at_most() -> None:
    """sweep33 #1: "From: " and 39,000 "<" above "Sent:" cost 3.3 s (`_quotes_our_side` removes `<[^>]*>`, each "<"
    read to the line's end). The From line is now read as `_FROM_LINE` reads one after another rule: up to 300
    characters after its blanks, else no author (so nothing is cut as our side's). Below that, as before."""
    from gateway.checks.claims import _QUOTE_MARK, MAX_AUTHOR, _quoted_author
    rnd = random.Random(33)
    for n in [0, 1, 5, MAX_AUTHOR - 1, MAX_AUTHOR, MAX_AUTHOR + 1, 39_000]:
        who = " " + ("".join(rnd.choice("<>[mailto:] ab@x.org") for _ in range(n)).strip() or "x")
        text = f"Thanks.\n\nFrom:{who}\nSent: Monday\nTo: Anna\n"
        mark = _QUOTE_MARK.search(text)
        assert mark is not None and mark.group(0).startswith("From:")
        author = _quoted_author(text, mark)
        assert author == (who if len(who.lstrip()) <= MAX_AUTHOR else ""), n
    long_line = "Thanks.\n\nFrom: " + "<" * 39_000 + "\nSent: Monday\n"
    assert _quoted_author(long_line, _QUOTE_MARK.search(long_line)) == ""
