"""Load generator and latency probe for serve_bench.py, each run as its own process.

`load`: N worker processes (multiprocessing, fork) each holding M SMTP sessions on one asyncio
loop; each session sends messages back to back (MAIL, RCPT, DATA, no pipelining, like Postfix's
smtp-source) and records the latency of each from MAIL sent to the final reply after the dot.
With --rate, each session streams its message data at that many bytes per second at most (as a
sender behind a WAN link would; paced here, in the load generator's own processes), and session g
of n starts its first message g/n of a message's transfer time after the window opens, so that
the sessions' messages end spread out over time rather than all together.
A message whose final reply is not 2xx, or whose session breaks, is a failure: counted, with its
reply kept (a broken session reconnects and goes on). Control over stdin/stdout, so the caller
can read /proc of the system under test exactly at the edges of the measured window:

    -> READY          every session connected and greeted (EHLO), warm-up messages sent
    <- GO             the window starts: sessions send until --duration has passed
    -> DONE           every session finished its last message (the window ends)
    <- QUIT           sessions QUIT; then
    -> RESULT {json}  counts, failures, latencies, the workers' CPU inside the window

`probe`: a small message due every --interval seconds, open loop (a slow reply does not delay
the next probe, which takes another session), for --duration seconds or --count probes; latency
from the moment a probe was due to its final reply. Prints the same RESULT line at the end.

Messages come from a pickle written by `save_messages` (serve_bench.py prepares it once): a list
of (sender, data, eight_bit) with data in CRLF, dot-stuffed, without the final ".".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import pickle
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serve_relay import die_with_parent

Message = tuple[str, bytes, bool]  # envelope sender, wire data (dot-stuffed, CRLF), 8-bit body
CHUNK = 1 << 20
PACE_CHUNK = 64 * 1024  # bytes written at a time by a session with a rate cap
SENDER_RE = re.compile(rb"(?im)^Return-Path:[ \t]*<?([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?[ \t]*$")
FROM_RE = re.compile(rb"(?im)^From:.*?<?([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?[ \t]*$")


# --------------------------------------------------------------------------- messages

def to_wire(raw: bytes) -> bytes:
    """CRLF line ends, dot-stuffed, ending with CRLF (the final "." is sent separately)."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    if text.startswith(b"."):
        text = b"." + text
    return text.replace(b"\r\n.", b"\r\n..")


def ham_messages(dirs: Iterable[Path], limit: int | None = None) -> list[Message]:
    """Real .eml files (the mbox "From " line dropped); sender from Return-Path, else From."""
    out: list[Message] = []
    files = sorted(p for d in dirs for p in d.iterdir() if p.is_file())
    for path in files[:limit]:
        raw = path.read_bytes()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        head = raw.split(b"\n\n", 1)[0]
        m = SENDER_RE.search(head) or FROM_RE.search(head)
        sender = m.group(1).decode("ascii") if m else "sender@ext.test"
        out.append((sender, to_wire(raw), any(b > 127 for b in raw)))
    return out


TEXT = ("Dear colleague,\n\nplease find attached the report we discussed last week. The figures for the "
        "third quarter are in the second table; the notes at the end explain the changes to the method. "
        "Let me know if anything is unclear, or if you would like to go through it on a call.\n\n")


