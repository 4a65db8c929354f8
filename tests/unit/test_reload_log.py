"""A failed reload logs one record per problem, each one physical line (admin21 00:38: three
config errors came as one record over three lines, the 2nd and 3rd without timestamp or logger,
which syslog and grep read as lines of their own)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.errors import DataError
from gateway.smtp.service import Gateway

GOOD = ("listen: 127.0.0.1:0\nupstream: {port: 10026}\nhostname: gw.example.org\nlocal_domains: [example.org]\n"
        "store: {backend: memory}\n")


def test_a_reload_with_three_config_errors_logs_three_one_line_records(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(GOOD)
    gw = Gateway(load_config(cfg))
    cfg.write_text(GOOD.replace("hostname: gw.example.org", "hostname: -bad-\ncolour: blue") + "on_error: maybe\n")
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    problems = caught.value.errors
    assert len(problems) == 3
    caplog.set_level(logging.ERROR, logger="gateway.service")
    assert gw.reload() is False
    records = [r.getMessage() for r in caplog.records if r.name == "gateway.service"]
    assert records == [f"reload failed, keeping the running policies and data: {p}" for p in problems]
    assert not any("\n" in r for r in records)


def test_log_lines() -> None:
    from gateway.errors import log_lines

    assert log_lines(DataError(["a.yml:1: x; y", "b.yml:2: z; w"])) == ["a.yml:1: x; y", "b.yml:2: z; w"]
    assert log_lines("policy error: p.yml:3: bad\npolicy error: p.yml:4: worse\n") == [
        "policy error: p.yml:3: bad", "policy error: p.yml:4: worse"]
    assert log_lines(OSError(2, "No such file or directory")) == ["[Errno 2] No such file or directory"]
    assert log_lines(RuntimeError()) == ["RuntimeError"]
