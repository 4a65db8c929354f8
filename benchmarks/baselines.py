"""SpamAssassin spamd and Rspamd as benchmark baselines: start offline, feed messages, read /proc.

Purpose: helpers for scan_bench.py. Each daemon is started in the foreground from the Debian
package with a configuration in a temporary directory (nothing under /etc is changed), network
lookups off, then fed messages one at a time over its own protocol from this process (no client
process per message). CPU is read from /proc for the daemon and every descendant:
  total  utime+stime (+cutime+cstime of reaped children) from /proc/PID/stat, 1/100 s ticks;
  per message  deltas of sum_exec_runtime (ns) from /proc/PID/task/*/schedstat.

Untrusted input: the corpus messages (sent as-is to the daemons) and the daemons' replies.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


class BaselineError(Exception):
    """The baseline could not be installed, started or fed; the message says why."""


@dataclass
class Run:
    """What one system did over the messages."""

    name: str
    messages: int = 0
    wall: float = 0.0
    cpu_total: float = 0.0  # seconds, whole process tree (stat ticks)
    cpu_each: list[float] = field(default_factory=list)  # seconds per message (schedstat)
    peak_rss: int = 0  # bytes
    rss_note: str = ""
    verdicts: dict[str, int] = field(default_factory=dict)
    errors: int = 0


# ---------------------------------------------------------------- /proc


def descendants(root: int) -> list[int]:
    """root and every process below it."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(p for p, pp in parent.items() if pp == pid)
    return out


def stat_cpu(pids: list[int], root: int) -> float:
    """utime+stime of every pid, plus cutime+cstime (reaped children) of each: seconds."""
    ticks = 0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks / TICK


