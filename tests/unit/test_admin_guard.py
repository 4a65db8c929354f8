"""gateway/admin/guard.py's per-address cap: which connections count as one address (IPv6 by its
/64, IPv4-mapped as IPv4, as the console's login throttle keys them) and which are exempt
(console.trusted_proxies). The deadlines are shown on real sockets in
tests/integration/test_admin_slow_clients.py."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from gateway.admin.guard import ConnectionGuard
from gateway.config import AdminConfig


class FakeTransport:
    def __init__(self, host: str) -> None:
        self.host, self.aborted = host, False

    def get_extra_info(self, name: str) -> Any:
        return (self.host, 40000, 0, 0) if ":" in self.host else (self.host, 40000)

    def abort(self) -> None:
        self.aborted = True


def admitted(hosts: list[str], exempt: tuple[str, ...] = ()) -> list[bool]:
    async def run() -> list[bool]:
        guard = ConnectionGuard(AdminConfig(max_per_address=2), tuple(ipaddress.ip_network(n) for n in exempt))
        guard.bind(lambda: asyncio.Protocol())
        out = [guard.admit(guard(), FakeTransport(h)) for h in hosts]  # type: ignore[arg-type]
        guard.close()
        return out
    return asyncio.run(run())


def test_ipv6_addresses_of_one_64_are_one_address() -> None:
    assert admitted(["2001:db8::1", "2001:db8::2", "2001:db8::ffff:3", "2001:db8:0:1::1"]) == [True, True, False, True]


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    assert admitted(["192.0.2.1", "::ffff:192.0.2.1", "::ffff:192.0.2.1", "192.0.2.2"]) == [True, True, False, True]


def test_trusted_proxies_are_exempt_from_the_cap() -> None:
    assert admitted(["127.0.0.3"] * 3 + ["::ffff:127.0.0.3"], ("127.0.0.3/32",)) == [True] * 4
    assert admitted(["127.0.0.4"] * 3, ("127.0.0.3/32",)) == [True, True, False]


def test_a_response_buffer_that_changes_is_not_stuck() -> None:
    """review46c #3: a buffer that grew from one sweep to the next counted as the client taking nothing (a client
    reading a stream written a little faster than it reads was cut after io_timeout). Stuck is a buffer that waits
    unchanged: the handler can only add to it while aiohttp does not pause it, that is while the client takes bytes."""
    from gateway.admin.guard import _Guarded

    async def run() -> list[float]:
        guard = ConnectionGuard(AdminConfig())
        guard.bind(lambda: asyncio.Protocol())
        conn = _Guarded(guard)
        return [conn._send_stuck(t, size) for t, size in (
            (0, 1000), (1, 2000), (2, 3000), (3, 4000),  # growing: never stuck
            (4, 4000), (5, 4000), (6, 4000),  # unchanged: stuck since the sweep at 3 saw it last change
            (7, 3000), (8, 0))]  # taken: not stuck
    assert asyncio.run(run()) == [0, 0, 0, 0, 1, 2, 3, 0, 0]


class Clock:
    """The guard's loop as far as its log needs one: time and timers, advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn: Any) -> Any:
        clock = self

        class Handle:
            def cancel(self) -> None:
                clock.timers = [t for t in clock.timers if t[1] is not fn]
        self.timers.append((when, fn))
        return Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, fn in due:
            fn()


def test_cuts_are_counted_and_logged_a_line_a_minute(caplog: Any) -> None:
    """Connections cut or refused were logged at debug only, with no metric (review46c): a flood went unseen at
    the default level. Now each is counted by reason as it happens, the first of a quiet minute is logged at info
    with its address, and the rest of that minute as one line of counts with the busiest addresses, when the minute
    ends (review47b #4: the line had waited for a next cut), or at close: a line a minute whoever floods."""
    import logging

    from gateway.admin.guard import LOG_EVERY
    from gateway.admin.metrics import GatewayMetrics

    guard = ConnectionGuard(AdminConfig())
    metrics = GatewayMetrics()
    guard.on_cut = metrics.admin_cut_counted
    clock = Clock()
    guard.loop = clock
    with caplog.at_level(logging.INFO, logger="gateway.admin"):
        guard.note("head", "192.0.2.1")
        for i in range(500):
            clock.advance(0.05)
            guard.note("cap", "192.0.2.1" if i % 5 else "198.51.100.0/64")
        guard.note("send", "192.0.2.9")
        assert len(caplog.records) == 1 and "192.0.2.1" in caplog.records[0].getMessage()
        assert "request head not complete" in caplog.records[0].getMessage()
        clock.advance(LOG_EVERY)  # the minute ends: its line is written though nothing else comes
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2, lines
        assert "501 more connections cut or refused" in lines[1] and "cap 500, send 1" in lines[1]
        assert "most from 192.0.2.1 400, 198.51.100.0/64 100, 192.0.2.9 1" in lines[1]
        guard.note("body", "192.0.2.7")  # a quiet minute's first: logged at once
        guard.note("body", "192.0.2.7")
        guard.close()  # what is held is logged at close
        lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4, lines
    assert "request body too slow" in lines[2] and "192.0.2.7" in lines[2]
    assert "1 more connections cut or refused" in lines[3] and "body 1" in lines[3]
    assert guard.cut == {"head": 1, "cap": 500, "send": 1, "body": 2}
    text = metrics.exposition().decode()  # counted as they happened, not at a scrape
    assert 'approach_gateway_admin_connections_cut_total{reason="cap"} 500.0' in text
    assert 'approach_gateway_admin_connections_cut_total{reason="body"} 2.0' in text
    assert 'approach_gateway_admin_connections_cut_total{reason="idle"} 0.0' in text
