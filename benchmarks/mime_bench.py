"""CPU of `MessageView.parse` on MIME shapes built against the delimiter-line reading
(gateway/mimewalk.py `loose_delimiters`, `exact_delimiters`), each beside a baseline of the same
size and shape that does not hit the path, in the same run.

    python benchmarks/mime_bench.py              # best of 5
    python benchmarks/mime_bench.py --repeat 3

Prints milliseconds (time.process_time, best of --repeat) per message. Never a test: tests assert
behaviour and work bounds (tests/unit/test_mimewalk_delimiters.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.parse import MessageView

sys.path.insert(0, str(Path(__file__).resolve().parent))
from disguise_bench import _best  # the benchmarks' one best-of-N CPU timer

HEAD = (b"From: Daniel Lee <daniel.lee.talent@gmail.com>\r\nTo: sarah@example.org\r\nSubject: hello\r\n"
        b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <loose@gmail.com>\r\nMIME-Version: 1.0\r\n")


def loose_scan(k: int = 450, lines: int = 2000, inner: bytes = b"-") -> bytes:
    """attack22 finding 3: k empty multiparts whose boundary is `inner`, 2000 lines full of dashes."""
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="Q"\r\n\r\n--Q\r\nContent-Type: text/plain\r\n\r\nHi,\r\n']
    out += [b"x" + b"-" * 97 + b"\r\n"] * lines
    out += [b'--Q\r\nContent-Type: multipart/mixed; boundary="' + inner + b'"\r\n\r\n'] * k
    out.append(b"--Q--\r\n")
    return b"".join(out)


def prefix_nested(depth: int, loose: int = 400) -> bytes:
    """attack22 finding 13: `depth` multiparts whose boundaries each extend the one around them,
    the innermost opened by `loose` lines '--B1..1 note' (depth 2: the baseline)."""
    bs = [b"B" + b"1" * i for i in range(depth)]
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n']
    out += [b"--" + bs[i] + b'\r\nContent-Type: multipart/mixed; boundary="' + bs[i + 1] + b'"\r\n\r\n'
            for i in range(depth - 1)]
    out += [b"--" + bs[-1] + b" note %d\r\nContent-Type: text/plain\r\n\r\nline of text for the part\r\n" % i
            for i in range(loose)]
    out += [b"--" + b + b"--\r\n" for b in reversed(bs)]
    return b"".join(out)


def shared_nested(levels: int = 19, parts: int = 1500, prefix: bytes = b"Y" * 80) -> bytes:
    """attack23 C1: `levels` nested multiparts whose boundaries are `prefix` and a 20-digit number
    (100 characters sharing their first 80: Dovecot and the walk match all by the prefix), the
    innermost holding `parts` text parts; prefix b"Q" and a short number: distinct boundaries."""
    bs = [prefix + (b"%020d" % i if len(prefix) >= 80 else b"%02dx" % i) for i in range(levels + 1)]
    out = [HEAD + b'Content-Type: multipart/mixed; boundary="' + bs[0] + b'"\r\n\r\n']
    out += [b"--" + bs[i] + b'\r\nContent-Type: multipart/mixed; boundary="' + bs[i + 1] + b'"\r\n\r\n'
            for i in range(levels)]
    text = b"x" * (1 + 100 - len(bs[0]))  # the same size either way
    out += [b"--" + bs[levels] + b"\r\nContent-Type: text/plain\r\n\r\n" + text + b"\r\n"] * parts
    return b"".join(out)


MESSAGES: dict[str, Callable[[], bytes]] = {
    "loose-scan boundary '-' (attack)": lambda: loose_scan(),
    "loose-scan boundary 'zzz' (baseline)": lambda: loose_scan(inner=b"zzz"),
    "prefix-nested depth 20, 400 loose lines": lambda: prefix_nested(20),
    "prefix-nested depth 10, 400 loose lines": lambda: prefix_nested(10),
    "prefix-nested depth 2 (baseline)": lambda: prefix_nested(2),
    "19 nested, 100-char boundaries sharing 80, 1500 parts (attack)": lambda: shared_nested(),
    "19 nested, distinct short boundaries, 1500 parts (baseline)": lambda: shared_nested(prefix=b"Q"),
    "one text part of the same size (baseline)": lambda: HEAD + b"Content-Type: text/plain\r\n\r\n"
    + (b"x" * 98 + b"\r\n") * 2070,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for name, make in MESSAGES.items():
        raw = make()
        ms = _best(lambda: MessageView.parse(raw), args.repeat)  # noqa: B023 - called at once
        print(f"{name:64} {len(raw) / 1024:7.1f} KB {ms:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