def mime_message(size: int, k: int, seed: int = 0) -> Message:
    """multipart/mixed: a short text part and a base64 attachment of random bytes, about `size`
    bytes on the wire in total. No Message-ID: the sender adds a unique one per send."""
    rng = random.Random(seed * 1000 + k)
    boundary = f"=_bench_{k}_{rng.getrandbits(48):012x}"
    head = (f'From: "Report Sender {k}" <reports{k}@partner{k % 7}.test>\r\n'
            f"To: <bench@example.org>\r\n"
            f"Subject: Quarterly report {k} ({size // 1000} kB)\r\n"
            f"Date: Mon, 06 Jan 2025 10:{k % 60:02d}:00 +0000\r\n"
            f"MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n"
            f"Content-Transfer-Encoding: 7bit\r\n\r\n"
            + TEXT.replace("\n", "\r\n") * 4 +
            f"--{boundary}\r\n"
            f'Content-Type: application/pdf; name="report-{k}.pdf"\r\n'
            f'Content-Disposition: attachment; filename="report-{k}.pdf"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    room = max(0, size - len(head) - len(tail) - len("Message-ID: <0000000.00.000@bench.test>\r\n"))
    raw_len = room * 57 // 78  # 57 bytes -> 76 base64 characters + CRLF
    blob = base64.encodebytes(rng.randbytes(raw_len)).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    return (f"reports{k}@partner{k % 7}.test", to_wire(head + blob + tail), False)


def mime_messages(size: int, count: int) -> list[Message]:
    return [mime_message(size, k) for k in range(count)]


def save_messages(path: Path, messages: list[Message]) -> None:
    with path.open("wb") as fh:
        pickle.dump(messages, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_messages(path: Path) -> list[Message]:
    with path.open("rb") as fh:
        messages: list[Message] = pickle.load(fh)
    return messages


# --------------------------------------------------------------------------- pacing

class Pacer:
    """A link of `rate` bytes per second (0: no cap): `delay(n, now)` is how long to wait
    before writing the next n bytes. A write is never earlier than the last one plus its bytes'
    time on the link; a session the server held up does not burst to catch up (a WAN link
    cannot send faster than its rate either)."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.due = now

    def delay(self, nbytes: int, now: float) -> float:
        if self.rate <= 0:
            return 0.0
        self.due = max(self.due, now)
        wait = self.due - now
        self.due += nbytes / self.rate
        return wait


def stagger(g: int, total: int, size: int, rate: float) -> float:
    """Start offset of session g of `total` in seconds: g / total of one message's transfer at
    `rate` (0 without a cap: every session starts at once, the closed loop)."""
    if rate <= 0 or total <= 0:
        return 0.0
    return (g % total) / total * size / rate


# --------------------------------------------------------------------------- one SMTP session

class SmtpFailure(Exception):
    pass


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # time.monotonic() of each 2xx (with latencies)
    ok: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    last_done: float = 0.0

    def fail(self, what: str) -> None:
        self.failed += 1
        self.failures[what[:120]] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": self.failed, "failures": dict(self.failures),
                "latencies": self.latencies, "done_at": self.done_at, "bytes": self.bytes_sent,
                "last_done": self.last_done}

    def merge(self, other: dict[str, Any]) -> None:
        self.ok += other["ok"]
        self.failed += other["failed"]
        self.failures.update(other["failures"])
        self.latencies.extend(other["latencies"])
        self.done_at.extend(other["done_at"])
        self.bytes_sent += other["bytes"]
        self.last_done = max(self.last_done, other["last_done"])


class Session:
    def __init__(self, host: str, port: int, rcpt: str, tag: str) -> None:
        self.host = host
        self.port = port
        self.rcpt = rcpt
        self.tag = tag
        self.seq = 0
        self.stage = "connect"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def reply(self) -> tuple[int, str]:
        assert self.reader is not None
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise SmtpFailure("connection closed by the server")
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                break
        last = lines[-1]
        code = int(last[:3]) if last[:3].isdigit() else 0
        return code, " | ".join(ln[4:] for ln in lines)

    async def command(self, line: bytes) -> tuple[int, str]:
        assert self.writer is not None
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        code, text = await self.reply()
        if code != 220:
            raise SmtpFailure(f"greeting {code} {text}")
        code, text = await self.command(b"EHLO load.bench.test")
        if code != 250:
            raise SmtpFailure(f"EHLO {code} {text}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def quit(self) -> None:
        if self.writer is not None:
            try:
                await asyncio.wait_for(self.command(b"QUIT"), 10)
            except (OSError, SmtpFailure, TimeoutError):
                pass
        self.close()

    async def send(self, msg: Message, unique_id: bool, rate: float = 0.0) -> tuple[int, str, float]:
        """One transaction; (final code, text, seconds from MAIL to the final reply). `rate`:
        bytes per second of the message data at most (0: as fast as the server takes it)."""
        assert self.writer is not None
        sender, data, eight_bit = msg
        t0 = time.perf_counter()
        self.stage = "MAIL"
        code, text = await self.command(b"MAIL FROM:<" + sender.encode() + b">"
                                        + (b" BODY=8BITMIME" if eight_bit else b""))
        if code // 100 != 2:
            await self.command(b"RSET")
            return code, "(at MAIL) " + text, time.perf_counter() - t0
        self.stage = "RCPT"
        code, text = await self.command(b"RCPT TO:<" + self.rcpt.encode() + b">")
        if code // 100 != 2:
            await self.command(b"RSET")
            return code, "(at RCPT) " + text, time.perf_counter() - t0
        self.stage = "DATA"
        code, text = await self.command(b"DATA")
        if code != 354:
            await self.command(b"RSET")
            return code, "(at DATA) " + text, time.perf_counter() - t0
        w = self.writer
        self.stage = "message"
        if unique_id:
            self.seq += 1
            w.write(f"Message-ID: <{self.seq}.{self.tag}@bench.test>\r\n".encode())
        view = memoryview(data)
        step = PACE_CHUNK if rate > 0 else CHUNK
        pacer = Pacer(rate, time.monotonic())
        for i in range(0, len(view), step):
            piece = view[i:i + step]
            if (delay := pacer.delay(len(piece), time.monotonic())) > 0:
                await asyncio.sleep(delay)
            w.write(piece)
            await w.drain()
        w.write(b".\r\n")
        self.stage = "reply after the dot"
        code, text = await self.reply()
        return code, text, time.perf_counter() - t0


async def send_counted(s: Session, msg: Message, tally: Tally, unique_id: bool, rate: float = 0.0) -> bool:
    """Send one message and count it; False when the session broke (it is closed then)."""
    try:
        code, text, dt = await s.send(msg, unique_id, rate)
    except (OSError, SmtpFailure, asyncio.IncompleteReadError) as exc:
        tally.fail(f"session broke (at {s.stage}): {exc or type(exc).__name__}")
        s.close()
        return False
    tally.last_done = time.monotonic()
    if code // 100 == 2:
        tally.ok += 1
        tally.latencies.append(dt)
        tally.done_at.append(tally.last_done)
        tally.bytes_sent += len(msg[1])
    else:
        tally.fail(f"{code} {text}")
    return True


# --------------------------------------------------------------------------- load workers

@dataclass
class LoadSpec:
    host: str
    port: int
    rcpt: str
    messages: list[Message]
    sessions: list[int]  # sessions per worker
    duration: float
    warmup: int
    unique_id: bool
    rate: float = 0.0  # bytes per second per session (0: no cap)


def worker_main(conn: Any, spec: LoadSpec, w: int) -> None:
    die_with_parent()
    asyncio.run(_worker(conn, spec, w))


async def _worker(conn: Any, spec: LoadSpec, w: int) -> None:
    loop = asyncio.get_running_loop()
    n = spec.sessions[w]
    first = sum(spec.sessions[:w])  # global index of this worker's first session
    total = sum(spec.sessions)
    sessions = [Session(spec.host, spec.port, spec.rcpt, f"{w}.{i}.{os.getpid()}") for i in range(n)]
    try:
        await asyncio.gather(*(s.connect() for s in sessions))
    except (OSError, SmtpFailure) as exc:
        conn.send(("error", f"worker {w}: cannot open its sessions: {exc}"))
        return
    warm = Tally()
    if w == 0:
        for i in range(spec.warmup):
            await send_counted(sessions[0], spec.messages[i % len(spec.messages)], warm, spec.unique_id)
            if sessions[0].writer is None:
                await sessions[0].connect()
    conn.send(("ready", {"warmup_ok": warm.ok, "warmup_failed": warm.failed,
                         "warmup_failures": dict(warm.failures)}))
    cmd, deadline = await loop.run_in_executor(None, conn.recv)
    if cmd != "go":
        return
    t0 = os.times()
    tally = Tally()

    start = deadline - spec.duration
    size = max(len(m[1]) for m in spec.messages)

    async def run(k: int, s: Session) -> None:
        g = first + k  # session k of this worker sends messages g, g+total, g+2*total, ...
        j = 0
        await asyncio.sleep(max(0.0, start + stagger(g, total, size, spec.rate) - time.monotonic()))
        while time.monotonic() < deadline:
            msg = spec.messages[(g + j * total) % len(spec.messages)]
            j += 1
            if s.writer is None:
                try:
                    await s.connect()
                except (OSError, SmtpFailure) as exc:
                    tally.fail(f"reconnect failed: {exc}")
                    await asyncio.sleep(0.1)
                    continue
            await send_counted(s, msg, tally, spec.unique_id, spec.rate)

    await asyncio.gather(*(run(k, s) for k, s in enumerate(sessions)))
    t1 = os.times()
    result = tally.as_dict()
    result["cpu"] = (t1.user - t0.user) + (t1.system - t0.system)
    conn.send(("done", result))
    await loop.run_in_executor(None, conn.recv)  # "quit"
    await asyncio.gather(*(s.quit() for s in sessions))
    conn.send(("bye", None))


def split_sessions(sessions: int, procs: int) -> list[int]:
    procs = max(1, min(procs, sessions))
    return [sessions // procs + (1 if i < sessions % procs else 0) for i in range(procs)]


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def load_main(args: argparse.Namespace) -> int:
    spec = LoadSpec(host=args.host, port=args.port, rcpt=args.rcpt,
                    messages=load_messages(args.messages), sessions=split_sessions(args.sessions, args.procs),
                    duration=args.duration, warmup=args.warmup, unique_id=args.unique_id, rate=args.rate)
    ctx = mp.get_context("fork")
    pipes = []
    procs = []
    for w in range(len(spec.sessions)):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(child, spec, w), daemon=True)
        p.start()
        pipes.append(parent)
        procs.append(p)
    ready: list[Any] = []
    for w, c in enumerate(pipes):
        if not c.poll(120):
            say(f"ERROR worker {w} did not get ready in 120 s")
            return 1
        kind, info = c.recv()
        if kind != "ready":
            say(f"ERROR {info}")
            return 1
        ready.append(info)
    say("READY " + json.dumps(ready[0]))
    if sys.stdin.readline().strip() != "GO":
        return 1
    t_go = time.monotonic()
    cpu0 = os.times()
    for c in pipes:
        c.send(("go", t_go + spec.duration))
    tally = Tally()
    worker_cpu = 0.0
    for c in pipes:
        kind, info = c.recv()
        if kind != "done":
            say(f"ERROR {info}")
            return 1
        tally.merge(info)
        worker_cpu += info["cpu"]
    cpu1 = os.times()
    say("DONE")
    sys.stdin.readline()  # QUIT
    for c in pipes:
        c.send(("quit", None))
    for c in pipes:
        if c.poll(30):
            c.recv()
    for p in procs:
        p.join(10)
    out = tally.as_dict()
    out.update(t_go=t_go, elapsed=(tally.last_done - t_go) if tally.last_done else 0.0,
               cpu=worker_cpu + (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
               sessions=spec.sessions, warmup=ready[0])
    say("RESULT " + json.dumps(out))
    return 0


# --------------------------------------------------------------------------- probe

async def _probe(args: argparse.Namespace) -> dict[str, Any]:
    """Open loop: a probe is due every `interval` s whether or not the last one has answered (a
    slow reply must not hide the next probes: no coordinated omission). A due probe takes an idle
    session, or connects a new one. Its latency runs from the moment it was due to the final
    reply; `service_latencies` from MAIL to the final reply."""
    messages = load_messages(args.messages)
    first = Session(args.host, args.port, args.rcpt, f"probe.{os.getpid()}.0")
    await first.connect()
    idle = [first]
    opened = 1
    service = Tally()
    from_due: list[float] = []
    skipped = 0
    inflight: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float) -> None:
        nonlocal opened
        if idle:
            s = idle.pop()
        else:
            s = Session(args.host, args.port, args.rcpt, f"probe.{os.getpid()}.{opened}")
            opened += 1
            try:
                await s.connect()
            except (OSError, SmtpFailure) as exc:
                service.fail(f"probe connect failed: {exc}")
                return
        ok_before = service.ok
        await send_counted(s, messages[i % len(messages)], service, args.unique_id)
        if service.ok > ok_before:
            from_due.append(time.monotonic() - due)
        if s.writer is not None:
            idle.append(s)

    t_start = time.monotonic()
    cpu0 = os.times()
    i = 0
    while not (args.count and i >= args.count) and not (args.duration and time.monotonic() - t_start >= args.duration):
        due = t_start + i * args.interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        i += 1
        if len(inflight) >= args.max_inflight:
            skipped += 1
            continue
        task = asyncio.create_task(one(i - 1, due))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(list(inflight), timeout=600)
    cpu1 = os.times()
    for s in idle:
        await s.quit()
    out = service.as_dict()
    out.update(latencies=from_due, service_latencies=service.latencies, sessions_opened=opened,
               skipped=skipped, elapsed=time.monotonic() - t_start,
               cpu=(cpu1.user - cpu0.user) + (cpu1.system - cpu0.system))
    if skipped:
        out["failed"] += skipped
        out["failures"][f"probe not sent: {args.max_inflight} probes already waiting"] = skipped
    return out


def probe_main(args: argparse.Namespace) -> int:
    try:
        out = asyncio.run(_probe(args))
    except (OSError, SmtpFailure) as exc:
        say(f"ERROR probe: {exc}")
        return 1
    say("RESULT " + json.dumps(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    for name in ("load", "probe"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--rcpt", default="bench@example.org")
        p.add_argument("--messages", type=Path, required=True, help="pickle from save_messages")
        p.add_argument("--unique-id", action="store_true", help="add a unique Message-ID to each send")
        p.add_argument("--duration", type=float, default=0.0)
    lp = sub.choices["load"]
    lp.add_argument("--sessions", type=int, default=1)
    lp.add_argument("--procs", type=int, default=2)
    lp.add_argument("--warmup", type=int, default=10)
    lp.add_argument("--rate", type=float, default=0.0,
                    help="bytes per second of each session's message data at most (default 0: no cap); "
                         "the warm-up messages are not paced")
    pp = sub.choices["probe"]
    pp.add_argument("--interval", type=float, default=0.1)
    pp.add_argument("--count", type=int, default=0)
    pp.add_argument("--max-inflight", type=int, default=1000, help="probes waiting at once, at most")
    args = ap.parse_args()
    die_with_parent()
    return load_main(args) if args.mode == "load" else probe_main(args)


if __name__ == "__main__":
    sys.exit(main())
