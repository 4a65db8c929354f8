"""Prometheus metrics of one gateway process (docs/operations.md lists them).

Purpose: `GatewayMetrics` implements the mail path's `Observer` hooks (gateway/smtp/observe.py)
with prometheus-client metrics in a registry of its own (never the library's global one), turns
the plain counters other parts keep (`Runtime.stats` of the checks, the resolver's `Counters`)
into Prometheus counters, and counts every store call `ObservedStore` (gateway/store/observed.py)
reports: this process's and those of its analysis children (gateway/offload.py).

Several processes: when `PROMETHEUS_MULTIPROC_DIR` is set (before the process starts), every
value lives in that directory (prometheus-client's multiprocess mode) and `exposition()` adds up
the files of all processes, so workers sharing one listening socket can be scraped as one
gateway through any of them or through a supervisor. Without it, a normal registry.

Untrusted input: none. Label values are fixed words, rule ids and check names from the admin's
own policies and code, store operation names and exception class names: never a stranger's text.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

from gateway import __version__
from gateway.errors import StartupError
from gateway.smtp.observe import Observer
from gateway.store import STORE_ERROR_SIGNALS

if TYPE_CHECKING:
    from gateway.runtime import Runtime

log = logging.getLogger("gateway.admin")

PREFIX = "approach_gateway_"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format, which every Prometheus-compatible scraper reads (our names and labels
# are plain ASCII, so the output is the same in the newer 1.0.0 format).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds. Analysis and upstream exchanges: milliseconds to the 20 s analysis deadline and the
# upstream's minutes-long timeouts; store calls: sub-millisecond Redis to store.timeout and beyond.
ADMIN_CUT_REASONS = ("head", "body", "send", "cap", "idle")  # gateway/admin/guard.py _WHY
SLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)



def multiprocess_dir() -> str | None:
    """The multiprocess directory prometheus-client uses in this process, or None."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


def check_multiprocess_dir(mp_dir: str) -> None:
    """StartupError (one line) unless `mp_dir` is a directory this process can write."""
    if not (os.path.isdir(mp_dir) and os.access(mp_dir, os.W_OK | os.X_OK)):
        raise StartupError(f"{MULTIPROC_ENV}={mp_dir}: not a writable directory (prometheus-client's "
                           "multiprocess mode keeps every process's values there); create it, writable by "
                           f"the gateway user, or unset {MULTIPROC_ENV}")


def policy_hash(sources: Iterable[str]) -> str:
    """12 hex digits of SHA-256 over the policy files (name and bytes, in load order): the
    loaded version, the same on every instance that runs the same files."""
    h = hashlib.sha256()
    for path in sources:
        h.update(Path(path).name.encode() + b"\0")
        try:
            h.update(Path(path).read_bytes())
        except OSError:
            h.update(b"<unreadable>")
        h.update(b"\0")
    return h.hexdigest()[:12]


