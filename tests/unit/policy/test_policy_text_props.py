"""Properties of the text normalisation that phrase matching relies on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.text import compile_phrases, one_line, words, words_utf8

PHRASE = compile_phrases(["long-term partnership"])


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_words_is_single_spaced_and_total(text: str) -> None:
    out = words(text)
    assert "  " not in out and out == out.strip()
    assert words_utf8(text).decode("utf-8") == out


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_phrase_found_between_separators(before: str, after: str) -> None:
    text = before + "\n Long-Term\r\n   PARTNERSHIP \n" + after
    assert PHRASE.search(words_utf8(text)) is not None


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_one_line_is_one_printable_line(text: str) -> None:
    out = one_line(text)
    assert len(out) <= 80 and out.isprintable() and "\n" not in out
