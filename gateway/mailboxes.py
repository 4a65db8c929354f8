"""Mailboxes of address header fields (From, Sender, Reply-To, To, Cc), read from the RAW value.

Purpose: one parser decides which address a field names, and the display name beside it.
The raw value is parsed first and display names are RFC 2047-decoded afterwards (RFC 2047
section 5: an encoded-word is never part of an addr-spec, and its decoded text is never
syntax). Decoding first let `From: =?utf-8?B?<"someone@ourdomain">?= <stranger@gmail.com>`
read as someone@ourdomain.

Syntax (RFC 5322 section 3.4 with the obsolete forms of section 4.4): `address-list` of
`name-addr` (`[display-name] <addr-spec>`) and `addr-spec` items, groups (`name: a, b;`),
comments (nested, escapes), quoted strings (which may contain `<x@y>`, commas and colons:
they stay display text), domain literals, obs-route (`<@a,@b:user@d>`), whitespace around the
dots and the `@` of an addr-spec (`john . doe @ example . com`). Lenient where mail is broken:
a missing `>` runs to the end of the item (the address then `malformed`, as is one followed by
another addr-spec after its `>`, an unterminated quoted local part, or an encoded word in an addr-spec:
review33c #6); an item without angle brackets whose words are not
joined by dots (`Joe Smith joe@x.com`) is read as display name + addr-spec; the legacy
`addr (Full Name)` form gives the comment as display name; an item without `@` keeps its words as
the address (`MAILER-DAEMON`), as the stdlib does. 8-bit text arrives as Unicode (the caller
reads raw bytes as UTF-8) and is an ordinary atom character. Encoded-words in a local part are
kept as written (their decoded spelling is one of `domain_readings`).

Cost: one tokenizing pass and one pass over the tokens; no recursion (comments nest by
counting), so any value the header limits admit is read in linear time. At most
`MAX_MAILBOXES` mailboxes are returned per call.

Untrusted input: header values of a stranger's message. Never raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import dns.exception
import dns.name

from gateway.rfc2047 import decode_words
from gateway.textsafe import visible_text

MAX_MAILBOXES = 1000
MAX_DISPLAY = 1024
REORDER_BUDGET = MAX_DISPLAY * 4  # characters of display text put in reading order per parse (`_shown`)

_SPECIALS = "<>,:;@."
_ATOM = re.compile(r"[^\s<>,:;@.\"()\[\]\\]+|\\.?")
_WSP = re.compile(r"\s+")


@dataclass(frozen=True)
class Mailbox:
    """One mailbox: display name (RFC 2047-decoded, whitespace collapsed) and address
    (lower-cased, as written: quotes kept, comments and whitespace removed)."""

    display: str
    address: str
    # an addr-spec written in the display name outside quotes (`a@x.example <b@y.example>`):
    # invalid (RFC 5322 phrase has no '@'), and Dovecot's Sieve reads that one as the address
    display_spec: str = ""
    # a syntax problem the reading passed over (`malformed` says it): an address after the angle brackets, a
    # missing `>`, an unterminated quoted local part, an encoded word in the addr-spec (review33c #6)
    problem: str = ""
    # another spelling a reader may show or take: the addr-spec after the angle brackets, the encoded word decoded
    other_spec: str = ""

    @cached_property
    def domain(self) -> str:
        """The part after the last `@`, without a trailing dot ("" when there is none)."""
        return self.address.rsplit("@", 1)[1].rstrip(".") if "@" in self.address else ""

    @cached_property
    def malformed(self) -> str:
        """Why the address is not an RFC 5322 addr-spec that every reader reads alike ("" when
        it is; an address without any '@', e.g. MAILER-DAEMON, is left to the callers)."""
        if self.display_spec:
            return "an address in the display name outside quotes"
        if self.problem:
            return self.problem
        if self.domain and not self.domain.startswith("[") and _host_part(self.domain) != self.domain:
            # `security@paypal.com\`, `"security@paypal.com"`: DMARC went to a name nobody resolves while readers
            # show paypal.com (review34c #1)
            return "a domain that is no host name"
        local, at, domain = _split_spec(self.address)
        if not at:
            return ""
        if "@" in domain:
            return "several @"
        if "\\" in local and not local.startswith('"'):
            return "a backslash outside quotes"
        if not local:
            return "nothing before the @"
        if not domain:
            return "nothing after the @"
        if not domain.startswith("[") and "" in domain.split("."):
            return "an empty part in the domain (a dot at its start or end, or two dots)"
        return ""

    @cached_property
    def domain_readings(self) -> tuple[str, ...]:
        """Every domain a reader may take from this mailbox: the gateway's (`domain`: after the
        last '@'), then, for a malformed one, what others read (session 23: for
        `a@example.org@evil.example` Dovecot's Sieve reads example.org, the gateway
        evil.example; for `a@x.example <b@y.example>` Dovecot reads x.example)."""
        out = [self.domain]
        _local, _at, domain = _split_spec(self.address)
        if "@" in domain:  # several '@': the first domain (Dovecot, Sieve) besides the last
            out.append(domain.split("@", 1)[0].rstrip("."))
        if self.display_spec:
            out.append(Mailbox("", self.display_spec).domain)
        if self.other_spec:
            out += Mailbox("", self.other_spec).domain_readings
        # a name with characters no host name has is read up to them (review34c #1), and as readers show it and the
        # resolver looks it up: `pay<U+00AD>pal.com`, `pay<U+200E>pal.com`, `paypal<U+3002>com`, `<U+24DF>aypal.com`
        # as paypal.com, which DMARC must judge, not `pay` (attack35b #1, review35 #1). Only such a name: a name of
        # letters and marks is looked up as it is written
        out += [m for d in out if not d.isascii() and _host_part(d) != d.rstrip(".") and (m := _idna_ascii(d))]
        return tuple(dict.fromkeys(h for d in out if (h := d if d.startswith("[") else _host_part(d))))


def _idna_ascii(domain: str) -> str:
    """`domain` as readers show it and the resolver looks it up: without format characters (category Cf: the soft
    hyphen, zero-width characters, bidi marks and isolates, invisible operators, tags, the Mongolian vowel
    separator: nothing a reader sees), then mapped by the resolver's own codec (dnspython: IDNA 2008 with UTS 46,
    which folds compatibility forms, drops default-ignorables and makes ideographic full stops dots); "" when it
    has no such name. review35 #1: Python's IDNA 2003 codec, the first try, refused a name with a bidi mark (read
    as `pay`, DMARC none) and mapped straße.de to strasse.de, another domain."""
    cleaned = "".join(ch for ch in domain if unicodedata.category(ch) != "Cf")
    if not cleaned or len(cleaned) > 255:
        return ""
    try:
        return dns.name.from_text(cleaned).to_text(omit_final_dot=True).lower()
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return ""


def _host_part(domain: str) -> str:
    """`domain` up to its first character no host name has (letters, marks and digits of any script: a Hindi or
    Thai name's vowel signs are marks; '-', '.', '_'), without a trailing dot."""
    end = 0
    while end < len(domain) and _host_char(domain[end]):
        end += 1
    return domain[:end].rstrip(".")


def _host_char(ch: str) -> bool:
    return ch.isalnum() or ch in "-._" or (not ch.isascii() and unicodedata.category(ch)[0] in "LMN")


def _split_spec(address: str) -> tuple[str, str, str]:
    """(local part, '@' or '', the rest) of an address as written: the first '@' outside a
    leading quoted local part."""
    start = 0
    if address.startswith('"'):
        end = address.find('"', 1)
        while end > 0 and address[end - 1] == "\\":
            end = address.find('"', end + 1)
        start = end + 1 if end > 0 else len(address)
    at = address.find("@", start)
    if at < 0:
        return address, "", ""
    return address[:at], "@", address[at + 1:]


@dataclass
class _Tok:
    kind: str  # "atom", "quoted", "comment", "literal", or one of the specials
    text: str  # atoms and literals as written; quoted strings and comments without delimiters
    raw: str  # as written
    ws: bool  # whitespace (or a comment) before it
    stray: bool = False  # a stray `)` or `]` before it (read as a separator; junk to other readers)


_PLAIN = {'"': re.compile(r'[^"\\]*'), ")": re.compile(r"[^()\\]*"), "]": re.compile(r"[^\]\\]*")}


def _delimited(value: str, i: int, close: str, nest: str | None) -> tuple[str, int]:
    """Contents of a quoted string / comment / literal starting after its opener at `i`;
    returns (unescaped contents, index after the closer or len(value)). Comments nest by
    counting; the plain runs between special characters are skipped by one regex match."""
    out: list[str] = []
    depth = 1
    n = len(value)
    plain = _PLAIN[close]
    while i < n:
        m = plain.match(value, i)
        j = m.end() if m else i
        out.append(value[i:j])
        if j >= n:
            return "".join(out), n
        c = value[j]
        if c == "\\":
            out.append(value[j + 1:j + 2])
            i = j + 2
            continue
        if nest is not None and c == nest:
            depth += 1
        else:  # the closer
            depth -= 1
            if depth == 0:
                return "".join(out), j + 1
        out.append(c)
        i = j + 1
    return "".join(out), n


def _tokens(value: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(value)
    ws = stray = False
    while i < n:
        c = value[i]
        if c.isspace():
            m = _WSP.match(value, i)
            i = m.end() if m else i + 1
            ws = True
            continue
        if c == '"':
            text, j = _delimited(value, i + 1, '"', None)
            toks.append(_Tok("quoted", text, value[i:j], ws))
        elif c == "(":
            text, j = _delimited(value, i + 1, ")", "(")
            toks.append(_Tok("comment", text, value[i:j], ws))
            ws = True
            i = j
            continue
        elif c == "[":
            _text, j = _delimited(value, i + 1, "]", None)
            toks.append(_Tok("literal", value[i:j], value[i:j], ws))
        elif c in _SPECIALS:
            j = i + 1
            toks.append(_Tok(c, c, c, ws))
        elif c in ")]":
            i += 1  # stray closer: a separator (`a@x.example)Name` had read as domain x.examplename, review34c #1)
            ws = stray = True
            continue
        else:
            m = _ATOM.match(value, i)
            j = m.end() if m and m.end() > i else i + 1
            toks.append(_Tok("atom", value[i:j], value[i:j], ws))
        if stray:
            toks[-1].stray, stray = True, False
        ws = False
        i = j
    return toks


_WORD = ("atom", "quoted")


def _shown(text: str, budget: list[int]) -> str:
    """Decoded display text as a reader sees it (`visible_text`), at most MAX_DISPLAY * 4 characters of it. Text
    an override reorders is put in reading order only while `budget` (characters, one per parse call: every
    mailbox of the fields read together) lasts, then its controls are dropped: each display name had its own
    20,000-character reordering, and a 31 KB Cc of 22 overridden names cost ~100 ms on the event loop (attack35a
    #3)."""
    text = text[:MAX_DISPLAY * 4]
    if budget[0] <= 0:
        return visible_text(text, bidi="drop")
    budget[0] -= len(text)
    return visible_text(text)


def _phrase(toks: list[_Tok], budget: list[int]) -> str:
    """Display text of phrase tokens (comments excluded), RFC 2047-decoded afterwards."""
    parts: list[str] = []
    for t in toks:
        if t.kind == "comment":
            continue
        if parts and t.ws:
            parts.append(" ")
        parts.append(t.text if t.kind in ("quoted", "atom", "literal") else t.raw)
    text = _shown(decode_words("".join(parts)[:MAX_DISPLAY * 4]), budget)
    return " ".join(text.split())[:MAX_DISPLAY]


def _spec(toks: list[_Tok]) -> str:
    """An addr-spec as written (comments and whitespace dropped), lower-cased."""
    return "".join(t.raw for t in toks if t.kind != "comment").lower()


def _angle(toks: list[_Tok], lt: int) -> tuple[list[_Tok], int]:
    """Tokens inside the angle brackets opened at `lt` (obs-route removed); index after `>` (past the end when
    there is none)."""
    j = lt + 1
    while j < len(toks) and toks[j].kind != ">":
        j += 1
    inner = toks[lt + 1:j]
    if inner and inner[0].kind == "@":  # obs-route: @a,@b:addr-spec
        colon = next((k for k, t in enumerate(inner) if t.kind == ":"), None)
        inner = inner[colon + 1:] if colon is not None else []
    return inner, j + 1


def _bare(toks: list[_Tok], budget: list[int]) -> Mailbox | None:
    """An item without angle brackets: addr-spec, maybe after display words."""
    words = [t for t in toks if t.kind != "comment"]
    if not words:
        return None
    comment = next((t.text for t in toks if t.kind == "comment"), "")
    at = next((k for k, t in enumerate(words) if t.kind == "@"), None)
    if at is None:
        return _checked(_shown(decode_words(" ".join(comment.split())), budget)[:MAX_DISPLAY], words)
    # local part: backwards from '@', words joined by '.' (any whitespace around dots) or
    # touching each other; whitespace between two words ends it (the rest is display text)
    start = at
    while start > 0:
        prev = words[start - 1]
        if prev.kind == ".":
            start -= 1
            continue
        cur = words[start] if start < at else None
        if prev.kind in _WORD or prev.kind == "literal":
            if cur is None or cur.kind == "." or not cur.ws:
                start -= 1
                continue
        break
    end = at + 1
    while end < len(words) and words[end].kind in ("atom", "literal", ".", "@"):
        if words[end].kind != "." and words[end - 1].kind not in (".", "@") and words[end].ws:
            break
        end += 1
    display = _phrase(words[:start], budget) or _shown(decode_words(" ".join(comment.split())), budget)[:MAX_DISPLAY]
    problem = ""
    open_comment = next((t.raw for t in toks if t.kind == "comment" and not t.raw.endswith(")") and "@" in t.raw), "")
    if other := _first_spec(open_comment):  # `a@x.example (\r\n <b@y.example>`: a reader that ends the comment
        # at the line reads the rest
        problem = "an unterminated comment holding an address"
    elif other := _other_spec(_written(words[end:]), _spec(words[start:end])):
        # `a@x.example b@y.example`,
        # `a@x.example:b@y.example`: dropped here, read by others as the address or a second one (review34b #1)
        problem = "an address after the address"
    elif start and (other := _first_spec(display)):  # `=?utf-8?q?b=40y.example?= a@x.example`: a reader that
        # decodes first (Python's email) takes the decoded text as the address (review34b #1)
        problem = "an address in the display name outside quotes"
    return _checked(display, words[start:end], problem, other)


_NOT_IN_SPEC = frozenset(' \t\r\n<>,;:"[]()@\\')


def _specs(text: str) -> Iterator[str]:
    """Every `local@domain` in `text` with both parts, in order (lower-cased): one pass (each step reads back to
    the previous '@' or stop character and on to the next), for `domain_readings`. A bare `@domain` is no address
    anybody shows (`<a@example.org>@evil.example` reads as a@example.org to Dovecot and Python alike)."""
    at = text.find("@")
    while at >= 0:
        i = at
        while i > 0 and text[i - 1] not in _NOT_IN_SPEC:
            i -= 1
        j = at + 1
        while j < len(text) and _host_char(text[j]) and text[j] != "_":
            j += 1
        if i < at and j > at + 1:
            yield text[i:j].lower()
        at = text.find("@", j)


def _written(toks: Iterable[_Tok]) -> str:
    """Tokens as written, a blank where whitespace (or a comment) separated them: `a@x b@y` is two addresses, not
    `a@xb@y`."""
    return "".join((" " + t.raw) if t.ws else t.raw for t in toks)


def _first_spec(text: str) -> str:
    """The first address in `text` ("" when none): see `_specs`."""
    return next(_specs(text), "")


def _other_spec(text: str, own: str) -> str:
    """The first address in `text` that is not `own` ("" when none): `<a@x> <a@x> b@y` names b@y as much as
    `<a@x> b@y` does (getaddresses reads all three; a repeat of the address itself is no other reading, review34c
    #3)."""
    return next((s for s in _specs(text) if s != own), "")


def _checked(display: str, spec: list[_Tok], problem: str = "", other: str = "") -> Mailbox:
    """The mailbox of addr-spec tokens `spec`, with what a lenient reading passed over (review33c #6: each was
    read as a well-formed address of the sender's own domain while a reader may show another one)."""
    address = _spec(spec)
    if not problem and any(t.kind == "quoted" and (len(t.raw) < 2 or not t.raw.endswith('"')) for t in spec):
        problem = "an unterminated quoted string"
    words = [t for t in spec if t.kind != "comment"]
    if not problem and any(t.kind == "@" for t in words) and any(
            t.ws and t.kind not in (".", "@") and prev.kind not in (".", "@") for prev, t in zip(words, words[1:],
                                                                                               strict=False)):
        # `<a@paypal.com attacker.test>`, `<a@paypal.com]x.attacker.test>`: words of an addr-spec meet only at a dot
        # or the '@' (RFC 5322 3.4.1, obs 4.4); joined here they named the sender's own x.attacker.test while
        # Python's header registry shows a@paypal.com (found on session 35's reread of the stray-closer rule)
        problem, other = "words of the address not joined by a dot", other or _other_spec(_written(words), address)
    if not problem and "=?" in address and "?=" in address and "@" in (
            decoded := decode_words("".join(t.raw for t in spec if t.kind != "comment")).lower()):
        # only when what it decodes to holds an address (an item that is a display name alone is left to the
        # callers, review34c #3)
        problem, other = "an encoded word in the address", other or decoded
    return Mailbox(display, address, problem=problem, other_spec=other if other != address else "")


def _junk(toks: list[_Tok], lt: int) -> bool:
    """Whether the display part before the `<` at `lt` (or that `<`) holds what no phrase has and readers recover
    from differently: a backslash outside quotes, a stray closer, a `>`, a literal, a second `<` in the brackets."""
    return any(t.stray or t.kind in (">", "literal") or (t.kind == "atom" and t.raw.startswith("\\"))
               for t in toks[:lt + 1]) or (lt + 1 < len(toks) and toks[lt + 1].kind == "<")


def _mailbox(toks: list[_Tok], budget: list[int]) -> Mailbox | None:
    lt = next((k for k, t in enumerate(toks) if t.kind == "<"), None)
    if lt is None:
        return _bare(toks, budget)
    inner, after = _angle(toks, lt)
    shown = _bare(toks[:lt], budget) if any(t.kind == "@" for t in toks[:lt]) else None
    display_spec = shown.address if shown is not None else _first_spec(
        "".join(t.raw for t in toks[:lt] if t.kind in ("atom", "literal")))  # `[b@y.example] <a@x.example>`
    problem = other = ""
    if after > len(toks):
        problem = "no closing >"
    elif other := _other_spec(_written(t for t in toks[after:] if t.kind != "comment" or not t.raw.endswith(")")),
                              _spec(inner)):
        # `<a@x.example> b@y.example`, also quoted, in an unterminated `[` or comment: a reader may show the second
        # (review34b #1)
        problem = "an address after the angle brackets"
    box = _checked(_phrase(toks[:lt], budget), inner, problem, other)
    if not display_spec and not box.problem and _junk(toks, lt) \
            and (shown_spec := _other_spec(box.display.replace("\\@", "x@"), box.address)):
        # `=?utf-8?q?b=40y.example?=\\) <a@x.example>`, `=?..?=] <a@x>`, `\\@y.example <a@x.example>`: a display
        # name holding another address once decoded (or beside an escaped '@'), with junk before the brackets that
        # no phrase has: Python's header registry recovers by showing that address (`b@y.example`,
        # `"\\"@y.example`). Without junk (`=?..?q?'jane=40yahoo.com'_via_Gr=C3=BCppe?= <gruppe@googlegroups.com>`,
        # how Google Groups writes a poster without a name) every reader takes the bracketed address, and the
        # display-name-anomaly rule weighs the name (review35 #3: calling it malformed made real list mail suspicious)
        box = Mailbox(box.display, box.address, problem="an address in the display name outside quotes",
                      other_spec=shown_spec)
    if not box.address and (display_spec or box.other_spec):  # `<>b@y.example`, `b@y.example<`: no address in
        # the brackets, one beside them, which other readers take (review34b #1); here too, not dropped
        address = display_spec or box.other_spec
        return Mailbox(box.display, address, "", "no address in the angle brackets",
                       box.other_spec if box.other_spec != address else "")  # `a@x <> b@y`: both (review34c #2)
    return Mailbox(box.display, box.address, display_spec, box.problem, box.other_spec)


def parse_mailboxes(value: str, budget: list[int] | None = None) -> list[Mailbox]:
    """Every mailbox of one raw address-list value, in order (group members included; a
    mailbox without any address text is skipped). `budget`: what is left of the display text put in reading order
    (`_shown`; REORDER_BUDGET characters for this value when not given)."""
    budget = budget if budget is not None else [REORDER_BUDGET]
    toks = _tokens(value)
    out: list[Mailbox] = []
    item: list[_Tok] = []
    in_angle = False
    in_group = False
    has_addr = False  # the current item has an '@' or '<' (then a ':' does not start a group)
    group_spec = ""  # an address in the current group's name that readers show (`_junk`)

    def flush() -> None:
        nonlocal has_addr
        if len(out) < MAX_MAILBOXES:
            mb = _mailbox(item, budget)
            if mb is not None and group_spec and "@" in mb.address and not mb.malformed and group_spec != mb.address:
                # `security\\@paypal.com: a@attacker.test;`: the group name is no phrase, and Python's header
                # registry shows `"security\\"@paypal.com` (review35 #4), as for the display name (`_mailbox`)
                mb = Mailbox(mb.display, mb.address, mb.display_spec, "an address in the group name", group_spec)
            if mb is not None and mb.address:
                out.append(mb)
        item.clear()
        has_addr = False

    for t in toks:
        if t.kind in ("@", "<"):
            has_addr = True
        if t.kind == "<":
            in_angle = True
        elif t.kind == ">":
            in_angle = False
        elif not in_angle and t.kind == ",":
            flush()
            continue
        elif not in_angle and not in_group and t.kind == ":" and not has_addr:
            name_junk = _junk(item + [t], len(item))
            group_spec = _other_spec(_phrase(item, budget).replace("\\@", "x@"), "") if name_junk else ""
            item.clear()  # the group's display name
            in_group = True
            continue
        elif not in_angle and t.kind == ";":
            flush()
            in_group = False
            group_spec = ""
            continue
        item.append(t)
    flush()
    return out


def parse_address_fields(values: list[str]) -> list[Mailbox]:
    """Mailboxes of several raw field values (e.g. every To and Cc field), in order."""
    out: list[Mailbox] = []
    budget = [REORDER_BUDGET]  # one for the fields read together
    for v in values:
        out += parse_mailboxes(v, budget)
        if len(out) >= MAX_MAILBOXES:
            return out[:MAX_MAILBOXES]
    return out
