"""Mechanical corrections 3 and 4 of the evaluation set (see ../README.md).

Applied to both splits by one script, printing only counts, so that nobody reads
a sealed file.  Run from tests/evalset/:  python tools/correct_artefacts.py

3. ``<label>-example.<tld>`` left after a dot (``lists.acl-example.org``): the
   first correction rewrote only names that started with the invented label.
   Rewritten to ``<label>.<tld>`` in the legitimate half and the sent mail.
4. ``dmarc=none (p=NONE dis=NONE)`` appears only in the approach half; every
   legitimate message reads ``dmarc=pass``.  Rewritten to a DKIM- and
   DMARC-passing result for the From domain, as correction 2 did for DKIM: the
   conservative direction (it removes a difference, it never adds a cue).
5. The same ``<label>-example.<tld>`` split by a quoted-printable soft line break
   (``oecd-=\nexample.org``, ``bccs-ex=\nample.de``): correction 3 read the raw
   bytes, so the decoded text kept the invented label and looked like a
   look-alike of the real organisation's domain.  Rewritten the same way in the
   legitimate half and the sent mail, keeping the soft breaks (the lines stay
   as short as they were).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# after a dot, a slash or an at sign: "lists.acl-example.org" -> "lists.acl.org"
DOTTED = re.compile(rb"(?<=[./@])([a-z0-9][a-z0-9-]*?)-example\.", re.IGNORECASE)
ANY = re.compile(rb"[a-z0-9]-example\.", re.IGNORECASE)
# correction 5: "-example." with quoted-printable soft breaks ("=\n") anywhere inside it
_SOFT = rb"(?:=\r?\n)?"
SOFT_DOTTED = re.compile(
    rb"(?<=[./@])(" + _SOFT + rb"[a-z0-9](?:[a-z0-9-]|=\r?\n)*?)(-"
    + b"".join(_SOFT + bytes([c]) for c in b"example") + _SOFT + rb"\.)",
    re.IGNORECASE,
)
SOFT_BREAK = re.compile(rb"=\r?\n")
DMARC_NONE = re.compile(rb"dmarc=none \(p=NONE dis=NONE\) header\.from=([A-Za-z0-9.-]+)")
DKIM_NONE = re.compile(rb"dkim=none;")


def _keep_soft_breaks(m: re.Match[bytes]) -> bytes:
    return m.group(1) + b"".join(SOFT_BREAK.findall(m.group(2))) + b"."


def fix_domains(data: bytes) -> bytes:
    return SOFT_DOTTED.sub(_keep_soft_breaks, DOTTED.sub(rb"\1.", data))


def fix_dmarc(data: bytes) -> bytes:
    m = DMARC_NONE.search(data)
    if m is None:
        return data
    domain = m.group(1)
    data = DMARC_NONE.sub(rb"dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=" + domain, data, count=1)
    return DKIM_NONE.sub(b"dkim=pass header.d=" + domain + b";", data, count=1)


def main() -> int:
    counts: dict[str, int] = {}
    for half, fixer, name in (
        ("legit", fix_domains, "domains"),
        ("approach", fix_dmarc, "dmarc"),
    ):
        for split in ("train", "sealed"):
            n = 0
            for path in sorted((HERE / half / split).rglob("*.eml")):
                data = path.read_bytes()
                new = fixer(data)
                if new != data:
                    path.write_bytes(new)
                    n += 1
            counts[f"{name} {half}/{split}"] = n
    sent = HERE / "history" / "sent.mbox"
    data = sent.read_bytes()
    new = fix_domains(data)
    counts["domains history/sent.mbox (occurrences)"] = len(DOTTED.findall(data)) + len(SOFT_DOTTED.findall(data))
    sent.write_bytes(new)
    for split in ("train", "sealed"):
        left = sum(1 for p in (HERE / "legit" / split).rglob("*.eml") if ANY.search(p.read_bytes()))
        counts[f"left with -example. legit/{split}"] = left
        left = sum(1 for p in (HERE / "legit" / split).rglob("*.eml") if SOFT_DOTTED.search(p.read_bytes()))
        counts[f"left with -example. across a soft line break legit/{split}"] = left
        left = sum(1 for p in (HERE / "approach" / split).rglob("*.eml") if ANY.search(p.read_bytes()))
        counts[f"with -example. approach/{split} (not changed)"] = left
        left = sum(1 for p in (HERE / "approach" / split).rglob("*.eml") if b"dmarc=none" in p.read_bytes())
        counts[f"left with dmarc=none approach/{split}"] = left
        left = sum(1 for p in (HERE / "legit" / split).rglob("*.eml") if b"dmarc=none" in p.read_bytes())
        counts[f"with dmarc=none legit/{split}"] = left
    for key, value in counts.items():
        print(f"{value:5d}  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
