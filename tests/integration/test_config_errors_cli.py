"""What an administrator sees of a config (or data) file with several mistakes: `serve` exits 2
and prints every error, one a line; `policy lint --config` prints them as it prints its own; a
SIGHUP with a broken config keeps the running one and logs every error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from tests.conftest import ROOT
from tests.integration.test_serve_lifecycle import Process
from tests.support.sink import Sink
from tests.unit.test_config_errors import EXPECTED, MISTAKES


def gateway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def expected_errors(path: Path) -> list[str]:
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.errors
    raise AssertionError("the config loaded")


def test_serve_exits_2_and_prints_every_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(MISTAKES)
    out = gateway("serve", "--config", str(cfg))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == len(EXPECTED)
    assert lines == [f"config error: {e}" for e in expected_errors(cfg)]
    for line, key, words in EXPECTED:
        assert any(ln.startswith(f"config error: {cfg}:{line}: {key}: ") and words in ln for ln in lines), key


def test_policy_lint_prints_config_errors_as_its_own(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(MISTAKES)
    out = gateway("policy", "lint", "--config", str(cfg))
    assert out.returncode == 2, out.stderr
    errors = expected_errors(cfg)
    assert out.stderr.splitlines() == [f"error: {e}" for e in errors] + [f"{len(errors)} error(s)"]
    policy = tmp_path / "bad-policy.yml"  # the lint's own errors: the very same shape
    policy.write_text("rules:\n  - id: r\n    when: {signal: message.no_from}\n    score: lots\n")
    own = gateway("policy", "lint", str(policy))
    assert own.returncode == 1
    assert own.stderr.splitlines()[0].startswith(f"error: {policy}:4: ") and own.stderr.endswith(" error(s)\n")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_exits_2_and_prints_every_reference_data_error(tmp_path: Path, workers: int) -> None:
    """Bad indicator and organisation files stopped `serve` with a traceback (exit 1); with two
    workers the supervisor prints the first worker's lines once."""
    (tmp_path / "alerts.yml").write_text("indicators:\n  persona: [A B]\n  phones: ['12']\n")
    (tmp_path / "orgs.yml").write_text("organisations:\n  - {name: Acme, domain: [acme.example]}\n")
    cfg = tmp_path / "gateway.yml"
    cfg.write_text("listen: 127.0.0.1:0\nupstream: {port: 10026}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\nstore: {{backend: memory}}\nworkers: {workers}\n"
                   "signals: {indicators: [alerts.yml], organisations_files: [orgs.yml]}\n")
    out = gateway("serve", "--config", str(cfg))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    logged = " INFO gateway.supervisor["  # the supervisor's own log lines (two workers) are not errors
    assert [ln for ln in out.stderr.splitlines() if logged not in ln] == [  # files in the order they are read
        f"data error: {tmp_path / 'orgs.yml'}:2: unknown key 'domain'; did you mean domains? (or remove it)",
        f"data error: {tmp_path / 'orgs.yml'}:2: Acme: needs a non-empty 'domains' list; write e.g. domains: "
        "[acme.com]",
        f"data error: {tmp_path / 'alerts.yml'}:2: unknown kind 'persona'; did you mean personas? (or remove it)",
        f"data error: {tmp_path / 'alerts.yml'}:3: '12' has fewer than 6 digits; write the full international number",
    ]


def test_sighup_with_a_broken_config_keeps_the_running_one_and_logs_every_error(tmp_path: Path,
                                                                                sink: Sink) -> None:
    p = Process(tmp_path, sink)
    try:
        good = p.config.read_text()
        p.config.write_text(good.replace("hostname: gw.example.org", "hostname: -bad-\ncolour: blue")
                            .replace("workers: 1", "workers: 1\non_error: maybe"))
        errors = expected_errors(p.config)
        assert len(errors) == 3, errors
        os.kill(p.proc.pid, signal.SIGHUP)
        p.wait_log("reload failed, keeping the running policies and data")
        p.wait_log(errors[-1])
        log = p.log.read_text()
        assert all(e in log for e in errors), log
        c = p.client()  # still serving, with the running config
        c.sendmail("a@ext.test", ["bob@example.org"], b"From: a@ext.test\r\nSubject: hi\r\n\r\nbody\r\n")
        c.quit()
        assert len(sink.wait_for(1)) == 1
    finally:
        p.stop()


def test_policy_test_prints_every_reference_data_error(tmp_path: Path) -> None:
    """A bad indicator file named by the config was a traceback (exit 1) in `policy test`."""
    (tmp_path / "alerts.yml").write_text("indicators:\n  persona: [A B]\n  phones: ['12']\n")
    (tmp_path / "m.eml").write_text("From: a@ext.example\n\nhello\n")
    (tmp_path / "cases.yml").write_text("- file: m.eml\n  expect: clean\n")
    cfg = tmp_path / "gateway.yml"
    cfg.write_text("listen: 127.0.0.1:0\nupstream: {port: 10026}\nhostname: gw.example.org\n"
                   "local_domains: [example.org]\nstore: {backend: memory}\nsignals: {indicators: [alerts.yml]}\n")
    out = gateway("policy", "test", "--config", str(cfg), str(tmp_path / "cases.yml"))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.splitlines() == [
        f"error: {tmp_path / 'alerts.yml'}:2: unknown kind 'persona'; did you mean personas? (or remove it)",
        f"error: {tmp_path / 'alerts.yml'}:3: '12' has fewer than 6 digits; write the full international number"]
