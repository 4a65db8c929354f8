"""MIME charset labels as mail clients and browsers read them, mapped to Python codecs.

Purpose: one place that turns a part's charset label into the Python codec the analysis decodes
with (`gateway.parse`) and the banner encodes with (`gateway.act.transfer`), so both read the
same text. Python's own names come first; a label Python does not know but the WHATWG Encoding
Standard does (https://encoding.spec.whatwg.org/, the "Encodings" table of labels, which
Chromium, Firefox and Thunderbird follow) is mapped to the Python codec of that encoding.
`x-cp1252`, `x-mac-roman`, `x-unicode20utf8` or `unicode` are shown fine by a reader, so they
must not read as "unknown" here. The other way round, a label only Python knows (`idna`,
`undefined`, `punycode`, `unicode_escape`, `utf-8-sig`: its own codecs and aliases) is no
reader's: only a label of the standard or of the IANA registry names a codec (`MAIL_LABELS`),
any other reads as unknown, for the analysis and the banner alike.

Only labels unknown to `codecs.lookup` are in the table (a unit test checks it): a label Python
knows keeps Python's meaning for `python_codec`, even where the standard differs (it reads
`iso-8859-1` and `us-ascii` as windows-1252, a BOM-less `utf-16` as little-endian like Python), so the
banner writes a part back in the codec it came in. The analysis (`decode_text`) reads those two as the
standard does, windows-1252 (`_AS_WINDOWS_1252`): there it differs from the banner's reading in the
bytes 0x80-0x9F only. The "replacement"
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
    "iso88591": "cp1252", "iso88592": "iso8859-2", "iso88593": "iso8859-3", "iso88594": "iso8859-4",
    "iso88595": "iso8859-5", "iso88596": "iso8859-6", "iso88597": "iso8859-7", "iso88598": "iso8859-8",
    "iso88599": "cp1254", "iso885910": "iso8859-10", "iso885913": "iso8859-13", "iso885914": "iso8859-14",
    "iso885915": "iso8859-15",
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
    "windows-949": "cp949", "iso-ir-149": "cp949", "ksc_5601": "cp949",
    # x-user-defined: bytes 00-7F are ASCII, 80-FF private-use code points no reader can read
    # either; as ASCII those decode to U+FFFD and the banner (ASCII) reads the same.
    "x-user-defined": "ascii",
}

# Every other label a mail reader knows, Python's codec names it (the labels above are added to it):
# the WHATWG Encoding Standard's labels (encodings.json, 2026-05), then the names and aliases of the
# IANA Character Sets registry (RFC 2978; the names MIME mail uses, and Apple Mail, Outlook and the
# MIME libraries read) that Python has a codec for. A label only Python knows is no reader's: its
# own aliases and codecs (`undefined`, `idna`, `punycode`, `unicode_escape`, `utf-8-sig`, `utf_8`,
# `hz`, `iso2022_jp`, `cp949`, `mbcs`, `charmap`...) are unknown here as they are to a reader
# (attack24 4: charset=idna or undefined read nothing while Dovecot and Thunderbird showed the text).
MAIL_LABELS: frozenset[str] = frozenset(WHATWG_ONLY) | frozenset("""
    866 ansi_x3.4-1968 arabic ascii asmo-708 big5 big5-hkscs chinese cp1250 cp1251 cp1252 cp1253 cp1254
    cp1255 cp1256 cp1257 cp1258 cp819 cp866 csbig5 csibm866 csiso2022jp csiso2022kr csiso58gb231280
    csisolatin1 csisolatin2 csisolatin3 csisolatin4 csisolatin5 csisolatin6 csisolatinarabic
    csisolatincyrillic csisolatingreek csisolatinhebrew cskoi8r csshiftjis cyrillic ecma-114 ecma-118
    elot_928 euc-jp euc-kr gb18030 gb2312 gbk greek greek8 hebrew hz-gb-2312 ibm819 ibm866 iso-2022-jp
    iso-2022-kr iso-8859-1 iso-8859-10 iso-8859-11 iso-8859-13 iso-8859-14 iso-8859-15 iso-8859-16
    iso-8859-2 iso-8859-3 iso-8859-4 iso-8859-5 iso-8859-6 iso-8859-7 iso-8859-8 iso-8859-9 iso-ir-100
    iso-ir-101 iso-ir-109 iso-ir-110 iso-ir-126 iso-ir-127 iso-ir-138 iso-ir-144 iso-ir-148 iso-ir-157
    iso-ir-58 iso8859-1 iso8859-10 iso8859-11 iso8859-13 iso8859-14 iso8859-15 iso8859-2 iso8859-3
    iso8859-4 iso8859-5 iso8859-6 iso8859-7 iso8859-8 iso8859-9 iso_8859-1 iso_8859-15 iso_8859-1:1987
    iso_8859-2 iso_8859-2:1987 iso_8859-3 iso_8859-3:1988 iso_8859-4 iso_8859-4:1988 iso_8859-5
    iso_8859-5:1988 iso_8859-6 iso_8859-6:1987 iso_8859-7 iso_8859-7:1987 iso_8859-8 iso_8859-8:1988
    iso_8859-9 iso_8859-9:1989 koi8-r koi8-u koi8_r korean ks_c_5601-1987 ksc5601 l1 l2 l3 l4 l5 l6 l9
    latin1 latin2 latin3 latin4 latin5 latin6 macintosh ms932 ms_kanji shift-jis shift_jis sjis tis-620
    us-ascii utf-16 utf-16be utf-16le utf-8 utf8 windows-1250 windows-1251 windows-1252 windows-1253
    windows-1254 windows-1255 windows-1256 windows-1257 windows-1258
