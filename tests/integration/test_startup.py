"""Starting the gateway as an administrator would: the trial mode, and every start-up failure as
one line and exit status 2 (never a traceback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, free_ports

MESSAGE = ROOT / "tests" / "corpus" / "approach" / "001-freemail-recruiter-whatsapp.eml"


def gateway_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


def run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def wait_port(port: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def write_config(tmp_path: Path, extra: str = "", listen: str | None = None, up_port: int = 10026) -> Path:
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(f"listen: {listen or f'127.0.0.1:{free_port()}'}\n"
                   f"upstream: {{host: 127.0.0.1, port: {up_port}, connect_timeout: 1}}\n"
                   "hostname: gw.example.org\nlocal_domains: [example.org]\n"
                   f"store: {{path: {tmp_path / 'store.sqlite3'}}}\n" + extra)
    return cfg


def assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and " INFO " not in ln and " WARNING " not in ln]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_trial_mode_delivers_to_a_maildir_and_writes_only_in_the_working_directory(tmp_path: Path) -> None:
    """`serve` with the embedded defaults and the demo upstream: a message sent with `send` lands
    in the Maildir with the gateway's headers; state stays under the working directory."""
    listen, upstream = free_ports(2)
    # The embedded defaults use 10025/10026; a config with the same defaults on free ports keeps
    # parallel test runs apart. The embedded text itself is tested below.
    cfg = tmp_path / "trial.yml"
    from gateway.cli import EMBEDDED_DEFAULTS

    cfg.write_text(EMBEDDED_DEFAULTS.replace("10025", str(listen)).replace("10026", str(upstream)))
    proc = subprocess.Popen(gateway_cmd("serve", "--config", "trial.yml", "--demo-upstream", "demo/Maildir"),
                            cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(listen)
        sent = run(gateway_cmd("send", "--server", f"127.0.0.1:{listen}", "--to", "alice@example.org",
                               str(MESSAGE)), tmp_path)
        assert sent.returncode == 0 and ": 250 " in sent.stdout, sent.stdout + sent.stderr
        delivered = list((tmp_path / "demo" / "Maildir" / "new").iterdir())
        assert len(delivered) == 1
        text = delivered[0].read_text()
        assert "Delivered-To: alice@example.org" in text
        assert "X-Approach-Verdict: high" in text
    finally:
        proc.terminate()
        proc.wait(30)
    assert (tmp_path / "state" / "store.sqlite3").exists()


def test_embedded_defaults_are_loopback_and_relative() -> None:
    from gateway.cli import embedded_config
    from gateway.config import shipped_policies

    cfg = embedded_config()
    assert (cfg.listen.host, cfg.listen.port) == ("127.0.0.1", 10025)
    assert (cfg.upstream.host, cfg.upstream.port) == ("127.0.0.1", 10026)
    assert not Path(cfg.store.path).is_absolute() and not Path(cfg.quarantine.dir).is_absolute()
    assert cfg.policies == (shipped_policies(),)


def test_send_reports_a_refused_recipient(tmp_path: Path) -> None:
    port, up = free_ports(2)  # distinct: two free_port() calls may return one port
    cfg = write_config(tmp_path, listen=f"127.0.0.1:{port}", up_port=up)
    proc = subprocess.Popen(gateway_cmd("serve", "--config", str(cfg), "--demo-upstream", "md"), cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port)
        sent = run(gateway_cmd("send", "--server", f"127.0.0.1:{port}", "--to", "bob@elsewhere.test",
                               str(MESSAGE)), tmp_path)
        assert sent.returncode == 1 and ": 550 " in sent.stdout, sent.stdout
    finally:
        proc.terminate()
        proc.wait(30)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run(gateway_cmd("serve", "--config", str(write_config(tmp_path, listen=f"127.0.0.1:{port}"))),
                   tmp_path)
    assert_one_line_exit_2(proc, "gateway.yml: listen:", "address already in use")


def test_listen_address_not_on_this_machine(tmp_path: Path) -> None:
    proc = run(gateway_cmd("serve", "--config", str(write_config(tmp_path, listen="192.0.2.1:2525"))), tmp_path)
    assert_one_line_exit_2(proc, "listen:", "not an address of this machine")


def test_listen_name_that_does_not_resolve(tmp_path: Path) -> None:
    proc = run(gateway_cmd("serve", "--config", str(write_config(tmp_path, listen="no-such-host.invalid:2525"))),
               tmp_path)
    assert_one_line_exit_2(proc, "listen:", "cannot resolve")


def test_nameserver_that_is_not_an_ip_address(tmp_path: Path) -> None:
    proc = run(gateway_cmd("serve", "--config", str(write_config(tmp_path, "dns: {nameservers: [dns.google]}\n"))),
               tmp_path)
    assert_one_line_exit_2(proc, "gateway.yml:", "dns.nameservers.0", "not an IP address")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file; the unreadable case needs a user")
def test_unreadable_data_file_as_user(tmp_path: Path) -> None:  # pragma: no cover - root in CI
    data = tmp_path / "orgs.yml"
    data.write_text("organisations: []\n")
    data.chmod(0)
    proc = run(gateway_cmd("serve", "--config", str(write_config(
        tmp_path, f"signals: {{organisations_files: [{data}]}}\n"))), tmp_path)
    assert_one_line_exit_2(proc, "signals.organisations_files.0", "cannot be read")


def test_data_file_that_is_a_directory(tmp_path: Path) -> None:
    proc = run(gateway_cmd("serve", "--config", str(write_config(
        tmp_path, f"signals: {{indicators: [{tmp_path}]}}\n"))), tmp_path)
    assert_one_line_exit_2(proc, "signals.indicators.0", "is not a regular file")


def test_store_that_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "store.sqlite3"), str(blocker / "store.sqlite3")))
    proc = run(gateway_cmd("serve", "--config", str(cfg)), tmp_path)
    assert_one_line_exit_2(proc, "store:", "cannot be opened")


