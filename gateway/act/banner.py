"""Warning banners: rendered from admin-editable templates, inserted into the original bytes.

Purpose: tell the reader, at the top of the message, that it looks like a covert approach, why (the
policy's reasons in plain words) and how to report it. The banner goes at the top of the main
plain-text part (text/plain, or a text subtype readers show as plain: RFC 2046 4.1.4) and where the
body of the main text/html part starts (after the real `<body>` tag, never inside a comment, title,
script or an element before it: `gateway.act.htmlstart`; each alternative of a multipart/alternative
once, of more than MAX_ALTERNATIVE_BANNERS those readers show); every other byte of the message
stays where it was, charsets and transfer encodings are kept. Signed or encrypted mail (S/MIME,
PGP/MIME) is never touched, nor a text/plain part holding inline PGP (an armour line at the start of
a line), and any doubt (malformed MIME, a charset not ASCII-compatible, base64 that even the
analysis's lenient decoder cannot read, over a size cap) means no banner in that part rather than a
damaged message; in a multipart/mixed whose texts all refuse it, or whose first part shown is not
ours to edit (a forwarded message/rfc822, a file), a text/plain part holding the banner goes ahead
(`_banner_part_added`). Base64 that is not canonical (padding missing, junk characters inside) is
read as the analysis reads it and the part is written back as canonical base64 with the banner: else
the sender would choose whether staff are warned. Charsets are read as the analysis reads them
(`gateway.charsets`: the WHATWG and IANA labels mail readers know, with Python's codecs; a label no
reader knows, `idna` or `undefined` too, gets the banner in ASCII, which every reader's fallback
charset reads); a UTF-16 or UTF-32 part gets the banner in its decoded text, encoded back in its
byte order with its BOM (a raw 7bit/8bit/binary one as base64, its Content-Transfer-Encoding field
changed to say so).

The HTML banner's inline styles are `!important` after `all:revert` (`_pinned`, the shipped
template): the sender's `<style>` cannot hide, shrink or recolour it (attack24 1b). It can still
lay a box over it or reorder the `<body>` (flex/grid) to show it below its text (docs/actions.md).

Untrusted input: the raw message and the rule reasons (which may quote a stranger's text: they
are cleaned to one line and HTML-escaped). Templates are admin input, validated at load.
"""

from __future__ import annotations

import binascii
import dataclasses
import html
import re
import string
import textwrap
import unicodedata
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from gateway.act import transfer
from gateway.act.headers import clean_text
from gateway.act.htmlstart import ascii_lower, body_start
from gateway.charsets import python_codec, sniff_bom
from gateway.errors import AdminInputError
from gateway.mimewalk import Entity, MimeError, walk
from gateway.model import Decision, Verdict
from gateway.parse import bounded_parse, header_fields

SHIPPED_TEMPLATES = Path(__file__).resolve().parent.parent / "data"
HTML_MARKER = "<!--approach-gateway-banner-->"
MAX_REASONS = 5
MAX_PART_BYTES = 2 * 1024 * 1024
# the text alternatives of one multipart/alternative given the banner: the first ones, and past this many only those
# readers show (`_alternatives_shown`); cpu45 #1: each of a stranger's 499 alternatives took it, 150 ms on the event
# loop and 43 KB relayed as 1.4 MB
MAX_ALTERNATIVE_BANNERS = 8
# the whole message's: past this many, the first MAX_ALTERNATIVE_BANNERS and what readers show of each alternative
# (`_capped`). The cap above is each alternative's, and one nested in another's last branch kept its own: 18 levels of
# 8 alternatives took 145 banners, 9 KB relayed as 403 KB, 74-100 ms on the event loop (review45 #2)
MAX_BANNERS = 3 * MAX_ALTERNATIVE_BANNERS
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
PROTECTED_TYPES = frozenset({
    "multipart/signed", "multipart/encrypted", "application/pkcs7-mime",
    "application/x-pkcs7-mime", "application/pkcs7-signature", "application/x-pkcs7-signature",
    "application/pgp-encrypted", "application/pgp-signature",
})
# text subtypes that readers show with a format of their own, or not as the message's text: every
# other text/* part is shown as plain text (RFC 2046 4.1.4: "Unrecognized subtypes of text should be
# treated as subtype plain"), and the analysis reads it (gateway.parse): it gets the plain banner
FORMATTED_TEXT = frozenset({
    "html", "enriched", "richtext", "rtf", "calendar", "x-vcalendar", "vcard", "x-vcard", "directory",
    "csv", "tab-separated-values", "xml", "xml-external-parsed-entity", "sgml", "css", "javascript",
    "ecmascript", "rfc822-headers", "uri-list", "troff", "vtt", "x-amp-html", "x-watch-html",
})
_ARMOUR_LINE = re.compile(rb"(?m)^-----BEGIN PGP [^\r\n]+-----[ \t\r]*$")
_STYLE = {
    Verdict.CAUTION: ("Caution: this message shows some signs of an unsolicited approach.",
                      "#fff4e5", "#a35a00"),
    Verdict.SUSPICIOUS: ("Suspicious: this message may be a covert approach.", "#fdecea", "#b3261e"),
    Verdict.HIGH: ("Warning: this message is very likely a covert approach.", "#f9d2d0", "#8c1d18"),
}
_INTRO = ("Take care before you reply, open links or attachments, move the conversation to "
          "another app, or share anything about your work.")
