"""Messages/s through ONE and TWO gateway instances behind HAProxy with a shared Redis store, in
the same run, every part in its own process; Redis round trips and Redis CPU per message.

Shape (all on 127.0.0.1, ports picked free):

    load generator (serve_load.py, N processes) -> HAProxy (TCP, PROXY v2, round robin)
        -> 1 or 2 x `python -m gateway serve` (store: one redis-server) -> Postfix's smtp-sink

Rounds alternate the two shapes (1, 2, 1, 2, ...) so drift hits both alike; each round starts
fresh gateways, a fresh HAProxy and an empty Redis database prefix. The messages are the real ham
of ../shared/corpora/ham/spamassassin with a unique Message-ID per send (`--unique-id`).

Counted in each measured window:
- messages accepted (250) and failed, msg/s, latency percentiles (serve_load.py);
- CPU seconds of every gateway process tree, HAProxy, redis-server, smtp-sink, DNS server and
  the load generator (utime+stime from /proc), so: gateway CPU per message, messages per day
  per core;
- Redis round trips per message: the store calls the gateways made, by operation, from their own
  /metrics (`approach_gateway_store_seconds_count`; one call is one round trip, docs/store.md);
  and from Redis `INFO commandstats`: the commands it executed per message (those inside the
  store's Lua scripts included) and its own CPU (used_cpu_user+sys) per message.

HAProxy's health checks ask /healthz here (not /readyz, which reads the store), so that the
Redis counts are the messages' own.

    apt-get install -y haproxy redis-server postfix     # postfix: smtp-sink only; nothing is configured
    .venv/bin/python benchmarks/multi_bench.py                         # 3 rounds x 2 shapes, ~3 minutes
    .venv/bin/python benchmarks/multi_bench.py --rounds 1 --duration 10 --json multi.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from serve_bench import (
    CLK_TCK,
    LineReader,
    Procs,
    all_stats,
    fail,
    free_port,
    lat_summary,
    machine_cpu,
    tree_cpu,
    wait_smtp,
)
from serve_load import ham_messages, save_messages

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import free_ports  # the tests' own: every socket bound until all are picked

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RCPT = "bench@example.org"
SECONDS_PER_DAY = 86400
HOUSEKEEPING = {"info", "config", "ping", "client", "hello", "select", "script", "command"}


def redis_cmd(port: int, *words: str) -> str:
    payload = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n".encode() + w.encode() + b"\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        data = b""
        while True:
            chunk = s.recv(1 << 16)
            data += chunk
            if not chunk:
                break
            if data.startswith(b"$"):
                head, _, rest = data.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    break
            elif data.endswith(b"\r\n"):
                break
    return data.decode("utf-8", "replace")


def store_calls(admin_ports: list[int]) -> dict[str, float]:
    """Store calls by operation, summed over the gateways' /metrics: each is one Redis round trip
    (docs/store.md, "Round trips")."""
    out: dict[str, float] = {}
    for port in admin_ports:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(1 << 16):
                data += chunk
        for m in re.finditer(r'(?m)^approach_gateway_store_seconds_count\{op="(\w+)"\} ([0-9.e+]+)$',
                             data.decode("utf-8", "replace")):
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def redis_stats(port: int) -> dict[str, float]:
    """Commands executed per command name (without housekeeping; commands run inside the store's
    Lua scripts count too) and Redis's own CPU seconds."""
    out: dict[str, float] = {}
    for line in redis_cmd(port, "INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_([\w|]+):calls=(\d+)", line)
        if m and m.group(1).split("|")[0] not in HOUSEKEEPING:
            out["cmd:" + m.group(1)] = float(m.group(2))
    for line in redis_cmd(port, "INFO", "cpu").splitlines():
        if line.startswith(("used_cpu_sys:", "used_cpu_user:")):
            out["cpu"] = out.get("cpu", 0.0) + float(line.split(":", 1)[1])
    return out


