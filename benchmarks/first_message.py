"""Does the first message after start cost more than the tenth? (issue 10: "the first message
after start costs no more than the tenth").

Usage: python benchmarks/first_message.py [--processes 40] [--cold] [--corpus DIR]
       python benchmarks/first_message.py --instructions [--groups 4] [--corpus DIR]
           [--keep-callgrind DIR] [--warm-up-cost] [--recorded restart|reload] [--others DIR]

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

CPU time on a shared or virtual machine drifts by more than the difference asked about (the
ratio moved between 1.02 and 1.44 in consecutive runs of the same code). `--instructions` counts
instead, with valgrind's callgrind (Debian: valgrind): for each of `--groups` groups, the first
message of the group analysed first after the warm-up, and the same message analysed tenth (after
the group's nine others), each in its own process under callgrind (PYTHONHASHSEED=0, one run at a
time: about a minute each), counting only the instructions of that one analysis. Printed: both
counts and their ratio per group, and the median ratio. Deterministic up to the timing of the
store's thread, which varies the count by well under 1 % on a quiet machine. The warm-up runs to
its end there: its budget is wall time (5 s, ample natively: ~0.15-0.25 s of CPU), and under
callgrind it takes ~7 s of CPU (17 s of wall time on a loaded machine), so the budget used to cut
it at a point that depended on the machine's load (the count of one first message went from 11 M
to 97 M between two runs); a child whose warm-up or any check was cut short fails the run.
`--keep-callgrind DIR` keeps each child's callgrind output (callgrind.first.g0.out, ...) to
compare first and tenth per function (callgrind_annotate --inclusive=yes); `--warm-up-cost` also
counts `Runtime.warm_up` itself (group 0's child, a new store). `--recorded restart|reload`: the
store holds the group's nine other messages, recorded as `serve` records relayed mail, so that
what the warm-up reads from the store (`Shared.warm_seen`) counts: the tenth after the nine in its
own runtime, the first in a new process over that store (restart) or in a new runtime of the
process that analysed them (reload: the RE2 sets, module constants, keep their DFA states).
`--others DIR`: the nine analysed before the tenth come from another corpus (spread the same way), so
that the tenth has the process's experience of mail but none of its own corpus's text: what remains
of first/tenth then is what being first costs, not what the nine's shared text left behind.

Untrusted input: the corpus messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _group(group: int, groups: int, corpus: str) -> list[bytes]:
    """The ten messages of `group`: far apart in the sorted corpus (not the same list or sender twice)."""
    import scan_bench as sb

    _files, msgs = sb.load([Path(corpus)], None)
    stride = len(msgs) // (10 * groups)
    return [msgs[(group + i * groups) * stride] for i in range(10)]


def _config(extra: str = "") -> Path:
    import scan_bench as sb

    tmp = Path(tempfile.mkdtemp())
    cfg = tmp / "gateway.yml"
    cfg.write_text(sb.CONFIG.format(policies=str(ROOT / "policies"), store=str(tmp / "store.sqlite3")) + extra)
    return cfg


# Under callgrind a check's share of the analysis deadline (wall time) could run out on a loaded
# machine ("check sender timed out" failed the run): the counted child's deadline is an hour
UNDER_VALGRIND_LIMITS = "limits: {analysis_timeout: 3600}\n"


def child(index: int, groups: int, corpus: str, cold: bool) -> None:
    import scan_bench as sb

    group, rotation = divmod(index, 10)
    chosen = _group(group, groups, corpus)
    msgs = chosen[rotation:] + chosen[:rotation]
    cfg = _config()

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


def record_nine(cfg: Path, nine: list[bytes], loop: asyncio.AbstractEventLoop) -> None:
    """A runtime over `cfg` analyses `nine` and records them in its store, as `serve` records relayed mail."""
    import scan_bench as sb

    before = sb.gr.Runtime(sb.load_config(cfg), offline=True)
    for raw in nine:
        loop.run_until_complete(before.record(loop.run_until_complete(before.analyse(raw, sb.envelope(raw)))))
    loop.run_until_complete(before.close())


UNDER_VALGRIND_BUDGET = 3600.0
# The counted analysis is driven by loop.run_until_complete, which the tenth place's nine
# analyses had run nine more times (CPython specialises a function after 8 calls); `serve` never
# calls it per message. A few empty runs first make it as warm in both places.
HARNESS_RUNS = 10


def child_counted(group: int, groups: int, corpus: str, place: str, recorded: str = "", others: str = "") -> None:
    """Under callgrind with --toggle-collect=_PyEval_CallTracing: only the call run through
    sys.call_tracing is counted (the C function exists for that call alone): the analysis of the
    group's first message (`place` "first" or "tenth"), or `Runtime.warm_up` itself ("warm-up").
    `recorded` ("restart" or "reload"): the nine other messages are recorded in the store as
    `serve` records relayed mail, by this runtime before the tenth, before the first by an earlier
    process ("restart") or an earlier runtime of this one (a "reload", `Runtime.rebuild`: the
    RE2 sets, module constants, keep the DFA states the nine built)."""
    import scan_bench as sb

    chosen = _group(group, groups, corpus)
    loop = asyncio.new_event_loop()
    cfg = _config(UNDER_VALGRIND_LIMITS)
    if recorded == "restart" and place == "first":  # another process (callgrind does not follow it)
        subprocess.run([sys.executable, __file__, "--child-record", str(group), str(cfg), "--groups", str(groups),
                        "--corpus", corpus], check=True)
    elif recorded == "reload" and place == "first":  # an earlier runtime of this process, as a reload
        record_nine(cfg, chosen[1:], loop)
    runtime = sb.gr.Runtime(sb.load_config(cfg), offline=True)
    if runtime.store is not None:
        loop.run_until_complete(runtime.store.purge())
    # callgrind runs the interpreter ~50 times slower: the warm-up's budget (seconds of wall
    # time, ample natively) would cut it short and count a half-warmed runtime
    if place == "warm-up":
        for _ in range(HARNESS_RUNS):
            loop.run_until_complete(asyncio.sleep(0))
        sys.call_tracing(loop.run_until_complete, (runtime.warm_up(budget=UNDER_VALGRIND_BUDGET),))
    else:
        loop.run_until_complete(runtime.warm_up(budget=UNDER_VALGRIND_BUDGET))
    if not runtime.warmed_up:
        raise SystemExit("warm-up did not finish under callgrind")
    if place == "warm-up":
        loop.close()
        return
    tenth = place == "tenth"
    if tenth:
        for raw in (_group(group, groups, others)[1:] if others else chosen[1:]):
            result = loop.run_until_complete(runtime.analyse(raw, sb.envelope(raw)))
            if recorded:
                loop.run_until_complete(runtime.record(result))
    for _ in range(HARNESS_RUNS):  # this harness's own code (not serve's) as warm in both places
        loop.run_until_complete(asyncio.sleep(0))
    env = sb.envelope(chosen[0])
    sys.call_tracing(loop.run_until_complete, (runtime.analyse(chosen[0], env),))
    loop.close()


def _counted(group: int, groups: int, corpus: str, place: str, keep: Path | None, recorded: str = "",
             others: str = "") -> int:
    """The instructions callgrind counted in one child; its output file kept in `keep` (as
    callgrind.<place>.g<group>.out, for callgrind_annotate) when given."""
    with tempfile.TemporaryDirectory() as tmp:
        out = (keep or Path(tmp)) / f"callgrind.{place}.g{group}.out"
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                               "--toggle-collect=_PyEval_CallTracing", f"--callgrind-out-file={out}",
                               sys.executable, __file__, "--child-counted", str(group), place,
                               "--groups", str(groups), "--corpus", corpus]
                              + (["--recorded", recorded] if recorded else [])
                              + (["--others", others] if others else []),
                              env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, check=True)
        cut = [line for line in proc.stderr.decode(errors="replace").splitlines()  # valgrind's own: "==pid=="
               if not line.startswith("==") and ("timed out" in line or "warm-up" in line)]
        if cut:  # a check cut short under callgrind takes other paths than it would natively
            raise SystemExit(f"group {group}, {place}: {cut[0]}")
        summary = next(line for line in out.read_text().splitlines() if line.startswith("summary:"))
        return int(summary.split()[1])


def instructions(groups: int, corpus: str, keep: Path | None = None, warm_up: bool = False,
                 recorded: str = "", others: str = "") -> int:
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    ratios = []
    print(f"{groups} groups: instructions of one analysis (callgrind), analysed first and tenth after the warm-up"
          + (f", the nine others recorded in the store (first: after a {recorded})" if recorded else "")
          + (f", the nine before the tenth from {others}" if others else ""))
    print("group        first        tenth  first/tenth")
    for g in range(groups):
        counts = [_counted(g, groups, corpus, place, keep, recorded, others) for place in ("first", "tenth")]
        ratios.append(counts[0] / counts[1])
        print(f"{g:5} {counts[0]:12,} {counts[1]:12,} {ratios[-1]:12.3f}", flush=True)
    print(f"first / tenth (median over groups): {statistics.median(ratios):.3f}")
    if warm_up:
        print(f"Runtime.warm_up: {_counted(0, groups, corpus, 'warm-up', keep):,} instructions")
    return 0


def main(argv: list[str] | None = None) -> int:
    import scan_bench as sb

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=40, help="a multiple of ten (default 40)")
    ap.add_argument("--corpus", default=str(sb.CORPUS))
    ap.add_argument("--cold", action="store_true", help="no warm-up (what serve would cost without it)")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions with callgrind instead of timing (see above)")
    ap.add_argument("--groups", type=int, default=4, help="with --instructions: how many groups (default 4)")
    ap.add_argument("--keep-callgrind", type=Path, metavar="DIR",
                    help="with --instructions: keep callgrind's output files in DIR (callgrind_annotate)")
    ap.add_argument("--warm-up-cost", action="store_true",
                    help="with --instructions: also count the instructions of Runtime.warm_up itself")
    ap.add_argument("--recorded", choices=("restart", "reload"), default="",
                    help="with --instructions: the store holds the nine other messages, recorded as serve records "
                         "relayed mail; the first place is the first message after a restart (a new process) or "
                         "a reload (a new runtime in the process that analysed the nine)")
    ap.add_argument("--others", default="", metavar="DIR",
                    help="with --instructions: the nine analysed before the tenth come from this corpus instead")
    ap.add_argument("--child-record", nargs=2, metavar=("GROUP", "CONFIG"), help=argparse.SUPPRESS)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-counted", nargs=2, metavar=("GROUP", "PLACE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child, args.processes // 10, args.corpus, args.cold)
        return 0
    if args.child_record is not None:
        record_nine(Path(args.child_record[1]), _group(int(args.child_record[0]), args.groups, args.corpus)[1:],
                    asyncio.new_event_loop())
        return 0
    if args.child_counted is not None:
        child_counted(int(args.child_counted[0]), args.groups, args.corpus, args.child_counted[1], args.recorded,
                      args.others)
        return 0
    if args.instructions:
        return instructions(args.groups, args.corpus, args.keep_callgrind, args.warm_up_cost, args.recorded,
                            args.others)
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
