"""gateway.domains.edit_distance (RapidFuzz OSA) against the textbook dynamic programme."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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
