"""RFC 8601 Authentication-Results: parse (to believe a trusted border MTA) and build (ours).

Purpose: `parse_authres` reads one header value into an authserv-id and a list of results with
their properties; `trusted_results` picks the topmost fields whose authserv-id the operator
listed in `trusted_authserv_ids` (never our own id, never a field below an untrusted one);
`build_authres` writes our header value, folded. Our own small parser rather than the `authres`
package (last released 2019): we need only the generic resinfo grammar, with comments and
quoted strings, and no method registry.

Below checks/ and act/ (both use it: the auth check believes a trusted MTA's results and builds
ours; the act step strips inbound fields naming our authserv-id as this parser reads them), so
the import graph flows one way.

Untrusted input: Authentication-Results fields from the message. Anyone can write one; only the
operator's list of trusted authserv-ids, applied to the topmost fields, makes one believable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.name

from gateway.folding import fold

_MAX_RESULTS = 64


@dataclass(frozen=True)
class AuthResult:
    method: str  # spf, dkim, dmarc, arc, ...
    result: str
    reason: str = ""
    props: dict[str, str] = field(default_factory=dict)  # "smtp.mailfrom" -> value


@dataclass(frozen=True)
class AuthResHeader:
    authserv_id: str
    results: tuple[AuthResult, ...] = ()


def strip_comments(text: str) -> str:
    """Remove (nested) comments outside quoted strings (an unterminated one: the rest). One Python
    step per character: for header-sized text (gateway/mimewalk.py uses it for short MIME fields)."""
    out, depth, quoted, escaped = [], 0, False, False
    for ch in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            out.append(ch)
            quoted = ch != '"'
        elif ch == '"' and depth == 0:
            quoted = True
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _pairs(resinfo: str) -> list[tuple[str, str]]:
    """`a=b c.d=e` pairs; tolerant of spaces around `=` (RFC 8601 allows CFWS there)."""
    text = "=".join(piece.strip() for piece in resinfo.split("="))  # (re.sub(r"\s*=\s*", "=", ...) tried every
    # blank of a run: quadratic, 0.5 s for 16,000 blanks, regex32 #3)
    return [(k.strip().lower(), _unquote(v)) for k, _, v in
            (w.partition("=") for w in _split_outside_quotes(text, " ") if "=" in w)]


# The DMARC policy as receivers write it where RFC 7489's `policy.dmarc` is missing: in a comment
# (OpenDMARC and Gmail: "dmarc=fail (p=REJECT sp=REJECT dis=NONE)") or as Microsoft's
# "action=oreject|quarantine".
_DMARC_COMMENT_POLICY = re.compile(r"\bdmarc\s*=\s*[a-z]+\s*\(\s*p\s*=\s*(reject|quarantine|none)\b", re.I)
_MS_ACTION = {"reject": "reject", "oreject": "reject", "quarantine": "quarantine", "none": "none"}


def parse_authres(value: str) -> AuthResHeader | None:
    """Parse one Authentication-Results value; None when it has no authserv-id."""
    flat = value.replace("\r", " ").replace("\n", " ")
    commented = _DMARC_COMMENT_POLICY.search(flat[:4000])
    parts = _split_outside_quotes(strip_comments(flat), ";")
    head = parts[0].split()
    if not head:
        return None
    authserv_id = _unquote(head[0]).lower()
    results = []
    for resinfo in parts[1:1 + _MAX_RESULTS]:
        pairs = _pairs(resinfo)
        if not pairs or pairs[0][1] == "" or pairs[0][0] == "none":
            continue
        method = pairs[0][0].split("/", 1)[0]
        reason = next((v for k, v in pairs[1:] if k == "reason"), "")
        props = {k: v for k, v in pairs[1:] if "." in k}
        if method == "dmarc" and "policy.dmarc" not in props:
            action = next((v for k, v in pairs[1:] if k == "action"), "").lower()
            if action in _MS_ACTION:
                props["policy.dmarc"] = _MS_ACTION[action]
            elif commented is not None:
                props["policy.dmarc"] = commented.group(1).lower()
        results.append(AuthResult(method, pairs[0][1].lower(), reason, props))
    return AuthResHeader(authserv_id, tuple(results))


def trusted_results(fields: Iterable[tuple[str, str]], trusted: Sequence[str],
                    own_id: str) -> list[AuthResHeader]:
    """The topmost Authentication-Results fields (header name, value; top first) carrying a
    trusted authserv-id. Stops at the first A-R field that is not trusted: anything below it
    may have been written by the sender. Our own id is never trusted from inbound mail."""
    allowed = {t.lower() for t in trusted} - {own_id.lower()}
    out: list[AuthResHeader] = []
    if not allowed:
        return out
    for name, value in fields:
        if name.lower() != "authentication-results":
            continue
        parsed = parse_authres(value)
        if parsed is None or parsed.authserv_id not in allowed:
            break
        out.append(parsed)
    return out


_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_ATEXT = r"[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+"
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9._+-]*")  # an empty one: `@domain`, as _ADDR allows
_ADDR = re.compile(rf"(?:{_ATEXT}(?:\.{_ATEXT})*)?@[A-Za-z0-9.\-]+")


def _val(value: str) -> str:
    """A property value as a token, a bare local-part@domain (RFC 8601 pvalue), or quoted. An address whose local
    part would need quoting is written by its domain (section 2.7.2 allows `smtp.mailfrom` the domain alone): a
    quoted value does not survive dkimpy's rewrite when we seal, and a MAIL FROM of `"; dmarc=pass ..."@x.test`
    wrote a clause of its own into our sealed results (review34 #2; `arc_seal` checks what it seals, too). So is
    one whose local part holds more than letters, digits and `._+-`: `dmarc=pass.dkim=pass@x.test` is a valid
    dot-atom, but put the text "dmarc=pass" first in our field for every filter that searches it (Sieve
    `:contains`, client rules; attack35b #3); an SRS address is written by its forwarder's domain too."""
    value = re.sub(r"[\x00-\x1f\x7f]", "", value)[:255]
    if _TOKEN.fullmatch(value) or (_ADDR.fullmatch(value) and _PLAIN_LOCAL.fullmatch(value.rpartition("@")[0])):
        return value
    domain = value.rpartition("@")[2]
    if "@" in value and _TOKEN.fullmatch(domain):
        return domain
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ascii_value(value: str) -> str:
    """A property value in ASCII, as RFC 8601 writes one without SMTPUTF8: a domain in its A-label form, an address
    whose local part is not ASCII by its domain alone (section 2.7.2: smtp.mailfrom may be the domain), and ""
    (the property left out) when it has no ASCII form. One non-ASCII value (a signature's d= of "é.test", an
    SMTPUTF8 MAIL FROM) had made `fold` write our whole field as one encoded word, which no reader of
    Authentication-Results decodes: our dmarc=fail unread downstream (attack33c #2)."""
    value = value[:255]
    if value.isascii():
        return value
    local, at, domain = value.rpartition("@")
    try:  # the name the resolver looked up (dnspython, IDNA 2008): Python's "idna" codec is IDNA 2003, which
        # writes "faß.de" as fass.de, another domain (review33b #3)
        domain = dns.name.from_text(domain).to_text(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return ""
    if not domain.isascii():
        return ""
    if not at:
        return domain
    return f"{local}@{domain}" if local.isascii() else domain


# A property's value must have its syntax to be written; one that has not is left out. A sender chooses a DKIM
# selector, algorithm and signing domain, and the HELO name: each had been written quoted, so `s=dmarc=pass`,
# `a=dmarc=pass` or `EHLO dmarc=pass` put the text "dmarc=pass" in our field ahead of our own dmarc= clause for every
# filter that searches it (review35 #7). Names: RFC 6376 3.1 (selector: sub-domains; underscores seen in real
# selectors), RFC 5321 4.1.2 (HELO: a domain or an address literal); header.a: the algorithms RFC 6376/8463 define;
# header.b: base64 (RFC 6008); header.i and smtp.mailfrom: an address (`_val` writes its domain alone when the local
# part is not plain) or, for smtp.mailfrom, a domain (RFC 8601 2.7.2).
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.?"
_SHAPES = {
    "header.d": re.compile(_NAME), "header.s": re.compile(_NAME), "header.from": re.compile(_NAME),
    # (an identity whose local part has no ASCII form is written by its domain: `_ascii_value`)
    "header.i": re.compile(rf"[^@]*@{_NAME}|{_NAME}"), "smtp.mailfrom": re.compile(rf"[^@]*@{_NAME}|{_NAME}"),
    "smtp.helo": re.compile(rf"{_NAME}|\[[A-Za-z0-9:.]+\]"),
    "header.a": re.compile(r"rsa-sha256|rsa-sha1|ed25519-sha256", re.IGNORECASE),
    "header.b": re.compile(r"[A-Za-z0-9+/]+=*"),
    "policy.dmarc": re.compile(r"[a-z]+"), "header.oldest-pass": re.compile(r"[0-9]+"),
}
# In a comment, "=" only after our own tags (p=, sp=, pct=): dkimpy's and the SPF checker's error text quotes what a
# sender wrote ("unknown signature algorithm: b'dmarc=pass'", review35 #7)
_COMMENT_EQUALS = re.compile(r"(?<!\bp)(?<!\bsp)(?<!\bpct)=")


def _identity(value: str) -> str:
    """header.i written by its domain keeps its "@" (RFC 6376 3.5: i= is [local-part] "@" domain; review36b #9,
    review36c #6: a local part `_ascii_value` or `_val` left out took the "@" with it)."""
    return value if "@" in value or value.startswith('"') else "@" + value


def resinfo(method: str, result: str, comment: str = "", props: Sequence[tuple[str, str]] = ()) -> str:
    """One `method=result (comment) ptype.prop=value ...` clause, in ASCII (`_ascii_value`; a comment's other
    characters left out); a property whose value lacks its syntax (`_SHAPES`), or that has none there, is left out."""
    words = [f"{method}={result}"]
    if comment:
        # "=?" as "= ?": dkimpy's error text quotes the signature, which may hold an encoded word (review33b #5)
        comment = re.sub(r"[()\\\x00-\x1f\x7f-\U0010ffff]", "", comment).replace("=?", "= ?")
        words.append("(" + _COMMENT_EQUALS.sub(":", comment)[:120] + ")")
    words += [f"{k}={_identity(_val(a)) if k == 'header.i' else _val(a)}" for k, v in props
              if v and (a := _ascii_value(v)) and (shape := _SHAPES.get(k)) is not None
              and shape.fullmatch(a)]  # no shape: left out (review36 #10)
    return " ".join(words)


def build_authres(authserv_id: str, clauses: Sequence[str]) -> str:
    """Our folded header value: `authserv-id; clause; clause` (or `authserv-id; none`)."""
    pieces = [f"{authserv_id};"]
    body = list(clauses) or ["none"]
    for i, clause in enumerate(body):
        words = clause.split(" ")
        if i < len(body) - 1:
            words[-1] += ";"
        pieces += words
    return fold("Authentication-Results", " ".join(pieces), words=pieces)
