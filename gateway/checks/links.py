"""Link signals: where the message's links really go.

Purpose: many approaches end with a link -- "the draft is here", "register for the roundtable",
"the documents for tomorrow" -- to a page that harvests a password or drops malware (UK NCSC
and Microsoft on Star Blizzard/COLDRIVER; Proofpoint on TA453; Citizen Lab on Dark Basin's
lookalike file-sharing pages). This check reads the link targets of the HTML part and the URLs
written in the text and signals those whose domain imitates a listed organisation, a
file-sharing or sign-in service, or our own domain (the same lookalike judgement as the sender
check), and links that show one address while pointing to another.

Untrusted input: link targets and text (a stranger's): at most `MAX_LINKS` links, host names
length-capped, hrefs read with the WHATWG URL Standard's rules for the host (`gateway.urlhost.href_host`; no network).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import unquote, urlsplit

from gateway.checks import Check, CheckContext, signal
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.sender import Lookalikes
from gateway.checks.structure import ATTACHMENT_KINDS
from gateway.domains import registered_domain
from gateway.model import Signal
from gateway.textsafe import IDEOGRAPHIC_DOTS
from gateway.urlhost import browser_host, href_host

MAX_LINKS = 200
MAX_TEXT = 60_000
MAX_IDN = 20  # IDN hosts of the text folded to punycode (the rest are checked as written, as hrefs are)
# A host: ASCII letters, digits, dots and hyphens, or any non-ASCII letter or digit (an IDN as
# written: "https://ch\u0430thamhouse.org/" is the same link as its href or punycode form), after
# "http(s)://" or from a "www." without a scheme, which mail readers link too (Gmail, Outlook,
# Thunderbird): "www." starting a word, not inside a host name, a path or an address. A "%XX" in
# the host is part of it: browsers percent-decode a host before IDNA (WHATWG URL, host parsing);
# so are the ideographic and full-width full stops U+3002, U+FF0E, U+FF61, which IDNA reads as dots
# (UTS #46 maps them to "."; RFC 3490 section 3.1).
_URL = re.compile(r"(?:\bhttps?://|(?<![\w.@/-])(?=www\.))"
                  f"((?:[A-Za-z0-9.-]|%[0-9A-Fa-f]{{2}}|[^\\x00-\\x7f\\W]|[{IDEOGRAPHIC_DOTS}]){{1,253}})"
                  r"(?::\d{1,5})?(?:[/?#][^\s<>\"']{0,300})?", re.I)
_STARTS = ("http", "www.")  # where a match of _URL starts (lower-cased)
_ASCII_HOST = re.compile(r"[a-z0-9.-]+")


def urls_in(text: str) -> Iterator[re.Match[str]]:
    """`_URL.finditer(text)`, trying the pattern only where an "http" or a "www." starts (`str.find`
    on the lower-cased text) instead of at every position of up to 60,000 characters. The same
    matches: `_URL` can only match where one starts (case-insensitively: only ASCII letters fold to
    h, t, p or w), and lower() keeps every index unless the text holds a U+0130 (lower-cased to two
    characters), which is left to `finditer`. Each find moves forward only: linear."""
    if "\u0130" in text:
        yield from _URL.finditer(text)
        return
    low = text.lower()
    nxt = [low.find(s) for s in _STARTS]
    while True:
        found = [i for i in nxt if i >= 0]
        if not found:
            return
        at = min(found)
        m = _URL.match(text, at)
        if m is not None:
            yield m
        end = at + 1 if m is None else m.end()
        nxt = [low.find(s, end) if 0 <= i < end else i for s, i in zip(_STARTS, nxt, strict=True)]


def hosts_of(links: Iterable[str], text: str) -> list[str]:
    out: dict[str, None] = {}
    for link in list(links)[:MAX_LINKS]:
        host = href_host(link)
        if host:
            out[host] = None
    idns: dict[str, str] = {}  # an IDN host as written -> as read (IDNA costs ~0.7 ms a host: MAX_IDN)
    for m in urls_in(text[:MAX_TEXT]):
        host = browser_host(m.group(1)).rstrip(".")
        if host.isascii():
            out[host] = None
        elif host not in idns:
            ascii_run = _ASCII_HOST.match(host)
            if ascii_run is not None:
                # also as read before IDNs were: "example.com" of "https://example.com\u4e2d\u6587" (CJK
                # text right after a link), so both readings are checked
                out[ascii_run.group(0).rstrip(".")] = None
            idns[host] = _ascii_host(host) if len(idns) < MAX_IDN else host  # as written: as an href is
            out[idns[host]] = None
        if len(out) >= MAX_LINKS:
            break
    return list(out)


# The extensions of ATTACHMENT_KINDS a link's file name is read for: not those that end host names or web pages too
# (.com, .app, .url, .desktop, .cmd, .application; .dll: IIS's ISAPI pages, `cgi.ebay.com/ws/eBayISAPI.dll?ViewItem`,
# two real ham messages), and a program behind a query not in a CGI's place (`/cgi-bin/WA-JISC.exe?SUBED1=...`:
# JISCMail, LISTSERV's `/scripts/wa.exe`).
_LINK_KINDS = {ext: kind for ext, kind in ATTACHMENT_KINDS.items()
               if ext not in ("com", "app", "url", "desktop", "cmd", "application", "dll", "js", "jse", "one")}
# (.js and .one: a repository or a site named so, `github.com/vercel/next.js`, and a domain: review36b #7)
_CGI = re.compile(r"/(?:cgi-bin|scripts)/|/wa(?:-[a-z]+)?\.exe\Z", re.I)  # LISTSERV's wa.exe wherever it is
# a query value read as a file name: a name with a letter before its extension, not an address or a link
_QUERY_FILE = re.compile(r"[^/:@]{0,300}?[A-Za-z][^/:@]{0,300}\.[A-Za-z0-9]{1,12}")  # (a versioned name too:
# `NovaTracker-1.8.2.zip`, review36c #3; a number, `1.001`, is none)
MAX_FILE_LINKS = 2000  # links of each kind (hrefs, text) read for a file name: a look at each is one urlsplit


def _file_kind(name: str) -> tuple[str, str] | None:
    name = unquote(name).replace("\\", "/").partition("\x00")[0].rpartition("/")[2].rstrip(" .").lower()
    ext = name.rpartition(".")[2] if "." in name else ""
    kind = _LINK_KINDS.get(ext)
    return (kind, "." + ext) if kind else None


def file_link(url: str) -> tuple[str, str, str] | None:
    """(what the file is, its extension, the link's host) when a link names a file of `_LINK_KINDS`: the last
    segment of its path (";params", a backslash or an escaped NUL after it read as a browser or a server reads
    them; a trailing "/" makes it a directory, `next.js/`) or a query value that is a file's name
    (`dl.php?f=TermSheet.zip`: review36 #3) -- a download that runs code or holds other
    files (`NovaTracker-1.8.2.zip`, `portal.hta?ref=...`). A program behind a query in a CGI's place is a page.
    What a server sends is its own Content-Disposition's: a heuristic."""
    try:
        parts = urlsplit(url if url[:8].lower().startswith(("http://", "https://")) else "http://" + url)
    except ValueError:
        return None
    path = parts.path[-300:].partition(";")[0]
    found = _file_kind(path)
    if found is not None and found[0] == "a program" and parts.query and _CGI.search(path):
        found = None
    if found is None and parts.query:
        for pair in parts.query[:300].split("&"):
            value = unquote(pair.rpartition("=")[2])
            if _QUERY_FILE.fullmatch(value) and (found := _file_kind(value)) is not None:
                break  # (a script's too: `?f=Invoice.vbs`, review36c #3; .js is none: a search for "node.js")
            found = None
    return None if found is None else (found[0], found[1], (parts.hostname or "")[:120])


def file_links(links: Iterable[str], text: str) -> Iterator[tuple[str, str, str]]:
    """`file_link` of the HTML links and the URLs written in the text (at most MAX_FILE_LINKS of each: 200 harmless
    links ahead of the file had hidden it, review36 #3)."""
    for link in list(links)[:MAX_FILE_LINKS]:
        if (found := file_link(link)) is not None:
            yield found
    for n, m in enumerate(urls_in(text[:MAX_TEXT])):
        if n >= MAX_FILE_LINKS:
            return
        if (found := file_link(m.group(0))) is not None:
            yield found


def _ascii_host(host: str) -> str:
    """An IDN host written in the text in its punycode form (the look-alike check reads both; one
    form per host), as written when it has none (a label IDNA refuses: read as it stands)."""
    if host.isascii() or max(map(len, host.split("."))) > 63:  # over 63: IDNA refuses (and costs ~2 ms)
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


class LinkCheck(Check):
    name = "links"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("content.link_lookalike", "links to a domain imitating a listed organisation, a service or ours",
               host=str, target=str, organisation=str, method=str),
        signal("content.link_to_file", "links to a file that runs code or holds other files (an archive, a disk image, "
               "a program, a shortcut, a script, a macro-enabled document: the link's last path segment or a query "
               "value, as `attachment.risky` reads a file name; not .com or .app, not a CGI program): `extension`, "
               "`host` (the link, which the sender writes, is not quoted)", kind=str, extension=str, host=str),
    )
    needs = (Origin,)
    uses = (Lookalikes,)  # the sender check's: one index and one memo per runtime
    timeout_share = 0.1

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        if internal_sender(ctx):
            return []
        out = []
        sender_reg = registered_domain(ctx.view.from_domain)
        lookalikes = ctx.shared(Lookalikes)
        for host in hosts_of(ctx.view.html_links, ctx.view.body_text):
            if registered_domain(host) == sender_reg or ctx.domains.is_ours(host):
                continue
            found = lookalikes.find(host)
            if found is not None:
                ev = found.evidence
                out.append(Signal("content.link_lookalike", {
                    "host": host[:120], "target": str(ev.get("target", ev.get("matched", ""))),
                    "organisation": str(ev.get("organisation", "")),
                    "method": str(ev.get("method", "name inside the domain"))}))
                break
        download = next(file_links(ctx.view.html_links, ctx.view.body_text), None)
        if download is not None:
            out.append(Signal("content.link_to_file", {"kind": download[0], "extension": download[1],
                                                       "host": download[2]}))
        return out
