"""Does the first message after start cost more than the tenth? (issue 10: "the first message
after start costs no more than the tenth").

Usage: python benchmarks/first_message.py [--processes 20] [--corpus DIR]

Each of --processes fresh interpreters builds the runtime the way `serve` does (shipped policies,
reference data, SQLite store in a temporary directory, offline: no DNS) and prepares it as
`serve` does before it accepts connections (opens the store, `Runtime.warm_up`; `--cold` leaves
that out), then analyses ten messages of the ham corpus one after another, timing each with
time.process_time (all threads).

Which message comes in which place is balanced, so that places compare the same messages: the
processes form groups of ten; each group takes ten messages spread over the corpus (sorted by
name; neighbours often come from the same list or sender, whose caches would flatter the later
places), and process r of a group analyses them rotated by r. Every message of a group is thus
analysed once in every place, first and tenth included, each time in a fresh process.
Printed: the median and mean CPU ms of each place over all processes, first/tenth, and first
against the median of places 6-10 (less noisy than one place).

Untrusted input: the corpus messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def child(index: int, groups: int, corpus: str, cold: bool) -> None:
    import scan_bench as sb

    files, msgs = sb.load([Path(corpus)], None)
    group, rotation = divmod(index, 10)
    stride = len(msgs) // (10 * groups)  # far apart in the sorted corpus: not the same list or sender twice
    chosen = [msgs[(group + i * groups) * stride] for i in range(10)]
    msgs = chosen[rotation:] + chosen[:rotation]
    tmp = Path(tempfile.mkdtemp())
    cfg = tmp / "gateway.yml"
    cfg.write_text(sb.CONFIG.format(policies=str(ROOT / "policies"), store=str(tmp / "store.sqlite3")))

    async def go() -> list[float]:
        runtime = sb.gr.Runtime(sb.load_config(cfg), offline=True)
        if not cold:  # what Gateway.start does before it listens: open the store, then warm up
            if runtime.store is not None:
                await runtime.store.purge()
            await runtime.warm_up()
        out = []
        for raw in msgs:
            env = sb.envelope(raw)
            c = time.process_time()
            await runtime.analyse(raw, env)
            out.append((time.process_time() - c) * 1000)
        return out
    print(json.dumps(asyncio.run(go())))


def main(argv: list[str] | None = None) -> int:
    import scan_bench as sb

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=40, help="a multiple of ten (default 40)")
    ap.add_argument("--corpus", default=str(sb.CORPUS))
    ap.add_argument("--cold", action="store_true", help="no warm-up (what serve would cost without it)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child, args.processes // 10, args.corpus, args.cold)
        return 0
    if args.processes < 10 or args.processes % 10:
        ap.error("--processes must be a multiple of ten")
    rows = []
    for k in range(args.processes):
        out = subprocess.run([sys.executable, __file__, "--child", str(k), "--processes", str(args.processes),
                              "--corpus", args.corpus]
                             + (["--cold"] if args.cold else []),
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    how = "no warm-up" if args.cold else "warmed up as serve does"
    print(f"{args.processes} fresh processes x 10 messages each, {how} (CPU ms per message, process_time)")
    print("place   median    mean")
    for i in range(10):
        col = [r[i] for r in rows]
        print(f"{i + 1:5} {statistics.median(col):8.2f} {statistics.fmean(col):7.2f}")
    first, tenth = statistics.median(r[0] for r in rows), statistics.median(r[9] for r in rows)
    settled = statistics.median(x for r in rows for x in r[5:])
    print(f"first / tenth (medians): {first / tenth:.2f}")
    print(f"first / places 6-10 (medians): {first / settled:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
