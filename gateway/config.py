"""Settings: one YAML file -> validated, frozen objects.

Purpose: every key the gateway reads is declared here with its type, default and check, so an
unknown key, a wrong type or a bad address stops start-up with `file:line: key: problem (fix)`.

Untrusted input: the admin's config file (trusted author, but typos are expected). Nothing here
touches the network.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import AdminInputError
from gateway.yamlmarks import Located, YamlError, load_located, loads_located

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def shipped_policies() -> str:
    """The shipped policies: installed inside the package as `gateway/shipped_policies` (see
    pyproject.toml), or `policies/` beside the package in a source checkout."""
    inside = Path(__file__).resolve().parent / "shipped_policies"
    return str(inside if inside.is_dir() else Path(__file__).resolve().parent.parent / "policies")


class ConfigError(AdminInputError):
    """The config file is invalid. The message names file, line, key and the fix."""


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
    shutdown_grace: float = 30.0
    max_text_bytes: int = 1_048_576  # decoded text the checks may read


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


@dataclass(frozen=True)
class AdminConfig:
    """The admin HTTP listener (gateway/admin/): /metrics, /healthz, /readyz and the console.
    Off unless `admin:` is set; loopback by default (it has no authentication of its own)."""

    listen: HostPort = field(default_factory=lambda: HostPort("127.0.0.1", 10027))
    console: bool = False  # mount the security team's console at /console/
    probe_interval: float = 10.0  # seconds between upstream probes (/readyz, approach_gateway_upstream_up)


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

    def is_internal_domain(self, domain: str) -> bool:
        """One of `local_domains` or a subdomain of one (lists.example.org): the organisation's own."""
        d = domain.lower().rstrip(".")
        return any(d == ld or d.endswith("." + ld) for ld in self.local_domains)


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


MAX_WORKERS = 256


# --------------------------------------------------------------------------- validation

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")


class _Ctx:
    def __init__(self, doc: Located) -> None:
        self.doc = doc

    def fail(self, path: tuple[Any, ...], problem: str, fix: str) -> ConfigError:
        key = ".".join(str(p) for p in path) or "(top level)"
        return ConfigError(f"{self.doc.where(path)}: {key}: {problem}; {fix}")


