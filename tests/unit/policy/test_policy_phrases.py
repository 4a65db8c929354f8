"""Phrase lists: case, accents, line breaks, obfuscation, word boundaries; RE2 only."""

from __future__ import annotations

import pytest

from gateway.policy.text import compile_phrases, one_line, words
from gateway.regex import Regex, RegexError

PHRASES = compile_phrases(["WhatsApp", "long-term partnership", "réunion privée", "WeChat",
                           "istanbul office", "strasse"])


def found(text: str) -> bool:
    return PHRASES.search(words(text).encode()) is not None


@pytest.mark.parametrize("text", [
    "add me on whatsapp", "WHATSAPP?", "W h a t s A p p", "whats-app", "Whats\u200bApp",
    "W.h.a.t.s.A.p.p", "a LONG-TERM\r\n   partnership", "long term partnership",
    "Réunion privée", "REUNION PRIVEE", "reunion\nprivee", "（ＷｅＣｈａｔ）",
    "İSTANBUL OFFICE", "Haupt Straße 5", "STRASSE",
])
def test_phrase_matches(text: str) -> None:
    assert found(text)


@pytest.mark.parametrize("text", [
    "whatsapplication", "swhatsapp", "long-term partner", "reunion", "wechatty", "",
])
def test_phrase_respects_word_boundaries(text: str) -> None:
    assert not found(text)


def test_re2_refuses_backtracking_constructs() -> None:
    for pattern in (r"(a)\1", r"(?=x)y", r"(?<!x)y", r"(?P<n>a)(?P=n)"):
        with pytest.raises(RegexError):
            Regex(pattern)
    assert Regex(r"(?i)\bjob\b").search(b"A JOB here") == "JOB"


def test_one_line_sanitises() -> None:
    assert one_line("a\r\nb\tc\x00d\u202e") == "a b c d"
    assert len(one_line("x" * 500)) == 80