def test_quarantine_dir_that_cannot_be_opened_when_a_policy_holds_messages(tmp_path: Path) -> None:
    """admin21: a quarantine directory that cannot be written answered 451 for every held message,
    found only then; now it is a start-up error (Postfix checks its queue directories at start)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    pol = tmp_path / "hold.yml"
    pol.write_text("actions:\n  high: {quarantine: true}\n")
    quarantine = f"quarantine: {{dir: {blocker / 'q'}}}\n"
    held = write_config(tmp_path, quarantine + f"policies: [{ROOT / 'policies'}, {pol}]\n")
    proc = run(gateway_cmd("serve", "--config", str(held)), tmp_path)
    assert_one_line_exit_2(proc, "quarantine.dir:", "cannot be opened", str(blocker / "q"))


def test_unknown_store_backend(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    store_line = f"store: {{path: {tmp_path / 'store.sqlite3'}}}"
    cfg.write_text(cfg.read_text().replace(store_line, "store: {backend: mongodb}"))
    proc = run(gateway_cmd("serve", "--config", str(cfg)), tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "store.backend" in proc.stderr


def test_serve_purges_the_quarantine_by_retention(tmp_path: Path, sink) -> None:  # type: ignore[no-untyped-def]
    """quarantine.retention_days is applied by `serve` itself (at start, then hourly)."""
    from gateway.act.quarantine import QuarantineStore
    from gateway.model import Decision, Envelope, Verdict
    from gateway.smtp.service import ThreadedGateway
    from tests.conftest import make_config

    qdir = tmp_path / "quarantine"
    held = QuarantineStore(qdir)
    env = Envelope(mail_from="a@example.net", rcpt_tos=("b@example.org",), queue_id="Q")
    old = held.put(b"Subject: old\r\n\r\nx\r\n", env, Decision(Verdict.HIGH, 10.0), now=time.time() - 9 * 86400)
    new = held.put(b"Subject: new\r\n\r\nx\r\n", env, Decision(Verdict.HIGH, 10.0))
    config = make_config(sink.port, tmp_path, f"quarantine: {{dir: {qdir}, retention_days: 7}}")
    with ThreadedGateway(config, watch_interval=None):
        end = time.monotonic() + 10
        while held.path(old).exists() and time.monotonic() < end:
            time.sleep(0.05)
    assert not held.path(old).exists() and [e.id for e in held.list()] == [new]


def test_serve_purges_staff_reports_by_retention(tmp_path: Path, sink) -> None:  # type: ignore[no-untyped-def]
    """console.report_retention_days is applied by `serve` itself (at start, then hourly): the
    report row and its original go; a younger report stays."""
    from gateway.admin.console.db import ConsoleDB
    from gateway.smtp.service import ThreadedGateway
    from tests.conftest import make_config

    state = tmp_path / "console"
    db = ConsoleDB(state)
    kw = dict(source="mailbox", reporter="anna@example.org", message_id="<m@x>", subject="s", sender="x@y",
              display_name="", verdict="high", score=9.0, analysis={})
    old = db.add_report(**kw, original=b"Subject: old\r\n\r\nx\r\n", now=time.time() - 9 * 86400)  # type: ignore[arg-type]
    new = db.add_report(**kw, original=b"Subject: new\r\n\r\nx\r\n")  # type: ignore[arg-type]
    config = make_config(sink.port, tmp_path, f"console: {{state_dir: {state}, report_retention_days: 7}}")
    with ThreadedGateway(config, watch_interval=None):
        end = time.monotonic() + 10
        while db.original_path(old).exists() and time.monotonic() < end:
            time.sleep(0.05)
    assert not db.original_path(old).exists() and db.original_path(new).exists()
    assert [r.id for r in db.reports()] == [new]


@pytest.mark.parametrize("url", ["redis://:S3cretRedisPw@127.0.0.1:{port}/0",
                                 "redis://127.0.0.1:{port}/0?password=S3cretRedisPw"])
def test_redis_store_that_cannot_be_opened_keeps_its_password_out_of_the_line(tmp_path: Path, url: str) -> None:
    """The start-up line names the store as the running warnings do (password as ***) and gives
    a fix that fits Redis, not the SQLite one about a path and its permissions."""
    listen, dead = free_ports(2)  # nothing listens at `dead`; distinct from the gateway's own port
    cfg = write_config(tmp_path, listen=f"127.0.0.1:{listen}")
    cfg.write_text(cfg.read_text().replace(f"store: {{path: {tmp_path / 'store.sqlite3'}}}",
                                           f'store: {{backend: redis, url: "{url.format(port=dead)}"}}'))
    proc = run(gateway_cmd("serve", "--config", str(cfg)), tmp_path)
    assert "S3cretRedisPw" not in proc.stdout + proc.stderr
    assert_one_line_exit_2(proc, "store:", "cannot be opened", "***", "Redis runs")
    assert "path and its permissions" not in proc.stderr


def _bound_to(port: int) -> bool:
    """Something holds 127.0.0.1:`port` (our own bind fails)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.mark.parametrize("taken", ["listen", "admin.listen"])
