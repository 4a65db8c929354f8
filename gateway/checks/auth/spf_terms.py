"""SPF record syntax (RFC 7208 sections 4.6, 5, 6, 7): terms, CIDR lengths, macro strings.

Purpose: parse a whole SPF record before anything is evaluated (a syntax error anywhere is a
`permerror`, section 4.6) and expand macros (section 7) for the evaluator in `spf.py`.

Untrusted input: SPF records from DNS (a stranger's) and the sender address and HELO name that
feed macros. Nothing here does I/O; every failure raises `SpfSyntaxError`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.\-]*)=(.*)$", re.S)
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9_.\-]*)(.*)$", re.S)
_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)(r?)([.\-+,/_=]*)\}", re.I)
_TOPLABEL = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]+$|^[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9]$")
_DOMAIN_CIDR = re.compile(r"^(.*?)((?:/[0-9]+)?(?://[0-9]+)?)$", re.S)
_CIDR4 = re.compile(r"^(0|[1-9][0-9]?)$")
_CIDR6 = re.compile(r"^(0|[1-9][0-9]{0,2})$")
MACRO_LETTERS = set("slodiphv")
# The most characters a macro expansion may read and write (each macro: the value it splits and what it writes): a
# domain is at most 253 after section 7.3's truncation and an explanation one line, but a record an outsider
# publishes for its own domain may repeat a macro of its own MAIL FROM (512 bytes): 2,000 "%{s-}" cost 15 s of the
# event loop in the label-by-label truncation (attack33b #1), 60 KB of "%{s1r-}" 2.2 s in splits (review33b #4).
MAX_EXPANSION = 8_192
EXP_LETTERS = MACRO_LETTERS | set("crt")


class SpfSyntaxError(ValueError):
    """The record (or a macro) is malformed: the result is permerror."""


@dataclass(frozen=True)
class Term:
    """A mechanism (`kind` in MECHANISMS) or a modifier (`kind` is "modifier")."""

    kind: str
    qualifier: str = "pass"
    domain_spec: str = ""  # unexpanded; "" when absent
    cidr4: int = 32
    cidr6: int = 128
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    name: str = ""  # modifier name
    text: str = ""  # the term as written


@dataclass(frozen=True)
class Record:
    mechanisms: tuple[Term, ...]
    redirect: str | None = None
    exp: str | None = None


def is_spf_record(txt: str) -> bool:
    low = txt.lower()
    return low == "v=spf1" or low.startswith("v=spf1 ")


def parse_record(txt: str) -> Record:
    """Parse a complete record; raises SpfSyntaxError on any syntax error (section 4.6)."""
    if not txt.isascii():
        raise SpfSyntaxError("record is not 7-bit ASCII")
    mechanisms: list[Term] = []
    redirect = exp = None
    for word in txt.split(" ")[1:]:
        if not word:
            continue
        mod = _MODIFIER.match(word)
        if mod:
            name, value = mod.group(1).lower(), mod.group(2)
            check_macro_string(value, MACRO_LETTERS)
            if name in ("redirect", "exp"):
                check_domain_spec(value)
                if name == "redirect":
                    if redirect is not None:
                        raise SpfSyntaxError("duplicate redirect modifier")
                    redirect = value
                else:
                    if exp is not None:
                        raise SpfSyntaxError("duplicate exp modifier")
                    exp = value
            continue
        mechanisms.append(_parse_mechanism(word))
    return Record(tuple(mechanisms), redirect, exp)


def _parse_mechanism(word: str) -> Term:
    m = _MECHANISM.match(word)
    if m is None:
        raise SpfSyntaxError(f"unparseable term {word!r}")
    qual, name, rest = m.group(1) or "+", m.group(2).lower(), m.group(3)
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism {name!r}")
    qualifier = QUALIFIERS[qual]
    if name == "all":
        if rest:
            raise SpfSyntaxError(f"'all' takes no arguments: {word!r}")
        return Term("all", qualifier, text=word)
    if name in ("ip4", "ip6"):
        return _parse_ip(name, qualifier, rest, word)
    domain_spec, cidr4, cidr6 = "", 32, 128
    if rest.startswith(":"):
        m2 = _DOMAIN_CIDR.match(rest[1:])
        if m2 is None:  # cannot happen: the pattern matches every string
            raise ValueError(f"unparsable domain-spec/cidr: {rest!r}")
        domain_spec, cidr = m2.group(1), m2.group(2)
        if not domain_spec:
            raise SpfSyntaxError(f"empty domain-spec in {word!r}")
    elif rest.startswith("/"):
        cidr = rest
    elif rest:
        raise SpfSyntaxError(f"garbage after mechanism {word!r}")
    else:
        cidr = ""
    if cidr:
        if name not in ("a", "mx"):
            raise SpfSyntaxError(f"CIDR length not allowed on {name!r}")
        cidr4, cidr6 = _dual_cidr(cidr, word)
    if name in ("include", "exists") and not domain_spec:
        raise SpfSyntaxError(f"{name} needs a domain-spec")
    if domain_spec:
        check_macro_string(domain_spec, MACRO_LETTERS)
        check_domain_spec(domain_spec)
    return Term(name, qualifier, domain_spec, cidr4, cidr6, text=word)


def _dual_cidr(cidr: str, word: str) -> tuple[int, int]:
    # "/n", "//m" or "/n//m"
    m = re.fullmatch(r"(?:/([0-9]+))?(?://([0-9]+))?", cidr)
    if m is None or (m.group(1) is None and m.group(2) is None):
        raise SpfSyntaxError(f"bad CIDR length in {word!r}")
    c4, c6 = 32, 128
    if m.group(1) is not None:
        if not _CIDR4.match(m.group(1)) or int(m.group(1)) > 32:
            raise SpfSyntaxError(f"bad IPv4 CIDR length in {word!r}")
        c4 = int(m.group(1))
    if m.group(2) is not None:
        if not _CIDR6.match(m.group(2)) or int(m.group(2)) > 128:
            raise SpfSyntaxError(f"bad IPv6 CIDR length in {word!r}")
        c6 = int(m.group(2))
    return c4, c6


def _parse_ip(name: str, qualifier: str, rest: str, word: str) -> Term:
    if not rest.startswith(":") or len(rest) < 2:
        raise SpfSyntaxError(f"{name} needs an address: {word!r}")
    addr, sep, length = rest[1:].partition("/")
    maxlen, pattern = (32, _CIDR4) if name == "ip4" else (128, _CIDR6)
    if sep and (not pattern.match(length) or int(length) > maxlen):
        raise SpfSyntaxError(f"bad CIDR length in {word!r}")
    try:
        ip = ipaddress.IPv4Address(addr) if name == "ip4" else ipaddress.IPv6Address(addr)
    except ValueError:
        raise SpfSyntaxError(f"bad address in {word!r}") from None
    net = ipaddress.ip_network(f"{ip}/{length if sep else maxlen}", strict=False)
    return Term(name, qualifier, network=net, text=word)


def check_macro_string(value: str, letters: set[str]) -> None:
    """Raise SpfSyntaxError unless every '%' starts a valid macro (section 7.1)."""
    i = 0
    while i < len(value):
        if value[i] != "%":
            if not (0x21 <= ord(value[i]) <= 0x7E) and value[i] != " ":
                raise SpfSyntaxError(f"invalid character in {value!r}")
            i += 1
            continue
        nxt = value[i + 1:i + 2]
        if nxt in ("%", "_", "-"):
            i += 2
            continue
        m = _MACRO.match(value, i)
        if m is None or m.group(1).lower() not in letters:
            raise SpfSyntaxError(f"invalid macro in {value!r}")
        if m.group(2) and label_count(m.group(2)) == 0:
            raise SpfSyntaxError(f"zero label count in {value!r}")
        i = m.end()


def label_count(digits: str) -> int:
    """A macro's label count (section 7.1 `transformers`: any number of digits). Past six digits it keeps every
    label as the number would (no value has a million labels): int() of 4,301 digits raises (attack33b #4)."""
    digits = digits.lstrip("0")
    if not digits:
        return 0
    return int(digits) if len(digits) <= 6 else 1_000_000


def check_domain_spec(spec: str) -> None:
    """A domain-spec ends in a macro or a valid top label (section 7.1 `domain-end`)."""
    if spec.endswith("}"):
        return
    labels = spec.rstrip(".").rsplit(".", 1)
    if len(labels) < 2 or spec.endswith("..") or not _TOPLABEL.match(labels[-1]):
        raise SpfSyntaxError(f"invalid domain-spec {spec!r}")


@dataclass(frozen=True)
class MacroVars:
    sender: str
    local: str
    domain_of_sender: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str
    receiver: str = "unknown"
    timestamp: int = 0


def ip_macro(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def expand(value: str, v: MacroVars, domain: str, validated: str | None = None,
           letters: set[str] = MACRO_LETTERS) -> str:
    """Expand macros in `value` for current domain `domain`; `validated` is the %{p} value."""
    check_macro_string(value, letters)
    out: list[str] = []
    size = 0
    i = 0
    while i < len(value):
        if size > MAX_EXPANSION:
            raise SpfSyntaxError(f"macro expansion longer than {MAX_EXPANSION} characters")
        ch = value[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt in "%_-":
            out.append({"%": "%", "_": " ", "-": "%20"}[nxt])
            i += 2
            continue
        m = _MACRO.match(value, i)
        if m is None:  # cannot happen: checked above
            raise ValueError(f"bad macro at {i}")
        text, read = _one_macro(m, v, domain, validated)
        out.append(text)
        size += len(text) + read
        i = m.end()
    if size > MAX_EXPANSION:
        raise SpfSyntaxError(f"macro expansion longer than {MAX_EXPANSION} characters")
    return "".join(out)


def _macro_value(low: str, v: MacroVars, domain: str, validated: str | None) -> str:
    if low == "i":
        return ip_macro(v.ip)
    return {"s": v.sender, "l": v.local, "o": v.domain_of_sender, "d": domain, "p": validated or "unknown",
            "v": "in-addr" if v.ip.version == 4 else "ip6", "h": v.helo, "c": str(v.ip), "r": v.receiver,
            "t": str(v.timestamp)}[low]


def _one_macro(m: re.Match[str], v: MacroVars, domain: str, validated: str | None) -> tuple[str, int]:
    """The macro's expansion, and the length of the value it split: a macro that expands to little (`%{s1r-}`)
    still reads it all, so both count toward MAX_EXPANSION (60 KB records of such macros had cost 2.2 s of the
    event loop, review33b #4)."""
    letter = m.group(1)
    source = _macro_value(letter.lower(), v, domain, validated)
    delims = m.group(4) or "."
    parts = re.split("[" + re.escape(delims) + "]", source)
    if m.group(3):
        parts.reverse()
    if m.group(2):
        parts = parts[-label_count(m.group(2)):]
    text = ".".join(parts)
    if letter.isupper():
        text = urllib.parse.quote(text, safe="-._~")
    return text, len(source)


def truncate_domain(name: str) -> str:
    """Section 7.3: drop left labels until the name is at most 253 characters: the name after the first dot that
    leaves at most 253, else after its last dot (one search, not a copy of the rest per label dropped)."""
    name = name.rstrip(".")
    if len(name) <= 253:
        return name
    cut = name.find(".", len(name) - 254)
    if cut < 0:
        cut = name.rfind(".")
    return name[cut + 1:] if cut >= 0 else name
