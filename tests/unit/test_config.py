from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config

BASE = """listen: 127.0.0.1:2525
upstream: {host: 127.0.0.1, port: 10026}
hostname: gw.example.org
local_domains: [example.org]
"""


def test_minimal_config_gets_documented_defaults() -> None:
    c = parse_config(BASE, "gw.yml")
    assert (c.listen.host, c.listen.port) == ("127.0.0.1", 2525)
    assert c.upstream.port == 10026
    assert c.authserv_id == "gw.example.org"
    assert c.limits.max_message_size == 10_240_000 and c.on_error == "accept"
    assert (c.limits.analysis_processes, c.limits.analysis_concurrency) == (1, 4)
    assert c.is_local_domain("EXAMPLE.org.") and not c.is_local_domain("example.com")


@pytest.mark.parametrize("extra, line, key, words", [
    ("colour: blue\n", 5, "colour", "unknown key"),
    ("limits:\n  max_recipients: many\n", 6, "limits.max_recipients", "expected an integer"),
    ("limits:\n  bogus: 1\n", 6, "limits.bogus", "unknown key"),
    ("trusted_networks: [10.0.0.0/8, not-a-net]\n", 5, "trusted_networks.1", "not an IP network"),
    ("on_error: maybe\n", 5, "on_error", "expected one of accept, tempfail"),
    ("dns:\n  nameservers: ['127.0.0.1:99999']\n", 6, "dns.nameservers.0", "out of range"),
    ("tls: {cert: /nonexistent.pem, key: /nonexistent.key}\n", 5, "tls.cert", "does not exist"),
])
def test_errors_name_file_line_and_key(extra: str, line: int, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(BASE + extra, "gw.yml")
    msg = str(exc.value)
    assert msg.startswith(f"gw.yml:{line}: {key}: "), msg
    assert words in msg and ";" in msg  # a fix follows the problem


def test_bad_listen_address() -> None:
    with pytest.raises(ConfigError, match=r"gw.yml:1: listen: 'localhost' has no port"):
        parse_config(BASE.replace("127.0.0.1:2525", "localhost"), "gw.yml")


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError, match="missing required key 'local_domains'"):
        parse_config(BASE.replace("local_domains: [example.org]\n", ""), "gw.yml")


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError, match=r"gw.yml:6: YAML syntax error: .*started at line 5"):
        parse_config(BASE + "limits: {max_recipients: 1\n", "gw.yml")


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="duplicate key 'hostname'"):
        parse_config(BASE + "hostname: other.example.org\n", "gw.yml")


def test_duplicate_key_is_file_line_problem_fix() -> None:
    """admin21 00:38: "gw.yml: line 11: duplicate key 'hostname'", unlike every other error and with no fix."""
    first = BASE.splitlines().index(next(ln for ln in BASE.splitlines() if ln.startswith("hostname:"))) + 1
    dup = BASE.count("\n") + 1
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + "hostname: other.example.org\n", "gw.yml")
    assert caught.value.errors == [
        f"gw.yml:{dup}: duplicate key 'hostname' (first at line {first}); write each key once"]


@pytest.mark.parametrize("value", ["0", "-1", "257", "lots", "true", "1.5", "null", "[2]", "Auto"])
def test_workers_must_be_a_whole_number_or_auto(value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(BASE + f"workers: {value}\n", "gw.yml")
    msg = str(exc.value)
    assert msg.startswith("gw.yml:5: workers: expected a whole number from 1 to 256 or auto, got "), msg
    assert str(exc.value).endswith("; write e.g. workers: 4, or workers: auto (one process per core)")


def test_workers_default_auto_is_one_per_usable_core(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    c = parse_config(BASE, "gw.yml")
    assert c.workers == "auto"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert c.worker_count() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert c.worker_count() == 6
    assert parse_config(BASE + "workers: 1\n", "gw.yml").worker_count() == 1
    assert parse_config(BASE + "workers: 4\n", "gw.yml").worker_count() == 4
    assert parse_config(BASE + "workers: auto\n", "gw.yml").workers == "auto"
