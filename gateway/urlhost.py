"""Where a link goes: the host a browser goes to for an href, read by the WHATWG URL Standard.

Purpose: one reading of a link's host for every part that judges or remembers links -- the link and
indicator checks (gateway/checks/) and the store's `link:` observations (gateway/store/record.py),
which the security team's hunt searches -- so that an href urllib reads no host from
("https:\\\\host", "https:host") is the same link everywhere. Below both checks and store.

Untrusted input: a stranger's hrefs; every function is linear in its argument and needs no network.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from gateway.textsafe import DOTS_TO_ASCII

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SPECIAL = frozenset({"http", "https", "ws", "wss", "ftp"})  # and "file", which has its own host rule
_C0_SPACE = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_SLASHES = "/\\"


def href_host(href: str) -> str:
    r"""The host a browser goes to for an href, "" for none: the WHATWG URL Standard's basic URL parser
    (section 4.4) as far as the host. Leading and trailing C0 controls and spaces are dropped and
    tabs and newlines removed anywhere. For a special scheme (http, https, ws, wss, ftp) any run of
    "/" and "\" after "scheme:" leads to the authority -- "https:\\host\r", "https:host/r" and
    "https:/host/r" all go to "host" (Chromium, Firefox), where urllib reads no host -- and a "\"
    ends the authority as "/" does: "https://host\@real.org/" goes to "host" (urllib: userinfo up to
    the "@", host "real.org"). Userinfo runs to the last "@" of the authority; a port follows a ":"
    outside "[...]". Read as by a browser without a base URL of the same scheme (a message opened
    in a desktop mail reader or from a file): under a webmail page's https base "https:host/r" is a
    path on the webmail's own host, so this is the reading that goes to the stranger's host. A
    scheme-relative "//host/r" (or "\\host/r") takes the reader's base, an https page: read as a
    special URL. A non-special scheme has a host only after "//" ("git://host/"; "mailto:" none);
    "file:" after two slashes, up to the next one. Then `browser_host`. Linear in the href."""
    url = href.strip(_C0_SPACE).translate(_TAB_NEWLINE)
    m = _SCHEME.match(url)
    scheme = m.group(1).lower() if m is not None else ""
    rest = url[m.end():] if m is not None else url
    if scheme in _SPECIAL or (not scheme and _two_slashes(rest)):
        authority = _until(rest.lstrip(_SLASHES), "/\\?#")
    elif scheme == "file":
        return browser_host(_until(rest[2:], "/\\?#")) if _two_slashes(rest) else ""  # no userinfo, port
    elif scheme and rest.startswith("//"):
        authority = _until(rest[2:], "/?#")
    else:
        return ""  # an opaque path (mailto:, javascript:) or a path relative to the reader's page
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host[1:]
    else:
        host = host.partition(":")[0]
    return browser_host(host)


def _two_slashes(s: str) -> bool:
    return len(s) >= 2 and s[0] in _SLASHES and s[1] in _SLASHES


def _until(s: str, stops: str) -> str:
    """`s` up to its first character of `stops` (all of it when it has none). Linear."""
    end = len(s)
    for c in stops:
        i = s.find(c, 0, end)
        if i >= 0:
            end = i
    return s[:end]


def browser_host(host: str) -> str:
    """A link's host as a browser goes to it (WHATWG URL standard, host parsing): percent-decoded,
    the bytes read as UTF-8 (an invalid sequence as U+FFFD), then lower-cased and the ideographic
    and full-width full stops read as the dots they are to IDNA; IDNA comes after.
    "https://ch%D0%B0thamhouse.org/" and "https://ch\u0430thamhouse\u3002org/" go to
    "ch\u0430thamhouse.org". Linear in the host."""
    if "%" in host:
        host = unquote(host, errors="replace")
    return host.lower().translate(DOTS_TO_ASCII)
