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