_ASCII_MAP = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " "})


# A banner line that begins with "-": written into a 7bit text of a multipart whose boundary is made of dashes, the
# shipped template's rule line (70 of them) was that multipart's close delimiter to readers that match delimiter lines
# by prefix (Dovecot; review38b #1: the edit then had to be refused, and a stranger chose no banner with one
# parameter). Every such line of a rendered banner begins with a space instead: no line of it is a delimiter.
_UNDELIMITED = re.compile(r"(?m)^-")


class TemplateError(AdminInputError):
    """A banner template is unreadable or uses an unknown $placeholder."""


@dataclass(frozen=True)
class Templates:
    plain: str
    html: str

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Templates:
        """banner.txt / banner.html from `directory`, falling back to the shipped ones."""
        texts = []
        for name in ("banner.txt", "banner.html"):
            path = Path(directory) / name if directory else None
            if path is None or not path.is_file():
                path = SHIPPED_TEMPLATES / name
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateError(f"{path}: cannot read banner template ({exc}); "
                                    "fix the file or remove it to use the shipped one") from exc
        t = cls(plain=texts[0], html=texts[1])
        t.render(Decision(Verdict.HIGH, 10.0), "mailto:x@example.org")  # validates placeholders
        return t

    def render(self, decision: Decision, report_link: str | None) -> Banner:
        return render(self, decision, report_link)


@dataclass(frozen=True)
class Banner:
    """The rendered banner for one message (text with "\\n" line breaks)."""

    plain: str
    html: str

    @property
    def plain_ascii(self) -> str:
        return ascii_fallback(self.plain)


def ascii_fallback(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_ASCII_MAP))
    text = "".join(c for c in text if not unicodedata.combining(c))
    # (an em dash or a full-width hyphen becomes "-": a line of them begins with a space, as in `render`: review38c #3)
    return _UNDELIMITED.sub(" -", text.encode("ascii", "replace").decode("ascii"))


def _reasons(decision: Decision) -> list[str]:
    seen: list[str] = []
    for hit in decision.hits:
        reason = clean_text(hit.reason or hit.rule_id, 160)
        if reason and reason not in seen:
            seen.append(reason)
    if not seen:
        seen.append(clean_text(decision.note, 160) if decision.note else
                    "the overall combination of signals in this message")
    extra = len(seen) - MAX_REASONS
    seen = seen[:MAX_REASONS]
    if extra > 0:
        seen.append(f"and {extra} more (see the X-Approach-Reasons header)")
    return seen


def _fill(template: str, values: dict[str, str]) -> str:
    lines = []
    for line in template.splitlines():
        name = line.strip().lstrip("$").strip("{}")
        if line.strip().startswith("$") and values.get(name, None) == "":
            continue  # a placeholder alone on its line that rendered empty: drop the line
        lines.append(line)
    try:
        return string.Template("\n".join(lines) + "\n").substitute(values)
    except (KeyError, ValueError) as exc:
        raise TemplateError(f"banner template: unknown or malformed placeholder {exc}; "
                            f"use {', '.join('$' + k for k in sorted(values))}") from None


def _pinned(style: str) -> str:
    """An inline style for an element inside the HTML banner that no style sheet of the sender's
    can change: `style` as written (for readers that drop `!important` declarations), then every
    property reverted to the reader's defaults and `style` again, all `!important`. An important
    declaration in a style attribute beats every important rule of a sheet (CSS Cascade 4, 6.1:
    element-attached styles), `all` covers every property but `direction` and `unicode-bidi`,
    which are set too; inherited ones come from the banner's table, which starts from `all:initial`
    (`gateway/data/banner.html`): a `<style>` in the message cannot hide, shrink or recolour the
    banner while the sender's own text stays (attack24 1b); a reordered `<body>` can move it below."""
    important = "".join(f"{d.strip()}!important;" for d in style.split(";") if d.strip())
    return f"{style}all:revert!important;{important}direction:ltr!important;unicode-bidi:normal!important;"


MAX_ESCAPED_REASON = 640  # octets of one reason in the HTML banner, its <li> line then stays under 998


def _escaped_within(reason: str, budget: int = MAX_ESCAPED_REASON) -> str:
    """`reason` HTML-escaped, cut to at most `budget` octets as it may end up in a part: escaping
    multiplies a quote sixfold, and a non-ASCII letter in a part whose charset lacks it becomes a
    character reference of up to 10 octets (review24: 160 quotes of a stranger's address list put
    the <li> line at 1,068). One pass over at most 160 characters."""
    out: list[str] = []
    used = 0
    for ch in reason:
        piece = html.escape(ch)
        used += len(piece) if ch.isascii() else 10
        if used > budget:
            out.append("...")
            break
        out.append(piece)
    return "".join(out)

