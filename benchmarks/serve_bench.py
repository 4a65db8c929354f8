"""SMTP throughput and latency of `approach-gateway serve`, every part in its own process.

Systems under test (SUT), each between the load generator and Postfix's smtp-sink:
  direct   load generator -> smtp-sink (no hop: the floor)
  relay    load generator -> serve_relay.py (aiosmtpd + aiosmtplib, no analysis) -> smtp-sink
  gateway  load generator -> `python -m gateway serve` (DNS: serve_dns.py, NXDOMAIN at once) -> smtp-sink

Each round starts a fresh relay and gateway, then runs every workload on direct, relay and gateway
in turn (A,B,C,A,B,C,...), so drift hits all three alike. Workloads: real ham replayed from
../shared/corpora/ham/spamassassin (`ham`, also `10k`), or generated MIME mail of `1m` / `10m`
bytes (a text part and a base64 attachment), each with 1, 20 and 100 concurrent sessions; plus
`latency`: a probe's small message every 100 ms, idle and while 20 sessions send 10 MB mail, each
session streaming its data at 2 MB/s (--latency-load 10m:20@2MB/s; @max: the closed loop).

CPU: utime+stime (+ reaped children) from /proc/PID/stat of the SUT's process tree, the sink's,
the load generator's (and the DNS server's), read at the edges of the measured window. Memory:
VmRSS of every process of the SUT's tree sampled during the window (peak), and VmHWM. The SUT's
CPU and peak RSS are also shown per process kind when there is more than one: the gateway's
analysis processes (`offload:python`, gateway/offload.py) apart from their worker (`python`);
the SUT's CPU per message is the whole tree's, theirs included. See benchmarks/README.md.

    apt-get install postfix        # smtp-sink, smtp-source
    .venv/bin/python benchmarks/serve_bench.py --quick
    .venv/bin/python benchmarks/serve_bench.py --sizes ham --sessions 20 --rounds 3 --json out.json
    .venv/bin/python benchmarks/serve_bench.py --latency-only --latency-load 10m:20@1MB/s,10m:20@4MB/s
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import queue
import re
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from serve_load import ham_messages, mime_messages, save_messages

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
SYSTEMS = ("direct", "relay", "gateway")
SIZES = {"ham": 0, "1m": 1_000_000, "10m": 10_000_000}
DURATION = {"ham": 10.0, "1m": 10.0, "10m": 20.0}
WARMUP = {"ham": 30, "1m": 5, "10m": 2}
RCPT = "bench@example.org"
DEFAULT_LATENCY_LOAD = "10m:20@2MB/s"


@dataclass(frozen=True)
class LatencyLoad:
    """The latency scenario's background load: `sessions` sessions of `size` mail, each
    streaming its message data at `rate` bytes per second at most (0: as fast as it is taken,
    the closed loop)."""

    size: str
    sessions: int
    rate: float

    @property
    def label(self) -> str:
        """The workload's name in the tables: lat@4M (4 MB/s per session), lat@max."""
        if not self.rate:
            return "lat@max"
        for unit, div in (("M", 1e6), ("k", 1e3)):
            if self.rate >= div:
                return f"lat@{self.rate / div:g}{unit}"
        return f"lat@{self.rate:g}"

    @property
    def text(self) -> str:
        rate = "max" if not self.rate else f"{self.rate / 1e6:g}MB/s"
        return f"{self.size}:{self.sessions}@{rate}"

    def ramp(self) -> float:
        """Seconds until the last session started (serve_load.stagger): one message's transfer."""
        return (self.sessions - 1) / self.sessions * SIZES[self.size] / self.rate if self.rate else 0.0


RATE_RE = re.compile(r"(?i)^([0-9]+(?:\.[0-9]+)?)\s*(k|m)?b/s$")


def parse_latency_load(text: str) -> LatencyLoad:
    """SIZE:SESSIONS[@RATE], RATE as 4MB/s, 500kB/s (decimal units, per session) or max."""
    spec, _, rate_text = text.strip().partition("@")
    size, _, sess = spec.partition(":")
    if size not in SIZES or size == "ham" or not sess.isdigit() or int(sess) < 1:
        raise ValueError(f"{text!r}: SIZE:SESSIONS[@RATE] with SIZE 1m or 10m, e.g. 10m:20@4MB/s")
    rate = 0.0
    if rate_text and rate_text.lower() != "max":
        m = RATE_RE.match(rate_text.strip())
        if not m or float(m.group(1)) <= 0:
            raise ValueError(f"{text!r}: RATE is bytes per second per session, e.g. 4MB/s, 500kB/s or max")
        rate = float(m.group(1)) * {None: 1, "k": 1e3, "m": 1e6}[m.group(2) and m.group(2).lower()]
    return LatencyLoad(size, int(sess), rate)


def fail(msg: str) -> SystemExit:
    print(f"serve_bench: {msg}", file=sys.stderr)
    return SystemExit(2)


# --------------------------------------------------------------------------- /proc

def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, comm, cpu ticks: utime+stime+cutime+cstime) of one process, None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    f = text[text.rindex(")") + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return int(f[1]), comm, int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])


def all_stats() -> dict[int, tuple[int, str, int]]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def tree(root: int, stats: dict[int, tuple[int, str, int]]) -> list[int]:
    """root and its descendants (from the ppid of every process: no /proc/.../children here)."""
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(pid)
            todo.extend(kids.get(pid, []))
    return out


def tree_cpu(root: int | None, stats: dict[int, tuple[int, str, int]]) -> float:
    """CPU seconds of a process tree: each live member's own time and its reaped children's
    (a child's time moves into its parent's cutime when reaped, so nothing is counted twice)."""
    if root is None:
        return 0.0
    return sum(stats[p][2] for p in tree(root, stats)) / CLK_TCK


_KINDS: dict[int, str] = {}


def process_kind(pid: int, comm: str) -> str:
    """What a process of the SUT's tree is, for the tables: its comm, or `offload:<comm>` for
    an analysis process of the gateway (`python -m gateway.offload`, gateway/offload.py), whose
    comm is the same as its worker's. Remembered per pid."""
    kind = _KINDS.get(pid)
    if kind is None:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return comm
        kind = _KINDS[pid] = f"offload:{comm}" if b"gateway.offload" in argv else comm
    return kind


def process_ticks(root: int | None, stats: dict[int, tuple[int, str, int]]) -> dict[int, tuple[str, int]]:
    """{pid: (process_kind, cpu ticks with its reaped children's)} of a process tree."""
    return {pid: (process_kind(pid, stats[pid][1]), stats[pid][2])
            for pid in (tree(root, stats) if root is not None else ())}