def sched_ns(pids: list[int]) -> int:
    """Time on CPU (ns) of every thread of every pid."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def pss(pids: list[int]) -> int:
    """Sum of Pss (bytes) over pids: resident memory with shared pages split between sharers."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BaselineError(f"exited with {proc.returncode} at start-up; log {log}:\n"
                                + _tail(log))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise BaselineError(f"not listening on 127.0.0.1:{port} after {timeout:.0f}s; log {log}:\n" + _tail(log))


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End the daemon we started (its process group: it was started with its own session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def feed(name: str, root: int, msgs: list[bytes], send: Callable[[bytes], str], warmup: int) -> Run:
    """Send every message in order (after `warmup` untimed ones), sampling /proc around each."""
    for raw in msgs[:warmup]:
        send(raw)
    run = Run(name)
    time.sleep(0.5)  # let post-reply work (logging, child respawn) of the warm-up settle
    pids = descendants(root)
    cpu0 = stat_cpu(pids, root)
    for raw in msgs:
        pids = descendants(root)
        before = sched_ns(pids)
        t0 = time.perf_counter()
        try:
            verdict = send(raw)
        except (OSError, http.client.HTTPException, BaselineError):
            run.errors += 1
            verdict = "error"
        run.wall += time.perf_counter() - t0
        run.cpu_each.append(max(0, sched_ns(descendants(root)) - before) / 1e9)
        run.peak_rss = max(run.peak_rss, pss(pids))
        run.verdicts[verdict] = run.verdicts.get(verdict, 0) + 1
        run.messages += 1
    time.sleep(0.3)
    run.cpu_total = stat_cpu(descendants(root), root) - cpu0
    run.rss_note = "peak of the summed Pss of the process tree, sampled per message"
    return run


# ---------------------------------------------------------------- SpamAssassin


SPAMD_CF = """# benchmark: no network (spamd -L), no Bayes autolearn so every message sees the same state
bayes_auto_learn 0
use_razor2 0
use_pyzor 0
"""


def spamd_run(msgs: list[bytes], tmp: Path, warmup: int) -> Run:
    binary = shutil.which("spamd") or "/usr/sbin/spamd"
    if not os.path.exists(binary):
        raise BaselineError("spamd not found: apt-get install -y spamassassin spamc")
    site = tmp / "sa-site"
    site.mkdir()
    for f in Path("/etc/spamassassin").glob("*.pre"):
        shutil.copy(f, site)
    shutil.copy("/etc/spamassassin/local.cf", site)
    (site / "zz_bench.cf").write_text(SPAMD_CF)
    home = tmp / "sa-home"
    home.mkdir()
    for d in (tmp, site, home):
        os.chmod(d, 0o755)
    shutil.chown(home, "debian-spamd", "debian-spamd")
    port, log = free_port(), tmp / "spamd.log"
    cmd = [binary, "-L", "-x", "--siteconfigpath", str(site), "--listen", f"127.0.0.1:{port}",
           "--max-children", "2", "--min-children", "2", "-u", "debian-spamd", "-H", str(home),
           "--pidfile", str(tmp / "spamd.pid"), f"--syslog={log}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log.with_suffix(".err"), "wb"),
                            start_new_session=True)
    try:
        wait_port(port, proc, 180, log.with_suffix(".err"))

        def send(raw: bytes) -> str:
            return spamc_check(port, raw)

        run = feed("spamd -L (SpamAssassin)", proc.pid, msgs, send, warmup)
    finally:
        stop(proc)
    return run


def spamc_check(port: int, raw: bytes) -> str:
    """One SPAMC/1.5 CHECK; returns 'spam' or 'ham'."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(raw) + raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n")
    if not head[0].startswith(b"SPAMD/") or b" 0 EX_OK" not in head[0]:
        raise BaselineError(f"spamd answered {head[0]!r}")
    spam = next((h for h in head if h.startswith(b"Spam:")), b"")
    return "spam" if b"True" in spam else "ham"


# ---------------------------------------------------------------- Rspamd

# Modules that look things up over the network (DNS or HTTP) are switched off; the resolver is a
# local stub (DnsStub) answering SERVFAIL at once, so what is left fails fast instead of timing out.
RSPAMD_OFF = ["rbl", "surbl", "spf", "dkim", "dmarc", "arc", "fuzzy_check", "asn", "emails",
              "mx_check", "dcc", "rspamd_update", "url_redirector", "reputation", "bimi", "hfilter"]


def rspamd_run(msgs: list[bytes], tmp: Path, warmup: int, dns: DnsStub) -> Run:
    binary = shutil.which("rspamd") or "/usr/bin/rspamd"
    if not os.path.exists(binary):
        raise BaselineError("rspamd not found: apt-get install -y rspamd")
    conf = tmp / "rspamd"
    local, override = conf / "local.d", conf / "override.d"
    for d in (local, override, conf / "db", conf / "run", conf / "log"):
        d.mkdir(parents=True)
    port = free_port()
    (override / "worker-normal.inc").write_text(
        f'bind_socket = "127.0.0.1:{port}";\ncount = 2;\nmime = true;\n')
    for worker in ("worker-controller.inc", "worker-proxy.inc"):
        (override / worker).write_text("count = -1;\n")  # off: only the scanner runs
    (local / "options.inc").write_text(
        f'dns {{ nameserver = ["127.0.0.1:{dns.port}"]; timeout = 0.5s; retransmits = 0; }}\n')
    (local / "logging.inc").write_text('level = "info";\n')
    for module in RSPAMD_OFF:
        (local / f"{module}.conf").write_text("enabled = false;\n")
    # phishing: keep the local URL checks, drop the phishtank DNS lookups and openphish feed
    (local / "phishing.conf").write_text("phishtank_enabled = false;\nopenphish_enabled = false;\n")
    os.chmod(tmp, 0o755)
    for d in [conf, *conf.rglob("*")]:
        shutil.chown(d, "_rspamd", "_rspamd")
    log = conf / "log" / "rspamd.log"
    cmd = [binary, "-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd", "-g", "_rspamd",
           "--var", f"LOCAL_CONFDIR={conf}", "--var", f"DBDIR={conf / 'db'}",
           "--var", f"RUNDIR={conf / 'run'}", "--var", f"LOGDIR={conf / 'log'}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(conf / "stderr.log", "wb"),
                            start_new_session=True)
    try:
        wait_port(port, proc, 180, log)
        client = RspamdClient(port)
        wait_hyperscan(proc.pid, client, msgs[0])
        run = feed("Rspamd (normal worker)", proc.pid, msgs, client.check, warmup)
        top = ", ".join(f"{n} x{c}" for n, c in sorted(dns.names.items(), key=lambda kv: -kv[1])[:3])
        run.rss_note += f"; {dns.queries} DNS queries answered SERVFAIL by the local stub ({top})"
    finally:
        stop(proc)
    return run


def wait_hyperscan(root: int, client: RspamdClient, sample: bytes, limit: float = 300) -> None:
    """Rspamd compiles its regexps to Hyperscan in a helper after start; until then it runs
    slower. Wait until the tree's CPU stays flat for 3 s (with a message sent now and then)."""
    end = time.monotonic() + limit
    last = stat_cpu(descendants(root), root)
    while time.monotonic() < end:
        client.check(sample)
        time.sleep(3)
        now = stat_cpu(descendants(root), root)
        if now - last < 0.1:
            return
        last = now


class RspamdClient:
    """POST /checkv2 over one keep-alive connection (reconnects if the worker closes it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def check(self, raw: bytes) -> str:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", "/checkv2", body=raw, headers={"Content-Type": "message/rfc822"})
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise BaselineError(f"rspamd answered HTTP {resp.status}: {body[:200]!r}")
                return str(json.loads(body).get("action", "?"))
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class DnsStub:
    """UDP DNS server on 127.0.0.1 that answers every query SERVFAIL at once (no network)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.queries = 0
        self.names: dict[str, int] = {}
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            self.queries += 1
            # same id, QR=1, opcode/RD copied, RA=1, RCODE=2; question echoed, no other records
            flags = bytes([0x80 | (data[2] & 0x79), 0x82])
            end = _question_end(data)
            name = _qname(data)
            self.names[name] = self.names.get(name, 0) + 1
            self.sock.sendto(data[:2] + flags + b"\x00\x01" + b"\x00" * 6 + data[12:end], peer)

    def close(self) -> None:
        self.sock.close()


def _qname(data: bytes) -> str:
    labels, i = [], 12
    while i < len(data) and 0 < data[i] < 64:
        labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
        i += data[i] + 1
    return ".".join(labels).lower()


def _question_end(data: bytes) -> int:
    i = 12
    while i < len(data) and data[i] != 0:
        i += data[i] + 1
    return min(i + 5, len(data))
