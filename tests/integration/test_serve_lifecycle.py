"""`python -m gateway serve` as a process: start, SIGHUP reload, SIGTERM drain then 421.

One process (`workers: 1`, no supervisor); tests/integration/test_serve_workers.py runs the same
lifecycle with a supervisor and two workers."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, loopback_dns
from tests.integration.conftest import SIMPLE
from tests.support.gwproc import PORT_TRIES, START_WAIT
from tests.support.sink import Sink


class Process:
    def __init__(self, tmp_path: Path, sink: Sink, grace: float = 5) -> None:
        self.port = free_port()
        self.policies = tmp_path / "policies"
        self.policies.mkdir()
        (self.policies / "10-test.yml").write_text(
            "rules:\n  - id: subject-hello\n    when: {signal: message.no_from}\n    score: 1\n")
        self.config = tmp_path / "gateway.yml"
        self.config.write_text(f"""
listen: 127.0.0.1:{self.port}
upstream: {{host: 127.0.0.1, port: {sink.port}, command_timeout: 5, data_timeout: 5}}
hostname: gw.example.org
local_domains: [example.org]
policies: [{self.policies}]
limits: {{shutdown_grace: {grace}}}
workers: 1
dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}
store: {{path: {tmp_path / 'store.sqlite3'}}}
""")
        self.log = tmp_path / "gateway.log"
        for attempt in range(1, PORT_TRIES + 1):
            if self._started():
                return
            if "address already in use" not in self.log.read_text() or attempt == PORT_TRIES:
                break
            # free_port() does not hold the port it picked: another process took it meanwhile
            port = free_port()
            self.config.write_text(self.config.read_text().replace(f"\nlisten: 127.0.0.1:{self.port}\n",
                                                                   f"\nlisten: 127.0.0.1:{port}\n", 1))
            self.port = port
        raise AssertionError("gateway did not start: " + self.log.read_text())

    def _started(self) -> bool:
        """Start the process and wait until it answers on its port; False when it exited or never
        answered (then killed)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(self.config)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                return True
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        self.proc.wait(10)
        return False

    def client(self) -> smtplib.SMTP:
        c = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
        c.ehlo("client.test")
        return c

    def wait_log(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert time.monotonic() < deadline, f"no {text!r} in the log: {self.log.read_text()[-2000:]}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def process(tmp_path: Path, sink: Sink) -> Iterator[Process]:
    p = Process(tmp_path, sink)
    yield p
    p.stop()


def test_sigterm_lets_the_transaction_in_flight_finish_then_421(process: Process, sink: Sink) -> None:
    c = process.client()
    idle = process.client()
    assert c.mail("alice@ext.test")[0] == 250
    assert c.rcpt("bob@example.org")[0] == 250
    os.kill(process.proc.pid, signal.SIGTERM)
    time.sleep(0.5)
    # the idle session was told 421 (then closed)
    assert idle.getreply()[0] == 421
    # no new connections
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", process.port, timeout=2)
    # the transaction in flight completes with the upstream's answer
    assert c.data(SIMPLE)[0] == 250
    assert len(sink.wait_for(1)) == 1
    process.proc.wait(10)
    assert process.proc.returncode == 0
    # one structured line per message: envelope, size, verdict, reply, time; never the body
    lines = [ln for ln in process.log.read_text().splitlines() if "queue_id=" in ln]
    assert len(lines) == 1
    for field in ("client=127.0.0.1", "helo=client.test", "from=<alice@ext.test>", "to=<bob@example.org>",
                  f"size={len(SIMPLE)}", "verdict=clean", 'reply="250 2.0.0 Ok: queued as SINK"', "time="):
        assert field in lines[0], field
    assert "Hello Bob" not in process.log.read_text()


def test_sigterm_grace_expiry_answers_421_to_stuck_sessions(tmp_path: Path, sink: Sink) -> None:
    p = Process(tmp_path, sink, grace=1)
    try:
        c = p.client()
        c.mail("alice@ext.test")
        os.kill(p.proc.pid, signal.SIGTERM)
        p.proc.wait(10)
        code, _ = c.getreply()
        assert code == 421
        assert sink.messages == []
    finally:
        p.stop()


def test_sighup_reloads_policies_and_keeps_them_on_error(process: Process, sink: Sink) -> None:
    nofrom = b"To: bob@example.org\r\nSubject: no from\r\n\r\nbody\r\n"
    (process.policies / "10-test.yml").write_text(
        "rules:\n  - id: no-from-v2\n    when: {signal: message.no_from}\n    score: 4\n    reason: v2\n")
    os.kill(process.proc.pid, signal.SIGHUP)
    process.wait_log("reloaded: ")  # a reload takes about half a second: wait for it, not a guess
    c = process.client()
    c.sendmail("a@ext.test", ["bob@example.org"], nofrom)
    assert b"no-from-v2 (4): v2" in sink.wait_for(1)[0].data
    (process.policies / "10-test.yml").write_text("rules: [ {id: broken, when: {nonsense: 1}, score: 1} ]\n")
    os.kill(process.proc.pid, signal.SIGHUP)
    process.wait_log("reload failed, keeping the running policies and data")
    c.sendmail("a@ext.test", ["bob@example.org"], nofrom)
    c.quit()
    assert b"no-from-v2 (4): v2" in sink.wait_for(2)[1].data
    assert "reload failed, keeping the running policies and data" in process.log.read_text()


def test_bad_config_exits_nonzero_naming_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("listen: 127.0.0.1:2525\nupstream: {port: 25}\nhostname: gw.example.org\n"
                   "local_domains: [example.org]\nlimits:\n  max_recipients: lots\n")
    out = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", str(cfg)],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert f"{cfg}:6: limits.max_recipients: expected an integer" in out.stderr


def test_sigint_drains_and_the_log_says_sigint(process: Process) -> None:
    """Ctrl-C is SIGINT, and the log says so (it used to say SIGTERM for both)."""
    os.kill(process.proc.pid, signal.SIGINT)
    assert process.proc.wait(15) == 0
    log = process.log.read_text()
    assert "SIGINT: draining (grace 5s)" in log and "SIGTERM: draining" not in log
    assert "Traceback" not in log
