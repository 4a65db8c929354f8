"""MIME charset labels as mail clients and browsers read them, mapped to Python codecs.

Purpose: one place that turns a part's charset label into the Python codec the analysis decodes
with (`gateway.parse`) and the banner encodes with (`gateway.act.transfer`), so both read the
same text. Python's own names come first; a label Python does not know but the WHATWG Encoding
Standard does (https://encoding.spec.whatwg.org/, the "Encodings" table of labels, which
Chromium, Firefox and Thunderbird follow) is mapped to the Python codec of that encoding.
`x-cp1252`, `x-mac-roman`, `x-unicode20utf8` or `unicode` are shown fine by a reader, so they
must not read as "unknown" here.

Only labels unknown to `codecs.lookup` are in the table (a unit test checks it): a label Python
knows keeps Python's meaning, even where the standard differs (it reads `iso-8859-1` and
`us-ascii` as windows-1252, a BOM-less `utf-16` as little-endian like Python). The "replacement"
labels (`iso-2022-cn`, `csiso2022kr`...), which a browser shows as one U+FFFD, are not mapped.
As the standard's decoder does, a UTF-8 or UTF-16 byte order mark at the start of a body wins
over its label (`sniff_bom`, `decode_text`).

Decoded text never holds a surrogate code point (`no_surrogates`): `errors="replace"` does not
cover every codec (UTF-7 `+2D0-`, `unicode_escape` `\\ud83d` and `punycode` yield a lone U+D83D),
and such a str cannot be encoded as UTF-8 (a subject tag, the store, `scan --json` raised); a
reader shows U+FFFD there, and so does the text the checks read.

Untrusted input: the label, from a stranger's Content-Type (any length, any characters).
"""

from __future__ import annotations

import codecs
import re

# WHATWG label (lower case) -> Python codec, for the labels Python's codecs do not know.
WHATWG_ONLY: dict[str, str] = {
    # UTF-8
    "unicode-1-1-utf-8": "utf-8", "unicode11utf8": "utf-8", "unicode20utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    # UTF-16LE / UTF-16BE
    "csunicode": "utf-16-le", "iso-10646-ucs-2": "utf-16-le", "ucs-2": "utf-16-le",
    "unicode": "utf-16-le", "unicodefeff": "utf-16-le", "unicodefffe": "utf-16-be",
    # legacy single-byte
    "csiso88596e": "iso8859-6", "csiso88596i": "iso8859-6", "iso-8859-6-e": "iso8859-6",
    "iso-8859-6-i": "iso8859-6", "sun_eu_greek": "iso8859-7", "csiso88598e": "iso8859-8",
    "iso-8859-8-e": "iso8859-8", "visual": "iso8859-8", "csiso88598i": "iso8859-8",
    "iso-8859-8-i": "iso8859-8", "logical": "iso8859-8", "csisolatin9": "iso8859-15",
    "koi": "koi8-r", "koi8": "koi8-r", "koi8-ru": "koi8-u",
    "csmacintosh": "mac-roman", "mac": "mac-roman", "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic", "x-mac-ukrainian": "mac-cyrillic",
    "dos-874": "cp874", "windows-874": "cp874", "iso885911": "cp874",
    "x-cp1250": "cp1250", "x-cp1251": "cp1251", "x-cp1252": "cp1252", "x-cp1253": "cp1253",
    "x-cp1254": "cp1254", "x-cp1255": "cp1255", "x-cp1256": "cp1256", "x-cp1257": "cp1257",
    "x-cp1258": "cp1258",
    # legacy multi-byte
    "csgb2312": "gbk", "gb_2312": "gbk", "gb_2312-80": "gbk", "x-gbk": "gbk",
    "cn-big5": "big5", "x-x-big5": "big5",
    "cseucpkdfmtjapanese": "euc-jp", "x-euc-jp": "euc-jp",
    "x-sjis": "shift_jis", "windows-31j": "cp932",
    "cseuckr": "cp949", "csksc56011987": "cp949", "ks_c_5601-1989": "cp949",
    "windows-949": "cp949",
    # x-user-defined: bytes 00-7F are ASCII, 80-FF private-use code points no reader can read
    # either; as ASCII those decode to U+FFFD and the banner (ASCII) reads the same.
    "x-user-defined": "ascii",
}

MAX_LABEL = 64  # the longest IANA charset name has 45 characters
WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})  # not ASCII-compatible
# WHATWG "decode": a byte order mark wins over the label (BOM sniffing; no UTF-32 in the standard).
_SURROGATES = re.compile("[\ud800-\udfff]")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


def python_codec(label: str) -> str | None:
    """Python's name of the text codec for a MIME charset label, None when neither Python nor
    the WHATWG table knows it (or it names a bytes-to-bytes codec such as `base64`)."""
    key = label.strip(" \t\r\n\f").lower()  # the standard strips ASCII white space
    if not key or len(key) > MAX_LABEL:
        return None
    try:
        info = codecs.lookup(WHATWG_ONLY.get(key, key))
    except (LookupError, ValueError, TypeError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def no_surrogates(text: str) -> str:
    """`text` with every surrogate code point (U+D800-U+DFFF, which only a lone surrogate from a
    decoder can be in a str) replaced by U+FFFD, as a reader shows it; one C-speed pass."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def sniff_bom(data: bytes) -> tuple[str, int] | None:
    """(codec, BOM length) when `data` starts with a UTF-8 or UTF-16 byte order mark: a browser
    reads the part in that encoding whatever its label says (a body labelled us-ascii that starts
    with FF FE is shown as UTF-16LE)."""
    return next(((codec, len(bom)) for bom, codec in _BOMS if data.startswith(bom)), None)


def decode_text(data: bytes, label: str, fallback: str = "utf-8") -> str:
    """A text part's bytes as a reader shows them: a BOM first (`sniff_bom`), unless the label
    names UTF-16/32 (Python's codec reads that BOM itself), then the label (`python_codec`),
    then `fallback`; invalid bytes and lone surrogates become U+FFFD."""
    codec = python_codec(label)
    if codec not in WIDE:
        sniffed = sniff_bom(data)
        if sniffed is not None:
            codec, skip = sniffed
            data = data[skip:]
    return no_surrogates(data.decode(codec or fallback, errors="replace"))
