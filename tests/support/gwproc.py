"""`python -m gateway serve` as a real process for multi-process tests, and an MTA-like client.

`GatewayProcess` writes a config (admin listener always on, so readiness is asked over HTTP, not
guessed), starts the gateway, waits for /readyz, and can be stopped or SIGKILLed. `submit` sends
one message the way a sending MTA does: on a 4xx or a dropped connection it tries again, and it
records whether a failure came after the final dot (the reply was lost: the message may have been
delivered, so a retry may duplicate it -- the before-queue trade-off).
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Config, load_config
from tests.conftest import ROOT, free_ports, loopback_dns
from tests.support.http import get

START_WAIT = 60.0  # seconds a gateway may take to become ready (a bound for a loaded machine)
PORT_TRIES = 3  # starts with new ports when another process took one of ours (see `start`)


class GatewayProcess:
    def __init__(self, workdir: Path, *, upstream_port: int, store: str, hostname: str = "gw.example.org",
                 extra: str = "", env: dict[str, str] | None = None, workers: int = 1,
                 args: tuple[str, ...] = ()) -> None:
        self.dir = workdir
        self.workers = workers
        self.args = args
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.admin_port = free_ports(2)
        self.config = self.dir / "gateway.yml"
        self.config.write_text(f"""
listen: 127.0.0.1:{self.port}
upstream: {{host: 127.0.0.1, port: {upstream_port}, connect_timeout: 5, command_timeout: 10, data_timeout: 10}}
hostname: {hostname}
local_domains: [example.org]
policies: [{ROOT / 'policies'}]
store: {store}
dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}
admin: {{listen: 127.0.0.1:{self.admin_port}, probe_interval: 1}}
quarantine: {{dir: {self.dir / 'quarantine'}}}
workers: {workers}
{extra}
""")
        self.log = self.dir / "gateway.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def config_obj(self) -> Config:
        return load_config(self.config)

    def admin(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def start(self) -> GatewayProcess:
        """Start and wait until ready. The ports came from `free_ports()`, free when picked but not
        held: another process may bind one before the gateway does (CI saw admin.listen "address
        already in use"). Then new ports and another start, up to PORT_TRIES in all; the failed
        start's log is kept beside (gateway.log.N), so the log read by the test is this start's."""
        for attempt in range(1, PORT_TRIES + 1):
            try:
                return self._start_once()
            except AssertionError as exc:
                if "address already in use" not in str(exc) or attempt == PORT_TRIES:
                    raise
            self.log.rename(self.log.with_name(f"{self.log.name}.{attempt}"))
            self._new_ports()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _new_ports(self) -> None:
        text = self.config.read_text()
        port, admin_port = free_ports(2)
        for form, old, new in (("\nlisten: 127.0.0.1:{}\n", self.port, port),
                               ("admin: {{listen: 127.0.0.1:{},", self.admin_port, admin_port)):
            if form.format(old) not in text:  # pragma: no cover - a test wrote its own listeners
                raise AssertionError(f"no {form.format(old)!r} in {self.config}: cannot pick new ports")
            text = text.replace(form.format(old), form.format(new), 1)
        self.port, self.admin_port = port, admin_port
        self.config.write_text(text)

    def _start_once(self) -> GatewayProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(self.config),
                                      *self.args],
                                     cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("ab"), env=self.env)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited {self.proc.returncode}: {self.log_text()[-3000:]}")
            try:
                if get(self.admin("/readyz"), timeout=2)[0] == 200 and (
                        self.workers == 1 or f"supervisor: {self.workers} workers ready" in self.log_text()):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("gateway did not become ready: " + self.log_text()[-3000:])

    def metrics(self) -> str:
        return get(self.admin("/metrics"))[2]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 20.0) -> list[re.Match[str]]:
        """The first `count` matches of the regex `pattern` in the log, waiting for them."""
        deadline = time.monotonic() + timeout
        while True:
            found = list(re.finditer(pattern, self.log_text()))
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} x {pattern!r} not in the log: {self.log_text()[-3000:]}")
            time.sleep(0.05)

    def worker_pids(self) -> set[int]:
        """The supervisor's child processes now (from /proc)."""
        assert self.proc is not None
        return children(self.proc.pid)


def children(parent: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
            if int(fields[1]) == parent and fields[0] != "Z":
                out.add(int(entry))
    return out


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


@dataclass
class Outcome:
    """What the client saw for one message, attempt by attempt."""

    message_id: str
    accepted: bool = False
    attempts: list[str] = field(default_factory=list)  # "250", "4xx mail", "dropped rcpt", ...
    lost_reply: int = 0  # failures after the final dot: the gateway may have delivered it

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1


def message(message_id: str, sender: str, subject: str = "hello", body: str = "Hello.") -> bytes:
    return (f"From: {sender}\r\nTo: bob@example.org\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            f"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n{body}\r\n").encode()


def submit(port: int, sender: str, rcpts: list[str], data: bytes, message_id: str, *, attempts: int = 30,
           pause: float = 0.2, timeout: float = 30.0) -> Outcome:
    """Send like an MTA: retry on 4xx and on dropped connections; give up on 5xx."""
    out = Outcome(message_id)
    body = re.sub(rb"(?m)^\.", b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    for _ in range(attempts):
        stage = "connect"
        dot_sent = False
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as c:
                stage = "helo"
                c.ehlo("client.test")
                stage = "mail"
                code, _ = c.mail(sender)
                if code != 250:
                    raise _Reply(code, stage)
                stage = "rcpt"
                for r in rcpts:
                    code, _ = c.rcpt(r)
                    if code != 250:
                        raise _Reply(code, stage)
                stage = "data"
                code, _ = c.docmd("DATA")
                if code != 354:
                    raise _Reply(code, stage)
                stage = "dot"
                dot_sent = True  # from here a failure may hide a delivery (counted conservatively)
                c.send(body + b".\r\n")
                code, _ = c.getreply()
                if code != 250:
                    raise _Reply(code, stage)
                out.attempts.append("250")
                out.accepted = True
                try:
                    c.quit()
                except (OSError, smtplib.SMTPException):
                    pass
                return out
        except _Reply as r:
            out.attempts.append(f"{r.code} {r.stage}")
            if r.code >= 500:
                return out
        except (OSError, smtplib.SMTPException):  # TimeoutError is an OSError
            out.attempts.append(f"dropped {stage}")
            if dot_sent:
                out.lost_reply += 1
        time.sleep(pause)
    return out


class _Reply(Exception):
    def __init__(self, code: int, stage: str) -> None:
        super().__init__(f"{code} at {stage}")
        self.code = code
        self.stage = stage
