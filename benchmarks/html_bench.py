"""HTML-to-text CPU on pathological inputs: gateway.html_text (linear) beside the stdlib
html.parser extraction it replaced (quadratic on several of them).

    python benchmarks/html_bench.py                 # 20/40/80/160 KB, both extractors
    python benchmarks/html_bench.py --sizes 20,80 --no-stdlib

Prints CPU seconds (time.process_time) per input and size, and the growth from the smallest to
the largest size: about 8x for 20 -> 160 KB is linear, about 64x quadratic. The stdlib column
stops for an input once one size takes longer than --cap seconds (default 60). Never a test:
tests assert operation counts (tests/unit/test_html_text.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.html_text import html_scan


def _lines(text: str, width: int = 900) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def _repeat(unit: str, size: int) -> str:
    return _lines((unit * (size // len(unit) + 1))[:size])


def _nested(size: int) -> str:
    depth = size // 11
    return ("<div><span>" * depth)[:size]


INPUTS: dict[str, Callable[[int], str]] = {
    "<a x= (the report)": lambda n: _repeat("<a x=", n),
    "<!-- unterminated": lambda n: "<!--" + _repeat("a -- b ", n - 4),
    "<![CDATA[ repeated": lambda n: _repeat("<![CDATA[x", n),
    "many <": lambda n: _repeat("<", n),
    "<a <b <c (tags never closed)": lambda n: _repeat("<a ", n),
    "deeply nested tags": _nested,
    "attribute soup": lambda n: "<a " + _repeat('x="1" y=\'2\' z=3 ', n - 3),
    "&# flood": lambda n: _repeat("&#", n),
    "&#999... long number": lambda n: "&#" + "9" * (n - 2),
    "</ script-like end tags": lambda n: "<script>" + _repeat("</scrip", n - 8),
    # attack23 H1: the CSS read for bidi (comments, escapes, style-block rules, inherited direction)
    "styled spans (CSS read)": lambda n: _repeat('<span style="color:#333;direction:ltr;font-size:14px">w</span> ', n),
    "CSS escapes and comments": lambda n: _repeat('<b style="c\\6f lor:red/* x */;direction:r\\74 l">w</b>', n),
    "style block of rules": lambda n: "<style>" + _repeat(".c{direction:rtl}", n // 2) + "</style>"
                                      + _repeat('<i class="c">w</i>', n // 2),
    "/* in a style block": lambda n: "<style>" + _repeat("/*{", n - 7),
    # review26 #8: salting inside wrappers that may hide but show is read by a second scan
    "salted wrappers (two scans)": lambda n: _repeat('<span style="width:0">w<b style="font-size:0">x</b>w</span> ', n),
    # review28: print blocks found by the sheet's structure (strings, escapes, comments); junk between words
    "print blocks and strings": lambda n: "<style>" + _repeat("@media print{a::after{content:'{/*'}}.x\\7b{}", n // 2)
                                          + "</style>" + _repeat("w ", n // 2),
    "junk between words": lambda n: "<style>.h{display:none}</style>" + _repeat('on <i class="h">zq</i> w ', n),
    # review28e #2, review29: the blocks HTML ends (scope, implied ends, stale end tags) and lines that may split a
    # word (a box shown in the line: the second reading compared)
    "block ends (HTML's tree)": lambda n: _repeat("<li><div>w</div>x</li></div></p><table><tr><td>y</td></table>z ",
                                                  n),
    "inline-block ends": lambda n: _repeat("<div style='display:inline-block'>w</div>x&#x2066; ", n),
}


class _OldHtmlText(HTMLParser):
    """The extractor gateway/parse.py used before (stdlib html.parser)."""

    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def old(markup: str) -> None:
    p = _OldHtmlText()
    try:
        p.feed(markup)
        p.close()
    except Exception:  # noqa: BLE001 - as the old code did
        pass


def new(markup: str) -> None:
    html_scan(markup, limit=len(markup))


def cpu(fn: Callable[[str], None], markup: str) -> float:
    start = time.process_time()
    fn(markup)
    return time.process_time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20,40,80,160", help="KB, comma-separated")
    ap.add_argument("--no-stdlib", action="store_true", help="skip the old html.parser column")
    ap.add_argument("--cap", type=float, default=60.0, help="stop the old column past this many s")
    args = ap.parse_args()
    sizes = [int(s) * 1000 for s in args.sizes.split(",")]
    head = "".join(f"{s // 1000:>8} KB" for s in sizes)
    print(f"{'input':32} {'parser':8}{head}   growth")
    for name, make in INPUTS.items():
        texts = [make(s) for s in sizes]
        for label, fn in (("before", old), ("after", new)):
            if label == "before" and args.no_stdlib:
                continue
            row, cells = [], ""
            for t in texts:
                if label == "before" and row and row[-1] > args.cap:
                    cells += f"{'-':>11}"
                    continue
                row.append(cpu(fn, t))
                cells += f"{row[-1]:>10.3f}s"
            growth = f"{row[-1] / row[0]:6.1f}x" if len(row) == len(sizes) and row[0] > 0 else "    -"
            print(f"{name:32} {label:8}{cells}   {growth}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
