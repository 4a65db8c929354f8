"""Settings: one YAML file -> validated, frozen objects.

Purpose: every key the gateway reads is declared here with its type, default and check. Every
problem in the file is collected (gateway/problems.py, as for policies and reference data) and
reported at once, one `file:line: key: problem; fix` a line in line order: an unknown key (with
"did you mean" when a known key is close), a missing required key, a wrong type, a number out of
range, a bad address, port or choice, or two keys that do not go together. Only a YAML syntax
error or a duplicate key stops the reading where it is (the rest cannot be trusted).

Untrusted input: the admin's config file (trusted author, but typos are expected). Nothing here
touches the network.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import AdminInputError
from gateway.problems import Problems, key_fix
from gateway.yamlmarks import Located, YamlError, load_located, loads_located

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def shipped_policies() -> str:
    """The shipped policies: installed inside the package as `gateway/shipped_policies` (see
    pyproject.toml), or `policies/` beside the package in a source checkout."""
    inside = Path(__file__).resolve().parent / "shipped_policies"
    return str(inside if inside.is_dir() else Path(__file__).resolve().parent.parent / "policies")


class ConfigError(AdminInputError):
    """The config file is invalid. `errors` lists every problem, in line order, each naming
    file, line, key and the fix."""

    kind = "config error"


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class UpstreamConfig:
    host: str = "127.0.0.1"
    port: int = 10026
    connect_timeout: float = 30.0
    command_timeout: float = 300.0
    data_timeout: float = 600.0
    xforward: bool = True
    helo_name: str | None = None


@dataclass(frozen=True)
class LimitsConfig:
    """Limits on what an outsider controls. README 'Limits' documents what the client sees."""

    max_message_size: int = 10_240_000  # Postfix message_size_limit default
    max_recipients: int = 1000  # Postfix smtpd_recipient_limit
    max_header_count: int = 1000
    max_header_bytes: int = 102_400  # Postfix header_size_limit
    max_mime_depth: int = 20
    max_mime_parts: int = 500
    max_line_length: int = 8192
    max_connections: int = 100  # Postfix default_process_limit
    max_connections_per_ip: int = 20
    analysis_timeout: float = 20.0
    session_timeout: float = 300.0  # Postfix smtpd_timeout: client silence, also during DATA
    session_lifetime: float = 3600.0  # one connection, however busy
    junk_command_limit: int = 100  # Postfix smtpd_junk_command_limit: NOOP, VRFY, RSET, HELO...
    error_limit: int = 20  # Postfix smtpd_hard_error_limit: refused commands without a delivered message
    shutdown_grace: float = 30.0
    max_text_bytes: int = 1_048_576  # decoded text the checks may read
    offload_bytes: int = 262_144  # `serve`: larger messages are analysed in a child process
    analysis_processes: int = 1  # `serve`: child processes per worker for them; 0 analyses in-process
    analysis_concurrency: int = 4  # `serve`: messages one such process analyses at once (one client: half the places)


@dataclass(frozen=True)
class TlsConfig:
    cert: str
    key: str


@dataclass(frozen=True)
class ProxyProtocolConfig:
    trusted_networks: tuple[Network, ...]
    timeout: float = 5.0


@dataclass(frozen=True)
class DnsConfig:
    nameservers: tuple[HostPort, ...] = ()
    timeout: float = 3.0


@dataclass(frozen=True)
class StoreConfig:
    backend: str = "sqlite"
    path: str = "approach-gateway.sqlite3"
    url: str | None = None  # backend redis: redis://, rediss://, unix://, redis+sentinel:// (docs/store.md)
    retention_days: int = 400
    prefix: str = "approach:"  # backend redis: every key starts with it (several stores in one database)
    timeout: float = 0.25  # backend redis: seconds per operation, then StoreUnavailable


@dataclass(frozen=True)
class SignalsConfig:
    """Inputs of the sender/identity/content checks (gateway/checks/*). Defaults work offline."""

    freemail_extra: tuple[str, ...] = ()  # more free-mail domains
    freemail_files: tuple[str, ...] = ()  # files: one domain a line
    disposable_extra: tuple[str, ...] = ()
    disposable_files: tuple[str, ...] = ()
    organisations_files: tuple[str, ...] = ()  # extra organisations (gateway/data/organisations.yml format)
    vip_names: tuple[str, ...] = ()  # protected people: their names from outside are signalled
    staff_names_file: str | None = None  # internal staff names, one a line
    notification_domains: tuple[str, ...] = ()  # more senders whose Reply-To may differ by design
    indicators: tuple[str, ...] = ()  # indicator files (YAML) from published alerts
    dnsbl_zones: tuple[str, ...] = ()  # IP blocklists queried with the client IP
    rhsbl_zones: tuple[str, ...] = ()  # domain blocklists queried with the sender's domain
    # Domain age lookups go to a third party (and reveal who writes to you): off unless set.
    rdap_url: str | None = None
    rdap_timeout: float = 4.0
    young_domain_days: int = 90


@dataclass(frozen=True)
class ArcConfig:
    """ARC sealing (RFC 8617) of messages the gateway modified (banner, subject tag)."""

    selector: str
    domain: str
    key_file: str  # PEM private key; `selector._domainkey.domain` publishes the public key


@dataclass(frozen=True)
class QuarantineConfig:
    dir: str = "quarantine"  # messages held by the `quarantine` action (relative: to the config)
    retention_days: int = 30


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "text"


@dataclass(frozen=True)
class ConsoleConfig:
    """The security team's web console (gateway/admin/console/, docs/console.md); the staff
    report mailbox works without the console being served."""

    state_dir: str = "console"  # users, sessions, triage, audit (console.sqlite3) and reported originals
    indicators_dir: str = ""  # indicator files the console writes, all loaded (default: STATE_DIR/indicators)
    policy_dir: str = ""  # the local.d the policy editor writes (default: local.d of the last policy folder)
    report_address: str | None = None  # staff send reports here; taken into triage at end of DATA
    base_url: str = ""  # the console's public URL, for links in acknowledgements (https://gw.example.org/console)
    session_idle: float = 1800.0  # seconds without a request before a session expires
    session_max: float = 28800.0  # seconds after login a session expires regardless
    proxy_user_header: str | None = None  # a reverse proxy's authenticated-user header, e.g. X-Remote-User
    trusted_proxies: tuple[Network, ...] = ()  # the only peers whose proxy_user_header is believed
    report_window_days: int = 14  # how far back a report link's Message-ID is looked up
    report_retention_days: int = 400  # triaged reports and their originals older than this are deleted (hourly)
    reports_per_hour: int = 30  # reports one person may file in an hour by link, and as many by mail (apart)
    login_failures: int = 5  # failed logins of one account name that lock it (any address)
    login_failures_per_address: int = 20  # failed logins from one client address (any names) that lock it
    login_window: float = 900.0  # seconds: failures are forgotten after this long without one
    login_lockout: float = 60.0  # seconds of the first lock; each further failure locks again, twice as long...
    login_lockout_max: float = 3600.0  # ...up to this many seconds


@dataclass(frozen=True)
class AdminConfig:
    """The admin HTTP listener (gateway/admin/): /metrics, /healthz, /readyz and the console.
    Off unless `admin:` is set; loopback by default (it has no authentication of its own)."""

    listen: HostPort = field(default_factory=lambda: HostPort("127.0.0.1", 10027))
    console: bool = False  # mount the security team's console at /console/
    probe_interval: float = 10.0  # seconds between upstream probes (/readyz, approach_gateway_upstream_up)
    # against slow clients (gateway/admin/guard.py; Apache mod_reqtimeout header=20-40,MinRate=500 body=20,MinRate=500)
    header_timeout: float = 20.0  # seconds for a request's head (from the connection's opening, or its first byte)...
    header_timeout_max: float = 40.0  # ...extended by a second per min_rate bytes received, up to this many
    body_timeout: float = 20.0  # seconds for a request's body, extended by a second per min_rate bytes received
    min_rate: int = 500  # bytes per second a client must keep up to earn more time
    io_timeout: float = 60.0  # Apache's Timeout: no byte of a body received, or of a response taken, for this long
    max_per_address: int = 32  # open connections from one address (IPv6: its /64); console.trusted_proxies exempt


@dataclass(frozen=True)
class Config:
    listen: HostPort
    upstream: UpstreamConfig
    hostname: str
    authserv_id: str
    local_domains: tuple[str, ...]
    trusted_networks: tuple[Network, ...] = ()
    xforward_hosts: tuple[Network, ...] = ()
    trusted_authserv_ids: tuple[str, ...] = ()
    trusted_arc_sealers: tuple[str, ...] = ()
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    tls: TlsConfig | None = None
    proxy_protocol: ProxyProtocolConfig | None = None
    dns: DnsConfig = field(default_factory=DnsConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    policies: tuple[str, ...] = field(default_factory=lambda: (shipped_policies(),))
    on_error: str = "accept"
    bare_newline: str = "normalize"
    log: LogConfig = field(default_factory=LogConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    quarantine: QuarantineConfig = field(default_factory=QuarantineConfig)
    arc: ArcConfig | None = None
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    admin: AdminConfig | None = None
    workers: int | str = "auto"  # `serve` processes: a number, or "auto" (one per usable core)
    source: str = "<defaults>"

    def worker_count(self) -> int:
        """How many `serve` worker processes: `workers`, with `auto` the cores this process may
        run on (its CPU affinity, e.g. a container's cpuset; os.cpu_count() where that is unknown)."""
        if isinstance(self.workers, int):
            return self.workers
        return usable_cores()

    def is_local_domain(self, domain: str) -> bool:
        """Exactly one of `local_domains` (the relay rule: recipients accepted)."""
        d = domain.lower().rstrip(".")
        return any(d == ld for ld in self.local_domains)

    def arc_sealer_trusted(self, domain: str) -> bool:
        """One of `trusted_arc_sealers` or a subdomain of one (as `local_domains`: a listed domain's owner runs its
        subdomains' keys). Our own `arc.domain` only when listed: no sealer is trusted implicitly."""
        d = domain.lower().rstrip(".")
        return bool(d) and any(d == t or d.endswith("." + t) for t in self.trusted_arc_sealers)

    def is_internal_domain(self, domain: str) -> bool:
        """One of `local_domains` or a subdomain of one (lists.example.org): the organisation's own."""
        d = domain.lower().rstrip(".")
        return any(d == ld or d.endswith("." + ld) for ld in self.local_domains)


def in_networks(ip: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether the client address `ip` is in one of `networks` (an IPv4-mapped IPv6 address as
    its IPv4 address; a zone index ignored); False for no address or an unreadable one."""
    if not ip or not networks:
        return False
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


def client_key(ip: str) -> str:
    """What per-client limits count: the address, or its /64 for IPv6 (one host's share)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and not addr.ipv4_mapped:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr.ipv4_mapped or addr) if isinstance(addr, ipaddress.IPv6Address) else str(addr)


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


MAX_WORKERS = 256


# --------------------------------------------------------------------------- validation

Key = tuple[Any, ...]
T = TypeVar("T")
_ABSENT: Any = object()
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
TOP_KEYS = ("listen", "upstream", "hostname", "authserv_id", "local_domains", "trusted_networks",
            "xforward_hosts", "trusted_authserv_ids", "trusted_arc_sealers", "limits", "tls", "proxy_protocol", "dns",
            "store", "policies", "on_error", "bare_newline", "log", "signals", "quarantine", "arc", "console", "admin",
            "workers")
REQUIRED = ("listen", "upstream", "hostname", "local_domains")
_NETWORKS = ("expected a list of networks", "write e.g. [127.0.0.0/8, '::1/128']")
_DOMAINS = ("expected a non-empty list of domains", "write e.g. local_domains: [example.org]")
_LIST = ("expected a list", "write e.g. [a, b]")


class _Bad(Exception):
    """One value is wrong: the problem and its fix (`_Reader` records them at the value's key)."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


class _Reader:
    """The config document, read key by key. Every problem is recorded in `problems`
    (gateway/problems.py, the collector policies and reference data use) as
    `file:line: key: problem; fix`, and reading goes on with the key's default, so one run
    reports every mistake; `ok` tells the checks that relate two keys whether both were valid."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.problems = Problems()
        self._failed: list[Key] = []

    def fail(self, path: Key, problem: str, fix: str) -> None:
        key = ".".join(str(p) for p in path) or "(top level)"
        self.problems.add(self.doc.where(path), f"{key}: {problem}", fix)
        self._failed.append(path)

    def ok(self, *paths: Key) -> bool:
        """No problem was recorded at or under any of `paths`."""
        return not any(f[:len(p)] == p for f in self._failed for p in paths)

    def raw(self, path: Key, default: Any = None) -> Any:
        """The value at `path` as written; `default` where there is none, also under a section
        that is not a mapping (reported once, at the section)."""
        node = self.doc.value
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def has(self, path: Key) -> bool:
        return self.raw(path, _ABSENT) is not _ABSENT

    def get(self, path: Key, default: T, check: Callable[[Any], T]) -> T:
        """`check` of the value at `path`; `default` when the key is absent or its value is wrong."""
        value = self.raw(path, _ABSENT)
        if value is _ABSENT:
            return default
        try:
            return check(value)
        except _Bad as bad:
            self.fail(path, bad.problem, bad.fix)
            return default

    def items(self, path: Key, check: Callable[[Any], T], problem: str, fix: str, *,
              nonempty: bool = False, one: bool = False) -> tuple[T, ...]:
        """A list (absent or null: empty; with `one`, a single string is a list of one), each
        item checked at its own key; the valid items."""
        value = self.raw(path, _ABSENT)
        if value is _ABSENT:
            return ()
        value = [] if value is None else [value] if one and isinstance(value, str) else value
        if not isinstance(value, list):
            self.fail(path, f"{problem}, got {type(value).__name__}", fix)
            return ()
        if nonempty and not value:
            self.fail(path, problem, fix)
            return ()
        out = []
        for i, item in enumerate(value):
            try:
                out.append(check(item))
            except _Bad as bad:
                self.fail(path + (i,), bad.problem, bad.fix)
        return tuple(out)

    def section(self, path: Key, allowed: Iterable[str]) -> bool:
        """A mapping (or nothing) of `allowed` keys: each other key is an error; False when the
        value is not a mapping."""
        value = self.raw(path)
        if value is None:
            return True
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type(value).__name__}", "write it as 'key: value' lines")
            return False
        names = sorted(allowed)
        for key in value:
            if key not in names:
                self.fail(path + (key,), "unknown key", key_fix(key, names))
        return True


# ---- checks of one value: the value as the config keeps it, or _Bad

def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Bad(f"expected an integer from {lo} to {hi}, got {value!r}", "write a whole number in that range")
        return value
    return check


def _seconds(lo: float, hi: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise _Bad(f"expected a number of seconds from {lo} to {hi}, got {value!r}",
                       "write a number in that range")
        return float(value)
    return check


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Bad(f"expected one of {', '.join(choices)}, got {value!r}", f"write one of: {', '.join(choices)}")
        return str(value)
    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected true or false, got {value!r}", "write true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Bad(f"expected a non-empty string, got {value!r}", "quote the value")
    return value


def _hostname(value: Any) -> str:
    text = _text(value)
    if not _HOSTNAME.match(text):
        raise _Bad(f"{text!r} is not a valid host name", "write a name like mx.example.org")
    return text.lower().rstrip(".")


def _host_port(default_port: int | None) -> Callable[[Any], HostPort]:
    def check(value: Any) -> HostPort:
        text = str(value).strip() if isinstance(value, (str, int)) else ""
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text)
        if not m:
            raise _Bad(f"{value!r} is not HOST:PORT", "write e.g. 127.0.0.1:2525 or [::1]:2525")
        host, port_text = m.group(1) or m.group(3), m.group(2) or m.group(4)
        if port_text is None and default_port is None:
            raise _Bad(f"{value!r} has no port", "write HOST:PORT, e.g. 127.0.0.1:2525")
        port = int(port_text) if port_text is not None else default_port
        assert port is not None
        if not 0 <= port <= 65535:
            raise _Bad(f"port {port} is out of range", "use a port from 0 to 65535")
        if not _is_ip(host) and not _HOSTNAME.match(host):
            raise _Bad(f"{host!r} is neither an IP address nor a host name", "write an address like 127.0.0.1")
        return HostPort(host, port)
    return check


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _nameserver(value: Any) -> HostPort:
    """A DNS server is an IP address (a name would need a resolver to find the resolver)."""
    hp = _host_port(53)(value)
    if not _is_ip(hp.host):
        raise _Bad(f"{hp.host!r} is not an IP address", "write the resolver's address, e.g. 127.0.0.1:53 or [::1]:53")
    return hp


def _admin_listen(value: Any) -> HostPort:
    hp = _host_port(None)(value)
    if not _is_ip(hp.host):
        raise _Bad(f"{hp.host!r} is not an IP address",
                   "write an address of this machine, e.g. 127.0.0.1:10027 (the default)")
    return hp


def _network(value: Any) -> Network:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise _Bad(f"{value!r} is not an IP network", "write CIDR like 192.0.2.0/24") from None


def _file(base: Path | None, fix: str) -> Callable[[Any], str]:
    """A readable regular file; relative to `base` (kept as written when `base` is None)."""
    def check(value: Any) -> str:
        text = _text(value)
        full = text if base is None or Path(text).is_absolute() else str(base / text)
        problem = _unreadable(Path(full))
        if problem:
            raise _Bad(f"file {full!r} {problem}", fix)
        return full
    return check


def _unreadable(path: Path) -> str | None:
    """Why `path` is not a readable regular file, or None."""
    if not path.exists():
        return "does not exist"
    if not path.is_file():
        return "is not a regular file"
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def _person(value: Any) -> str:
    """A protected person's name: two words at least (one word would match too much)."""
    from gateway.domains import name_tokens

    text = _text(value)
    if len(name_tokens(text)) < 2:
        raise _Bad(f"{text!r} has fewer than two words", "write a first and a last name")
    return text


def _prefix(value: Any) -> str:
    prefix = _text(value)
    if len(prefix) > 64 or not prefix.isprintable() or " " in prefix:
        raise _Bad(f"{prefix!r} is not a short printable word",
                   "write up to 64 characters without spaces, e.g. approach:")
    return prefix


def _workers(value: Any) -> int | str:
    """`workers`: how many `serve` processes share the listener; `auto` is one per usable core."""
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise _Bad(f"expected a whole number from 1 to {MAX_WORKERS} or auto, got {value!r}",
                   "write e.g. workers: 4, or workers: auto (one process per core)")
    return value


# ---- the document

def _build(doc: Located) -> Config:
    """Every key checked, every problem recorded; ConfigError listing them all, in line order."""
    r = _Reader(doc)
    if r.section((), TOP_KEYS):
        for key in REQUIRED:
            if not r.has((key,)):
                r.fail((), f"missing required key '{key}'", "see deploy/gateway.example.yml for a complete file")
    base = Path(doc.file).parent if not doc.file.startswith("<") else Path(".")
    hostname = r.get(("hostname",), "", _hostname)
    listen = r.get(("listen",), HostPort("", 0), _host_port(None))
    upstream, limits = _upstream(r), _limits(r)
    tls, proxy, dns, store = _tls(r), _proxy_protocol(r), _dns(r), _store(r, base)
    quarantine, arc, log = _quarantine(r, base), _arc(r, base), _log(r)
    policies = _policies(r, base)
    console, signals, admin = _console(r, base, policies), _signals(r, base), _admin(r)
    if admin is not None and listen.port and admin.listen.port == listen.port and (
            admin.listen.host == listen.host or {admin.listen.host, listen.host} & _ANY_ADDRESS):
        # admin21: the admin listener then failed at start as "address already in use (another
        # process listens there)", while the other listener was our own SMTP one
        r.fail(("admin", "listen"), f"{admin.listen.host}:{admin.listen.port} is also the SMTP listen address",
               "give the admin listener a port of its own (the default is 127.0.0.1:10027)")
    authserv_id = r.get(("authserv_id",), hostname, _hostname)
    local_domains = r.items(("local_domains",), _hostname, *_DOMAINS, nonempty=True)
    trusted_networks = r.items(("trusted_networks",), _network, *_NETWORKS)
    xforward_hosts = r.items(("xforward_hosts",), _network, *_NETWORKS)
    trusted_authserv_ids = r.items(("trusted_authserv_ids",), _hostname, *_DOMAINS)
    trusted_arc_sealers = r.items(("trusted_arc_sealers",), _hostname, *_DOMAINS)
    on_error = r.get(("on_error",), "accept", _choice("accept", "tempfail"))
    bare_newline = r.get(("bare_newline",), "normalize", _choice("normalize", "reject"))
    auto: int | str = "auto"
    workers = r.get(("workers",), auto, _workers)
    if r.problems.errors:
        raise ConfigError(r.problems.report())
    return Config(
        listen=listen, upstream=upstream, hostname=hostname, authserv_id=authserv_id,
        local_domains=local_domains, trusted_networks=trusted_networks, xforward_hosts=xforward_hosts,
        trusted_authserv_ids=trusted_authserv_ids, trusted_arc_sealers=trusted_arc_sealers, limits=limits, tls=tls,
        proxy_protocol=proxy, dns=dns,
        store=store, policies=policies, on_error=on_error, bare_newline=bare_newline, log=log, signals=signals,
        quarantine=quarantine, arc=arc, console=console, admin=admin, workers=workers, source=doc.file)


def _upstream(r: _Reader) -> UpstreamConfig:
    p, d = ("upstream",), UpstreamConfig()
    r.section(p, UpstreamConfig.__dataclass_fields__)
    return UpstreamConfig(
        host=r.get(p + ("host",), HostPort(d.host, 25), _host_port(25)).host,
        port=r.get(p + ("port",), d.port, _int(1, 65535)),
        connect_timeout=r.get(p + ("connect_timeout",), d.connect_timeout, _seconds(0.1, 600)),
        command_timeout=r.get(p + ("command_timeout",), d.command_timeout, _seconds(0.1, 3600)),
        data_timeout=r.get(p + ("data_timeout",), d.data_timeout, _seconds(0.1, 3600)),
        xforward=r.get(p + ("xforward",), d.xforward, _bool),
        helo_name=r.get(p + ("helo_name",), d.helo_name, _hostname),
    )


_INT_LIMITS = ("max_message_size", "max_recipients", "max_header_count", "max_header_bytes", "max_mime_depth",
               "max_mime_parts", "max_line_length", "max_connections", "max_connections_per_ip", "max_text_bytes",
               "junk_command_limit", "error_limit", "offload_bytes")
_SECONDS_LIMITS = ("analysis_timeout", "session_timeout", "session_lifetime", "shutdown_grace")


def _limits(r: _Reader) -> LimitsConfig:
    p, d = ("limits",), LimitsConfig()
    r.section(p, LimitsConfig.__dataclass_fields__)
    ints = {k: r.get(p + (k,), getattr(d, k), _int(1, 2**40)) for k in _INT_LIMITS}
    if ints["max_line_length"] < 1000:
        r.fail(p + ("max_line_length",), "must be at least 1000 (RFC 5321 4.5.3.1.6)", "raise it to 1000 or more")
    seconds = {k: r.get(p + (k,), getattr(d, k), _seconds(0.1, 86400)) for k in _SECONDS_LIMITS}
    processes = r.get(p + ("analysis_processes",), d.analysis_processes, _int(0, 64))
    concurrency = r.get(p + ("analysis_concurrency",), d.analysis_concurrency, _int(1, 64))
    return LimitsConfig(**ints, **seconds, analysis_processes=processes, analysis_concurrency=concurrency)


def _tls(r: _Reader) -> TlsConfig | None:
    p = ("tls",)
    if r.raw(p) is None or not r.section(p, ("cert", "key")):
        return None
    pem = _file(None, "give the path of a PEM file readable by the gateway")  # relative: to the working directory
    files = {}
    for k in ("cert", "key"):
        if r.has(p + (k,)):
            files[k] = r.get(p + (k,), "", pem)
        else:
            r.fail(p + (k,), "missing (tls needs both cert and key)",
                   "give the path of a PEM file readable by the gateway")
    return TlsConfig(cert=files.get("cert", ""), key=files.get("key", ""))


def _proxy_protocol(r: _Reader) -> ProxyProtocolConfig | None:
    p = ("proxy_protocol",)
    if r.raw(p) is None or not r.section(p, ("trusted_networks", "timeout")):
        return None
    nets = r.items(p + ("trusted_networks",), _network, *_NETWORKS)
    if not nets and r.ok(p + ("trusted_networks",)):
        r.fail(p + ("trusted_networks",), "is empty", "list the load balancers' addresses, or remove proxy_protocol")
    return ProxyProtocolConfig(nets, r.get(p + ("timeout",), 5.0, _seconds(0.5, 120)))


def _dns(r: _Reader) -> DnsConfig:
    p, d = ("dns",), DnsConfig()
    r.section(p, ("nameservers", "timeout"))
    return DnsConfig(r.items(p + ("nameservers",), _nameserver, "expected a list", "write e.g. [127.0.0.1:53]"),
                     r.get(p + ("timeout",), d.timeout, _seconds(0.05, 60)))


def _store(r: _Reader, base: Path) -> StoreConfig:
    p, d = ("store",), StoreConfig()
    r.section(p, StoreConfig.__dataclass_fields__)
    path = r.get(p + ("path",), d.path, _text)
    if r.has(p + ("path",)) and path != ":memory:" and not Path(path).is_absolute():
        path = str(base / path)  # an explicit relative path starts at the config's folder
    backend = r.get(p + ("backend",), d.backend, _choice("sqlite", "redis", "memory"))
    url = r.get(p + ("url",), d.url, _text)
    if backend == "redis" and r.ok(p + ("url",)):
        if url is None:
            r.fail(p, "backend redis needs a url", "add url: redis://127.0.0.1:6379/0")
        else:
            from gateway.store.redis import RedisUrlError, parse_redis_url

            try:
                parse_redis_url(url)
            except RedisUrlError as exc:
                r.fail(p + ("url",), exc.problem, exc.fix)
    return StoreConfig(backend=backend, path=path, url=url,
                       retention_days=r.get(p + ("retention_days",), d.retention_days, _int(1, 36500)),
                       prefix=r.get(p + ("prefix",), d.prefix, _prefix),
                       timeout=r.get(p + ("timeout",), d.timeout, _seconds(0.01, 60)))


def _quarantine(r: _Reader, base: Path) -> QuarantineConfig:
    p, d = ("quarantine",), QuarantineConfig()
    r.section(p, ("dir", "retention_days"))
    qdir = r.get(p + ("dir",), d.dir, _text)
    return QuarantineConfig(dir=qdir if Path(qdir).is_absolute() else str(base / qdir),
                            retention_days=r.get(p + ("retention_days",), d.retention_days, _int(1, 36500)))


def _arc(r: _Reader, base: Path) -> ArcConfig | None:
    p = ("arc",)
    if r.raw(p) is None or not r.section(p, ("selector", "domain", "key_file")):
        return None
    for k in ("selector", "domain", "key_file"):
        if not r.has(p + (k,)):
            r.fail(p, f"missing {k}", "give selector, domain and key_file, or remove arc")
    return ArcConfig(selector=r.get(p + ("selector",), "", _text), domain=r.get(p + ("domain",), "", _hostname),
                     key_file=r.get(p + ("key_file",), "", _file(
                         base, "give the path of the PEM private key the gateway seals with")))


def _log(r: _Reader) -> LogConfig:
    p, d = ("log",), LogConfig()
    r.section(p, ("level", "format"))
    return LogConfig(r.get(p + ("level",), d.level, _choice("debug", "info", "warning", "error")),
                     r.get(p + ("format",), d.format, _choice("text", "json")))


def _policies(r: _Reader, base: Path) -> tuple[str, ...]:
    pol = r.raw(("policies",), [shipped_policies()])
    one = isinstance(pol, str)
    pol = [pol] if one else pol
    if not isinstance(pol, list):
        r.fail(("policies",), "expected a list of paths", "write e.g. [policies, /etc/gw/local.d]")
        return ()
    out = tuple(str(p) if Path(str(p)).is_absolute() else str(base / str(p)) for p in pol)
    for i, full in enumerate(out):
        # ops23: a missing or unreadable path was reported by the policy loader as
        # "/etc/gw/x: policy path does not exist", naming neither the config file nor its line
        problem = _policy_path_problem(Path(full))
        if problem:
            r.fail(("policies",) if one else ("policies", i), f"{full!r} {problem}",
                   "give a folder of *.yml policy files or one *.yml file (relative paths start at the "
                   "config file's folder)")
    return out


def _policy_path_problem(path: Path) -> str | None:
    """Why `path` cannot be a `policies` entry, or None: a listable folder (its local.d, when
    there is one, too) or a readable regular *.yml/*.yaml file (what the loader reads)."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return "does not exist"
        if exc.errno == errno.ENOTDIR:
            return "does not exist (a file stands where its path needs a folder)"
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        local = path / "local.d"
        if local.exists() and not local.is_dir():
            return "has a local.d that is not a folder"
        for d in (path, local) if local.exists() else (path,):
            try:
                os.listdir(d)
            except OSError as exc:
                return f"cannot be listed ({d}: {exc.strerror or exc})"
        return None
    if stat.S_ISREG(st.st_mode) and path.suffix not in (".yml", ".yaml"):
        return "is a file, not a folder of policy files nor a *.yml policy file"
    return _unreadable(path)


_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "*"})  # noqa: S104 - compared with, never bound


def _admin(r: _Reader) -> AdminConfig | None:
    """`admin:` present (even empty) turns the admin listener on; absent keeps it off."""
    p, d = ("admin",), AdminConfig()
    if not r.has(p):
        return None
    r.section(p, AdminConfig.__dataclass_fields__)
    header = r.get(p + ("header_timeout",), d.header_timeout, _seconds(0.1, 3600))
    header_max = r.get(p + ("header_timeout_max",), max(d.header_timeout_max, header), _seconds(0.1, 3600))
    if header_max < header and r.ok(p + ("header_timeout",), p + ("header_timeout_max",)):
        r.fail(p + ("header_timeout_max",), f"{header_max:g} is less than header_timeout ({header:g})",
               "make it at least header_timeout: a head's time grows from header_timeout up to it")
    return AdminConfig(listen=r.get(p + ("listen",), d.listen, _admin_listen),
                       console=r.get(p + ("console",), d.console, _bool),
                       probe_interval=r.get(p + ("probe_interval",), d.probe_interval, _seconds(0.5, 3600)),
                       header_timeout=header, header_timeout_max=header_max,
                       body_timeout=r.get(p + ("body_timeout",), d.body_timeout, _seconds(0.1, 3600)),
                       min_rate=r.get(p + ("min_rate",), d.min_rate, _int(1, 1_000_000_000)),
                       io_timeout=r.get(p + ("io_timeout",), d.io_timeout, _seconds(0.1, 3600)),
                       max_per_address=r.get(p + ("max_per_address",), d.max_per_address, _int(1, 100_000)))


def _optional(pattern: re.Pattern[str], problem: str, fix: str) -> Callable[[Any], str | None]:
    """Null, or text matching `pattern`."""
    def check(value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not pattern.match(value)):
            raise _Bad(f"{value!r} {problem}", fix)
        return value
    return check


_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")
_RDAP_URL = re.compile(r"^https?://[^/\s]+.*\{domain\}")


def _console(r: _Reader, base: Path, policies: tuple[str, ...]) -> ConsoleConfig:
    p, d = ("console",), ConsoleConfig()
    r.section(p, ConsoleConfig.__dataclass_fields__)

    def path(key: str, default: str) -> str:
        text = r.get(p + (key,), default, _text)
        return text if Path(text).is_absolute() else str(base / text)

    state_dir = path("state_dir", d.state_dir)
    indicators_dir = path("indicators_dir", str(Path(state_dir) / "indicators"))
    dirs = [x for x in policies if not Path(x).is_file()]
    if r.has(p + ("policy_dir",)):
        policy_dir = path("policy_dir", "")
        loaded = [str(Path(x)) for x in dirs] + [str(Path(x) / "local.d") for x in dirs]
        if r.ok(p + ("policy_dir",), ("policies",)) and str(Path(policy_dir)) not in loaded:
            r.fail(p + ("policy_dir",), f"{policy_dir!r} is not read by 'policies'",
                   "name a folder listed in policies, or the local.d of one")
    else:
        policy_dir = str(Path(dirs[-1]) / "local.d") if dirs else ""
    report = r.get(p + ("report_address",), None, _optional(
        _ADDRESS, "is not a mail address", "write e.g. report-approach@example.org (an address in local_domains)"))
    url = _optional(_URL, "is not an http(s) URL", "write e.g. https://gw.example.org/console")
    base_url = r.get(p + ("base_url",), None, lambda v: url(v or None))  # empty: no links
    header = r.get(p + ("proxy_user_header",), None, _optional(_HEADER_NAME, "is not a header name",
                                                                 "write e.g. X-Remote-User"))
    proxies = r.items(p + ("trusted_proxies",), _network, *_NETWORKS)
    if header and not proxies and r.ok(p + ("trusted_proxies",)):
        r.fail(p + ("trusted_proxies",), "is empty but proxy_user_header is set",
               "list the reverse proxy's addresses, e.g. [127.0.0.1/32], or remove proxy_user_header")
    lockout = r.get(p + ("login_lockout",), d.login_lockout, _seconds(1, 86400))
    lockout_max = r.get(p + ("login_lockout_max",), max(d.login_lockout_max, lockout), _seconds(1, 30 * 86400))
    if lockout_max < lockout and r.ok(p + ("login_lockout",), p + ("login_lockout_max",)):
        r.fail(p + ("login_lockout_max",), f"{lockout_max:g} is less than login_lockout ({lockout:g})",
               "make it at least login_lockout: the lock doubles from login_lockout up to it")
    return ConsoleConfig(
        state_dir=state_dir, indicators_dir=indicators_dir, policy_dir=policy_dir,
        report_address=report.lower() if report else None, base_url=(base_url or "").rstrip("/"),
        session_idle=r.get(p + ("session_idle",), d.session_idle, _seconds(60, 86400)),
        session_max=r.get(p + ("session_max",), d.session_max, _seconds(60, 7 * 86400)),
        proxy_user_header=header, trusted_proxies=proxies,
        report_window_days=r.get(p + ("report_window_days",), d.report_window_days, _int(1, 3650)),
        report_retention_days=r.get(p + ("report_retention_days",), d.report_retention_days, _int(1, 36500)),
        reports_per_hour=r.get(p + ("reports_per_hour",), d.reports_per_hour, _int(1, 100_000)),
        login_failures=r.get(p + ("login_failures",), d.login_failures, _int(1, 1000)),
        login_failures_per_address=r.get(p + ("login_failures_per_address",), d.login_failures_per_address,
                                         _int(1, 100_000)),
        login_window=r.get(p + ("login_window",), d.login_window, _seconds(1, 7 * 86400)),
        login_lockout=lockout, login_lockout_max=lockout_max)


def _signals(r: _Reader, base: Path) -> SignalsConfig:
    p, d = ("signals",), SignalsConfig()
    r.section(p, SignalsConfig.__dataclass_fields__)
    readable = _file(base, "give a readable file (relative paths start at the config file's folder)")

    def files(key: str) -> tuple[str, ...]:
        return r.items(p + (key,), readable, *_LIST, one=True)

    def domains(key: str) -> tuple[str, ...]:
        return r.items(p + (key,), _hostname, *_DOMAINS)

    rdap = _optional(_RDAP_URL, "is not an http(s) URL with {domain}", "write e.g. https://rdap.org/domain/{domain}")
    staff = files("staff_names_file")
    return SignalsConfig(
        freemail_extra=domains("freemail_extra"), freemail_files=files("freemail_files"),
        disposable_extra=domains("disposable_extra"), disposable_files=files("disposable_files"),
        organisations_files=files("organisations_files"),
        vip_names=r.items(p + ("vip_names",), _person, *_LIST),
        staff_names_file=staff[0] if staff else None,
        notification_domains=domains("notification_domains"), indicators=files("indicators"),
        dnsbl_zones=domains("dnsbl_zones"), rhsbl_zones=domains("rhsbl_zones"),
        rdap_url=r.get(p + ("rdap_url",), d.rdap_url, lambda v: rdap(v or None)),
        rdap_timeout=r.get(p + ("rdap_timeout",), d.rdap_timeout, _seconds(0.1, 30)),
        young_domain_days=r.get(p + ("young_domain_days",), d.young_domain_days, _int(1, 3650)),
    )


def load_config(path: str | Path) -> Config:
    """The config in `path`, every key checked; ConfigError lists every problem (`errors`)."""
    try:
        return _build(load_located(path))
    except YamlError as exc:
        raise ConfigError(exc.errors) from exc


def parse_config(text: str, name: str = "<string>") -> Config:
    try:
        return _build(loads_located(text, name))
    except YamlError as exc:
        raise ConfigError(exc.errors) from exc