class MultiBench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.procs = Procs(tmp)
        self.sink_port = 0
        self.dns_port = 0
        self.redis_port = 0

    # ---- fixed parts: sink, DNS, Redis --------------------------------------------------

    def start_fixed(self) -> None:
        self.sink_port = free_port()
        user = "nobody" if os.geteuid() == 0 else None  # smtp-sink refuses to run as root
        self.procs.start("sink", [self.args.smtp_sink, "-F", "-t", "900", "-m", "2000",
                                  f"127.0.0.1:{self.sink_port}", "1024"], user=user)
        wait_smtp(self.procs, "sink", self.sink_port, 10)
        p = self.procs.start("dns", [sys.executable, str(BENCH / "serve_dns.py")], stdout=True)
        assert p.stdout is not None
        line = p.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise fail(f"DNS server did not start: {line!r}")
        self.dns_port = int(line.split()[1])
        self.redis_port = free_port()
        rdir = self.tmp / "redis"
        rdir.mkdir()
        self.procs.start("redis", [self.args.redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", str(rdir)])
        deadline = time.monotonic() + 15
        while True:
            try:
                if redis_cmd(self.redis_port, "PING").startswith("+PONG"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise fail("redis-server did not start:\n" + self.procs.log_tail("redis"))
            time.sleep(0.05)

    # ---- per round: gateways and HAProxy --------------------------------------------------

    def start_gateways(self, n: int, rnd: int) -> list[tuple[str, int, int]]:
        out = []
        ports = free_ports(2 * n)  # all distinct: two free_port() calls may return one port
        for i in range(n):
            name = f"gw{i}"
            d = self.tmp / f"r{rnd}-n{n}-{name}"
            d.mkdir()
            port, admin = ports[2 * i], ports[2 * i + 1]
            cfg: dict[str, Any] = {
                "listen": f"127.0.0.1:{port}",
                "upstream": {"host": "127.0.0.1", "port": self.sink_port, "connect_timeout": 10,
                             "command_timeout": 300, "data_timeout": 600},
                "hostname": f"{name}.example.org",
                "local_domains": ["example.org", "example.ac.uk"],
                "policies": [str(ROOT / "policies")],
                "store": {"backend": "redis", "url": f"redis://127.0.0.1:{self.redis_port}/0",
                          "prefix": f"bench{rnd}n{n}:", "timeout": 1.0},
                "quarantine": {"dir": str(d / "quarantine")},
                "dns": {"nameservers": [f"127.0.0.1:{self.dns_port}"], "timeout": 1},
                "proxy_protocol": {"trusted_networks": ["127.0.0.1/32"]},
                "admin": {"listen": f"127.0.0.1:{admin}"},
                "limits": {"max_connections": 2000, "max_connections_per_ip": 2000, "shutdown_grace": 5},
                "log": {"level": "warning"},
                # one process per instance (the comparison is one instance vs two); without this
                # the default `auto` would run a worker per core in each instance
                "workers": self.args.workers,
            }
            path = d / "gateway.yml"
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            self.procs.start(name, [sys.executable, "-m", "gateway", "serve", "--config", str(path)], cwd=ROOT)
            out.append((name, port, admin))
        for name, _, admin in out:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", admin), timeout=2) as s:
                        s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
                        if b" 200 " in s.recv(200):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline or self.procs.live[name].poll() is not None:
                    raise fail(f"{name} did not become ready:\n{self.procs.log_tail(name)}")
                time.sleep(0.1)
        return out

    def start_haproxy(self, gws: list[tuple[str, int, int]], rnd: int, n: int) -> int:
        port = free_port()
        servers = "\n".join(f"    server {name} 127.0.0.1:{smtp} check port {admin}" for name, smtp, admin in gws)
        cfg = self.tmp / f"haproxy-r{rnd}-n{n}.cfg"
        cfg.write_text(f"""
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 900s
    timeout server 900s
    retries 3
    option redispatch
frontend smtp
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz
    default-server inter 2s fall 2 rise 1 send-proxy-v2
{servers}
""")
        self.procs.start("haproxy", [self.args.haproxy, "-db", "-f", str(cfg)])
        wait_smtp(self.procs, "haproxy", port, 30)
        return port

    def stop_round(self, gws: list[tuple[str, int, int]]) -> None:
        self.procs.stop("haproxy")
        for name, _, _ in gws:
            self.procs.stop(name)

    # ---- one measured window ----------------------------------------------------------------

    def run(self, n: int, rnd: int, msgfile: Path) -> dict[str, Any]:
        gws = self.start_gateways(n, rnd)
        port = self.start_haproxy(gws, rnd, n)
        try:
            cmd = [sys.executable, str(BENCH / "serve_load.py"), "load", "--port", str(port), "--rcpt", RCPT,
                   "--messages", str(msgfile), "--sessions", str(self.args.sessions), "--procs",
                   str(self.args.load_procs), "--duration", str(self.args.duration), "--warmup",
                   str(self.args.warmup), "--unique-id"]
            p = self.procs.start("load", cmd, stdin=True, stdout=True)
            assert p.stdin is not None
            rd = LineReader(p)
            rd.expect("READY", 600, "load generator")
            roots = {name: self.procs.live[name].pid for name, _, _ in gws}
            roots.update({k: self.procs.live[k].pid for k in ("haproxy", "redis", "sink", "dns")})
            roots["load"] = p.pid
            admins = [admin for _, _, admin in gws]
            r0 = redis_stats(self.redis_port)
            k0 = store_calls(admins)
            s0 = all_stats()
            c0 = {k: tree_cpu(v, s0) for k, v in roots.items()}
            m0 = machine_cpu()
            t0 = time.monotonic()
            p.stdin.write(b"GO\n")
            p.stdin.flush()
            rd.expect("DONE", self.args.duration + 900, "load generator")
            elapsed = time.monotonic() - t0
            s1 = all_stats()
            c1 = {k: tree_cpu(v, s1) for k, v in roots.items()}
            m1 = machine_cpu()
            r1 = redis_stats(self.redis_port)
            k1 = store_calls(admins)
            p.stdin.write(b"QUIT\n")
            p.stdin.flush()
            load = json.loads(rd.expect("RESULT", 120, "load generator"))
            self.procs.stop("load")
        finally:
            self.stop_round(gws)
        ok = load["ok"]
        cpu = {k: max(0.0, c1[k] - c0[k]) for k in roots}
        gw_cpu = sum(cpu[name] for name, _, _ in gws)
        redis_calls = {k[4:]: r1.get(k, 0.0) - r0.get(k, 0.0) for k in r1 if k.startswith("cmd:")}
        redis_calls = {k: v for k, v in redis_calls.items() if v > 0}
        calls = {k: k1.get(k, 0.0) - k0.get(k, 0.0) for k in k1}
        calls = {k: v for k, v in calls.items() if v > 0}
        busy = (m1[0] - m0[0]) / CLK_TCK
        total = (m1[1] - m0[1]) / CLK_TCK
        return {
            "instances": n, "round": rnd, "ok": ok, "failed": load["failed"], "failures": load["failures"],
            "elapsed_s": load.get("elapsed") or elapsed, "msg_per_s": ok / (load.get("elapsed") or elapsed),
            "latency": lat_summary(load["latencies"]),
            "cpu_s": cpu, "gateway_cpu_ms_per_msg": 1000 * gw_cpu / ok if ok else None,
            "haproxy_cpu_ms_per_msg": 1000 * cpu["haproxy"] / ok if ok else None,
            "redis_cpu_ms_per_msg": 1000 * (r1.get("cpu", 0) - r0.get("cpu", 0)) / ok if ok else None,
            "redis_commands_per_msg": {k: v / ok for k, v in sorted(redis_calls.items())} if ok else {},
            "redis_commands_total_per_msg": sum(redis_calls.values()) / ok if ok else None,
            "store_calls_per_msg": {k: v / ok for k, v in sorted(calls.items())} if ok else {},
            "redis_round_trips_per_msg": sum(calls.values()) / ok if ok else None,
            "machine_busy_pct": 100 * busy / total if total else None,
            "gateway_msgs_per_core_day": SECONDS_PER_DAY * ok / gw_cpu if gw_cpu else None,
        }


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for n in sorted({r["instances"] for r in rows}):
        rs = [r for r in rows if r["instances"] == n]

        def med(key: str, rs: list[dict[str, Any]] = rs) -> float | None:
            vals = [r[key] for r in rs if r.get(key) is not None]
            return statistics.median(vals) if vals else None
        out.append({"instances": n, "rounds": len(rs), "ok": sum(r["ok"] for r in rs),
                    "failed": sum(r["failed"] for r in rs), "msg_per_s": med("msg_per_s"),
                    "p50_ms": statistics.median(r["latency"]["p50_ms"] for r in rs),
                    "p99_ms": statistics.median(r["latency"]["p99_ms"] for r in rs),
                    "gateway_cpu_ms_per_msg": med("gateway_cpu_ms_per_msg"),
                    "haproxy_cpu_ms_per_msg": med("haproxy_cpu_ms_per_msg"),
                    "redis_cpu_ms_per_msg": med("redis_cpu_ms_per_msg"),
                    "redis_round_trips_per_msg": med("redis_round_trips_per_msg"),
                    "redis_commands_total_per_msg": med("redis_commands_total_per_msg"),
                    "gateway_msgs_per_core_day": med("gateway_msgs_per_core_day"),
                    "machine_busy_pct": med("machine_busy_pct")})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=20.0, help="seconds per measured window")
    p.add_argument("--sessions", type=int, default=20, help="concurrent SMTP sessions of the load")
    p.add_argument("--load-procs", type=int, default=2)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--limit", type=int, default=2000, help="ham messages loaded (sent round robin)")
    p.add_argument("--corpus", type=Path, action="append", help="ham directories (default: ../shared/corpora)")
    p.add_argument("--workers", type=int, default=1, help="worker processes per instance (default 1)")
    p.add_argument("--json", type=Path, help="write every row and the summary here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs)")
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    p.add_argument("--redis-server", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    p.add_argument("--smtp-sink", default=shutil.which("smtp-sink") or "/usr/sbin/smtp-sink")
    return p.parse_args(argv)


def find_corpus(args: argparse.Namespace) -> list[Path]:
    if args.corpus:
        return list(args.corpus)
    for base in (ROOT, *ROOT.parents):
        d = base / "shared" / "corpora" / "ham" / "spamassassin"
        if d.is_dir():
            return sorted(p for p in d.iterdir() if p.is_dir())
    raise fail("no ham corpus: ../shared/corpora/ham/spamassassin not found (give --corpus DIR)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in (args.haproxy, args.redis_server, args.smtp_sink):
        if not os.path.exists(tool):
            raise fail(f"{tool} not found: apt-get install -y haproxy redis-server postfix")
    tmp = Path(tempfile.mkdtemp(prefix="multi-bench-"))
    bench = MultiBench(args, tmp)
    rows: list[dict[str, Any]] = []
    try:
        msgfile = tmp / "ham.pickle"
        save_messages(msgfile, ham_messages(find_corpus(args), args.limit))
        bench.start_fixed()
        for rnd in range(args.rounds):
            for n in (1, 2):
                row = bench.run(n, rnd, msgfile)
                rows.append(row)
                print(f"round {rnd} instances {n}: {row['ok']} ok, {row['failed']} failed, "
                      f"{row['msg_per_s']:.1f} msg/s, p50 {row['latency']['p50_ms']:.0f} ms, "
                      f"p99 {row['latency']['p99_ms']:.0f} ms, gateway CPU {row['gateway_cpu_ms_per_msg']:.1f} "
                      f"ms/msg, Redis {row['redis_round_trips_per_msg']:.2f} round trips/msg "
                      f"({row['redis_cpu_ms_per_msg']:.3f} ms CPU), machine busy {row['machine_busy_pct']:.0f}%",
                      flush=True)
    finally:
        bench.procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = summarize(rows)
    print("\nsummary (medians over rounds):")
    for s in summary:
        print(json.dumps(s))
    if rows:
        last = next(r for r in reversed(rows) if r["instances"] == 2)
        print("store calls (Redis round trips) per message by operation (last round, 2 instances):",
              json.dumps(last["store_calls_per_msg"]))
        print("Redis commands executed per message, inside scripts included (same round):",
              json.dumps(last["redis_commands_per_msg"]))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary, "cores": os.cpu_count(),
                                         "argv": sys.argv[1:]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
