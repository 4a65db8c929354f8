"""Large mail beside a stranger whose nameserver answers slowly (atk47 #2), on one or more source trees.

A message above `limits.offload_bytes` is analysed in an analysis process of its worker. A stranger who sends
such messages from domains whose nameserver answers after `--delay` seconds (an SPF record of nine `a:` terms,
so the auth check runs out its share of the deadline) kept that process for 15 s a message while it analysed one
message at a time: atk47 measured a legitimate 300 KB message's p50 at 18.4 s beside 12 such sessions, 5 of 15
relayed unchecked. Since session 48 a process analyses several messages at once and one client holds at most half
of the places.

Processes: the DNS server (tests/support/dnsserver.py, `*.slow.test` answered after `--delay` s) and the
recording sink in one, the gateway (`python -m gateway serve`, shipped policies, SQLite store, `workers: 1`,
default limits) in another, each attacker in its own (from 127.0.0.2, `--attackers` sessions, each sending one
267 KB message after another from a new `*.slow.test` domain), and the measurer in this one (from 127.0.0.1: a
300 KB message from `alice@ext.test` every `--big-every` s on a connection of its own, and a small message every
50 ms). Phases: idle, then with the attackers. Printed per phase and tree: the large messages' reply codes,
latency p50/p90/max and how the upstream got them (`X-Approach-Checked`), the small messages' p50/p99, messages
answered per second, the gateway's CPU per message answered (utime+stime of the whole process tree, children
reaped included, over the phase) and the largest process's peak RSS, and lost/doubled/leaked counts (every 250
at the upstream exactly once, nothing else there). `--roots A,B` runs each source tree in turn, `--rounds`
times (alternately), so a baseline is measured in the same run:

    python benchmarks/slow_dns_bench.py --roots /path/to/main,. [--attackers 12] [--seconds 30] [--rounds 2]

The numbers depend on the machine and on what else runs on it; the tests never assert timings.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from attack_bench import Raw, _processes, normal_session, pct, peak_rss_mib, reset_peak_rss  # noqa: E402

WORDS = "the of and to in a is that for it as was with be by on not this are or from at which but have".split()
TICK = os.sysconf("SC_CLK_TCK")


def prose(lines: int, seed: int) -> bytes:
    r = random.Random(seed)
    return ("\r\n".join(" ".join(r.choice(WORDS) for _ in range(12)) for _ in range(lines)) + "\r\n").encode()


BIG_BODY = prose(6500, 1)  # ~300 KB
HOSTILE_BODY = prose(5800, 2)  # ~267 KB


def message(mid: str, sender: str, body: bytes) -> bytes:
    return (f"From: <{sender}>\r\nTo: bob@example.org\r\nSubject: report\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{mid}@x.test>\r\nX-Bench-Id: {mid}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + body


def send(port: int, ip: str, sender: str, data: bytes) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    r = Raw(port, ip, timeout=120)
    try:
        r.reply()
        r.cmd(b"EHLO x.test")
        code = r.cmd(f"MAIL FROM:<{sender}>".encode())[:3]
        if code == b"250":
            code = r.cmd(b"RCPT TO:<bob@example.org>")[:3]
        if code == b"250":
            code = r.cmd(b"DATA")[:3]
        if code == b"354":
            r.sock.sendall(data)
            code = r.cmd(b".")[:3]
        r.cmd(b"QUIT")
    finally:
        r.close()
    return time.perf_counter() - t0, code


def upstream_process(conn: Connection, delay: float) -> None:
    """The DNS server (`*.slow.test` after `delay` s, everything else at once) and the recording sink."""
    from tests.support.dnsserver import TestDNSServer, _ZoneResolver
    from tests.support.sink import Sink

    plain = _ZoneResolver.resolve

    def resolve(self: Any, request: Any, handler: Any) -> Any:
        if str(request.q.qname).lower().rstrip(".").endswith("slow.test"):
            time.sleep(delay)  # dnslib answers each query on a thread of its own
        return plain(self, request, handler)
    _ZoneResolver.resolve = resolve  # type: ignore[method-assign]
    dns = TestDNSServer()
    dns.add("*.slow.test", "TXT", "v=spf1 " + " ".join(f"a:h{i}.%{{d}}" for i in range(1, 10)) + " -all")
    dns.add("*.slow.test", "A", "10.9.9.9")
    dns.start()
    sink = Sink().start()
    conn.send((sink.port, dns.port))
    while True:
        what = conn.recv()
        if what == "stats":
            got: dict[str, list[str]] = {}
            for m in sink.messages:
                mid = re.search(rb"X-Bench-Id: (\S+)", m.data)
                checked = re.search(rb"X-Approach-Checked: ([^\r\n]+)", m.data)
                if mid:
                    got.setdefault(mid.group(1).decode(), []).append(checked.group(1).decode() if checked else "yes")
            sink.messages = []
            conn.send(got)
        else:
            sink.stop()
            dns.stop()
            conn.send("bye")
            return


def attacker(port: int, until: float, n: int, conn: Connection) -> None:
    codes: Counter[str] = Counter()
    i = 0
    while time.monotonic() < until:
        domain = "".join(random.choices(string.ascii_lowercase, k=10)) + ".slow.test"
        sender = f"x{n}-{i}@{domain}"
        i += 1
        try:
            _took, code = send(port, "127.0.0.2", sender, message(f"atk{n}-{i}-{time.time_ns()}", sender, HOSTILE_BODY))
        except OSError:
            code = b"ERR"
        codes[code.decode()] += 1
    conn.send(dict(codes))


def big_sender(port: int, seconds: float, every: float, tag: str, out: list[tuple[str, float, bytes]]) -> None:
    """One legitimate large message every `every` s, each on a connection of its own (independent senders)."""
    def one(mid: str) -> None:
        try:
            took, code = send(port, "127.0.0.1", "alice@ext.test", message(mid, "alice@ext.test", BIG_BODY))
        except OSError:
            took, code = float("nan"), b"ERR"
        out.append((mid, took, code))
    end = time.monotonic() + seconds
    threads = []
    i = 0
    while time.monotonic() < end:
        th = threading.Thread(target=one, args=(f"{tag}-big-{i}",))
        th.start()
        threads.append(th)
        i += 1
        time.sleep(every)
    for th in threads:
        th.join()


def small_sender(port: int, seconds: float, tag: str, out: list[tuple[str, float, bytes]]) -> None:
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        mid = f"{tag}-small-{i}"
        i += 1
        try:
            took, code = normal_session(port, mid)
        except OSError:
            took, code = float("nan"), b"ERR"
        out.append((mid, took, code))
        time.sleep(0.05)


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its descendants, with the children they reaped (utime+stime+cutime+cstime)."""
    total = 0
    for p in _processes(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / TICK


def run_tree(root: Path, args: argparse.Namespace, up: Connection, sink_port: int, dns_port: int) -> list[str]:
    ctx = mp.get_context("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="slow-dns-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "g.yml").write_text(f"""
listen: 127.0.0.1:{port}
upstream: {{host: 127.0.0.1, port: {sink_port}, connect_timeout: 2, command_timeout: 10, data_timeout: 30}}
hostname: gw.example.org
local_domains: [example.org, example.ac.uk]
policies: [{root / 'policies'}]
store: {{path: {tmp / 'store.sqlite3'}}}
dns: {{nameservers: ["127.0.0.1:{dns_port}"], timeout: 3}}
limits: {{shutdown_grace: 2}}
on_error: accept
workers: 1
""")
    log = (tmp / "gw.log").open("wb")
    env = dict(os.environ, PYTHONPATH=str(root))
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(tmp / "g.yml")], cwd=root,
                          stdout=subprocess.DEVNULL, stderr=log, env=env)
    lines = []
    try:
        end = time.monotonic() + 120
        while "analysis process ready" not in (tmp / "gw.log").read_text(errors="replace"):
            if time.monotonic() > end or gw.poll() is not None:
                raise SystemExit(f"{root}: the gateway did not start (see {tmp / 'gw.log'})")
            time.sleep(0.2)
        for k in (0, args.attackers):
            procs, pipes = [], []
            for n in range(k):
                mine, theirs = ctx.Pipe()
                pr = ctx.Process(target=attacker, args=(port, time.monotonic() + args.seconds + 2, n, theirs),
                                 daemon=True)
                pr.start()
                procs.append(pr)
                pipes.append(mine)
            if k:
                time.sleep(2)  # the attackers' first messages are in the analysis process
            reset_peak_rss(gw.pid)
            cpu0, t0 = tree_cpu(gw.pid), time.monotonic()
            big: list[tuple[str, float, bytes]] = []
            small: list[tuple[str, float, bytes]] = []
            threads = [threading.Thread(target=big_sender, args=(port, args.seconds, args.big_every, f"k{k}", big)),
                       threading.Thread(target=small_sender, args=(port, args.seconds, f"k{k}", small))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            acodes: Counter[str] = Counter()
            for mine, pr in zip(pipes, procs, strict=True):
                if mine.poll(120):
                    acodes.update(mine.recv())
                pr.join(5)
            cpu, wall, rss = tree_cpu(gw.pid) - cpu0, time.monotonic() - t0, peak_rss_mib(gw.pid)
            time.sleep(1)
            up.send("stats")
            got = up.recv()
            ok_big = [t for _, t, c in big if c == b"250"]
            checked = Counter(got[m][0] for m, _, c in big if c == b"250" and m in got)
            ok_small = [t for _, t, c in small if c == b"250"]
            answered = len(big) + len(small) + sum(acodes.values())
            lost = sum(1 for m, _, c in big + small if c == b"250" and m not in got)
            doubled = sum(1 for m, _, _ in big + small if len(got.get(m, ())) > 1)
            leaked = sum(1 for m, _, c in big + small if c != b"250" and m in got)
            attackers_checked = Counter(v[0].split(";")[0] for m, v in got.items() if m.startswith("atk"))
            codes = dict(Counter(c.decode() for _, _, c in big))
            lines.append(
                f"{root.name or root} attackers={k}: large n={len(big)} codes={codes} "
                f"p50={statistics.median(ok_big) if ok_big else float('nan'):.2f}s p90={pct(ok_big, 90):.2f}s "
                f"max={max(ok_big) if ok_big else float('nan'):.2f}s checked={dict(checked)} | small n={len(small)} "
                f"p50={pct(ok_small, 50) * 1000:.0f}ms p99={pct(ok_small, 99) * 1000:.0f}ms | "
                f"{answered / wall:.1f} msg/s, CPU {cpu / max(answered, 1) * 1000:.1f} ms/msg, "
                f"peak RSS {rss:.0f} MiB | "
                f"lost={lost} doubled={doubled} leaked={leaked} | attacker codes={dict(acodes)} "
                f"checked={dict(attackers_checked)}")
            print(lines[-1], flush=True)
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            gw.kill()
        log.close()
    text = (tmp / "gw.log").read_text(errors="replace")
    print(f"{root.name or root}: gateway log: 'killed at the deadline' {text.count('killed at the deadline')}, "
          f"'tried again' {text.count('tried again')}, 'timed out' {text.count('timed out')}", flush=True)
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--roots", default=str(ROOT), help="source trees to run, comma-separated (a baseline first)")
    ap.add_argument("--attackers", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--delay", type=float, default=2.5, help="seconds the stranger's nameserver takes to answer")
    ap.add_argument("--big-every", type=float, default=2.0)
    args = ap.parse_args()
    roots = [Path(r).resolve() for r in args.roots.split(",")]
    ctx = mp.get_context("spawn")
    up, theirs = ctx.Pipe()
    upstream = ctx.Process(target=upstream_process, args=(theirs, args.delay), daemon=True)
    upstream.start()
    sink_port, dns_port = up.recv()
    print(f"slow_dns_bench: delay {args.delay} s, {args.attackers} attacker sessions, {args.seconds:.0f} s phases, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    try:
        for _ in range(args.rounds):
            for root in roots:
                run_tree(root, args, up, sink_port, dns_port)
    finally:
        up.send("quit")
        up.recv()
        upstream.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
