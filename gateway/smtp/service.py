"""Running the listener: start, reload on SIGHUP, drain on SIGTERM.

Purpose: own the lifecycle around `GatewaySMTP`: probe the upstream's capabilities (SIZE,
8BITMIME, SMTPUTF8, XFORWARD) so the gateway never advertises more than the upstream takes;
swap policies atomically on SIGHUP and when a policy file changes (a bad policy keeps the
running one); on SIGTERM stop accepting, let transactions in flight finish for
`limits.shutdown_grace` seconds, then 421.

Untrusted input: none directly (sessions are handled in `gateway.smtp.server`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import signal
import socket
import sqlite3
import ssl
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from gateway.admin.metrics import GatewayMetrics
from gateway.config import Config, HostPort, load_config
from gateway.errors import AdminInputError, StartupError, log_lines
from gateway.offload import Offload
from gateway.policy.watch import PolicyWatcher
from gateway.runtime import Runtime
from gateway.smtp.observed import ObservedSMTP, ObservedState
from gateway.smtp.server import GatewayHandler
from gateway.smtp.upstream import UpstreamError, probe
from gateway.store import Store
from gateway.store.observed import ObservedStore

if TYPE_CHECKING:
    from gateway.smtp.workers import WorkerLink

log = logging.getLogger("gateway.service")

LISTEN_BACKLOG = 100  # asyncio's default, for a listening socket shared by worker processes too

PURGE_EVERY = 3600.0  # seconds between retention purges of the quarantine and the staff reports
METRICS_SYNC_EVERY = 5.0  # seconds between copies of the runtime's counters into the metrics


# Keys SIGHUP applies; any other changed key is logged as needing a restart.
RELOADABLE = ("policies", "signals", "trusted_authserv_ids", "trusted_arc_sealers", "on_error")


def reloadable(running: Config, new: Config, warn: bool = True) -> Config:
    """The running config with the reloadable keys of `new`; other changes are logged (`warn`)."""
    for f in dataclasses.fields(Config):
        if warn and f.name not in RELOADABLE and f.name != "source" \
                and getattr(running, f.name) != getattr(new, f.name):
            log.warning("reload: config key %r changed in %s: it needs a restart; the running value is kept",
                        f.name, new.source)
    return dataclasses.replace(running, **{k: getattr(new, k) for k in RELOADABLE})


def log_reload_failure(exc: BaseException) -> None:
    """One ERROR record per problem, each one line (`gateway.errors.log_lines`)."""
    for line in log_lines(exc):
        log.error("reload failed, keeping the running policies and data: %s", line)


def watched_paths(runtime: Runtime) -> tuple[str, ...]:
    """What the file watcher polls: the policy paths, the reference data files, the config file."""
    config = runtime.config
    paths = list(config.policies) + list(runtime.data.files)
    if not config.source.startswith("<"):
        paths.append(config.source)
    return tuple(dict.fromkeys(paths))


def listen_error(config: Config, exc: OSError, key: str = "listen", address: HostPort | None = None) -> StartupError:
    """One line for an address a listener (`key`: listen, admin.listen) cannot bind (errno
    names what went wrong)."""
    address = address or config.listen
    where = f"{config.source}: {key}: {address}"
    if isinstance(exc, socket.gaierror):
        return StartupError(f"{where}: cannot resolve {address.host!r} ({exc.strerror}); "
                            "write an IP address of this machine, e.g. 127.0.0.1")
    if exc.errno == errno.EADDRINUSE:
        return StartupError(f"{where}: address already in use (another process listens there); "
                            "stop it or choose another port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupError(f"{where}: not an address of this machine; "
                            "use one of its addresses, 127.0.0.1 or 0.0.0.0")
    if exc.errno == errno.EACCES:
        return StartupError(f"{where}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE, "
                            "see deploy/systemd); or listen above 1024")
    return StartupError(f"{where}: cannot listen: {exc.strerror or exc}")


def tls_context_of(config: Config) -> ssl.SSLContext | None:
    if config.tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(config.tls.cert, config.tls.key)
    return ctx


class Gateway:
    """One listening gateway. `await start()`, then `await stop()` (or run `serve_forever`)."""

    def __init__(self, config: Config, runtime: Runtime | None = None,
                 watch_interval: float | None = 2.0, *, sockets: Sequence[socket.socket] = (),
                 admin_socket: socket.socket | None = None, admin: bool = True,
                 housekeeping: bool = True, link: WorkerLink | None = None, offload: bool = False) -> None:
        """`sockets`: listening sockets bound by a supervisor (gateway/smtp/workers.py), else
        `config.listen` is bound here; `admin`: run the admin listener (when configured), on
        `admin_socket` if given; `housekeeping`: the quarantine retention purge; `link`: the
        worker's channel to its supervisor. A worker other than the first runs neither.
        `offload`: analyse messages above `limits.offload_bytes` in child processes
        (gateway/offload.py; `serve` sets it, with `limits.analysis_processes` > 0)."""
        self.config = config
        self.sockets = tuple(sockets)
        self.admin_socket = admin_socket
        self.housekeeping = housekeeping
        self.link = link
        self.servers: list[asyncio.Server] = []
        self.runtime = runtime or Runtime(config)
        self.metrics = GatewayMetrics()
        if offload and config.limits.analysis_processes > 0 and self.runtime.offload is None:
            if config.store.backend == "memory":
                log.warning("offload: off with the memory store (a child process would not see its history); "
                            "messages above limits.offload_bytes are analysed on the event loop")
            else:  # the children's store calls come back with their answers, counted with this process's
                self.runtime.offload = Offload(config, observer=self.metrics)
        if self.runtime.store is not None and not isinstance(self.runtime.store, ObservedStore):
            # timed and counted; reloads share the store, so the wrapper stays
            self.runtime.store = cast(Store, ObservedStore(self.runtime.store, self.metrics))
        self.watcher = PolicyWatcher(watched_paths(self.runtime), watch_interval,
                                     since_ns=self.runtime.loaded_ns) if watch_interval else None
        self._watch_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._reload_task: asyncio.Task[bool] | None = None
        self._reload_lock = asyncio.Lock()  # one reload at a time: swaps happen in the order files were read
        self._metrics_task: asyncio.Task[None] | None = None
        self.state = ObservedState(config, self.runtime, self.metrics)
        self.server: asyncio.Server | None = None
        self.port = 0
        self._stopped = asyncio.Event()
        from gateway.admin import AdminServer  # the admin package imports this module's types

        self.admin = AdminServer(self) if config.admin is not None and admin else None

    async def start(self) -> None:
        try:
            self.state.caps = await probe(self.config.upstream, self.config.hostname)
            self.metrics.upstream_answered()
        except UpstreamError as exc:
            log.warning("upstream %s:%s not reachable at start (%s); advertising defaults",
                        self.config.upstream.host, self.config.upstream.port, exc)
        try:
            tls = tls_context_of(self.config)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"{self.config.source}: tls: cannot load the certificate or key: "
                               f"{getattr(exc, 'strerror', None) or exc}; check the PEM files") from exc
        await self._open_store()
        await self._open_quarantine()
        await self.runtime.warm_up()
        self.metrics.policies_loaded(self.runtime)
        loop = asyncio.get_running_loop()

        def session() -> ObservedSMTP:
            return ObservedSMTP(GatewayHandler(self.state), self.state, tls)
        # ops23: the SMTP address is bound (not yet accepting) before the admin listener starts:
        # with the SMTP port taken, `serve` logged "admin listening on ..." for a process that then
        # exited 2. Either bind failing closes what was bound; connections are accepted, and the
        # "listening" lines logged, only once both are bound.
        try:
            if self.sockets:  # bound once by the supervisor, shared by every worker
                for s in self.sockets:
                    self.servers.append(await loop.create_server(session, sock=s, backlog=LISTEN_BACKLOG,
                                                                 start_serving=False))
            else:
                self.servers.append(await loop.create_server(session, host=self.config.listen.host,
                                                             port=self.config.listen.port, reuse_address=True,
                                                             start_serving=False))
        except OSError as exc:
            self._close_servers()
            raise listen_error(self.config, exc) from exc
        if self.admin is not None:
            try:
                await self.admin.start()
            except OSError as exc:
                self._close_servers()
                assert self.config.admin is not None
                raise listen_error(self.config, exc, "admin.listen", self.config.admin.listen) from exc
            except BaseException:
                self._close_servers()
                raise
        for server in self.servers:
            await server.start_serving()
        self.server = self.servers[0]
        self.port = self.server.sockets[0].getsockname()[1]
        if self.runtime.offload is not None:  # after the warm-up: the start is no slower; a large
            self.runtime.offload.begin()     # message waits for the first child within its deadline
        if self.housekeeping:
            self._purge_task = asyncio.create_task(self._purge_loop())
        self._metrics_task = asyncio.create_task(self._metrics_loop())
        if self.watcher is not None:
            self._watch_task = asyncio.create_task(self.watcher.run(self.reload_async))
        log.info("listening on %s:%d, upstream %s:%d", self.config.listen.host, self.port,
                 self.config.upstream.host, self.config.upstream.port)

    def _close_servers(self) -> None:
        """Close the SMTP listeners of a start that failed (their addresses are free again)."""
        for server in self.servers:
            server.close()
        self.servers = []

    async def _open_store(self) -> None:
        """Open the store now (and purge what is past retention): a store that cannot be opened
        is a start-up error, not a failure of the first message."""
        store = self.runtime.store
        if store is None:
            return
        try:
            await store.purge()
        except Exception as exc:  # sqlite3/OSError/redis errors: one line, exit 2
            cfg = self.config.store
            if cfg.backend == "redis":  # the URL may hold a password: never print it
                from gateway.store.redis import redact_url  # loaded already: the store is a RedisStore

                what = redact_url(cfg.url) if cfg.url else cfg.backend
                fix = ("check that Redis runs and answers at that address, and the URL's user, "
                       "password and TLS settings (docs/store.md)")
            else:
                what = cfg.path if cfg.backend == "sqlite" else cfg.backend
                fix = "check the path and its permissions"
            raise StartupError(f"{self.config.source}: store: the {cfg.backend} store {what} cannot be "
                               f"opened: {exc}; {fix}") from exc

    async def _open_quarantine(self) -> None:
        """When a policy holds messages (`quarantine: true` for a verdict), open the quarantine now
        (creating its directory and index): a directory that cannot be written is a start-up error,
        as Postfix checks its queue directories at start, not a 451 for every held message."""
        actions = self.runtime.policies.actions
        if not any(v.quarantine for v in (actions.caution, actions.suspicious, actions.high)):
            return
        try:
            await asyncio.to_thread(lambda: self.state.quarantine)
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(f"{self.config.source}: quarantine.dir: {self.config.quarantine.dir} cannot be "
                               f"opened: {getattr(exc, 'strerror', None) or exc}; check the path and its permissions "
                               "(a policy holds messages there)") from exc

    async def _purge_loop(self) -> None:
        """Quarantine retention (`quarantine.retention_days`) and the staff reports' retention
        (`console.report_retention_days`), hourly; the store purges itself."""
        while True:
            try:
                if os.path.isdir(self.config.quarantine.dir):  # created by the first held message
                    n = await asyncio.to_thread(self.state.quarantine.purge)
                    if n:
                        log.info("quarantine: purged %d message(s) older than %d days", n,
                                 self.config.quarantine.retention_days)
            except Exception:  # logged; retried at the next interval
                log.warning("quarantine purge failed", exc_info=True)
            try:
                from gateway.admin.console.intake import purge_reports  # as deliver.py: console code on use

                n = await asyncio.to_thread(purge_reports, self.config)
                if n:
                    log.info("console: purged %d staff report(s) older than %d days", n,
                             self.config.console.report_retention_days)
            except Exception:  # logged; retried at the next interval
                log.warning("staff report purge failed", exc_info=True)
            await asyncio.sleep(PURGE_EVERY)

    async def _metrics_loop(self) -> None:
        """Copy the runtime's plain counters into the metrics now and then (in multiprocess mode
        another process may be the one scraped)."""
        while True:
            await asyncio.sleep(METRICS_SYNC_EVERY)
            self.metrics.sync(self.runtime)

    def reload(self) -> bool:
        """Reload synchronously (tests); see `reload_async`."""
        try:
            runtime = self._build_reloaded()
        except (AdminInputError, OSError) as exc:
            log_reload_failure(exc)
            self.metrics.reloaded(False)
            return False
        return self._swap(runtime)

    async def reload_async(self) -> bool:
        """SIGHUP and the file watcher: re-read the config file, the policies and the reference
        data they rely on, validate everything in a worker thread, then swap the whole runtime
        atomically. On any error the running one stays and the error is logged. The new runtime
        is warmed up before the swap (its patterns and memos are new)."""
        async with self._reload_lock:
            try:
                runtime = await asyncio.to_thread(self._build_reloaded)
            except (AdminInputError, OSError) as exc:
                log_reload_failure(exc)
                self.metrics.reloaded(False)
                return False
            await runtime.warm_up()
            return self._swap(runtime)

    def _build_reloaded(self) -> Runtime:
        config = self.config
        if not config.source.startswith("<"):
            config = reloadable(config, load_config(config.source))
        return self.runtime.rebuild(config)

    async def reload_everywhere(self) -> bool:
        """The console's reload: this process at once, and (as a worker) every other worker
        through the supervisor. True when the new set is in force here."""
        ok = await self.reload_async()
        if ok and self.link is not None:
            self.link.send(reload=True)
        return ok

    def _on_sighup(self) -> None:
        self._reload_task = asyncio.get_running_loop().create_task(self.reload_async())

    def _swap(self, runtime: Runtime) -> bool:
        old = self.runtime
        self.metrics.sync(old)  # the old runtime's counters, before they are dropped
        self.runtime = self.state.runtime = runtime  # atomic: a message reads it once
        self.config = self.state.config = runtime.config
        if runtime.offload is not None:  # analysis children on the new config
            runtime.offload.renew(runtime.config)
        self.metrics.reloaded(True)
        self.metrics.policies_loaded(runtime)
        if self.watcher is not None:
            self.watcher.paths = watched_paths(runtime)
        log.info("reloaded: %d rules from %d policy files, %d reference data files", len(runtime.policies.rules),
                 len(runtime.policies.sources), len(runtime.data.files))
        return True

    async def stop(self) -> None:
        """Stop accepting; finish transactions in flight up to the grace period; then 421."""
        if self.server is None:
            return
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._purge_task is not None:
            self._purge_task.cancel()
        if self._metrics_task is not None:
            self._metrics_task.cancel()
        for server in self.servers:
            server.close()
        self.state.draining = True
        for s in list(self.state.sessions):
            if not s.in_transaction():
                await s.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.limits.shutdown_grace
        while self.state.sessions and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for s in list(self.state.sessions):
            await s.shutdown()
        if self.state.report_intakes:  # staff reports being taken into triage (delivered already)
            left = max(0.1, deadline - loop.time())
            _, pending = await asyncio.wait(set(self.state.report_intakes), timeout=left)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("stopping: %d staff report(s) delivered but not taken into triage", len(pending))
        await asyncio.sleep(0)
        if self.runtime.offload is not None:  # no message is left for them
            await self.runtime.offload.close()
        if self.admin is not None:  # last: /readyz said 503 while draining, /metrics saw the end
            await self.admin.stop()
        self._stopped.set()
        log.info("stopped after %d messages", self.state.messages)

    async def serve_forever(self) -> None:
        """Start, then serve until SIGTERM or SIGINT (or, as a worker, until the supervisor
        goes away); SIGHUP reloads. Then drain (`stop`)."""
        await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        why: list[str] = []

        def on_stop(reason: str) -> None:
            why.append(reason)
            stop.set()
        loop.add_signal_handler(signal.SIGTERM, on_stop, "SIGTERM")
        if self.link is None:  # a worker leaves Ctrl-C to its supervisor, which sends SIGTERM
            loop.add_signal_handler(signal.SIGINT, on_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        watch = None
        if self.link is not None:
            self.link.send(ready=True)

            async def orphaned(link: WorkerLink) -> None:
                await link.closed()
                on_stop("supervisor gone")
            watch = asyncio.create_task(orphaned(self.link))
        await stop.wait()
        log.info("%s: draining (grace %.0fs)", why[0], self.config.limits.shutdown_grace)
        if watch is not None:
            watch.cancel()
        await self.stop()


class ThreadedGateway:
    """A gateway on its own event loop in a thread (tests and embedding), like aiosmtpd's
    Controller but with our lifecycle."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        self.config = config
        self.kwargs = kwargs
        self.loop = asyncio.new_event_loop()
        self.gateway: Gateway | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ThreadedGateway:
        self._thread.start()

        async def _start() -> Gateway:
            gw = Gateway(self.config, **self.kwargs)
            await gw.start()
            return gw

        self.gateway = asyncio.run_coroutine_threadsafe(_start(), self.loop).result(30)
        return self

    @property
    def port(self) -> int:
        assert self.gateway is not None
        return self.gateway.port

    def stop(self) -> None:
        if self.gateway is not None:
            asyncio.run_coroutine_threadsafe(self.gateway.stop(), self.loop).result(
                self.config.limits.shutdown_grace + 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ThreadedGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
