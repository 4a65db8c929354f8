"""Bounds on the admin listener's connections (atk45 #2).

aiohttp's server has no deadline for reading a request (headers sent a byte a second stayed open for 150 s, a body
announced and never sent for ever) and no cap on connections: 420 half-sent requests used up the process's file
descriptors, which the same process needs for SMTP (the listener runs in worker 0 of `serve`), and /healthz timed out.
Here every connection may stay open MAX_LIFETIME seconds, whatever it does (a console page, a Try upload on a LAN and
Prometheus' scrapes take seconds; a browser opens a new keep-alive connection when one is closed), and at most
MAX_CONNECTIONS are open at once: the ones over are closed as they arrive (Postfix's smtpd has the same two:
`smtpd_timeout` and the process limit).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

MAX_CONNECTIONS = 128
MAX_LIFETIME = 120.0  # seconds


def bound_connections(server: web.Server, cap: int | None = None, lifetime: float | None = None) -> None:
    """Close each connection of `server` (an AppRunner's, after `setup`) `lifetime` (MAX_LIFETIME) seconds after it
    was made, and any made while `cap` (MAX_CONNECTIONS) are open. Wraps the server's own bookkeeping
    (`connection_made`/`connection_lost`, called by each connection's protocol): call it before the site starts."""
    cap = MAX_CONNECTIONS if cap is None else cap
    lifetime = MAX_LIFETIME if lifetime is None else lifetime
    loop = asyncio.get_running_loop()
    made, lost = server.connection_made, server.connection_lost
    open_: dict[Any, asyncio.TimerHandle] = {}

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        made(handler, transport)
        if len(open_) >= cap:
            transport.close()
            return
        open_[handler] = loop.call_later(lifetime, transport.close)

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        timer = open_.pop(handler, None)
        if timer is not None:
            timer.cancel()
        lost(handler, exc)

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.connection_lost = connection_lost  # type: ignore[method-assign]
