"""Terminal and JSON-line escaping of a stranger's text (gateway/textsafe.py) where the CLI
prints it: quarantine list/show, hunt, scan --json."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

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


_MIX = "aZ\u00e9\u0430\u0435\u043e\u03bf\u0421 .\n\u4e2d\udc80" + INVISIBLE


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


def test_fold_lookalikes_reads_mixed_words_and_leaves_other_scripts() -> None:
    assert fold_lookalikes("Ch\u0430tham H\u043euse") == "Chatham House"
    assert fold_lookalikes("\u0421\u043e\u0441\u0435\u0434 \u03bf\u03b9\u03ba\u03bf\u03c2") == \
        "\u0421\u043e\u0441\u0435\u0434 \u03bf\u03b9\u03ba\u03bf\u03c2"  # Russian and Greek words stay
    assert fold_lookalikes("RAND \u0421orporation") == "RAND Corporation"