""".split()) | frozenset("""
    437 850 852 855 857 860 861 862 863 865 869 ansi_x3.4-1986 cp-gr cp-is cp037 cp1026 cp154 cp273
    cp367 cp424 cp437 cp500 cp775 cp850 cp852 cp855 cp857 cp860 cp861 cp862 cp863 cp864 cp865 cp869
    cp936 csascii csibm037 csibm1026 csibm273 csibm424 csibm500 csibm855 csibm857 csibm860 csibm861
    csibm863 csibm864 csibm865 csibm869 cspc775baltic cspc850multilingual cspc862latinhebrew
    cspc8codepage437 cspcp852 csptcp154 cyrillic-asian ebcdic-cp-be ebcdic-cp-ca ebcdic-cp-ch
    ebcdic-cp-he ebcdic-cp-nl ebcdic-cp-us ebcdic-cp-wt hp-roman8 ibm037 ibm1026 ibm273 ibm367 ibm424
    ibm437 ibm500 ibm775 ibm850 ibm852 ibm855 ibm857 ibm860 ibm861 ibm862 ibm863 ibm864 ibm865 ibm869
    iso-2022-jp-2 iso-celtic iso-ir-199 iso-ir-226 iso-ir-6 iso646-us iso_646.irv:1991 iso_8859-10:1992
    iso_8859-14 iso_8859-14:1998 iso_8859-16 iso_8859-16:2001 kz-1048 l10 l8 latin10 latin8 ms936 pt154
    ptcp154 r8 rk1048 roman8 strk1048-2002 unicode-1-1-utf-7 us utf-32 utf-32be utf-32le utf-7
""".split())

MAX_LABEL = 64  # the longest IANA charset name has 45 characters
WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})  # not ASCII-compatible
# WHATWG "decode": a byte order mark wins over the label (BOM sniffing; no UTF-32 in the standard).
_SURROGATES = re.compile("[\ud800-\udfff]")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


def python_codec(label: str) -> str | None:
    """Python's name of the text codec for a MIME charset label, None when no mail reader knows
    it (`MAIL_LABELS`: a WHATWG or IANA label; not one only Python knows, such as `idna`) or it
    names a bytes-to-bytes codec such as `base64`. None is "unknown" everywhere: the analysis
    reads the part as UTF-8 (`decode_text`, RFC 2047 words), the banner is written in ASCII."""
    key = label.strip(" \t\r\n\f").lower()  # the standard strips ASCII white space
    if not key or len(key) > MAX_LABEL or key not in MAIL_LABELS:
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


# The WHATWG decoder of the labels `iso-8859-1`, `latin1`, `us-ascii`, `ascii` ... is windows-1252 (its "Encodings"
# table; Chromium, Firefox and Thunderbird read them so): bytes 0x80-0x9F are the typographic quotes, dashes and
# euro sign Windows writes there ("don\x92t" shows "don\u2019t", "off\x96the\x96record" en dashes), not C1 controls
# (Python's latin-1) or U+FFFD (Python's ascii). The analysis reads them as a reader sees them (attack42 #16: a
# stranger labelled cp1252 bytes iso-8859-1 and the apostrophes and dashes hid the discretion asked); where
# windows-1252 leaves a byte undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) the standard keeps the C1 control, as latin-1
# does. The banner keeps Python's codec for these labels (it writes the bytes back as they came).
_AS_WINDOWS_1252 = frozenset({"iso8859-1", "ascii"})
_C1 = re.compile(rb"[\x80-\x9f]")
_C1_AS_1252 = str.maketrans({chr(b): bytes([b]).decode("cp1252") for b in range(0x80, 0xA0)
                             if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)})


def decode_text(data: bytes, label: str, fallback: str = "utf-8") -> str:
    """A text part's bytes as a reader shows them: a BOM first (`sniff_bom`), unless the label
    names UTF-16/32 (Python's codec reads that BOM itself), then the label (`python_codec`; a
    latin-1 or ASCII label as windows-1252, as the WHATWG standard reads it: `_AS_WINDOWS_1252`, but
    8-bit bytes under an ASCII label that are valid UTF-8 as UTF-8),
    then `fallback`; invalid bytes and lone surrogates become U+FFFD."""
    codec = python_codec(label)
    if codec not in WIDE:
        sniffed = sniff_bom(data)
        if sniffed is not None:
            codec, skip = sniffed
            data = data[skip:]
    if codec in _AS_WINDOWS_1252:
        if data.isascii():
            return data.decode("ascii")
        # 8-bit bytes under an ASCII label (or none: RFC 2045's default) that are valid UTF-8 are read as UTF-8:
        # an unlabelled UTF-8 body (windows-1252 text is rarely valid UTF-8)
        if codec == "ascii":
            try:
                return no_surrogates(data.decode("utf-8"))
            except UnicodeDecodeError:
                pass
        text = data.decode("latin-1")
        # (only where there is a C1 byte: a translate looks up every character, ~720 instructions each, bench43)
        return text.translate(_C1_AS_1252) if _C1.search(data) is not None else text
    return no_surrogates(data.decode(codec or fallback, errors="replace"))
