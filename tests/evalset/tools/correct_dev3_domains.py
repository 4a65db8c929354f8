"""Correction 1 of ../README.md for the development set dev3 (run from tests/evalset/, idempotent):

    python tools/correct_dev3_domains.py legit/dev3

dev3's first batch gave its invented organisations invented domains of the form
`<label>-example.<tld>` (`paysure-example.com`), which the set's earlier halves were corrected away
from (README, "Corrections made after the split"; sealed2 never used them): the gateway protects
`example.org` (the set's own organisation) and rightly reads `-example` inside a stranger's domain as
our name in it (`sender.org_name_in_domain`), so every such message was a look-alike sender. Each
`<label>-example.` becomes `<label>.` everywhere in the file (From, Return-Path, Received,
Message-ID, and Authentication-Results' header.from, smtp.mailfrom and header.d, so the headers
stay consistent with each other). Prints counts only. Only dev3: never run on a sealed split.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

EVERY = re.compile(rb"(?<![a-z0-9-])([a-z0-9][a-z0-9-]*?)-example\.", re.IGNORECASE)
# the same cut by quoted-printable soft line breaks ("northlight-ai-exampl=\nle.com"): keep the breaks
_SOFT = rb"(?:=\r?\n)?"
_EXAMPLE = b"".join(_SOFT + bytes([c]) for c in b"example")
SOFT = re.compile(rb"(?<![a-z0-9-])([a-z0-9][a-z0-9-]*?)(" + _SOFT + b"-" + _EXAMPLE + _SOFT + rb"\.)", re.IGNORECASE)
SOFT_BREAK = re.compile(rb"=\r?\n")
LEFT = re.compile(rb"[a-z0-9]-example\.|-e(?:=\r?\n)?x(?:=\r?\n)?a(?:=\r?\n)?m(?:=\r?\n)?p(?:=\r?\n)?l(?:=\r?\n)?e\.",
                  re.IGNORECASE)


def _keep_soft_breaks(m: re.Match[bytes]) -> bytes:
    return m.group(1) + b"".join(SOFT_BREAK.findall(m.group(2))) + b"."


def main(folder: str) -> int:
    changed = 0
    for path in sorted(Path(folder).rglob("*.eml")):
        data = path.read_bytes()
        new = SOFT.sub(_keep_soft_breaks, EVERY.sub(rb"\1.", data))
        if new != data:
            path.write_bytes(new)
            changed += 1
    left = sum(1 for path in Path(folder).rglob("*.eml") if LEFT.search(path.read_bytes()))
    print(f"{changed} files rewritten; {left} still with -example.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "legit/dev3"))
