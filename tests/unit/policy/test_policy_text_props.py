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


def _one_line_every_char(value: object, cap: int = 80) -> str:
    """`one_line` as it was: every character's category looked up, ASCII text too."""
    import unicodedata

    from gateway.policy.text import _UNPRINTABLE

    text = _UNPRINTABLE.sub(" ", str(value)).strip()
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    if len(text) > cap:
        text = text[: cap - 1].rstrip() + "\u2026"
    return text


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=st.characters(max_codepoint=0x7F)),
                 st.text(alphabet=st.characters(max_codepoint=0xFF))), st.sampled_from([1, 5, 80, 240]))
def test_one_line_as_before_on_ascii_and_other_text(text: str, cap: int) -> None:
    assert one_line(text, cap) == _one_line_every_char(text, cap)
