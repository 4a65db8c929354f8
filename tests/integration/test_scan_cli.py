from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "gw.yml"
    cfg.write_text(f"listen: 127.0.0.1:2525\nupstream: {{port: 10026}}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\npolicies: [{ROOT / 'policies'}]\n"
                   f"store: {{path: {tmp_path / 'store.sqlite3'}}}\n")
    return cfg


def test_scan_json_reports_contract_fields(tmp_path: Path) -> None:
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"From: a@ext.test\nTo: bob@example.org\nX-Approach-Verdict: clean\nSubject: x\n\nhello\n")
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(_config(tmp_path)),
                          "--json", "--offline", "--client-ip", "192.0.2.1", "--helo", "mx.ext.test",
                          "--rcpt", "bob@example.org", str(msg)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout.strip())
    assert obj["file"] == str(msg)
    assert obj["verdict"] in ("clean", "caution", "suspicious", "high")
    assert isinstance(obj["score"], (int, float)) and isinstance(obj["reasons"], list)
    names = [h["name"] for h in obj["headers"]]
    assert names[:1] == ["Received"] and "X-Approach-Verdict" in names and "X-Approach-Reasons" in names
    received = obj["headers"][0]["value"]
    assert "mx.ext.test" in received and "[192.0.2.1]" in received
    assert obj["plan"] == {"action": "deliver", "reject": None, "banner": False, "header_edits": [], "copy_to": []}


def test_scan_json_shows_the_action_plan_serve_would_carry_out(tmp_path: Path) -> None:
    """The plan in `scan --json` is the one `serve` carries out: banner, subject tag, copies,
    quarantine or reject, per the policies' actions for the verdict."""
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "90-act.yml").write_text(
        "rules:\n  - id: always-high\n    score: 90\n    when: {signal: sender.freemail}\n"
        "    reason: free-mail sender\nactions:\n"
        "  high: {banner: true, subject_tag: '[APPROACH?]', copy_to: [sec@example.org], quarantine: true}\n")
    cfg = tmp_path / "gw.yml"
    cfg.write_text(f"listen: 127.0.0.1:2525\nupstream: {{port: 10026}}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\npolicies: [{ROOT / 'policies'}, {tmp_path / 'pol'}]\n"
                   f"store: {{path: {tmp_path / 'store.sqlite3'}}}\n")
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"From: Lin <lin.research@gmail.com>\r\nTo: bob@example.org\r\nSubject: your views\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n")
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(cfg), "--json", "--offline",
                          "--rcpt", "bob@example.org", str(msg)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout.strip())
    assert obj["verdict"] == "high", obj
    plan = obj["plan"]
    assert plan["action"] == "quarantine" and plan["banner"] is True and plan["copy_to"] == ["sec@example.org"]
    # the subject tag: the old Subject removed (value null) and the tagged one added
    edits = sorted((e["name"], e["value"] is None) for e in plan["header_edits"])
    assert edits == [("Subject", False), ("Subject", True)]
    assert [e["value"] for e in plan["header_edits"] if e["value"]] == ["[APPROACH?] your views"]


def test_scan_missing_file_is_an_error_but_others_are_scanned(tmp_path: Path) -> None:
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"Subject: x\n\nhello\n")
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(_config(tmp_path)),
                          "--offline", str(tmp_path / "missing.eml"), str(msg)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "missing.eml: cannot read" in out.stderr
    assert f"{msg}: " in out.stdout


def test_scan_json_prints_one_object_per_file_even_refused_ones(tmp_path: Path) -> None:
    """A batch never silently loses a message: every input file gets exactly one JSON line."""
    import json

    msg = tmp_path / "m.eml"
    msg.write_bytes(b"Subject: x\n\nhello\n")
    files = [str(tmp_path / "missing.eml"), str(msg), str(tmp_path), str(msg)]
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--json", "--config", str(_config(tmp_path)),
                          "--offline", *files], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    objs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [o["file"] for o in objs] == files
    assert "error" in objs[0] and "error" in objs[2] and "verdict" not in objs[0]
    assert objs[1]["verdict"] == objs[3]["verdict"] and "error" not in objs[1]


