"""Deadlines and a per-address cap for the admin listener's connections (slowloris, atk45 #2).

Purpose: aiohttp reads a request for as long as the client takes and accepts every connection,
and the admin listener shares the gateway process's file descriptors with SMTP. `ConnectionGuard`
wraps the `web.Server` protocol factory: each connection's protocol is aiohttp's own
`RequestHandler`, fed through `_Guarded`, which counts the bytes that arrive; a middleware
(`ConnectionGuard.middleware`) says when a request's handler starts and ends and hands over the
request's body stream (`request.content`, public API). One periodic sweep (`loop.call_later`,
only while connections are open) checks every connection and aborts (`transport.abort()`: no
wait for a client that reads nothing) the ones past a deadline, as Apache's mod_reqtimeout
(`header=20-40,MinRate=500 body=20,MinRate=500`) and core `Timeout 60` do:

- head: the first request's head within `header_timeout` s of the connection opening, a later
  one's within `header_timeout` s of its first byte, extended by one second per `min_rate`
  bytes received, to at most `header_timeout_max` s. Waiting for a later request's first byte is
  the runner's keep-alive timeout (gateway.admin.KEEPALIVE_TIMEOUT, 75 s).
- body: while a request's body is incomplete, `body_timeout` s from its handler's start, extended
  by one second per `min_rate` bytes, and no more than `io_timeout` s without a byte.
- send: a response waiting in the write buffer that the client takes nothing of for `io_timeout` s.

Time during which the server does not read (aiohttp paused reading: a handler not consuming its
upload, pipelined requests queued) does not count against the client (the send deadline still
runs). A handler that runs while the client has sent everything is never cut, however long it
takes. Connections from one address (IPv6: its /64; IPv4-mapped as IPv4; console.db.address_key)
beyond `max_per_address`: the address's oldest connection kept alive between requests is closed
for the new one, and when all are busy the new one is aborted as it opens;
`console.trusted_proxies` (a reverse proxy that buffers, with timeouts of its own) are exempt from
the cap but not from the deadlines.

Untrusted input: connections and bytes from whoever reaches the listener; nothing here reads
the bytes (aiohttp parses them), it only counts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.admin.console.db import address_key
from gateway.config import AdminConfig, Network, in_networks

log = logging.getLogger("gateway.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_WHY = {"head": "request head not complete in time (admin.header_timeout, min_rate)",
        "body": "request body too slow (admin.body_timeout, min_rate, io_timeout)",
        "send": "the client took no byte of the response (admin.io_timeout)",
        "cap": "refused: the address has admin.max_per_address connections open, all busy",
        "idle": "closed an idle kept-alive connection for a new one from the same address (admin.max_per_address)"}
# Connections cut or refused are logged at `info`, the first of a quiet minute with its address and
# reason, the rest of that minute as one line of counts with its busiest addresses when the minute ends (a
# timer) or the listener closes: whoever fills the listener cannot fill the log (a line a minute), and the
# operator still sees that it happens and from where; every one is counted in
# approach_gateway_admin_connections_cut as it happens.
LOG_EVERY = 60.0
HELD_ADDRESSES = 64  # addresses whose held-back cuts are counted for the minute's line (its five busiest named)


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's protocol behind it, the counts the sweep checks."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.key = ""
        now = guard.loop.time()
        # the head being received: its clock (the connection's opening for the first request)
        self.head_start: float | None = now
        self.head_bytes = 0
        # the request being handled (between the middleware's entry and exit) and its body
        self.handling = False
        self.content: Any = None  # the request's StreamReader (is_eof: the whole body arrived)
        self.body_start = 0.0
        self.body_bytes = 0
        self.last_read = now  # the last byte received, or the last time the server was not reading
        self.during_handling = 0  # bytes received while a handler ran with its body complete
        # the write side: the buffer's size at the last sweep, whether it drained since, since when stuck
        self.sent_size = 0
        self.resumed = False
        self.send_stuck: float | None = None

    # ---- asyncio.Protocol, forwarded to aiohttp's RequestHandler --------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard.admit(self, transport):
            transport.abort()
            return
        self.inner = self.guard.factory()
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        now = self.guard.loop.time()
        self.last_read = now
        n = len(data)
        if self.handling or (self.content is not None and not self.content.is_eof()):
            if self.content is not None and not self.content.is_eof():
                self.body_bytes += n
            else:
                self.during_handling += n  # pipelined: the next request's head
        else:
            if self.head_start is None:
                self.head_start = now
            self.head_bytes += n
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.resumed = True
        if self.inner is not None:
            self.inner.resume_writing()

    # ---- what the middleware says ---------------------------------------------------------------

    def request_started(self, content: Any) -> None:
        now = self.guard.loop.time()
        self.handling = True
        self.content = content
        self.head_start, self.head_bytes = None, 0
        self.body_start, self.body_bytes, self.last_read = now, 0, now
        self.during_handling = 0

    def request_ended(self) -> None:
        self.handling = False
        if self.during_handling:  # bytes of the next request arrived while this one was handled
            self.head_start, self.head_bytes = self.guard.loop.time(), self.during_handling
            self.during_handling = 0

    # ---- the sweep ----------------------------------------------------------------------------

    def overdue(self, now: float, elapsed: float) -> str | None:
        """Which deadline this connection is past now (`head`, `body`, `send`), or None."""
        transport = self.transport
        if transport is None or self.inner is None:
            return None
        cfg = self.guard.cfg
        if self._send_stuck(now, transport.get_write_buffer_size()) > cfg.io_timeout:
            return "send"
        if not transport.is_reading():  # the server asks for no bytes now: the client cannot be late
            self.last_read = now
            if self.head_start is not None:
                self.head_start += elapsed  # (since the last sweep)
            self.body_start += elapsed
            return None
        if self.content is not None and not self.content.is_eof():  # a body still to come
            if now - self.body_start > cfg.body_timeout + self.body_bytes / cfg.min_rate \
                    or now - self.last_read > cfg.io_timeout:
                return "body"
            return None
        if not self.handling and self.head_start is not None:
            if now - self.head_start > min(cfg.header_timeout + self.head_bytes / cfg.min_rate,
                                           cfg.header_timeout_max):
                return "head"
        return None

    def idle(self) -> bool:
        """Kept alive between requests: no request handled, no byte of the next one, nothing to send."""
        return (not self.handling and self.head_start is None and (self.content is None or self.content.is_eof())
                and self.transport is not None and self.transport.get_write_buffer_size() == 0)

    def _send_stuck(self, now: float, size: int) -> float:
        """Seconds a response has waited to be sent with its buffer unchanged (0: none waits, or the
        buffer changed since the last sweep: the client took some, or the handler wrote more, which it
        can only do while the client takes bytes, aiohttp pausing it above its high-water mark;
        review46c #3: a growing buffer had counted as stuck, and a client reading a stream was cut)."""
        if size == 0 or size != self.sent_size or self.resumed:
            self.send_stuck = None if size == 0 else now
        elif self.send_stuck is None:
            self.send_stuck = now
        self.sent_size, self.resumed = size, False
        return 0.0 if self.send_stuck is None else now - self.send_stuck


def _no_factory() -> asyncio.Protocol:
    raise RuntimeError("ConnectionGuard.factory is set after the runner's setup")


class ConnectionGuard:
    """The protocol factory to bind (`loop.create_server(guard, ...)`, `GuardedSite`) in place
    of aiohttp's `web.Server` (`factory`), and the middleware that tells it when requests are
    handled (the application's first)."""

    def __init__(self, cfg: AdminConfig, exempt: tuple[Network, ...] = ()) -> None:
        self.factory: Callable[[], asyncio.Protocol] = _no_factory  # aiohttp's web.Server, once set up
        self.cfg = cfg
        self.exempt = exempt
        self.loop: Any = None  # the serving loop (bind)
        self.by_key: dict[str, list[_Guarded]] = {}  # each capped address's open connections, oldest first
        self.connections: set[_Guarded] = set()
        self.by_transport: dict[asyncio.BaseTransport, _Guarded] = {}
        # the sweep's period: a fifth of the shortest deadline, within [0.05, 1] s
        self.tick = max(0.05, min(1.0, min(cfg.header_timeout, cfg.body_timeout, cfg.io_timeout) / 5))
        self._sweep: asyncio.TimerHandle | None = None
        self._last_sweep = 0.0
        self.cut: dict[str, int] = {}  # reason -> connections cut or refused (the metric, tests)
        self._window_start: float | None = None  # when the minute of the last logged cut began
        self._held: dict[str, int] = {}  # reason -> cuts of that minute not logged one by one
        self._held_from: dict[str, int] = {}  # address -> those cuts (at most HELD_ADDRESSES addresses)
        self._flush_timer: asyncio.TimerHandle | None = None
        self.on_cut: Callable[[str], None] | None = None  # the metric's counter (gateway/admin/__init__.py)

    def bind(self, factory: Callable[[], asyncio.Protocol]) -> None:
        """Serve through `factory` (aiohttp's `web.Server`, once the runner is set up) in this loop."""
        self.factory, self.loop = factory, asyncio.get_running_loop()

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    def admit(self, conn: _Guarded, transport: asyncio.Transport) -> bool:
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        conn.key = address_key(host) if host else ""
        if conn.key and not in_networks(host, self.exempt):
            if len(self.by_key.get(conn.key, ())) >= self.cfg.max_per_address and not self._evict_idle(conn.key):
                self.note("cap", conn.key)
                conn.key = ""
                return False
            self.by_key.setdefault(conn.key, []).append(conn)
        else:
            conn.key = ""
        self.connections.add(conn)
        self.by_transport[transport] = conn
        if self._sweep is None:
            self._last_sweep = self.loop.time()
            self._sweep = self.loop.call_later(self.tick, self.sweep)
        return True

    def _evict_idle(self, key: str) -> bool:
        """At the address's cap: close its oldest connection kept alive between requests, so that what
        browsers and scrapers leave open does not keep out their next one (review46c #1); False when
        every one of them is busy (a request being sent or handled, a response being taken)."""
        for old in self.by_key.get(key, []):  # (oldest first)
            if old.idle() and old.transport is not None:
                self.note("idle", key)
                old.transport.abort()
                self.release(old)  # now (connection_lost comes at the loop's next turn and finds it gone)
                return True
        return False

    def release(self, conn: _Guarded) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        if conn.transport is not None:
            self.by_transport.pop(conn.transport, None)
        if conn.key:
            same = self.by_key.get(conn.key, [])
            if conn in same:
                same.remove(conn)
            if not same:
                self.by_key.pop(conn.key, None)

    def sweep(self) -> None:
        self._sweep = None
        now = self.loop.time()
        elapsed, self._last_sweep = now - self._last_sweep, now
        for conn in list(self.connections):
            reason = conn.overdue(now, elapsed)
            if reason is not None and conn.transport is not None:
                self.note(reason, conn.key or "an exempt address")
                conn.transport.abort()
        self._flush(now)
        if self.connections:
            self._sweep = self.loop.call_later(self.tick, self.sweep)

    def note(self, reason: str, who: str) -> None:
        """Count a connection cut or refused for `reason`; log it (see LOG_EVERY)."""
        self.cut[reason] = self.cut.get(reason, 0) + 1
        if self.on_cut is not None:
            self.on_cut(reason)  # counted now: a worker that exits before the next scrape loses none (review47b #5)
        now = self.loop.time() if self.loop is not None else 0.0
        self._flush(now)
        if self._window_start is None:
            self._window_start = now
            log.info("admin: %s from %s (more in the next %.0f s are counted, then logged as one line)",
                     _WHY[reason], who, LOG_EVERY)
            return
        self._held[reason] = self._held.get(reason, 0) + 1
        if who in self._held_from or len(self._held_from) < HELD_ADDRESSES:
            self._held_from[who] = self._held_from.get(who, 0) + 1
        if self._flush_timer is None and self.loop is not None:
            # the minute's line is written when it ends, whether or not anything comes after it (review47b #4)
            self._flush_timer = self.loop.call_at(self._window_start + LOG_EVERY, self._on_timer)

    def _on_timer(self) -> None:
        self._flush_timer = None
        self._flush(self.loop.time())

    def _flush(self, now: float, *, final: bool = False) -> None:
        """At the end of a logged minute (or at close): one line for the cuts held back in it, and a quiet start."""
        if self._window_start is None or (now - self._window_start < LOG_EVERY and not final):
            return
        if self._held:
            top = sorted(self._held_from.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            log.info("admin: %d more connections cut or refused since the one logged %.0f s ago (%s; most from %s)",
                     sum(self._held.values()), now - self._window_start,
                     ", ".join(f"{r} {n}" for r, n in sorted(self._held.items())),
                     ", ".join(f"{a} {n}" for a, n in top))
        self._window_start, self._held, self._held_from = None, {}, {}
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None

    def close(self) -> None:
        """Stop the sweep and abort what is left (after aiohttp's own shutdown: a transport it
        closed that still waits to send to a client that reads nothing); log the cuts held back."""
        self._flush(self.loop.time() if self.loop is not None else 0.0, final=True)
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = self.by_transport.get(request.transport) if request.transport is not None else None
        if conn is None:
            return await handler(request)
        conn.request_started(request.content)
        try:
            return await handler(request)
        finally:
            conn.request_ended()


class GuardedSite(web.BaseSite):
    """`web.TCPSite` / `web.SockSite`, serving through `guard`."""

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, host: str = "", port: int = 0,
                 sock: Any = None) -> None:
        super().__init__(runner)
        self._guard, self._host, self._port, self._sock = guard, host, port, sock

    @property
    def name(self) -> str:
        host, port = (self._host, self._port) if self._sock is None else self._sock.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        assert self._runner.server is not None
        self._guard.bind(self._runner.server)
        loop = asyncio.get_running_loop()
        if self._sock is not None:
            self._server = await loop.create_server(self._guard, sock=self._sock, backlog=self._backlog)
        else:
            self._server = await loop.create_server(self._guard, self._host, self._port, backlog=self._backlog,
                                                    reuse_address=True)
