"""Visible text and link targets of an HTML part, in one linear pass.

Purpose: the checks read what a person would see in an HTML part (and where its links go). The
stdlib's `html.parser` rescans an incomplete tag from its start each time it looks for the end
(`<a x=` repeated 20,000 times took 32 s), and its entity decoding raises on `&#` followed by
more than 4300 digits, so this is a small tokenizer of our own that follows the WHATWG HTML
tokenizer where it matters for text extraction:

* tags (`<name attr=value ...>`, quoted values may contain `>`), end tags, comments (`<!--` to
  `-->` or `--!>`; `<!-->` and `<!--->` end at once), bogus comments (`<!...>`, `<?...>`,
  `<![CDATA[...>`, `</1...>`) up to the next `>`;
* a tag, comment or bogus comment that never ends runs to the end of the input and is dropped,
  as a browser drops it: nothing is ever rescanned;
* raw-text elements: the contents of `script`, `style`, `title`, `iframe`, `noembed`, `noframes`
  are not shown; those of `textarea`, `xmp` are (and `plaintext` turns the rest into text);
  `head` needs no rule of its own: its `title`, `style` and `script` are not shown, and any
  other content ends the head in a browser and is shown, so it is here;
* character references (`&amp;`, `&#39;`, `&#x27;`, the HTML5 named set, legacy names without
  `;`) decoded in text and attribute values; a number too large becomes U+FFFD without being
  converted;
* `href` of `a` and `area` collected as links, the first `href` of a tag counting;
* a short run of text in an element hidden by an inline style or the `hidden` attribute left
  out (see `hides`: hidden text salting); its links still collected;
* HTML's own bidi override, `<bdo dir="rtl">` or an inline style `unicode-bidi: bidi-override`
  (or `isolate-override`) with `direction: rtl` (or `dir="rtl"`), which a reader shows reversed,
  written as the Unicode override it is: U+202E ... U+202C around the element's text (again after
  each line break inside it), so the text is read in reading order and flagged like a plain
  U+202E (`gateway.textsafe.reading_order`, `text.bidi_override`; attack22 #6). The CSS read as
  a browser reads it (attack23 H1): comments and escapes (`css_text`), character references in
  the attribute, the direction inherited from the open elements that set one, and a <style>
  block's rules for a class, an id or an element type; a block's override rule for other selectors
  is not applied (no CSS engine) but counted (`HtmlResult.unapplied`, `text.bidi_override`) when
  the document says rtl.

Cost: every character of the input is examined a bounded number of times (each search resumes
where the previous one stopped and stops at the first terminator; lookahead is at most the
length of `</plaintext` or of a 32-character entity name). `html_scan` reports the work done
(`steps`, `scanned`) so tests assert linearity on counts, never on clock time.

Limits: the input is cut at `limit` characters (the caller's text budget, `max_text_bytes`);
at most `MAX_LINKS` links of at most `MAX_LINK_CHARS` characters each are kept. After
`MAX_MARKUP` tags, comments and other markup (the most in the ham and phishing corpora's 1,127
HTML parts: ~3,300; each costs this Python loop ~8 us, and 140,000 tags in 1 MB took ~1.2 s of
the event loop), or after `MAX_ATTRIBUTES` attributes in all (one tag of 20,000 attributes cost
~0.2 s), the rest is read coarsely by two regex passes in C: every `<...>` dropped (no raw-text
or comment rules) and every `href=` value kept as a link. At most `MAX_REFS` character
references are decoded (the most in those parts: ~5,100 '&'; each costs a Python call). These
budgets are the whole message's (`MarkupBudget`): every reading of every HTML part of one message
spends from one budget, so a message of many parts, each read up to three times (`html_scan`), reads
at most MAX_MARKUP tags in the Python loop in all and the rest coarsely (attack35a finding 1). A part's
<style> blocks are read once, by its first reading (the others use what it read), for at most
MAX_SHEET_CHARS characters a part and MAX_MESSAGE_SHEET_CHARS a message; past either the rest
is not read for rules and the budget is short (css36: every reading of every part read them again,
uncharged; review36 #1: past a part's own cap the rest had been dropped unsaid).

Untrusted input: the HTML of a stranger's message. Never raises on any `str`.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.entities import html5 as _HTML5
from typing import Any

MAX_HTML_CHARS = 1_048_576
MAX_LINKS = 1000
MAX_LINK_CHARS = 8192
MAX_MARKUP = 10_000
MAX_ATTRIBUTES = 4 * MAX_MARKUP
MAX_REFS = 20_000
MAX_MESSAGE_SHEET_CHARS = 262_144  # characters of <style> blocks read for their rules in all of a message's HTML
# parts (`MarkupBudget.sheet_chars`; each part's at most MAX_SHEET_CHARS): the most in the ham, phishing and test
# corpora's 5,277 messages is 55,216, in one part (css36); Word and Outlook write 95 KB of list styles into one
# (review36b #6: read past 64 KB as unread, such a message from a stranger was suspicious)


@dataclass
class MarkupBudget:
    """What the readings of one message's HTML parts may still spend in all: tags and other markup read by the
    tokenizer, attributes, character references decoded (see the module's Limits). `MessageView.text_parts` keeps one
    per message and passes it to every `html_scan`, which charges each of its readings to it (the first, the wrappers'
    and the one without style-block bidi rules); past it a reading reads its rest coarsely, as one reading past
    MAX_MARKUP did, and a second or third reading is made only when what is left covers what the first spent.
    attack35a finding 1: the budgets were a reading's own, and 240 KB of tags in 8 parts, each read three times, took
    2.2-3.3 s of the event loop. The most the ham and phishing corpora's 5,138 messages spend, every reading of every
    part counted: 3,303 markups, 8,784 attributes, 2,141 references; of style blocks, 55,216 characters (css36)."""

    markups: int = MAX_MARKUP
    attributes: int = MAX_ATTRIBUTES
    refs: int = MAX_REFS
    # characters of <style> blocks read for their rules, every part's (css36: each part's blocks were read again
    # by every reading of it and charged to no budget; 3 parts of 4,200 hiding rules each cost 0.66-1.02 s of the
    # event loop). Spent once a part (`_SheetRules`), not once a reading: the other readings share what it read
    sheet_chars: int = MAX_MESSAGE_SHEET_CHARS
    # a reading read some of its markup coarsely, left references undecoded or was not made for want of budget:
    # the text the checks read may not be what a reader sees (`message.markup_exceeded`; review35b #1: a hidden
    # first alternative of 10,000 tags spent the budget, and the shown one's approach text read clean)
    short: bool = False

    def left(self) -> tuple[int, int, int]:
        return self.markups, self.attributes, self.refs

    def affords(self, cost: tuple[int, int, int]) -> bool:
        """Whether what is left covers another reading that costs what the first cost (`left()` before it minus
        after it): read as fully as the first (one the budget cut would read its rest coarsely, every `<...>`
        dropped, and differ from the first in every line of it: noise, not another reading)."""
        return self.markups > 0 and all(now >= spent for now, spent in zip(self.left(), cost, strict=True))


_INVALID_CHARREFS: dict[int, str] = getattr(html, "_invalid_charrefs", {})
_INVALID_CODEPOINTS: set[int] = getattr(html, "_invalid_codepoints", set())

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
_SPACE_SLASH = re.compile(r"[\t\n\f\r /]*")
_SPACE = re.compile(r"[\t\n\f\r ]*")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />][^\t\n\f\r />=]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_COMMENT_END = re.compile(r"--!?>")
_CHARREF = re.compile(r"&(#[xX][0-9a-fA-F]+;?|#[0-9]+;?|[A-Za-z][A-Za-z0-9]{0,31};?)")
# the coarse reading past MAX_MARKUP: both linear (the first always matches from a '<' to the
# next '>' or the end; the second's value is bounded and needs no closing quote)
_REST_MARKUP = re.compile(r"<[^>]*>?")
_REST_HREF = re.compile(r"\bhref[\t\n\f\r ]*=[\t\n\f\r ]*"
                        r"""(?:"([^"]{0,8192})|'([^']{0,8192})|([^\t\n\f\r >]{1,8192}))""", re.IGNORECASE)
_HSPACE = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_SOURCE_BREAKS = str.maketrans("\r\n", "  ")
# a style that keeps the source's line breaks (CSS Text 3 `white-space`, Text 4 `white-space-collapse`)
_WHITE_SPACE = frozenset({"white-space", "white-space-collapse"})
_KEEP_BREAKS = [[v] for v in ("pre", "pre-wrap", "pre-line", "break-spaces", "preserve", "preserve-breaks")]
_DISPLAY, _FLOAT, _POSITION = frozenset({"display"}), frozenset({"float"}), frozenset({"position"})
_LOOSE_DISPLAYS = frozenset({"contents", "ruby", "ruby-base", "ruby-text", "math", "run-in", "inherit", "initial",
                             "unset", "revert", "revert-layer", "table-cell"})  # shown in the line, or maybe (with
# any "inline" display: `_loose`; `initial` and `unset` are inline: review29b #1)
_FLEX_DISPLAYS = frozenset({"flex", "inline-flex", "grid", "inline-grid", "-webkit-box", "-webkit-flex", "-ms-flexbox",
                            "-webkit-inline-box", "-moz-box", "box"})  # whose items may stand side by side in a row
_WIDE_KEYWORDS = frozenset({"inherit", "initial", "unset", "revert", "revert-layer"})
# the values a browser parses for the properties whose winner is read (CSS Display 3, Text 3/4, Positioned Layout 3,
# CSS 2.1 float and CSS Logical's, and prefixed displays engines still parse): another value is dropped (`_valid`)
_KEYWORDS = {
    "display": _WIDE_KEYWORDS | _LOOSE_DISPLAYS | _FLEX_DISPLAYS | {
        "none", "block", "inline", "flow", "flow-root", "table", "list-item", "inline-block", "inline-table",
        "inline-list-item", "table-row-group", "table-header-group", "table-footer-group", "table-row",
        "table-column-group", "table-column", "table-caption", "ruby-base-container", "ruby-text-container",
        "-webkit-inline-flex", "-ms-inline-flexbox", "-ms-grid", "-ms-inline-grid", "-moz-inline-box"},
    "float": _WIDE_KEYWORDS | {"none", "left", "right", "inline-start", "inline-end"},
    "position": _WIDE_KEYWORDS | {"static", "relative", "absolute", "fixed", "sticky", "-webkit-sticky"},
    "white-space": _WIDE_KEYWORDS | {"normal", "pre", "nowrap", "pre-wrap", "pre-line", "break-spaces", "collapse",
                                     "preserve", "preserve-breaks", "preserve-spaces", "wrap"},
    "white-space-collapse": _WIDE_KEYWORDS | {"collapse", "discard", "preserve", "preserve-breaks", "preserve-spaces",
                                              "break-spaces"},
}
# the keywords a value of several may combine, one from each group at most (CSS Display 3 section 2: outside, inside
# (MathML Core's `math` too: `inline math`, review30d #1), list-item, which takes flow or flow-root inside alone;
# CSS Text 4 `white-space`: collapse and wrap mode)
_KEYWORD_GROUPS = {
    "display": (frozenset({"block", "inline", "run-in"}), frozenset({"flow", "flow-root", "table", "flex", "grid",
                                                                      "ruby", "math"}), frozenset({"list-item"})),
    "white-space": (frozenset({"collapse", "discard", "preserve", "preserve-breaks", "preserve-spaces",
                               "break-spaces"}), frozenset({"wrap", "nowrap"})),
}

_HIDDEN_RAW = frozenset({"script", "style", "title", "iframe", "noembed", "noframes"})
_SHOWN_RAW = frozenset({"textarea", "xmp"})
_ENTITY_RAW = frozenset({"title", "textarea"})  # RCDATA: references decoded
_BREAK_ALONE = frozenset({"br", "hr"})  # with _BLOCKS: where a line starts (review28c #3: a blockquote, a centre or a
# definition list's start had not started one, so a short line ran into the next block's sentence)
_LINK_TAGS = frozenset({"a", "area"})
# HTML/CSS bidi override (see the module docstring): a reader shows the element's text reversed
_OVERRIDE_STYLE = re.compile(r"unicode-bidi\s*:\s*(?:bidi|isolate)-override", re.IGNORECASE)
_RTL_STYLE = re.compile(r"(?:^|[;\s{])direction\s*:\s*rtl", re.IGNORECASE)
_LTR_STYLE = re.compile(r"(?:^|[;\s{])direction\s*:\s*ltr", re.IGNORECASE)
MAX_OVERRIDES = 64  # overriding elements open at once that are written out (deeper ones are not)
# attack23 H1: CSS as a browser reads it before matching (CSS Syntax Level 3, 4.3): comments removed
# ("unicode-bidi:/**/bidi-override"; one left open runs to the end), then escapes decoded
# ("direction:\\72 tl" is rtl: up to six hex digits and one white space, or the character itself).
# Both linear: a comment match consumes to its end, an escape is at most 8 characters.
# CSS tokens read whole (CSS Syntax Level 3, 4.3): a function's name with its "(" (`url(` unquoted, its name
# escaped or not, takes the rest to its ")": `_css_tokens`), a string, an escape or a comment (review28 #5: "/*"
# inside a string is not a comment; review28b #1, #5 and review28c #1: nor a brace or "/*" inside `url(x{)` or
# `\75 rl(x{)`); linear: a name is read whole, function or not, possessively, and each alternative starts with its
# own characters and consumes to its end
_CSS_IDENT = r"(?:[-\w]|\\[0-9a-fA-F]{1,6}[ \t\n\r\f]?|\\[^\n\r\f0-9a-fA-F])"
# an escape in a string: a hex one with the one blank after it (a line break too: `"Whats\\41<LF>pp"` is one string,
# review32b #4), or any other character (a line break: the string goes on, CSS Syntax 4.3.5)
_STRING_ESCAPED = r"\\(?:[0-9a-fA-F]{1,6}(?:\r\n|[ \t\n\r\f])?|[\s\S])"
_LITERALS = (r"(?P<f>" + _CSS_IDENT + r"++)(?P<p>\()?"
             r"|\"(?:[^\"\\\n]|" + _STRING_ESCAPED + r")*+\"?|'(?:[^'\\\n]|" + _STRING_ESCAPED + r")*+'?|\\[\s\S]"
             r"|/\*[\s\S]*?(?:\*/|\Z)")
_CSS_LITERAL = re.compile(_LITERALS)
_URL_REST = re.compile(r"(?![ \t\n\r\f]*[\"'])(?:[^)\\]|\\[\s\S])*+\)?")  # an unquoted url's address and ")"
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|([^\n\r\f0-9a-fA-F]))")
_STRING_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|([^\n\r\f0-9a-fA-F])|\r\n|[\n\r\f])")  # (in a string)
# a character that a name or number token ends with (a comment after it ends the token), and one that starts or
# continues one (an escape's backslash, a sign)
_IDENT_END = re.compile(r"[-\w.%]")
_IDENT_START = re.compile(r"[-\w\\+]")
# a rule of a style block: selectors and declarations. Linear: a match starts only after a brace or at
# the start (an at-rule's block holds rules: "@media x { .r{...} }" reads ".r"), the prefix is possessive
_CSS_RULE = re.compile(r"(?:^|(?<=[{}]))([^{}]*+)\{([^{}]*+)\}")
# a selector's subject element by its class or id (".r", "span.r", "div .r", "#x") or its element type alone
# ("span", "td span"): each word is consumed once from a '.', '#', combinator or the start (linear)
_BIDI_SUBJECT = re.compile(r"([.#]-?[_a-zA-Z][-\w]*)\s*\Z|(?:^|[\s>+~])([a-zA-Z][a-zA-Z0-9-]{0,31})\s*\Z")
MAX_SHEET_CHARS = 131_072  # characters of one part's <style> blocks read for their rules (a message's: MarkupBudget)
MAX_CLASSES = 256  # classes, ids and element types with a bidi rule kept


def css_text(css: str) -> str:
    """`css` with its comments removed and its escapes decoded (CSS Syntax Level 3). A comment ends the token before
    it, so one between two characters of a name or number is read as a blank: `display:blo/**/ck` is the two words
    "blo ck", which a browser drops, not the keyword `block` (review30 #3), and `font-size:0/**/px` is no length.
    An escaped blank is a blank in a string only (`_name_unescape`). Line breaks are read as CSS Syntax 3.3 reads them
    first: CR LF, CR and FF as LF (a backslash before a CRLF in a style of a 7bit part had ended its string,
    review32b #3)."""
    if "\r" in css or "\f" in css:
        css = css.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    if "/*" in css:
        pieces: list[str] = []  # the text between comments
        at = 0
        for kind, start, end in _css_tokens(css, _CSS_LITERAL):
            if kind == "/":
                pieces.append(css[at:start])
                at = end
        if pieces:
            pieces.append(css[at:])
            kept = [pieces[0]]
            last = pieces[0][-1:]  # the last character kept
            for piece in pieces[1:]:
                if piece:
                    if _IDENT_END.match(last) and _IDENT_START.match(piece):
                        kept.append(" ")
                    kept.append(piece)
                    last = piece[-1]
            css = "".join(kept)
    if "\\" not in css:
        return css
    if '"' not in css and "'" not in css:
        return _CSS_ESCAPE.sub(_name_unescape, css)
    out: list[str] = []  # a string's escapes decode to what it shows, blanks too; the rest's to a name's characters
    at = 0
    for kind, start, end in _css_tokens(css, _CSS_LITERAL):
        if kind in "\"'":
            out += [_CSS_ESCAPE.sub(_name_unescape, css[at:start]),
                    _STRING_ESCAPE.sub(_string_unescape, css[start:end])]
            at = end
    out.append(_CSS_ESCAPE.sub(_name_unescape, css[at:]))
    return "".join(out)


def _css_tokens(css: str, pattern: re.Pattern[str]) -> Iterator[tuple[str, int, int]]:
    """(first character, start, end) of each token `pattern` finds (`_CSS_LITERAL`, `_CSS_STRUCTURE`): an unquoted
    `url(...)` whole, as "u"; other names (a function's or not) are passed over."""
    at = 0
    while (m := pattern.search(css, at)) is not None:
        start, at = m.span()
        if m.group("f") is None:
            yield m.group()[0], start, at
        elif m.group("p") is not None and _CSS_ESCAPE.sub(_css_unescape, m.group("f")).lower() == "url":
            rest = _URL_REST.match(css, at)
            at = rest.end() if rest is not None else at
            yield "u", start, at


def _string_unescape(m: re.Match[str]) -> str:
    """An escape in a string: a backslash before a line break continues the string on the next line, and the two are
    read as nothing (CSS Syntax 4.3.5: `content:"WhatsA\\<newline>pp"` shows "WhatsApp"; review32 #5)."""
    return "" if m.group(1) is None and m.group(2) is None else _css_unescape(m)


def _name_unescape(m: re.Match[str]) -> str:
    """An escape outside a string: an escaped blank is a character of the name it is in (CSS Syntax 4.3.7, 4.3.11),
    not a blank, so it is read as U+FFFD, which no keyword holds: `display:block\\9` (the old Internet Explorer
    hack) is the name "block<TAB>", which a browser drops, not the keyword `block` (review30 #3)."""
    c = _css_unescape(m)
    return "\ufffd" if c.isspace() else c


def _css_unescape(m: re.Match[str]) -> str:
    if m.group(2) is not None:
        return m.group(2)
    num = int(m.group(1), 16)
    return "\ufffd" if num == 0 or 0xD800 <= num <= 0xDFFF or num > 0x10FFFF else chr(num)


def _bidi_of(css: str) -> tuple[bool, bool | None]:
    """(whether declarations `css` (comments and escapes read) override bidi, the direction they
    set: True for rtl, False for ltr, None for none)."""
    low = css.lower()  # two finds in C screen out nearly every style
    override = "override" in low and _OVERRIDE_STYLE.search(css) is not None
    if "direction" not in low:
        return override, None
    return override, True if _RTL_STYLE.search(css) else False if _LTR_STYLE.search(css) else None


# Hidden text salting: invisible letters between the visible ones break every phrase a filter
# looks for while the reader sees ordinary text (Cisco Talos, "Seeing the unseen: how cyber
# criminals use hidden text salting", 2025; an approach salted with display:none spans scanned
# clean). An element hidden by its inline style (display:none, visibility:hidden, a zero font
# size or opacity, a zero height or width with overflow:hidden; not Outlook's mso-hide:all, which
# every other reader shows) or by
# the `hidden` attribute has its text left out -- when it is short (under MIN_HIDDEN_KEPT
# characters: salt); longer hidden text is read as before, on a line of its own, because what
# one client hides another may show (Outlook ignores some of these styles), and an approach
# hidden from us but shown to some reader must not slip through. The hiding counts only where
# no style sheet can undo it: the `hidden` attribute only in a document without <style>
# (any author rule for `display` beats it), an inline style without `!important` only in a
# document whose <style> blocks have no `!important` (which beats an inline style). Classes
# and other selectors are not read (no CSS engine): hiding by a class is read as visible.
# A hidden element's text ends at its end tag or at any end tag of _BLOCKS (HTML closes an
# inline element left open there; a block nested inside ends the hiding early: more read).
# An inline style is read declaration by declaration (CSS Syntax Level 3, 5.4.5: split at ';' outside
# strings, brackets and escapes; the name ASCII lower-case, an ending `!important` taken off the value),
# with str methods and a search for the few delimiters, every character a bounded number of times: the
# patterns before (attack24 #1) backtracked over white space after a zero value (`font-size:0` and
# 4000 spaces: 167 ms a tag, 5 s of event loop for a 198 KB message).
_ZERO_SIZE = re.compile(r"[0.]++(?:px|pt|em|rem|%)?", re.IGNORECASE)  # matched whole on a stripped value
_STYLE_DELIMITER = re.compile(r"[;\"'()\\]")
MAX_STYLE_DELIMITERS = 64  # quotes, brackets and escapes followed in one style (more: read as not hiding)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
_BLOCKS = frozenset({"p", "div", "td", "th", "tr", "table", "li", "ul", "ol", "body", "html", "section", "article",
                     "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "center", "form", "dl", "dd", "dt", "pre",
                     "listing"})
_BREAK = _BLOCKS | _BREAK_ALONE
MAX_STYLE_CHARS = 4096  # an inline style read for hiding up to this many characters
_STYLE_OPEN = re.compile(r"<style", re.IGNORECASE)
MIN_HIDDEN_KEPT = 40  # hidden text of at least this many characters (one element) is read after all
# When more than this many characters are text any style may hide (read wide, `may_hide`), the reading without
# them is offered too (`HtmlResult.visible`), for its beginning to be read first (parse.py, `MessageView.body_text`):
# 200 KB of hidden text ahead of an approach pushed it past the readers' windows (review25 #2's shape). The first
# reading keeps all of it in place: what one reader hides another may show (review26c #1).
MAX_HIDDEN_AHEAD = 500
MAX_WRAPPERS = 4096  # elements that may hide and hold another that may, read as shown by one more scan (`html_scan`)


def declarations(style: str) -> list[tuple[str, str, bool]] | None:
    """(ASCII lower-case name, value, whether !important) of the declarations of an inline style
    (its first MAX_STYLE_CHARS characters), or None when it has more than MAX_STYLE_DELIMITERS
    quotes, brackets and escapes (no reader's style: not followed, read as not hiding)."""
    style = style[:MAX_STYLE_CHARS]
    if not any(c in style for c in "\"'(\\"):
        parts = style.split(";")
    else:
        parts = []
        start = depth = 0
        skip = -1
        quote = ""
        budget = MAX_STYLE_DELIMITERS
        for m in _STYLE_DELIMITER.finditer(style):
            c, k = m.group(), m.start()
            if c != ";":
                budget -= 1
                if budget < 0:
                    return None
            if k < skip:  # escaped
                continue
            if c == "\\":
                skip = k + 2
            elif quote:
                quote = "" if c == quote else quote
            elif c in "\"'":
                quote = c
            elif c == "(":
                depth += 1
            elif c == ")":
                depth = max(0, depth - 1)
            elif depth == 0:  # ';'
                parts.append(style[start:k])
                start = k + 1
        parts.append(style[start:])
    out = []
    for part in parts:
        name, colon, value = part.partition(":")
        if not colon:
            continue
        value = value.strip()
        important = False
        if value[-9:].translate(_ASCII_LOWER) == "important" and value[:-9].rstrip().endswith("!"):
            important, value = True, value[:-9].rstrip()[:-1].rstrip()
        out.append((name.strip().translate(_ASCII_LOWER), value, important))
    return out


def hides(style: str | None, important_only: bool = False) -> bool:
    """Whether an inline style hides its element (with `important_only`, only by a declaration
    marked !important)."""
    return hides_declarations(declarations(style) if style else None, important_only)


def hides_declarations(decls: list[tuple[str, str, bool]] | None, important_only: bool = False) -> bool:
    """`hides` of a style's `declarations`."""
    if not decls:
        return False
    box = overflow = False
    for name, value, important in decls:
        low = value.translate(_ASCII_LOWER)
        if name == "overflow" and low == "hidden":
            overflow = True
        if important_only and not important:
            continue
        if (name == "display" and low == "none" or name == "visibility" and low in ("hidden", "collapse")
                or name in ("font-size", "opacity") and _ZERO_SIZE.fullmatch(value)):
            return True
        if name in ("height", "width", "max-height", "max-width") and _ZERO_SIZE.fullmatch(value):
            box = True
    return box and overflow


def reveals(style: str | None) -> bool:
    """Whether an inline style may show what an ancestor hid: `visibility:visible` under a hidden
    one, a font size under a zero one (email "ghost columns": a font-size:0 wrapper round 14px inline
    blocks); the hiding then ends at that descendant (see _Scanner.open_element: more read, never
    less than a browser shows)."""
    for name, value, _important in (declarations(style) if style else None) or ():
        if (name == "visibility" and value.translate(_ASCII_LOWER) == "visible"
                or name == "font-size" and value and not _ZERO_SIZE.fullmatch(value)
                and not _RELATIVE_SIZE.search(value.translate(_ASCII_LOWER))):
            return True
    return False


def _seals(decls: list[tuple[str, str, bool]]) -> bool:
    """Whether these declarations (`may_hide` ones) hide all an element holds, whatever a child sets: not a font
    size, visibility or colour, which a child may set again (review27c: a red row in a white-on-white table), nor
    a zero box that does not clip (its text overflows)."""
    decls = [d for d in decls if d[0] not in _UNDONE_BY_A_CHILD and d[0] not in _COLOURS]
    if not any(n == "overflow" and v.strip().lower() in ("hidden", "clip") for n, v, _i in decls):
        decls = [d for d in decls if d[0] not in _BOXES]
    return may_hide_declarations(decls)


# Media queries (Media Queries Level 4, 2): rules for print or speech alone do not apply on a screen; a print style
# sheet's `a[href]::after { content: " (" attr(href) ")" }` shows every link's address on paper only (review27 #6).
# A style block's structure is read before its escapes are decoded: a string, an escape (`\7b` is no brace,
# `\@media` no at-rule) or a comment, whole, an at-keyword, a brace or a semicolon (review28 #1: "@media print{" in
# a string or an escape opened a block that never closed); linear: each alternative starts with its own character
_CSS_STRUCTURE = re.compile(_LITERALS + r"|@" + _CSS_IDENT + r"++|[{};]")
_NOT_ON_SCREEN = re.compile(r"\s*(?:only\s+)?(?:print|speech)(?![-\w])", re.IGNORECASE)
# a start tag's attribute: its name, then its value quoted or not (HTML's tokenizer and its five blanks; review28 #2:
# " media=print" inside another attribute's quoted value is no attribute; review28b #2: nor after a no-break space)
_TAG_ATTRIBUTE = re.compile(r"""[\t\n\f\r /]*(?:([^\t\n\f\r />][^\t\n\f\r />=]*)(?:[\t\n\f\r ]*=[\t\n\f\r ]*"""
                            r"""(?:"([^"]*)"?|'([^']*)'?|([^\t\n\f\r >]*)))?)?""")


def _not_on_screen(queries: str) -> bool:
    """Whether a media query list applies to no screen: each query is for print or speech (`print`, `only print and
    (orientation: landscape)`; `not print`, `screen, print` and an unknown type are not)."""
    return all(_NOT_ON_SCREEN.match(query) for query in queries.split(",")[:64])


def _style_tag(low: str, start: int, end: int) -> tuple[int, bool]:
    """(where the `<style` start tag at `low[start:end]` (lower case) ends, whether its `media` attribute is for
    print or speech alone: `<style media="print">`). A block holding another `<style` is not (review28 #3: the
    first may be text a browser shows no tag for, a comment or an attribute value, and the block the real one)."""
    at, media = start + len("<style"), None
    while at < end and low[at] != ">":
        m = _TAG_ATTRIBUTE.match(low, at, end)
        if m is None or m.end() == at:
            break
        if m.group(1) == "media" and media is None:  # (references decoded: "print&#44;screen", review28c #2)
            media = m.group(2) or m.group(3) or m.group(4) or ""
            media = _CHARREF.sub(_attr_ref, media) if "&" in media else media
        at = m.end()
    at = min(at + 1, end)
    return at, media is not None and _not_on_screen(media) and low.find("<style", at, end) < 0


def _for_screen(sheet: str) -> str:
    """A style block (not yet decoded) without its `@media` blocks for print or speech alone; read by its
    structure (`_CSS_STRUCTURE`: not inside strings, escapes or comments); one left open runs to the end."""
    if "@" not in sheet:
        return sheet
    kept: list[str] = []
    at = depth = 0  # where the text kept next starts; how deep in blocks
    media: tuple[int, int] | None = None  # an @media rule's start and its prelude's
    skip: int | None = None  # the depth a removed block started at
    for c, start, end in _css_tokens(sheet, _CSS_STRUCTURE):
        if c == "{":
            if media is not None and _not_on_screen(css_text(sheet[media[1]:start])):
                kept.append(sheet[at:media[0]])
                skip = depth
            media = None
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
            if skip is not None and depth == skip:
                at, skip = end, None
            media = None
        elif c == ";":
            media = None
        elif c == "@" and skip is None:
            media = (start, end) if css_text(sheet[start:end]).lower() == "@media" else None
    if skip is not None:
        at = len(sheet)
    if not kept:
        return sheet
    kept.append(sheet[at:])
    return "".join(kept)


def _sheet_selector(selector: str) -> str:
    """A selector as a style block's first rule holds it, without the `<style ...>` tag and `<!--` before it. One
    pass: each turn moves an index past a tag or `<!--` and the blanks after it (it sliced and stripped the rest each
    turn: 31,000 `<>` before a rule cost 0.47 of a 0.63 s reading, review35b #3)."""
    selector = selector.strip()
    i, n = 0, len(selector)
    while i < n and selector[i] == "<":
        if selector.startswith("<!--", i):
            i += 4
        else:
            gt = selector.find(">", i)
            if gt < 0:
                return ""
            i = gt + 1
        while i < n and selector[i].isspace():
            i += 1
    return selector[i:]


def _subject_name(selector: str) -> str:
    """What a (lower-case) selector's subject names, read wide: a class, else an id, else an element type, else
    "" (any element): `p.a::before` names ".a", `td::before` "td", `[data-t]::before` "", `li:nth-child(2n+1)` "li"
    (a pseudo-class's argument is no combinator), `h|div` "div" (a namespace prefix: review30 #5, #6)."""
    bare = _PARENS.sub("", _PARENS.sub("", _ATTR_BRACKETS.sub("", _sheet_selector(selector))))
    subject = _COMBINATORS.split(bare.strip())[-1].split(":")[0].rpartition("|")[2]
    for token, prefix in ((_CLASS_TOKEN, "."), (_ID_TOKEN, "#")):
        found = token.search(subject)
        if found is not None:
            return prefix + found.group(1)
    element = _TYPE_NAME.match(subject)
    return element.group() if element is not None else ""


def _named(names: set[str], name: str, classes: str | None, ident: str | None) -> bool:
    """Whether an element of this type, classes and id is among a style block's `names` (`read_hiding`)."""
    if not names:
        return False
    if name in names or ident and "#" + ident.strip().lower() in names:
        return True
    if "*" in names and name not in _NOT_INLINE:
        return True
    return bool(classes) and any("." + c in names for c in (classes or "").lower().split()[:32])


def _hides_by_font(decls: list[tuple[str, str, bool]]) -> bool:
    """Whether these declarations hide an element's own text by a zero font size or by visibility."""
    return may_hide_declarations([d for d in decls if d[0] in _UNDONE_BY_A_CHILD])


# a font size relative to the parent's: of a zero size, zero (review26 #7: `1em`, `100%`, `inherit`)
_RELATIVE_SIZE = re.compile(r"[\d.](?:em|ex|ch|%)|^\s*(?:inherit|unset|revert|revert-layer|smaller|larger)\s*$")
# what only a child's own font size or visibility can undo: any other hiding holds for every descendant
_UNDONE_BY_A_CHILD = frozenset({"font-size", "font", "visibility"})
_SET_AGAIN = _UNDONE_BY_A_CHILD | {"display", "opacity"}  # an inline style's, beating a style block's rule
_COLOURS = frozenset({"color", "-webkit-text-fill-color", "background", "background-color"})


# `may_hide`: what may hide an element, read wide (hidden-text salting, attack24 #3; Cisco Talos, "Seasoning
# email threats with hidden text salting", 2025): any zero size in any unit or calc(), the font shorthand, a
# zero scale, a clip, a transparent colour, a far negative offset, whatever !important or a sheet says after;
# and (review25b #5) sizes and opacities too small to read, colours transparent by their alpha (CSS Color 4:
# `rgba(0,0,0,0)`, `#0000`), `-webkit-text-fill-color` (Compat Standard: it paints the glyphs over `color`),
# `filter: opacity()`, far offsets in any direction or by `translate`, exponents (CSS Values 4 numbers take
# them: `-1e4px`), a box of at most 1px that clips what overflows, text coloured as its own background,
# `content-visibility: hidden` and Outlook's `mso-hide: all`.
_FAR_OFF = re.compile(r"-\s*\d{3,}", re.IGNORECASE)
_UNIT_CHARS = "abcdefghijklmnopqrstuvwxyz%"
# the largest font size in each unit that no one reads (1px; an em or a % of a 16px default)
_TINY_FONT = {"": 1.0, "px": 1.0, "pt": 0.75, "pc": 0.0625, "q": 1.0, "mm": 0.26, "cm": 0.026, "in": 0.0104,
              "em": 0.0625, "rem": 0.0625, "ex": 0.125, "ch": 0.125, "%": 6.25, "vw": 0.05, "vh": 0.05,
              "vmin": 0.05, "vmax": 0.05}
_FAR = {"": 500.0, "px": 500.0, "pt": 375.0, "em": 30.0, "rem": 30.0, "vw": 100.0, "vh": 100.0, "%": 100.0,
        "cm": 13.0, "mm": 130.0, "in": 5.0}
TINY_ALPHA = 0.05  # an opacity or a colour's alpha below this shows nothing a reader can read


def _number(value: str) -> tuple[float, str] | None:
    """(number, lower-case unit) of a (lower-case) length, number or calc() of one: "1e-9px", "calc(.5em)",
    with str methods, at most 64 characters (see `_is_zero`); None when it is not one."""
    v = value.strip()
    if len(v) > 64:
        return None
    if v.startswith("calc(") and v.endswith(")"):
        v = v[5:-1].strip()
    num = v.rstrip(_UNIT_CHARS)  # "1e-9px": 1e-9 px; "1em": 1 em
    unit = v[len(num):]
    if not num or "_" in num or num[-1] not in "0123456789.":
        return None
    try:
        number = float(num)
    except ValueError:
        return None
    return (number, unit) if number == number and abs(number) != float("inf") else None


def _is_zero(value: str) -> bool:
    """A (lower-case) length, number or calc() of one that is zero: "0", "0.0em", "-.0q", "calc( 0px )", with str
    methods, at most 64 characters (review25b #1: a pattern for it backtracked quadratically on a run of
    zeros, 44 s for 242 KB of inline styles)."""
    v = value.strip()
    if len(v) > 64:  # no length is written so
        return False
    if v.startswith("calc(") and v.endswith(")"):
        v = v[5:-1].strip()
    v = v.lstrip("+-").rstrip(_UNIT_CHARS)
    return bool(v) and v.count(".") <= 1 and "0" in v and not v.strip("0.")


def _is_tiny_font(value: str, unitless: bool = True) -> bool:
    """A font size no one reads: zero, or under 1px in its unit (`_TINY_FONT`; unitless as px, as quirks mode
    reads it, unless not `unitless`: a line height in the font shorthand)."""
    if _is_zero(value):
        return True
    parsed = _number(value)
    if parsed is None or (not unitless and not parsed[1]):
        return False
    number, unit = parsed
    return 0 <= number <= _TINY_FONT.get(unit, -1.0)


def _is_tiny_alpha(value: str) -> bool:
    """An opacity or alpha that shows nearly nothing (`TINY_ALPHA`; a negative one is clamped to 0)."""
    parsed = _number(value)
    if parsed is None or parsed[1] not in ("", "%"):
        return False
    number, unit = parsed
    return number < (TINY_ALPHA * 100 if unit == "%" else TINY_ALPHA)


def _is_far(value: str) -> bool:
    """An offset that moves text out of any window: three or more digits negative (as before), or a length
    as far in either direction (`_FAR`)."""
    if _FAR_OFF.match(value) is not None:
        return True
    parsed = _number(value)
    return parsed is not None and abs(parsed[0]) >= _FAR.get(parsed[1], float("inf"))


def _function_args(value: str, name: str) -> list[str]:
    """The arguments of the first `name(` function in a (lower-case) value, split at commas, slashes and white
    space, at most 8 of 80 characters."""
    at = value.find(name + "(", 0, 256)
    if at < 0:
        return []
    inner = value[at + len(name) + 1:at + len(name) + 81].partition(")")[0]
    return inner.replace(",", " ").replace("/", " ").split()[:8]


def _scales_to_zero(value: str) -> bool:
    """A transform with a scale function whose first argument is zero (`_is_zero`) or under `TINY_ALPHA`."""
    at = value.find("scale", 0, 256)
    if at < 0:
        return False
    arg = value[at:at + 80].partition("(")[2]
    first = arg.split(",")[0].split(")")[0]
    parsed = _number(first)
    return _is_zero(first) or parsed is not None and not parsed[1] and abs(parsed[0]) < TINY_ALPHA


def _translates_far(value: str) -> bool:
    """A transform that translates by a far offset (`_is_far`)."""
    for name in ("translate3d", "translatex", "translatey", "translate"):
        if any(_is_far(arg) for arg in _function_args(value, name)):
            return True
    return False


def _is_transparent(value: str) -> bool:
    """A (lower-case) colour a reader cannot see: `transparent`, an alpha under `TINY_ALPHA` in a colour function
    (`rgba(0,0,0,0)`, `rgb(0 0 0 / 0%)`, hsl, hwb, lab, lch, oklab, oklch, color()) or a hex colour with one
    (`#0000`, `#00000000`)."""
    v = value.strip()
    if v == "transparent":
        return True
    if v.startswith("#"):
        digits = v[1:]
        if len(digits) in (4, 8) and all(c in "0123456789abcdef" for c in digits):
            level = int(digits[3:], 16) / 15 if len(digits) == 4 else int(digits[6:], 16) / 255
            return level < TINY_ALPHA
        return False
    paren = v.find("(", 0, 12)
    if paren < 0 or v[:paren] not in ("rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch",
                                       "color"):
        return False
    inner = v[paren + 1:paren + 121].partition(")")[0]
    if "/" in inner:
        alpha = inner.rpartition("/")[2]
    else:
        args = inner.split(",")
        if len(args) != 4:
            return False
        alpha = args[3]
    return _is_tiny_alpha(alpha)


def _colour_key(value: str) -> str:
    """A (lower-case) colour written one way: white and black by name or hex, #abc as #aabbcc."""
    v = value.strip().replace(" ", "")
    v = {"white": "#ffffff", "black": "#000000", "rgb(255,255,255)": "#ffffff", "rgb(0,0,0)": "#000000"}.get(v, v)
    if len(v) == 4 and v.startswith("#"):
        v = "#" + "".join(c * 2 for c in v[1:])
    return v


_SIZES = frozenset({"font-size", "height", "width", "max-height", "max-width", "opacity"})  # (a zero line height
# hides nothing: text overflows it, sub/sup templates use it, review26 #9)
_BOXES = frozenset({"height", "width", "max-height", "max-width"})
_OFFSETS = frozenset({"left", "top", "right", "bottom", "inset", "text-indent", "margin-left", "margin-top"})
_CLASS_TOKEN = re.compile(r"\.(-?[_a-zA-Z][-\w]{0,63})")
_ID_TOKEN = re.compile(r"#(-?[_a-zA-Z][-\w]{0,63})")
_COMBINATORS = re.compile(r"[\s>+~]+")
_PARENS = re.compile(r"\([^()]{0,1024}\)")  # a pseudo-class's argument (twice: `:is(:not(.a))`)
_TYPE_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]{0,31}")
# an attribute selector: its name, its operator and value when it names one class or id (`[class~=x]`)
_ATTR_SELECTOR = re.compile(r"\[\s*([-\w]{1,64})\s*(?:([~|^$*]?=)\s*[\"']?([-\w]{0,64}))?")
MAX_HIDING_NAMES = 32_768  # names the style blocks' hiding rules name (each takes 2 of MAX_SHEET_CHARS: never met)
# an attribute selector's brackets, a quoted value whole (`[title="] .x"]`, review27b #4 A6; up to 1,024 characters,
# review28 #4); linear: the three alternatives start with different characters, and a `[` inside ends the attempt
_ATTR_BRACKETS = re.compile(r"\[(?:\"[^\"\n]{0,1024}\"|'[^'\n]{0,1024}'|[^\]\[\"']){0,256}\]")
_BRACE = re.compile(r"[{}]")
_CSS_STRING = re.compile(r'"([^"\n]*)"|\'([^\'\n]*)\'')
_CSS_ATTR = re.compile(r"attr\(\s*([-\w]{1,64})")  # `content: attr(data-x)`: the attribute's value is shown
MAX_GENERATED_ATTRIBUTES = 4096  # attributes whose values generated content shows, and the subjects each is
# shown for, read (review26c G1; the 64 KB sheet budget bounds both: review27b #4)
# a start tag that ends an open element of these without its end tag (HTML, "in body" / "in row": li, dd, dt,
# p, and table cells and rows); the count of open blocks follows, for stray end tags (`close_element`)
_IMPLIED_END = {"li": ("li",), "dd": ("dd", "dt"), "dt": ("dd", "dt"), "td": ("td", "th"), "th": ("td", "th"),
                "tr": ("tr", "td", "th"), "p": ("p",)}
_ENDS_INSIDE = {"ul": ("li",), "ol": ("li",), "dl": ("dd", "dt"), "table": ("tr", "td", "th"), "tr": ("td", "th")}
# HTML's tree construction for the _BLOCKS elements alone (WHATWG HTML, "in body", "in table", "in row", "in cell",
# and "has an element in scope"): which end tag really ends an open block, so that text right after it starts a line,
# as a reader shows it (review28e #2: "<div>Laura</div>WhatsApp" read "LauraWhatsApp"), while an end tag HTML ignores
# (a div the cell round it closed, an li its div closed: review26d #8, review28d #2) or a block shown inline (review28d
# #1) breaks nothing (`_OpenBlocks`)
# elements not among _BLOCKS that the model keeps on its stack, none starting a line of its own: those where a search
# for an open element in scope stops (a template's content is a fragment of its own, nothing in it touches the page:
# review29 #2), and the other "special" elements an li, dd or dt start stops at (review29 #5)
_SCOPE_MARKERS = frozenset({"caption", "template", "object", "applet", "marquee", "svg", "math"})
_MARKERS = _SCOPE_MARKERS | {"address", "aside", "nav", "header", "footer", "main", "figure", "figcaption",
                             "fieldset", "details", "summary", "menu", "dir", "hgroup", "search", "button", "dialog"}
_SCOPE = frozenset({"table", "td", "th"}) | _SCOPE_MARKERS  # where a search for an open element in scope stops (MathML
# and SVG text points read as their whole element)
_LIST_SCOPE = _SCOPE | {"ol", "ul"}
_TABLE_SCOPE = frozenset({"table", "template"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_END_SEARCH = {name: (frozenset({name}), _SCOPE) for name in _BLOCKS | _MARKERS} \
    | {h: (_HEADINGS, _SCOPE) for h in _HEADINGS} | {"li": (frozenset({"li"}), _LIST_SCOPE)} \
    | {t: (frozenset({t}), _TABLE_SCOPE) for t in ("td", "th", "tr", "table")} \
    | {"template": (frozenset({"template"}), frozenset())}  # (what an end tag ends, and where the search for it stops)
_CLOSES_P = (_BLOCKS | _MARKERS) - {"td", "th", "tr", "table", "body", "html", "caption", "template", "object",
                                    "applet", "marquee", "svg", "math", "button"}  # start tags that end an open <p>
# (a table may not: in quirks mode, an email without a doctype, it does not)
_P, _CELLS, _ROW = frozenset({"p"}), frozenset({"td", "th"}), frozenset({"tr"})
_ITEMS = {"li": frozenset({"li"}), "dd": frozenset({"dd", "dt"}), "dt": frozenset({"dd", "dt"})}
_ITEM_PASSES = frozenset({"div", "p", "address"})  # an li, dd or dt start ends an open one across these alone
MAX_BLOCKS_OPEN = 256  # blocks open at once followed (deeper: no end tag starts a line from there on)
# elements whose text a browser does not show (a template's content, ruby fallback, media and canvas fallback, a
# datalist, a closed dialog: review26 #6), or may not (noscript: shown where scripts are off, as in most mail
# readers, but webmail may drop it: review26c E08)
_NEVER_SHOWN = frozenset({"template", "rp", "audio", "video", "canvas", "datalist", "dialog", "object", "noscript"})
# elements a universal selector (`p > *`) is not read as hiding: blocks (salt is inline) and the document's frame
_NOT_INLINE = _BLOCKS | _BREAK | _HIDDEN_RAW | _SHOWN_RAW | _VOID | {"head", "html", "body", "meta", "link"}


def may_hide(style: str | None) -> bool:
    """Whether a style may hide its element, read wide (see `_is_zero`): for the second reading of a
    salted text (`HtmlResult.salted`), never for the first, which `hides` decides."""
    return may_hide_declarations(declarations(style) if style else None)


_MAY_HIDE_NAMES = frozenset({"display", "visibility", "font", "transform", "translate", "scale", "zoom", "clip",
                             "clip-path", "color", "-webkit-text-fill-color", "filter", "content-visibility",
                             "mso-hide", "overflow", "background", "background-color"}) | _SIZES | _OFFSETS


def may_hide_declarations(decls: list[tuple[str, str, bool]] | None) -> bool:
    """`may_hide` of a style's `declarations`."""
    colour = background = ""
    tiny_box = clipped = False
    for name, value, _important in decls or ():
        if name not in _MAY_HIDE_NAMES:
            continue
        low = value.translate(_ASCII_LOWER).strip()
        if (name == "display" and low == "none" or name == "visibility" and low in ("hidden", "collapse")
                or name == "font-size" and _is_tiny_font(low)
                or name == "opacity" and (_is_zero(low) or _is_tiny_alpha(low))
                or name in _SIZES and _is_zero(low)
                or name == "font" and any(_is_tiny_font(t, unitless=False) or _is_zero(t)
                                          for t in low[:256].replace("/", " ").split()[:8])
                or name == "transform" and (_scales_to_zero(low) or _translates_far(low))
                or name == "scale" and _scales_to_zero(f"scale({low.split(' ')[0]})")
                or name == "translate" and any(_is_far(t) for t in low[:256].split()[:3])
                or name == "zoom" and (parsed := _number(low)) is not None and 0 < parsed[0] < TINY_ALPHA
                and parsed[1] == ""
                or name in ("clip", "clip-path") and low not in ("auto", "none", "")
                or name in ("color", "-webkit-text-fill-color") and _is_transparent(low)
                or name == "filter" and any(_is_tiny_alpha(a) for a in _function_args(low, "opacity")[:1])
                or name == "content-visibility" and low == "hidden"
                or name == "mso-hide" and low == "all"
                or name in _OFFSETS and _is_far(low)):
            return True
        if name in _BOXES and (parsed := _number(low)) is not None and parsed[1] in ("", "px") \
                and 0 <= parsed[0] <= 1:
            tiny_box = True
        elif name == "overflow" and low in ("hidden", "clip"):
            clipped = True
        elif name == "color":
            colour = _colour_key(low)
        elif name in ("background", "background-color") and low:
            background = _colour_key(low.split()[0])
    return tiny_box and clipped or bool(colour) and colour == background


_COARSE = -2  # `_Scanner.tag`: the attribute budget ran out
_TAG_END_CHARS = "\t\n\f\r />"


def _is_word_char(c: str) -> bool:
    """A letter of the Latin words salting breaks up (the cue words are English): not a digit ("0<hidden>9"
    prices), CJK (no spaces between words) or punctuation."""
    return c.isascii() and c.isalpha()


# white space and format characters a hidden run may hold without salting anything
_BLANK = " \t\n\r\f\v\u00a0\u200b\u200c\u200d\u2060\ufeff\u202e\u202c\u00ad\u034f"
# characters the view removes or joins across (parse.py: invisible code points, narrow spaces): no word ends at
# them (review26 #4: a soft hyphen or a zero-width space beside the junk hid the salting)
# (not the narrow spaces French writes: review26d #7; the bidi marks and invisible operators a character reference
# writes: review27c #4)
_IGNORED = "\u00ad\u034f\u200b\u200c\u200d\u2060\ufeff\u180e\u200e\u200f\u061c\u2061\u2062\u2063\u2064"


_DROPPED = frozenset({"Mn", "Me", "Cf"})  # what phrase matching drops: a mark, an invisible format character
_JOINERS = frozenset("\u2019\u2010\u2011")  # a typographic apostrophe, Unicode hyphens: inside a word
_SEPARATORS = frozenset(",;:.!?|/()[]{}<>\"\u00ab\u00bb\u00b7\u2022\u2013\u2014")


def _separates(c: str) -> bool:
    """Whether phrase matching reads `c` as a word break (`policy.text.words`: punctuation, symbols and spaces as it
    reads them; in ASCII the listed separators, not `'`, `-` or `_`, which join the words of a claim), save a
    typographic apostrophe or Unicode hyphen; "℡" reads "tel", and what it drops (a mark, an isolate) joins."""
    if c.isascii():
        return c in _SEPARATORS
    if c in _JOINERS:
        return False
    # (policy.text is a layer above this module: its reading is repeated here, and a test holds the two together)
    kept = "".join(x for x in unicodedata.normalize("NFKD", c.casefold())
                   if not (_classed(x) and unicodedata.category(x) in _DROPPED)).casefold()
    return kept != "" and all(_separator_char(x) for x in kept)


def _classed(x: str) -> bool:
    """Whether `policy.text`'s character classes cover this character (beyond ASCII, in its ranges)."""
    cp = ord(x)
    return 0x80 <= cp < 0x2C00 or 0x3000 <= cp < 0x3040 or 0xFE00 <= cp < 0x10000


def _separator_char(x: str) -> bool:
    """Whether `policy.text.words` reads this folded character as a word break: in ASCII anything but a letter or
    digit; beyond, punctuation, symbols, spaces and controls of the ranges its character class covers."""
    if x.isascii():
        return not x.isalnum()
    kind = unicodedata.category(x)
    return _classed(x) and (kind[0] in "PSZ" or kind == "Cc")


def _glues(c: str, after_word: bool, after: str) -> bool:
    """Whether a hidden run whose edge beside a word is `c` changes how the words round it read, so that it is
    read without too (`settle`; `after`: the shown character after it). Before a word anything but a blank does
    ("zq." or "zq›" + "WhatsApp" kept "on WhatsApp" from reading as a phrase; so does a navigation bar's hidden "|"
    right before each link, review28 #7, a reading more). After a word anything but a blank does ("on" + "›" + "
    WhatsApp", review28 #6), save a separator where reading without it would join two words (a mobile layout hides
    ", " in "Seattle, WA, USA", review27 #5) or where the line ends (a `›` or `→` hidden after a link's text,
    review27c #5)."""
    if not c or c in _BLANK:
        return False
    if not _separates(c):
        return True
    return not after_word or after != "\n" and not _is_word_char(after)


def _winning(decls: list[tuple[str, str, bool]], names: frozenset[str]) -> str:
    """The (lower-case) value of the declaration of `names` that wins in an inline style: the last valid `!important`
    one, else the last valid one ("" for none). A value CSS cannot parse is dropped, as a browser drops it, so an
    earlier one wins (`display:inline;display:blok` is inline: review29c X1)."""
    value, important = "", False
    for name, v, imp in decls:
        if name in names and (imp or not important) and _valid(name, low := v.strip().lower()):
            value, important = low, imp
    return value


def _valid(name: str, value: str) -> bool:
    """Whether a browser keeps this (lower-case) value of a property `_KEYWORDS` knows: one of its keywords, or a
    two- or three-keyword value its grammar allows (`_KEYWORD_GROUPS`: `display: inline flow-root`, `white-space:
    preserve nowrap`; `block block` and `block inherit` are dropped, review30 #2), or any function (`var()`, `if()`:
    resolved later, review30 #4); any value of another property."""
    keywords = _KEYWORDS.get(name)
    if keywords is None or "(" in value:
        return True
    words = value.split()
    if len(words) == 1:
        return words[0] in keywords
    groups = _KEYWORD_GROUPS.get(name, ())
    if not 1 < len(words) <= len(groups):
        return False
    placed = [next((i for i, group in enumerate(groups) if w in group), -1) for w in words]
    return -1 not in placed and len(set(placed)) == len(placed) and (
        name != "display" or 2 not in placed or placed.count(1) == 0 or any(w in ("flow", "flow-root") for w in words))


_UNSEEN = frozenset({"Cf", "Cn"})  # categories of characters a reader does not see (format, unassigned)
_WORD_PARTS = _UNSEEN | {"Mn", "Mc", "Me"}  # ... and marks, which belong to the letter before them


def _first_seen(text: str) -> tuple[str, bool]:
    """The first character of `text` a reader sees (not a blank, a format or an unassigned character), and whether a
    blank comes before it ("" when none: every character is examined once, and a chunk at most once)."""
    blank = False
    for c in text:
        if c.isspace():
            blank = True
        elif unicodedata.category(c) not in _UNSEEN:
            return c, blank
    return "", blank


def _may_split(before: str, word: str, text: str) -> bool:
    """Whether a line break between `before` (the last character shown; `word`, the last that is not a blank) and
    `text` may split a word, a number or a phrase a block the reading takes for one may show in the line: with no
    blank either side ("hon</div>orarium", "wa.</div>me", "7700-</div>900123"), any character before it and after it
    (format and unassigned characters aside); with a blank on either side ("your</div> views", "your </div>views"),
    a letter or digit (or a mark, or a character not seen) before and a letter or digit after (review29b #1, #2,
    review29c #1-#3, review29d #2, #3)."""
    blank = before.isspace()
    if blank:
        before = word
    after, blank_after = _first_seen(text)
    if not before or not after or before.isspace():
        return False
    if not blank and not blank_after:
        return True
    return after.isalnum() and (before.isalnum() or unicodedata.category(before) in _WORD_PARTS)


def _out_of_flow(decls: list[tuple[str, str, bool]]) -> bool:
    """Whether declarations float the element or position it absolutely (a box beside or over the line)."""
    return _winning(decls, _FLOAT) not in ("", "none") or _winning(decls, _POSITION) in ("absolute", "fixed")


def _loose(display: str, out_of_flow: bool) -> bool:
    """Whether a block with this display (`_winning`) may be shown in the line of text round it: an inline display of
    any kind (`inline-block`, `inline-flex`...), `contents`, ruby, a `var()` (unset, so inline, when it does not
    resolve), or out of flow (`_out_of_flow`)."""
    return "inline" in display or display in _LOOSE_DISPLAYS or "(" in display or out_of_flow


def _pop_to(stack: list[tuple[Any, ...]], name: str) -> None:
    """A stack of open elements (tuples that start with the name) without the innermost `name` and those above it,
    if it holds one."""
    if any(entry[0] == name for entry in stack):
        while stack and stack.pop()[0] != name:
            pass


def _line(first: int, second: int) -> int:
    """Two line breaks in one place (0 none, 1 in both readings, 2 or 3 in the first alone, 3 with the second
    reading compared): the one that breaks more."""
    return 1 if 1 in (first, second) else max(first, second)


class _OpenBlocks:
    """The _BLOCKS elements open now, as HTML's tree construction keeps them (see _END_SEARCH), innermost last, each
    with how its start tag broke the line: 0 not (shown inline), 1 in both readings, 2 in the first alone (it makes
    no box), 3 in the first alone and the second reading compared (it may be shown in the line: `loose_tag`); and
    _MARKERS, 0. `start` and `end` return how the blocks they end break the line after them (`_line`). Bounded: at
    most MAX_BLOCKS_OPEN entries, a search walks at most MAX_OVERRIDES of them; past either the reading of ends is
    given up (`lost`: no end breaks a line from there on, as before this was read)."""

    __slots__ = ("stack", "counts", "lost", "form", "inline")

    def __init__(self) -> None:
        self.stack: list[tuple[str, int, bool]] = []  # name, kind, whether it lays its items out in a row (flex, grid)
        self.counts: dict[str, int] = {}  # open, by name (a search for none open walks nothing)
        self.lost = False
        self.form = False  # HTML's form element pointer: set by a form's start, cleared by </form> alone (review29 #5)
        self.inline = 0  # other elements opened since the stack last changed, less those ended (a heading's start
        # pops an open heading only when it is HTML's current node: review29 #5)

    def inert(self, name: str) -> bool:
        """Whether a tag is read by the model: not inside a template (its content is not the page's), and not at
        all once `lost`."""
        return self.lost or bool(self.counts.get("template")) and name != "template"

    def find(self, names: frozenset[str], scope: frozenset[str], passes: frozenset[str] | None = None) -> int:
        """Where the innermost open element named `names` is, if none of `scope` (or, with `passes`, none but
        those) is open inside it; else -1."""
        for name in names:
            if self.counts.get(name):
                break
        else:
            return -1
        stack = self.stack
        i = len(stack) - 1
        stop = max(-1, i - MAX_OVERRIDES)
        while i > stop:
            name = stack[i][0]
            if name in names:
                return i
            if name in scope if passes is None else name not in passes:
                return -1
            i -= 1
        if i >= 0:
            self.lost = True
        return -1

    def pop_from(self, at: int) -> int:
        """The blocks from `at` on end: how they break the line."""
        if at < 0:
            return 0
        kind = 0
        for name, each, _row in self.stack[at:]:
            kind = _line(kind, each)
            self.counts[name] -= 1
        del self.stack[at:]
        self.inline = 0
        return kind

    def in_row(self) -> bool:
        """Whether the innermost open block lays its items out in a row (a flex or grid container, review29b #1)."""
        return bool(self.stack) and self.stack[-1][2] and not self.lost

    def start(self, name: str, kind: int, row: bool = False) -> int:
        """A block's (or _MARKERS') start tag (`kind` as in the stack): the blocks HTML ends there end."""
        if self.inert(name) or name in ("body", "html"):  # (a second <body> adds attributes; neither end pops)
            return 0
        ended = 0
        if name in _ITEMS:  # an open item ends, across a div or p only
            ended = self.pop_from(self.find(_ITEMS[name], frozenset(), _ITEM_PASSES))
        elif name in _CELLS or name == "tr":  # a cell ends (and a row, at a row's start)
            ended = self.pop_from(self.find(_CELLS, _TABLE_SCOPE))
            if name == "tr":
                ended = _line(ended, self.pop_from(self.find(_ROW, _TABLE_SCOPE)))
        elif name in _HEADINGS and self.stack and self.stack[-1][0] in _HEADINGS and not self.inline:
            ended = self.pop_from(len(self.stack) - 1)
        if name in _CLOSES_P:
            ended = _line(ended, self.pop_from(self.find(_P, _SCOPE)))
        if name == "form":
            if self.form:
                return ended  # a form while the pointer is set is ignored
            self.form = True
        if len(self.stack) >= MAX_BLOCKS_OPEN:
            self.lost = True
        else:
            self.stack.append((name, kind, row))
            self.counts[name] = self.counts.get(name, 0) + 1
            self.inline = 0
        return ended

    def other(self, opened: bool) -> None:
        """Another element's start or end tag."""
        self.inline = self.inline + 1 if opened else max(0, self.inline - 1)

    def end(self, name: str) -> int:
        """A block's (or _MARKERS') end tag: the blocks it ends end (none when HTML ignores it)."""
        if self.inert(name) or name in ("body", "html"):  # (text after </body> joins the body's last text)
            return 0
        if name == "form":
            if not self.form:
                return 0
            self.form = False
        names, scope = _END_SEARCH[name]
        at = self.find(names, scope)
        if name == "p" and at < 0:
            return 0 if self.lost else 1  # no <p> open: HTML makes an empty one, a line
        if name == "form" and 0 <= at < len(self.stack) - 1:  # HTML takes the form out, those inside stay open
            del self.stack[at]
            self.counts[name] -= 1
            return 0
        return self.pop_from(at)


def _is_alpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _numeric(ref: str) -> str:
    hexa = ref[1] in "xX"
    digits = (ref[2:] if hexa else ref[1:]).rstrip(";")
    if len(digits.lstrip("0")) > 8:  # far beyond U+10FFFF: never converted (int() of 1 MB)
        return "\ufffd"
    num = int(digits, 16 if hexa else 10)
    if num in _INVALID_CHARREFS:
        return _INVALID_CHARREFS[num]
    if num == 0 or 0xD800 <= num <= 0xDFFF or num > 0x10FFFF:
        return "\ufffd"
    if num in _INVALID_CODEPOINTS:
        return ""
    return chr(num)


def _text_ref(m: re.Match[str]) -> str:
    ref = m.group(1)
    if ref[0] == "#":
        return _numeric(ref)
    if ref in _HTML5:
        return _HTML5[ref]
    for cut in range(len(ref) - 1, 1, -1):  # legacy names without ';' ("&copy2024"); <= 32 tries
        if ref[:cut] in _HTML5:
            return _HTML5[ref[:cut]] + ref[cut:]
    return m.group(0)


def _attr_ref(m: re.Match[str]) -> str:
    ref = m.group(1)
    if ref[0] == "#":
        return _numeric(ref)
    if ref.endswith(";"):
        return _HTML5.get(ref, m.group(0))
    nxt = m.string[m.end():m.end() + 1]
    if nxt == "=" or nxt.isalnum() or ref not in _HTML5:  # "?a=1&copy=2" stays as written
        return m.group(0)
    return _HTML5[ref]


def decode_refs(text: str) -> str:
    """Character references in text decoded (linear; numbers too large become U+FFFD)."""
    return _CHARREF.sub(_text_ref, text) if "&" in text else text


@dataclass
class HtmlResult:
    text: str
    links: list[str]
    steps: int = 0  # tokenizer loop iterations (tags, text runs, attributes)
    scanned: int = 0  # characters examined by searches and matches (linearity is asserted on it)
    left_out: int = 0  # characters of hidden text left out (see hides)
    unapplied: int = 0  # style-block rules overriding bidi that could not be applied (`_Scanner.read_sheet`)
    salted: int = 0  # runs of text a style may hide between two letters of a word (hidden-text salting)
    salt_free: str = ""  # with `salted`: the lines of the text without what any style may hide (`may_hide`, style
    # blocks too) that the first reading does not have
    visible: str = ""  # with more than MAX_HIDDEN_AHEAD characters any style may hide: the text without them
    generated: str = ""  # the strings of style blocks' ::before/::after rules (CSS generated content)
    bidi_free: str = ""  # with a style block's bidi override applied: the lines read without them that differ


@dataclass(frozen=True)
class _SheetRules:
    """What one document's style blocks say, as `_Scanner.style_sheets` read them: read once a part by its first
    reading and handed to the others (`html_scan`), which read the same document and read its blocks the same way
    (css36: every reading of every part read them again, uncharged: 3 parts of 4,200 hiding rules each cost
    0.66-1.02 s of the event loop). No reading changes them: the sets and dicts are shared, read only."""

    sheets: bool
    important: bool
    classes: dict[str, tuple[bool, bool | None]]
    unapplied: int
    generated: tuple[str, ...]
    generated_attributes: dict[str, set[str]]
    inline_names: set[str]
    hide_names: set[str]
    hide_attributes: set[str]
    firm_names: set[str]


class _Scanner:
    def __init__(self, markup: str, sheet_bidi: bool = True, shown: frozenset[int] = frozenset(),
                 budget: MarkupBudget | None = None, rules: _SheetRules | None = None) -> None:
        self.s = markup
        self.budget = budget if budget is not None else MarkupBudget()  # the message's (`MarkupBudget`)
        self.shown = shown  # where the start tags of elements that may hide but are read as shown begin (`html_scan`)
        self.tag_at = 0  # where the start tag being opened begins
        self.maybe_open: list[tuple[str, int, bool]] = []  # elements that may hide open now, innermost last: name,
        # where its start tag begins, whether it hides its own text for certain (`firm_tag`)
        self.wrappers: set[int] = set()  # where the start tags of those holding another begin (`open_wrapped`)
        self.sheet_bidi = sheet_bidi  # apply style blocks' bidi rules (False: the reading without them)
        self.sheet_bidi_applied = False  # one was applied to an element that overrides (`bidi`)
        self.sheet_direction = False  # one set an element's direction
        self.generated: list[str] = []  # style blocks' ::before/::after strings (`read_generated`)
        self.generated_attributes: dict[str, set[str]] = {}  # the attributes they show (`attr()`): the names of
        # the elements they show them for (".class", "#id", a type; "": any)
        self.pending: list[tuple[str, str]] = []  # the last start tag's such attributes and values (`tag`)
        self.generated_left = MAX_SHEET_CHARS  # characters of such attributes' values left to read
        self.maybe_chars = 0  # characters of text any style may hide (the second reading)
        self.n = len(markup)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self.steps = 0
        self.scanned = 0
        self.markups = 0  # markups this reading read (the budget's are the message's)
        self.attributes = 0
        self._low: str | None = None
        self.hidden: str | None = None  # the hidden element whose text is held back (see hides)
        self.hidden_depth = 0  # its own kind of element open inside it, plus itself
        self.hidden_text: list[str] = []  # its text so far
        self.hidden_chars = 0  # its length
        self.left_out = 0  # characters of hidden text left out in all
        self.overrides: list[str] = []  # the open elements that override to RTL (innermost last)
        self.override_tag = False  # the last start tag `tag` read overrides to RTL
        # the open elements that set a direction (dir, style, a class's rule), innermost last, and
        # the last start tag's (CSS `direction` inherits; `unicode-bidi` does not: attack23 H1)
        self.directions: list[tuple[str, bool]] = []
        self.direction_tag: bool | None = None
        # ".class", "#id" or element type: a style block's `_bidi_of` for it
        self.classes: dict[str, tuple[bool, bool | None]] = {}
        self.unapplied = 0  # style-block rules that override bidi, for elements not read by class
        self._rtl: bool | None = None  # `rtl_anywhere`
        # the second reading (hidden-text salting): the element whose text a style may hide, read wide
        # (`may_hide`, a style block's hiding rules for a class, id or element type), the chunks it put in
        # `chunks`, and the runs of it between two letters of a word
        self.maybe: str | None = None
        self.maybe_depth = 0
        self.maybe_tag = False  # the last start tag `tag` read may hide its content
        self.boxless_tag = False  # ... and makes no box at all (display:none, `hidden`, `_NEVER_SHOWN`)
        self.maybe_boxless = False  # the `maybe` element makes no box
        self.firm_tag = False  # ... or hides its own text by a font size or visibility (not a wrapper that shows)
        self.sealed_tag = False  # the last start tag `tag` read hides all its content (no box, opacity 0, an
        # offset, a clip: anything but a font size, visibility or colour, which a child may set again: `_seals`)
        self.maybe_sealed = False  # the `maybe` element does: no descendant shows itself (review26 #7)
        self.maybe_chunks: set[int] = set()
        self.maybe_text = False  # it held letters since the last character shown
        self.maybe_run = ""  # its first characters
        self.maybe_last = ""  # its last character the view keeps (`_IGNORED` aside)
        self.glued = 0  # runs glued to a shown word on one side (`settle`)
        self.apart = 0  # lines left out of the second reading (a block's that may be shown in the line, `new_line`)
        self.between = 0  # runs of words between shown words of one line (`settle`)
        self.last_shown = ""  # the last character of text shown outside it
        self.last_word = ""  # the last character of text, shown or not, that is not blank (`open_wrapped`)
        self.keeps_breaks: list[tuple[str, int]] = []  # elements open now whose inline style keeps line breaks
        # (`text`), with the blocks open round them
        self.breaks_tag = False  # whether the start tag's does
        self.inline_tag = False  # whether the start tag's style shows it inline (`start_tag`)
        self.inline_names: set[str] = set()  # classes, ids and block types a style block may show in the line
        self.row_tag = False  # whether the start tag's style lays its items out in a row (flex, grid)
        self.loose_tag = False  # whether the start tag's block may be shown in the line (a style block's class may
        # show it inline, its own style inline-block or the like, a float...): its lines in the first reading alone
        self.salted = 0
        self.open_blocks: dict[str, int] = {}  # _BLOCKS elements open now, by name
        self.blocks = _OpenBlocks()  # ... as HTML keeps them, for the line after an end tag
        self.line_after = 0  # a line break owed before the next text shown (`_line`: blocks ended since)
        self.line_before = self.line_word = ""  # ... after this character, and this one not blank (`new_line`)
        self.maybe_blocks: dict[str, int] = {}  # those open round the `maybe` element when it began
        self.paused: list[Any] | None = None  # [revealing descendant, its depth, the `maybe` and depth it paused]
        self.hide_names: set[str] = set()  # ".class", "#id", element names, "*" and "@attribute" a style block may hide
        self.hide_attributes: set[str] = set()  # the attributes among them
        self.firm_names: set[str] = set()  # the subjects' names of those rules that hide their own text (firm_tag)
        if rules is None:  # the part's first reading: its style blocks read (and charged to the budget) here
            self.sheets, self.sheet_important = self.style_sheets()
            rules = _SheetRules(self.sheets, self.sheet_important, self.classes, self.unapplied, tuple(self.generated),
                                self.generated_attributes, self.inline_names, self.hide_names, self.hide_attributes,
                                self.firm_names)
        else:  # another reading of the same document: what the first read of them
            self.sheets, self.sheet_important, self.classes, self.unapplied = (
                rules.sheets, rules.important, rules.classes, rules.unapplied)
            self.generated = list(rules.generated)  # (a reading adds the attribute values they show)
            self.generated_attributes, self.inline_names = rules.generated_attributes, rules.inline_names
            self.hide_names, self.hide_attributes, self.firm_names = (
                rules.hide_names, rules.hide_attributes, rules.firm_names)
        self.rules = rules

    # -- primitives that count the characters they examine
    def find(self, needle: str, start: int, hay: str | None = None) -> int:
        k = (hay if hay is not None else self.s).find(needle, start)
        self.scanned += (k + len(needle) if k >= 0 else self.n) - start
        return k

    def match(self, pattern: re.Pattern[str], start: int) -> int:
        m = pattern.match(self.s, start)
        end = m.end() if m else start
        self.scanned += end - start + 1
        return end

    @property
    def low(self) -> str:
        if self._low is None:  # ASCII-only lower case: same length, indexes stay valid
            self._low = self.s.translate(_ASCII_LOWER)
            self.scanned += self.n
        return self._low

    def style_sheets(self) -> tuple[bool, bool]:
        """(whether the document has <style> blocks, whether one has `!important`): a linear
        pass of finds before the tokenizer (a sheet later in the document applies too). The blocks' characters
        are the message's budget's (`MarkupBudget.sheet_chars`): past it, or past MAX_SHEET_CHARS of one part, the
        rest is not read for rules and the budget is short (css36, review36 #1)."""
        if not _STYLE_OPEN.search(self.s):  # no lower-case copy (31 ms per MB of non-ASCII text)
            return False, False
        low, n = self.low, self.n
        sheets = important = False
        left = max(0, min(MAX_SHEET_CHARS, self.budget.sheet_chars))
        budget = left
        i = low.find("<style")
        while 0 <= i and (not important or budget > 0):
            sheets = True
            end = low.find("</style", i)
            end = n if end < 0 else end
            self.scanned += end - i
            important = important or low.find("important", i, end) >= 0
            tag_end, print_only = _style_tag(low, i, min(end, i + budget)) if budget > 0 else (i, True)
            if not print_only:
                sheet = css_text(_for_screen(self.s[tag_end:min(end, i + budget)]))  # decoded once for the readers
                low_sheet = sheet.translate(_ASCII_LOWER)
                self.read_sheet(low_sheet)
                self.read_hiding(low_sheet)
                if "display" in low_sheet or "float" in low_sheet or "position" in low_sheet:
                    self.read_inline(low_sheet)
                if "content" in low_sheet:
                    self.read_generated(sheet)
            budget -= end - i
            i = low.find("<style", end)
        self.budget.sheet_chars -= left - max(budget, 0)
        if budget < 0 or i >= 0:  # a budget, the message's or the part's own, left some unread: the rules read may not
            self.budget.short = True  # be what a reader reads (review36 #1: a bidi rule after a 66 KB CSS comment had
            # been dropped unsaid, the reversed approach text reading clean 2.6; the corpora's most is 55,216 in all)
        return sheets, important

    @property
    def rtl_anywhere(self) -> bool:
        """Whether "rtl" is anywhere in the document (one search, the first time asked)."""
        if self._rtl is None:
            self._rtl = "rtl" in self.low
            self.scanned += self.n
        return self._rtl

    def read_sheet(self, sheet: str) -> None:
        """The bidi rules of one style block (attack23 H1; no CSS engine): a rule whose selectors'
        subjects are all a class (".r", "span.r", "div .r"), an id ("#x") or an element type alone ("span",
        "td span"; attack24 #2) applies to those elements as their own declarations (descendant selectors
        read as the subject alone; an element's type, then class, then id, then inline style set its
        direction, as specificity orders them); a rule that overrides bidi for anything else (pseudo-classes,
        attributes, `*`) cannot be applied and is counted (`unapplied`) when the document sets a
        right-to-left direction somewhere (`text.bidi_override`)."""
        if "bidi" not in sheet and "direction" not in sheet:
            return
        self.scanned += len(sheet)
        for m in _CSS_RULE.finditer(sheet):
            override, direction = _bidi_of(m.group(2))
            if not override and direction is None:
                continue
            subjects = [_BIDI_SUBJECT.search(selector) for selector in m.group(1).split(",")]
            if all(subjects) and len(self.classes) + len(subjects) <= MAX_CLASSES:
                for subject in subjects:
                    if subject is not None:
                        name = subject.group(1) or subject.group(2)
                        was, was_direction = self.classes.get(name, (False, None))
                        self.classes[name] = (was or override, direction if direction is not None else was_direction)
            elif override and (direction or self.rtl_anywhere):  # (past MAX_CLASSES too: review26c #6)
                self.unapplied += 1

    def read_generated(self, sheet: str) -> None:
        """The strings a style block's `::before` and `::after` rules show (CSS generated content:
        docs/known-limits.md, attack25 F5 in an HTML-only message; bounded by MAX_SHEET_CHARS), and the
        attributes `attr()` shows
        (review26c G1; the values of the elements its selectors' subjects name, read wide by `tag_end`): read after
        the visible text (where a browser puts them needs selector matching, which is not done)."""
        self.scanned += len(sheet)
        for m in _CSS_RULE.finditer(sheet):
            selectors = m.group(1).lower()
            if "before" not in selectors and "after" not in selectors:
                continue
            for name, value, _important in declarations(m.group(2)) or ():
                if name == "content":  # its strings, concatenated as CSS shows them
                    text = "".join(a or b for a, b in _CSS_STRING.findall(value))
                    if text.strip():
                        self.generated.append(text)
                    for attribute in _CSS_ATTR.findall(value):  # and the attributes it shows, for the elements
                        attribute = attribute.lower()  # its selectors' subjects name (read by `tag`, review27 #4)
                        if attribute in self.generated_attributes or \
                                len(self.generated_attributes) < MAX_GENERATED_ATTRIBUTES:
                            subjects = self.generated_attributes.setdefault(attribute, set())
                            for selector in selectors.split(",")[:64]:
                                if ("before" in selector or "after" in selector) and \
                                        len(subjects) < MAX_GENERATED_ATTRIBUTES:
                                    subjects.add(_subject_name(selector))

    def read_inline(self, sheet: str) -> None:
        """The classes and ids whose elements one style block's rule may show in the line (`_loose`: `display:
        inline`, `inline-block`, a float...; the subject's own, read wide: no selector matching, review28d #1's class
        form): a block of one starts and ends its line in the first reading alone, and the second is compared
        (`loose_tag`); a block type's too (`div{display:inline}`, review29b #1)."""
        self.scanned += len(sheet)
        for m in _CSS_RULE.finditer(sheet):
            if len(self.inline_names) >= MAX_HIDING_NAMES or not ("display" in m.group(2) or "float" in m.group(2)
                                                                  or "position" in m.group(2)):
                continue
            decls = declarations(m.group(2))
            if decls is None or not _loose(_winning(decls, _DISPLAY), _out_of_flow(decls)):
                continue
            for selector in m.group(1).split(",")[:64]:
                self.scanned += len(selector)
                own = _subject_name(selector)
                if own[:1] in (".", "#") or own in _BLOCKS:  # (`div{display:inline}`: review29b #1; a subject of
                    self.inline_names.add(own)  # any type, `*`, `[data-i]`, is not read: every block read as one
                    # had text ahead of an approach read twice, review30 #1, review30c #1)

    def read_hiding(self, sheet: str) -> None:
        """The classes, ids, element types and attributes one style block's rules may hide (`may_hide`), read
        wide: every class and id a hiding rule's selectors name, each selector's element type (its subject's,
        pseudo-classes aside; `*` for any inline element) and its subject's attribute selectors (review25b #5:
        `[title=x]`, `p>*`); no cascade, for the second reading only. MAX_HIDING_NAMES bounds them (MAX_SHEET_CHARS
        keeps it from being reached)."""
        self.scanned += len(sheet)
        braces = _BRACE.finditer(sheet)  # (how deep each rule is: one inside @media may not apply, review27b #2)
        depth, brace = 0, next(braces, None)
        for m in _CSS_RULE.finditer(sheet):
            while brace is not None and brace.start() < m.start(1):
                depth = depth + 1 if brace.group() == "{" else max(0, depth - 1)
                brace = next(braces, None)
            if len(self.hide_names) >= MAX_HIDING_NAMES or not may_hide(m.group(2)):
                continue
            decls = declarations(m.group(2))
            firm = depth == 0 and decls is not None and (_hides_by_font(decls) or _seals(decls))  # (not under
            # @media: it may not apply, review27c #3)
            for selector in m.group(1).split(",")[:64]:
                self.scanned += len(selector)
                names = ["." + c for c in _CLASS_TOKEN.findall(selector)]
                names += ["#" + i for i in _ID_TOKEN.findall(selector)]
                attributes = _ATTR_SELECTOR.findall(selector)[:8]
                bare = _ATTR_BRACKETS.sub("", selector) if attributes else selector  # ("[class~=x]": no combinator)
                subject = _COMBINATORS.split(bare.strip())[-1]  # the subject's compound selector
                element = _TYPE_NAME.match(subject)
                if element is not None and subject[element.end():element.end() + 1] in ("", ":") \
                        and not (attributes and selector.rstrip().endswith("]")):  # (`span[title]` names @title)
                    names.append(element.group().lower())  # the type alone: `span.x` names .x (review26 #16)
                for attr, operator, value in attributes:
                    attr = attr.lower()
                    if attr in ("class", "id") and operator in ("=", "~=") and value:
                        names.append(("." if attr == "class" else "#") + value.lower())
                    else:
                        names.append("@" + attr)
                if not names and not attributes and (subject in ("*", "") or subject.startswith(("*:", ":"))):
                    names.append("*")  # any element (`p > *`); a class or id named in it or round it is enough
                for name in names[:16]:
                    self.hide_names.add(name)
                    if name.startswith("@"):
                        self.hide_attributes.add(name[1:])
                own = _subject_name(subject)  # its class, else id, else type (`div.preheader`: .preheader alone,
                # review27b #1) of a compound alone (not Cerberus's `img.g-img + div`, nor `:hover`): its own text
                if firm and own and subject == _sheet_selector(bare) and ":" not in subject:  # hidden, not a
                    self.firm_names.add(own)  # wrapper to read as shown (`open_wrapped`)

    def may_hide_tag(self, name: str, decls: list[tuple[str, str, bool]] | None, hidden_attribute: bool,
                     classes: str | None, ident: str | None, attribute_hit: bool, unread_style: bool = False) -> bool:
        """Whether a start tag's element may hide its text, read wide (the second reading; `unread_style`: an
        inline style not read to its end, past MAX_STYLE_CHARS or MAX_STYLE_DELIMITERS, review26 #3)."""
        if hidden_attribute or attribute_hit or unread_style or name in _NEVER_SHOWN or may_hide_declarations(decls):
            return True
        return _named(self.hide_names, name, classes, ident)

    # -- the tokenizer
    def run(self) -> None:
        s, n = self.s, self.n
        i = 0
        while i < n:
            self.steps += 1
            lt = self.find("<", i)
            if lt < 0:
                self.text(s[i:])
                return
            if lt > i:
                self.text(s[i:lt])
            if self.budget.markups <= 0:
                self.coarse(lt)
                return
            self.budget.markups -= 1
            self.markups += 1
            i = self.markup(lt)

    def coarse(self, start: int) -> None:
        """The rest from `start` read coarsely (see the module's Limits)."""
        rest = self.s[start:]
        self.budget.short = True  # only a spent budget reads coarsely
        self.scanned += 2 * len(rest)
        for m in _REST_HREF.finditer(rest):
            if len(self.links) >= MAX_LINKS:
                break
            self.start_tag("a", m.group(1) if m.group(1) is not None else m.group(2) or m.group(3) or "")
        self.chunks.append(self.decode(_REST_MARKUP.sub(" ", rest)))

    def text(self, chunk: str) -> None:
        # a browser shows a line break in the source as a space, save in <pre> or <listing> or under an inline
        # `white-space: pre` (review28b #4: "your\nviews" read as two lines lost ask.views, whose sentences end at a
        # line's end), one written as a reference too (review28c #5)
        self.scanned += len(chunk)
        text = self.decode(chunk)  # a letter written as a reference is a letter (review25b #3)
        if ("\n" in text or "\r" in text) and not self.keeps_breaks and not self.open_blocks.get("pre") \
                and not self.open_blocks.get("listing"):
            text = text.translate(_SOURCE_BREAKS)
        if self.overrides and "\n" in text:  # a line break ends an override: it goes on
            text = text.replace("\n", "\n\u202e")
        if self.line_after and self.hidden is None and (rest := text.strip(_BLANK)) and _first_seen(rest)[0]:
            self.new_line(text)  # (not before a run of format characters alone: review29c #1)
        if self.maybe is not None:
            first = len(self.chunks)
            self.maybe_text = self.maybe_text or bool(text.strip(_BLANK))
            self.maybe_chars += len(text)
            if len(self.maybe_run) < 64:
                self.maybe_run += text[:64]
            tail = text.rstrip(_IGNORED)
            if tail:
                self.maybe_last = tail[-1]
                self.note_word(tail)
            self.read_text(text, len(chunk))
            self.maybe_chunks.update(range(first, len(self.chunks)))
            return
        seen = text.strip(_IGNORED) if text else ""
        if seen:  # (a line break left here is one a reader sees: in <pre> or under `white-space: pre`)
            self.settle(seen[0])
            self.last_shown = seen[-1]
            self.note_word(seen)
        self.read_text(text, len(chunk))

    def new_line(self, text: str) -> None:
        """The line break owed after the blocks that ended (`line_after`), before `text`, shown or that may be. One
        that may split a word, a number or a phrase (`_may_split`: "hon</div>orarium", "WHATS</div>APP", "7700</div>
        900123", "your</div> views") is left out of the second reading, as junk glued to a word is (`settle`): a
        reader shows two lines, but a block the reading takes for one may be shown in the line (review29 #1, #3, #4,
        review29b #1, #2, review29c #1, #2), and the words are read together too."""
        self.chunks.append("\n\u202e" if self.overrides else "\n")
        if self.line_after != 1:  # (only blocks that make no box, or that may be shown in the line, ended: the
            self.maybe_chunks.add(len(self.chunks) - 1)  # second reading breaks nothing)
            self.apart += self.line_after == 3
        elif _may_split(self.line_before, self.line_word, text):
            self.maybe_chunks.add(len(self.chunks) - 1)
            self.apart += 1
        self.line_after, self.line_before = 0, ""

    def note_word(self, text: str) -> None:
        word = text.rstrip(_BLANK)
        if word:
            self.last_word = word[-1]

    def settle(self, after: str) -> None:
        """A run of text a style may hide ended, before `after` (a shown character, or a line break): salting when
        it held letters between two letters of a word; glued when it is glued to a word on one side only, by
        anything but a blank, save a separator after a word where the line ends or reading without it would join
        two words (`_glues`; review26 #2: junk before or after a word, "zq" + "WhatsApp"; review26d #4: "zq1",
        "zé", "zq zq", 64 letters; not signalled, as a screen reader's "Mon<span class=sr-only>day</span>" is the
        same shape, but read without it too); between when it holds a letter or digit between blanks inside a line
        of shown text (junk words between the words of a phrase, "on <span class=h>zq</span> WhatsApp": read
        without it too, not signalled: a mobile layout hides words)."""
        if self.maybe_text:
            run = self.maybe_run.strip(_IGNORED)
            before, following = _is_word_char(self.last_shown), _is_word_char(after)
            # junk of letters, or of anything glued without a blank ("7", "."; review26d #1); a hidden " | "
            # between two links is a mobile layout's separator, not salting (review26 #9)
            if before and following and (any(c.isalpha() for c in run) or not any(c in _BLANK for c in run)):
                self.salted += 1
            elif run and (before and _glues(run[0], True, after)
                          or following and _glues(self.maybe_last, False, after)):
                self.glued += 1
            elif self.last_shown not in ("", "\n") and after != "\n" and any(c.isalnum() for c in run):
                self.between += 1
        self.maybe_text, self.maybe_run, self.maybe_last = False, "", ""

    def read_text(self, text: str, size: int) -> None:
        """Decoded `text` (`size` characters as written) into the first reading (see hides)."""
        if self.hidden is None:
            self.chunks.append(text)
        elif self.hidden_chars >= MIN_HIDDEN_KEPT:  # long hidden text: read after all (see hides)
            self.chunks.append(text)
            self.hidden_chars += size
        else:
            self.hidden_text.append(text)
            self.hidden_chars += size
            if self.hidden_chars >= MIN_HIDDEN_KEPT:  # it became long: what was held back is read
                self.chunks += ["\n", *self.hidden_text]
                self.hidden_text = []

    def decode(self, chunk: str) -> str:
        """`decode_refs` while the budget of references lasts (each is a Python call)."""
        if "&" not in chunk:
            return chunk
        if self.budget.refs <= 0:
            self.budget.short = self.budget.short or _CHARREF.search(chunk) is not None
            return chunk
        count = self.budget.refs
        out, done = _CHARREF.subn(_text_ref, chunk, count=count)
        self.budget.refs -= done
        if done >= count:  # spent here: what follows in this chunk may be left as written
            self.budget.short = True
        return out

    def markup(self, lt: int) -> int:
        """Consume the markup starting at `lt` (a '<'); return where text resumes."""
        s, n = self.s, self.n
        nxt = s[lt + 1:lt + 2]
        if _is_alpha(nxt):
            name, href, end, effect = self.tag(lt + 1)
            if end == _COARSE:
                self.coarse(lt)
                return n
            if end < 0:
                return n  # EOF inside the tag: dropped, as a browser does
            self.start_tag(name, href)
            if name not in _VOID:
                self.tag_at = lt
                self.open_element(name, effect)
            if name in _HIDDEN_RAW or name in _SHOWN_RAW:
                return self.raw_text(name, end)
            if name == "plaintext":
                self.chunks.append(s[end:])
                self.scanned += n - end
                return n
            return end
        if nxt == "/":
            after = s[lt + 2:lt + 3]
            if _is_alpha(after):
                name, _href, end, _effect = self.tag(lt + 2)
                if end == _COARSE:
                    self.coarse(lt)
                self.close_element(name)
                return n if end < 0 else end  # end tags show nothing
            if after == ">":
                return lt + 3
            if after == "":
                self.chunks.append("</")
                return n
            return self.bogus(lt + 2)
        if nxt == "!":
            if s.startswith("<!--", lt):
                return self.comment(lt + 4)
            return self.bogus(lt + 2)
        if nxt == "?":
            return self.bogus(lt + 1)
        self.chunks.append("<")
        return lt + 1

    def open_element(self, name: str, effect: int) -> None:
        self.open_stacks(name)
        if name in _BLOCKS:
            for closed in _IMPLIED_END.get(name, ()):  # HTML ends an open one of these here (review26 #15)
                if self.open_blocks.get(closed):
                    self.open_blocks[closed] -= 1
            self.open_blocks[name] = self.open_blocks.get(name, 0) + 1
        self.open_block(name)
        if self.paused is not None and name == self.paused[0]:
            self.paused[1] += 1
        if self.maybe_tag and name not in _HIDDEN_RAW and name not in _SHOWN_RAW:
            self.open_wrapped(name)
        if self.maybe is None and self.maybe_tag and name not in _HIDDEN_RAW and name not in _SHOWN_RAW \
                and self.tag_at not in self.shown:
            # (a raw-text element's end tag is read by `raw_text`, not `close_element`: it would never end)
            self.maybe, self.maybe_depth, self.maybe_blocks = name, 1, dict(self.open_blocks)
            self.maybe_boxless, self.maybe_sealed = self.boxless_tag, self.sealed_tag
            if name in _BLOCKS:  # the element itself is not an ancestor of what it hides
                self.maybe_blocks[name] -= 1
        elif self.maybe is not None and effect < 0 and not self.maybe_sealed:  # a descendant that shows itself
            # (see `reveals`; under display:none, opacity:0, an offset none does: review26 #7): until it
            self.paused = [name, 1, self.maybe, self.maybe_depth]  # ends (review25b #4: an empty one first)
            self.maybe, self.maybe_depth = None, 0
        elif name == self.maybe:
            self.maybe_depth += 1
        if self.hidden is not None and effect < 0:
            self.end_hidden()  # a descendant that shows itself: from here on read (more, never less)
        elif self.hidden is None and effect > 0:
            self.hidden, self.hidden_depth, self.hidden_text, self.hidden_chars = name, 1, [], 0
        elif name == self.hidden:
            self.hidden_depth += 1

    def open_block(self, name: str) -> None:
        """`_OpenBlocks` for a start tag."""
        if name in _BLOCKS:
            kind = 0 if self.inline_tag else 2 if self.boxless_tag else 3 if self.loose_tag else 1  # (how
            # `start_tag` broke the line)
            ended = self.blocks.start(name, kind, self.row_tag)
            if kind != 1 and ended:  # the text after the blocks it ended starts a line, if its own start did not
                self.owe_line(2 if kind == 2 else ended)  # (one that makes no box ends them in the first reading
                # alone: the second reads it as absent, "<p>Wh<div hidden></div>atsApp")
        elif name in _MARKERS:
            self.owe_line(self.blocks.start(name, 0))
        elif name not in _HIDDEN_RAW and name not in _SHOWN_RAW:  # (their end tags are read by `raw_text`)
            self.blocks.other(True)

    def open_wrapped(self, name: str) -> None:
        """An element that may hide opens: when a letter of a word comes just before it, or a blank after one
        (salting, junk glued to a word or between words; no second scan for the rest), those open round it are
        wrappers that may show what they hold (review26 #8: a salted sentence inside an inline `width:0`;
        `html_scan`), unless one hides its own text for certain (`firm_tag`: nothing in it shows, or its own text
        does not)."""
        before = self.maybe_last if self.maybe is not None else self.last_shown
        if self.maybe_open and len(self.wrappers) < MAX_WRAPPERS \
                and (_is_word_char(before) or before != "" and before in _BLANK and _is_word_char(self.last_word)) \
                and not any(firm for _name, _at, firm in self.maybe_open):  # (all open round it: each may show)
            self.wrappers.update(at for _name, at, _firm in self.maybe_open)
        if len(self.maybe_open) < MAX_OVERRIDES:
            self.maybe_open.append((name, self.tag_at, self.firm_tag))

    def open_stacks(self, name: str) -> None:
        """The element on the stacks of open elements its start tag puts it on (each at most MAX_OVERRIDES)."""
        if self.breaks_tag and len(self.keeps_breaks) < MAX_OVERRIDES:
            self.keeps_breaks.append((name, sum(self.open_blocks.values())))
        if self.direction_tag is not None and len(self.directions) < MAX_OVERRIDES:
            self.directions.append((name, self.direction_tag))
        if self.override_tag and len(self.overrides) < MAX_OVERRIDES:
            self.overrides.append(name)
            self.text("\u202e")

    def close_element(self, name: str) -> None:
        for stack in (self.keeps_breaks, self.maybe_open, self.directions):  # it ends, and those left open inside
            if stack:
                _pop_to(stack, name)
        if name in _BLOCKS and self.keeps_breaks and self.open_blocks.get(name):  # an element left open inside a
            blocks = sum(self.open_blocks.values()) - 1  # block ends with it (review28d #3: a span left open kept
            while self.keeps_breaks and self.keeps_breaks[-1][1] > blocks:  # every later line break)
                self.keeps_breaks.pop()
        if name in self.overrides:  # it ends, and the elements left open inside it (at most MAX_OVERRIDES)
            while self.overrides and self.overrides.pop() != name:
                self.text("\u202c")
            self.text("\u202c")
        # an end tag of a block none is open of is ignored (HTML, "in body": any other end tag), save </p>, which
        # makes an empty paragraph (a line break); it ends neither a word nor the second reading's run (review25b #4)
        open_before = self.open_blocks.get(name, 0)
        stray = name in _BLOCKS and name != "p" and not open_before
        ended = 0
        if name in _BLOCKS or name in _MARKERS:
            ended = self.blocks.end(name)
            self.owe_line(ended)
        else:
            self.blocks.other(False)
        if open_before:
            self.open_blocks[name] = open_before - 1
            if open_before == 1:  # the last one: the items and cells left open inside it end with it
                for inner in _ENDS_INSIDE.get(name, ()):
                    self.open_blocks[inner] = 0
        boxless_end = self.maybe_boxless and name == self.maybe and self.maybe_depth <= 1
        if (ended != 0 if name in _BLOCKS and not self.blocks.lost else name in _BREAK and not stray) \
                and not boxless_end:  # the end of a block or cell that breaks the line (in the first reading at least:
            # hidden junk at an inline-block's edge is no salting, review29e #2) ends a word too
            self.settle("\n")
            self.last_shown = self.last_word = "\n"
        self.close_maybe(name, stray)
        if self.hidden is None:
            return
        if name == self.hidden:
            self.hidden_depth -= 1
        if name in _BLOCKS or self.hidden_depth <= 0:
            self.end_hidden()

    def owe_line(self, ended: int) -> None:
        """Blocks ended (`_line`, from `_OpenBlocks`): the text after them starts a line (not after a block shown
        inline or an end tag HTML ignores: review28d #1, #2), left out of the second reading where it may split a word
        (`new_line`)."""
        if ended:
            if not self.line_after:
                self.line_before, self.line_word = self.last_shown, self.last_word
            self.line_after = _line(self.line_after, ended)

    def close_maybe(self, name: str, stray: bool) -> None:
        """`close_element` for the second reading (`stray`: an end tag a browser ignores)."""
        if self.paused is not None:
            if name == self.paused[0]:
                self.paused[1] -= 1
                if self.paused[1] <= 0:  # the revealing descendant ended: the run it interrupted goes on
                    self.maybe, self.maybe_depth, self.paused = self.paused[2], self.paused[3], None
            elif name == self.paused[2] or name in _BLOCKS and not stray:
                self.paused = None
        if self.maybe is not None:
            if name == self.maybe:
                self.maybe_depth -= 1
            if self.maybe_depth <= 0 or (name in _BLOCKS and not stray
                                         and self.open_blocks.get(name, 0) < self.maybe_blocks.get(name, 0)):
                self.maybe, self.maybe_depth = None, 0  # it ended, or a block round it did

    def end_hidden(self) -> None:
        """The hidden element ended: its text left out when short, else read (see hides)."""
        if self.hidden_chars >= MIN_HIDDEN_KEPT:
            self.chunks.append("\n")
        else:
            self.left_out += self.hidden_chars
        self.hidden, self.hidden_depth, self.hidden_text, self.hidden_chars = None, 0, [], 0

    def bogus(self, start: int) -> int:
        k = self.find(">", start)
        return self.n if k < 0 else k + 1

    def comment(self, start: int) -> int:
        s = self.s
        if s.startswith(">", start):
            return start + 1
        if s.startswith("->", start):
            return start + 2
        m = _COMMENT_END.search(s, start)
        end = m.end() if m else self.n
        self.scanned += end - start
        return end

    def tag(self, start: int) -> tuple[str, str | None, int, int]:
        """(lower-case name, first href, index after '>', 1 when it hides its content (see `hides`),
        -1 when it may show what an ancestor hid (`reveals`), else 0) of the tag whose name starts
        at `start`; the index is -1 when the input ends
        inside the tag, `_COARSE` when the attribute budget ran out (the caller reads the rest
        coarsely from the tag's '<')."""
        s, n = self.s, self.n
        j = self.match(_TAG_NAME, start)
        name = s[start:j].translate(_ASCII_LOWER)
        href: str | None = None
        want_href = name in _LINK_TAGS
        seen_href = False
        style: str | None = None
        hidden_attribute = attribute_hit = False
        self.pending = []
        bidi: dict[str, str] = {}  # the first dir and class attributes (a browser ignores repeats)
        self.override_tag = False
        self.direction_tag = None
        self.maybe_tag = False
        while True:
            j = self.match(_SPACE_SLASH, j)
            if j >= n:
                return name, href, -1, 0
            if s[j] == ">":
                return name, href, j + 1, self.tag_end(name, style, hidden_attribute, attribute_hit, bidi)
            self.steps += 1
            if self.budget.attributes <= 0:  # the rest, this tag included, is read coarsely
                return name, href, _COARSE, 0
            self.budget.attributes -= 1
            self.attributes += 1
            k = self.match(_ATTR_NAME, j)
            attr = s[j:k]
            j = self.match(_SPACE, k)
            value = ""
            if j < n and s[j] == "=":
                j = self.match(_SPACE, j + 1)
                if j >= n:
                    return name, href, -1, 0
                q = s[j]
                if q in "\"'":
                    k = self.find(q, j + 1)
                    if k < 0:
                        return name, href, -1, 0
                    value, j = s[j + 1:k], k + 1
                elif q != ">":
                    k = self.match(_UNQUOTED, j)
                    value, j = s[j:k], k
            low = attr.translate(_ASCII_LOWER) if len(attr) <= 6 else ""
            if (self.hide_attributes or self.generated_attributes) and len(attr) <= 64:
                attribute_hit = self.attribute_read(attr.translate(_ASCII_LOWER), value) or attribute_hit
            if want_href and not seen_href and low == "href":
                seen_href = True
                href = value
            elif low == "style" and style is None:  # the first counts, as in a browser
                style = value
            elif low == "hidden":
                hidden_attribute = True
            elif low in ("dir", "class", "id"):
                bidi.setdefault(low, value)

    def attribute_read(self, attr: str, value: str) -> bool:
        """Whether a style block's hiding rule names this (lower-case) attribute; kept for `tag_end` if generated
        content may show it (`content: attr(x)`, `read_generated`)."""
        if attr in self.generated_attributes and self.generated_left > 0:
            self.pending.append((attr, value))
        return attr in self.hide_attributes

    def read_shown_attributes(self, name: str, classes: str | None, ident: str | None) -> None:
        """The values of the start tag's attributes that generated content shows for an element with its type,
        classes or id (a rule's subject's class, else id, else type, `_subject_name`: `p.a` for any .a; review27 #3,
        #4: every element's values were read)."""
        keys = {"", name, *("." + c for c in (classes or "").lower().split()[:32])}
        if ident:
            keys.add("#" + ident.strip().lower())
        for attr, value in self.pending:
            if self.generated_left > 0 and not keys.isdisjoint(self.generated_attributes[attr]):
                value = value[:self.generated_left]
                self.generated_left -= len(value)
                shown = _CHARREF.sub(_attr_ref, value) if "&" in value else value
                if shown.strip():
                    self.generated.append(shown)
        self.pending = []

    def tag_end(self, name: str, style: str | None, hidden_attribute: bool, attribute_hit: bool,
                bidi: dict[str, str]) -> int:
        """At a start tag's '>': its bidi state, whether it may hide (the second reading) and `tag`'s last value."""
        if self.pending:
            self.read_shown_attributes(name, bidi.get("class"), bidi.get("id"))
        if not (style or bidi or hidden_attribute or attribute_hit) and name not in _NEVER_SHOWN:
            sheets = bool(self.classes or self.hide_names)
            # (most tags: nothing to read; with style-block rules, a tag with no class, id, dir or style that no
            # rule names by its type: what the rest reads of it then, at less cost: attack35a finding 1, every tag
            # read the rules once a style block had a class rule)
            if not sheets or style is None and name not in self.classes and not _named(self.hide_names, name, None,
                                                                                       None):  # (`style=""`: unread)
                self.override_tag, self.direction_tag, self.maybe_tag, self.boxless_tag = False, None, False, False
                self.sealed_tag = self.firm_tag = self.breaks_tag = self.inline_tag = self.row_tag = False
                self.loose_tag = name in _BLOCKS and (self.blocks.in_row() or (
                    _named(self.inline_names, name, None, None) if sheets else name in self.inline_names))
                return 0
        read = None  # the style as CSS reads it: references, comments and escapes decoded
        if style:
            read = style[:MAX_STYLE_CHARS]
            read = css_text(_CHARREF.sub(_attr_ref, read) if "&" in read else read)
        self.override_tag, self.direction_tag = self.bidi(
            name, bidi.get("dir", "").strip().lower(), read, bidi.get("class"), bidi.get("id"))
        decls = declarations(style) if style else None
        wide = decls if read is None or read == style else declarations(read)  # the second reading's
        self.breaks_tag = self.inline_tag = self.row_tag = loose = False
        if wide and read is not None and ("white" in (lowered := read.lower()) or "display" in lowered
                                          or "float" in lowered or "position" in lowered):  # (finds in C first; the
            # declaration that wins, review28d #3, review28e #1, #3)
            self.breaks_tag = _winning(wide, _WHITE_SPACE).split()[:1] in _KEEP_BREAKS
            display, out_of_flow = _winning(wide, _DISPLAY), _out_of_flow(wide)
            self.row_tag = display in _FLEX_DISPLAYS
            self.inline_tag = display in ("inline", "contents") and not self.sheet_important and not out_of_flow
            loose = _loose(display, out_of_flow)  # (inline-block and the like, a float, an absolute position, inline
            # under a style block's !important rule that may set it again: their lines in the first reading alone,
            # review29 #1; email "ghost columns" are boxes side by side)
        self.loose_tag = not self.inline_tag and name in _BLOCKS and (loose or self.blocks.in_row() or bool(
            self.inline_names) and _named(self.inline_names, name, bidi.get("class"), bidi.get("id")))  # (an item of
        # a flex or grid container may stand beside the next: review29b #1)
        unread = style is not None and (wide is None or len(style) > MAX_STYLE_CHARS)
        if hidden_attribute and any(n == "display" and v.strip().lower() != "none" for n, v, _i in wide or ()):
            hidden_attribute = False  # a style's display beats `hidden` (HTML: a UA style; review27 #7, S5)
        classes, ident = bidi.get("class"), bidi.get("id")
        self.maybe_tag = self.may_hide_tag(name, wide, hidden_attribute, classes, ident, attribute_hit, unread)
        self.boxless_tag = self.maybe_tag and (hidden_attribute or name in _NEVER_SHOWN or any(
            n == "display" and v.strip().lower() == "none" for n, v, _i in wide or ()))
        # (by its own style only: a style block's rule may not apply, review27c #1, #2; selectors are not matched)
        self.sealed_tag = self.boxless_tag or self.maybe_tag and wide is not None and _seals(wide)
        self.firm_tag = self.sealed_tag or self.maybe_tag and (  # (hides its own text for certain: `open_wrapped`;
            wide is not None and _hides_by_font(wide) or _named(self.firm_names, name, classes, ident)  # a style
            and not any(n in _SET_AGAIN for n, _v, _i in wide or ()))  # block's rule counts, unless its own style
        # sets the like again: the wrapper's second scan could count false salting in hidden junk)
        return self.hiding(style, decls, hidden_attribute)

    def hiding(self, style: str | None, decls: list[tuple[str, str, bool]] | None, hidden_attribute: bool) -> int:
        """`tag`'s last value for a start tag with this inline style (and its `declarations`) and `hidden`
        attribute."""
        if style:  # read declaration by declaration (`declarations`)
            self.scanned += min(len(style), MAX_STYLE_CHARS)
        if (hidden_attribute and not self.sheets) or hides_declarations(decls, self.sheet_important):
            return 1
        return -1 if (self.hidden is not None or self.maybe is not None) and reveals(style) else 0

    def start_tag(self, name: str, href: str | None) -> None:
        if self.blocks.counts.get("template") and name in _BLOCKS:  # (a template's content is not the page's: its
            self.loose_tag = True  # blocks break no line in the second reading, review29 #2)
        if name in _BREAK and not (self.inline_tag and name not in _BREAK_ALONE) \
                and not (name == "form" and self.blocks.form):  # (a block its own style shows inline starts no
            # line: "hon<div style='display:inline'>or</div>arium", review28d #1; HTML ignores a form while its
            # pointer is set, review29 #5)
            self.chunks.append("\n\u202e" if self.overrides else "\n")
            if self.boxless_tag or name == "br" and self.maybe_tag or self.loose_tag:  # a break that makes no
                self.maybe_chunks.add(len(self.chunks) - 1)  # box (display:none) breaks no word in the second
                self.line_after = 1 if self.line_after == 1 else 0  # reading (review25b #4, review26 #17; the first
                self.apart += self.loose_tag  # breaks it), nor one a style block's class may show inline
            else:
                self.line_after, self.line_before = 0, ""
                self.settle("\n")
                self.last_shown = self.last_word = "\n"
        if href is not None and len(self.links) < MAX_LINKS:
            link = (_CHARREF.sub(_attr_ref, href) if "&" in href else href).strip()
            if link:
                self.links.append(link[:MAX_LINK_CHARS])

    def raw_text(self, name: str, start: int) -> int:
        """Contents of a raw-text element up to its end tag (or EOF)."""
        s, n = self.s, self.n
        needle = "</" + name
        j = start
        coarse_at = -1
        while True:
            self.steps += 1
            k = self.find(needle, j, self.low)
            if k < 0:
                end_text, resume = n, n
                break
            after = s[k + len(needle):k + len(needle) + 1]
            if after and after in _TAG_END_CHARS:
                _n, _h, resume, _effect = self.tag(k + 2)
                if resume == _COARSE:  # after this element's text
                    coarse_at = k
                resume = n if resume < 0 else resume
                end_text = k
                break
            if not after:
                end_text, resume = n, n
                break
            j = k + len(needle)
        if name in _SHOWN_RAW:
            body = s[start:end_text]
            if self.hidden is not None:
                self.text(body)
            else:
                if self.line_after and (rest := body.strip(_BLANK)) and _first_seen(rest)[0]:
                    self.new_line(body)
                self.scanned += len(body)
                self.chunks.append(self.decode(body) if name in _ENTITY_RAW else body)
        if coarse_at >= 0:
            self.coarse(coarse_at)
        return resume


    def bidi(self, name: str, dir_attribute: str, style: str | None, classes: str | None,
             ident: str | None = None) -> tuple[bool, bool | None]:
        """(whether a start tag overrides its text to right-to-left as a reader shows it, the direction
        it sets or None): `<bdo dir=rtl>`, or `unicode-bidi: bidi-override` (or isolate-override)
        from its inline style or a style block's rule for one of its classes, with the direction
        from the style, else the class's rule, else its `dir`, else its parent's (CSS `direction`
        inherits); the style read as CSS (comments, escapes, character references: attack23 H1)."""
        rtl = dir_attribute == "rtl"
        override, direction = False, True if rtl else False if dir_attribute == "ltr" else None
        sheet = False  # a style block's override applies to it
        if self.classes and self.sheet_bidi:  # by specificity: the type's rule, the classes', the id's
            keys = [name, *("." + klass for klass in (classes or "").lower().split()[:32])]
            if ident:
                keys.append("#" + ident.strip().lower())
            for key in keys:
                by_rule, rule_direction = self.classes.get(key, (False, None))
                self.sheet_direction = self.sheet_direction or rule_direction is not None
                sheet = sheet or by_rule
                override = override or by_rule
                direction = rule_direction if rule_direction is not None else direction
        if style:  # (already read as CSS by `tag`)
            by_style, style_direction = _bidi_of(style)
            override = override or by_style
            direction = style_direction if style_direction is not None else direction
        if name == "bdo" and rtl:
            return True, True
        inherited = direction if direction is not None else bool(self.directions and self.directions[-1][1])
        if override and (sheet or self.sheet_direction):  # (`html_scan` then reads the text without style-block
            self.sheet_bidi_applied = True  # rules too, also where a rule's direction stops a reversal (review27
        return override and inherited, direction  # #1); with no override anywhere it is the same text: a page of
        # direction rules costs no second scan)


SALT_CONTEXT = 8  # words read on either side of a word the second reading reads differently


def differing_words(first: str, second: str, key: Callable[[str], str] | None = None) -> str:
    """The passages of `second` round its words (or pairs of words) that `first` does not have, SALT_CONTEXT words
    either side, one per line (a passage keeps the line breaks inside it, and reaches into the lines round their word:
    "continue on" before a word a block's line split, "on\nWHATSAPP", review29b #1): a long part read twice pushed a
    later part's cues past the readers' windows (review25b #2), and so did one salted word in a long paragraph read
    again whole (review26 #1: 66,019 of 66,021 characters). With `key`, words are compared as `key` makes them
    (words it makes empty are left out) and `first`'s lines are one run of words (a plain part's hard wraps and
    punctuation are no differences: review30b #1)."""
    lines = first.split("\n")
    first_pairs = set[tuple[str, str]]()
    if key is None:
        first_lines, first_words = set(lines), set(first.split())
        for each in lines:  # ("paid discreetly" salted, "discreetly" elsewhere; pairs a line holds: "your\nviews" is
            words = each.split()  # not "your views", which the readers read in one sentence)
            first_pairs.update(zip(words, words[1:], strict=False))
    else:
        keyed = [k for k in map(key, first.split()) if k]
        first_lines, first_words = set(), set(keyed)
        first_pairs.update(zip(keyed, keyed[1:], strict=False))
    words, starts, marks = [], set(), []  # the second's words, where its lines start, those `first` does not have
    for line in second.split("\n"):
        line_words = line.split()
        if not line_words:
            continue
        starts.add(len(words))
        if line not in first_lines:
            marks += _marks(line_words, len(words), first_words, first_pairs, key)
        words += line_words
    out: list[str] = []
    start = end = -1
    for at in marks + [-1]:  # (-1: the last passage out)
        if at >= 0 and start >= 0 and at - SALT_CONTEXT <= end:
            end = at + SALT_CONTEXT
            continue
        if start >= 0:
            out.append("".join(("\n" if i in starts and i > start else " ") + words[i]
                               for i in range(start, min(end + 1, len(words))))[1:])
        start, end = max(0, at - SALT_CONTEXT), at + SALT_CONTEXT
    return "\n".join(out)


def _marks(line_words: list[str], at: int, first_words: set[str], first_pairs: set[tuple[str, str]],
           key: Callable[[str], str] | None) -> list[int]:
    """Where (`at` + index) a line's words that `first_words` lacks stand, or those whose pair with the word before
    (the line's first word: none) `first_pairs` lacks (`differing_words`)."""
    if key is None:
        return [at + i for i, word in enumerate(line_words)
                if not (word in first_words and (i == 0 or (line_words[i - 1], word) in first_pairs))]
    out, before = [], ""
    for i, word in enumerate(line_words):
        k = key(word)
        if not k:
            continue
        if not (k in first_words and (not before or (before, k) in first_pairs)):
            out.append(at + i)
        before = k
    return out


def _scanned(markup: str, sheet_bidi: bool = True, shown: frozenset[int] = frozenset(),
             budget: MarkupBudget | None = None, rules: _SheetRules | None = None) -> _Scanner:
    scanner = _Scanner(markup, sheet_bidi, shown, budget, rules)
    try:
        scanner.run()
    except Exception:  # defensive: keep what was extracted (no known case)
        logging.getLogger("gateway.html_text").warning("HTML extraction stopped early", exc_info=True)
    if scanner.hidden is not None:
        scanner.end_hidden()  # the input ended inside it
    return scanner


def _joined(chunks: Iterable[str]) -> str:
    """A reading's chunks as one text: runs of blanks one space, blank lines one line break."""
    return _BLANK_LINES.sub("\n", _HSPACE.sub(" ", "".join(chunks))).strip()


def _without_maybe(scanner: _Scanner) -> str:
    """The text without what any style may hide (read wide): the second reading."""
    return _joined(c for i, c in enumerate(scanner.chunks) if i not in scanner.maybe_chunks)


def html_scan(markup: str, limit: int = MAX_HTML_CHARS, budget: MarkupBudget | None = None) -> HtmlResult:
    """`html_to_text` with the other readings (`salt_free`, `visible`, `generated`, `bidi_free`) and the work
    counters. Every reading spends from `budget` (the message's, `MarkupBudget`; none: one of this call's own), the
    second and third too, which are made only when what is left covers what the first spent (`MarkupBudget.affords`;
    else the part is read once, as the first reading reads it). The style blocks are read once, by the first, whose
    rules the others read by (`_SheetRules`; css36)."""
    budget = budget if budget is not None else MarkupBudget()
    before = budget.left()
    scanner = _scanned(markup[:limit], budget=budget)
    cost = (before[0] - budget.markups, before[1] - budget.attributes, before[2] - budget.refs)
    text = _joined(scanner.chunks)
    salt_free = visible = ""
    differs = scanner.salted or scanner.glued or scanner.between or scanner.apart  # (text a style may hide, or
    # lines a block that may be shown in the line breaks, read without)
    if differs or scanner.maybe_chars > MAX_HIDDEN_AHEAD:
        kept = _without_maybe(scanner)
        if differs:  # the words round those it reads differently
            salt_free = differing_words(text, kept)
        if scanner.maybe_chars > MAX_HIDDEN_AHEAD:  # much text a style may hide: the reading without it, to read
            visible = kept  # first
    salted, steps, scanned = scanner.salted, scanner.steps, scanner.scanned
    if scanner.wrappers and not budget.affords(cost):
        budget.short = True
    elif scanner.wrappers:  # elements that may hide but may show what they hold, round others
        # that may: read once more as shown, for the salting inside them (review26 #8)
        peeled = _scanned(markup[:limit], shown=frozenset(scanner.wrappers), budget=budget, rules=scanner.rules)
        steps, scanned = steps + peeled.steps, scanned + peeled.scanned
        if peeled.salted or peeled.glued or peeled.between:
            have = set(salt_free.split("\n"))
            more = [line for line in differing_words(text, _without_maybe(peeled)).split("\n") if line not in have]
            salt_free = "\n".join(x for x in (salt_free, *more) if x)
        salted = max(salted, peeled.salted)
    generated = "\n".join(" ".join(g.split()) for g in scanner.generated) if scanner.generated else ""
    bidi_free = ""
    if scanner.sheet_bidi_applied and not budget.affords(cost):
        budget.short = True
    elif scanner.sheet_bidi_applied:  # a style block's override may not apply where it was
        # applied (no selector matching, review26c #5): read without them too (one scan: review27b #6)
        free = _scanned(markup[:limit], False, budget=budget, rules=scanner.rules)
        steps, scanned = steps + free.steps, scanned + free.scanned
        plain = _joined(free.chunks)
        first = set(text.split("\n"))
        bidi_free = "\n".join(line for line in plain.split("\n") if line not in first)
    return HtmlResult(text, scanner.links, steps, scanned, scanner.left_out, scanner.unapplied,
                      salted, salt_free, visible, generated, bidi_free)


def html_to_text(markup: str, limit: int = MAX_HTML_CHARS) -> tuple[str, list[str]]:
    """Visible text and link targets of an HTML fragment (never raises; linear time)."""
    result = html_scan(markup, limit)
    return result.text, result.links
