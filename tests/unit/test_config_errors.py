"""A config file with many independent mistakes: every one is reported in the same run, at its
own line, as `file:line: key: problem; fix`, in line order (gateway/problems.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_config, parse_config
from gateway.problems import Problems, did_you_mean, key_fix, reading_order

MISTAKES = """\
listen: 127.0.0.1
upstream:
  host: 'bad host'
  port: 0
  conect_timeout: 5
  xforward: maybe
hostname: -bad-.example
local_domains: [example.org, 'not a domain']
trusted_networks: [10.0.0.0/8, 10.0.0.300/32]
limits:
  max_recipients: lots
  max_line_length: 500
  analysis_timeout: 0
proxy_protocol: {trusted_networks: []}
dns: {nameservers: [dns.example.org, '127.0.0.1:99999']}
store: {backend: redis}
on_error: maybe
log: {level: loud, format: xml}
signals: {vip_names: [Madonna], rdap_url: 'ftp://rdap.example/{domain}', indicators: [missing.yml]}
quarantine: {retention_days: 0}
arc: {selector: s1}
console: {proxy_user_header: X-User, report_address: nobody}
admin: {listen: 'localhost:9100'}
workers: many
colour: blue
bare_newlines: reject
"""

# (line, key, words in the message): one row per mistake, nothing else may be reported
EXPECTED = [
    (1, "listen", "'127.0.0.1' has no port; write HOST:PORT"),
    (3, "upstream.host", "'bad host' is neither an IP address nor a host name"),
    (4, "upstream.port", "expected an integer from 1 to 65535, got 0"),
    (5, "upstream.conect_timeout", "unknown key; did you mean connect_timeout or command_timeout?"),
    (6, "upstream.xforward", "expected true or false, got 'maybe'"),
    (7, "hostname", "'-bad-.example' is not a valid host name"),
    (8, "local_domains.1", "'not a domain' is not a valid host name"),
    (9, "trusted_networks.1", "'10.0.0.300/32' is not an IP network"),
    (11, "limits.max_recipients", "expected an integer from 1 to 1099511627776, got 'lots'"),
    (12, "limits.max_line_length", "must be at least 1000"),
    (13, "limits.analysis_timeout", "expected a number of seconds from 0.1 to 86400, got 0"),
    (14, "proxy_protocol.trusted_networks", "is empty; list the load balancers' addresses"),
    (15, "dns.nameservers.0", "'dns.example.org' is not an IP address"),
    (15, "dns.nameservers.1", "port 99999 is out of range"),
    (16, "store", "backend redis needs a url; add url: redis://"),
    (17, "on_error", "expected one of accept, tempfail, got 'maybe'"),
    (18, "log.level", "expected one of debug, info, warning, error, got 'loud'"),
    (18, "log.format", "expected one of text, json, got 'xml'"),
    (19, "signals.vip_names.0", "'Madonna' has fewer than two words"),
    (19, "signals.rdap_url", "is not an http(s) URL with {domain}"),
    (19, "signals.indicators.0", "missing.yml' does not exist"),
    (20, "quarantine.retention_days", "expected an integer from 1 to 36500, got 0"),
    (21, "arc", "missing domain"),
    (21, "arc", "missing key_file"),
    (22, "console.report_address", "'nobody' is not a mail address"),
    (22, "console.trusted_proxies", "is empty but proxy_user_header is set"),
    (23, "admin.listen", "'localhost' is not an IP address"),
    (24, "workers", "expected a whole number from 1 to 256 or auto, got 'many'"),
    (25, "colour", "unknown key; remove it or use one of: admin, arc, authserv_id"),
    (26, "bare_newlines", "unknown key; did you mean bare_newline? (or remove it)"),
]


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "gw.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return [e.replace(str(path), "gw.yml") for e in caught.value.errors]


def test_every_mistake_is_reported_at_its_line_in_one_run(tmp_path: Path) -> None:
    errors = _errors(tmp_path, MISTAKES)
    unexpected = list(errors)
    for line, key, words in EXPECTED:
        found = [e for e in unexpected if e.startswith(f"gw.yml:{line}: {key}: ") and words in e]
        assert len(found) == 1, f"line {line} {key}: {words!r} not reported once in:\n" + "\n".join(errors)
        unexpected.remove(found[0])
    assert not unexpected, "reported but not a mistake:\n" + "\n".join(unexpected)
    lines = [int(e.split(":")[1]) for e in errors]
    assert lines == sorted(lines)
    assert all(re.match(r"^gw\.yml:\d+: [\w.]+: .+; .+", e) for e in errors), errors  # problem; fix


# the same file with every mistake fixed, line for line
FIXED = """\
listen: 127.0.0.1:2525
upstream:
  host: 127.0.0.1
  port: 10026
  connect_timeout: 5
  xforward: true
