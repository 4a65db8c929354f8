"""The admin listener: /metrics, /healthz, /readyz and the console, over HTTP (aiohttp).

Purpose: what operators and load balancers ask a running gateway. It runs in the gateway's own
event loop (`AppRunner`, bound through guard.GuardedSite), starts and stops with
`Gateway.start/stop`, and is off unless the config has `admin:` (loopback 127.0.0.1:10027 by
default: it has no authentication of its own; put it behind something that has if it must be
reached from elsewhere). With several
worker processes it runs in worker 0 only, on a socket the supervisor bound
(gateway/smtp/workers.py); /metrics there adds up every worker's values.

- `/metrics`: Prometheus text format (gateway/admin/metrics.py; all processes' values added up
  in multiprocess mode).
- `/healthz`: 200 while the process runs and its event loop answers.
- `/readyz`: 200 only when the SMTP listener accepts (not draining), policies are loaded, the
  upstream answered recently (a transaction or a probe every `admin.probe_interval` seconds;
  probed at once when the last answer is older than three intervals) and the store answers a
  read and its last write (this process's) did not fail within three intervals; otherwise
  503. The JSON body says which check failed and why.
- `/console/`: the security team's console (gateway/admin/console/), when `admin.console: true`.

Untrusted input: HTTP requests from whoever can reach the listener (read-only routes here; the
console does its own checks). Slow and greedy clients (heads and bodies trickled, responses not
read, many connections from one address) are cut by gateway/admin/guard.py (`admin.header_timeout`
and the settings after it). Nothing here logs a secret: store errors are the store's own
messages, which mask passwords.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.admin.guard import ConnectionGuard, GuardedSite
from gateway.admin.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.errors import StartupError
from gateway.smtp.upstream import UpstreamError, probe
from gateway.store.observed import ObservedStore

if TYPE_CHECKING:
    from gateway.smtp.service import Gateway

log = logging.getLogger("gateway.admin")

STALE_INTERVALS = 3  # the upstream's last answer may be this many probe intervals old
STORE_PROBE_CAP = 5.0  # seconds the store check may take at most (Redis: store.timeout applies first)
READY_PROBE_DOMAIN = "readyz.invalid"  # what the store check reads (an RDAP cache entry that never exists)
# seconds a connection kept alive between requests waits for the next one (nginx's keepalive_timeout; aiohttp's own
# default is 3,630: docreview46 #1)
KEEPALIVE_TIMEOUT = 75.0


class AdminServer:
    """The admin HTTP listener of one `Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        if gateway.config.admin is None:
            raise ValueError("the admin listener needs an `admin:` section in the config")
        self.gateway = gateway
        self.cfg = gateway.config.admin
        self.metrics: GatewayMetrics = gateway.metrics
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.upstream_error = "not probed yet"
        self._probe_task: asyncio.Task[None] | None = None
        self._probing: asyncio.Task[bool] | None = None
        self.app: web.Application | None = None
        self.guard = ConnectionGuard(self.cfg, gateway.config.console.trusted_proxies)
        self.guard.on_cut = self.metrics.admin_cut_counted

    def _build(self) -> web.Application:
        app = web.Application(middlewares=[self.guard.middleware])
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/healthz", self.handle_healthz)
        app.router.add_get("/readyz", self.handle_readyz)
        if self.cfg.console:
            from gateway.admin.console import ConsoleDeps, create_console

            gw = self.gateway
            store = gw.runtime.store
            if store is None:
                raise StartupError(f"{gw.config.source}: admin.console: the console needs the history store; "
                                   "configure store: (sqlite or redis) or set console: false")
            deps = ConsoleDeps(config=gw.config, runtime=lambda: gw.runtime, store=store,
                               quarantine=gw.state.quarantine, reload=gw.reload_everywhere, metrics=self.metrics)
            app.add_subapp("/console/", create_console(deps))
        return app

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve; raises OSError when the address cannot be bound (the caller makes it
        a one-line start-up error)."""
        listen = self.cfg.listen
        try:
            self.app = self._build()
        except OSError as exc:  # the console's quarantine or state directory
            cfg = self.gateway.config
            raise StartupError(f"{cfg.source}: admin.console: {getattr(exc, 'filename', None) or 'a directory'}: "
                               f"cannot be opened ({exc.strerror or exc}); make quarantine.dir and "
                               "console.state_dir writable by the gateway user") from exc
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, keepalive_timeout=KEEPALIVE_TIMEOUT)
        await runner.setup()
        sock = self.gateway.admin_socket  # bound by the supervisor when serve runs workers
        site = GuardedSite(runner, self.guard, listen.host, listen.port, sock)  # deadlines, per-address cap
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner
        self.port = int(runner.addresses[0][1])
        if not ipaddress.ip_address(listen.host).is_loopback:
            log.warning("admin listener on %s is not loopback: it has no authentication of its own; "
                        "allow only the monitoring hosts to reach it", listen)
        self._probe_task = asyncio.create_task(self._probe_loop())
        log.info("admin listening on %s:%d (/metrics, /healthz, /readyz%s)", listen.host, self.port,
                 ", /console/" if self.cfg.console else "")

    async def stop(self) -> None:
        for task in (self._probe_task, self._probing):
            if task is not None:
                task.cancel()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        self.guard.close()

    # ---- upstream probe --------------------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            await self.probe_upstream()
            await asyncio.sleep(self.cfg.probe_interval)

    async def probe_upstream(self) -> bool:
        """One probe (connect, EHLO, QUIT); concurrent callers share it."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe_once())
        return await asyncio.shield(self._probing)

    async def _probe_once(self) -> bool:
        cfg = self.gateway.config
        try:
            await probe(cfg.upstream, cfg.hostname)
        except (UpstreamError, OSError) as exc:
            self.upstream_error = str(exc)[:200]
            self.metrics.upstream_up.set(0)
            return False
        self.upstream_error = ""
        self.metrics.upstream_up.set(1)
        self.metrics.upstream_answered()
        return True

    # ---- routes ------------------------------------------------------------------------------

    async def handle_metrics(self, request: web.Request) -> web.Response:
        self.metrics.sync(self.gateway.runtime)
        body = await asyncio.to_thread(self.metrics.exposition) if self.metrics.multiprocess \
            else self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def handle_healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def handle_readyz(self, request: web.Request) -> web.Response:
        checks = {
            "listener": self._listener(),
            "policies": self._policies(),
            "upstream": await self._upstream(),
            "store": await self._store(),
        }
        failed = [name for name, c in checks.items() if not c["ok"]]
        body = {"ready": not failed, "failed": failed, "checks": checks}
        return web.Response(text=json.dumps(body, indent=1) + "\n", status=503 if failed else 200,
                            content_type="application/json")

    def _listener(self) -> dict[str, Any]:
        gw = self.gateway
        if gw.state.draining:
            return {"ok": False, "detail": "shutting down (draining sessions)"}
        if gw.server is None:
            return {"ok": False, "detail": "the SMTP listener is not open yet"}
        return {"ok": True, "detail": f"SMTP on {gw.config.listen.host}:{gw.port}"}

    def _policies(self) -> dict[str, Any]:
        runtime = self.gateway.runtime
        policies = getattr(runtime, "policies", None)
        if policies is None or not policies.sources:
            return {"ok": False, "detail": "no policies loaded"}
        return {"ok": True, "detail": f"{len(policies.rules)} rules from {len(policies.sources)} files",
                "version": self.metrics.loaded_hash, "loaded_at": runtime.built_at}

    async def _upstream(self) -> dict[str, Any]:
        max_age = STALE_INTERVALS * self.cfg.probe_interval
        age = time.time() - self.metrics.last_upstream_ok
        if age > max_age:
            await self.probe_upstream()
            age = time.time() - self.metrics.last_upstream_ok
        up = self.gateway.config.upstream
        where = f"{up.host}:{up.port}"
        if age > max_age:
            return {"ok": False, "detail": f"upstream {where} has not answered within {max_age:g} s: "
                                           f"{self.upstream_error or 'no answer'}"}
        return {"ok": True, "detail": f"upstream {where} answered {age:.1f} s ago"}

    async def _store(self) -> dict[str, Any]:
        store = self.gateway.runtime.store
        if store is None:
            return {"ok": True, "detail": "no store configured"}
        observed = store if isinstance(store, ObservedStore) else None
        inner = observed.inner if observed is not None else store
        cfg = self.gateway.config.store
        start = time.perf_counter()
        try:
            await asyncio.wait_for(inner.rdap_get(READY_PROBE_DOMAIN), STORE_PROBE_CAP)
        except TimeoutError:
            return {"ok": False, "detail": f"{cfg.backend} store: no answer within {STORE_PROBE_CAP:g} s"}
        except Exception as exc:  # noqa: BLE001 - any store failure means not ready; the reason is shown
            return {"ok": False, "detail": f"{cfg.backend} store: {str(exc)[:300] or type(exc).__name__}"}
        # a store can answer reads and refuse every write (a full disk, a read-only file): the
        # outcome of the recent writes counts too (kept as they happen: no write per probe)
        failing = observed.writes.failing(STALE_INTERVALS * self.cfg.probe_interval, time.time()) \
            if observed is not None else ""
        if failing:
            return {"ok": False, "detail": f"{cfg.backend} store answers reads but {failing}"}
        return {"ok": True, "detail": f"{cfg.backend} store answered in {1000 * (time.perf_counter() - start):.1f} ms"}