def test_policy_lint_reports_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("rules:\n  - id: x\n    when: {bogus: 1}\n    score: 1\n")
    out = subprocess.run([sys.executable, "-m", "gateway", "policy", "lint", str(bad)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"{bad}:3" in out.stderr


def test_scan_json_plans_the_banner_for_a_utf16_approach(tmp_path: Path) -> None:
    """attack20 F1: a high approach in UTF-16 (base64) or under a WHATWG-only charset label was
    planned (and delivered) without banner; the analysis and the banner now read it alike."""
    import base64
    src = (ROOT / "tests/corpus/approach/001-freemail-recruiter-whatsapp.eml").read_bytes()
    src = src.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, _, body = src.partition(b"\r\n\r\n")
    assert b'charset="us-ascii"' in head and b"Content-Transfer-Encoding: 7bit" in head
    b64 = base64.b64encode(body.decode().encode("utf-16"))
    files = {"u16": head.replace(b'charset="us-ascii"', b'charset="utf-16"')
             .replace(b": 7bit", b": base64") + b"\r\n\r\n"
             + b"".join(b64[i:i + 76] + b"\r\n" for i in range(0, len(b64), 76)),
             "cp": src.replace(b'charset="us-ascii"', b'charset="x-cp1252"')}
    files["bom"] = files["u16"].replace(b'charset="utf-16"', b'charset="us-ascii"')  # the BOM wins: clean 2.6 before
    for name, data in files.items():
        (tmp_path / f"{name}.eml").write_bytes(data)
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(_config(tmp_path)), "--json",
                          "--offline", "--rcpt", "sarah.whitfield@example.org",
                          *(str(tmp_path / f"{n}.eml") for n in files)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    objs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [(o["verdict"], o["plan"]["banner"]) for o in objs] == [("high", True)] * 3, objs


def test_scan_reads_an_approach_written_in_look_alike_letters_or_bidi_overrides(tmp_path: Path) -> None:
    """attack21 findings 5/6: the same approach with Cyrillic letters that look Latin in every word
    (or in its cue words only), or with every word reversed under a right-to-left override, reads
    the same on screen; it scored clean 2.6 (caution on the cues) against high for the plain text.
    Now each scores as the plain text does, and says what it undid."""
    src = (ROOT / "tests/corpus/approach/001-freemail-recruiter-whatsapp.eml").read_bytes().replace(b"\r\n", b"\n")
    head, _, body = src.partition(b"\n\n")
    head = head.replace(b'charset="us-ascii"', b'charset="utf-8"').replace(b": 7bit", b": 8bit")
    cyrillic = str.maketrans("aeopcxiAEOPCHKMT", "\u0430\u0435\u043e\u0440\u0441\u0445\u0456\u0410\u0415\u041e"
                                                 "\u0420\u0421\u041d\u041a\u041c\u0422")
    text = body.decode()
    cues = ("WhatsApp", "consultancy", "confidential", "advisor", "compensation", "reports")
    variants = {
        "plain": text,
        "cyrillic-all": text.translate(cyrillic),
        "cyrillic-cues": re.sub("|".join(cues), lambda m: m.group().translate(cyrillic), text),
        # each line reversed under one override: words each under their own, the spaces between
        # two overrides join them (UAX #9 N1) and a reader sees the words of a line in reverse order
        "bidi-all": re.sub(r"(?m)^.+$", lambda m: "\u202e" + m.group()[::-1] + "\u202c", text),
    }
    for name, variant in variants.items():
        (tmp_path / f"{name}.eml").write_bytes(head + b"\n\n" + variant.encode())
    out = subprocess.run([sys.executable, "-m", "gateway", "scan", "--config", str(_config(tmp_path)), "--json",
                          "--offline", "--rcpt", "sarah.whitfield@example.org",
                          *(str(tmp_path / f"{n}.eml") for n in variants)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    objs = dict(zip(variants, (json.loads(line) for line in out.stdout.splitlines() if line.strip()), strict=True))
    plain = objs["plain"]
    assert plain["verdict"] == "high"
    for name in ("cyrillic-all", "cyrillic-cues", "bidi-all"):
        assert objs[name]["verdict"] == "high", (name, objs[name]["score"], plain["score"])
    signals = {n: {s["name"]: s["evidence"] for s in o["signals"]} for n, o in objs.items()}
    assert "text.confusables" not in signals["plain"] and "text.bidi_override" not in signals["plain"]
    assert int(signals["cyrillic-all"]["text.confusables"]["words"]) > 100
    assert signals["cyrillic-cues"]["text.confusables"]["words"] == "6"
    assert int(signals["bidi-all"]["text.bidi_override"]["overrides"]) == len(re.findall(r"(?m)^.+$", text))
    for name in variants:
        assert "content.offchannel_mention" in signals[name], name