hostname: gw.example.org
local_domains: [example.org]
trusted_networks: [10.0.0.0/8]
limits:
  max_recipients: 10
  max_line_length: 1000
  analysis_timeout: 1
proxy_protocol: {trusted_networks: [192.0.2.0/24]}
dns: {nameservers: [127.0.0.1]}
store: {backend: memory}
on_error: accept
log: {level: info, format: text}
signals: {vip_names: [Dana Prof]}
quarantine: {retention_days: 1}
# no arc
console: {report_address: report@example.org}
admin: {listen: '127.0.0.1:9100'}
workers: 2
# no colour
bare_newline: reject
"""


def test_the_fixed_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "gw.yml"
    path.write_text(FIXED)
    assert load_config(path).workers == 2


@pytest.mark.parametrize("line", sorted({n for n, *_ in EXPECTED}))
def test_each_mistake_alone_gives_only_its_own_errors(tmp_path: Path, line: int) -> None:
    """The mistakes are independent: in the fixed file, one bad line brings back its errors only."""
    rows = FIXED.splitlines()
    rows[line - 1] = MISTAKES.splitlines()[line - 1]
    errors = _errors(tmp_path, "\n".join(rows) + "\n")
    expected = [(key, words) for n, key, words in EXPECTED if n == line]
    assert len(errors) == len(expected), errors
    for key, words in expected:
        assert any(e.startswith(f"gw.yml:{line}: {key}: ") and words in e for e in errors), (key, errors)


def test_every_missing_required_key_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("upstream: {port: 25}\nworkers: 0\n", "gw.yml")
    assert caught.value.errors == [
        "gw.yml:1: (top level): missing required key 'listen'; see deploy/gateway.example.yml for a complete file",
        "gw.yml:1: (top level): missing required key 'hostname'; see deploy/gateway.example.yml for a complete file",
        "gw.yml:1: (top level): missing required key 'local_domains'; see deploy/gateway.example.yml for a "
        "complete file",
        "gw.yml:2: workers: expected a whole number from 1 to 256 or auto, got 0; write e.g. workers: 4, or "
        "workers: auto (one process per core)",
    ]


BASE = "listen: 127.0.0.1:2525\nupstream: {port: 10026}\nhostname: gw.example.org\nlocal_domains: [example.org]\n"


@pytest.mark.parametrize(("extra", "errors"), [
    # a section of the wrong type is one error, not one per key it should have held
    ("limits: [1, 2]\n", ["gw.yml:5: limits: expected a mapping, got list; write it as 'key: value' lines"]),
    ("tls: yes\n", ["gw.yml:5: tls: expected a mapping, got bool; write it as 'key: value' lines"]),
    ("arc: [s1]\n", ["gw.yml:5: arc: expected a mapping, got list; write it as 'key: value' lines"]),
    # a key whose value is wrong is not also blamed by the key that depends on it
    ("proxy_protocol: {trusted_networks: nope}\n",
     ["gw.yml:5: proxy_protocol.trusted_networks: expected a list of networks, got str; write e.g. "
      "[127.0.0.0/8, '::1/128']"]),
    ("store: {backend: redis, url: 5}\n", ["gw.yml:5: store.url: expected a non-empty string, got 5; quote the value"]),
    ("store: {backend: mongodb}\n",
     ["gw.yml:5: store.backend: expected one of sqlite, redis, memory, got 'mongodb'; write one of: sqlite, redis, "
      "memory"]),
    ("policies: 5\nconsole: {policy_dir: /elsewhere}\n",
     ["gw.yml:5: policies: expected a list of paths; write e.g. [policies, /etc/gw/local.d]"]),
    ("console: {proxy_user_header: 'bad header', trusted_proxies: []}\n",
     ["gw.yml:5: console.proxy_user_header: 'bad header' is not a header name; write e.g. X-Remote-User"]),
    # the login throttle's limits: in range, and a maximum lock not shorter than the first
    ("console: {login_failures: 0}\n",
     ["gw.yml:5: console.login_failures: expected an integer from 1 to 1000, got 0; write a whole number in that "
      "range"]),
    ("console: {login_lockout: 600, login_lockout_max: 60}\n",
     ["gw.yml:5: console.login_lockout_max: 60 is less than login_lockout (600); make it at least login_lockout: "
      "the lock doubles from login_lockout up to it"]),
    ("console: {login_lockout: 0, login_lockout_max: 0.5}\n",
     ["gw.yml:5: console.login_lockout: expected a number of seconds from 1 to 86400, got 0; write a number in "
      "that range",
      "gw.yml:5: console.login_lockout_max: expected a number of seconds from 1 to 2592000, got 0.5; write a "
      "number in that range"]),
    ("limits: {max_line_length: 10.5}\n",
     ["gw.yml:5: limits.max_line_length: expected an integer from 1 to 1099511627776, got 10.5; write a whole "
      "number in that range"]),
    # session 48: messages an analysis process holds at once: at least one
    ("limits: {analysis_concurrency: 0}\n",
     ["gw.yml:5: limits.analysis_concurrency: expected an integer from 1 to 64, got 0; write a whole number in that "
      "range"]),
    # admin21: the admin listener on the SMTP address failed at start as "address already in use"
    ("admin: {listen: '127.0.0.1:2525'}\n",
     ["gw.yml:5: admin.listen: 127.0.0.1:2525 is also the SMTP listen address; give the admin listener a port of "
      "its own (the default is 127.0.0.1:10027)"]),
    ("admin: {listen: '0.0.0.0:2525'}\n",
     ["gw.yml:5: admin.listen: 0.0.0.0:2525 is also the SMTP listen address; give the admin listener a port of "
      "its own (the default is 127.0.0.1:10027)"]),
    # a YAML syntax error stops the reading: the rest of the file cannot be trusted
    ("workers: 0\nlimits: {max_recipients: 1\n", None),
])
def test_one_mistake_one_error(extra: str, errors: list[str] | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + extra, "gw.yml")
    if errors is None:
        assert len(caught.value.errors) == 1 and "YAML syntax error" in caught.value.errors[0]
    else:
        assert caught.value.errors == errors


def test_an_admin_listener_on_another_port_or_address_is_fine() -> None:
    assert parse_config(BASE + "admin: {listen: '127.0.0.1:2526'}\n", "gw.yml").admin is not None
    assert parse_config(BASE + "admin: {listen: '127.0.0.2:2525'}\n", "gw.yml").admin is not None


def test_cross_field_rules_are_collected_with_the_rest() -> None:
    text = BASE + ("console: {policy_dir: /elsewhere/local.d, base_url: 'ftp://x'}\n"
                   "store: {backend: redis, url: 'http://x'}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gw.yml")
    keys = [e.split(": ")[1] for e in caught.value.errors]
    assert keys == ["console.policy_dir", "console.base_url", "store.url"], caught.value.errors


def test_reading_order_groups_files_sorts_lines_and_drops_duplicates() -> None:
    got = reading_order([
        "b.yml:9: nine; fix", "a.yml:3: three; fix", "b.yml:2: two; fix", "b.yml:9: nine; fix",
        "a.yml:1: one; fix", "b.yml: no line; fix", "b.yml:10: ten; fix", "a.yml:3: three again; fix",
    ])
    assert got == ["b.yml: no line; fix", "b.yml:2: two; fix", "b.yml:9: nine; fix", "b.yml:10: ten; fix",
                   "a.yml:1: one; fix", "a.yml:3: three; fix", "a.yml:3: three again; fix"]
    p = Problems()
    p.add("x.yml:2", "b", "fix")
    p.add("x.yml:1", "a", "fix")
    p.add("x.yml:2", "b", "fix")
    assert p.report() == ["x.yml:1: a; fix", "x.yml:2: b; fix"]


def test_did_you_mean_only_when_close() -> None:
    assert did_you_mean("lisen", ["listen", "console"]) == "did you mean listen?"
    assert did_you_mean("colour", ["listen", "console"]) is None
    assert key_fix("colour", ["listen", "console"]) == "remove it or use one of: listen, console"
    assert key_fix("consol", ["listen", "console"], "use one of") == "did you mean console? (or remove it)"


def test_the_readme_example_prints_what_the_readme_says() -> None:
    """README 'Configuration errors': the example file and the output shown for it."""
    from tests.unit.test_docs import ALL

    shown = [b for b in ALL if b.file.name == "README.md" and b.skip and "test_config_errors.py" in b.skip]
    assert len(shown) == 2, "README lost its configuration errors example"
    example, output = shown
    with pytest.raises(ConfigError) as caught:
        parse_config(example.text, "/etc/approach-gateway/gateway.yml")
    assert output.text.splitlines() == [f"config error: {e}" for e in caught.value.errors]


def test_a_bad_policies_path_is_named_at_its_config_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ops23: a missing, misplaced or unreadable `policies` entry was reported by the policy loader
    as '/x/nosuchdir: policy path does not exist' (no config file, no line), a file named where a
    folder was meant was loaded as a policy, and an unlistable folder crashed the loader."""
    (tmp_path / "notes").write_text("")  # a plain file, not a policy
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "local.d").write_text("")  # local.d as a file
    (tmp_path / "locked").mkdir()
    (tmp_path / "ok").mkdir()
    (tmp_path / "one.yml").write_text("")
    real = os.listdir

    def listdir(path: Any) -> list[str]:  # root reads every folder: refuse this one as a mode 000 would
        if Path(path) == tmp_path / "locked":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    errors = _errors(tmp_path, BASE + "policies:\n  - ok\n  - one.yml\n  - nosuchdir\n  - notes\n"
                     "  - notes/local.d\n  - odd\n  - locked\n")
    fix = "give a folder of *.yml policy files or one *.yml file (relative paths start at the config file's folder)"
    t = str(tmp_path)
    assert errors == [
        f"gw.yml:8: policies.2: '{t}/nosuchdir' does not exist; {fix}",
        f"gw.yml:9: policies.3: '{t}/notes' is a file, not a folder of policy files nor a *.yml policy file; "
        f"{fix}",
        f"gw.yml:10: policies.4: '{t}/notes/local.d' does not exist (a file stands where its path needs a "
        f"folder); {fix}",
        f"gw.yml:11: policies.5: '{t}/odd' has a local.d that is not a folder; {fix}",
        f"gw.yml:12: policies.6: '{t}/locked' cannot be listed ({t}/locked: Permission denied); {fix}",
    ]
    assert _errors(tmp_path, BASE + "policies: nosuchdir\n") == [
        f"gw.yml:5: policies: '{t}/nosuchdir' does not exist; {fix}"]