def render(templates: Templates, decision: Decision, report_link: str | None) -> Banner:
    headline, background, accent = _STYLE.get(decision.verdict, _STYLE[Verdict.CAUTION])
    reasons = _reasons(decision)
    plain_reasons = "\n".join(textwrap.fill(r, 72, initial_indent=" - ", subsequent_indent="   ")
                              for r in reasons)
    esc = html.escape
    # one reason a line: the pinned styles would take six reasons past a line's 998 octets (RFC 5322 2.1.1)
    html_reasons = (f'<ul style="{_pinned("margin:6px 0 6px 20px;padding:0;")}">\n'
                    + "\n".join(f'<li style="{_pinned("margin:0;")}">{_escaped_within(r)}</li>' for r in reasons)
                    + "</ul>")
    link = report_link or ""
    common = {"verdict": decision.verdict.word, "VERDICT": decision.verdict.word.upper(),
              "headline": headline, "intro": textwrap.fill(_INTRO, 72), "link": link,
              "background": background, "accent": accent}
    plain = _fill(templates.plain, {**common, "reasons": plain_reasons,
                                    "report": f"Report it: {link}" if link else ""})
    html_report = (f'<a href="{esc(link, quote=True)}" style="{_pinned(f"color:{accent};font-weight:bold;")}">'
                   "Report this message</a>" if link else "")
    markup = _fill(templates.html, {**common, "headline": esc(headline), "intro": esc(_INTRO),
                                    "reasons": html_reasons, "report": html_report,
                                    "link": esc(link, quote=True)})
    return Banner(plain=_UNDELIMITED.sub(" -", plain), html=_UNDELIMITED.sub(" -", markup))


# --------------------------------------------------------------------------- insertion

_SEALING = frozenset({"multipart/signed", "multipart/encrypted"})
_SHOWN_UNEDITED = _SEALING | {"application/pkcs7-mime", "application/x-pkcs7-mime"}


def _protected(root: Entity, found: list[Entity]) -> bool:
    """Whether a banner would break a signature or an encryption: the message is signed or encrypted as a whole
    (its root one of PROTECTED_TYPES), or a part the banner goes into lies inside a multipart/signed or
    multipart/encrypted. A signature part anywhere else covers nothing: a stray application/pgp-signature beside
    the text of a multipart/mixed had switched the banner off at the sender's wish (attack35b #2)."""
    if root.content_type in PROTECTED_TYPES:
        return True
    covered: set[int] = set()
    stack = [(root, False)]
    while stack:
        entity, inside = stack.pop()
        inside = inside or entity.content_type in _SEALING
        if inside:
            covered.add(id(entity))
        stack += [(child, inside) for child in entity.children]
    return any(id(t) in covered for t in found)


def inline_pgp(content: bytes) -> bool:
    """Whether decoded text holds an OpenPGP armour header line (`-----BEGIN PGP ...-----` at
    the start of a line), as a clear-signed or inline-encrypted message does; the string
    anywhere else (in the middle of a line, in HTML) does not count. Linear: a match starts only
    at a line start with the armour's prefix, and reads that line only."""
    return _ARMOUR_LINE.search(content) is not None


def shown_as_plain(entity: Entity) -> bool:
    """Whether readers show this part as plain text: text/plain, and a text subtype they do not
    recognise (text/x-note, text/markdown ...: RFC 2046 4.1.4), not one with a format of its own."""
    return entity.maintype == "text" and entity.content_type[5:] not in FORMATTED_TEXT


def targets(entity: Entity, raw: bytes | None = None, *, head: bool = False) -> list[Entity]:
    """The parts a reader sees first: every text alternative of the main body (of more than MAX_ALTERNATIVE_BANNERS,
    `_alternatives_shown`; text/html, and
    every text part shown as plain text). With the message's bytes, a multipart/mixed's first part
    whose text is blank is passed over for the next one with text: readers show the parts of a
    mixed one after another, so the text a reader sees first is the next part's (review35 #6: an
    empty text/plain ahead of the approach kept the banner out); when the reader shows something
    first that is not ours to edit (a forwarded message, a file, a signed part), or no later part
    has text, the blank part itself (review36 #6, review37b #2). `head`: a part holding the banner
    can go ahead of this entity (the top multipart/mixed and the parts first in it,
    `_banner_part_added`); there, what a reader shows first that is not ours to edit gives none
    (the part goes ahead of it), elsewhere the next text below it, as before (review38 #2)."""
    if entity.is_attachment:
        return []
    ctype = entity.content_type
    if ctype == "text/html" or shown_as_plain(entity):
        return [entity]
    if ctype == "multipart/alternative":
        branches = [got for child in entity.children if (got := targets(child, raw))]  # (none at the head)
        found = [t for got in branches for t in got]
        return found if len(found) <= MAX_ALTERNATIVE_BANNERS else _alternatives_shown(found, branches[-1], raw)
    if entity.maintype == "multipart" and entity.children:
        # mixed, related, report...: the first part, passing over a multipart the walk read as one
        # opaque part (no usable boundary: a reader shows nothing of it, attack22)
        shown = [c for c in entity.children if c.maintype != "multipart" or c.children] or entity.children[:1]
        found = targets(shown[0], raw, head=head)
        if raw is None or ctype != "multipart/mixed" or not _blank(raw, found):
            return found
        if found and shown[0].maintype == "multipart":
            return found  # a multipart shown first decided what its reader sees first (review37b #2: nested in
            # another mixed, a blank part and a forwarded message had sent the banner to a text below them)
        if head and not found and not shown[0].is_attachment:
            # what the reader shows first is not ours to edit (a forwarded message, a file shown inline): none here,
            # `_banner_part_added` puts a part ahead of it (review37b #1: the banner had gone to a text below it)
            return []
        # the next part with text, unless the reader shows something first that is not ours to edit: an inline
        # forwarded message, a file (Apple Mail sends them inline), a signed or encrypted part (a banner would
        # break it); then the blank part itself, what the reader sees first (review36 #6; review37b #2: the
        # banner had gone into a short text below the forwarded approach)
        for child in shown[1:]:
            if child.is_attachment:
                continue  # listed apart, not shown in the flow
            if (child.maintype == "message" or child.content_type in _SHOWN_UNEDITED or _named(child)
                    or child.maintype not in ("text", "multipart")):
                break  # (an image shown inline, unnamed, too: the banner had gone to a text below it)
            got = targets(child, raw, head=head)
            if child.maintype == "multipart" and (got or head):
                # a nested multipart decided what its reader sees first: its blank part, or (at the head, []) what is
                # not ours to edit, a part going ahead of everything (review38b #2: behind a blank part or an
                # attachment, a nested forwarded message had sent the banner to a text below it)
                return got
            if got and not _blank(raw, got):
                return got
        return found
    return []


