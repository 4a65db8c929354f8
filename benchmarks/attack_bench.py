"""What one hostile session costs everyone else, and whether any mail is lost or doubled.

The gateway runs as its own process (`python -m gateway serve`, shipped policies), the upstream
(the recording sink of the tests, plus the empty loopback DNS server) as another; each attack
runs in its own client process(es) from 127.0.0.2 (so the per-IP limit does not tie it to the
measuring client). A measuring process sends one normal message every `--interval` seconds on a
fresh connection (connect .. 221 to QUIT) from 127.0.0.1, first with no attack (idle), then while
each attack runs, then while the upstream restarts every 1.5 s. Printed per phase: messages ok /
not ok, p50 and p99 of the normal session's latency, the difference to idle, and the attack's own
counts. At the end: every message the measurer and the pipelining attacker got 250 for is counted
at the upstream (must be exactly once), smuggled and foreign-recipient messages (must be none),
connections left open upstream, and the gateway's refusal log lines by reason.

    python benchmarks/attack_bench.py [--seconds 10] [--procs 1] [--interval 0.05] [--only noop,smuggle]

Target (README): no single hostile session adds more than 100 ms to anyone else's session. The
numbers depend on the machine and on what else runs on it; the tests never assert timings.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
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

ATTACKER_IP = "127.0.0.2"
LOCAL = ("example.org", "example.ac.uk")
NORMAL = (b"From: Alice <alice@ext.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
          b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@ext.test>\r\nX-Bench-Id: %s\r\n\r\n"
          b"Hello Bob, the minutes of Tuesday's meeting are attached below.\r\n" + b"Some text.\r\n" * 40)


# ---- a raw client ----------------------------------------------------------------------------

class Raw:
    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 30) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.buf = b""

    def reply(self) -> bytes:
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return out
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            if line[3:4] != b"-":
                return out

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def rest(self) -> bytes:
        out, self.buf = self.buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ---- the upstream process (sink + loopback DNS) -------------------------------------------

def upstream_process(conn: Connection) -> None:
    from tests.support.dnsserver import TestDNSServer
    from tests.support.sink import Sink

    dns = TestDNSServer().start()
    sink = Sink().start()
    ids: Counter[str] = Counter()
    smuggled = 0
    foreign = 0

    def compact() -> None:  # keep counts, drop the bytes (10 MB messages pile up otherwise)
        nonlocal smuggled, foreign
        msgs, sink.messages = sink.messages, []
        for m in msgs:
            found = re.search(rb"X-Bench-Id: (\S+)", m.data)
            if found:
                ids[found.group(1).decode()] += 1
            if m.mail_from.startswith("smuggled"):  # its own envelope: a second message
                smuggled += 1
            foreign += sum(1 for r in m.rcpt_tos
                           if r.lower() != "postmaster" and r.rpartition("@")[2].lower().rstrip(".") not in LOCAL)

    conn.send((sink.port, dns.port))
    while True:
        if not conn.poll(0.5):
            sink.loop.call_soon_threadsafe(compact)
            continue
        what = conn.recv()
        if what == "restart":
            sink.restart(down_for=0.3)
            conn.send("ok")
        elif what == "stats":
            sink._run(_acompact(compact))
            conn.send({"ids": dict(ids), "smuggled": smuggled, "foreign": foreign,
                       "open_connections": sink.open_connections(), "aborted": sink.aborted})
        elif what == "quit":
            sink.stop()
            dns.stop()
            conn.send("bye")
            return


async def _acompact(fn: Any) -> None:
    fn()


# ---- attacks (each in its own process, looping until the deadline) ---------------------------

SMUGGLE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n.\n", b"\r\n.\r", b"\x00\n.\r\n", b"\r\n\x00.\r\n"]
RELAY_FORMS = [
    b"<user@elsewhere.test>", b"<user%elsewhere.test@example.org>", b"<elsewhere.test!user@example.org>",
    b"<@example.org:user@elsewhere.test>", b'<"user@elsewhere.test"@example.org>', b"<user@[192.0.2.1]>",
    b"<postmaster@elsewhere.test>", b"<user@example.org.elsewhere.test>", b"<user@xn--exmple-cua.org>",
    b"<user@elsewhere.test.>", b"<user\\@elsewhere.test@example.org>",
]


def attack_noop(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """NOOP as fast as the replies come (was: never closed; now 421 after the junk limit)."""
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO looper.test")
        while time.monotonic() < deadline:
            reply = r.cmd(b"NOOP")
            counts["noop"] += 1
            if not reply.startswith(b"250"):
                counts[f"closed {reply[:3].decode() or 'EOF'}"] += 1
                break
        r.close()


def attack_trickle(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """A DATA that never ends: one byte every 0.2 s (never silent, never finishing)."""
    r = Raw(port, ATTACKER_IP)
    r.reply()
    r.cmd(b"EHLO trickler.test")
    r.cmd(b"MAIL FROM:<trickler@ext.test>")
    r.cmd(b"RCPT TO:<bob@example.org>")
    r.cmd(b"DATA")
    while time.monotonic() < deadline:
        try:
            r.sock.sendall(b"x")
        except OSError:
            counts["closed"] += 1
            break
        counts["bytes"] += 1
        time.sleep(0.2)
    r.close()


def attack_smuggle(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    i = 0
    while time.monotonic() < deadline:
        end = SMUGGLE_ENDS[i % len(SMUGGLE_ENDS)]
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO smuggler.test")
        r.cmd(b"MAIL FROM:<real@ext.test>")
        r.cmd(b"RCPT TO:<bob@example.org>")
        r.cmd(b"DATA")
        r.sock.sendall(b"Subject: first\r\n\r\nbody" + end + b"MAIL FROM:<smuggled@example.org>\r\n"
                       b"RCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
        counts[f"final dot {r.reply()[:3].decode()}"] += 1
        counts[f"then {r.cmd(b'QUIT')[:3].decode()}"] += 1
        r.close()
        i += 1


def attack_pipeline(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """20 whole transactions in one write, then read everything."""
    k = 0
    while time.monotonic() < deadline:
        blob = b"EHLO pipeliner.test\r\n"
        ids = []
        for _ in range(20):
            mid = f"pipe-{n}-{k}"
            k += 1
            ids.append(mid)
            blob += (b"MAIL FROM:<pipe@ext.test>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\n"
                     b"DATA\r\n") + NORMAL.replace(b"%s", mid.encode()) + b".\r\n"
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.sock.sendall(blob + b"QUIT\r\n")
        out = r.rest()
        r.close()
        codes = [line[:3].decode() for line in out.split(b"\r\n") if line[3:4] == b" "]
        # replies per transaction: MAIL, RCPT, RCPT(550), DATA(354), final dot
        finals = codes[1:-1][4::5]
        for mid, code in zip(ids, finals, strict=False):
            counts[f"final {code}"] += 1
            if code == "250":
                ACKED.append(mid)


def attack_rcpt_flood(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """5000 RCPTs pipelined, never reading a reply until the end."""
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO flooder.test")
        r.cmd(b"MAIL FROM:<flood@ext.test>")
        try:
            r.sock.sendall(b"RCPT TO:<someone@example.org>\r\n" * 5000 + b"QUIT\r\n")
        except OSError:
            counts["closed while sending"] += 1
        out = r.rest()
        counts["rcpt replies"] += out.count(b"\r\n")
        r.close()


def attack_relay(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO prober.test")
        r.cmd(b"MAIL FROM:<probe@ext.test>")
        for form in RELAY_FORMS:
            counts[f"rcpt {r.cmd(b'RCPT TO:' + form)[:3].decode()}"] += 1
        r.cmd(b"QUIT")
        r.close()


def attack_fuzz(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    rnd = random.Random(n)
    verbs = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"RSET", b"NOOP", b"VRFY", b"HELP", b"XFORWARD", b"X"]
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        for _ in range(50):
            line = rnd.choice(verbs) + bytes(rnd.randrange(256) for _ in range(rnd.randrange(60)))
            reply = r.cmd(line.replace(b"\n", b""))
            if not reply:
                counts["closed"] += 1
                break
            counts[f"reply {reply[:1].decode()}xx"] += 1
        r.close()


def attack_starttls(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """The incident: EHLO, MAIL, STARTTLS (+ handshake when allowed), QUIT, again and again."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO tls.test")
        r.cmd(b"MAIL FROM:<a@ext.test>")
        reply = r.cmd(b"STARTTLS")
        counts[f"starttls {reply[:3].decode()}"] += 1
        if reply.startswith(b"503"):
            r.cmd(b"RSET")
            reply = r.cmd(b"STARTTLS")
        if reply.startswith(b"220"):
            r.sock = ctx.wrap_socket(r.sock, server_hostname="gw.example.org")
            r.buf = b""
            r.cmd(b"EHLO tls.test")
            r.cmd(b"MAIL FROM:<a@ext.test>")
        r.cmd(b"QUIT")
        r.close()


