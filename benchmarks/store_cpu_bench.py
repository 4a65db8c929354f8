"""CPU of the SQLite store per message, as `serve` uses it: the store thread's CPU, the whole
process's, and the bytes written (WAL and checkpoints), base against branch in interleaved pairs.

Each message does what one message does in `serve`: `sender_history` (the sender check),
`campaign_reach_many` (the campaign check: one query per key group, plus the flagged key), then
`record_message` after delivery. `--sessions` such sequences run at once on one event loop (20
is serve_bench's load). The metadata is real: the inbound messages a `serve_bench.py --keep`
run left in its store (`--metas PATH`), replayed in order with fresh times; before the window the
store is filled with `--prefill` messages (the same metadata with salted keys, so the campaign
and pair indexes have the size of a store with history).

    .venv/bin/python benchmarks/serve_bench.py --systems gateway --sizes ham --sessions 20 --rounds 1 --keep
    .venv/bin/python benchmarks/store_cpu_bench.py --metas /tmp/serve-bench-XXXX/gateway-1/store.sqlite3 \\
        --roots /path/to/base,/path/to/branch --pairs 5

Each measurement runs in a fresh child process importing `gateway` from one root (a checkout),
roots alternating (A, B, A, B, ...), so drift in the machine's load hits both alike; the store
template (prefilled once per root) is copied for each child. Prints per run and the median per
root with min-max. No timing is asserted anywhere.
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
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def child(root: str, metas_path: str, store_path: str, count: int, sessions: int, prefill: int,
          stores: int = 1) -> dict[str, Any]:
    sys.path.insert(0, root)
    from gateway.store import MessageMeta
    from gateway.store.sqlite import SqliteStore

    async def load() -> list[MessageMeta]:
        src = SqliteStore(metas_path, retention_days=100_000)
        metas = await src.recent(0.0, limit=5000)
        await src.close()
        return list(reversed(metas))

    metas = asyncio.run(load())
    if not metas:
        raise SystemExit(f"no inbound messages in {metas_path}")
    local = ("example.org", "example.ac.uk")

    def salted(m: MessageMeta, p: int) -> MessageMeta:
        if p == 0:
            return m
        from dataclasses import replace
        return replace(m, sender=f"p{p}.{m.sender}", campaign_keys=tuple(f"{k}~{p}" for k in m.campaign_keys))

    async def fill() -> None:
        store = SqliteStore(store_path)
        t = time.time() - 86400
        for i in range(prefill):
            m = salted(metas[i % len(metas)], 1 + i // len(metas))
            await store.record_message(MessageMeta(**{**m.__dict__, "when": t + i * 0.01}), local)
        await store.close()

    if prefill:
        asyncio.run(fill())
        return {}

    async def run() -> dict[str, Any]:
        handles = []
        for _ in range(stores):  # several `serve` workers: one connection (and thread) each
            handles.append(SqliteStore(store_path))
            await handles[-1].sender_history("warm@example.net", ["bench@example.org"])  # opens, migrates
        clocks = [time.pthread_getcpuclockid(t.ident) for t in threading.enumerate()
                  if t.name == "store" and t.ident is not None]
        it = iter(range(count))

        def cpu() -> float:
            return sum(time.clock_gettime(c) for c in clocks)

        async def session(store: SqliteStore) -> None:
            for i in it:
                m = metas[i % len(metas)]
                now = time.time()
                m = MessageMeta(**{**m.__dict__, "when": now})
                groups: dict[str, list[str]] = {}
                for k in m.campaign_keys:
                    groups.setdefault(k.split(":", 1)[0], []).append(k)
                since = now - 14 * 86400
                queries: list[tuple[list[str], float]] = [(ks, since) for g, ks in groups.items() if g != "own"]
                queries.append(([f"flagged:{m.sender}"], now - 120 * 86400))
                dom = m.sender_domain
                await store.sender_history(m.sender, [r for r in m.recipients if r.endswith("example.org")], dom)
                await store.campaign_reach_many(queries)
                await store.record_message(m, local)

        io0 = _io()
        t0, c0, p0 = time.monotonic(), cpu(), time.process_time()
        await asyncio.gather(*(session(handles[i % stores]) for i in range(max(sessions, stores))))
        t1, c1, p1 = time.monotonic(), cpu(), time.process_time()
        io1 = _io()
        for store in handles:
            await store.close()
        return {"messages": count, "wall_s": t1 - t0, "store_cpu_s": c1 - c0, "process_cpu_s": p1 - p0,
                "write_bytes": io1["wchar"] - io0["wchar"], "write_calls": io1["syscw"] - io0["syscw"]}

    return asyncio.run(run())


def _io() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        k, v = line.split(":")
        out[k] = int(v)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metas", required=True, help="a store left by serve_bench.py --keep (its inbound messages)")
    ap.add_argument("--roots", default=str(HERE.parent), help="comma-separated checkouts to compare")
    ap.add_argument("--pairs", type=int, default=3, help="interleaved rounds (one run per root each)")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--sessions", default="1,20", help="comma-separated concurrent senders")
    ap.add_argument("--prefill", type=int, default=20000, help="messages in the store before the window")
    ap.add_argument("--stores", type=int, default=1,
                    help="store handles on the file (each its own connection and thread, as `serve` workers); "
                         "sessions take them in turn")
    ap.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        root, metas, store, count, sessions, prefill, stores = args.child
        print(json.dumps(child(root, metas, store, int(count), int(sessions), int(prefill), int(stores))))
        return 0
    roots = [str(Path(r).resolve()) for r in args.roots.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="store-bench-"))
    me = [sys.executable, str(Path(__file__).resolve())]

    def run_child(root: str, store: Path, count: int, sessions: int, prefill: int) -> dict[str, Any]:
        out = subprocess.run([*me, "--metas", args.metas, "--child", root, args.metas, str(store), str(count),
                              str(sessions), str(prefill), str(args.stores)], capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            raise SystemExit(f"child for {root} failed:\n{out.stderr}")
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    try:
        templates = {}
        for i, root in enumerate(roots):
            templates[root] = tmp / f"template-{i}.sqlite3"
            t0 = time.monotonic()
            run_child(root, templates[root], 0, 1, args.prefill)
            print(f"prefilled {args.prefill} messages for {root} in {time.monotonic() - t0:.1f} s", flush=True)
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        print(f"{'root':40} {'sess':>4} {'rnd':>3} {'store ms/msg':>12} {'proc ms/msg':>11} "
              f"{'KB written/msg':>14} {'writes/msg':>10} {'msg/s':>8}", flush=True)
        for rnd in range(1, args.pairs + 1):
            for sessions in (int(s) for s in args.sessions.split(",")):
                for root in roots:
                    store = tmp / "run.sqlite3"
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{store}{suffix}").unlink(missing_ok=True)
                    shutil.copy(templates[root], store)
                    r = run_child(root, store, args.messages, sessions, 0)
                    results.setdefault((root, sessions), []).append(r)
                    n = r["messages"]
                    print(f"{root[-40:]:40} {sessions:4d} {rnd:3d} {1000 * r['store_cpu_s'] / n:12.3f} "
                          f"{1000 * r['process_cpu_s'] / n:11.3f} {r['write_bytes'] / n / 1024:14.1f} "
                          f"{r['write_calls'] / n:10.1f} {n / r['wall_s']:8.0f}", flush=True)
        print("\nmedian [min-max] over rounds")
        def stat(rs: list[dict[str, Any]], key: str, scale: float) -> str:
            xs = [scale * r[key] / r["messages"] for r in rs]
            return f"{statistics.median(xs):.3f} [{min(xs):.3f}-{max(xs):.3f}]"
        for (root, sessions), rs in results.items():
            print(f"{root[-40:]:40} sessions {sessions:3d}: store ms/msg {stat(rs, 'store_cpu_s', 1000)}  "
                  f"process ms/msg {stat(rs, 'process_cpu_s', 1000)}  "
                  f"KB written/msg {stat(rs, 'write_bytes', 1 / 1024)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