class GatewayMetrics(Observer):
    """Every metric of one gateway process. Methods are cheap and never raise."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        mp_dir = multiprocess_dir()
        self.multiprocess = mp_dir is not None
        if mp_dir is not None:
            check_multiprocess_dir(mp_dir)
        r = self.registry
        self.messages = Counter(PREFIX + "messages", "Messages that reached the end of DATA, by verdict and by "
                                "whether analysis finished (checked: yes, partial, no)", ["verdict", "checked"],
                                registry=r)
        self.rule_hits = Counter(PREFIX + "rule_hits", "Policy rules that matched, by rule id", ["rule"], registry=r)
        self.replies = Counter(PREFIX + "smtp_replies", "SMTP replies the gateway gave, by stage of the dialogue "
                               "and class (2xx, 3xx, 4xx, 5xx); stage dot is the reply to the message itself",
                               ["stage", "class"], registry=r)
        self.sessions = Gauge(PREFIX + "sessions_in_flight", "Client connections open now", registry=r,
                              multiprocess_mode="livesum")
        self.upstream_seconds = Histogram(PREFIX + "upstream_seconds", "Time of each exchange with the upstream, "
                                          "by stage (connect includes EHLO)", ["stage"], buckets=SLOW_BUCKETS,
                                          registry=r)
        self.upstream_errors = Counter(PREFIX + "upstream_errors", "Upstream exchanges that failed (refused, "
                                       "timed out, dropped, 421), by stage", ["stage"], registry=r)
        # Only the process with the admin listener probes (worker 0 when serve runs workers); the
        # others keep 0, so the maximum over live processes is the probe's answer.
        self.upstream_up = Gauge(PREFIX + "upstream_up", "1 when the last upstream probe answered, else 0",
                                 registry=r, multiprocess_mode="livemax")
        self.upstream_last_ok = Gauge(PREFIX + "upstream_last_ok_timestamp_seconds", "When the upstream last "
                                      "answered (a probe or a transaction)", registry=r, multiprocess_mode="max")
        self.analysis_seconds = Histogram(PREFIX + "analysis_seconds", "Time to analyse one message (parse, "
                                          "checks, policy)", buckets=SLOW_BUCKETS, registry=r)
        self.check_errors = Counter(PREFIX + "check_errors", "Checks that raised (their signals were missing)",
                                    ["check"], registry=r)
        self.check_timeouts = Counter(PREFIX + "check_timeouts", "Checks that used up their share of the "
                                      "analysis time", ["check"], registry=r)
        self.analysis_incomplete = Counter(PREFIX + "analysis_incomplete", "Messages whose analysis deadline "
                                           "came before every check finished", registry=r)
        self.dns_queries = Counter(PREFIX + "dns_queries", "DNS lookups sent to the resolver (cache misses)",
                                   registry=r)
        self.dns_cache_hits = Counter(PREFIX + "dns_cache_hits", "DNS lookups answered from the cache",
                                      registry=r)
        self.dns_failures = Counter(PREFIX + "dns_failures", "DNS lookups that failed, by kind", ["kind"],
                                    registry=r)
        self.store_seconds = Histogram(PREFIX + "store_seconds", "Time of each store call, by operation",
                                       ["op"], buckets=STORE_BUCKETS, registry=r)
        self.store_errors = Counter(PREFIX + "store_errors", "Store calls that failed, by operation and reason "
                                    "(the exception class)", ["op", "reason"], registry=r)
        self.without_history = Counter(PREFIX + "analysis_without_history", "Messages analysed without (part "
                                       "of) their history because the store could not be asked, by check",
                                       ["check"], registry=r)
        self.record_failures = Counter(PREFIX + "store_record_failures", "Delivered messages the store could "
                                       "not remember (logged; the mail was delivered)", registry=r)
        self.reloads = Counter(PREFIX + "reloads", "Policy and reference data reloads, by result", ["result"],
                               registry=r)
        self.policy_loaded = Gauge(PREFIX + "policy_loaded_timestamp_seconds", "When the running policies were "
                                   "loaded, labelled with the hash of the policy files (the loaded version); "
                                   "earlier versions read 0", ["hash"], registry=r, multiprocess_mode="livemax")
        self.policy_rules = Gauge(PREFIX + "policy_rules", "Rules in the running policies", registry=r,
                                  multiprocess_mode="livemax")
        self.admin_cut = Counter(PREFIX + "admin_connections_cut", "Connections to the admin listener the gateway "
                                 "cut or refused, by reason: head, body, send (too slow: admin.header_timeout, "
                                 "body_timeout, io_timeout, min_rate), cap (refused at admin.max_per_address), idle "
                                 "(a kept-alive one closed at the cap for a new one)", ["reason"], registry=r)
        self.info = Gauge(PREFIX + "build_info", "Always 1; the version label says which gateway runs",
                          ["version"], registry=r, multiprocess_mode="livemax")
        self.info.labels(__version__).set(1)
        for kind in ("timeout", "servfail", "nxdomain"):
            self.dns_failures.labels(kind)
        for result in ("success", "failure"):
            self.reloads.labels(result)
        for reason in ADMIN_CUT_REASONS:
            self.admin_cut.labels(reason)
        self.loaded_hash = ""
        self.last_upstream_ok = 0.0  # time.time() of the upstream's last answer in this process
        self._stats: Any = None  # the RunStats whose values were last turned into counters
        self._stats_seen: dict[tuple[str, str], int] = {}
        self._dns: Any = None
        self._dns_seen: dict[str, int] = {}
        # The labelled children the mail path counts in, by label values: `labels()` validates
        # and locks on every call (2-4 us; about 15 calls a message). Bounded: the stages, reply
        # classes, commands, store operations, verdicts and rule ids are the gateway's own words.
        self._children: dict[tuple[Any, ...], Any] = {}

    # ---- exposition ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format: this process's registry, or in multiprocess mode every
        process's values in PROMETHEUS_MULTIPROC_DIR added up."""
        if self.multiprocess:
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    # ---- Observer hooks (the mail path) ----------------------------------------------------

    def session_opened(self) -> None:
        self.sessions.inc()

    def session_closed(self) -> None:
        self.sessions.dec()

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once per label values (prometheus-client never
        drops a child this code made: nothing here calls `remove` or `clear`)."""
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def reply(self, stage: str, code: int) -> None:
        self._child(self.replies, stage, f"{code // 100}xx").inc()

    def upstream(self, stage: str, seconds: float, error: str | None = None) -> None:
        self._child(self.upstream_seconds, stage).observe(seconds)
        if error is not None:
            self.upstream_errors.labels(stage).inc()
        else:
            self.upstream_answered()

    def upstream_answered(self, when: float | None = None) -> None:
        self.last_upstream_ok = time.time() if when is None else when
        self.upstream_last_ok.set(self.last_upstream_ok)

    def message(self, verdict: str, checked: str, rule_ids: Sequence[str], signals: Sequence[str],
                analysis_seconds: float | None) -> None:
        self._child(self.messages, verdict, checked).inc()
        for rule in dict.fromkeys(rule_ids):
            self._child(self.rule_hits, rule).inc()
        for name in dict.fromkeys(signals):
            check = STORE_ERROR_SIGNALS.get(name)
            if check is not None:
                self.without_history.labels(check).inc()
        if analysis_seconds is not None:
            self.analysis_seconds.observe(analysis_seconds)

    def record_failed(self) -> None:
        self.record_failures.inc()

    # ---- store ----------------------------------------------------------------------------

    def store_call(self, op: str, seconds: float, reason: str | None) -> None:
        """A `StoreObserver` (gateway/store/observed.py): one store call of this process's
        `ObservedStore`, or of an analysis child's, sent back with its answer (gateway/offload.py)."""
        self._child(self.store_seconds, op).observe(seconds)
        if reason is not None:
            self.store_errors.labels(op, reason).inc()

    # ---- reloads --------------------------------------------------------------------------

    def policies_loaded(self, runtime: Runtime) -> None:
        """A runtime (its policies and reference data) is now the running one."""
        digest = policy_hash(runtime.policies.sources)
        if self.loaded_hash and self.loaded_hash != digest:
            self.policy_loaded.labels(self.loaded_hash).set(0)
        self.loaded_hash = digest
        self.policy_loaded.labels(digest).set(runtime.built_at)
        self.policy_rules.set(len(runtime.policies.rules))

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("success" if ok else "failure").inc()

    # ---- counters kept elsewhere ----------------------------------------------------------

    def sync(self, runtime: Runtime) -> None:
        """Turn the runtime's plain counters (checks' errors and timeouts, DNS) into Prometheus
        counters: called before each scrape and every few seconds (multiprocess mode reads files)."""
        try:
            self._sync_stats(runtime.stats)
            counters = getattr(runtime.resolver, "counters", None)
            if counters is not None:
                self._sync_dns(counters)
        except Exception:  # metrics must never disturb mail
            log.warning("metrics: could not read the runtime's counters", exc_info=True)

    def _sync_stats(self, stats: Any) -> None:
        if stats is not self._stats:  # a reload built a new runtime: its counters start at 0
            self._stats, self._stats_seen = stats, {}
        seen = self._stats_seen
        for kind, values, metric in (("error", stats.errors, self.check_errors),
                                     ("timeout", stats.timeouts, self.check_timeouts)):
            for check, n in list(values.items()):
                delta = n - seen.get((kind, check), 0)
                if delta > 0:
                    metric.labels(check).inc(delta)
                seen[(kind, check)] = n
        delta = stats.incomplete - seen.get(("incomplete", ""), 0)
        if delta > 0:
            self.analysis_incomplete.inc(delta)
        seen[("incomplete", "")] = stats.incomplete

    def admin_cut_counted(self, reason: str) -> None:
        """One admin-listener connection cut or refused (gateway/admin/guard.py `note`)."""
        self._child(self.admin_cut, reason).inc()

    def _sync_dns(self, counters: Any) -> None:
        if counters is not self._dns:
            self._dns, self._dns_seen = counters, {}
        now = counters.snapshot()
        seen = self._dns_seen
        for key, metric in (("queries", self.dns_queries), ("cache_hits", self.dns_cache_hits),
                            ("timeouts", self.dns_failures.labels("timeout")),
                            ("servfails", self.dns_failures.labels("servfail")),
                            ("nxdomains", self.dns_failures.labels("nxdomain"))):
            delta = now.get(key, 0) - seen.get(key, 0)
            if delta > 0:
                metric.inc(delta)
            seen[key] = now.get(key, 0)