def _section(ctx: _Ctx, path: tuple[Any, ...], value: Any, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.fail(path, f"expected a mapping, got {type(value).__name__}",
                       "write it as 'key: value' lines")
    for key in value:
        if key not in allowed:
            raise ctx.fail(path + (key,), "unknown key",
                           f"remove it or use one of: {', '.join(sorted(allowed))}")
    return value


def _int(ctx: _Ctx, path: tuple[Any, ...], value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ctx.fail(path, f"expected an integer from {lo} to {hi}, got {value!r}",
                       "write a whole number in that range")
    return value


def _num(ctx: _Ctx, path: tuple[Any, ...], value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ctx.fail(path, f"expected a number of seconds from {lo} to {hi}, got {value!r}",
                       "write a number in that range")
    return float(value)


def _bool(ctx: _Ctx, path: tuple[Any, ...], value: Any) -> bool:
    if not isinstance(value, bool):
        raise ctx.fail(path, f"expected true or false, got {value!r}", "write true or false")
    return value


def _str(ctx: _Ctx, path: tuple[Any, ...], value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ctx.fail(path, f"expected a non-empty string, got {value!r}", "quote the value")
    return value


def _choice(ctx: _Ctx, path: tuple[Any, ...], value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ctx.fail(path, f"expected one of {', '.join(choices)}, got {value!r}",
                       f"write one of: {', '.join(choices)}")
    return str(value)


def _hostname(ctx: _Ctx, path: tuple[Any, ...], value: Any) -> str:
    text = _str(ctx, path, value)
    if not _HOSTNAME.match(text):
        raise ctx.fail(path, f"{text!r} is not a valid host name", "write a name like mx.example.org")
    return text.lower().rstrip(".")


def _hostport(ctx: _Ctx, path: tuple[Any, ...], value: Any, default_port: int | None) -> HostPort:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text)
    if not m:
        raise ctx.fail(path, f"{value!r} is not HOST:PORT", "write e.g. 127.0.0.1:2525 or [::1]:2525")
    host = m.group(1) or m.group(3)
    port_text = m.group(2) or m.group(4)
    if port_text is None:
        if default_port is None:
            raise ctx.fail(path, f"{value!r} has no port", "write HOST:PORT, e.g. 127.0.0.1:2525")
        port = default_port
    else:
        port = int(port_text)
    if not 0 <= port <= 65535:
        raise ctx.fail(path, f"port {port} is out of range", "use a port from 0 to 65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ctx.fail(path, f"{host!r} is neither an IP address nor a host name",
                           "write an address like 127.0.0.1") from None
    return HostPort(host, port)


def _nameserver(ctx: _Ctx, path: tuple[Any, ...], value: Any) -> HostPort:
    """A DNS server is an IP address (a name would need a resolver to find the resolver)."""
    hp = _hostport(ctx, path, value, 53)
    try:
        ipaddress.ip_address(hp.host)
    except ValueError:
        raise ctx.fail(path, f"{hp.host!r} is not an IP address",
                       "write the resolver's address, e.g. 127.0.0.1:53 or [::1]:53") from None
    return hp


def _networks(ctx: _Ctx, path: tuple[Any, ...], value: Any) -> tuple[Network, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ctx.fail(path, "expected a list of networks", "write e.g. [127.0.0.0/8, '::1/128']")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ctx.fail(path + (i,), f"{item!r} is not an IP network",
                           "write CIDR like 192.0.2.0/24") from None
    return tuple(out)


def _domains(ctx: _Ctx, path: tuple[Any, ...], value: Any, required: bool) -> tuple[str, ...]:
    if value is None:
        value = []
    if not isinstance(value, list) or (required and not value):
        raise ctx.fail(path, "expected a non-empty list of domains",
                       "write e.g. local_domains: [example.org]")
    return tuple(_hostname(ctx, path + (i,), d) for i, d in enumerate(value))


def _build(doc: Located) -> Config:  # noqa: C901 - one line per top-level config key; the branches are the keys
    ctx = _Ctx(doc)
    top = _section(ctx, (), doc.value, {
        "listen", "upstream", "hostname", "authserv_id", "local_domains", "trusted_networks",
        "xforward_hosts", "trusted_authserv_ids", "limits", "tls", "proxy_protocol", "dns",
        "store", "policies", "on_error", "bare_newline", "log", "signals", "quarantine", "arc",
        "console", "admin", "workers",
    })
    for required in ("listen", "upstream", "hostname", "local_domains"):
        if required not in top:
            raise ctx.fail((), f"missing required key '{required}'",
                           "see deploy/gateway.example.yml for a complete file")
    hostname = _hostname(ctx, ("hostname",), top["hostname"])
    up = _section(ctx, ("upstream",), top["upstream"], {
        "host", "port", "connect_timeout", "command_timeout", "data_timeout", "xforward",
        "helo_name"})
    u = ("upstream",)
    upstream = UpstreamConfig(
        host=_hostport(ctx, u + ("host",), up.get("host", "127.0.0.1"), 25).host,
        port=_int(ctx, u + ("port",), up.get("port", 10026), 1, 65535),
        connect_timeout=_num(ctx, u + ("connect_timeout",), up.get("connect_timeout", 30), 0.1, 600),
        command_timeout=_num(ctx, u + ("command_timeout",), up.get("command_timeout", 300), 0.1, 3600),
        data_timeout=_num(ctx, u + ("data_timeout",), up.get("data_timeout", 600), 0.1, 3600),
        xforward=_bool(ctx, u + ("xforward",), up.get("xforward", True)),
        helo_name=_hostname(ctx, u + ("helo_name",), up["helo_name"]) if "helo_name" in up else None,
    )
    lim = _section(ctx, ("limits",), top.get("limits"), set(LimitsConfig.__dataclass_fields__))
    d = LimitsConfig()
    int_limits = {k: _int(ctx, ("limits", k), lim.get(k, getattr(d, k)), 1, 2**40)
                  for k in ("max_message_size", "max_recipients", "max_header_count",
                            "max_header_bytes", "max_mime_depth", "max_mime_parts",
                            "max_line_length", "max_connections", "max_connections_per_ip",
                            "max_text_bytes", "junk_command_limit")}
    if int_limits["max_line_length"] < 1000:
        raise ctx.fail(("limits", "max_line_length"), "must be at least 1000 (RFC 5321 4.5.3.1.6)",
                       "raise it to 1000 or more")
    num_limits = {k: _num(ctx, ("limits", k), lim.get(k, getattr(d, k)), 0.1, 86400)
                  for k in ("analysis_timeout", "session_timeout", "session_lifetime", "shutdown_grace")}
    limits = LimitsConfig(**int_limits, **num_limits)  # type: ignore[arg-type]

    tls = None
    if top.get("tls") is not None:
        t = _section(ctx, ("tls",), top["tls"], {"cert", "key"})
        for k in ("cert", "key"):
            problem = _unreadable(Path(_str(ctx, ("tls", k), t[k]))) if k in t else "is missing"
            if problem:
                raise ctx.fail(("tls", k), f"file {t.get(k)!r} {problem}",
                               "give the path of a PEM file readable by the gateway")
        tls = TlsConfig(cert=t["cert"], key=t["key"])
    proxy = None
    if top.get("proxy_protocol") is not None:
        pp = _section(ctx, ("proxy_protocol",), top["proxy_protocol"], {"trusted_networks", "timeout"})
        nets = _networks(ctx, ("proxy_protocol", "trusted_networks"), pp.get("trusted_networks"))
        if not nets:
            raise ctx.fail(("proxy_protocol", "trusted_networks"), "is empty",
                           "list the load balancers' addresses, or remove proxy_protocol")
        proxy = ProxyProtocolConfig(nets, _num(ctx, ("proxy_protocol", "timeout"),
                                               pp.get("timeout", 5.0), 0.5, 120))
    dn = _section(ctx, ("dns",), top.get("dns"), {"nameservers", "timeout"})
    ns_list = dn.get("nameservers") or []
    if not isinstance(ns_list, list):
        raise ctx.fail(("dns", "nameservers"), "expected a list", "write e.g. [127.0.0.1:53]")
    dns = DnsConfig(tuple(_nameserver(ctx, ("dns", "nameservers", i), n)
                          for i, n in enumerate(ns_list)),
                    _num(ctx, ("dns", "timeout"), dn.get("timeout", 3.0), 0.05, 60))
    base = Path(doc.file).parent if not doc.file.startswith("<") else Path(".")
    st = _section(ctx, ("store",), top.get("store"), {"backend", "path", "url", "retention_days", "prefix",
                                                       "timeout"})
    store_path = _str(ctx, ("store", "path"), st.get("path", StoreConfig.path))
    if "path" in st and store_path != ":memory:" and not Path(store_path).is_absolute():
        store_path = str(base / store_path)  # an explicit relative path starts at the config's folder
    backend = _choice(ctx, ("store", "backend"), st.get("backend", "sqlite"), ("sqlite", "redis", "memory"))
    url = _str(ctx, ("store", "url"), st["url"]) if "url" in st else None
    if backend == "redis":
        if url is None:
            raise ctx.fail(("store",), "backend redis needs a url", "add url: redis://127.0.0.1:6379/0")
        from gateway.store.redis import RedisUrlError, parse_redis_url

        try:
            parse_redis_url(url)
        except RedisUrlError as exc:
            raise ctx.fail(("store", "url"), exc.problem, exc.fix) from None
    prefix = _str(ctx, ("store", "prefix"), st.get("prefix", StoreConfig.prefix))
    if len(prefix) > 64 or not prefix.isprintable() or " " in prefix:
        raise ctx.fail(("store", "prefix"), f"{prefix!r} is not a short printable word",
                       "write up to 64 characters without spaces, e.g. approach:")
    store = StoreConfig(
        backend=backend, path=store_path, url=url,
        retention_days=_int(ctx, ("store", "retention_days"), st.get("retention_days", 400), 1, 36500),
        prefix=prefix, timeout=_num(ctx, ("store", "timeout"), st.get("timeout", StoreConfig.timeout), 0.01, 60),
    )
    qu = _section(ctx, ("quarantine",), top.get("quarantine"), {"dir", "retention_days"})
    qdir = _str(ctx, ("quarantine", "dir"), qu.get("dir", QuarantineConfig.dir))
    quarantine = QuarantineConfig(
        dir=qdir if Path(qdir).is_absolute() else str(base / qdir),
        retention_days=_int(ctx, ("quarantine", "retention_days"), qu.get("retention_days", 30), 1, 36500))
    arc = None
    if top.get("arc") is not None:
        ac = _section(ctx, ("arc",), top["arc"], {"selector", "domain", "key_file"})
        for k in ("selector", "domain", "key_file"):
            if k not in ac:
                raise ctx.fail(("arc",), f"missing {k}", "give selector, domain and key_file, or remove arc")
        key_file = _str(ctx, ("arc", "key_file"), ac["key_file"])
        key_file = key_file if Path(key_file).is_absolute() else str(base / key_file)
        problem = _unreadable(Path(key_file))
        if problem:
            raise ctx.fail(("arc", "key_file"), f"file {key_file!r} {problem}",
                           "give the path of the PEM private key the gateway seals with")
        arc = ArcConfig(selector=_str(ctx, ("arc", "selector"), ac["selector"]),
                        domain=_hostname(ctx, ("arc", "domain"), ac["domain"]), key_file=key_file)
    lg = _section(ctx, ("log",), top.get("log"), {"level", "format"})
    log = LogConfig(_choice(ctx, ("log", "level"), lg.get("level", "info"),
                            ("debug", "info", "warning", "error")),
                    _choice(ctx, ("log", "format"), lg.get("format", "text"), ("text", "json")))
    pol = top.get("policies", [shipped_policies()])
    if isinstance(pol, str):
        pol = [pol]
    if not isinstance(pol, list):
        raise ctx.fail(("policies",), "expected a list of paths", "write e.g. [policies, /etc/gw/local.d]")
    policies = tuple(str(p) if Path(str(p)).is_absolute() else str(base / str(p)) for p in pol)
    return Config(
        listen=_hostport(ctx, ("listen",), top["listen"], None),
        upstream=upstream,
        hostname=hostname,
        authserv_id=_hostname(ctx, ("authserv_id",), top.get("authserv_id", hostname)),
        local_domains=_domains(ctx, ("local_domains",), top["local_domains"], True),
        trusted_networks=_networks(ctx, ("trusted_networks",), top.get("trusted_networks")),
        xforward_hosts=_networks(ctx, ("xforward_hosts",), top.get("xforward_hosts")),
        trusted_authserv_ids=_domains(ctx, ("trusted_authserv_ids",), top.get("trusted_authserv_ids"), False),
        limits=limits, tls=tls, proxy_protocol=proxy, dns=dns, store=store,
        policies=policies,
        on_error=_choice(ctx, ("on_error",), top.get("on_error", "accept"), ("accept", "tempfail")),
        bare_newline=_choice(ctx, ("bare_newline",), top.get("bare_newline", "normalize"),
                             ("normalize", "reject")),
        log=log, signals=_signals(ctx, top.get("signals"), base), quarantine=quarantine,
        arc=arc, console=_console(ctx, top.get("console"), base, policies), admin=_admin(ctx, top),
        workers=_workers(ctx, top.get("workers", "auto")), source=doc.file,
    )


def _workers(ctx: _Ctx, value: Any) -> int | str:
    """`workers`: how many `serve` processes share the listener; `auto` is one per usable core."""
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise ctx.fail(("workers",), f"expected a whole number from 1 to {MAX_WORKERS} or auto, got {value!r}",
                       "write e.g. workers: 4, or workers: auto (one process per core)")
    return value


def _admin(ctx: _Ctx, top: dict[str, Any]) -> AdminConfig | None:
    """`admin:` present (even empty) turns the admin listener on; absent keeps it off."""
    if "admin" not in top:
        return None
    p = ("admin",)
    ad = _section(ctx, p, top["admin"], set(AdminConfig.__dataclass_fields__))
    d = AdminConfig()
    listen = _hostport(ctx, p + ("listen",), ad["listen"], None) if "listen" in ad else d.listen
    try:
        ipaddress.ip_address(listen.host)
    except ValueError:
        raise ctx.fail(p + ("listen",), f"{listen.host!r} is not an IP address",
                       "write an address of this machine, e.g. 127.0.0.1:10027 (the default)") from None
    return AdminConfig(listen=listen, console=_bool(ctx, p + ("console",), ad.get("console", d.console)),
                       probe_interval=_num(ctx, p + ("probe_interval",), ad.get("probe_interval", d.probe_interval),
                                           0.5, 3600))


_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _console(ctx: _Ctx, value: Any, base: Path, policies: tuple[str, ...]) -> ConsoleConfig:
    p = ("console",)
    c = _section(ctx, p, value, set(ConsoleConfig.__dataclass_fields__))
    d = ConsoleConfig()

    def path(key: str, default: str) -> str:
        text = _str(ctx, p + (key,), c[key]) if key in c else default
        return text if Path(text).is_absolute() else str(base / text)

    state_dir = path("state_dir", d.state_dir)
    indicators_dir = path("indicators_dir", str(Path(state_dir) / "indicators"))
    loaded = [str(Path(x)) for x in policies if not Path(x).is_file()]
    loaded += [str(Path(x) / "local.d") for x in loaded]
    if "policy_dir" in c:
        policy_dir = path("policy_dir", "")
        if str(Path(policy_dir)) not in loaded:
            raise ctx.fail(p + ("policy_dir",), f"{policy_dir!r} is not read by 'policies'",
                           "name a folder listed in policies, or the local.d of one")
    else:
        dirs = [x for x in policies if not Path(x).is_file()]
        policy_dir = str(Path(dirs[-1]) / "local.d") if dirs else ""
    report = c.get("report_address")
    if report is not None and (not isinstance(report, str) or not _ADDRESS.match(report)):
        raise ctx.fail(p + ("report_address",), f"{report!r} is not a mail address",
                       "write e.g. report-approach@example.org (an address in local_domains)")
    base_url = c.get("base_url", "")
    if base_url and (not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", base_url)):
        raise ctx.fail(p + ("base_url",), f"{base_url!r} is not an http(s) URL",
                       "write e.g. https://gw.example.org/console")
    header = c.get("proxy_user_header")
    if header is not None and (not isinstance(header, str) or not _HEADER_NAME.match(header)):
        raise ctx.fail(p + ("proxy_user_header",), f"{header!r} is not a header name", "write e.g. X-Remote-User")
    proxies = _networks(ctx, p + ("trusted_proxies",), c.get("trusted_proxies"))
    if header and not proxies:
        raise ctx.fail(p + ("trusted_proxies",), "is empty but proxy_user_header is set",
                       "list the reverse proxy's addresses, e.g. [127.0.0.1/32], or remove proxy_user_header")
    return ConsoleConfig(
        state_dir=state_dir, indicators_dir=indicators_dir, policy_dir=policy_dir,
        report_address=report.lower() if report else None, base_url=str(base_url).rstrip("/"),
        session_idle=_num(ctx, p + ("session_idle",), c.get("session_idle", d.session_idle), 60, 86400),
        session_max=_num(ctx, p + ("session_max",), c.get("session_max", d.session_max), 60, 7 * 86400),
        proxy_user_header=header, trusted_proxies=proxies,
        report_window_days=_int(ctx, p + ("report_window_days",), c.get("report_window_days",
                                                                           d.report_window_days), 1, 3650))


def _strings(ctx: _Ctx, path: tuple[Any, ...], value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list, got {type(value).__name__}", "write e.g. [a, b]")
    return tuple(_str(ctx, path + (i,), v) for i, v in enumerate(value))


def _files(ctx: _Ctx, path: tuple[Any, ...], value: Any, base: Path) -> tuple[str, ...]:
    out = []
    for i, name in enumerate(_strings(ctx, path, [value] if isinstance(value, str) else value)):
        full = Path(name) if Path(name).is_absolute() else base / name
        problem = _unreadable(full)
        if problem:
            raise ctx.fail(path + (i,), f"file {str(full)!r} {problem}",
                           "give a readable file (relative paths start at the config file's folder)")
        out.append(str(full))
    return tuple(out)


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


def _signals(ctx: _Ctx, value: Any, base: Path) -> SignalsConfig:
    p = ("signals",)
    sg = _section(ctx, p, value, set(SignalsConfig.__dataclass_fields__))
    d = SignalsConfig()
    rdap_url = sg.get("rdap_url", d.rdap_url) or None
    if rdap_url is not None and (not isinstance(rdap_url, str) or not re.match(r"^https?://[^/\s]+", rdap_url)
                                 or "{domain}" not in rdap_url):
        raise ctx.fail(p + ("rdap_url",), f"{rdap_url!r} is not an http(s) URL with {{domain}}",
                       "write e.g. https://rdap.org/domain/{domain}")
    staff = _files(ctx, p + ("staff_names_file",), sg.get("staff_names_file"), base)
    return SignalsConfig(
        freemail_extra=_domains(ctx, p + ("freemail_extra",), sg.get("freemail_extra"), False),
        freemail_files=_files(ctx, p + ("freemail_files",), sg.get("freemail_files"), base),
        disposable_extra=_domains(ctx, p + ("disposable_extra",), sg.get("disposable_extra"), False),
        disposable_files=_files(ctx, p + ("disposable_files",), sg.get("disposable_files"), base),
        organisations_files=_files(ctx, p + ("organisations_files",), sg.get("organisations_files"), base),
        vip_names=_strings(ctx, p + ("vip_names",), sg.get("vip_names")),
        staff_names_file=staff[0] if staff else None,
        notification_domains=_domains(ctx, p + ("notification_domains",), sg.get("notification_domains"), False),
        indicators=_files(ctx, p + ("indicators",), sg.get("indicators"), base),
        dnsbl_zones=_domains(ctx, p + ("dnsbl_zones",), sg.get("dnsbl_zones"), False),
        rhsbl_zones=_domains(ctx, p + ("rhsbl_zones",), sg.get("rhsbl_zones"), False),
        rdap_url=rdap_url,
        rdap_timeout=_num(ctx, p + ("rdap_timeout",), sg.get("rdap_timeout", d.rdap_timeout), 0.1, 30),
        young_domain_days=_int(ctx, p + ("young_domain_days",), sg.get("young_domain_days",
                                                                         d.young_domain_days), 1, 3650),
    )


def load_config(path: str | Path) -> Config:
    try:
        return _build(load_located(path))
    except YamlError as exc:
        raise ConfigError(str(exc)) from exc


def parse_config(text: str, name: str = "<string>") -> Config:
    try:
        return _build(loads_located(text, name))
    except YamlError as exc:
        raise ConfigError(str(exc)) from exc


