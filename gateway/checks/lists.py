"""Reference data the sender and identity checks share: free-mail, disposable, organisations.

Purpose: load the packaged lists under gateway/data/ (plus admin additions named in config) once
per set of paths, and the small domain helpers every check needs: registered domain (Public Suffix
List via the `publicsuffixlist` package when installed), IDN decoding, a confusables skeleton and
edit distance. Lists are data: nothing here scores.

Untrusted input: domain names from strangers' messages (length-capped, IDNA errors tolerated).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from gateway.yamlmarks import load_located, loads_located, read_text_bounded

MAX_DOMAIN = 253
MAX_LIST_FILE = 16 * 1024 * 1024  # admin domain lists (files: regular, bounded)


@dataclass(frozen=True)
class Organisation:
    name: str
    kind: str
    aliases: tuple[str, ...]
    domains: tuple[str, ...]
    protect: bool = True
    common_word: bool = False

    def owns(self, domain: str) -> bool:
        d = domain.lower().rstrip(".")
        return any(d == o or d.endswith("." + o) for o in self.domains)


def _data_text(name: str) -> str:
    return resources.files("gateway").joinpath("data", name).read_text(encoding="utf-8")


def _domain_lines(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        item = line.split("#", 1)[0].strip().lower().rstrip(".")
        if item:
            out.add(item)
    return out


@functools.lru_cache(maxsize=8)
def freemail_domains(extra: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> frozenset[str]:
    found = _domain_lines(_data_text("freemail.txt")) | {d.lower() for d in extra}
    for f in files:
        found |= _domain_lines(read_text_bounded(f, MAX_LIST_FILE, "domain list"))
    return frozenset(found)


@functools.lru_cache(maxsize=8)
def disposable_domains(extra: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> frozenset[str]:
    found = _domain_lines(_data_text("disposable_extra.txt")) | {d.lower() for d in extra}
    try:
        from disposable_email_domains import blocklist  # maintained list, optional dependency
        found |= {d.lower() for d in blocklist}
    except ImportError:
        pass
    for f in files:
        found |= _domain_lines(read_text_bounded(f, MAX_LIST_FILE, "domain list"))
    return frozenset(found)


def _orgs_from(doc: object, where: str) -> list[Organisation]:
    if not isinstance(doc, dict) or not isinstance(doc.get("organisations"), list):
        raise ValueError(f"{where}: expected a mapping with an 'organisations' list; "
                         "see gateway/data/organisations.yml for the format")
    out = []
    for i, item in enumerate(doc["organisations"]):
        if not isinstance(item, dict) or not item.get("name") or not item.get("domains"):
            raise ValueError(f"{where}: organisations[{i}]: needs 'name' and 'domains'; "
                             "write e.g. {name: Acme, aliases: [Acme Corp], domains: [acme.com]}")
        aliases = tuple(str(a) for a in item.get("aliases") or [])
        name = str(item["name"])
        out.append(Organisation(name=name, kind=str(item.get("kind", "other")),
                                aliases=aliases if name in aliases else (name,) + aliases,
                                domains=tuple(str(d).lower() for d in item["domains"]),
                                protect=bool(item.get("protect", True)),
                                common_word=bool(item.get("common_word", False))))
    return out


@functools.lru_cache(maxsize=8)
def organisations(files: tuple[str, ...] = ()) -> tuple[Organisation, ...]:
    orgs = _orgs_from(loads_located(_data_text("organisations.yml"), "gateway/data/organisations.yml").value,
                      "gateway/data/organisations.yml")
    for f in files:  # bounded YAML (gateway.yamlmarks): size, aliases, depth, regular file
        orgs += _orgs_from(load_located(f).value, f)
    return tuple(orgs)


def org_owning(domain: str, orgs: Iterable[Organisation]) -> Organisation | None:
    return next((o for o in orgs if o.owns(domain)), None)


# ------------------------------------------------------------------ domains


@functools.lru_cache(maxsize=1)
def _psl() -> object | None:
    try:
        from publicsuffixlist import PublicSuffixList
    except ImportError:
        return None
    return PublicSuffixList()


_TWO_LEVEL = {"co", "ac", "gov", "org", "net", "com", "edu", "mil", "ne", "or", "go", "nhs", "ltd", "plc"}


@functools.lru_cache(maxsize=4096)
def registered_domain(domain: str) -> str:
    """The registrable domain ('mail.ibm.com' -> 'ibm.com'), lower-case; '' when there is none."""
    d = domain.lower().strip().rstrip(".")[:MAX_DOMAIN]
    if not d or "." not in d:
        return d
    psl = _psl()
    if psl is not None:
        got = psl.privatesuffix(d)  # type: ignore[attr-defined]
        return str(got) if got else d
    labels = d.split(".")
    n = 3 if len(labels) >= 3 and labels[-2] in _TWO_LEVEL and len(labels[-1]) == 2 else 2
    return ".".join(labels[-n:])


def public_suffix(domain: str) -> str:
    reg = registered_domain(domain)
    return reg.split(".", 1)[1] if "." in reg else ""


def to_unicode(domain: str) -> str:
    """IDN A-label -> U-label per label; undecodable labels are kept as they are."""
    out = []
    for label in domain.lower().split("."):
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


def skeleton(text: str) -> str:
    """A comparison form: NFKC, confusables folded to Latin, multi-letter lookalikes folded."""
    t = unicodedata.normalize("NFKC", text.lower())
    t = "".join(CONFUSABLES.get(ch, ch) for ch in t)
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
    """Damerau-Levenshtein (adjacent transposition) distance, stopping early above `cap`."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > cap:
            return cap + 1
        prev2, prev = prev, cur
    return prev[-1]


_WORD = re.compile(r"[a-z0-9]+")


def name_tokens(text: str) -> list[str]:
    return _WORD.findall(skeleton(text))
