"""Banner insertion throughput: the real-mail corpora, one large message, and 2 MiB HTML parts
whose head is built to make the body-start scan work hardest (baseline in the same run: a 2 MiB
ordinary HTML body). Prints figures.

Run: python benchmarks/banner.py [CORPORA_DIR]   (default ../shared/corpora)
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.act.banner import Templates, insert_banner
from gateway.model import Decision, RuleHit, Verdict
from gateway.parse import normalize_newlines

BANNER = Templates.load().render(Decision(Verdict.HIGH, 11, (RuleHit("r", 11, "Pushes to Telegram"),)),
                                 "mailto:security@example.org")


def corpus(root: Path) -> None:
    files = sorted((root / "ham" / "spamassassin").glob("*/*")) + sorted((root / "phish").glob("*/*.eml"))
    messages = [normalize_newlines(f.read_bytes()) for f in files]
    start = time.perf_counter()
    changed = sum(insert_banner(m, BANNER) != m for m in messages)
    elapsed = time.perf_counter() - start
    size = sum(map(len, messages)) / 1e6
    print(f"corpus: {len(messages)} messages, {size:.1f} MB, {changed} bannered, "
          f"{elapsed:.2f} s, {len(messages) / elapsed:.0f} msg/s")


def large() -> None:
    blob = base64.encodebytes(os.urandom(7_000_000)).replace(b"\n", b"\r\n")
    raw = (b"From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
           b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n--B\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=x.bin\r\n\r\n" + blob + b"\r\n--B--\r\n")
    start = time.perf_counter()
    out = insert_banner(raw, BANNER)
    print(f"large: {len(raw) / 1e6:.1f} MB message, bannered={out != raw}, "
          f"{time.perf_counter() - start:.2f} s")


def hostile_heads() -> None:
    head = (b"From: a@example.net\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n")
    size = 2 * 1024 * 1024 - 200
    cases = {
        "baseline: ordinary 2 MiB body": b"<html><head><title>t</title></head><body>"
                                         + b"<p>hello world</p>\r\n" * (size // 21),
        "'</a>' repeated": b"<html><head>" + b"</a>" * (size // 4),
        "'<meta a=b c d e>' lines": b"<html><head>" + b"<meta a=b c d e>\r\n" * (size // 18),
        "'<!---->' repeated": b"<html><head>" + b"<!---->" * (size // 7),
        "'</titlex' in a title": b"<html><head><title>" + b"</titlex" * (size // 8),
        "'<meta a=\"' unterminated": b"<html><head>" + b'<meta a="' * (size // 9),
    }
    for name, body in cases.items():
        raw = head + body + b"\r\n"
        start = time.perf_counter()
        out = insert_banner(raw, BANNER)
        print(f"html head {name}: {len(raw) / 1e6:.1f} MB, bannered={out != raw}, "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    if root.is_dir():
        corpus(root)
    large()
    hostile_heads()
