"""The admin listener against a running gateway: /healthz, /readyz (what fails and why), /metrics
(counts of what really happened), the console mount, start-up errors and multiprocess mode."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.store import StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.conftest import ROOT, free_port, free_ports, loopback_dns
from tests.integration.conftest import SIMPLE, Harness
from tests.support.http import get, get_json, value, wait_until

ADMIN = "admin: {listen: 127.0.0.1:0, probe_interval: 0.5}"


def admin_url(h: Harness, path: str) -> str:
    assert h.gw is not None and h.gw.gateway is not None and h.gw.gateway.admin is not None
    return f"http://127.0.0.1:{h.gw.gateway.admin.port}{path}"


def send(h: Harness, message: bytes = SIMPLE, rcpt: str = "bob@example.org") -> None:
    c = h.client()
    c.sendmail("alice@ext.test", [rcpt], message)
    c.quit()


def test_healthz_and_readyz_when_everything_answers(harness: Harness) -> None:
    harness.start(ADMIN)
    assert get(admin_url(harness, "/healthz"))[0] == 200
    status, body = get_json(admin_url(harness, "/readyz"))
    assert status == 200 and body["ready"] is True and body["failed"] == []
    assert set(body["checks"]) == {"listener", "policies", "upstream", "store"}
    assert all(c["ok"] for c in body["checks"].values())
    assert len(body["checks"]["policies"]["version"]) == 12


def test_readyz_names_the_upstream_when_it_does_not_answer(harness: Harness) -> None:
    harness.start(ADMIN)
    assert harness.sink is not None and harness.gw is not None and harness.gw.gateway is not None
    harness.sink.stop()
    harness.sink = None
    url = admin_url(harness, "/readyz")
    # the last answer ages past three probe intervals; then /readyz probes at once and fails
    assert wait_until(lambda: get(url)[0] == 503)
    status, body = get_json(url)
    assert status == 503 and body["failed"] == ["upstream"]
    assert "has not answered" in body["checks"]["upstream"]["detail"]
    text = get(admin_url(harness, "/metrics"))[2]
    assert value(text, "approach_gateway_upstream_up") == 0


class FailingStore(MemoryStore):
    """Answers at start (purge), then is down."""

    async def rdap_get(self, domain: str) -> Any:
        raise StoreUnavailable("redis store redis://127.0.0.1:1/0: rdap_get: connection refused")


def test_readyz_names_the_store_when_it_does_not_answer(harness: Harness) -> None:
    harness.start(ADMIN, runtime_kwargs={"store": FailingStore(30)})
    status, body = get_json(admin_url(harness, "/readyz"))
    assert status == 503 and body["failed"] == ["store"]
    assert "connection refused" in body["checks"]["store"]["detail"]


class FullDiskStore(MemoryStore):
    """Answers every read; refuses every write once `full` (SQLite on a full disk, admin21 00:56)."""

    full = False

    async def record_message(self, meta: Any, local_domains: Any) -> None:
        if self.full:
            raise StoreUnavailable("the SQLite store cannot write (database or disk is full): free disk space")
        await super().record_message(meta, local_domains)


def test_readyz_says_the_store_is_not_ready_while_its_writes_fail(harness: Harness) -> None:
    store = FullDiskStore(30)
    # 60 s probe interval: the write failure counts for 180 s, far longer than the test takes
    harness.start("admin: {listen: 127.0.0.1:0, probe_interval: 60}", runtime_kwargs={"store": store})
    url = admin_url(harness, "/readyz")
    send(harness)  # recorded
    assert get_json(url)[0] == 200
    store.full = True
    send(harness, SIMPLE.replace(b"<1@ext.test>", b"<2@ext.test>"))  # relayed, not recorded
    send(harness, SIMPLE.replace(b"<1@ext.test>", b"<3@ext.test>"))
    status, body = get_json(url)
    assert status == 503 and body["failed"] == ["store"]  # though the read the probe makes answers
    detail = body["checks"]["store"]["detail"]
    assert "answers reads but the last write failed" in detail
    assert "record_message: StoreUnavailable: the SQLite store cannot write (database or disk is full)" in detail
    assert "2 failed since the last that succeeded" in detail
    store.full = False
    send(harness, SIMPLE.replace(b"<1@ext.test>", b"<4@ext.test>"))  # a write succeeds: ready again
    assert get_json(url)[0] == 200


def test_readyz_is_503_while_draining(harness: Harness) -> None:
    harness.start(ADMIN)
    assert harness.gw is not None and harness.gw.gateway is not None
    harness.gw.gateway.state.draining = True
    status, body = get_json(admin_url(harness, "/readyz"))
    assert status == 503 and body["failed"] == ["listener"]
    harness.gw.gateway.state.draining = False


def test_metrics_count_what_happened(harness: Harness) -> None:
    harness.start(ADMIN)
    assert harness.gw is not None and harness.gw.gateway is not None
    send(harness)
    send(harness, SIMPLE.replace(b"<1@ext.test>", b"<2@ext.test>"))
    c = harness.client()
    assert c.mail("alice@ext.test")[0] == 250
    assert c.rcpt("carol@elsewhere.test")[0] == 550  # relay refused by the gateway itself
    c.quit()
    url = admin_url(harness, "/metrics")
    status, ctype, text = get(url)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    assert value(text, "approach_gateway_messages_total") == 2
    assert value(text, "approach_gateway_messages_total", checked="yes") == 2
    assert value(text, "approach_gateway_smtp_replies_total", stage="dot", **{"class": "2xx"}) == 2
    assert value(text, "approach_gateway_smtp_replies_total", stage="data", **{"class": "3xx"}) == 2
    assert value(text, "approach_gateway_smtp_replies_total", stage="rcpt", **{"class": "5xx"}) == 1
    assert value(text, "approach_gateway_smtp_replies_total", stage="connect", **{"class": "2xx"}) == 3
    # one per EHLO (3 sessions), not one per line of its multi-line reply (admin21: 6 each)
    assert value(text, "approach_gateway_smtp_replies_total", stage="helo", **{"class": "2xx"}) == 3
    assert value(text, "approach_gateway_analysis_seconds_count") == 2
    assert value(text, "approach_gateway_upstream_seconds_count", stage="data") == 2
    assert value(text, "approach_gateway_upstream_errors_total") == 0
    assert value(text, "approach_gateway_store_seconds_count", op="record_message") == 2
    assert value(text, "approach_gateway_store_errors_total") == 0
    # every session ended: the gauge is back to zero (the server sees the close a moment later)
    assert wait_until(lambda: value(get(url)[2], "approach_gateway_sessions_in_flight") == 0)
    hits = {k: v for k, v in ((key, value(text, "approach_gateway_rule_hits_total", rule=key))
                              for key in ("first-contact-organisation",)) if v}
    assert hits == {"first-contact-organisation": 1}  # the second message is no longer first contact


def test_reloads_are_counted_and_the_loaded_version_changes(harness: Harness, tmp_path: Path) -> None:
    harness.start(ADMIN, watch_interval=None)  # only the reloads below: the file watcher would add its own
    assert harness.gw is not None and harness.gw.gateway is not None
    gw = harness.gw.gateway
    shipped = gw.metrics.loaded_hash
    policies = tmp_path / "pol"
    policies.mkdir()
    rule = policies / "10-x.yml"
    rule.write_text("rules:\n  - id: r1\n    when: {signal: message.no_from}\n    score: 1\n")
    cfg = tmp_path / "gateway.yml"  # what a reload re-reads
    cfg.write_text(re.sub(r"(?m)^policies: .*$", f"policies: [{policies}]", cfg.read_text()))
    assert gw.reload()
    first = gw.metrics.loaded_hash
    rule.write_text("rules:\n  - id: r2\n    when: {signal: message.no_from}\n    score: 2\n")
    assert gw.reload()
    rule.write_text("rules: [[[\n")
    assert not gw.reload()
    text = get(admin_url(harness, "/metrics"))[2]
    assert value(text, "approach_gateway_reloads_total", result="success") == 2
    assert value(text, "approach_gateway_reloads_total", result="failure") == 1
    assert len({shipped, first, gw.metrics.loaded_hash}) == 3
    assert value(text, "approach_gateway_policy_loaded_timestamp_seconds", hash=gw.metrics.loaded_hash) > 0
    assert value(text, "approach_gateway_policy_loaded_timestamp_seconds", hash=first) == 0
    assert value(text, "approach_gateway_policy_loaded_timestamp_seconds", hash=shipped) == 0
    assert value(text, "approach_gateway_policy_rules") == 1


def test_console_is_mounted_only_when_asked(harness: Harness) -> None:
    harness.start("admin: {listen: 127.0.0.1:0, console: true}")
    status, ctype, body = get(admin_url(harness, "/console/login"))  # the console's own login page
    assert status == 200 and ctype.startswith("text/html") and "Log in" in body
    assert 'href="/console/static/' in body  # its links carry the mount point
    assert get(admin_url(harness, "/metrics"))[0] == 200  # beside the admin routes


def test_console_is_not_mounted_by_default(harness: Harness) -> None:
    harness.start(ADMIN)
    assert get(admin_url(harness, "/console/"))[0] == 404


def _serve(tmp_path: Path, admin: str, env: dict[str, str] | None = None,
           sink_port: int = 9, port: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    port = port or free_port()
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(f"""
listen: 127.0.0.1:{port}
upstream: {{host: 127.0.0.1, port: {sink_port}, connect_timeout: 2, command_timeout: 5, data_timeout: 5}}
hostname: gw.example.org
local_domains: [example.org]
policies: [{ROOT / 'policies'}]
store: {{backend: memory}}
dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}
limits: {{shutdown_grace: 2}}
{admin}
""")
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}), port


def test_admin_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        proc, _ = _serve(tmp_path, f"admin: {{listen: 127.0.0.1:{taken}}}")
        _, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2, err
    assert lines[-1] == (f"approach-gateway: {tmp_path / 'gateway.yml'}: admin.listen: 127.0.0.1:{taken}: "
                         "address already in use (another process listens there); stop it or choose another port")


def test_multiprocess_mode_adds_up_the_files(tmp_path: Path, sink: Any) -> None:
    """PROMETHEUS_MULTIPROC_DIR set: values live in files there and /metrics sums every process's."""
    mp = tmp_path / "prom"
    mp.mkdir()
    admin_port, smtp_port = free_ports(2)
    proc, port = _serve(tmp_path, f"admin: {{listen: 127.0.0.1:{admin_port}}}",
                        {"PROMETHEUS_MULTIPROC_DIR": str(mp)}, sink.port, smtp_port)
    try:
        url = f"http://127.0.0.1:{admin_port}/metrics"

        def up() -> bool:
            try:
                return get(url, timeout=2)[0] == 200
            except OSError:
                return False
        assert wait_until(up, 30), proc.stderr.read1().decode() if proc.stderr else ""  # type: ignore[union-attr]
        c = smtplib.SMTP("127.0.0.1", port, timeout=10)
        c.sendmail("alice@ext.test", ["bob@example.org"], SIMPLE)
        c.quit()
        text = get(url)[2]
        assert value(text, "approach_gateway_messages_total") == 1
        assert value(text, "approach_gateway_smtp_replies_total", stage="dot", **{"class": "2xx"}) == 1
        assert any(f.name.endswith(".db") for f in mp.iterdir())  # prometheus-client's per-process files
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_multiprocess_dir_that_is_not_a_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    proc, _ = _serve(tmp_path, "admin: {listen: 127.0.0.1:0}", {"PROMETHEUS_MULTIPROC_DIR": str(missing)})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.decode().strip().splitlines()[-1] == (
        f"approach-gateway: PROMETHEUS_MULTIPROC_DIR={missing}: not a writable directory (prometheus-client's "
        "multiprocess mode keeps every process's values there); create it, writable by the gateway user, or "
        "unset PROMETHEUS_MULTIPROC_DIR")
