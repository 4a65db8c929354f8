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
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

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


_MIX = "aZ\u00e9\u0430\u0435\u043e\u03bf\u0421 .\n\u4e2d\udc80" + INVISIBLE


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_MIX), max_size=60))
def test_visible_text_drops_exactly_the_invisible_characters(text: str) -> None:
    """`visible_text` (an `in` and a `replace` per character, for speed) removes what one regex class
    of `INVISIBLE` removes and nothing else; `fold_lookalikes` keeps the length (offsets stay valid)
    and changes only look-alike letters touching a Latin one."""
    assert visible_text(text) == re.sub(f"[{INVISIBLE}]", "", text)
    folded = fold_lookalikes(text)
    assert len(folded) == len(text)
    for i, (a, b) in enumerate(zip(text, folded, strict=True)):
        if a != b:
            assert LOOKALIKES[a] == b
            near = text[i - 1:i] + text[i + 1:i + 2]
            assert any(c.isascii() and c.isalpha() for c in near) or LOOKALIKES.get(text[i - 1:i] or " ") \
                or LOOKALIKES.get(text[i + 1:i + 2] or " ")


def test_fold_lookalikes_reads_mixed_words_and_leaves_other_scripts() -> None:
    assert fold_lookalikes("Ch\u0430tham H\u043euse") == "Chatham House"
    assert fold_lookalikes("\u0421\u043e\u0441\u0435\u0434 \u03bf\u03b9\u03ba\u03bf\u03c2") == \
        "\u0421\u043e\u0441\u0435\u0434 \u03bf\u03b9\u03ba\u03bf\u03c2"  # Russian and Greek words stay
    assert fold_lookalikes("RAND \u0421orporation") == "RAND Corporation"
