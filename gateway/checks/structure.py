"""Structure signals: what the parser noticed about the message's shape.

Purpose: surface the bounded view's findings (nesting beyond the limit, too many parts, more
text than the checks read, parser defects, the disguises its reading undid: look-alike letters
and bidi overrides, `parse.Disguises`, and an HTML alternative that says what its plain text does not)
as signals so policies can weigh them. Untrusted
input: the parsed message view only.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from email.message import Message

from gateway.charsets import no_surrogates, python_codec
from gateway.checks import Check, CheckContext, signal
from gateway.html_text import MAX_MARKUP
from gateway.mimewalk import MAX_FIELD_COPIES, cap_params, mime_fields_of
from gateway.model import Signal
from gateway.rfc2047 import decode_words

log = logging.getLogger("gateway.structure")

# What an attached file is, by its name's last extension (after the format characters a name may hide one behind,
# U+202E's "invoice_fdp.exe", and the dots and spaces Windows drops from a name's end) or, without a name, its type.
# Files a reader opens that run code or hold other files: the malware lures of state operations that first wrote as
# an event, a donor or a recruiter -- a zip holding a shortcut (Kaspersky on DeathStalker, 2020; Proofpoint on
# TA453's BlackSmith, 2024), a password-protected archive or macro document (US/ROK advisory on Kimsuky, 2023), an
# ISO or disk image (Mandiant and Microsoft on APT29's HTML smuggling, 2021-22; ESET on Lazarus's Dream Job, 2022),
# an HTA or script (Kimsuky, the 2023 advisory), a OneNote notebook (Proofpoint, 2023). Rspamd weighs the same
# (MIME_BAD_ATTACHMENT, MIME_ARCHIVE_IN_ARCHIVE, MIME_BAD_EXTENSION). A PDF or an Office document is no such file.
ATTACHMENT_KINDS: dict[str, str] = {
    **dict.fromkeys(("zip", "zipx", "rar", "7z", "cab", "ace", "arj", "lzh", "gz", "tgz", "bz2", "xz", "tar", "zst",
                     "uue", "001", "z01", "r00"), "an archive"),
    **dict.fromkeys(("iso", "img", "vhd", "vhdx", "dmg"), "a disk image"),
    **dict.fromkeys(("exe", "scr", "com", "pif", "msi", "msp", "jar", "dll", "cpl", "apk", "app", "msix", "appx",
                     "appinstaller", "application", "pkg", "mpkg", "xll"), "a program"),
    **dict.fromkeys(("lnk", "url", "scf", "library-ms", "settingcontent-ms", "desktop"), "a shortcut"),
    **dict.fromkeys(("js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "ps1", "bat", "cmd", "reg", "msc", "inf",
                     "command", "sct", "wsc", "iqy", "slk"), "a script"),
    **dict.fromkeys(("docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "ppsm", "sldm", "one", "chm"),
                    "a macro-enabled document"),
}
ATTACHMENT_TYPES: dict[str, str] = {
    **dict.fromkeys(("application/zip", "application/x-zip", "application/x-zip-compressed",
                     "application/x-rar-compressed", "application/vnd.rar", "application/x-7z-compressed",
                     "application/gzip", "application/x-tar"), "an archive"),
    **dict.fromkeys(("application/x-iso9660-image", "application/x-cd-image", "application/x-apple-diskimage"),
                    "a disk image"),
    **dict.fromkeys(("application/x-msdownload", "application/x-dosexec", "application/x-msi",
                     "application/java-archive", "application/vnd.android.package-archive"), "a program"),
    **dict.fromkeys(("application/x-ms-shortcut",), "a shortcut"),
    **dict.fromkeys(("application/hta", "application/x-javascript", "application/javascript", "text/javascript",
                     "application/x-vbscript", "text/vbscript"), "a script"),
    "application/vnd.ms-word.document.macroenabled.12": "a macro-enabled document",
    "application/vnd.ms-excel.sheet.macroenabled.12": "a macro-enabled document",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12": "a macro-enabled document",
    "application/onenote": "a macro-enabled document",
}
MAX_NAME = 255  # characters of a file name read (its end: the extension)
# An aggregate DMARC report (RFC 7489 section 7.2.1.1) or a TLS report (RFC 8460 section 5.3), which every rua/ruf
# mailbox gets daily from reporters it never writes to (review36 #5): receiver!domain!begin!end[!id].ext, and its
# content one XML or JSON document (`_report`: the name alone is the sender's, review36b #3)
_REPORT_NAME = re.compile(r"[^!\s]{1,255}![^!\s]{1,255}![0-9]{1,20}![0-9]{1,20}(?:![^!\s]{0,255})?"
                          r"\.(?:xml|json)?(?:\.?(?:gz|zip))?")
MAX_REPORT_BYTES = 1 << 20  # a report's archive read for what it holds (its decoded bytes)


def _sole_zip_member(data: bytes) -> str | None:
    """The name of a zip's only entry when every reader reads the same one: the archive starts with that entry's
    local header and ends with its end record (no second archive joined before or after it: Python reads the last,
    7-Zip the first), the local header names it as the central directory does, and no extra field may rename it
    (Info-ZIP's Unicode Path field, 0x7075, which unzip shows and Python does not: review36c #1); else None."""
    if not data.startswith(b"PK\x03\x04") or data.rfind(b"PK\x05\x06") != len(data) - 22:
        return None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    if len(infos) != 1 or infos[0].header_offset != 0 or _renames(infos[0].extra):
        return None
    name_len, extra_len = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
    local = data[30:30 + name_len].decode("utf-8" if infos[0].flag_bits & 0x800 else "cp437", "replace")
    if local != infos[0].orig_filename or _renames(data[30 + name_len:30 + name_len + extra_len]):
        return None
    return infos[0].filename


def _renames(extra: bytes) -> bool:
    """Whether a zip entry's extra fields hold a Unicode Path field (0x7075), which renames the entry for Info-ZIP's
    unzip and not for Python (a timestamp's, 0x5455, is harmless); a field list that does not parse counts as one."""
    at = 0
    while at + 4 <= len(extra):
        kind, size = int.from_bytes(extra[at:at + 2], "little"), int.from_bytes(extra[at + 2:at + 4], "little")
        if kind == 0x7075:
            return True
        at += 4 + size
    return at != len(extra)


def _report(part: Message, name: str) -> bool:
    """Whether the part is a DMARC or TLS report's archive: so named, and a zip of one .xml or .json entry that every
    reader reads alike (`_sole_zip_member`), or a gzip that stores no other file name and whose content begins as an
    XML report or a JSON object, no NUL in its first 64 bytes (a tar's header has them: review36c #1). Read within
    bounds: the central directory, 64 decompressed bytes. A payload the view does not hold (a message above the
    skeleton size) is no report: flagged, on the safe side."""
    if not _REPORT_NAME.fullmatch(name):
        return False
    try:
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data or len(data) > MAX_REPORT_BYTES:
            return False
        if data.startswith(b"PK"):
            member = _sole_zip_member(data)
            return member is not None and member.lower().endswith((".xml", ".json"))
        if data.startswith(b"\x1f\x8b") and len(data) > 10:
            if data[3] & 0x04:  # FEXTRA: the stored name would follow it, where this reading does not look
                return False
            if data[3] & 0x08:  # FNAME: the file name gunzip -N restores
                stored = data[10:data.find(b"\x00", 10)].lower()
                if not stored.endswith((b".xml", b".json")):
                    return False
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:4096], 64)
            if b"\x00" in head:
                return False
            head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            return head.startswith((b"<?xml", b"<feedback", b'{"'))
    except Exception:  # noqa: BLE001 - a stranger's archive: not a report
        return False
    return False


