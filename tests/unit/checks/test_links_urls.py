"""`urls_in` finds URLs in text faster than `_URL.finditer` and must find exactly what it finds."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks.links import _URL, MAX_TEXT, urls_in
from gateway.parse import MessageView

HAM = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "ham" / "spamassassin"


def spans(matches: Iterable[re.Match[str]]) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(1)) for m in matches]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(["http://", "HTTPS://", "hTtP://", "http", "https:/", "x.org", "a", "_", ".", ":80",
                                 "/p?q=1", " ", "\n", "İ", "ı", "é", "<", "\"", "://", "h", "ttp://",
                                 "www.", "WwW.", "ww", "w.", "@", "/", "-", "%", "%d0", "%B", "%2e",
                                 "\u3002", "\uff0e", "\uff61"]), max_size=20)
       .map("".join))
def test_the_same_matches_as_finditer(text: str) -> None:
    assert spans(urls_in(text)) == spans(_URL.finditer(text))


def test_the_same_matches_on_real_mail() -> None:
    found = 0
    for f in sorted(p for p in HAM.glob("*/*") if p.is_file())[:400]:
        text = MessageView.parse(f.read_bytes()).body_text[:MAX_TEXT]
        want = spans(_URL.finditer(text))
        assert spans(urls_in(text)) == want, f
        found += len(want)
    assert found > 100 or not HAM.is_dir()


def test_the_pattern_is_tried_once_per_start(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Work bound: one `_URL.match` for each "http" or "www." of the text (finds move forward only)."""
    from gateway.checks import links
    tried: list[int] = []

    class Counting:
        def match(self, text: str, at: int) -> re.Match[str] | None:
            tried.append(at)
            return _URL.match(text, at)

    monkeypatch.setattr(links, "_URL", Counting())
    text = "xwww.a.test http:x " * 2000 + "www.b.test/www.c.test http://d.test/http"
    assert [m.group(1) for m in urls_in(text)] == ["www.b.test", "d.test"]
    assert len(tried) == 2 * 2000 + 2 and tried == sorted(set(tried))
