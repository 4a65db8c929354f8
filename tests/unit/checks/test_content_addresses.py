"""content.addresses_in: the addresses `_ADDRESS.findall` finds, tried only before each '@'."""

from __future__ import annotations

import random
import re

from gateway.checks.content import _ADDRESS, addresses_in


def test_addresses_as_written() -> None:
    text = ("Write to jane.doe+cv@mail.example.co.uk or to @handle, not to a@b, x@@y.org, "
            "a@b@c.example.com, -lead@dots..example.org, é@example.org, and (bob@example.net).")
    assert list(addresses_in(text)) == _ADDRESS.findall(text)
    assert "jane.doe+cv@mail.example.co.uk" in addresses_in(text)


def test_same_matches_as_findall_on_random_text() -> None:
    rng = random.Random(3)
    pieces = ["a", "b", "Z", "9", ".", "-", "_", "%", "+", "@", "@", " ", "\n", "é", ",", "example", ".org",
              "x" * 30, "y" * 70]
    for _ in range(6000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 16)))
        assert list(addresses_in(text)) == _ADDRESS.findall(text), text


def test_a_text_of_ats_tries_each_place_once(monkeypatch) -> None:
    """'a@' repeated: every '@' has a local run behind it and no address; the places tried stay
    one per character (counted through the pattern's match calls), not 64 per '@'."""
    import gateway.checks.content as content

    calls = 0
    real = content._ADDRESS

    class Counting:
        def match(self, text: str, pos: int) -> re.Match[str] | None:
            nonlocal calls
            calls += 1
            return real.match(text, pos)

    text = "a@" * 5000
    monkeypatch.setattr(content, "_ADDRESS", Counting())
    assert list(addresses_in(text)) == []
    assert calls <= len(text)
