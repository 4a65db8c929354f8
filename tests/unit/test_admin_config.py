"""The `admin:` config key: off unless set, loopback by default, validated like every other key."""

from __future__ import annotations

import re

import pytest

from gateway.config import AdminConfig, ConfigError, HostPort, parse_config

BASE = "listen: 127.0.0.1:0\nupstream: {host: 127.0.0.1, port: 10026}\nhostname: gw.example.org\n" \
       "local_domains: [example.org]\n"


def test_admin_is_off_unless_set() -> None:
    assert parse_config(BASE).admin is None


def test_admin_defaults_to_loopback() -> None:
    cfg = parse_config(BASE + "admin: {}\n")
    assert cfg.admin == AdminConfig()
    assert cfg.admin.listen == HostPort("127.0.0.1", 10027) and not cfg.admin.console
    cfg = parse_config(BASE + "admin: {listen: '[::1]:9100', console: true, probe_interval: 30}\n")
    assert cfg.admin == AdminConfig(HostPort("::1", 9100), True, 30.0)


def test_admin_slow_client_settings_default_to_apache_mod_reqtimeout() -> None:
    cfg = parse_config(BASE + "admin: {}\n").admin
    assert cfg is not None
    assert (cfg.header_timeout, cfg.header_timeout_max, cfg.body_timeout, cfg.min_rate) == (20.0, 40.0, 20.0, 500)
    assert (cfg.io_timeout, cfg.max_per_address) == (60.0, 32)
    cfg = parse_config(BASE + "admin: {header_timeout: 5, header_timeout_max: 8, body_timeout: 7, min_rate: 100, "
                              "io_timeout: 9, max_per_address: 3}\n").admin
    assert cfg is not None
    assert (cfg.header_timeout, cfg.header_timeout_max, cfg.body_timeout, cfg.min_rate) == (5.0, 8.0, 7.0, 100)
    assert (cfg.io_timeout, cfg.max_per_address) == (9.0, 3)
    # a header_timeout above the default maximum raises the maximum with it
    cfg = parse_config(BASE + "admin: {header_timeout: 60}\n").admin
    assert cfg is not None and cfg.header_timeout_max == 60.0


@pytest.mark.parametrize(("text", "message"), [
    ("admin: {lisen: 127.0.0.1:10027}", r"gw.yml:5: admin.lisen: unknown key; did you mean listen? (or remove it)"),
    ("admin: {listen: localhost:10027}", r"gw.yml:5: admin.listen: 'localhost' is not an IP address; write an "),
    ("admin: {listen: 127.0.0.1}", r"gw.yml:5: admin.listen: '127.0.0.1' has no port; write HOST:PORT"),
    ("admin: {console: yes please}", r"gw.yml:5: admin.console: expected true or false"),
    ("admin: {probe_interval: 0}", r"gw.yml:5: admin.probe_interval: expected a number of seconds from 0.5"),
    ("admin: [127.0.0.1:10027]", r"gw.yml:5: admin: expected a mapping"),
    ("admin: {header_timeout: 0}", r"gw.yml:5: admin.header_timeout: expected a number of seconds from 0.1 to 3600"),
    ("admin: {header_timeout: 30, header_timeout_max: 25}",
     r"gw.yml:5: admin.header_timeout_max: 25 is less than header_timeout (30); make it at least header_timeout"),
    ("admin: {body_timeout: fast}", r"gw.yml:5: admin.body_timeout: expected a number of seconds from 0.1"),
    ("admin: {min_rate: 0}", r"gw.yml:5: admin.min_rate: expected an integer from 1 to 1000000000, got 0"),
    ("admin: {min_rate: 500.5}", r"gw.yml:5: admin.min_rate: expected an integer from 1 to 1000000000"),
    ("admin: {io_timeout: -1}", r"gw.yml:5: admin.io_timeout: expected a number of seconds from 0.1"),
    ("admin: {max_per_address: 0}", r"gw.yml:5: admin.max_per_address: expected an integer from 1 to 100000, got 0"),
    ("admin: {max_per_adress: 10}", r"gw.yml:5: admin.max_per_adress: unknown key; did you mean max_per_address?"),
])
def test_admin_errors_name_file_line_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_config(BASE + text + "\n", "gw.yml")