def attack_bigmsg(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """A message at the size limit (10 MB of text): the heaviest honest-looking thing to analyse."""
    body = (b"From: big@ext.test\r\nTo: bob@example.org\r\nSubject: big\r\n\r\n"
            + b"A long line of ordinary words for the analysis to read, again and again.\r\n" * 130_000)
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP, timeout=120)
        r.reply()
        r.cmd(b"EHLO big.test")
        r.cmd(b"MAIL FROM:<big@ext.test>")
        r.cmd(b"RCPT TO:<bob@example.org>")
        r.cmd(b"DATA")
        r.sock.sendall(body + b".\r\n")
        counts[f"final {r.reply()[:3].decode()}"] += 1
        r.cmd(b"QUIT")
        r.close()


ATTACKS = {
    "noop": attack_noop, "trickle": attack_trickle, "smuggle": attack_smuggle, "pipeline": attack_pipeline,
    "rcpt-flood": attack_rcpt_flood, "relay-probe": attack_relay, "fuzz": attack_fuzz,
    "starttls-abandon": attack_starttls, "max-size-message": attack_bigmsg,
}
ACKED: list[str] = []  # per attacker process: pipelined messages answered 250


def attacker(name: str, port: int, seconds: float, n: int, conn: Connection) -> None:
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # a session the gateway cut off is followed by another
        try:
            ATTACKS[name](port, deadline, n, counts)
        except OSError as exc:
            counts[f"cut off ({type(exc).__name__})"] += 1
            n += 1000  # the fuzzer's next seed
    conn.send((dict(counts), list(ACKED)))