def test_a_failed_start_announces_no_listener_and_keeps_neither_port(
        tmp_path: Path, taken: str, caplog: pytest.LogCaptureFixture) -> None:
    """ops23: `serve` with workers: 1 and the SMTP port taken logged 'admin listening on ...'
    before it exited 2. Now the SMTP address is bound first; whichever bind fails, nothing is
    announced as listening and the other port is free again."""
    import asyncio
    import dataclasses
    import logging

    from gateway.config import AdminConfig, HostPort
    from gateway.errors import StartupError
    from gateway.smtp.service import Gateway
    from tests.conftest import make_config

    smtp_port, admin_port = free_ports(2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", smtp_port if taken == "listen" else admin_port))
        busy.listen()
        config = dataclasses.replace(make_config(9, tmp_path),
                                     listen=HostPort("127.0.0.1", smtp_port),
                                     admin=AdminConfig(listen=HostPort("127.0.0.1", admin_port), console=False))
        gateway = Gateway(config, watch_interval=None)
        with caplog.at_level(logging.INFO), pytest.raises(StartupError) as caught:
            asyncio.run(gateway.start())
        assert f"{taken}: 127.0.0.1:" in str(caught.value) and "address already in use" in str(caught.value)
        assert "listening on" not in caplog.text, caplog.text
        other = admin_port if taken == "listen" else smtp_port
        assert not _bound_to(other), f"127.0.0.1:{other} still bound after the failed start"


def test_serve_with_one_worker_and_the_smtp_port_taken_logs_no_admin_listener(tmp_path: Path) -> None:
    """The same through `serve` (workers: 1 and, with a supervisor, workers: 2)."""
    for workers in ("1", "2"):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            cfg = write_config(tmp_path, f"admin: {{listen: 127.0.0.1:{free_port()}}}\n", listen=f"127.0.0.1:{port}")
            proc = run(gateway_cmd("serve", "--config", str(cfg), "--workers", workers), tmp_path)
        assert_one_line_exit_2(proc, "gateway.yml: listen:", "address already in use")
        assert "listening on" not in proc.stderr, proc.stderr