def _param_text(value: object) -> str:
    """A raw field's value with its parameters capped as the parser caps them (`cap_params`: linear; the stdlib's
    parameter parser is quadratic in a field's length, review36b #1: 16 KB fields stalled the loop for 3-4 s), the
    names kept wherever they are (review36b #4)."""
    text = str(value)
    if "\n" in text:
        text = text.replace("\r", "").replace("\n", " ")
    return cap_params(text)


def _decoded_name(got: object) -> str:
    """A name parameter's value as a reader shows it: an RFC 2231 value in its charset when a mail reader knows it
    (`python_codec`: not `unicode_escape` or `idna`, which raised and took the whole check with them, review36b #2),
    else as UTF-8; raw 8-bit as UTF-8; encoded words decoded."""
    if isinstance(got, tuple):
        charset, _lang, text = got
        raw = str(text).encode("latin-1", "replace")
        name = raw.decode(python_codec(charset or "") or "utf-8", "replace")
    else:
        name = str(got)
    name = no_surrogates(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    return decode_words(name) if "=?" in name else name


def _file_names(part: Message) -> list[str]:
    """Every name a reader may save the part as, decoded as readers decode it: each Content-Disposition field's
    filename and each Content-Type field's name (a reader takes one, another the other; review36 #2: a Content-Type
    name of .zip beside a filename of .pdf, a second filename, a second field), RFC 2231 continuations joined, RFC
    2047 encoded words decoded (Outlook writes a non-ASCII name so; every reader decodes it), raw 8-bit as UTF-8, and
    a name with a NUL also as cut there (a reader that stops at it saves what precedes it)."""
    out: list[str] = []
    for field, param in (("content-disposition", "filename"), ("content-type", "name")):
        for _name, value in mime_fields_of(part, field)[:MAX_FIELD_COPIES]:
            text = _param_text(value)
            if "name" not in text.lower():  # (most fields: a text part's type and charset)
                continue
            probe = Message()
            probe[field] = text
            try:
                params = probe.get_params(header=field) or []
                for key, got in params:
                    if key.lower() != param:
                        continue
                    name = _decoded_name(got)
                    out.append(name)
                    if "\x00" in name:
                        out.append(name.split("\x00", 1)[0])
            except Exception:  # noqa: BLE001, S112 - a stranger's parameters: that field names nothing more
                continue
    return out


def _kind_or_none(part: Message) -> tuple[str, str] | None:
    """`attachment_kind`, None when it raised: one part's parameters never take the check's other signals with it
    (review36b #2)."""
    try:
        return attachment_kind(part)
    except Exception as exc:  # noqa: BLE001 - a stranger's part
        log.warning("structure: a part's file names could not be read: %s", type(exc).__name__)
        return None


def attachment_kind(part: Message) -> tuple[str, str] | None:
    """(what the file is, its extension as ".zip", or its type when it has no name) for a leaf part that is a file
    of ATTACHMENT_KINDS by any name it carries (after the format characters a name may hide its end behind, U+202E's
    "invoice_fdp.exe", and the dots and spaces Windows drops from a name's end), or of ATTACHMENT_TYPES by its type
    when no name has an extension; else None. A DMARC or TLS report's archive is none. A text part (the body) is
    none."""
    extension = False
    report: bool | None = None  # decided once a part (review36c #5: once a name had read the archive up to 1,584 times)
    for raw in _file_names(part):
        name = "".join(c for c in raw[-MAX_NAME:] if unicodedata.category(c) not in ("Cf", "Cc"))
        bare = name.rstrip(" .").lower()
        if "." not in bare.lstrip("."):
            continue
        extension = True
        ext = bare.rpartition(".")[2]
        kind = ATTACHMENT_KINDS.get(ext)
        if kind and _REPORT_NAME.fullmatch(bare) and report is None:
            report = _report(part, bare)
        if kind and not (report and _REPORT_NAME.fullmatch(bare)):
            return kind, "." + ext
    if extension:
        return None
    ctype = part.get_content_type()
    kind = ATTACHMENT_TYPES.get(ctype)
    return (kind, ctype) if kind else None


class StructureCheck(Check):
    name = "structure"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("mime.depth_exceeded", "MIME nesting deeper than limits.max_mime_depth: the rest was not analysed",
               limit=int),
        signal("mime.parts_exceeded", "more MIME parts than limits.max_mime_parts: the rest was not analysed",
               limit=int),
        signal("message.text_exceeded", "more text than limits.max_text_bytes (plain text, or an HTML part's visible "
               "text), or a text body over 8 times that: the rest was not analysed", limit=int),
        signal("message.markup_exceeded", "the HTML parts hold more markup than one message's budget (tags, "
               "attributes, character references, for every reading of every part): the rest was read coarsely, so "
               "hidden, split or reordered text may not read as a reader sees it", tags=int),
        signal("message.defects", "the parser found defects (malformed MIME, undecodable parts)", defects=str),
        signal("attachment.risky", "carries a file a reader opens that runs code or holds other files: an archive, "
               "a disk image, a program, a shortcut, a script or a macro-enabled document (by the last extension of "
               "any name it carries, decoded as readers decode it, or its type when no name has one; "
               "`ATTACHMENT_KINDS`); a PDF or Office document, a DMARC or TLS report's archive is not one. "
               "`extension`: \".zip\", or the type of a nameless part (the name, which the sender writes, is not "
               "quoted: review36 #9)", kind=str, extension=str, files=int),
        signal("message.no_from", "the message has no usable From address"),
        signal("text.confusables", "words of the body or Subject written with letters that look Latin (Cyrillic, "
               "Greek, Armenian, Cherokee, Coptic, NFKC forms such as circled or superscript letters, small "
               "capitals: UTS #39 confusables, "
               "mixed into a Latin word, or making up a word in a line of Latin text); "
               "the checks read them as the Latin letters", words=int, word=str),
        signal("text.split_words", "words of the body or Subject split between two letters by a space narrower "
               "than a word space (thin, hair, six-per-em, punctuation, narrow no-break: not the one between two "
               "Mongolian letters, the script's suffix separator) or the braille blank: "
               "a reader reads one word; the checks read it joined", splits=int, word=str),
        signal("text.bidi_override", "bidi overrides (U+202D, U+202E) in the body or Subject of a text without "
               "right-to-left letters: they reorder what a reader sees (the checks read that order)",
               overrides=int),
        signal("text.hidden_in_words", "runs of HTML text holding letters that a style may hide (read wide: a "
               "zero or unreadably small size or opacity, the font shorthand, a tiny scale, a clip, a colour "
               "transparent or alpha-transparent or its own background, a far offset, content-visibility, Outlook's "
               "mso-hide, elements never shown such as <template> or <rp>, the hidden attribute, a style the reader "
               "gave up on, or a style block's rule for a class, id, element type alone, attribute or any element) "
               "between two ASCII letters of a word: hidden-text salting; the checks read the words round them "
               "also without them (and without a run glued to a word on one side or one between the words of a "
               "line, not counted here)",
               runs=int),
        signal("text.parts_differ", "an HTML alternative shows what its plain-text alternative does not (`runs`: "
               "distinct runs of three words the plain text lacks, 12 or more or a quarter of the HTML's `of`, at "
               "least 3, summed over such alternatives; links as written not counted): the reader sees the HTML, "
               "so the checks read it besides the plain text, each one's first 2,000 characters first (Rspamd "
               "R_PARTS_DIFFER, SpamAssassin MPART_ALT_DIFF)", runs=int, of=int),
        signal("identity.multiple_from", "the From field holds several addresses (the first is the identity "
               "checked)", optional=("outside_behind_internal",), addresses=str, count=int, fields=int,
               sender=str, outside_behind_internal=str),
        signal("identity.malformed_from", "the From address is not a valid addr-spec (several @, an address in the "
               "display name outside quotes, an empty local part, domain or domain label, a character no host name "
               "has in the domain, another address after it or beside empty brackets, a missing >, an "
               "unterminated quote or comment, an encoded word in it): "
               "readers disagree on its domain (`domains`: the gateway's reading first, then the others', e.g. "
               "Dovecot's Sieve, Python's email; the origin check applies the own-domain rule when any of them is "
               "ours, and DMARC is evaluated for each)",
               address=str, problem=str, domains=str),
    )

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        view.text_parts  # walks the tree within limits, recording defects
        out = []
        if view.mime_depth_exceeded:
            out.append(Signal("mime.depth_exceeded", {"limit": view.limits.max_mime_depth}))
        if view.mime_parts_exceeded:
            out.append(Signal("mime.parts_exceeded", {"limit": view.limits.max_mime_parts}))
        if view.text_cut:
            out.append(Signal("message.text_exceeded", {"limit": view.limits.max_text_bytes}))
        if view.markup_short:
            out.append(Signal("message.markup_exceeded", {"tags": MAX_MARKUP}))
        risky = [found for part, _depth in view.leaf_parts if (found := _kind_or_none(part))]
        if risky:
            out.append(Signal("attachment.risky", {"kind": risky[0][0], "extension": risky[0][1], "files": len(risky)}))
        defects = list(view.defects)
        defects += [type(d).__name__ for d in getattr(view.msg, "defects", [])]
        if defects:
            out.append(Signal("message.defects", {"defects": ", ".join(sorted(set(defects)))[:200]}))
        if not view.from_address:
            out.append(Signal("message.no_from"))
        disguises = view.disguises
        if disguises.lookalike_words:
            out.append(Signal("text.confusables", {"words": disguises.lookalike_words,
                                                   "word": disguises.lookalike_example[:40]}))
        if disguises.split_words:
            out.append(Signal("text.split_words", {"splits": disguises.split_words,
                                                   "word": disguises.split_example[:40]}))
        if disguises.overrides and not disguises.rtl:
            out.append(Signal("text.bidi_override", {"overrides": disguises.overrides}))
        if disguises.salted:
            out.append(Signal("text.hidden_in_words", {"runs": disguises.salted}))
        if view.parts_differ:
            groups = view.parts_differ.values()  # every differing alternative's (review25 #7)
            out.append(Signal("text.parts_differ", {"runs": sum(g[0] for g in groups),
                                                    "of": sum(g[1] for g in groups)}))
        ident = view.from_identity
        if ident.malformed:  # here too: it matters most when one reading is ours
            out.append(Signal("identity.malformed_from", {
                "address": ident.address[:200], "problem": ident.malformed,
                "domains": ", ".join(ident.domain_readings)[:300]}))
        if ident.multiple:  # here, not in IdentityCheck: that one skips internal From domains
            out.append(Signal("identity.multiple_from", multiple_from_evidence(ctx)))
        return out


def multiple_from_evidence(ctx: CheckContext) -> dict[str, object]:
    """Every From address (the identity is the first, gateway.parse.from_identity), the Sender,
    and `outside_behind_internal`: the addresses outside local_domains when the identity is
    one of ours -- a stranger hiding behind an internal first address."""
    ident, config = ctx.view.from_identity, ctx.config
    evidence: dict[str, object] = {
        "addresses": ", ".join(m.address for m in ident.mailboxes[:20])[:500],
        "count": len(ident.mailboxes), "fields": ident.fields,
        "sender": ", ".join(ctx.view.addresses("Sender")[:3])[:200]}
    if config.is_internal_domain(ident.domain):
        outside = [m.address for m in ident.mailboxes if not config.is_internal_domain(m.domain)]
        if outside:
            evidence["outside_behind_internal"] = ", ".join(outside[:10])[:300]
    return evidence
