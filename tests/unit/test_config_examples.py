"""Every valid example config in the repository builds the very same `Config` as it did before
the collect-all validator replaced the one that stopped at the first error.

The examples: `deploy/gateway.example.yml`, the configs under `tests/` (corpus, evalset and the
fixtures' texts), the embedded defaults of `serve`, every config and config fragment in the docs,
and a file that sets every key (TLS, ARC, data files, console, admin, Redis store ...).

`tests/unit/config_examples.json` holds each one as the stop-at-first-error code built it
(absolute paths written as <ROOT> and <DIR>). A field missing from the snapshot is not compared
(a key added later keeps its default), and an example newer than the snapshot is only required to
load. After an intended change of what a config builds, regenerate it:

    UPDATE_CONFIG_SNAPSHOT=1 python -m pytest tests/unit/test_config_examples.py
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import Config, load_config, parse_config
from tests.conftest import ROOT
from tests.unit.test_docs import ALL, MINIMAL

SNAPSHOT = ROOT / "tests" / "unit" / "config_examples.json"
UPDATE = os.environ.get("UPDATE_CONFIG_SNAPSHOT") == "1"

EVERY_KEY = """\
listen: '[::1]:2525'
workers: 3
upstream: {host: mail.example.org, port: 2526, connect_timeout: 5, command_timeout: 60.5, data_timeout: 120,
           xforward: false, helo_name: GW.Example.org.}
hostname: MX.example.org
authserv_id: auth.example.org
local_domains: [Example.org, example.ac.uk.]
trusted_networks: [10.0.0.0/8, '2001:db8::/32', 192.0.2.7]
xforward_hosts: [127.0.0.0/8]
trusted_authserv_ids: [mx1.example.org]
limits: {max_message_size: 5000000, max_recipients: 50, max_header_count: 200, max_header_bytes: 65536,
         max_mime_depth: 10, max_mime_parts: 100, max_line_length: 1000, max_connections: 10,
         max_connections_per_ip: 2, analysis_timeout: 7.5, session_timeout: 60, session_lifetime: 600,
         junk_command_limit: 5, shutdown_grace: 3, max_text_bytes: 4096}
tls: {cert: '{DIR}/cert.pem', key: '{DIR}/key.pem'}  # read from the working directory when relative
proxy_protocol: {trusted_networks: [192.0.2.0/24], timeout: 2}
dns: {nameservers: ['127.0.0.1', '[::1]:5353', '192.0.2.53:53'], timeout: 1.5}
store: {backend: redis, url: 'redis://127.0.0.1:6379/2', prefix: 'gw1:', timeout: 0.5, retention_days: 90,
        path: state/store.sqlite3}
policies: policies
on_error: tempfail
bare_newline: reject
log: {level: debug, format: json}
signals:
  freemail_extra: [mail.example.net]
  freemail_files: [freemail.txt]
  disposable_extra: [throwaway.example]
  disposable_files: freemail.txt
  organisations_files: [orgs.yml]
  vip_names: [Dana Prof]
  staff_names_file: staff.txt
  notification_domains: [notify.example.com]
  indicators: [alerts.yml]
  dnsbl_zones: [zen.example.net]
  rhsbl_zones: [dbl.example.net]
  rdap_url: 'https://rdap.example/domain/{domain}'
  rdap_timeout: 2
  young_domain_days: 30
quarantine: {dir: /var/tmp/held, retention_days: 7}
arc: {selector: s1, domain: Example.org, key_file: arc.key}
console: {state_dir: console-state, indicators_dir: /var/tmp/ind, policy_dir: policies/local.d,
          report_address: Report@Example.org, base_url: 'https://gw.example.org/console/', session_idle: 600,
          session_max: 3600, proxy_user_header: X-Remote-User, trusted_proxies: [127.0.0.1/32],
          report_window_days: 30, login_failures: 4, login_failures_per_address: 40, login_window: 600,
          login_lockout: 30, login_lockout_max: 1800, reports_per_hour: 12}
admin: {listen: '127.0.0.1:9100', console: true, probe_interval: 5, header_timeout: 10, header_timeout_max: 30,
        body_timeout: 15, min_rate: 1000, io_timeout: 30, max_per_address: 8}
