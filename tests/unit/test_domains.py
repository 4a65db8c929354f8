"""gateway.domains.edit_distance (RapidFuzz OSA) against the textbook dynamic programme."""

from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import textsafe
from gateway.domains import edit_distance


def reference(a: str, b: str) -> int:
    """Optimal string alignment distance (Damerau-Levenshtein, adjacent transpositions), O(n*m)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


@settings(max_examples=400, deadline=None)
@given(st.text("abcdeо0l1", max_size=12), st.text("abcdeо0l1", max_size=12), st.integers(0, 3))
def test_edit_distance_is_osa_capped(a: str, b: str, cap: int) -> None:
    assert edit_distance(a, b, cap) == min(reference(a, b), cap + 1)


def test_edit_distance_examples() -> None:
    assert edit_distance("chathamhouse", "chatahmhouse", 2) == 1  # one transposition
    assert edit_distance("rusi", "rusi") == 0
    assert edit_distance("google", "gooogle", 1) == 1
    assert edit_distance("google", "example", 2) == 3  # above the cap: cap + 1


def test_the_comparison_form_hands_normalising_no_long_run_of_marks(monkeypatch: Any) -> None:
    """cpu44 #1: `skeleton` (display names, the From and every recipient's, compared for a reply's quote marks)
    handed NFKC a stranger's run of combining marks, which it sorts by insertion: 1.4-2.4 s a message. A run is cut
    to STREAM_SAFE marks first (UAX #15's stream-safe bound); names without such a run read as before."""
    from gateway import domains
    real = unicodedata.normalize
    given_runs: list[int] = []

    def spy(form: Any, text: str) -> str:
        run = longest = 0
        for c in text:
            run = run + 1 if unicodedata.combining(c) else 0
            longest = max(longest, run)
        given_runs.append(longest)
        return real(form, text)

    names = ["Zoe\u0308 A\u030angstro\u0308m", "\uff26\uff55\uff4c\uff4c Width", "J\u00f6rg M\u00fcller",
             "\u0130lknur \u015eahin", "Bob \u0430dmin", "x\u0301\u0302\u0303 y"]
    before = [real("NFKC", n.lower()).translate(domains._FOLD) for n in names]  # (no multi-letter look-alikes here)
    monkeypatch.setattr(unicodedata, "normalize", spy)
    assert [domains.skeleton(n) for n in names] == before
    hostile = "a" + "".join(chr(c) for c in (0x1D16D, 0x0345, 0x0301, 0x0327, 0x05B0)) * 400
    assert domains.skeleton(hostile).startswith("a")
    assert max(given_runs) <= textsafe.STREAM_SAFE
