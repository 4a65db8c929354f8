"""The shipped deployment files: the example config, the systemd unit, the Postfix snippets.

The Postfix snippets are exercised end to end by tests/integration/test_postfix.py; here they
are only cross-checked against the example config.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from gateway.config import Config, HostPort, LimitsConfig, UpstreamConfig, load_config
from gateway.policy import load_policies
from tests.conftest import ROOT, need_binary

EXAMPLE = ROOT / "deploy" / "gateway.example.yml"
UNIT = ROOT / "deploy" / "systemd" / "approach-gateway.service"
SNIPPETS = ROOT / "deploy" / "postfix"
INSTALLED_EXEC = "/opt/approach-gateway/venv/bin/approach-gateway"


def test_example_config_loads_with_documented_defaults() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.listen == HostPort("127.0.0.1", 10025)
    assert cfg.upstream == UpstreamConfig()  # every upstream value shown is the default
    assert cfg.limits == LimitsConfig()  # every limit shown is the default
    assert cfg.on_error == "accept" and cfg.bare_newline == "normalize"
    assert [str(n) for n in cfg.xforward_hosts] == ["127.0.0.0/8"]
    assert cfg.tls is None and cfg.proxy_protocol is None
    # policies resolve relative to the file, to the shipped policies, and load.
    assert [Path(p).resolve() for p in cfg.policies] == [(ROOT / "policies").resolve()]
    assert load_policies(cfg.policies).rules


def _keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        out.append(prefix + f.name)
        nested = [t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if dataclasses.is_dataclass(t)]
        if nested and nested[0] is not HostPort:
            out.extend(_keys(typing.cast(type, nested[0]), prefix + f.name + "."))
    return out


def test_example_config_shows_every_key() -> None:
    text = EXAMPLE.read_text()
    missing = [k for k in _keys(Config)
               if not re.search(rf"(?m)^\s*#?\s*{re.escape(k.rsplit('.', 1)[-1])}:", text)]
    assert not missing, f"deploy/gateway.example.yml does not show: {missing}"


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_systemd_unit_is_unprivileged_and_sandboxed() -> None:
    d = _directives(UNIT.read_text())
    assert d["User"] == ["approach-gateway"] and d["Type"] == ["simple"]
    assert d["ExecStart"] == [f"{INSTALLED_EXEC} serve --config /etc/approach-gateway/gateway.yml"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"] and d["KillSignal"] == ["SIGTERM"]
    # SIGTERM to the supervisor alone: it drains its workers (gateway/smtp/workers.py)
    assert d["KillMode"] == ["mixed"]
    assert float(d["TimeoutStopSec"][0].rstrip("s")) > LimitsConfig().shutdown_grace
    assert d["CapabilityBoundingSet"] == [""] and d["AmbientCapabilities"] == [""]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectKernelLogs", "MemoryDenyWriteExecute", "LockPersonality",
                "RestrictNamespaces", "RestrictRealtime"):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    assert d["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert d["SystemCallFilter"] == ["@system-service"]
    assert d["StateDirectory"] == ["approach-gateway"]
    # The example's store lives in the state directory (the only writable place).
    assert load_config(EXAMPLE).store.path.startswith("/var/lib/approach-gateway/")
    # The listener needs no capability: the example listens above 1024.
    assert load_config(EXAMPLE).listen.port > 1024


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = need_binary("systemd-analyze")
    # As shipped, the only complaint on a machine without the venv is the missing executable.
    shipped = tmp_path / "shipped" / UNIT.name
    shipped.parent.mkdir()
    shipped.write_text(UNIT.read_text())
    proc = subprocess.run([analyze, "verify", str(shipped)], capture_output=True, text=True, timeout=60)
    complaints = [ln for ln in (proc.stdout + proc.stderr).splitlines() if UNIT.name in ln]
    if Path(INSTALLED_EXEC).exists():
        assert proc.returncode == 0, complaints
    else:
        assert complaints and all(f"Command {INSTALLED_EXEC} is not executable" in ln for ln in complaints), \
            complaints
    # With ExecStart pointing at this interpreter (as installed here), it verifies cleanly.
    local = tmp_path / "local" / UNIT.name
    local.parent.mkdir()
    local.write_text(UNIT.read_text().replace(INSTALLED_EXEC, f"{sys.executable} -m gateway"))
    proc = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert UNIT.name not in proc.stdout + proc.stderr


@pytest.mark.parametrize("mode", ["before-queue", "after-queue"])
def test_postfix_snippets_match_the_example_config(mode: str) -> None:
    cfg = load_config(EXAMPLE)
    master = (SNIPPETS / mode / "master.cf.snippet").read_text()
    main = (SNIPPETS / mode / "main.cf.snippet").read_text()
    filter_addr = f"{cfg.listen.host}:{cfg.listen.port}"
    assert filter_addr in master + main.replace("[127.0.0.1]", "127.0.0.1")
    # The reinjection service: where the gateway relays; never filtered again (loop prevention).
    entry = re.search(rf"(?ms)^{re.escape(cfg.upstream.host)}:{cfg.upstream.port} inet .*?(?=^\S|\Z)", master)
    assert entry, f"{mode}: no reinjection service on {cfg.upstream.host}:{cfg.upstream.port}"
    options = dict(re.findall(r"-o (\w+)=(\S*)", entry.group(0)))
    assert options["content_filter"] == "" and options["smtpd_proxy_filter"] == ""
    assert options["smtpd_authorized_xforward_hosts"] == "127.0.0.0/8"
    assert options["mynetworks"] == "127.0.0.0/8"
    assert options["smtpd_recipient_restrictions"] == "permit_mynetworks,reject"
    assert set(options["receive_override_options"].split(",")) >= {
        "no_unknown_recipient_checks", "no_header_body_checks", "no_milters"}


def test_reject_is_documented_as_before_queue_only() -> None:
    """After-queue, Postfix has answered 250 before the gateway sees the message: the gateway's
    550 becomes a bounce to the envelope sender, which impostors forge (backscatter; admin21 saw
    it on Postfix 3.7 with `high: {reject: true}`). The after-queue snippet, docs/actions.md and
    the README's deployment section say to quarantine or tag there instead."""
    main = (SNIPPETS / "after-queue" / "main.cf.snippet").read_text()
    assert "backscatter" in main and "reject: false" in main and "quarantine: true" in main
    assert "before-queue" in main
    actions = (ROOT / "docs" / "actions.md").read_text()
    [row] = [line for line in actions.splitlines() if line.startswith("| `reject`")]
    assert "only before-queue" in row
    assert "backscatter" in actions and "deploy/postfix/after-queue" in actions
    readme = (ROOT / "README.md").read_text()
    after_queue = readme[readme.index("* **after-queue**"):]
    assert "backscatter" in after_queue[:after_queue.index("\n\n")]