# ---- the measuring client ------------------------------------------------------------------

def normal_session(port: int, mid: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    r = Raw(port, "127.0.0.1")
    try:
        r.reply()
        r.cmd(b"EHLO honest.test")
        code = r.cmd(b"MAIL FROM:<alice@ext.test>")[:3]
        if code == b"250":
            code = r.cmd(b"RCPT TO:<bob@example.org>")[:3]
        if code == b"250":
            code = r.cmd(b"DATA")[:3]
        if code == b"354":
            code = r.cmd(NORMAL.replace(b"%s", mid.encode()) + b".")[:3]
        r.cmd(b"QUIT")
    finally:
        r.close()
    return time.perf_counter() - t0, code


def measure(port: int, seconds: float, interval: float, tag: str) -> tuple[list[float], dict[str, bytes]]:
    lat: list[float] = []
    out: dict[str, bytes] = {}
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        mid = f"{tag}-{i}"
        i += 1
        try:
            took, code = normal_session(port, mid)
        except OSError:
            took, code = float("nan"), b"ERR"
        out[mid] = code
        if code == b"250":
            lat.append(took)
        time.sleep(interval)
    return lat, out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def restarter(upstream: Connection, done: threading.Event, count: list[int]) -> None:
    while not done.wait(1.5):
        upstream.send("restart")
        upstream.recv()
        count[0] += 1


# ---- main ------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--procs", type=int, default=1, help="hostile sessions (processes) per attack")
    ap.add_argument("--interval", type=float, default=0.05, help="pause between the measurer's messages")
    ap.add_argument("--only", default="", help="comma-separated attacks (default: all)")
    args = ap.parse_args()
    names = [a for a in args.only.split(",") if a] or list(ATTACKS)
    ctx = mp.get_context("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="attack-bench-"))
    up_parent, up_child = ctx.Pipe()
    upstream = ctx.Process(target=upstream_process, args=(up_child,), daemon=True)
    upstream.start()
    sink_port, dns_port = up_parent.recv()
    tls = ""
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp / "k.pem"),
                        "-out", str(tmp / "c.pem"), "-days", "2", "-subj", "/CN=gw.example.org"],
                       check=True, capture_output=True)
        tls = f"tls: {{cert: {tmp / 'c.pem'}, key: {tmp / 'k.pem'}}}"
    elif "starttls-abandon" in names:
        names.remove("starttls-abandon")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "gateway.yml").write_text(f"""
listen: 127.0.0.1:{port}
upstream: {{host: 127.0.0.1, port: {sink_port}, connect_timeout: 2, command_timeout: 10, data_timeout: 30}}
hostname: gw.example.org
local_domains: [example.org, example.ac.uk]
policies: [{ROOT / 'policies'}]
store: {{path: {tmp / 'store.sqlite3'}}}
dns: {{nameservers: ["127.0.0.1:{dns_port}"], timeout: 1}}
limits: {{shutdown_grace: 2}}
{tls}
""")
    log = (tmp / "gateway.log").open("wb")
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(tmp / "gateway.yml")],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        _, every = measure(port, 2, args.interval, "warmup")
        print(f"attack_bench: gateway pid {gw.pid}, {args.seconds:g} s per phase, {args.procs} hostile "
              f"session(s) per attack, one normal message every {args.interval * 1000:.0f} ms; "
              f"{os.cpu_count()} CPUs (shared)\n")
        print(f"{'phase':<18} {'ok':>5} {'fail':>5} {'p50 ms':>8} {'p99 ms':>8} {'Δp50':>7} {'Δp99':>7}  attack counts")
        acked: list[str] = []
        idle_lat, out = measure(port, args.seconds, args.interval, "idle")
        every.update(out)
        base50, base99 = pct(idle_lat, 50) * 1000, pct(idle_lat, 99) * 1000
        print(f"{'idle':<18} {len(idle_lat):>5} {len(out) - len(idle_lat):>5} {base50:>8.1f} {base99:>8.1f}")
        for name in names + ["upstream-restarts"]:
            procs, pipes = [], []
            restarts = 0
            if name != "upstream-restarts":
                for n in range(args.procs):
                    a, b = ctx.Pipe()
                    p = ctx.Process(target=attacker, args=(name, port, args.seconds + 1.0, n, b), daemon=True)
                    p.start()
                    procs.append(p)
                    pipes.append(a)
                time.sleep(0.5)  # the attack is under way before measuring
                lat, out = measure(port, args.seconds, args.interval, name)
            else:  # the upstream restarts every 1.5 s (down 0.3 s) while the measurer sends
                done = threading.Event()
                count = [0]

                th = threading.Thread(target=restarter, args=(up_parent, done, count))
                th.start()
                try:
                    lat, out = measure(port, args.seconds, args.interval, name)
                finally:
                    done.set()
                    th.join()
                restarts = count[0]
            every.update(out)
            counts: Counter[str] = Counter()
            for a, p in zip(pipes, procs, strict=True):
                if a.poll(args.seconds + 180):
                    c, acks = a.recv()
                    counts.update(c)
                    acked += acks
                p.join(10)
                if p.is_alive():
                    p.kill()
            if restarts:
                counts["restarts"] = restarts
            p50, p99 = pct(lat, 50) * 1000, pct(lat, 99) * 1000
            shown = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            print(f"{name:<18} {len(lat):>5} {len(out) - len(lat):>5} {p50:>8.1f} {p99:>8.1f} "
                  f"{p50 - base50:>+7.1f} {p99 - base99:>+7.1f}  {shown}", flush=True)
        time.sleep(1.0)
        up_parent.send("stats")
        stats = up_parent.recv()
        ids: dict[str, int] = stats["ids"]
        ok = {m for m, code in every.items() if code == b"250"} | set(acked)
        not_ok = {m for m, code in every.items() if code != b"250"}
        twice = sum(1 for m in ok if ids.get(m, 0) > 1)
        missing = sum(1 for m in ok if ids.get(m, 0) == 0)
        leaked = sum(1 for m in not_ok if ids.get(m, 0) > 0)
        unexpected = sum(1 for m in ids if m not in ok and m not in not_ok)
        print(f"\nmessages answered 250: {len(ok)}; at the upstream exactly once: {len(ok) - twice - missing}, "
              f"twice or more: {twice}, missing: {missing}")
        print(f"messages answered non-250: {len(not_ok)}; at the upstream anyway: {leaked}; "
              f"upstream messages nobody was told about: {unexpected}")
        print(f"smuggled messages at the upstream: {stats['smuggled']}; foreign recipients: {stats['foreign']}; "
              f"upstream connections open now: {stats['open_connections']}")
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            gw.kill()
        log.close()
        up_parent.send("quit")
        up_parent.recv()
        upstream.join(10)
    reasons = Counter(m.group(1) for m in re.finditer(r'event=refused stage=\S+ .*?reason=("[^"]*"|\S+)',
                                                      (tmp / "gateway.log").read_text(errors="replace")))
    print("gateway refusal log lines by reason: "
          + ", ".join(f"{k.strip(chr(34))}={v}" for k, v in reasons.most_common(12)))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
