"""Where the body of an HTML document starts, found in one linear pass (for the warning banner).

Purpose: the banner must land where a reader sees it first: right after the document's real
`<body>` start tag, or, when there is none, where the browser opens the body by itself (before the
first text or element that does not belong in the head). The scan follows the HTML tokenizer
(WHATWG) for the part before the body: comments, doctype and bogus comments, tags with quoted
attribute values (a `>` inside quotes does not end a tag), and the head elements whose content is
text (`title`, `style`, `script`, `noframes`; a script holding `<!--` is taken as content, since
its end tag may then be hidden by the script's escaping rules). A `<body>` inside a comment, a title, a script or a
hidden `<div>` is not the body start: the `<div>` already opened the body, so the banner goes
before it.

Untrusted input: the (lower-cased) HTML of a stranger's part, up to the banner's size cap. Every
step moves forward (`str.find` and single character-class runs anchored with `match`, which
cannot backtrack), so the pass is linear in the input.
"""

from __future__ import annotations

import re

_WS = " \t\n\f\r"
_WS_RUN = re.compile(r"[ \t\n\f\r]*")
_WS_SLASH_RUN = re.compile(r"[ \t\n\f\r/]*")
_TAG_NAME = re.compile(r"[^ \t\n\f\r/>]*")
_ATTR_NAME = re.compile(r"[^ \t\n\f\r/>=]*")
_UNQUOTED = re.compile(r"[^ \t\n\f\r>]*")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
HEAD_VOID = frozenset({"meta", "link", "base", "basefont", "bgsound"})
HEAD_TEXT = frozenset({"title", "style", "script", "noframes"})  # content is text up to </name
HEAD_TAGS = HEAD_VOID | HEAD_TEXT | {"html", "head", "body"}
CONTENT_END_TAGS = frozenset({"body", "html", "br"})  # these end tags open the body themselves
MAX_HEAD_TOKENS = 10_000  # real heads hold a few dozen; beyond this the banner goes where we are
MAX_ATTRIBUTES = 1_000  # per tag; a longer tag counts as one left open (content)


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only (HTML tag names are ASCII-case-insensitive; positions are kept)."""
    return text.translate(_ASCII_LOWER)


def _run(pattern: re.Pattern[str], s: str, pos: int) -> int:
    """End of the character-class run `pattern` matches at `pos` (it matches the empty string)."""
    m = pattern.match(s, pos)
    return m.end() if m else pos


def _tag_end(s: str, pos: int) -> int:
    """Index just after the `>` closing the tag whose attributes start at `pos`, or -1 at EOF
    (or after MAX_ATTRIBUTES)."""
    n = len(s)
    for _ in range(MAX_ATTRIBUTES):
        pos = _run(_WS_SLASH_RUN, s, pos)
        if pos >= n:
            return -1
        if s[pos] == ">":
            return pos + 1
        pos = _run(_ATTR_NAME, s, pos + 1)  # the first character belongs to the name, even '='
        pos = _run(_WS_RUN, s, pos)
        if pos >= n:
            return -1
        if s[pos] != "=":
            continue  # '/', '>' or the next attribute's name
        pos = _run(_WS_RUN, s, pos + 1)
        if pos >= n:
            return -1
        quote = s[pos]
        if quote in "\"'":
            close = s.find(quote, pos + 1)
            if close < 0:
                return -1
            pos = close + 1
        elif quote == ">":
            return pos + 1
        else:
            pos = _run(_UNQUOTED, s, pos)
    return -1


def _text_end(s: str, pos: int, name: str) -> int:
    """Index after the end tag `</name ...>` closing a text-only element, or -1 at EOF (or
    after MAX_HEAD_TOKENS look-alikes such as `</titlex`)."""
    needle = "</" + name
    for _ in range(MAX_HEAD_TOKENS):
        i = s.find(needle, pos)
        if i < 0:
            return -1
        after = i + len(needle)
        if after < len(s) and s[after] in _WS + "/>":
            return _tag_end(s, after)
        pos = i + 1
    return -1


# what a token before the body is: skipped (comment), head (the gap moves past it), the body tag,
# or content (the body starts before it; also anything left open at the end)
SKIP, HEAD, BODY, CONTENT = range(4)


class _Comments:
    """The next '-->' and '--!>' at or after a position, each searched for once (linear)."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.next = {"-->": -2, "--!>": -2}  # -2: not searched yet, -1: none left

    def end(self, pos: int) -> int:
        """End of the comment starting at `pos` ('<!--'), -1 when it runs to the end."""
        ends = []
        for needle, start in (("-->", pos + 2), ("--!>", pos + 4)):  # '<!-->' and '<!--->' close
            found = self.next[needle]
            if found == -2 or -1 < found < start:
                found = self.next[needle] = self.s.find(needle, start)
            if found >= 0:
                ends.append(found + len(needle))
        return min(ends) if ends else -1


