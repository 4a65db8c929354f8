"""What one address holding admin-listener connections costs everyone else (atk45 #2).

The gateway runs as `python -m gateway serve` (one worker, the admin listener on, its descriptor
limit `--nofile`, as a unit with a low LimitNOFILE would have it); 127.0.0.2 opens `--connections`
connections to the admin listener, sends each a partial request head and then a byte per
connection every 0.2 s; meanwhile 127.0.0.1 asks /healthz (a fresh connection each, 5 s timeout)
and opens an SMTP connection (waits for the 220) every 0.2 s. Printed: /healthz answered / asked,
its p50 and max, SMTP 220s and failures, the attacker's connections still open at the end and the
gateway's open descriptors. `--root` runs another checkout's gateway (e.g. the one before the fix).

    python benchmarks/admin_hold_bench.py [--connections 1100] [--seconds 20] [--nofile 1024] [--root DIR]

The numbers depend on the machine; the tests never assert timings.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return time.perf_counter() - t0, data.startswith(b"HTTP/1.1 200")
    except OSError:
        return time.perf_counter() - t0, False


def smtp_greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            return c.recv(100).startswith(b"220")
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=1100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--nofile", type=int, default=1024, help="the gateway's descriptor limit")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose gateway runs")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # ours: the held sockets and some
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 256)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="admin-hold-"))
    port, aport = free_port(), free_port()
    (tmp / "gw.yml").write_text(f"""
listen: 127.0.0.1:{port}
upstream: {{host: 127.0.0.1, port: 9}}
hostname: gw.example.org
local_domains: [example.org]
policies: [{args.root / 'policies'}]
store: {{backend: memory}}
workers: 1
admin: {{listen: 127.0.0.1:{aport}}}
""")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(tmp / "gw.yml")],
                          cwd=args.root, preexec_fn=limit, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(args.root)})
    held: list[socket.socket] = []
    try:
        for _ in range(300):
            if healthz(aport)[1]:
                break
            time.sleep(0.1)
        for _ in range(args.connections):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.2", 0))
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", aport))
                s.sendall(b"GET /healthz HTTP/1.1\r\n")
            except OSError:
                pass
            s.setblocking(False)
        end = time.monotonic() + args.seconds
        lat: list[float] = []
        ok = greeted = 0
        while time.monotonic() < end:
            for s in held:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            took, good = healthz(aport)
            lat.append(took)
            ok += good
            greeted += smtp_greets(port)
            time.sleep(0.2)
        alive = 0
        for s in held:
            try:
                alive += s.recv(10) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        fds = len(os.listdir(f"/proc/{gw.pid}/fd"))
        print(f"{args.root}: {args.connections} held from 127.0.0.2 for {args.seconds:g} s, nofile {args.nofile}: "
              f"/healthz {ok}/{len(lat)} p50 {statistics.median(lat) * 1000:.1f} ms max {max(lat) * 1000:.1f} ms; "
              f"SMTP 220 {greeted}/{len(lat)}; attacker connections open at the end {alive}; gateway fds {fds}")
    finally:
        for s in held:
            s.close()
        gw.terminate()
        gw.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