def _named(entity: Entity) -> bool:
    """Whether a part carries a file name (Content-Disposition filename or Content-Type name): a file, whatever its
    disposition says; the banner never edits one (review36 #7). A multipart is no file, whatever its parameters say
    (review36b #5: a name= on a multipart/alternative had kept the banner off the text inside it)."""
    if entity.maintype == "multipart" or entity.children:
        return False
    try:
        return bool(entity.headers.get_filename() or entity.headers.get_param("name"))
    except Exception:  # noqa: BLE001 - a stranger's parameters: read as a file, left alone
        return True


def _blank(raw: bytes, found: list[Entity]) -> bool:
    """Whether the parts found hold no text: none, or each body empty or white space."""
    return all(not raw[t.body_start:t.end].strip() for t in found)


def _encode(text: str, codec: str, eol: bytes, seven_bit: bool, html_text: bool) -> bytes:
    text = text.replace("\n", eol.decode("ascii"))
    if html_text:
        data = text.encode(codec, "xmlcharrefreplace")
        return text.encode("ascii", "xmlcharrefreplace") if seven_bit and not data.isascii() else data
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        return ascii_fallback(text).encode("ascii")
    return ascii_fallback(text).encode("ascii") if seven_bit and not data.isascii() else data


def _plain_inserter(banner: Banner, codec: str, seven_bit: bool,
                    default_eol: bytes) -> transfer.Inserter:
    def insert(content: bytes) -> bytes | None:  # (inline PGP was ruled out by `_edit`)
        eol = transfer.line_ending(content) if b"\n" in content[:65536] else default_eol
        data = _encode(banner.plain, codec, eol, seven_bit, False)
        return None if content.startswith(data) else data + content
    return insert


def _ascii_point(content: bytes) -> int:
    """Where the banner goes in ASCII-compatible HTML (`htmlstart.body_start`)."""
    return body_start(content.lower().decode("latin-1"))[0]  # bytes.lower(): ASCII only


def _html_position(content: bytes, codec: str) -> int | None:
    if not transfer.is_stateful(codec):
        return _ascii_point(content)
    try:
        text = content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    prefix = text[:body_start(ascii_lower(text))[0]].encode(codec)
    return len(prefix) if content.startswith(prefix) else None


def _bannered(content: bytes, pos: int, data: bytes) -> bool:
    """Whether this very banner is already at `pos` (a second pass through the gateway). The
    marker alone does not count: a sender could write it to suppress the banner."""
    head = content[pos:pos + len(data) + 64]
    return head.lstrip(b" \t\r\n\f").startswith(data.strip(b" \t\r\n\f"))


def _html_inserter(banner: Banner, codec: str, seven_bit: bool,
                   default_eol: bytes) -> transfer.Inserter:
    def insert(content: bytes) -> bytes | None:
        pos = _html_position(content, codec)
        if pos is None:
            return None
        eol = transfer.line_ending(content) if b"\n" in content[:65536] else default_eol
        data = _encode(banner.html, codec, eol, seven_bit, True)
        if _bannered(content, pos, data):
            return None
        return content[:pos] + eol + data + content[pos:]
    return insert


def _decoded(body: bytes, cte: str) -> bytes | None:
    if cte == "quoted-printable":
        return binascii.a2b_qp(body)
    if cte == "base64":
        read = transfer.b64_decode(body)
        return None if read is None else read[0]
    return body


