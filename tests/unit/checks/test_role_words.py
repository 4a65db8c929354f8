"""claims._WholeWords: the role words' and the organisation words' alternations behind a quick no
for ASCII text. They must give exactly what the alternations give (the same match, or none) on
any text, ASCII or not."""

from __future__ import annotations

import random
import re

from gateway.checks import claims

RAW = re.compile(r"(?<![\w-])(" + claims._ROLE_ALTERNATION + r")(?![\w-])", re.I)


def _same(text: str) -> None:
    got, want = claims._ROLE_RE.search(text), RAW.search(text)
    assert (got and (got.span(), got.group(1))) == (want and (want.span(), want.group(1))), text


def test_words_as_people_write_them() -> None:
    for text in ("Senior Research Fellow, Institute of X", "HEAD OF Partnerships", "co-founder & CEO",
                 "Co-Founder", "the editor-in-chief", "Managing-Director", "directors' meeting", "Dean's list",
                 "Chief of Staff | Office of Y", "attaché de presse", "Attache culturel", "Корреспондент ТАСС",
                 "김지훈 기자", "redirector", "x_editor", "editor_x", "editor.", "-editor", "", "   "):
        _same(text)
    assert claims._ROLE_RE.search("Senior Research Fellow, Institute of X") is not None
    assert claims._ROLE_RE.search("redirector and x_editor") is None


def test_same_answers_as_the_alternation_on_random_text() -> None:
    rng = random.Random(5)
    words = sorted(claims._ROLE_OF)
    pieces = [*words, *(w.upper() for w in words[:20]), *(w.title() for w in words[20:40]),
              " ", " ", ",", "-", "_", "x", "s", "'s", ".", "\n", "é", "К", "of ", "the ", "Head", "co"]
    for _ in range(5000):
        _same("".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))))


def test_organisation_words_same_answers_as_every_kind_searched() -> None:
    rng = random.Random(9)
    words = [w for ws in claims.ORG_WORDS.values() for w in ws]
    pieces = [*words, *(w.lower() for w in words[:30]), *(w.upper() for w in words[30:60]),
              " ", " ", ",", "-", "_", "x", "s", "'s", ".", "\n", "é", "ä", "of ", "The ", "Depart", "G2"]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        want = any(r.search(text) for r in claims._ORG_WORD_RE.values())
        assert (claims._ANY_ORG_WORD.search(text) is not None) == want, text
    assert claims._ANY_ORG_WORD.search("Centre for Policy Studies") is not None
    assert claims._ANY_ORG_WORD.search("centre for policy studies") is None  # case-sensitive, as the kinds are


def test_a_word_with_letters_that_fold_to_ascii_still_matches_ascii_text() -> None:
    """Case-insensitive, Python's `re` matches 'ı' and 'İ' to i, 'ſ' to s and the Kelvin sign to k: a word
    written with them ('yardımcı', a Turkish deputy) matches ASCII text, so the quick no must not rule it out."""
    words = ["yardımcı", "İdari", "ſtaff", "\u212aurator", "rédacteur"]
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, words)) + r")(?![\w-])", re.I)
    quick = claims._WholeWords(pattern, words, hyphen=True)
    for text in ("Mehmet, YARDIMCI", "idari isler", "the staff", "Kurator", "redacteur", "a yardimci-x"):
        got, want = quick.search(text), pattern.search(text)
        assert (got and got.span()) == (want and want.span()), text
    assert quick.search("Mehmet, YARDIMCI") is not None
