"""CPU of `gateway.smtp.data.DataReader` alone, the version of a git ref (default: main) against
the working tree's, in the same run, on the same bytes.

Two 10 MB messages, each fed in 64 KiB chunks (READ_SIZE, what one socket read hands over):
`mime`, a short text part and a base64 attachment (76-byte lines, no dot anywhere: most of a
large message), and `dots`, text whose lines often start with a dot or hold one (every third
line dot-stuffed). Both readers must give the same content, state and flags (checked every run).
Per repeat and reader: CPU seconds (time.process_time) of the whole feed and `content()`; the
readers alternate, and the median over the repeats is printed, in ms per 10 MB.

    .venv/bin/python benchmarks/data_reader_bench.py [--base main] [--repeats 15]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.smtp import data as new_module  # noqa: E402 - after the path fix

SIZE = 10 * 1000 * 1000
CHUNK = new_module.READ_SIZE


def old_module(ref: str, tmp: Path) -> ModuleType:
    """gateway/smtp/data.py as it is at `ref`, imported as a module of its own."""
    text = subprocess.run(["git", "show", f"{ref}:gateway/smtp/data.py"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    path = tmp / "data_reader_base.py"
    path.write_bytes(text)
    spec = importlib.util.spec_from_file_location("data_reader_base", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mime_message(rnd: random.Random) -> bytes:
    head = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
            b"Content-Type: text/plain\r\n\r\nThe report is attached\r\n\r\n--b1\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    raw = rnd.randbytes(SIZE * 3 // 4)
    body = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return head + body[:SIZE - len(head) - 200] + b"\r\n--b1--\r\n"


def dots_message(rnd: random.Random) -> bytes:
    words = [b"alpha", b"beta", b"gamma", b"e.g.", b"www.example.org", b"3.14", b"and", b"the", b"..."]
    lines = []
    size = 0
    while size < SIZE:
        line = b" ".join(rnd.choice(words) for _ in range(rnd.randint(3, 14)))
        if rnd.random() < 1 / 3:
            line = b"." + line  # dot-stuffed on the wire
        lines.append(line)
        size += len(line) + 2
    return b"Subject: dots\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"


def feed_all(module: ModuleType, wire: bytes) -> tuple[float, tuple[Any, ...]]:
    view = memoryview(wire)
    t0 = time.process_time()
    reader = module.DataReader(None, 1001)
    for start in range(0, len(wire), CHUNK):
        if reader.feed(bytes(view[start:start + CHUNK])):
            break
    content = reader.content()
    spent = time.process_time() - t0
    return spent, (reader.state, reader.bare, reader.dots, reader.rest, len(content), hash(content))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="main", help="git ref of the old reader (default: main)")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    rnd = random.Random(13)
    messages = {"mime": mime_message(rnd), "dots": dots_message(rnd)}
    with tempfile.TemporaryDirectory() as tmp:
        old = old_module(args.base, Path(tmp))
    readers = {f"{args.base}": old, "worktree": new_module}
    print(f"DataReader CPU per 10 MB in {CHUNK} B chunks, median of {args.repeats} (min-max), ms")
    for kind, message in messages.items():
        wire = message + b".\r\nQUIT\r\n"
        times: dict[str, list[float]] = {name: [] for name in readers}
        results = {}
        for _ in range(args.repeats):
            for name, module in readers.items():
                spent, result = feed_all(module, wire)
                times[name].append(spent * 1000 * SIZE / len(message))
                results.setdefault(name, result)
                if result != results[name]:
                    raise SystemExit(f"{kind}: {name} gave a different result from one run to the next")
        first, *others = results.values()
        if any(other != first for other in others):
            raise SystemExit(f"{kind}: the readers differ: {results}")
        cells = [f"{name} {statistics.median(ts):6.1f} ({min(ts):.1f}-{max(ts):.1f})" for name, ts in times.items()]
        base, new = (statistics.median(ts) for ts in times.values())
        print(f"{kind:5} " + "  ".join(cells) + f"  new/old {new / base:.2f}")


if __name__ == "__main__":
    main()
