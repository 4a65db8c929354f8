"""CPU of reading a stranger's text as a reader sees it (gateway/parse.py `Disguises.read`, what the
message view does to each text part: gateway/textsafe.py `visible_text` with bidi overrides in
display order, then `read_lookalikes`, within the message's budgets) beside dropping the invisible
characters only (the view's reading before attack21 findings 5/6: the baseline), on 1 MB texts.

    python benchmarks/disguise_bench.py            # 1 MB each, best of 5
    python benchmarks/disguise_bench.py --mb 0.25 --repeat 3

Prints milliseconds (time.process_time, best of --repeat) per text: the baseline (visible_text
with bidi="drop"), the new reading (Disguises().read: one message's budgets), and what the new
reading found (look-alike words read, words split by a narrow space joined). Never a test: tests
assert behaviour (tests/unit/test_textsafe.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.parse import Disguises
from gateway.textsafe import visible_text

ENGLISH = ("I am a correspondent for the Financial Chronicle working on a feature about the next round of "
           "defence procurement. Could we continue this conversation on WhatsApp? ")
RUSSIAN = ("\u042f \u043a\u043e\u0440\u0440\u0435\u0441\u043f\u043e\u043d\u0434\u0435\u043d\u0442 "
           "\u0433\u0430\u0437\u0435\u0442\u044b \u0438 \u043f\u0438\u0448\u0443 \u043e "
           "\u0437\u0430\u043a\u0443\u043f\u043a\u0430\u0445 \u043e\u0431\u043e\u0440\u043e\u043d\u044b. ")
# fix25look: ayb, seh, vo, ho and yiwn are look-alikes (textsafe.LOOKALIKES), and most Cherokee letters
ARMENIAN = ("\u0535\u057d \u0578\u0582\u057d\u0561\u0576\u0578\u0572 \u0565\u0574 "
            "\u0535\u0580\u0587\u0561\u0576\u056b \u057a\u0565\u057f\u0561\u056f\u0561\u0576 "
            "\u0570\u0561\u0574\u0561\u056c\u057d\u0561\u0580\u0561\u0576\u0578\u0582\u0574\u0589 ")
CHEROKEE = "\u13e3\u13b3\u13a9 \u13a6\u13ec\u13c2\u13af\u13cd\u13d7: \u13cc\u13ca, \u13d4\u13b5, \u13e6\u13a2. "
CYR = str.maketrans("aeopcxi", "\u0430\u0435\u043e\u0440\u0441\u0445\u0456")
CIRCLED = str.maketrans("aeo", "\u24d0\u24d4\u24de")


def _fill(unit: str, size: int, width: int = 76) -> str:
    text = (unit * (size // len(unit) + 1))[:size]
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def _bidi(text: str) -> str:
    return " ".join("\u202e" + w[::-1] + "\u202c" for w in text.split(" "))


INPUTS: dict[str, Callable[[int], str]] = {
    "english": lambda n: _fill(ENGLISH, n),
    "english-cyrillic-all": lambda n: _fill(ENGLISH.translate(CYR), n),
    "english-cyrillic-1-line": lambda n: _fill(ENGLISH.translate(CYR), n, width=n),
    "russian": lambda n: _fill(RUSSIAN, n),
    "russian+english-cyr": lambda n: _fill(RUSSIAN + ENGLISH.translate(CYR), n),
    "armenian": lambda n: _fill(ARMENIAN, n),
    "armenian+english": lambda n: _fill(ARMENIAN * 3 + ENGLISH, n),
    "cherokee": lambda n: _fill(CHEROKEE, n),
    "short-lines-lookalike": lambda n: "\n".join(["\u0430b"] * (n // 3)),
    "bidi-all-words": lambda n: _fill(_bidi(ENGLISH), n),
    # attack22 #1: a long line without an override before one with (O(L^2) before the fix)
    "bidi-after-long-line": lambda n: "Hello " * (n // 6) + "\n\u202eppastahW\u202c\n",
    # attack22 #2: a long line without a look-alike, a run of letters with combining marks, a run of
    # look-alikes, each before a line with another script's letter (O(L^2) before the fix)
    "lookalike-after-long-line": lambda n: "x" * n + "\n\u0434\u0430\n",
    "marks-run": lambda n: "ab\u0301" * (n // 3) + " \u0434\n\u0430b\n",
    "lookalike-run": lambda n: "\u0430" * n + " \u0434",
    "bidi-nested": lambda n: _fill("\u202b\u202e" + ENGLISH[:60] + "\u202d ab \u202c\u202c\u202c ", n),
    # attack23 N1/N2: circled look-alikes; every word split by a hair space; narrow spaces beside digits only
    "english-circled-all": lambda n: _fill(ENGLISH.translate(CIRCLED), n),
    "hair-space-splits": lambda n: _fill(" ".join(w[:2] + "\u200a" + w[2:] for w in ENGLISH.split(" ")), n),
    "narrow-spaces-digits": lambda n: _fill("Le prix est de 1\u202f000\u202fEUR\u202f! ", n),
}


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    size = int(args.mb * 1_000_000)
    print(f"{'input':26} {'chars':>9} {'drop ms':>9} {'read ms':>9} {'words read':>11}")
    for name, make in INPUTS.items():
        text = make(size)
        base = _best(lambda t=text: visible_text(t, bidi="drop"), args.repeat)  # type: ignore[misc]
        new = _best(lambda t=text: Disguises().read(t), args.repeat)  # type: ignore[misc]
        found = Disguises()
        found.read(text)
        words = found.lookalike_words + found.split_words
        print(f"{name:26} {len(text):9d} {base:9.1f} {new:9.1f} {words:11d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