def kinds_cpu(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds per process kind between two `process_ticks` readings: the SUT's total split
    (the analysis processes apart from their worker). A process born inside the window counts
    from 0; one that exited inside it (an analysis process killed at its deadline) leaves its
    earlier time out of its kind, and all of its time is in its parent's (reaped children)."""
    out: dict[str, float] = {}
    for kind, ticks in after.values():
        out[kind] = out.get(kind, 0.0) + ticks / CLK_TCK
    for kind, ticks in before.values():
        out[kind] = out.get(kind, 0.0) - ticks / CLK_TCK
    return out


def mem_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB; zeros when gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def thread_ticks(root: int | None, stats: dict[int, tuple[int, str, int]]) -> dict[tuple[int, int], tuple[str, int]]:
    """{(pid, tid): (thread name, utime+stime ticks)} of every thread of a process tree."""
    out: dict[tuple[int, int], tuple[str, int]] = {}
    for pid in tree(root, stats) if root is not None else ():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            f = text[text.rindex(")") + 2:].split()
            name = text[text.index("(") + 1:text.rindex(")")]
            if process_kind(pid, stats[pid][1]).startswith("offload:"):
                name = f"offload:{name}"  # an analysis process's threads apart from the worker's
            out[(pid, int(tid))] = (name, int(f[11]) + int(f[12]))
    return out


def threads_cpu(before: dict[tuple[int, int], tuple[str, int]],
                after: dict[tuple[int, int], tuple[str, int]]) -> dict[str, float]:
    """CPU seconds per thread name (summed over processes) between two `thread_ticks` readings;
    a thread born inside the window counts from 0, one that ended inside it is missing."""
    out: dict[str, float] = {}
    for key, (name, ticks) in after.items():
        out[name] = out.get(name, 0.0) + (ticks - before.get(key, (name, 0))[1]) / CLK_TCK
    return out


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat; busy excludes idle and iowait."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(f[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - f[3] - f[4], total


class MemSampler(threading.Thread):
    """Every `interval` s: VmRSS of each process of the SUT's tree (peak per process, peak sum)."""

    def __init__(self, root: int | None, interval: float) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.hwm: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.peak_sum = 0
        self.samples = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        if self.root is None:
            return
        stats = all_stats()
        total = 0
        for pid in tree(self.root, stats):
            rss, hwm = mem_kb(pid)
            self.names[pid] = process_kind(pid, stats[pid][1])
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self.hwm[pid] = max(self.hwm.get(pid, 0), hwm)
            total += rss
        self.peak_sum = max(self.peak_sum, total)
        self.samples += 1

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def finish(self) -> dict[str, Any]:
        self._halt.set()
        self.join()
        self.sample()
        return {"processes": [{"pid": p, "name": self.names[p], "peak_rss_kb": self.peak[p],
                               "vm_hwm_kb": self.hwm[p]} for p in sorted(self.peak)],
                "peak_rss_sum_kb": self.peak_sum, "samples": self.samples}


# --------------------------------------------------------------------------- child processes

def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Procs:
    """Every child, each in its own session (process group); all killed on exit."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.live: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, cmd: list[str], *, stdin: bool = False, stdout: bool = False,
              cwd: Path | None = None, user: str | None = None) -> subprocess.Popen[bytes]:
        log = self.logdir / f"{name}.log"
        # PDEATHSIG from preexec_fn (for programs that are not ours) only while no thread runs
        preexec = _die_with_parent if threading.active_count() == 1 else None
        with log.open("ab") as err:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE if stdout else err, stderr=err, cwd=cwd,
                                 start_new_session=True, preexec_fn=preexec, user=user,
                                 group="nogroup" if user else None)
        self.live[name] = p
        self.logs[name] = log
        return p

    def log_tail(self, name: str, n: int = 15) -> str:
        try:
            lines = self.logs[name].read_text(errors="replace").splitlines()
        except (KeyError, OSError):
            return ""
        return "\n".join("    " + ln for ln in lines[-n:])

    def stop(self, name: str, grace: float = 10.0) -> None:
        p = self.live.pop(name, None)
        if p is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)  # the group: children the SUT forked go too
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(p.pid, signal.SIGKILL)  # anything left in the group
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for name in list(self.live):
            self.stop(name, grace=3.0)


class LineReader(threading.Thread):
    """A child's stdout as lines on a queue (so reads can time out)."""

    def __init__(self, p: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.p = p
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.start()

    def run(self) -> None:
        assert self.p.stdout is not None
        for raw in self.p.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def expect(self, word: str, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                raise fail(f"{what}: no {word} within {timeout:.0f} s") from None
            if line is None:
                raise fail(f"{what}: exited (status {self.p.wait()}) before {word}")
            if line.startswith("ERROR"):
                raise fail(f"{what}: {line}")
            if line.startswith(word):
                return line[len(word):].strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_smtp(procs: Procs, name: str, port: int, timeout: float) -> None:
    """Until a 220 greeting comes from 127.0.0.1:port; abort if the process dies or never greets."""
    p = procs.live[name]
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise fail(f"{name} exited with status {p.returncode} at start:\n{procs.log_tail(name)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                greeting = s.recv(512)
                s.sendall(b"QUIT\r\n")
                if greeting.startswith(b"220"):
                    return
                last = greeting.decode(errors="replace").strip()
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise fail(f"{name} did not greet on 127.0.0.1:{port} within {timeout:.0f} s ({last}):\n"
               f"{procs.log_tail(name)}")


# --------------------------------------------------------------------------- systems

@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    procs: Procs
    sink_port: int = 0
    dns_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)

    def pid(self, name: str) -> int | None:
        p = self.procs.live.get(name)
        return p.pid if p else None

    def start_sink(self) -> None:
        self.sink_port = free_port()
        cmd = [self.args.smtp_sink]
        # smtp-sink refuses to run as root; its own -u would drop privileges after our
        # PR_SET_PDEATHSIG and so clear it: start it as nobody instead
        user = "nobody" if os.geteuid() == 0 else None
        if not self.args.sink_xforward:
            cmd += ["-F"]  # no XFORWARD: relay and gateway then speak the same SMTP to the sink
        # -t: its 100 s default would drop the gateway's upstream connection while the gateway,
        # between RCPT and DATA, still receives and analyses 100 concurrent 10 MB messages
        cmd += ["-t", "900", "-m", "2000", f"127.0.0.1:{self.sink_port}", "1024"]
        self.procs.start("sink", cmd, user=user)
        self.ports["direct"] = self.sink_port
        wait_smtp(self.procs, "sink", self.sink_port, 10)

    def start_dns(self) -> None:
        p = self.procs.start("dns", [sys.executable, str(BENCH / "serve_dns.py")], stdout=True)
        assert p.stdout is not None
        # one line read without a thread (so later children still get PR_SET_PDEATHSIG)
        ready, _, _ = select.select([p.stdout], [], [], 30)
        line = p.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            raise fail(f"DNS server did not start ({line.strip() or 'no answer in 30 s'}):\n"
                       f"{self.procs.log_tail('dns')}")
        p.stdout.close()
        self.dns_port = int(line.split()[1])

    def start_relay(self) -> None:
        port = free_port()
        self.procs.start("relay", [sys.executable, str(BENCH / "serve_relay.py"), "--listen-port", str(port),
                                   "--upstream-port", str(self.sink_port)])
        self.ports["relay"] = port
        wait_smtp(self.procs, "relay", port, 30)

    def gateway_config(self, port: int, rnd: int) -> dict[str, Any]:
        d = self.tmp / f"gateway-{rnd}"
        d.mkdir(exist_ok=True)
        cfg: dict[str, Any] = {
            "listen": f"127.0.0.1:{port}",
            "upstream": {"host": "127.0.0.1", "port": self.sink_port, "connect_timeout": 10,
                         "command_timeout": 300, "data_timeout": 600},
            "hostname": "gw.example.org",
            "authserv_id": "gw.example.org",
            "local_domains": ["example.org", "example.ac.uk"],
            "policies": [str(ROOT / "policies")],
            "store": {"backend": "sqlite", "path": str(d / "store.sqlite3")},
            "quarantine": {"dir": str(d / "quarantine")},
            "dns": {"nameservers": [f"127.0.0.1:{self.dns_port}"], "timeout": 1},
            # the load comes from one address: lift the per-address and total caps; 10 MB mail
            # and more fits (the default 10,240,000 would refuse 10m plus headers)
            "limits": {"max_connections": 2000, "max_connections_per_ip": 2000,
                       "max_message_size": 64 * 1024 * 1024, "shutdown_grace": 5},
            "log": {"level": "info", "format": "text"},
        }
        if self.args.workers is not None:
            cfg["workers"] = self.args.workers
        for text in self.args.gateway_arg:
            extra = yaml.safe_load(text)
            if not isinstance(extra, dict):
                raise fail(f"--gateway-arg {text!r} is not a YAML mapping")
            merge(cfg, extra)
        return cfg

    def snapshot_store(self, rnd: int, sessions: int) -> None:
        """Consistent copies (SQLite's backup) of the gateway's store as it is now, between
        windows, one for each scan pass (serve_scan.py) around the window about to start."""
        src = self.tmp / f"gateway-{rnd}" / "store.sqlite3"
        for when in SCAN_PASSES:
            dst = snapshot_path(self, rnd, sessions, when)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.unlink(missing_ok=True)
            with sqlite3.connect(src) as a, sqlite3.connect(dst) as z:
                a.backup(z)
            a.close()
            z.close()

    def start_gateway(self, rnd: int) -> None:
        port = free_port()
        cfg = self.gateway_config(port, rnd)
        path = self.tmp / f"gateway-{rnd}" / "gateway.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(path)]
        if self.args.gateway_variant:  # part of the analysis left out (serve_variant.py)
            cmd[1:3] = [str(BENCH / "serve_variant.py"), self.args.gateway_variant]
        if self.args.offline_gateway:
            cmd.append("--offline")
        name = "gateway"
        self.procs.start(name, cmd, cwd=ROOT)
        self.ports["gateway"] = port
        wait_smtp(self.procs, name, port, 60)


SCAN_PASSES = ("before", "after")  # the scan baseline's passes around the gateway's window


def snapshot_path(b: Bench, rnd: int, sessions: int, when: str) -> Path:
    return b.tmp / f"gateway-{rnd}" / f"scan-{sessions}-{when}" / "store.sqlite3"


def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v


def gateway_has_offline(python: str) -> bool:
    out = subprocess.run([python, "-m", "gateway", "serve", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    return "--offline" in out.stdout


# --------------------------------------------------------------------------- log of the gateway

def log_summary(text: str) -> dict[str, Any]:
    """What the gateway said during a window: per-message lines, warnings, unchecked mail."""
    verdicts: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    n = unchecked = 0
    for line in text.splitlines():
        if " queue_id=" in line and " verdict=" in line:
            n += 1
            m = re.search(r" verdict=(\"[^\"]*\"|\S+)", line)
            verdicts[m.group(1).strip('"') if m else "?"] += 1
            a = re.search(r" action=(\S+)", line)
            if a:
                actions[a.group(1).split(":")[0]] += 1
            if " checked=no" in line:
                unchecked += 1
        elif " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
            msg = re.sub(r"^\S+ \S+ ", "", line)
            warnings[re.sub(r"[0-9A-F]{12}|\d+", "N", msg)[:100]] += 1
    return {"message_lines": n, "unchecked": unchecked, "verdicts": dict(verdicts),
            "actions": dict(actions), "warnings": dict(warnings)}


# --------------------------------------------------------------------------- one measured run

def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def lat_summary(xs: list[float]) -> dict[str, Any]:
    return {"n": len(xs), "mean_ms": statistics.fmean(xs) * 1000 if xs else None,
            **{f"p{int(q * 1000) / 10:g}_ms": (v * 1000 if (v := percentile(xs, q)) is not None else None)
               for q in (0.5, 0.9, 0.99, 0.999, 1.0)}}


@dataclass
class Window:
    """CPU and memory readings around a measured window."""

    bench: Bench
    system: str
    load_pid: int
    extra_pids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.roots = {"sut": self.bench.pid(self.system) if self.system != "direct" else None,
                      "sink": self.bench.pid("sink"), "dns": self.bench.pid("dns"), "load": self.load_pid}

    def begin(self) -> None:
        self.sampler = MemSampler(self.roots["sut"], self.bench.args.sample_interval)
        self.sampler.sample()
        self.offset = self._log_offset()
        self.t0 = time.monotonic()
        self.m0 = machine_cpu()
        self.self0 = os.times()
        stats = all_stats()
        self.c0 = {k: tree_cpu(v, stats) for k, v in self.roots.items()}
        self.threads0 = thread_ticks(self.roots["sut"], stats)
        self.kinds0 = process_ticks(self.roots["sut"], stats)
        self.sampler.start()

    def add(self, name: str, pid: int) -> None:
        """A process started inside the window (the probe): its CPU from 0."""
        self.roots[name] = pid
        self.c0[name] = 0.0

    def end(self, reaped: dict[str, float] | None = None) -> dict[str, Any]:
        stats = all_stats()
        c1 = {k: tree_cpu(v, stats) for k, v in self.roots.items()}
        threads = threads_cpu(self.threads0, thread_ticks(self.roots["sut"], stats))
        kinds = kinds_cpu(self.kinds0, process_ticks(self.roots["sut"], stats))
        for k, v in (reaped or {}).items():  # a process that exited inside the window (smtp-source)
            c1[k] = v
        m1 = machine_cpu()
        self1 = os.times()
        elapsed = time.monotonic() - self.t0
        mem = self.sampler.finish()
        cpu = {k: max(0.0, c1[k] - self.c0[k]) for k in self.roots}
        cpu["bench"] = (self1.user - self.self0.user) + (self1.system - self.self0.system)
        busy = (m1[0] - self.m0[0]) / CLK_TCK
        total = (m1[1] - self.m0[1]) / CLK_TCK
        known = sum(cpu.values())
        out: dict[str, Any] = {
            "window_s": elapsed, "cpu_s": cpu,
            "machine_busy_pct": 100 * busy / total if total else None,
            "other_cpu_pct": 100 * max(0.0, busy - known) / total if total else None,
            "machine_cpu_s": busy, "sut_memory": mem, "sut_threads_cpu_s": threads,
            "sut_kinds_cpu_s": kinds,  # the SUT's CPU ("sut") split by process kind (offload apart)
        }
        if self.system == "gateway":
            log = self.bench.procs.logs.get("gateway")
            if log is not None:
                with log.open("rb") as fh:
                    fh.seek(self.offset)
                    out["gateway_log"] = log_summary(fh.read().decode("utf-8", "replace"))
        return out

    def _log_offset(self) -> int:
        log = self.bench.procs.logs.get("gateway") if self.system == "gateway" else None
        return log.stat().st_size if log is not None and log.exists() else 0


def start_load(b: Bench, system: str, name: str, cmd: list[str]) -> tuple[subprocess.Popen[bytes], LineReader]:
    """The load generator `cmd` started as `name`, once its warm-up is done (it printed READY)."""
    p = b.procs.start(name, cmd, stdin=True, stdout=True)
    assert p.stdin is not None
    rd = LineReader(p)
    warm = json.loads(rd.expect("READY", 300, f"load generator against {system}"))
    if warm.get("warmup_failed"):
        print(f"  ! {system}: {warm['warmup_failed']} warm-up messages failed: {warm['warmup_failures']}")
    return p, rd


def run_python_load(b: Bench, system: str, msgfile: Path, sessions: int, duration: float, warmup: int,
                    unique_id: bool) -> dict[str, Any]:
    port = b.ports[system]
    cmd = load_cmd(b, port, msgfile, sessions, duration, warmup, unique_id)
    name = f"load-{system}"
    p, rd = start_load(b, system, name, cmd)
    w = Window(b, system, p.pid)
    w.begin()
    p.stdin.write(b"GO\n")
    p.stdin.flush()
    rd.expect("DONE", duration + 900, f"load generator against {system}")
    res = w.end()
    p.stdin.write(b"QUIT\n")
    p.stdin.flush()
    load = json.loads(rd.expect("RESULT", 120, f"load generator against {system}"))
    b.procs.stop(name)
    rd.join(5)
    res["load"] = load
    return res


def load_cmd(b: Bench, port: int, msgfile: Path, sessions: int, duration: float, warmup: int,
             unique_id: bool, rate: float = 0.0) -> list[str]:
    return [sys.executable, str(BENCH / "serve_load.py"), "load", "--port", str(port), "--rcpt", RCPT,
            "--messages", str(msgfile), "--sessions", str(sessions), "--procs", str(b.args.load_procs),
            "--duration", str(duration), "--warmup", str(warmup), "--rate", str(rate)] + (
                ["--unique-id"] if unique_id else [])


def run_latency(b: Bench, system: str, msgfile: Path, load: LatencyLoad, duration: float,
                probe: Path) -> dict[str, Any]:
    """The probe while `load` runs. The sessions start spread over one message's transfer time
    (`ramp`, paced loads only); the measured window (CPU, busy share, the load's messages) is the
    probe's: from the end of the ramp to the probe's last reply, every session still sending."""
    port = b.ports[system]
    ramp = load.ramp()
    cmd = load_cmd(b, port, msgfile, load.sessions, ramp + duration + 1.0, WARMUP[load.size], True, load.rate)
    name = f"load-{system}"
    p, rd = start_load(b, system, name, cmd)
    p.stdin.write(b"GO\n")
    p.stdin.flush()
    stop = time.monotonic() + ramp + duration + 1.0  # (about) when the sessions start no new message
    time.sleep(ramp)
    w = Window(b, system, p.pid)
    w.begin()
    probe_proc = b.procs.start(f"probe-{system}", probe_cmd(port, probe, duration=duration), stdout=True)
    probe_rd = LineReader(probe_proc)
    w.add("probe", probe_proc.pid)
    probed = json.loads(probe_rd.expect("RESULT", duration + 600, f"probe against {system}"))
    t1 = time.monotonic()
    res = w.end()
    b.procs.stop(f"probe-{system}")
    probe_rd.join(5)
    rd.expect("DONE", ramp + duration + 900, f"load generator against {system}")
    p.stdin.write(b"QUIT\n")
    p.stdin.flush()
    out = json.loads(rd.expect("RESULT", 120, f"load generator against {system}"))
    b.procs.stop(name)
    rd.join(5)
    # the load's messages answered inside the window
    inside = [i for i, t in enumerate(out["done_at"]) if w.t0 <= t <= t1]
    per_msg = out["bytes"] / out["ok"] if out["ok"] else 0
    res["load"] = {**out, "ok": len(inside), "latencies": [out["latencies"][i] for i in inside],
                   "bytes": per_msg * len(inside), "elapsed": t1 - w.t0, "ok_whole_run": out["ok"],
                   "load_stopped_early": t1 > stop}
    res["probe"] = probed
    res["ramp_s"] = ramp
    return res


def probe_cmd(port: int, msgfile: Path, duration: float = 0.0, count: int = 0) -> list[str]:
    return [sys.executable, str(BENCH / "serve_load.py"), "probe", "--port", str(port), "--rcpt", RCPT,
            "--messages", str(msgfile), "--interval", "0.1", "--duration", str(duration), "--count", str(count)]


def run_probe_idle(b: Bench, system: str, msgfile: Path, count: int) -> dict[str, Any]:
    name = f"probe-{system}"
    p = b.procs.start(name, probe_cmd(b.ports[system], msgfile, count=count), stdout=True)
    rd = LineReader(p)
    out = json.loads(rd.expect("RESULT", 60 + count, f"idle probe against {system}"))
    b.procs.stop(name)
    rd.join(5)
    return dict(out)


def run_smtp_source(b: Bench, system: str, size: int, sessions: int, per_session: int) -> dict[str, Any]:
    port = b.ports[system]
    base = [b.args.smtp_source, "-d", "-f", "sender@ext.test", "-t", RCPT, "-M", "load.bench.test"]
    warm = subprocess.run(base + ["-s", "1", "-m", "2", "-l", str(size), f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=300)
    if warm.returncode != 0:
        raise fail(f"smtp-source warm-up against {system} failed: {warm.stderr.strip()}")
    total = sessions * per_session
    name = f"source-{system}"
    cmd = base + ["-s", str(sessions), "-m", str(total), "-l", str(size), f"127.0.0.1:{port}"]
    p = b.procs.start(name, cmd)
    w = Window(b, system, p.pid)
    w.begin()
    t0 = time.monotonic()
    _, status, ru = os.wait4(p.pid, 0)
    elapsed = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    b.procs.live.pop(name, None)
    res = w.end(reaped={"load": ru.ru_utime + ru.ru_stime})
    ok = p.returncode == 0
    err = b.procs.log_tail(name, 3).strip()
    res["load"] = {"ok": total if ok else 0, "failed": 0 if ok else total,
                   "failures": {} if ok else {f"smtp-source exited {p.returncode}: {err}"[:200]: total},
                   "latencies": [], "elapsed": elapsed, "generator": "smtp-source", "bytes": total * size if ok else 0,
                   "note": "smtp-source reports no per-message latency"}
    return res


def scan_pass(b: Bench, rnd: int, sessions: int, when: str, count: int, msgfile: Path) -> dict[str, Any]:
    """One pass of serve_scan.py (its own process, the gateway's config file with the store copy
    taken before the window): the first `count` messages, CPU of each."""
    store = snapshot_path(b, rnd, sessions, when)
    cfg = yaml.safe_load((b.tmp / f"gateway-{rnd}" / "gateway.yml").read_text())
    cfg["store"]["path"] = str(store)
    config = store.parent / "scan.yml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, str(BENCH / "serve_scan.py"), "--config", str(config), "--record",
           "--messages", str(msgfile), "--count", str(max(count, 1)), "--warmup", str(WARMUP["ham"]),
           "--rcpt", RCPT]
    if b.args.offline_gateway or b.args.gateway_variant == "offline":
        cmd.append("--offline")
    name = f"scan-{when}"
    p = b.procs.start(name, cmd, stdout=True, cwd=ROOT)
    rd = LineReader(p)
    res: dict[str, Any] = json.loads(rd.expect("RESULT", 1800, f"scan baseline {when} the window (serve_scan.py)"))
    b.procs.stop(name)
    rd.join(5)
    return res


def run_scan_baseline(b: Bench, rnd: int, sessions: int, rows: list[dict[str, Any]], msgfile: Path,
                      before: dict[str, Any]) -> dict[str, Any]:
    """`scan`'s analysis CPU of the messages this round's gateway ham window relayed: the pass
    before the window (more messages than the window will hold, cut to the window's count here)
    and one after it over exactly the window's count, averaged, so that a load that drifts during
    the round weighs on scan as on the gateway. Beside that window's gateway and relay rows."""
    mine = {r["system"]: r for r in rows if (r["workload"], r["sessions"], r["round"]) == ("ham", sessions, rnd)}
    gw = mine["gateway"]
    n = max(gw["ok"], 1)
    after = scan_pass(b, rnd, sessions, "after", n, msgfile)
    cpu_before = sum(before["cpu_each"][:n]) if len(before["cpu_each"]) >= n else None
    cpu_after = sum(after["cpu_each"][:n])
    if cpu_before is None:
        print(f"    ! scan pass before the window analysed {len(before['cpu_each'])} messages, the window "
              f"{n}: only the pass after it counts (raise --scan-before)")
    passes = [c for c in (cpu_before, cpu_after) if c is not None]
    out = {"round": rnd, "sessions": sessions, "messages": n, "cpu_s": statistics.fmean(passes),
           "cpu_before_s": cpu_before, "cpu_after_s": cpu_after,
           "offline": after["offline"], "verdicts": after["verdicts"],
           "gateway_cpu_s": gw["cpu_s"]["sut"], "gateway_ok": gw["ok"],
           "relay_cpu_s": mine["relay"]["cpu_s"]["sut"] if "relay" in mine else None,
           "relay_ok": mine["relay"]["ok"] if "relay" in mine else None}
    print_target_line(f"round {rnd}", [out])
    return out


def target_terms(scans: list[dict[str, Any]]) -> dict[str, float | None]:
    """ms per message, each system's CPU total over its messages total (rounds pooled)."""
    def per(cpu: str, n: str) -> float | None:
        c = [s[cpu] for s in scans if s[cpu] is not None]
        k = sum(s[n] for s in scans if s[n] is not None)
        return 1000 * sum(c) / k if c and k else None

    gw, relay, scan = per("gateway_cpu_s", "gateway_ok"), per("relay_cpu_s", "relay_ok"), per("cpu_s", "messages")
    bound = relay + scan + 1.0 if relay is not None and scan is not None else None
    both = all(s["cpu_before_s"] is not None for s in scans)
    return {"gateway": gw, "relay": relay, "scan": scan, "bound": bound,
            "scan_before": per("cpu_before_s", "messages") if both else None,
            "scan_after": per("cpu_after_s", "messages"),
            "margin": bound - gw if bound is not None and gw is not None else None,
            "serve_own": gw - relay - scan if gw is not None and relay is not None and scan is not None else None}


def print_target_line(label: str, scans: list[dict[str, Any]]) -> None:
    t = target_terms(scans)
    mode = "offline" if scans[0]["offline"] else "online"
    sess = ",".join(sorted({str(s["sessions"]) for s in scans}))
    if t["bound"] is None:
        print(f"    target ({label}, ham x{sess}): gateway {fmt(t['gateway'], '.2f', 0)} ms/msg, scan ({mode}) "
              f"{fmt(t['scan'], '.2f', 0)} ms/msg (no relay row: no bound)", flush=True)
        return
    ok = "met" if t["margin"] is not None and t["margin"] >= 0 else "NOT met"
    print(f"    target ({label}, ham x{sess}): gateway {fmt(t['gateway'], '.2f', 0)} ms/msg <= relay "
          f"{fmt(t['relay'], '.2f', 0)} + scan ({mode}; before / after the window {fmt(t['scan_before'], '.2f', 0)} / "
          f"{fmt(t['scan_after'], '.2f', 0)}) {fmt(t['scan'], '.2f', 0)} + 1 ms = "
          f"{fmt(t['bound'], '.2f', 0)}: {ok}, margin {t['margin']:+.2f} ms; serve's own cost (gateway - relay - scan) "
          f"{fmt(t['serve_own'], '.2f', 0)} ms", flush=True)


def print_target(scans: list[dict[str, Any]]) -> None:
    print()
    print("Issue 13 target, serve CPU per real 10 KB message <= relay + scan + 1 ms (CPU totals over messages, "
          "rounds pooled):")
    for sess in sorted({s["sessions"] for s in scans}):
        print_target_line(f"{sum(1 for s in scans if s['sessions'] == sess)} rounds",
                          [s for s in scans if s["sessions"] == sess])


# --------------------------------------------------------------------------- reporting

def row_of(system: str, workload: str, sessions: int, rnd: int, res: dict[str, Any]) -> dict[str, Any]:
    load = res["load"]
    ok = load["ok"]
    elapsed = load.get("elapsed") or res["window_s"]
    cpu = res["cpu_s"]

    def per(seconds: float) -> float | None:
        return 1000 * seconds / ok if ok else None

    lat = lat_summary(load["latencies"])
    mem = res["sut_memory"]
    row = {
        "system": system, "workload": workload, "sessions": sessions, "round": rnd,
        "ok": ok, "failed": load["failed"], "failures": load["failures"],
        "elapsed_s": elapsed, "msg_per_s": ok / elapsed if elapsed else None,
        "mb_per_s": load.get("bytes", 0) / elapsed / 1e6 if elapsed else None,
        "latency": lat,
        "cpu_ms_per_msg": {k: per(v) for k, v in cpu.items()},
        "cpu_s": cpu,
        "sut_threads_cpu_ms_per_msg": {k: per(v) for k, v in res.get("sut_threads_cpu_s", {}).items()},
        "sut_kinds_cpu_s": res.get("sut_kinds_cpu_s", {}),
        "sut_kinds_cpu_ms_per_msg": {k: per(v) for k, v in res.get("sut_kinds_cpu_s", {}).items()},
        "sut_kinds_peak_rss_mib": kinds_rss(mem),
        "sut_peak_rss_mib": max((p["peak_rss_kb"] for p in mem["processes"]), default=0) / 1024,
        "sut_peak_rss_sum_mib": mem["peak_rss_sum_kb"] / 1024,
        "sut_processes": len(mem["processes"]),
        "sut_memory": mem,
        "machine_busy_pct": res["machine_busy_pct"], "other_cpu_pct": res["other_cpu_pct"],
        "window_s": res["window_s"],
        "cpu_cores": {k: v / res["window_s"] for k, v in cpu.items()} if res["window_s"] else {},
    }
    if "gateway_log" in res:
        row["gateway_log"] = res["gateway_log"]
    if "probe" in res:
        row["probe_loaded"] = {**lat_summary(res["probe"]["latencies"]), "failed": res["probe"]["failed"],
                               "failures": res["probe"]["failures"]}
        row["load_stopped_early"] = load.get("load_stopped_early", False)
    return row


def kinds_rss(mem: dict[str, Any]) -> dict[str, float]:
    """Peak RSS (MiB) per process kind: the largest process of each (the worker, an analysis
    process), as the table's RSS column is the largest process of the SUT."""
    out: dict[str, float] = {}
    for p in mem["processes"]:
        out[p["name"]] = max(out.get(p["name"], 0.0), p["peak_rss_kb"] / 1024)
    return out


def kinds_line(cpu: dict[str, float], rss: dict[str, float], unit: str, spec: str) -> str | None:
    """One line of the SUT's CPU and peak RSS per process kind, when there is more than one
    kind (the analysis processes apart from the worker); None otherwise."""
    kinds = sorted(set(cpu) | set(rss), key=lambda k: (k.startswith("offload:"), k))
    if len(kinds) < 2:
        return None
    return (f"    SUT by process, {unit}: " + "  ".join(f"{k} {fmt(cpu.get(k), spec, 0)}" for k in kinds)
            + " | peak RSS MiB: " + "  ".join(f"{k} {fmt(rss.get(k), '.0f', 0)}" for k in kinds))


def fmt(v: float | None, spec: str = ".1f", width: int = 7) -> str:
    return f"{v:{width}{spec}}" if v is not None else f"{'-':>{width}}"


HEADER = (f"{'system':8} {'workload':8} {'sess':>4} {'rnd':>3} {'msgs':>6} {'fail':>4} {'msg/s':>8} "
          f"{'MB/s':>6} {'p50ms':>7} {'p99ms':>7} | {'cpu ms/msg: SUT':>15} {'sink':>5} {'load':>5} {'dns':>5} "
          f"| {'RSS MiB':>7} {'n':>2} | {'busy%':>5} {'oth%':>4}")


def print_row(r: dict[str, Any]) -> None:
    c = r["cpu_ms_per_msg"]
    sut = c.get("sut") if r["system"] != "direct" else None
    print(f"{r['system']:8} {r['workload']:8} {r['sessions']:4d} {r['round']:3d} {r['ok']:6d} {r['failed']:4d} "
          f"{fmt(r['msg_per_s'], '.1f', 8)} {fmt(r['mb_per_s'], '.1f', 6)} "
          f"{fmt(r['latency']['p50_ms'], '.2f')} {fmt(r['latency']['p99_ms'], '.2f')} | "
          f"{fmt(sut, '.2f', 15)} {fmt(c.get('sink'), '.2f', 5)} {fmt(c.get('load'), '.2f', 5)} "
          f"{fmt(c.get('dns'), '.2f', 5)} | "
          f"{fmt(r['sut_peak_rss_mib'] if r['system'] != 'direct' else None, '.0f')} "
          f"{r['sut_processes'] if r['system'] != 'direct' else '-':>2} | "
          f"{fmt(r['machine_busy_pct'], '.0f', 5)} {fmt(r['other_cpu_pct'], '.0f', 4)}", flush=True)
    line = kinds_line(r.get("sut_kinds_cpu_ms_per_msg", {}), r.get("sut_kinds_peak_rss_mib", {}), "cpu ms/msg", ".2f")
    if r["system"] != "direct" and line:
        print(line, flush=True)
    threads = {k: v for k, v in r.get("sut_threads_cpu_ms_per_msg", {}).items() if v}
    if r["system"] != "direct" and len(threads) > 1:
        print("    SUT threads, cpu ms/msg: " + "  ".join(
            f"{k} {v:.2f}" for k, v in sorted(threads.items(), key=lambda kv: -kv[1])), flush=True)
    if r["ok"] < 3 * r["sessions"] and r["latency"]["n"] and "probe_loaded" not in r:
        print("    ! fewer than 3 messages per session: the window is short against the latency "
              "(all sessions start together); lengthen --duration for a steadier msg/s")
    if r["failed"]:
        for what, n in sorted(r["failures"].items(), key=lambda kv: -kv[1])[:5]:
            print(f"    ! {n} failed: {what}")
    gl = r.get("gateway_log")
    if gl and (gl["unchecked"] or gl["warnings"]):
        print(f"    ! gateway: {gl['unchecked']} messages not checked (analysis failed or timed out); "
              f"warnings: {dict(list(gl['warnings'].items())[:3])}")
    if "probe_loaded" in r:
        pl = r["probe_loaded"]
        print(f"    probe under load: n={pl['n']} p50 {fmt(pl['p50_ms'], '.2f', 0)} ms  p99 "
              f"{fmt(pl['p99_ms'], '.2f', 0)} ms  max {fmt(pl['p100_ms'], '.2f', 0)} ms  failed {pl['failed']}")
        if r.get("load_stopped_early"):
            print("    ! the probe's last replies came after the load stopped sending: its tail ran on a machine "
                  "with less load than the row says")
        cores = r["cpu_cores"]
        print(f"    window {r['window_s']:.1f} s ({r.get('latency_load', '')}), CPU in cores: "
              + "  ".join(f"{k} {cores[k]:.2f}" for k in ("sut", "sink", "load", "probe", "dns") if k in cores)
              + f"  | machine busy {fmt(r['machine_busy_pct'], '.0f', 0)}% "
              f"(other {fmt(r['other_cpu_pct'], '.0f', 0)}%)")


def summarize(rows: list[dict[str, Any]], lats: dict[tuple[str, str, int], list[float]]) -> list[dict[str, Any]]:
    seen = list(dict.fromkeys((r["workload"], r["sessions"]) for r in rows))  # latency loads: as run
    keys = sorted(seen, key=lambda k: (list(SIZES).index(k[0]) if k[0] in SIZES else 9,
                                       k[1] if k[0] in SIZES else seen.index(k)))
    out = []
    for wl, sess in keys:
        per_sys = {}
        for system in SYSTEMS:
            rs = [r for r in rows if (r["system"], r["workload"], r["sessions"]) == (system, wl, sess)]
            if not rs:
                continue
            ok = sum(r["ok"] for r in rs)
            rates = [r["msg_per_s"] for r in rs if r["msg_per_s"] is not None]
            cpu_tot: dict[str, float] = {}
            kinds_tot: dict[str, float] = {}
            kinds_rss: dict[str, float] = {}
            for r in rs:
                for k, v in r["cpu_s"].items():
                    cpu_tot[k] = cpu_tot.get(k, 0.0) + v
                for k, v in r.get("sut_kinds_cpu_s", {}).items():
                    kinds_tot[k] = kinds_tot.get(k, 0.0) + v
                for k, v in r.get("sut_kinds_peak_rss_mib", {}).items():
                    kinds_rss[k] = max(kinds_rss.get(k, 0.0), v)
            s: dict[str, Any] = {
                "system": system, "workload": wl, "sessions": sess, "rounds": len(rs), "ok": ok,
                "failed": sum(r["failed"] for r in rs),
                "msg_per_s_median": statistics.median(rates) if rates else None,
                "msg_per_s_min": min(rates) if rates else None, "msg_per_s_max": max(rates) if rates else None,
                "latency_pooled": lat_summary(lats.get((system, wl, sess), [])),
                "cpu_ms_per_msg": {k: 1000 * v / ok if ok else None for k, v in cpu_tot.items()},
                "sut_peak_rss_mib": max(r["sut_peak_rss_mib"] for r in rs),
                "sut_peak_rss_sum_mib": max(r["sut_peak_rss_sum_mib"] for r in rs),
                "machine_busy_pct_mean": statistics.fmean(r["machine_busy_pct"] or 0 for r in rs),
                "other_cpu_pct_mean": statistics.fmean(r["other_cpu_pct"] or 0 for r in rs),
                "unchecked": sum(r.get("gateway_log", {}).get("unchecked", 0) for r in rs),
                "cpu_cores": {k: v / sum(r["window_s"] for r in rs) for k, v in cpu_tot.items()},
                "sut_kinds_cpu_ms_per_msg": {k: 1000 * v / ok if ok else None for k, v in kinds_tot.items()},
                "sut_kinds_cores": {k: v / sum(r["window_s"] for r in rs) for k, v in kinds_tot.items()},
                "sut_kinds_peak_rss_mib": kinds_rss,
            }
            probes = [r for r in rs if "probe_loaded" in r]
            if probes:
                s["probe_idle"] = lat_summary(lats.get((system, wl + ":idle", sess), []))
                s["probe_loaded"] = lat_summary(lats.get((system, wl + ":probe", sess), []))
                s["latency_load"] = probes[0].get("latency_load", "")
                s["probe_failed"] = sum(r["probe_loaded"]["failed"] for r in probes) + sum(
                    r.get("probe_idle", {}).get("failed", 0) for r in probes)
            per_sys[system] = s
            out.append(s)
        g, rl = per_sys.get("gateway"), per_sys.get("relay")
        if g and rl:
            if g["msg_per_s_median"] and rl["msg_per_s_median"]:
                g["throughput_vs_relay"] = g["msg_per_s_median"] / rl["msg_per_s_median"]
            gc, rc = g["cpu_ms_per_msg"].get("sut"), rl["cpu_ms_per_msg"].get("sut")
            if gc and rc:
                g["cpu_vs_relay"] = gc / rc
    return out


def print_summary(summary: list[dict[str, Any]]) -> None:
    print()
    print("Summary (msg/s: median over rounds [min-max]; latency: all rounds pooled; CPU: total/messages)")
    print(f"{'workload':8} {'sess':>4} {'system':8} {'msg/s':>8} {'[min-max]':>17} {'p50ms':>7} {'p99ms':>8} | "
          f"{'SUT ms/msg':>10} {'sink':>5} {'load':>5} {'dns':>5} | {'RSS MiB':>7} | {'fail':>4} | "
          f"{'gw/relay msg/s':>14} {'gw/relay cpu':>12}")
    for s in summary:
        c = s["cpu_ms_per_msg"]
        lat = s["latency_pooled"]
        rng = (f"[{s['msg_per_s_min']:.1f}-{s['msg_per_s_max']:.1f}]" if s["msg_per_s_min"] is not None
               else "")
        direct = s["system"] == "direct"
        print(f"{s['workload']:8} {s['sessions']:4d} {s['system']:8} {fmt(s['msg_per_s_median'], '.1f', 8)} "
              f"{rng:>17} {fmt(lat['p50_ms'], '.2f')} {fmt(lat['p99_ms'], '.2f', 8)} | "
              f"{fmt(None if direct else c.get('sut'), '.2f', 10)} {fmt(c.get('sink'), '.2f', 5)} "
              f"{fmt(c.get('load'), '.2f', 5)} {fmt(c.get('dns'), '.2f', 5)} | "
              f"{fmt(None if direct else s['sut_peak_rss_mib'], '.0f')} | {s['failed']:4d} | "
              f"{fmt(s.get('throughput_vs_relay'), '.2f', 14)} {fmt(s.get('cpu_vs_relay'), '.2f', 12)}")
        line = kinds_line(s["sut_kinds_cpu_ms_per_msg"], s["sut_kinds_peak_rss_mib"], "cpu ms/msg", ".2f")
        if not direct and line:
            print(line)
        if "probe_idle" in s:
            pi, pl = s["probe_idle"], s["probe_loaded"]
            print(f"{'':14}{'probe':>8}  idle p50 {fmt(pi['p50_ms'], '.2f', 0)} p99 {fmt(pi['p99_ms'], '.2f', 0)} ms"
                  f" | under load p50 {fmt(pl['p50_ms'], '.2f', 0)} p99 {fmt(pl['p99_ms'], '.2f', 0)}"
                  f" max {fmt(pl['p100_ms'], '.2f', 0)} ms | probe failures {s['probe_failed']}")


def print_latency(summary: list[dict[str, Any]]) -> None:
    """The systems side by side per background load: the probe idle and under load, the
    difference, and whether the machine was saturated (CPU in cores, busy share)."""
    rows = [s for s in summary if "probe_idle" in s]
    if not rows:
        return
    print()
    print("Latency of a small message (probe every 100 ms, open loop; all rounds pooled) beside the background "
          "load; CPU in cores (of 2) and busy% over the probe's window")
    print(f"{'load':16} {'system':8} | {'idle p50':>8} {'p99':>6} | {'load p50':>8} {'p99':>7} {'max':>7} | "
          f"{'+p50':>7} {'+p99':>7} | {'msg/s':>5} {'SUT':>5} {'sink':>5} {'load':>5} | {'busy%':>5} {'oth%':>4} "
          f"| {'fail':>4}")
    for s in rows:
        pi, pl, c = s["probe_idle"], s["probe_loaded"], s["cpu_cores"]

        def diff(q: str, pi: dict[str, Any] = pi, pl: dict[str, Any] = pl) -> float | None:
            return pl[q] - pi[q] if pl[q] is not None and pi[q] is not None else None

        print(f"{s['latency_load']:16} {s['system']:8} | {fmt(pi['p50_ms'], '.1f', 8)} {fmt(pi['p99_ms'], '.1f', 6)} | "
              f"{fmt(pl['p50_ms'], '.1f', 8)} {fmt(pl['p99_ms'], '.1f')} {fmt(pl['p100_ms'], '.0f')} | "
              f"{fmt(diff('p50_ms'), '.1f')} {fmt(diff('p99_ms'), '.1f')} | {fmt(s['msg_per_s_median'], '.1f', 5)} "
              f"{fmt(None if s['system'] == 'direct' else c.get('sut'), '.2f', 5)} {fmt(c.get('sink'), '.2f', 5)} "
              f"{fmt(c.get('load'), '.2f', 5)} | {fmt(s['machine_busy_pct_mean'], '.0f', 5)} "
              f"{fmt(s['other_cpu_pct_mean'], '.0f', 4)} | {s['probe_failed'] + s['failed']:4d}")
        line = kinds_line(s["sut_kinds_cores"], s["sut_kinds_peak_rss_mib"], "CPU in cores", ".2f")
        if s["system"] != "direct" and line:
            print(line)


# --------------------------------------------------------------------------- main

def environment() -> dict[str, Any]:
    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "cpu_model": model,
        "python": sys.version.split()[0], "python_executable": sys.executable,
        "platform": platform.platform(),
        "git_commit": run(["git", "rev-parse", "HEAD"]),
        "git_dirty": bool(run(["git", "status", "--porcelain", "--untracked-files=no"])),
        "postfix": run(["postconf", "-d", "-h", "mail_version"]),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="subset of direct,relay,gateway")
    ap.add_argument("--sizes", help="subset of ham (alias 10k),1m,10m (default all)")
    ap.add_argument("--sessions", help="concurrent sessions, comma-separated (default 1,20,100)")
    ap.add_argument("--latency", action=argparse.BooleanOptionalAction, default=True,
                    help="the latency-under-load scenario (default on)")
    ap.add_argument("--latency-load", default=DEFAULT_LATENCY_LOAD,
                    help="the background load(s), comma-separated: SIZE:SESSIONS[@RATE], RATE per session in "
                         "MB/s or kB/s (decimal), or max: each session sends its next message the moment the last "
                         f"is accepted, at loopback speed (the closed loop; default without @). Default "
                         f"{DEFAULT_LATENCY_LOAD}")
    ap.add_argument("--latency-idle-probes", type=int, default=50)
    ap.add_argument("--latency-only", action="store_true",
                    help="only the latency scenario (no throughput workloads; --sizes and --sessions ignored)")
    ap.add_argument("--duration", type=float, help="seconds per measured window (default by size: "
                    + ", ".join(f"{k} {v:g}" for k, v in DURATION.items()) + ")")
    ap.add_argument("--quick", action="store_true",
                    help="~2 minutes: 1 round; ham and 1m with 1 and 20 sessions, 10m with 1; the latency "
                         "scenario; 3 s windows (5 s for 10m); 20 idle probes")
    ap.add_argument("--generator", choices=("python", "smtp-source"), default="python",
                    help="load for 1m/10m: generated MIME from serve_load.py (default), or smtp-source -l "
                         "(no per-message latency); ham is always the Python replay")
    ap.add_argument("--source-per-session", type=int, default=0,
                    help="smtp-source: messages per session (default 20 for 1m, 4 for 10m)")
    ap.add_argument("--load-procs", type=int, default=2, help="worker processes of the Python load generator")
    ap.add_argument("--ham-limit", type=int, default=None, help="use only the first N ham messages")
    ap.add_argument("--corpus", type=Path, action="append",
                    help="folder of .eml files (default: every folder of ../shared/corpora/ham/spamassassin)")
    ap.add_argument("--workers", type=int, default=None, help="write 'workers: N' into the gateway's config")
    ap.add_argument("--gateway-arg", action="append", default=[], metavar="YAML",
                    help="extra config YAML merged into the gateway's, e.g. 'workers: 2' or "
                         "'log: {level: warning}' (repeatable)")
    ap.add_argument("--offline-gateway", action="store_true",
                    help="start the gateway with `serve --offline` (only if this gateway has that flag)")
    ap.add_argument("--gateway-variant", choices=("nochecks", "offline"),
                    help="start the gateway through serve_variant.py with no checks or offline, to split its CPU "
                         "per message (one worker: needs --workers 1)")
    ap.add_argument("--scan-baseline", action="store_true",
                    help="after each round's gateway ham window: `scan`'s analysis CPU of the same messages, same "
                         "config and DNS (offline with --offline-gateway), from a copy of the gateway's store as the "
                         "window started, in its own process (serve_scan.py); prints gateway CPU/msg against "
                         "relay + scan + 1 ms (issue 13's target)")
    ap.add_argument("--scan-before", type=int, default=1,
                    help="--scan-baseline: the pass before the window analyses this many times the ham corpus "
                         "(it must reach the window's count; default 1)")
    ap.add_argument("--sink-xforward", action="store_true",
                    help="let smtp-sink offer XFORWARD (the gateway then sends it before every MAIL; "
                         "the relay never does)")
    ap.add_argument("--smtp-sink", default="/usr/sbin/smtp-sink")
    ap.add_argument("--smtp-source", default="/usr/sbin/smtp-source")
    ap.add_argument("--sample-interval", type=float, default=0.2, help="seconds between RSS samples")
    ap.add_argument("--json", type=Path, help="write every number to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs)")
    args = ap.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    if args.quick:
        if not any(a.startswith("--rounds") for a in given):
            args.rounds = 1
        args.duration = args.duration or 3.0
        args.latency_idle_probes = 20
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    sizes = ["ham" if s.strip() == "10k" else s.strip() for s in (args.sizes or "ham,1m,10m").split(",")
             if s.strip()]
    sessions = [int(s) for s in (args.sessions or "1,20,100").split(",") if s.strip()]
    for s in args.systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s!r}")
    for s in sizes:
        if s not in SIZES:
            ap.error(f"unknown size {s!r} (ham, 10k, 1m, 10m)")
    if args.quick and args.sizes is None and args.sessions is None:
        args.workloads = [("ham", 1), ("ham", 20), ("1m", 1), ("1m", 20), ("10m", 1)]
    elif args.quick and args.sessions is None:
        args.workloads = [(size, n) for size in sizes for n in (1, 20)]
    else:
        args.workloads = [(size, n) for size in sizes for n in sessions]
    if args.latency_only:
        if not args.latency:
            ap.error("--latency-only with --no-latency leaves nothing to run")
        args.workloads = []
    args.sizes = sorted({w[0] for w in args.workloads}, key=list(SIZES).index)
    try:
        args.latency_loads = [parse_latency_load(t) for t in args.latency_load.split(",") if t.strip()]
    except ValueError as exc:
        ap.error(f"--latency-load {exc}")
    return args


def duration_of(args: argparse.Namespace, size: str) -> float:
    if args.duration:
        return float(args.duration) + (2.0 if args.quick and size == "10m" else 0.0)
    return DURATION[size]


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
    for tool in (args.smtp_sink,) + ((args.smtp_source,) if args.generator == "smtp-source" else ()):
        if not (Path(tool).is_file() and os.access(tool, os.X_OK)):
            raise fail(f"{tool} not found: apt-get install postfix (it ships smtp-sink and smtp-source)")
    if args.scan_baseline and (args.gateway_variant == "nochecks" or "gateway" not in args.systems
                               or "ham" not in args.sizes):
        raise fail("--scan-baseline: needs the gateway (with its checks) and the ham workload")
    if args.gateway_variant and args.workers != 1:
        raise fail("--gateway-variant: only a single process is patched; add --workers 1")
    if "gateway" in args.systems and args.offline_gateway and not gateway_has_offline(sys.executable):
        raise fail("--offline-gateway: this gateway's `serve` has no --offline flag (see `python -m gateway "
                   "serve --help`); run without it (DNS goes to the local NXDOMAIN server)")
    env = environment()
    print(f"nproc {env['nproc']} (usable {env['usable_cpus']}), {env['cpu_model']}; Python {env['python']}; "
          f"git {env['git_commit'][:12]}{' (dirty)' if env['git_dirty'] else ''}; Postfix {env['postfix']}; "
          f"loadavg {' '.join(env['loadavg'])}")
    print("The load generator, smtp-sink and the DNS server share these CPUs with the system under test: their "
          "CPU is shown beside it, never counted in it.")

    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    (tmp / "logs").mkdir()
    procs = Procs(tmp / "logs")
    b = Bench(args, tmp, procs)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    rows: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    lats: dict[tuple[str, str, int], list[float]] = {}
    status = 0
    try:
        # messages, prepared once
        msgfiles: dict[str, Path] = {}
        need = set(args.sizes) | ({ld.size for ld in args.latency_loads} if args.latency else set())
        ham = ham_messages(find_corpus(args), args.ham_limit) if ("ham" in need or args.latency) else []
        if "ham" in need:
            msgfiles["ham"] = tmp / "ham.pickle"
            save_messages(msgfiles["ham"], ham)
            print(f"ham: {len(ham)} messages, mean {statistics.fmean(len(m[1]) for m in ham) / 1000:.1f} kB, "
                  f"median {statistics.median(len(m[1]) for m in ham) / 1000:.1f} kB on the wire")
        for size in sorted(need - {"ham"}):
            if args.generator == "python" or (args.latency and size in {ld.size for ld in args.latency_loads}):
                msgfiles[size] = tmp / f"{size}.pickle"
                save_messages(msgfiles[size], mime_messages(SIZES[size], 4 if SIZES[size] >= 5_000_000 else 8))
        if args.latency:
            msgfiles["probe"] = tmp / "probe.pickle"
            small = [m for m in ham if 1500 <= len(m[1]) <= 4000][:50] or ham[:50]
            save_messages(msgfiles["probe"], small)

        b.start_sink()
        if "gateway" in args.systems:
            b.start_dns()
        workloads = args.workloads
        lat_text = (f", latency ({', '.join(ld.text for ld in args.latency_loads)} + probe)" if args.latency
                    else "")
        print(f"workloads: {', '.join(f'{w}x{s}' for w, s in workloads)}{lat_text}"
              f"; systems {','.join(args.systems)}; {args.rounds} rounds; temp {tmp}")
        print()
        print(HEADER)
        for rnd in range(1, args.rounds + 1):
            if "relay" in args.systems:
                b.start_relay()
            if "gateway" in args.systems:
                b.start_gateway(rnd)
            for size, sessions in workloads:
                for system in args.systems:
                    dur = duration_of(args, size)
                    if args.scan_baseline and size == "ham" and system == "gateway":
                        b.snapshot_store(rnd, sessions)  # the history this window starts from
                        before = scan_pass(b, rnd, sessions, "before", len(ham) * args.scan_before, msgfiles["ham"])
                    if size != "ham" and args.generator == "smtp-source":
                        per = args.source_per_session or (20 if size == "1m" else 4)
                        res = run_smtp_source(b, system, SIZES[size], sessions, per)
                    else:
                        res = run_python_load(b, system, msgfiles[size], sessions, dur, WARMUP[size],
                                              unique_id=size != "ham")
                    check_alive(b)
                    row = row_of(system, size, sessions, rnd, res)
                    lats.setdefault((system, size, sessions), []).extend(res["load"]["latencies"])
                    rows.append(row)
                    print_row(row)
                if args.scan_baseline and size == "ham":
                    scans.append(run_scan_baseline(b, rnd, sessions, rows, msgfiles["ham"], before))
            if args.latency:
                for ld in args.latency_loads:
                    for system in args.systems:
                        idle = run_probe_idle(b, system, msgfiles["probe"], args.latency_idle_probes)
                        res = run_latency(b, system, msgfiles[ld.size], ld, duration_of(args, ld.size),
                                          msgfiles["probe"])
                        check_alive(b)
                        row = row_of(system, ld.label, ld.sessions, rnd, res)
                        row["latency_load"] = ld.text
                        row["probe_idle"] = {**lat_summary(idle["latencies"]), "failed": idle["failed"],
                                             "failures": idle["failures"]}
                        lats.setdefault((system, ld.label, ld.sessions), []).extend(res["load"]["latencies"])
                        lats.setdefault((system, ld.label + ":idle", ld.sessions), []).extend(idle["latencies"])
                        lats.setdefault((system, ld.label + ":probe", ld.sessions), []).extend(
                            res["probe"]["latencies"])
                        rows.append(row)
                        print_row(row)
                        pi = row["probe_idle"]
                        print(f"    probe idle:       n={pi['n']} p50 {fmt(pi['p50_ms'], '.2f', 0)} ms  p99 "
                              f"{fmt(pi['p99_ms'], '.2f', 0)} ms  failed {pi['failed']}")
            b.procs.stop("relay")
            b.procs.stop("gateway")
            for name in ("relay", "gateway"):  # next round: a fresh log file
                log = b.procs.logs.pop(name, None)
                if log is not None and log.exists():
                    log.rename(log.with_name(f"{name}-round{rnd}.log"))
        summary = summarize(rows, lats)
        print_summary(summary)
        if scans:
            print_target(scans)
        print_latency(summary)
        if any(r["failed"] for r in rows):
            print("\nSome messages failed (non-2xx or broken session): see the '!' lines above.")
            status = 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every child process", file=sys.stderr)
        status = 130
        summary = summarize(rows, lats) if rows else []
    except SystemExit:
        print(f"serve_bench: aborted; configs and logs are in {tmp}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
    if args.json:
        args.json.write_text(json.dumps({
            "environment": env,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "runs": rows, "summary": summary, "scan_baseline": scans}, indent=1, default=str))
        print(f"\nfull numbers: {args.json}")
    if args.keep:
        print(f"configs and logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return status


def check_alive(b: Bench) -> None:
    for name in ("sink", "dns", "relay", "gateway"):
        p = b.procs.live.get(name)
        if p is not None and p.poll() is not None:
            raise fail(f"{name} died (status {p.returncode}):\n{b.procs.log_tail(name)}")


if __name__ == "__main__":
    sys.exit(main())