def _head(body: bytes, cte: str) -> bytes:
    """The first decoded bytes of a body, enough for a byte order mark (a 4 KiB prefix decoded
    leniently, as the analysis decodes: not the whole part a second time)."""
    head = body[:4096]
    if cte == "quoted-printable":
        return binascii.a2b_qp(head)
    if cte == "base64":
        compact = transfer.compact(head)
        try:
            return binascii.a2b_base64(compact[:len(compact) // 4 * 4])
        except (binascii.Error, ValueError):
            return b""
    return head


def _edit(raw: bytes, entity: Entity, banner: Banner) -> tuple[int, bytes] | None:
    """(where the replaced bytes start, the new bytes up to `entity.end`) for one target part,
    or None to leave it as it is."""
    body = raw[entity.body_start:entity.end]
    if len(body) > MAX_PART_BYTES:
        return None  # too big
    wide = transfer.wide_codec(entity.charset)
    if not body.strip() and (wide is not None or not _separated(raw, entity)):
        # a blank part is written into (it is what the reader shows first: review36 #6, a blank part ahead of an
        # inline forwarded message or a file kept the banner out), but not one with no header/body separator to
        # write after, nor a blank UTF-16/UTF-32 one (no byte order mark to follow)
        return None
    if wide is None:  # a UTF-16 BOM wins over the label, for the analysis and for readers
        sniffed = sniff_bom(_head(body, entity.cte))
        wide = "utf-16" if sniffed is not None and sniffed[0] != "utf-8" else None
    if wide is not None:
        return _edit_wide(raw, entity, banner, body, wide)
    codec = transfer.codec_name(entity.charset)
    if codec is None and python_codec(entity.charset) is None:
        # a label nobody knows (`x-unknown-foo`: the sender chooses it, attack23 B2): the analysis
        # reads the part as UTF-8 (`gateway.charsets.decode_text`) and a reader in its fallback
        # charset, ASCII-compatible in every mail client (Thunderbird's windows-1252 or detector,
        # WHATWG's default); a banner in ASCII reads the same in any of them
        codec = "ascii"
    if codec is None:
        return None  # a known charset that is not ASCII-compatible (EBCDIC)
    if entity.cte in ("7bit", "8bit", "binary") and not shown_as_plain(entity) and _dash_at_point(body, codec):
        return _edit_as_base64(raw, entity, body, _html_inserter(banner, codec, False, _eol(raw, entity)))
    new = _edit_body(raw, entity, banner, body, codec)
    return None if new is None else (entity.body_start, new)


def _eol(raw: bytes, entity: Entity) -> bytes:
    return transfer.line_ending(raw[entity.start:entity.body_start] or raw)


def _dash_at_point(body: bytes, codec: str) -> bool:
    """Whether the HTML after the banner's insertion point begins with "--": after the banner's last line break it
    would begin a line, and the sender's "--" + boundary right after <body> was then a delimiter line (review38c
    #1: the HTML part cut short, or the edit refused and no banner). Joined to the banner's last line instead, a
    998-octet line of the sender's went past the limit (review38d #1). Only "--" begins a delimiter: a single "-"
    does not call for base64, which makes the part a third larger (review38e #1)."""
    pos = _html_position(body, codec)
    return pos is not None and body.startswith(b"--", pos)


def _edit_as_base64(raw: bytes, entity: Entity, body: bytes, insert: transfer.Inserter) -> tuple[int, bytes] | None:
    """A 7bit/8bit/binary part written as base64 of its bytes with the banner (its Content-Transfer-Encoding field
    saying so, as for a raw UTF-16 part): no line of the sender's begins a line of the message, and none grows."""
    eol = _eol(raw, entity)
    head = _base64_header(raw[entity.start:entity.body_start], eol)
    data = insert(body)
    if head is None or data is None:
        return None
    return entity.start, head + transfer.b64_encode(data, 76, eol, body.endswith(b"\n"))


def _separated(raw: bytes, entity: Entity) -> bool:
    """Whether the part's header block ends with the blank line that separates it from its body."""
    block = raw[entity.start:entity.body_start]
    return block in (b"\n", b"\r\n") or block.endswith((b"\n\n", b"\n\r\n"))


def _edit_body(raw: bytes, entity: Entity, banner: Banner, body: bytes, codec: str) -> bytes | None:
    """The new body of a part in an ASCII-compatible charset."""
    cte = entity.cte
    seven_bit = cte == "7bit"
    eol = transfer.line_ending(raw[entity.start:entity.body_start] or raw)
    if shown_as_plain(entity):
        decoded = _decoded(body, cte)
        if decoded is None or inline_pgp(decoded):
            return None  # inline PGP: a banner would break the signature
        insert = _plain_inserter(banner, codec, seven_bit, eol)
        prepend = None
        if cte == "quoted-printable":
            prepend = _encode(banner.plain, codec, transfer.body_eol(body, eol), False, False)
            if _qp_starts_with(body, prepend):
                return None
        return transfer.edit_body(body, cte, insert, prepend, eol)
    if cte == "quoted-printable" and not transfer.is_stateful(codec):
        # splice into the encoded bytes when the point found there is the point of the decoded
        # text (soft line breaks or =XX escapes inside the markup before it: re-encode instead)
        decoded = binascii.a2b_qp(body)
        pos, want = _ascii_point(body), _ascii_point(decoded)
        qp_eol = transfer.body_eol(body, eol)
        data = _encode(banner.html, codec, qp_eol, False, True)
        if _bannered(decoded, want, data):
            return None
        if binascii.a2b_qp(body[:pos]) == decoded[:want] and not body.startswith(b"-", pos):
            # (not when the encoded text after the point, on a line of its own, would begin with "-": review38c #1)
            data = data[:-len(qp_eol)] if data.endswith(qp_eol) else data
            return body[:pos] + transfer.qp_encode(qp_eol + data, qp_eol) + qp_eol + body[pos:]
    return transfer.edit_body(body, cte, _html_inserter(banner, codec, seven_bit, eol), None, eol)


def _edit_wide(raw: bytes, entity: Entity, banner: Banner, body: bytes, codec: str) -> tuple[int, bytes] | None:
    """A UTF-16/UTF-32 part: the usual inserters applied to its text (`transfer.wide_inserter`),
    as (where the replaced bytes start, the new bytes up to `entity.end`). A base64 or
    quoted-printable body keeps its encoding; a 7bit/8bit/binary one (NUL bytes, its CR and LF
    bytes no line breaks: what arrives over SMTP is only what pairs as CRLF) is written as
    base64 of the very same bytes plus the banner, and the part's Content-Transfer-Encoding
    field says so (each one there is, or one added after its Content-Type): re-encoded in
    place it could not travel, and left alone the sender would choose whether staff are warned."""
    cte = entity.cte
    if cte not in ("base64", "quoted-printable", "7bit", "8bit", "binary"):
        return None  # an unknown transfer encoding
    eol = _eol(raw, entity)
    insert: transfer.Inserter = _html_inserter(banner, "utf-8", False, eol)
    if shown_as_plain(entity):
        plain = _plain_inserter(banner, "utf-8", False, eol)
        insert = lambda content: None if inline_pgp(content) else plain(content)  # noqa: E731
    wide = transfer.wide_inserter(insert, codec)
    if cte in ("base64", "quoted-printable"):
        new = transfer.edit_body(body, cte, wide, None, eol)
        return None if new is None else (entity.body_start, new)
    return _edit_as_base64(raw, entity, body, wide)


_CTE_FIELD = re.compile(rb"(?i)content-transfer-encoding[ \t]*:")
_CT_FIELD = re.compile(rb"(?i)content-type[ \t]*:")


def _base64_header(block: bytes, eol: bytes) -> bytes | None:
    """A part's header block (with its blank line) saying base64: every Content-Transfer-Encoding
    field replaced in its place, or, when there is none, one added after the first Content-Type."""
    field = b"Content-Transfer-Encoding: base64" + eol
    fields = header_fields(block)
    out = [field if _CTE_FIELD.match(f) else f for f in fields]
    if not any(_CTE_FIELD.match(f) for f in fields):
        at = next((i for i, f in enumerate(fields) if _CT_FIELD.match(f)), None)
        if at is None or not fields[at].endswith(b"\n"):
            return None
        out.insert(at + 1, field)
    return b"".join(out)


def _qp_starts_with(qp_body: bytes, decoded_prefix: bytes) -> bool:
    """Whether a quoted-printable body already starts with `decoded_prefix` (no double banner)."""
    # an octet is at most 3 encoded, plus a soft break ("=" and a line ending) every 75: 4 a decoded octet is
    # enough (3 had missed a long banner of 3-octet letters, review38b #4: a second pass added a second banner)
    head = binascii.a2b_qp(qp_body[: len(decoded_prefix) * 4 + 256])
    return head.startswith(decoded_prefix)


def _shape(raw: bytes, max_depth: int, max_parts: int) -> list[tuple[str, str | None]]:
    msg = bounded_parse(raw, max_depth, max_parts)
    return [(p.get_content_type(), p.get_content_charset()) for p in msg.walk()]


# a banner no text begins with (a NUL): `_edit` refuses it only for a part that cannot take any banner
_PROBE = Banner(plain="\x00\n", html="\x00\n")


def _banner_part(banner: Banner, delimiter: bytes, eol: bytes) -> tuple[bytes, bytes]:
    """(a delimiter line and a text/plain part holding the banner, with the line break that the next delimiter
    line takes as its own: RFC 2046 5.1.1; the part's text). UTF-8 in quoted-printable: 7-bit, lines of at most 76
    octets, none beginning with "-" (`transfer.qp_encode`: no line of it reads as a delimiter, review38 #4)."""
    text = banner.plain.replace("\n", eol.decode("ascii")).encode("utf-8")
    return (delimiter + eol + b"Content-Type: text/plain; charset=utf-8" + eol
            + b"Content-Transfer-Encoding: quoted-printable" + eol + b"Content-Disposition: inline" + eol + eol
            + transfer.qp_encode(text, eol) + eol), text


class _Shapes:
    """The stdlib's reading of the original message, parsed once when a check first needs it."""

    def __init__(self, raw: bytes, max_depth: int, max_parts: int) -> None:
        self.raw, self.max_depth, self.max_parts = raw, max_depth, max_parts
        self._raw_shape: list[tuple[str, str | None]] | None = None

    @property
    def raw_shape(self) -> list[tuple[str, str | None]]:
        if self._raw_shape is None:
            self._raw_shape = _shape(self.raw, self.max_depth, self.max_parts)
        return self._raw_shape


def _alternatives_shown(found: list[Entity], last: list[Entity], raw: bytes | None) -> list[Entity]:
    """Of the text alternatives `found` (more than MAX_ALTERNATIVE_BANNERS), in their order: the first
    MAX_ALTERNATIVE_BANNERS, the targets of the last branch (`last`: RFC 2046 5.1.4), and of each kind (text/html,
    text/plain, the other subtypes shown as plain) the first that is not blank (Roundcube shows the first non-empty
    HTML one) and the last (mutt's choice of text/plain; review45 #1: the last of the HTML and of the rest alone left
    what Roundcube and mutt show without the banner)."""
    shown = {id(t) for t in last}
    keep = set(range(MAX_ALTERNATIVE_BANNERS)) | {i for i, t in enumerate(found) if id(t) in shown}
    return [found[i] for i in sorted(keep | _kind_picks(found, raw))]


def _kind_picks(found: list[Entity], raw: bytes | None) -> set[int]:
    """The indexes in `found`, of each kind (text/html, text/plain, the other subtypes shown as plain), of the first
    that is not blank (Roundcube) and the last (mutt)."""
    kinds: dict[str, list[int]] = {}
    for i, t in enumerate(found):
        kinds.setdefault(t.content_type if t.content_type in ("text/html", "text/plain") else "", []).append(i)
    keep: set[int] = set()
    for at in kinds.values():
        filled = [i for i in at if raw is None or raw[found[i].body_start:found[i].end].strip()] or at
        keep.update((filled[0], at[-1]))
    return keep


def _types(root: Entity) -> list[str]:
    return [e.content_type for e in root.walk()]


Edit = tuple[int, int, int]  # (where the replaced bytes start, where they ended, how many were written)


def _reads_alike(out: bytes, root: Entity, shapes: _Shapes, edits: list[Edit]) -> bool:
    """Whether an edited message splits into the same parts as the original for the walk (which reads delimiter
    lines by prefix, as Dovecot does: a banner line "--" + a boundary of dashes had split it, review38 #4), each part
    where it was, moved by the bytes written before it (a delimiter line that closed a part early kept the types and
    cut the sender's text off the HTML part, review38c #1), and for the stdlib (exact lines)."""
    again = walk(out, max_depth=shapes.max_depth, max_parts=shapes.max_parts)
    old, new = root.walk(), again.walk()
    if len(old) != len(new):
        return False
    for before, after in zip(old, new, strict=True):
        start = before.start + sum(n - (e - at) for at, e, n in edits if e <= before.start and at < before.start)
        end = before.end + sum(n - (e - at) for at, e, n in edits if at <= before.end)  # (an empty body: at == end)
        if (after.content_type, after.start, after.end) != (before.content_type, start, end):
            return False
    return _shape(out, shapes.max_depth, shapes.max_parts) == shapes.raw_shape


def _banner_part_added(raw: bytes, root: Entity, banner: Banner, shapes: _Shapes) -> bytes | None:
    """`raw` with a part holding the banner ahead of the first part of its top multipart/mixed, or None when that is
    not safe. For a message whose first part shown holds no text we may edit: an inline forwarded message
    (message/rfc822, its bytes another message's), a file shown inline (a PDF, an image), an attachment alone
    (review37b #1: a forwarded approach as the first part got no banner at all, or one in a text below it), or only
    texts no banner may go into (a blank UTF-16 part, an EBCDIC one, an unknown transfer encoding: review37b #3;
    inline PGP, over 2 MiB: #4). Readers show a mixed one's parts one after another, the new one first; every byte
    of the message stays. Only a message/rfc822 that is the whole message stays without (a part would need a new
    top-level Content-Type).

    The new delimiter line is a copy of the first one, which must be "--" and the boundary as the stdlib reads it
    (it strips trailing white space) with nothing but white space after it (the walk and Dovecot had split on
    "--abc " and not on the "--abc" written for boundary="abc ", review38 #1; a line with junk after the boundary,
    or a long boundary's 80-character prefix, is a delimiter to them and not to the stdlib, #6), at most 998
    octets (#5). The result must split, for the walk, into the old parts at their old bytes after the new one, and
    for the stdlib into the old shape with this one text/plain part first, holding the banner's text (parsed with
    one entity more allowed: the added part had pushed a nested one past the cap, #3)."""
    boundary = root.headers.get_boundary()
    if not root.children or not root.delimiters or not boundary:
        return None
    first = root.delimiters[0]
    line = raw[first.start:first.end]
    line = line[:-1] if line.endswith(b"\r") else line  # (the walk's lines end at LF)
    if len(line) > 998 or b"\r" in line or line.rstrip(b" \t") != b"--" + boundary.encode("ascii", "replace"):
        return None  # (a close delimiter "--b--" first is not "--b" either)
    eol = transfer.line_ending(raw[root.start:root.body_start] or raw)
    part, text = _banner_part(banner, line, eol)
    out = raw[:first.start] + part + raw[first.start:]
    again = walk(out, max_depth=shapes.max_depth, max_parts=shapes.max_parts)
    added = again.children[0] if again.children else None
    if (again.content_type != root.content_type or len(again.children) != len(root.children) + 1 or added is None
            or added.start != first.start + len(line) + len(eol) or added.content_type != "text/plain"
            or any(new.start != old.start + len(part) or _types(new) != _types(old)
                   for new, old in zip(again.children[1:], root.children, strict=True))):
        return None
    msg = bounded_parse(out, shapes.max_depth, shapes.max_parts + 1)
    want = list(shapes.raw_shape)
    want.insert(1, ("text/plain", "utf-8"))
    shown = msg.get_payload(0) if msg.is_multipart() else None
    if [(p.get_content_type(), p.get_content_charset()) for p in msg.walk()] != want or not isinstance(shown, Message):
        return None
    return out if shown.get_payload(decode=True) == text else None


def _by_alternative(root: Entity, found: list[Entity]) -> tuple[list[Entity], list[list[tuple[int, Entity]]]]:
    """The parts found in no multipart/alternative, and those of each one (nearest first) with the start of the branch
    each is in."""
    parent = {id(child): entity for entity in root.walk() for child in entity.children}
    branches: dict[int, list[tuple[int, Entity]]] = {}
    outside: list[Entity] = []
    for target in found:
        node = target
        while id(node) in parent and parent[id(node)].content_type != "multipart/alternative":
            node = parent[id(node)]
        if id(node) not in parent:
            outside.append(target)
            continue
        branches.setdefault(id(parent[id(node)]), []).append((node.start, target))
    return outside, list(branches.values())


def _shown(root: Entity, found: list[Entity]) -> list[Entity]:
    """Of the parts found, those readers show: of each multipart/alternative, only the targets in its last branch
    that has any (the hidden alternatives given the banner took it too, but decide nothing: review38c #4); every other
    one."""
    shown, groups = _by_alternative(root, found)
    for members in groups:
        last = max(at for at, _ in members)
        shown += [t for at, t in members if at == last]
    return shown


HEAD_BYTES = 256 * 1024  # of a part over the size cap, what is read for a banner already there


def _holds(raw: bytes, entity: Entity, banner: Banner) -> bool:
    """Whether a part over the size cap begins with this banner: a text just under the cap took it and went over
    (review38c #2: a second pass then counted it refused and added a part, a second banner). Its first lines are
    asked as a part of their own: this banner goes in nowhere while another one would."""
    if entity.end - entity.body_start <= MAX_PART_BYTES:
        return False
    cut = raw.rfind(b"\n", entity.body_start, entity.body_start + HEAD_BYTES) + 1
    if cut <= entity.body_start:
        return False
    head = dataclasses.replace(entity, end=cut)
    return _edit(raw, head, banner) is None and _edit(raw, head, _PROBE) is not None


def insert_banner(raw: bytes, banner: Banner, *, max_depth: int = 20, max_parts: int = 500) -> bytes:
    """`raw` with the banner in each main text alternative (`targets`), or `raw` itself when not safe."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return raw
    try:
        root = walk(raw, max_depth=max_depth, max_parts=max_parts)
        if root.content_type in PROTECTED_TYPES:
            return raw
        head = root.content_type == "multipart/mixed"  # a part holding the banner may go ahead of its parts
        found = _capped(root, targets(root, raw, head=head), raw)
        if _protected(root, found):
            return raw
        shapes = _Shapes(raw, max_depth, max_parts)
        out, took, edits = _edited(raw, found, banner)
        # what readers show (of an alternative, its last part: RFC 2046 5.1.4); one of them that took no banner, could
        # take none (an unknown transfer encoding, over 2 MiB, EBCDIC) and does not begin with this one calls for a
        # part, whatever a hidden alternative took (review38b #3, review38c #2 and #4)
        shown = _shown(root, found)
        refused = not shown or any(id(t) not in took and _edit(raw, t, _PROBE) is None and not _holds(raw, t, banner)
                                   for t in shown)
        if out is not None and not refused and _reads_alike(out, root, shapes, edits):
            return out
        if out is None and not refused:
            return raw  # each text shown could take a banner and took none: it holds this one (a second pass)
        added = _banner_part_added(raw, root, banner, shapes) if head else None
        if added is not None:
            return added
        if out is not None:
            return out if refused and _reads_alike(out, root, shapes, edits) else raw  # (the hidden one's, as before)
        # no part could be added (a first delimiter line readers split differently, a root the stdlib reads as
        # something else): the next text below, as before (review38 #3: else a sender chose no banner at all)
        below = _capped(root, targets(root, raw), raw)
        if [id(t) for t in below] == [id(t) for t in found] or _protected(root, below):
            return raw
        out, _, edits = _edited(raw, below, banner)
        return out if out is not None and _reads_alike(out, root, shapes, edits) else raw
    except (MimeError, Exception):  # noqa: BLE001 - a stranger's MIME: no banner beats a broken message
        return raw


def _capped(root: Entity, found: list[Entity], raw: bytes | None) -> list[Entity]:
    """Of more than MAX_BANNERS parts found, in their order: the first MAX_ALTERNATIVE_BANNERS, and of each
    multipart/alternative what readers show of it, the last branch's (`_shown`) and of each kind among its own parts
    the first that is not blank and the last (`_kind_picks`: Roundcube, mutt; review46d #1)."""
    if len(found) <= MAX_BANNERS:
        return found
    keep = {id(t) for t in _shown(root, found)} | {id(t) for t in found[:MAX_ALTERNATIVE_BANNERS]}
    for members in _by_alternative(root, found)[1]:
        own = [t for _, t in members]
        keep.update(id(own[i]) for i in _kind_picks(own, raw))
    return [t for t in found if id(t) in keep]


def _edited(raw: bytes, found: list[Entity], banner: Banner) -> tuple[bytes | None, set[int], list[Edit]]:
    """(`raw` with the banner in each of the parts found that takes it, or None when none does; the ids of those;
    the edits made)."""
    pieces: list[bytes] = []
    took: set[int] = set()
    edits: list[Edit] = []
    cursor = 0
    for entity in sorted(found, key=lambda e: e.body_start):
        edited = _edit(raw, entity, banner)
        if edited is None or edited[0] < cursor:
            continue
        pieces += [raw[cursor:edited[0]], edited[1]]
        took.add(id(entity))
        edits.append((edited[0], entity.end, len(edited[1])))
        cursor = entity.end
    return (b"".join(pieces) + raw[cursor:] if pieces else None), took, edits