"""


def _every_key(tmp: Path) -> Config:
    for name in ("cert.pem", "key.pem", "arc.key", "freemail.txt", "staff.txt", "orgs.yml", "alerts.yml"):
        (tmp / name).write_text("x\n")
    (tmp / "policies" / "local.d").mkdir(parents=True, exist_ok=True)
    path = tmp / "gateway.yml"
    path.write_text(EVERY_KEY.replace("{DIR}", str(tmp)))
    return load_config(path)


def test_every_key_builds_the_keys_newer_than_the_snapshot(tmp_path: Path) -> None:
    """The snapshot does not compare a field it does not hold: the keys added since are checked here."""
    cfg = _every_key(tmp_path)
    assert cfg.console.reports_per_hour == 12
    assert cfg.admin is not None
    assert (cfg.admin.header_timeout, cfg.admin.header_timeout_max, cfg.admin.body_timeout, cfg.admin.min_rate,
            cfg.admin.io_timeout, cfg.admin.max_per_address) == (10, 30, 15, 1000, 30, 8)


def _text(text: str) -> Callable[[Path], Config]:
    return lambda tmp: parse_config(text, str(tmp / "gateway.yml"))


def _file(rel: str) -> Callable[[Path], Config]:
    return lambda tmp: load_config(ROOT / rel)


def _embedded(tmp: Path) -> Config:
    from gateway.cli import embedded_config

    return embedded_config()


def _fixtures() -> dict[str, Callable[[Path], Config]]:
    from tests.conftest import make_config
    from tests.support.console import console_config
    from tests.support.messages import BASE_CONFIG

    return {
        "tests/support/messages.py BASE_CONFIG": _text(BASE_CONFIG),
        "tests/conftest.py make_config": lambda tmp: make_config(10026, tmp, "dns: {nameservers: [127.0.0.1:53]}"),
        "tests/support/console.py console_config": lambda tmp: console_config(tmp),
    }


def _doc_examples() -> dict[str, Callable[[Path], Config]]:
    """Config blocks of the docs, built as tests/unit/test_docs.py builds them; named by file and
    a hash of the text (an edited example is a new one)."""
    out: dict[str, Callable[[Path], Config]] = {}
    for block in ALL:
        if block.lang != "yaml" or block.skip is not None:
            continue
        doc = yaml.safe_load(block.text)
        if not isinstance(doc, dict):
            continue
        if "listen" in doc:
            text = block.text
        elif set(doc) <= {"signals", "store", "dns", "limits", "quarantine", "arc", "tls", "proxy_protocol", "log",
                          "policies", "trusted_authserv_ids", "console", "admin"}:
            text = MINIMAL + re.sub(r"\[indicators/[^\]]*\]", "[]", block.text)
        else:
            continue
        digest = hashlib.sha256(block.text.encode()).hexdigest()[:12]
        out[f"{block.file.relative_to(ROOT)} {digest}"] = _text(text)
    return out


FIXED: dict[str, Callable[[Path], Config]] = {
    "deploy/gateway.example.yml": _file("deploy/gateway.example.yml"),
    "tests/corpus/gateway.yml": _file("tests/corpus/gateway.yml"),
    "tests/evalset/gateway.yml": _file("tests/evalset/gateway.yml"),
    "tests/evalset/ham.yml": _file("tests/evalset/ham.yml"),
    "<embedded defaults>": _embedded,
    "every key set": _every_key,
    **_fixtures(),
}
EXAMPLES = {**FIXED, **_doc_examples()}


def plain(value: Any, tmp: Path) -> Any:
    """A JSON-able picture of a built config, with the machine's paths replaced."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), tmp) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [plain(v, tmp) for v in value]
    if isinstance(value, str):
        return value.replace(str(tmp), "<DIR>").replace(str(ROOT), "<ROOT>")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"{type(value).__name__}({value})"  # ip networks


def same_as_before(before: Any, now: Any, where: str = "") -> list[str]:
    """Where `now` differs from `before`; fields only `now` has (added later) are not compared."""
    if isinstance(before, dict) and isinstance(now, dict):
        return [d for k, v in before.items()
                for d in ([f"{where}.{k}: gone"] if k not in now else same_as_before(v, now[k], f"{where}.{k}"))]
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        pairs = enumerate(zip(before, now, strict=True))
        return [d for i, (b, n) in pairs for d in same_as_before(b, n, f"{where}.{i}")]
    same = before == now and type(before) is type(now)  # 30 is not 30.0
    return [] if same else [f"{where}: was {before!r}, now {now!r}"]


def _snapshot() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_builds_the_same_config(name: str, tmp_path: Path) -> None:
    tmp = tmp_path / "cfg"
    tmp.mkdir()
    built = plain(EXAMPLES[name](tmp), tmp)
    if UPDATE:
        snap = _snapshot()
        snap[name] = built
        SNAPSHOT.write_text(json.dumps(dict(sorted(snap.items())), indent=1, sort_keys=True) + "\n")
        return
    before = _snapshot().get(name)
    if before is None:
        assert name not in FIXED, f"{name} is missing from {SNAPSHOT.name}; regenerate it (see the docstring)"
        return  # an example newer than the snapshot: it loads, nothing to compare with
    assert not same_as_before(before, built), "\n".join(same_as_before(before, built))


def test_the_snapshot_covers_every_fixed_example() -> None:
    missing = [name for name in FIXED if name not in _snapshot()]
    assert not missing, missing