def _end_tag(s: str, pos: int) -> tuple[int, int]:
    kind = s[pos + 2] if pos + 2 < len(s) else ""
    if kind == ">":
        return HEAD, pos + 3  # '</>' is ignored
    if not ("a" <= kind <= "z"):
        return HEAD, s.find(">", pos + 2) + 1  # a bogus comment (0: runs to the end)
    name_end = _run(_TAG_NAME, s, pos + 2)
    if s[pos + 2:name_end] in CONTENT_END_TAGS:
        return CONTENT, pos
    return HEAD, _tag_end(s, name_end)  # other end tags before the body: ignored


def _token(s: str, pos: int, comments: _Comments) -> tuple[int, int]:
    """(kind, end) of the token at `pos` (not white space); end <= 0 means it runs to the end."""
    if s[pos] != "<":
        return CONTENT, pos  # text: the body starts here
    if s.startswith("<!--", pos):
        return SKIP, comments.end(pos)
    nxt = s[pos + 1] if pos + 1 < len(s) else ""
    if nxt in ("!", "?"):  # doctype, CDATA or another bogus comment: up to the first '>'
        return HEAD, s.find(">", pos + 2) + 1
    if nxt == "/":
        return _end_tag(s, pos)
    if not ("a" <= nxt <= "z"):
        return CONTENT, pos  # a '<' that starts no tag is text
    name_end = _run(_TAG_NAME, s, pos + 1)
    name = s[pos + 1:name_end]
    if name not in HEAD_TAGS:
        return CONTENT, pos  # any other element (div, noscript, template, textarea...) opens the body
    end = _tag_end(s, name_end)
    if end > 0 and name in HEAD_TEXT:
        close = _text_end(s, end, name)
        if name == "script" and s.find("<!--", end, close if close > 0 else len(s)) >= 0:
            return CONTENT, pos  # '<!--' in a script can hide its end tag (escaped script data)
        end = close
    return (BODY if name == "body" else HEAD), end


def body_start(s: str) -> tuple[int, bool]:
    """(where the body's content starts in `s`, whether a real `<body>` tag precedes it).

    `s` is the document lower-cased in ASCII (`ascii_lower`, or bytes.lower() decoded as
    latin-1). Without a body tag the position is just after the last head token before the
    first content (comments and white space after it stay after the banner), 0 when the
    document starts with content; a construct left open at the end (a comment, a tag, a title)
    counts as content, and so does the token after MAX_HEAD_TOKENS (the bound on the work done
    per token in Python: any top-level point before the body is a visible place)."""
    n = len(s)
    pos = gap = 0
    comments = _Comments(s)
    for _ in range(MAX_HEAD_TOKENS):
        pos = _run(_WS_RUN, s, pos)
        if pos >= n:
            return gap, False
        kind, end = _token(s, pos, comments)
        if kind == CONTENT or end <= 0:
            return gap, False
        if kind == BODY:
            return end, True
        pos = end
        if kind == HEAD:
            gap = end
    return gap, False
