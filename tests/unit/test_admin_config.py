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


@pytest.mark.parametrize(("text", "message"), [
    ("admin: {lisen: 127.0.0.1:10027}", r"gw.yml:5: admin.lisen: unknown key; did you mean listen? (or remove it)"),
    ("admin: {listen: localhost:10027}", r"gw.yml:5: admin.listen: 'localhost' is not an IP address; write an "),
    ("admin: {listen: 127.0.0.1}", r"gw.yml:5: admin.listen: '127.0.0.1' has no port; write HOST:PORT"),
    ("admin: {console: yes please}", r"gw.yml:5: admin.console: expected true or false"),
    ("admin: {probe_interval: 0}", r"gw.yml:5: admin.probe_interval: expected a number of seconds from 0.5"),
    ("admin: [127.0.0.1:10027]", r"gw.yml:5: admin: expected a mapping"),
])
def test_admin_errors_name_file_line_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        parse_config(BASE + text + "\n", "gw.yml")
