"""Domain questions, answered in one place: registrable domain, IDN, "is this ours", lookalikes.

Purpose: checks, the store, DMARC and the policy engine all ask the same few questions about
domain names; they ask them here so each has ONE meaning:
- `org_domain` / `registered_domain`: the registrable domain (RFC 7489 section 3.2's
  organisational domain) from the Public Suffix List packaged by `publicsuffixlist` (ICANN and
  private sections, as OpenDMARC uses it; no network at run time);
- `Domains.is_local`: exactly one of `local_domains` (the relay rule: recipients accepted);
- `Domains.is_ours`: one of `local_domains` or a subdomain of one (lists.example.org): mail
  from there is the organisation's own;
- IDN decoding, a confusables skeleton and edit distance for lookalike comparisons.

Untrusted input: domain names from strangers' messages (length-capped, IDNA errors tolerated).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from publicsuffixlist import PublicSuffixList
from rapidfuzz.distance import OSA

from .textsafe import stream_safe

MAX_DOMAIN = 253

__all__ = ["CONFUSABLES", "Domains", "aligned", "edit_distance", "name_tokens", "org_domain", "public_suffix",
           "registered_domain", "scripts_of", "skeleton", "to_unicode"]


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def _clean(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lower().rstrip(".")
    if not name or name.startswith(".") or ".." in name or len(name) > MAX_DOMAIN:
        return None
    return name


@lru_cache(maxsize=8192)
def org_domain(name: str | None) -> str | None:
    """The registrable domain of `name` (public suffix plus one label), or None when `name` is
    itself a public suffix or malformed. Unlisted TLDs follow the default rule `*`."""
    clean = _clean(name)
    if clean is None:
        return None
    result = _psl().privatesuffix(clean)
    return str(result) if result else None


def registered_domain(domain: str) -> str:
    """`org_domain` as a string for comparisons: 'mail.ibm.com' -> 'ibm.com'; a name that has no
    registrable part (a public suffix, a single label) is returned lower-cased as it is."""
    found = org_domain(domain)
    return found if found is not None else domain.lower().strip().rstrip(".")[:MAX_DOMAIN]


def public_suffix(domain: str) -> str:
    """The public suffix of the registrable domain ('ibm.co.uk' -> 'co.uk'), '' when unknown."""
    reg = registered_domain(domain)
    return reg.split(".", 1)[1] if "." in reg else ""


class Domains:
    """The organisation's own domains, and the two questions asked about them."""

    __slots__ = ("local",)

    def __init__(self, local_domains: Iterable[str]) -> None:
        self.local = tuple(d.lower().rstrip(".") for d in local_domains)

    def is_local(self, domain: str) -> bool:
        """Exactly one of `local_domains` (the relay rule: recipients accepted)."""
        d = domain.lower().rstrip(".")
        return d in self.local

    def is_ours(self, domain: str) -> bool:
        """One of `local_domains` or a subdomain of one: the organisation's own."""
        d = domain.lower().rstrip(".")
        return any(d == ld or d.endswith("." + ld) for ld in self.local)

    def is_our_address(self, address: str) -> bool:
        return "@" in address and self.is_ours(address.rsplit("@", 1)[1])


def to_unicode(domain: str) -> str:
    """IDN A-label -> U-label per label; undecodable labels are kept as they are."""
    low = domain.lower()
    if "xn--" not in low:  # no A-label (most names): nothing to decode
        return low
    out = []
    for label in low.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        out.append(label)
    return ".".join(out)


# A small confusables map: characters of other scripts (and digits) that render like Latin
# letters. Derived from Unicode's confusables.txt (UTS #39), reduced to the letters seen in
# domain spoofing. Multi-letter forms ('rn' -> 'm', 'vv' -> 'w') are handled in `skeleton`.
CONFUSABLES: dict[str, str] = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɡ": "g", "ⅼ": "l", "ɩ": "i",
    "α": "a", "ο": "o", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "ρ": "p", "υ": "u", "χ": "x",
    "0": "o", "1": "l", "3": "e", "5": "s", "7": "t", "@": "a", "$": "s", "ı": "i", "ł": "l",
    "ɑ": "a", "ė": "e", "ë": "e", "é": "e", "è": "e", "ö": "o", "ó": "o", "ò": "o", "ô": "o",
    "ü": "u", "ú": "u", "ï": "i", "í": "i", "à": "a", "á": "a", "â": "a", "ä": "a", "ç": "c",
    "ñ": "n", "ş": "s", "ğ": "g", "ý": "y",
}
_MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("ii", "u"))
_FOLD = str.maketrans(CONFUSABLES)  # one `str.translate`: each character mapped as CONFUSABLES maps it


def skeleton(text: str) -> str:
    """A comparison form: NFKC, confusables folded to Latin, multi-letter lookalikes folded."""
    t = text.lower()
    if not t.isascii():  # NFKC leaves ASCII as it is; a run of marks cut to 30 first (UAX #15's stream-safe bound):
        # normalising sorts a run by insertion, and a reply's quote marks compared the From and each recipient's
        # display name (1,024 characters) 60 times a message (once a message since session 45): 1.4-2.4 s of marks
        # in descending class (cpu44 #1)
        t = unicodedata.normalize("NFKC", stream_safe(t))
    t = t.translate(_FOLD)
    for a, b in _MULTI:
        t = t.replace(a, b)
    return t


def scripts_of(text: str) -> set[str]:
    """Unicode scripts (approximated by the first word of the character name) of the letters."""
    out = set()
    for ch in text:
        if ch.isalpha():
            try:
                out.add(unicodedata.name(ch).split(" ", 1)[0])
            except ValueError:
                out.add("UNKNOWN")
    return out


def edit_distance(a: str, b: str, cap: int = 3) -> int:
    """Damerau-Levenshtein distance with adjacent transpositions (optimal string alignment), or
    `cap + 1` when it is above `cap`. RapidFuzz's C++ OSA (about 45x the pure-Python DP this
    replaced, same answers: tests/unit/test_domains.py compares them): the lookalike check runs
    it against every protected domain of similar length for each new sending domain."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    return min(int(OSA.distance(a, b, score_cutoff=cap)), cap + 1)


_WORD = re.compile(r"[a-z0-9]+")


def name_tokens(text: str) -> list[str]:
    return _WORD.findall(skeleton(text))


def aligned(a: str, b: str, mode: str = "r") -> bool:
    """DMARC identifier alignment (RFC 7489 section 3.1): strict ("s") means equal names; relaxed
    ("r") means the same organisational domain."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b:
        return False
    if mode == "s":
        return a == b
    oa = org_domain(a)
    return oa is not None and oa == org_domain(b)
