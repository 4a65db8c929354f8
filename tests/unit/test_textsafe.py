"""Terminal and JSON-line escaping of a stranger's text (gateway/textsafe.py) where the CLI
prints it: quarantine list/show, hunt, scan --json."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import textsafe
from gateway.act import quarantine as q
from gateway.model import Decision, Envelope, RuleHit, Verdict
from gateway.textsafe import INVISIBLE, LOOKALIKES, fold_lookalikes, json_line, terminal_text, visible_text
from tests.conftest import ROOT

NASTY = "a\x1b[31mb\x9b2Jc\x85d\u2028e\u2029f\u202eg\x7fh\x07i"


def test_terminal_text_shows_every_control_as_an_escape() -> None:
    assert terminal_text(NASTY) == "a\\x1b[31mb\\x9b2Jc\\x85d\\u2028e\\u2029f\\u202eg\\x7fh\\x07i"
    assert terminal_text("Zoë Müller 中文") == "Zoë Müller 中文"
    assert terminal_text("l1\nl2\r", keep_newlines=True) == "l1\nl2\\x0d"


def test_json_line_is_one_line_and_round_trips() -> None:
    line = json_line({"display": NASTY, "name": "Zoë"})
    assert "\n" not in line and "\x85" not in line and "\u2028" not in line and "\u2029" not in line
    assert "\x9b" not in line and "\x1b" not in line and "\u202e" not in line
    assert "Zoë" in line  # ensure_ascii stays off
    assert json.loads(line) == {"display": NASTY, "name": "Zoë"}
    assert len(line.splitlines()) == 1 and len(line.encode().splitlines()) == 1


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quarantine")
    q.add_arguments(parser)
    return parser.parse_args(argv)


def test_quarantine_list_and_show_escape_c1_and_terminal_controls(tmp_path: Path) -> None:
    """Regression: U+009B (CSI) and other C1 controls from a stranger's Subject/From reached the
    terminal raw."""
    raw = ("From: Evil\x9b2J <e@x.test>\r\nSubject: hi\x9b31m\u202eexe.pdf\x85\r\n\r\nbody\r\n").encode()
    env = Envelope(mail_from="e\x9b2J@x.test", rcpt_tos=("b@example.org",), queue_id="Q1")
    dec = Decision(Verdict.HIGH, 9, (RuleHit("r1", 9, "quotes \x9b31m and \x1b[2J"),))
    qid = q.QuarantineStore(tmp_path).put(raw, env, dec)
    for argv in (["list"], ["show", qid]):
        out = io.StringIO()
        assert q.run(_args(["--dir", str(tmp_path), *argv]), relay=lambda r: None, out=out) == 0
        text = out.getvalue()
        assert not any(0x7f <= ord(c) <= 0x9f or ord(c) < 0x20 and c != "\n" for c in text), repr(text)
        assert "\u202e" not in text and "\x85" not in text
        assert "\\x9b" in text
    assert "Subject: hi\\x9b31m\\u202eexe.pdf\\x85" in text


def test_scan_json_escapes_line_separators(tmp_path: Path) -> None:
    """Regression: scan --json wrote U+0085/U+2028/U+2029 unescaped (one object split across
    lines for line-based readers)."""
    name = "boss@example.org\u2028x\u0085y\u2029z\x9b"
    word = "=?utf-8?B?" + base64.b64encode(name.encode()).decode() + "?="
    msg = tmp_path / "saved\u2028attachment\x85name\u2029.eml"  # e.g. a stranger's file name
    msg.write_bytes(f"From: {word} <a@gmail.com>\nTo: bob@example.org\nSubject: x\n\nhello\n".encode())
    cfg = tmp_path / "gw.yml"
    # an in-memory store: without one, scan wrote approach-gateway.sqlite3 (the default path) into
    # the directory it ran in, the checkout
    cfg.write_text(f"listen: 127.0.0.1:2525\nupstream: {{port: 10026}}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\npolicies: [{ROOT / 'policies'}]\nstore: {{backend: memory}}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(cfg), "--json", "--offline",
                          str(msg)], cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([msg.name, cfg.name])  # no history file
    lines = out.stdout.decode("utf-8").splitlines()  # str.splitlines breaks at U+0085/U+2028/U+2029
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["file"] == str(msg)
    assert "\\u2028" in lines[0] and "\\u0085" in lines[0] and "\\u009b" in lines[0]
    shown = [s["evidence"].get("display_name", "") for s in obj["signals"]]
    assert "boss@example.org x y z\x9b" in shown, shown


def test_scan_json_prints_a_utf7_display_name_with_a_lone_surrogate(tmp_path: Path) -> None:
    """attack22 #13: a display name decoding to a lone U+D83D (UTF-7 "+2D0-"), quoted by a reason,
    made `scan --json` die printing it; the files after it were never scanned."""
    first, second = tmp_path / "a.eml", tmp_path / "b.eml"
    first.write_bytes(b"From: =?utf-7?Q?Chatham_House+2D0-_Research?= <d@gmail.com>\r\nTo: bob@example.org\r\n"
                      b"Subject: x\r\n\r\nCould we continue this on WhatsApp? Please keep this between us.\r\n")
    second.write_bytes(b"From: a@gmail.com\r\nTo: bob@example.org\r\nSubject: y\r\n\r\nhello\r\n")
    cfg = tmp_path / "gw.yml"
    cfg.write_text(f"listen: 127.0.0.1:2525\nupstream: {{port: 10026}}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\npolicies: [{ROOT / 'policies'}]\nstore: {{backend: memory}}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(cfg), "--json", "--offline",
                          str(first), str(second)], cwd=tmp_path, env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    objs = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]
    assert [o["file"] for o in objs] == [str(first), str(second)]
    assert "Chatham House\ufffd Research" in json.dumps(objs[0], ensure_ascii=False)


_MIX = ("aZ\u00e9\u0430\u0435\u043e\u03bf\u0421\u0585\u0574\u13aa\u13a3\u2c9f .\n\u4e2d\udc80\U0001f600"
        + "".join(c for c in INVISIBLE if c < "\U00010000") + "\U0001bca0\U0001d17a\U000e0020\U000e0fff")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_MIX), max_size=60))
def test_visible_text_drops_exactly_the_invisible_characters(text: str) -> None:
    """`visible_text` (an `in` and a `replace` per character, for speed) removes what one regex class
    of `INVISIBLE` removes and nothing else (reading overrides moves characters, never adds or
    loses one); `fold_lookalikes` keeps the length (offsets stay valid) and changes only look-alike
    letters, into their Latin letter, in words with no letter of another script."""
    dropped = re.sub(f"[{INVISIBLE}]", "", text)
    assert visible_text(text, bidi="drop") == dropped
    assert sorted(visible_text(text)) == sorted(dropped)
    if "\u202d" not in text and "\u202e" not in text:
        assert visible_text(text) == dropped
    assert visible_text(text, bidi="keep") == re.sub(f"[{INVISIBLE.translate(_NO_BIDI)}]", "", text)
    folded = fold_lookalikes(text)
    assert len(folded) == len(text)
    for i, (a, b) in enumerate(zip(text, folded, strict=True)):
        if a != b:
            assert LOOKALIKES[a] == b
            word = re.search(r"\w*\Z", text[:i]).group() + re.match(r"\w*", text[i:]).group()  # type: ignore[union-attr]
            assert all(c in LOOKALIKES or not c.isalpha() or unicodedata.name(c).startswith("LATIN")
                       for c in word), word


# Format characters (Cf) that are not Default_Ignorable in Unicode 14.0: prepended concatenation marks
# (U+0600-5, U+06DD, U+070F, U+0890/1, U+08E2, U+110BD, U+110CD), interlinear annotation (U+FFF9-B),
# Egyptian hieroglyph format controls (U+13430-8): each has a glyph or joins visible signs
_SHOWN_FORMAT = {*"\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd",
                 *"\ufff9\ufffa\ufffb",
                 *(chr(c) for c in range(0x13430, 0x13439))}


def test_invisible_is_the_default_ignorable_set() -> None:
    """attack22 #4: every code point Unicode calls Default_Ignorable goes (U+2063, U+2064, U+034F, U+FE0F,
    U+180E, U+E0020 and U+3164 split "WhatsApp" for the checks, a reader sees the word): all format
    characters but the visible ones, the variation selectors, the Hangul fillers, the tags."""
    hidden = "\u2063\u2064\u034f\ufe0f\u180e\U000e0020\u3164\u200b\U000e0101"
    assert visible_text("".join(f"{a}{h}" for a, h in zip("WhatsApp!", hidden, strict=True))) == "WhatsApp!"
    assert visible_text("\u202eppA\u2063stahW\u202c", bidi="keep") == "\u202eppAstahW\u202c"
    formats = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}
    assert formats - set(INVISIBLE) == _SHOWN_FORMAT
    assert {chr(c) for c in range(0xfe00, 0xfe10)} | {chr(c) for c in range(0xe0100, 0xe01f0)} <= set(INVISIBLE)
    assert not any(c.isspace() or unicodedata.category(c) in ("Lu", "Ll", "Nd", "Zs") for c in INVISIBLE)


def test_invisible_matches_perl_unicode_data() -> None:
    """The ranges are DerivedCoreProperties' Default_Ignorable_Code_Point where perl's Unicode::UCD
    has the same Unicode version (14.0.0, Debian bookworm's perl 5.36)."""
    script = ('use Unicode::UCD qw(prop_invlist); print Unicode::UCD::UnicodeVersion(), "\\n";'
              ' print join(" ", prop_invlist("Default_Ignorable_Code_Point")), "\\n";')
    try:
        out = subprocess.run(["perl", "-e", script], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("perl with Unicode::UCD is not installed")
    version, bounds = out.splitlines()
    if version != unicodedata.unidata_version:
        pytest.skip(f"perl has Unicode {version}, Python {unicodedata.unidata_version}")
    edges = [int(b) for b in bounds.split()]
    assert set(INVISIBLE) == {chr(c) for a, b in zip(edges[::2], edges[1::2], strict=True) for c in range(a, b)}


_NO_BIDI = str.maketrans("", "", "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_reading_order_puts_overridden_text_as_a_reader_sees_it() -> None:
    """UAX #9 with a right-to-left override: the characters show in reverse (what Chromium shows:
    attack21 bidi-all); a nested left-to-right override keeps its own order inside; the line's end
    closes the override; text outside keeps its order, Hebrew too."""
    assert visible_text("on \u202eppAstahW\u202c? now") == "on WhatsApp? now"
    assert visible_text("\u202eraeD\u202c Ms \u202esgninneJ\u202c,") == "Dear Ms Jennings,"
    assert visible_text("x \u202ecba\u202d fed \u202c ihg") == "x ghi  fed abc"
    assert visible_text("\u202ecba\nabc") == "abc\nabc"  # a paragraph separator ends the override
    assert visible_text("\u202dabc\u202c \u05e9\u05dc\u05d5\u05dd") == "abc \u05e9\u05dc\u05d5\u05dd"
    assert visible_text("\u202ecba\u202c", bidi="drop") == "cba"  # a link target: as written
    assert visible_text("\u202ecba\u202c", bidi="keep") == "\u202ecba\u202c"
    # unbalanced PDF and PDI are ignored; an isolate closes the override opened inside it
    assert visible_text("\u202c\u2069ab \u2066\u202edc\u2069 ef") == "ab cd ef"


def test_reading_order_is_bounded() -> None:
    """Past MAX_REORDERED characters of lines with an override the lines keep their logical order
    (each costs a Python loop); nesting past _MAX_LEVEL levels is ignored, its PDFs too."""
    line = "\u202eab\u202c" * 100 + "\n"
    many = line * (textsafe.MAX_REORDERED // len(line) + 5)
    out = visible_text(many).split("\n")
    assert out[0] == "ba" * 100 and out[-2] == "ab" * 100
    deep = "\u202b" * 40 + "\u202eab" + "\u202c" * 40 + "cd"
    assert sorted(visible_text(deep)) == list("abcd")


def test_reading_order_joins_adjacent_overrides() -> None:
    """attack22 #5: UAX #9 X9 takes the PDF and the next RLO out, so two adjacent overrides are one run
    reversed as a whole (a reader sees "WhatsApp", not "sAppWhat"); a space between two overrides is
    a neutral between right-to-left text and joins them too (N1), a digit after an override is not
    Latin (W7)."""
    assert visible_text("on \u202eppAs\u202c\u202etahW\u202c now") == "on WhatsApp now"
    assert visible_text("\u202elegr\u202c\u202emaeT\u202c") == "Teamrgel"
    assert visible_text("x \u202eb\u202c \u202ea\u202c y") == "x a b y"
    assert visible_text("\u202edc\u202c, \u202eba\u202c!") == "ab ,cd!"
    assert visible_text("\u202eab\u202c 12") == "12 ba"
    assert visible_text("\u202ema\u2067 x\u2069rg\u202c") == "grx am"  # an isolate inside an override


def _fribidi() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("fribidi")
    if name is None:
        pytest.skip("libfribidi is not installed (Debian: libfribidi0)")
    return ctypes.CDLL(name)


def _fribidi_reading(lib: Any, text: str) -> str:
    """What libfribidi shows of one line in a left-to-right paragraph, its controls dropped."""
    import ctypes

    n = len(text)
    to_logical = (ctypes.c_int * n)()
    base = ctypes.c_uint32(0x110)  # FRIBIDI_PAR_LTR
    assert lib.fribidi_log2vis((ctypes.c_uint32 * n)(*map(ord, text)), n, ctypes.byref(base), None, None,
                               to_logical, None)
    return visible_text("".join(text[to_logical[i]] for i in range(n)), bidi="drop")


def test_reading_order_agrees_with_libfribidi() -> None:
    """Lines of Latin letters, digits, spaces and punctuation with overrides, embeddings and PDFs (seeded
    random, 3,000) read the same as libfribidi shows them; so do the attack21/22 cases."""
    lib = _fribidi()
    rnd = random.Random(22)
    alphabet = [*"abc  .,!12%$+-", "\u202e", "\u202d", "\u202b", "\u202a", "\u202c"]
    cases = ["on \u202eppAs\u202c\u202etahW\u202c now", "\u202eraeD\u202c Ms \u202esgninneJ\u202c,",
             "x \u202ecba\u202d fed \u202c ihg", "\u202ema\u2067 x\u2069rg\u202c", "a\tb \u202ecba\u202c\tc"]
    while len(cases) < 3_000:
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 16)))
        if "\u202d" in text or "\u202e" in text:
            cases.append(text)
    wrong = [t for t in cases if visible_text(t) != _fribidi_reading(lib, t)]
    assert not wrong, wrong[:5]


def test_reading_order_scans_each_line_once() -> None:
    """attack22 #1: a match attempt inside a paragraph fails at once (it starts only at a paragraph's
    start), so a long line without an override is scanned once, not again from each of its
    positions (O(L^2): 12.7 s for a 137 KB message); the line with the override is still found."""
    text = "Hello " * 50 + "\n\u202eppastahW\u202c\r\x85x\u202ey"
    starts = {0} | {i + 1 for i, c in enumerate(text) if c in "\n\r\x1c\x1d\x1e\x85\u2029"}
    for i in range(len(text)):
        if i not in starts:
            assert textsafe._OVERRIDE_LINE.match(text, i) is None, i
    assert [m.group() for m in textsafe._OVERRIDE_LINE.finditer(text)] == ["\u202eppastahW\u202c", "x\u202ey"]
    assert visible_text(text).split("\n")[1] == "Whatsapp\r\x85xy"


def test_read_lookalikes_reads_latin_looking_words_and_leaves_other_text() -> None:
    """Mixed-script words (attack21 cyr-apps: "\u051ch\u0430ts\u0410\u0440\u0440") and, in a line of Latin text, words
    made of look-alikes only (attack21 cyrillic-all: "\u0430", "\u0441\u043er\u0435"); Russian and Greek text,
    words with another script's letter, host names and addresses stay as written."""
    assert textsafe.read_lookalikes("on \u051ch\u0430ts\u0410\u0440\u0440?") == ("on WhatsApp?", 1, "WhatsApp")
    text, words, example = textsafe.read_lookalikes(
        "I am \u0430 \u0441\u043err\u0435s\u0440\u043end\u0435nt, "
        "\u0441\u043er\u0435 t\u0435\u0430m \u0441\u043e\u0441\u0435\u0434")
    assert text == "I am a correspondent, core team \u0441\u043e\u0441\u0435\u0434"
    assert (words, example) == (3, "correspondent")  # "a" is folded, not counted: a lone letter (\u03c3 = 0.5)
    russian = ("\u041a\u043e\u0440\u043e\u0442\u043a\u043e: \u0441\u043e\u0440\u043e\u043a "
               "\u043a\u043e\u0440\u043e\u0432 \u043f\u0440\u043e\u0434\u0430\u043b\u0438 "
               "\u0437\u0430 \u0442\u0440\u0438 \u0434\u043d\u044f")
    assert textsafe.read_lookalikes(russian) == (russian, 0, "")
    assert textsafe.read_lookalikes("\u041a\u043e\u0440\u043e\u0442\u043a\u043e:")[1] == 0  # a Russian word alone
    assert fold_lookalikes(russian + " Wh\u0430tsApp") == russian + " WhatsApp"
    greek = "\u03a4\u03bf \u03c3\u03c0\u03af\u03c4\u03b9 \u03ba\u03b1\u03b9 \u03bf \u03ba\u03ae\u03c0\u03bf\u03c2"
    assert fold_lookalikes(greek) == greek
    hosts = "see ch\u0430thamhouse.org, https://www.r\u0430nd.org/x and j\u043ehn@gm\u0430il.com, or @l\u0430ur\u0430_b"
    assert fold_lookalikes(hosts) == hosts.replace("@l\u0430ur\u0430_b", "@laura_b")
    # the same in text with another script's letters (read line by line, word by word)
    assert fold_lookalikes(hosts + " \u0434\u0430") == hosts.replace("@l\u0430ur\u0430_b", "@laura_b") + " \u0434\u0430"
    assert textsafe.read_lookalikes("plain ascii") == ("plain ascii", 0, "")


def test_read_lookalikes_scans_each_line_and_word_once() -> None:
    """attack22 #2: an attempt inside a line (_LOOKALIKE_LINE) or inside a word, after a combining mark
    too (_LATIN_WORD, _MIXED_WORD, _COUNTED), fails at once, and _MIXED_WORD's look-ahead comes after
    that test: a long line or run was scanned again from each position or mark (O(L^2): 6.1 s for an
    89 KB message). What is read stays: a word with marks, one starting with a mark, is one word."""
    text = "x" * 40 + "\n\u0434\u0430 " + "ab\u0301" * 20 + "\u0430b \u0301\u0430b\n"
    line_starts = {0} | {i + 1 for i, c in enumerate(text) if c == "\n"}
    for i in range(len(text)):
        if i not in line_starts:
            assert textsafe._LOOKALIKE_LINE.match(text, i) is None, i
        if text[i - 1] in "ab\u0301\u0430" and i:  # inside a word
            for pattern in (textsafe._LATIN_WORD, textsafe._MIXED_WORD, textsafe._COUNTED):
                assert pattern.match(text, i) is None, (pattern, i)
    for pattern in (textsafe._MIXED_WORD, textsafe._COUNTED):
        assert pattern.pattern.startswith(textsafe._WORD_START)  # the look-aheads run only at a word's start
    folded, words, example = textsafe.read_lookalikes(text)
    assert folded == text.replace("\u0301\u0430b", "\u0301ab").replace("\u0301\u0430", "\u0301a")
    assert (words, example) == (2, "ab\u0301" * 20 + "ab")
    assert textsafe.read_lookalikes("on \u0301\u0430b")[1:] == (1, "\u0301ab")


def test_read_lookalikes_reads_the_rest_past_max_lines_for_its_mixed_words() -> None:
    """Past the first MAX_LINES lines with a look-alike, the rest is read for its words mixing in a Latin
    letter only; before that the loop has read every line that can hold one (a look-alike and a Latin
    letter on one line), and the rest of a Russian or Armenian text is not searched again (fix25look:
    1.0 of the 1.5 ms of 20 KB of either without a Latin word)."""
    armenian = "\u0561\u057d\u0561 \u0574\u0565\u0580"  # look-alikes, no Latin letter
    last = "on Wh\u0430tsApp and \u0441\u043e\u0440\u0435"
    text = "\n".join([armenian] * textsafe.MAX_LINES + [last, armenian])
    assert textsafe.read_lookalikes(text) == (text.replace("Wh\u0430tsApp", "WhatsApp"), 1, "WhatsApp")
    text = "\n".join([armenian] * (textsafe.MAX_LINES - 1) + [last, armenian])  # a line of Latin text
    assert textsafe.read_lookalikes(text) == (text.replace(last, "on WhatsApp and cope"), 2, "WhatsApp")
    assert textsafe.read_lookalikes("\n".join([armenian] * 3)) == ("\n".join([armenian] * 3), 0, "")


def test_read_lookalikes_reads_compatibility_forms_and_latin_lookalikes() -> None:
    """attack22 #10: fullwidth, mathematical (NFKC) and Latin-extension look-alikes (TR39: IPA alpha) read
    as the letter, on the same conditions as Cyrillic ones; Latin letters of real alphabets (Turkish
    dotless i, Ewe's v with hook), hosts and a line of them alone stay."""
    for a in ("\u0251", "\uff41", "\U0001d41a", "\U0001d68a"):
        assert textsafe.read_lookalikes(f"on Wh{a}tsApp?") == ("on WhatsApp?", 1, "WhatsApp")
    assert fold_lookalikes("on \uff37\uff48\uff41\uff54\uff53\uff21\uff50\uff50 now") == "on WhatsApp now"
    assert fold_lookalikes("\u1d04\u029c\u1d00\u1d1b") == "\u1d04\u029c\u1d00\u1d1b"  # a word of them alone
    for kept in ("k\u0131rm\u0131z\u0131 elma", "E\u028begbe", "see ch\uff41thamhouse.org"):
        assert textsafe.read_lookalikes(kept) == (kept, 0, ""), kept
    # letters of no script read as their Latin letters in a line without one too (attack42 #1), uncounted:
    # full-width "PDF" in a Japanese line is how Japanese writes it, no disguise
    assert textsafe.read_lookalikes("\uff30\uff24\uff26 \u30d5\u30a1") == ("PDF \u30d5\u30a1", 0, "")


def test_read_lookalikes_counts_whole_lookalike_words_only_beside_a_mixed_one() -> None:
    """attack22 #14: Russian and Greek words whose letters all look Latin, in Latin mail (Moscow, Vera,
    "to metro") are read as Latin but not counted (no text.confusables); beside a word mixing in a
    Latin letter (a disguise) they count as before."""
    caps = ("MOSCOW / \u041c\u041e\u0421\u041a\u0412\u0410 \u2014 \u0422\u0415\u0410\u0422\u0420 "
            "\u041a\u041e\u041c\u0415\u0414\u0418\u0418, Apple TV")
    assert textsafe.read_lookalikes(caps) == (caps.replace("\u041c\u041e\u0421\u041a\u0412\u0410", "MOCKBA")
                                              .replace("\u0422\u0415\u0410\u0422\u0420", "TEATP"), 0, "")
    name = "Her name is \u0412\u0435\u0440\u0430, and she works at \u041c\u0425\u0422."
    assert textsafe.read_lookalikes(name) == ("Her name is Bepa, and she works at MXT.", 0, "")
    greek = "\u03a4\u039f \u039c\u0395\u03a4\u03a1\u039f \u039a\u0391\u0399 \u0397 AEGEAN"
    assert textsafe.read_lookalikes(greek)[1:] == (0, "")
    assert textsafe.read_lookalikes(name + " On Wh\u0430tsApp") == (
        "Her name is Bepa, and she works at MXT. On WhatsApp", 3, "Bepa")


def test_fold_lookalikes_reads_mixed_words_and_leaves_other_scripts() -> None:
    assert fold_lookalikes("Ch\u0430tham H\u043euse") == "Chatham House"
    assert fold_lookalikes("\u0421\u043e\u0441\u0435\u0434 \u03bf\u03b9\u03ba\u03bf\u03c2") == \
        "\u0421\u043e\u0441\u0435\u0434 \u03bf\u03b9\u03ba\u03bf\u03c2"  # Russian and Greek words stay
    assert fold_lookalikes("RAND \u0421orporation") == "RAND Corporation"


def test_read_lookalikes_reads_nfkc_letters_and_small_capitals() -> None:
    """attack23 N1: circled, squared, modifier (superscript) and subscript letters (NFKC: one ASCII
    letter) and the Latin small capitals (confusables) read as the letter and count as a disguise
    (text.confusables), a circled letter inside a word too (not \\w); the ordinal indicators stay."""
    for a, e in (("\u24d0", "\u24d4"), ("\U0001f130", "\U0001f134"), ("\u1d43", "\u1d49"), ("\u2090", "\u2091"),
                 ("\u1d00", "\u1d07")):
        text = f"on Wh{a}tsApp or T{e}l{e}gr{a}m, p{a}rtn{e}rs"
        folded, words, example = textsafe.read_lookalikes(text)
        assert folded.lower() == "on whatsapp or telegram, partners", (a, folded)
        assert (words, example.lower()) == (3, "whatsapp"), (a, words, example)
    assert fold_lookalikes("tel\u1d0f\u1d0d\u1d07") == "telome"
    assert textsafe.read_lookalikes("el 1\u00ba de mayo, n\u00ba 5, 2\u00aa planta") == (
        "el 1\u00ba de mayo, n\u00ba 5, 2\u00aa planta", 0, "")
    assert textsafe.read_lookalikes("see ch\u24d0tham\u24d7ouse.org") == ("see ch\u24d0tham\u24d7ouse.org", 0, "")


def test_read_lookalikes_reads_armenian_cherokee_and_coptic_lookalikes() -> None:
    """fix25look: cue words written with the Armenian, Cherokee or Coptic letters confusables.txt reads
    as one Latin letter scored clean 2.6 (their Cyrillic spelling high): read as the Latin word and
    counted, as Cyrillic ones; a letter whose prototype is a Latin small capital, the kra or Greek chi
    ("\uab72" -> "\u1d1b", "\u2c95" -> "\u0138", "\u2cad" -> "\u03c7") reads as that letter, a capital whose
    prototype is "l" as "I"."""
    for word, read in (("\u0570\u0585n\u0585rarium", "honorarium"), ("Si\u0581nal", "Signal"),  # Armenian
                       ("\u054fignal", "Signal"), ("c\u0585nfidential", "confidential"),
                       ("\u13b3hatsApp", "WhatsApp"), ("\u13a2ele\u13c0ram", "TeleGram"),  # Cherokee
                       ("conf\u13a5\u13e7ential", "confidential"), ("\uab72elegram", "telegram"),
                       ("c\u2c9fnfidential", "confidential"), ("\u2ca6elegram", "Telegram"),  # Coptic
                       ("\u2c95ind", "kind"), ("e\u2cadpenses", "expenses"), ("\u2c92nsights", "Insights"),
                       ("\u2ca7elegram", "telegram")):
        assert textsafe.read_lookalikes(f"on {word} now") == (f"on {read} now", 1, read), word
    cue = "Please keep this c\u0585nfidential and write on \u13b3hatsApp or \u2ca6elegram."
    assert textsafe.read_lookalikes(cue) == (
        "Please keep this confidential and write on WhatsApp or Telegram.", 3, "confidential")


def test_read_lookalikes_keeps_armenian_cherokee_and_coptic_text() -> None:
    """fix25look: Armenian, Cherokee and Coptic text stays as written, as Russian does: their look-alikes
    ("\u0561", "\u057d", "\u0585"; most Cherokee letters) are letters of those alphabets. It is read (not
    screened out), and only a word mixing in Latin letters is read as Latin; a word of look-alikes only
    ("\u054d\u0561", "\u0561\u057d\u0561"; Cherokee "\u13e6\u13a2", three) stays in a line of its script, and a
    word with a letter of the script that is no look-alike stays in a line of Latin text too."""
    armenian = ("\u054d\u0561 \u056b\u0574 \u0568\u0576\u056f\u0565\u0580\u0576 \u0567, \u0561\u057d\u0561 "
                "\u0576\u0580\u0561\u0576 \u0562\u0561\u0580\u0587\u0589 "
                "\u0535\u057d \u0578\u0582\u057d\u0561\u0576\u0578\u0572 "
                "\u0565\u0574 \u0535\u0580\u0587\u0561\u0576\u056b \u057a\u0565\u057f\u0561\u056f\u0561\u0576 "
                "\u0570\u0561\u0574\u0561\u056c\u057d\u0561\u0580\u0561\u0576\u0578\u0582\u0574\u0589")
    cherokee = ("\u13e3\u13b3\u13a9 \u13a6\u13ec\u13c2\u13af\u13cd\u13d7: \u13cc\u13ca, \u13d4\u13b5, "
                "\u13e6\u13a2, \u13c5\u13a9, \u13af\u13cd\u13a9.")
    coptic = "\u2ca0\u2c93\u2cac\u2ca3\u2c93\u2ca5\u2ca7\u2c9f\u2ca5 \u2c81\u03e5\u2ca7\u2cb1\u2c9b\u03e5"
    for text in (armenian, cherokee, coptic):
        assert textsafe.has_lookalikes(text), text
        assert textsafe.read_lookalikes(text) == (text, 0, ""), text
        assert textsafe.read_lookalikes(f"{text}\n{text}") == (f"{text}\n{text}", 0, ""), text
        assert textsafe.read_lookalikes(f"{text} Si\u0581nal") == (f"{text} Signal", 1, "Signal"), text
    mixed = f"Her name is \u0540\u0561\u057d\u0574\u056b\u056f, the word is {cherokee[:3]}."
    assert textsafe.read_lookalikes(mixed) == (mixed, 0, "")


def test_the_lookalike_class_is_ranges_and_holds_exactly_the_lookalikes() -> None:
    """`re` tests a character against a class of non-BMP characters entry by entry: the look-alike
    class is written as ranges (~160 entries, not ~1,000: 25x less CPU on non-ASCII text without a
    look-alike, benchmarks/disguise_bench.py) and matches exactly the LOOKALIKES letters."""
    assert textsafe._L.count("-") > 20 and len(textsafe._L) < 3 * 200
    any_lookalike = re.compile(f"[{textsafe._L}]")
    found = {c for c in map(chr, range(0x80, 0x20000)) if any_lookalike.match(c)}
    assert found == set(LOOKALIKES)


def test_narrow_spaces_as_a_lines_word_spaces_and_the_other_reading() -> None:
    """attack42 #2, review42 #3: narrow spaces where a line's spaces would be read as spaces; a line with
    two or more splits that is not such a line is read joined, with its spaced reading given as the other
    one; past MAX_SPACED_LINES lines with a split, the rest is read as one block (1,001 lines of "a b"
    before the approach no longer hide it)."""
    other: list[str] = []
    assert textsafe.join_split_words("keep\u2009this\u2009between\u2009us", other) == ("keep this between us", 0, "")
    assert other == []
    assert textsafe.join_split_words("Wh\u200aatsApp, ok?", other) == ("WhatsApp, ok?", 1, "WhatsApp")
    assert other == []
    line = "Plea\u200ase kee\u200ap this"
    assert textsafe.join_split_words(line, other) == ("Please keep this", 2, "Please")
    assert other == ["Plea se kee p this"]
    text = "a\u2009b\n" * (textsafe.MAX_SPACED_LINES + 1) + "keep\u2009this\u2009between\u2009us"
    assert textsafe.join_split_words(text)[0].endswith("a b\nkeep this between us")


def test_words_written_a_letter_at_a_time_are_given_joined_as_the_lines_other_reading() -> None:
    """attack42 #4: "W h a t s A p p" and "k e e p  t h i s  b e t w e e n  u s" (the spaced-text generators) were
    read as one-letter words. A line holding a run of four or more is given with its runs of two or more joined;
    shorter runs alone, initials and ordinary text give nothing; the search is linear and its lines capped."""
    other: list[str] = []
    textsafe.letter_spaced("Hi,\nCould we continue on W h a t s A p p? Thanks\nBye", other)
    assert other == ["Could we continue on WhatsApp? Thanks"]
    other = []
    textsafe.letter_spaced("k e e p  t h i s  b e t w e e n  u s", other)
    assert other == ["keep  this  between  us"]  # (the cue phrases read runs of spaces as one: one_space)
    for plain in ("I am a reporter, see J. R. R. Tolkien", "plan B a or c", "x = a b c", "A B C", "1 2 3 4 5",
                  "Hello there", ""):
        other = []
        textsafe.letter_spaced(plain, other)
        assert other == [], plain
    other = []
    textsafe.letter_spaced("a b c d e\n" * (textsafe.MAX_SPACED_LINES + 5) + "W h a t s A p p", other)
    assert len(other) == textsafe.MAX_SPACED_LINES + 1 and other[0] == "abcde"  # the rest: one block (review43b #3)
    assert other[-1] == "\nabcde" * 5 + "\nWhatsApp"
    other = []
    textsafe.letter_spaced("a " * 200_000 + "b c", other)  # one run, one line
    assert other == ["a" * 200_000 + "bc"]
    other = []
    textsafe.letter_spaced("a b c 1 " * 50_000, other)  # runs of three only
    assert other == []


def test_a_letter_goes_with_the_tighter_of_its_two_separators() -> None:
    """review44 #1: with two spaces a separator too, "a  s" (a one-letter word, the next word's first letter) read as a
    run and took the "s" ("as ecret", "Ia mo n  WhatsApp"): the very format of the spaced-text generators, whenever a
    line held "a" or "I". A letter goes with the tighter of its separators: a mark alone, one blank, a mark with
    blanks, two blanks, three."""
    for spaced, read in (("k e e p  t h i s  a  s e c r e t", "keep  this  a  secret"),
                         ("I  w i l l  p a y  y o u  a  f e e", "I  will  pay  you  a  fee"),
                         ("I  a m  o n  W h a t s A p p", "I  am  on  WhatsApp"),
                         ("It must be a  H E A D L I N E  or", "It must be a  HEADLINE  or"),
                         ("k.e.e.p t.h.i.s a s.e.c.r.e.t", "keep this a secret"),
                         ("I w.i.l.l p.a.y y.o.u a f.e.e", "I will pay you a fee"),
                         ("k.e.e.p i.t b.e.t.w.e.e.n u.s", "keep it between us"),
                         ("Willis has a B.D.I.C. in", "Willis has a BDIC. in")):
        other: list[str] = []
        textsafe.letter_spaced(spaced, other)
        assert other == [read], spaced


def test_every_separator_a_run_accepts_passes_the_prefilters() -> None:
    """review44 #2: the runs accepted " . ", " * ", "_ ", "  \t" ..., the prefilters let none of them through, so
    "W . h . a . t . s" was never read. Every separator of `_SEPARATOR` gives the word joined (with the slash, the
    bar, Unicode's hyphens and dashes and the minus sign too: review44 #4)."""
    marks = ".-_*/|\u00b7\u2022\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
    seps = [b + m + a for m in marks for b in ("", " ", "\t") for a in ("", " ", "\t")]
    seps += [x + y + z for x in " \t" for y in ("", " ", "\t") for z in ("", " ", "\t")]
    seps = [sep for sep in dict.fromkeys(seps) if re.fullmatch(textsafe._SEPARATOR, sep)]
    assert len(seps) == 149
    for sep in seps:
        other: list[str] = []
        textsafe.letter_spaced(f"Lets move to {sep.join('WhatsApp')} now", other)
        assert other == ["Lets move to WhatsApp now"], ascii(sep)


def test_a_long_lines_reading_is_its_runs_neighbourhood() -> None:
    """review44 #3: a reading was its whole line: an abbreviation in a paragraph of 20,000 characters used up the
    message's MAX_SPACED characters of other readings (a spaced approach after it unread), and a spaced line longer
    than them was never read. A long line gives SPACED_MARGIN characters each side of its run."""
    other: list[str] = []
    prose = "word " * 4_000
    textsafe.letter_spaced(f"I served in the U.S.A.F. {prose}\nCould we continue on W h a t s A p p? {prose}", other)
    assert [len(x) <= 2 * textsafe.SPACED_MARGIN + 20 for x in other] == [True, True]
    assert other[0].startswith("I served in the USAF. word") and other[1].startswith("Could we continue on WhatsApp?")


def test_words_written_a_letter_at_a_time_with_other_separators_are_read_joined() -> None:
    """review43b #4: two or three spaces, a tab, a dot, a hyphen, an underscore, an asterisk or a middle dot between
    the letters ("S.i.g.n.a.l", "W-h-a-t-s-A-p-p") hid the word as one space between them no longer did. A run needs
    the same separator between each two of its letters (the wider one between words ends it); initials, short
    abbreviations and options (three letters or fewer) and mixed separators give nothing (longer ones are read joined:
    "U.S.A.F." -> "USAF.", docs/known-limits.md "Open after session 44"); hostile lines are read in one pass."""
    for spaced, read in (("Let us talk on S.i.g.n.a.l today", "Let us talk on Signal today"),
                         ("Add me: W-h-a-t-s-A-p-p +44", "Add me: WhatsApp +44"),
                         ("W  h  a  t  s  A  p  p   n  o  w", "WhatsApp   now"),
                         ("W   h   a   t   s", "Whats"), ("on\tW\th\ta\tt\ts\tA\tp\tp", "on\tWhatsApp"),
                         ("W. h. a. t. s. A. p. p.", "WhatsApp."), ("T_e_l_e_g_r_a_m", "Telegram"),
                         ("W*h*a*t*s*A*p*p", "WhatsApp"), ("W \u00b7 h \u00b7 a \u00b7 t", "What"),
                         ("W\u2022h\u2022a\u2022t", "What"),
                         ("k.e.e.p t.h.i.s b.e.t.w.e.e.n u.s", "keep this between us"),
                         ("k - e - e - p  u - s", "keep  us"), ("S.u.S.E Linux 8.1", "SuSE Linux 8.1"),
                         # what Word and Outlook make of a typed " - ", and other marks (review44 #4)
                         ("Add me on " + " \u2013 ".join("WhatsApp"), "Add me on WhatsApp"),
                         ("S\u2014i\u2014g\u2014n\u2014a\u2014l", "Signal"), ("S\u2011i\u2011g\u2011n", "Sign"),
                         ("on S/i/g/n/a/l", "on Signal"), ("T | e | l | e | g | r | a | m", "Telegram"),
                         ("k\u2212e\u2212e\u2212p", "keep")):
        other: list[str] = []
        textsafe.letter_spaced(spaced, other)
        assert other == [read], spaced
    for plain in ("see J. R. R. Tolkien", "e.g. a.b. i.e. w.r.t.", "A-B-C grades",
                  "W.h-a t.s", "W. h.a. t", "x\ty\tz", "a\u00b7b\u00b7c", "T-shirt, X-ray, e-mail", "a b c 1 a.b.c 2",
                  "and/or, w/o, I/O, A/B/C tests", "W\u2013h\u2014a\u2013t", "pages 4\u20139, A\u2013Z, x | y | z"):
        other = []
        textsafe.letter_spaced(plain, other)
        assert other == [], plain
    for hostile, n in (("a." * 100_000, 1), ("a.b-" * 50_000, 0), ("a  b " * 40_000, 0), ("a\t" * 100_000, 1)):
        other = []
        textsafe.letter_spaced(hostile, other)
        assert len(other) == n and (not n or other[0].strip(".\t") == "a" * 100_000), hostile[:8]


# the marks in descending combining class (one of each class): a run of them repeated is what normalising sorts by
# insertion in quadratic time (cpu43 #1); the spacing marks of a class (a virama, a musical stem), a mark beyond the
# BMP, U+0F73 (a mark that decomposes to two marks out of order) and the half-width sound mark (compatibility)
_CLASSES = {unicodedata.combining(chr(c)): chr(c) for c in range(0x300, 0x20000)
            if unicodedata.combining(chr(c)) and chr(c) not in "\u0312\u0313\u0314\u0315\u0343"}  # (not the commas)
_DESCENDING = "".join(_CLASSES[k] for k in sorted(_CLASSES, reverse=True))  # a mark of each class, the highest first
_HOSTILE = ["a" + _DESCENDING * 40, "a" + "\u0f73" * 3_000, "a" + ("\ua953\U0001d165\u302e\U00016ff0" * 700),
            "a" + ("\U0001d17b\U0001d167" * 1_500), "\uff76" + "\uff9e\ua953" * 1_500, "x\u0301" * 2_000]


def _longest_run(text: str) -> int:
    run = longest = 0
    for c in text:
        run = run + 1 if unicodedata.combining(c) else 0
        longest = max(longest, run)
    return longest


def test_normalising_is_given_no_run_of_marks_to_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    """cpu43 #1: `cue_skeleton` (every message's cue phrases and messenger mention) and the policies' `fold` handed
    unicodedata.normalize a stranger's run of combining marks, which it sorts by insertion: 60,000 marks in
    descending class cost 8.5 s of CPU in one call on the event loop. The cue skeleton drops the marks before
    normalising (and after: the same reading), `fold` cuts a run to STREAM_SAFE (30, UAX #15's stream-safe limit;
    its reading of ordinary text is as before): what reaches normalize holds no longer run."""
    from gateway.policy.text import fold
    real = unicodedata.normalize
    given_runs: list[int] = []
    read = [_old_cue_skeleton(text) for text in _HOSTILE]  # (small enough for the old reading)

    def spy(form: Any, text: str) -> str:
        given_runs.append(_longest_run(text))
        return real(form, text)

    monkeypatch.setattr(unicodedata, "normalize", spy)
    for text, want in zip(_HOSTILE, read, strict=True):
        assert textsafe.cue_skeleton(text) == want and len(want) <= 3_001, ascii(text[:8])
    assert len(given_runs) == len(_HOSTILE) and max(given_runs) == 0
    for text in _HOSTILE:
        fold(text)
    assert len(given_runs) == 2 * len(_HOSTILE) and max(given_runs) == textsafe.STREAM_SAFE
    monkeypatch.undo()
    assert fold("\u30d3\u30b6") != fold("\u30d2\u30b5") and fold("Caf\u00e9 \u00c9t\u00c9") == "cafe ete"
    assert textsafe.stream_safe("a" + "\u0301" * 40 + "b") == "a" + "\u0301" * 30 + "b"


_SPACING_MARKS = re.compile("[" + "".join(c for c in map(chr, range(0x300, 0x20000))
                                          if unicodedata.combining(c) and unicodedata.category(c) == "Mc") + "]")


def _old_cue_skeleton(text: str) -> str:
    """Session 42's reading (NFD first, the Mn/Me marks dropped after), the 25 spacing marks of a class dropped."""
    plain = textsafe._MARKS.sub("", unicodedata.normalize("NFD", text).translate(textsafe._COMMA_MARKS))
    plain = textsafe._ASTRAL_MARKS.sub("", plain)
    return _SPACING_MARKS.sub("", plain).translate(textsafe._CUE_FOLD)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    [*"aeiouAEIOU dtnx'`", *(chr(c) for c in range(0x300, 0x370)), *"\u1ea1\u1ec7\u1ed1\u1f00\u1f10\u0439\u0419\uac00"
     "\u0f73\u0f75\u0344\u0343\u2019\U0001d165\u302e\ua953\U0001d15e\U0001d167\U0001d17b\u00e9\u0131\u0257"]),
    max_size=40))
def test_the_cue_skeleton_reads_as_before_with_the_marks_dropped_first(text: str) -> None:
    """Dropping the marks before NFD changes nothing a reader reads: the same skeleton as NFD first, on any mix of
    letters, precomposed letters, marks (the combining commas read as "'"), Hangul and marks beyond the BMP."""
    assert textsafe.cue_skeleton(text) == _old_cue_skeleton(text)
