"""The admin listener against slow and greedy clients (atk45 #2, review45b #2, #3, #5): a head or
body trickled below `admin.min_rate` is cut, a client that takes none of its response is cut after
`admin.io_timeout`, one address holds at most `admin.max_per_address` connections (another
address still gets /healthz; `console.trusted_proxies` exempt), and neither a genuine upload
slower than the timeouts nor a handler slower than them is cut. Real sockets on 127.0.0.0/8 (every
address there is loopback on Linux); the timeouts are made small so that a cut comes quickly. Each
cut is seen from aiohttp's side (`web.Server.connections`) or as the client's socket closing."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

import gateway.admin
from tests.integration.conftest import Harness
from tests.support.http import get, samples, wait_until

FAST = ("admin: {listen: 127.0.0.1:0, probe_interval: 60, header_timeout: 0.5, header_timeout_max: 1, "
        "body_timeout: 0.5, io_timeout: 1, min_rate: 10000, max_per_address: 4}")
SLOW_HANDLER = 2.0  # seconds /test/slow takes: longer than every timeout in FAST
BIG = 4 * 1024 * 1024  # bytes /test/big answers: more than loopback's socket buffers hold unread


class RoutedAdmin(gateway.admin.AdminServer):
    """The admin listener with three test routes beside its own."""

    def _build(self) -> web.Application:
        app = super()._build()

        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(SLOW_HANDLER)
            return web.Response(text="done\n")

        async def upload(request: web.Request) -> web.Response:
            size = 0
            async for chunk in request.content.iter_any():
                size += len(chunk)
            return web.Response(text=f"{size}\n")

        async def late_upload(request: web.Request) -> web.Response:
            await asyncio.sleep(SLOW_HANDLER)  # meanwhile aiohttp stops reading (its buffer is full)
            return await upload(request)

        async def big(request: web.Request) -> web.Response:
            return web.Response(body=b"x" * BIG)
        app.router.add_get("/test/slow", slow)
        app.router.add_post("/test/upload", upload)
        app.router.add_post("/test/late-upload", late_upload)
        app.router.add_get("/test/big", big)
        sub = web.Application()  # as the console is mounted: the guard's middleware must see its requests
        sub.router.add_get("/slow", slow)
        app.add_subapp("/sub/", sub)
        return app


@pytest.fixture
def admin(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setattr(gateway.admin, "AdminServer", RoutedAdmin)
    yield harness


def start(h: Harness, extra: str = FAST) -> int:
    h.start(extra, watch_interval=None)
    assert h.gw is not None and h.gw.gateway is not None and h.gw.gateway.admin is not None
    return h.gw.gateway.admin.port


def open_connections(h: Harness) -> int:
    """The connections aiohttp serves now."""
    assert h.gw is not None and h.gw.gateway is not None and h.gw.gateway.admin is not None
    runner = h.gw.gateway.admin.runner
    assert runner is not None and runner.server is not None
    return len(runner.server.connections)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s: socket.socket, trickle: bytes = b"", within: float = 10.0) -> bool:
    """Send `trickle` a byte every 0.05 s (none when empty) until the server closes the
    connection; True when it did within `within` seconds."""
    end = time.monotonic() + within
    s.settimeout(0.05)
    i = 0
    while time.monotonic() < end:
        try:
            if trickle:
                s.send(trickle[i % len(trickle):i % len(trickle) + 1])
                i += 1
            if s.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset
            return True
    return False


def response(s: socket.socket) -> bytes:
    """One whole response (Content-Length framed) read from `s`."""
    s.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_head_trickled_below_the_rate_is_cut_and_a_genuine_request_is_not(admin: Harness) -> None:
    port = start(admin)
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert closed_by_server(s, b"X-Slow: aaaaaaaaaaaaaa\r\n")  # ~20 bytes/s, min_rate 10000
    with connect(port) as s:  # a connection that sends nothing: the head's time runs from its opening
        assert closed_by_server(s)
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200


def test_a_head_sent_above_the_rate_is_still_cut_at_header_timeout_max(admin: Harness) -> None:
    port = start(admin, FAST.replace("min_rate: 10000", "min_rate: 10"))  # each byte 0.05 s apart earns 0.1 s
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        start_time = time.monotonic()
        assert closed_by_server(s, b"X-Slow: aaaaaaaaaaaaaa\r\n")
        assert time.monotonic() - start_time < 8  # header_timeout_max 1 s (aiohttp's own limit: a 8190-byte line)


def test_a_partial_head_after_a_keep_alive_response_is_cut(admin: Harness) -> None:
    port = start(admin)
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b" 200 " in response(s).split(b"\r\n")[0]
        s.sendall(b"GET /hea")  # the next request, never finished (aiohttp's keep-alive alone: 75 s)
        assert closed_by_server(s)


def test_a_body_trickled_below_the_rate_is_cut(admin: Harness) -> None:
    port = start(admin)
    with connect(port) as s:
        s.sendall(b"POST /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        assert closed_by_server(s, b"x")  # 20 bytes/s


def test_a_body_that_stops_after_a_fast_start_is_cut_after_io_timeout(admin: Harness) -> None:
    port = start(admin)
    with connect(port) as s:  # 100 KB at once earns 10 s at min_rate 10000; then nothing
        s.sendall(b"POST /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + b"y" * 100_000)
        start_time = time.monotonic()
        assert closed_by_server(s)
        assert time.monotonic() - start_time < 8  # io_timeout 1 s, not the 10.5 s the rate allows


def test_an_upload_at_a_good_rate_longer_than_the_timeouts_completes(admin: Harness) -> None:
    port = start(admin)
    chunk, count = b"y" * 20_000, 60  # 1.2 MB in about 3 s (0.05 s apart: ~400 KB/s, min_rate 10 KB/s)
    with connect(port) as s:
        s.sendall(b"POST /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (len(chunk) * count))
        for _ in range(count):
            s.sendall(chunk)
            time.sleep(0.05)
        reply = response(s)
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\n%d\n" % (len(chunk) * count))


def test_a_handler_slower_than_every_timeout_completes(admin: Harness) -> None:
    port = start(admin)
    status, _, body = get(f"http://127.0.0.1:{port}/test/slow")
    assert status == 200 and body == "done\n"


def test_a_slow_handler_of_a_sub_application_completes(admin: Harness) -> None:
    port = start(admin)
    status, _, body = get(f"http://127.0.0.1:{port}/sub/slow")
    assert status == 200 and body == "done\n"


def test_an_upload_the_handler_reads_late_is_not_cut_while_the_server_does_not_read(admin: Harness) -> None:
    port = start(admin)
    size = 2_000_000  # sent at once; aiohttp reads ~128 KiB and stops until the handler reads
    with connect(port) as s:
        s.sendall(b"POST /test/late-upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size + b"z" * size)
        reply = response(s)
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\n%d\n" % size)


def test_a_client_that_reads_no_response_is_cut(admin: Harness) -> None:
    port = start(admin)
    with connect(port) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /test/big HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read
        assert wait_until(lambda: open_connections(admin) == 1, 5)
        assert wait_until(lambda: open_connections(admin) == 0, 10)  # io_timeout 1 s


def test_one_address_at_its_cap_leaves_another_its_healthz(admin: Harness) -> None:
    port = start(admin)
    held = [connect(port, "127.0.0.2") for _ in range(4)]  # max_per_address: 4
    try:
        for s in held:
            s.sendall(b"GET /test/slow HTTP/1.1\r\nHost: x\r\n\r\n")  # busy, never cut
        assert wait_until(lambda: open_connections(admin) == 4, 5)
        with connect(port, "127.0.0.2") as fifth:
            assert closed_by_server(fifth, within=5)  # refused at once (before any deadline)
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200  # another address
        # counted where an operator looks (review46c: refusals were logged at debug only, with no metric)
        metrics = samples(get(f"http://127.0.0.1:{port}/metrics")[2])
        assert metrics['approach_gateway_admin_connections_cut_total{reason="cap"}'] == 1.0
        for s in held:  # the four held ones were served
            assert response(s).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()


def test_a_trusted_proxy_is_exempt_from_the_cap_but_not_the_deadlines(admin: Harness) -> None:
    port = start(admin, FAST + "\nconsole: {trusted_proxies: [127.0.0.3/32]}")
    held = [connect(port, "127.0.0.3") for _ in range(6)]
    try:
        for s in held:
            s.sendall(b"GET /test/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in held:
            assert response(s).startswith(b"HTTP/1.1 200 ")  # six, over the cap of 4
        with connect(port, "127.0.0.3") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert closed_by_server(s, b"X: y\r\n")
    finally:
        for s in held:
            s.close()


def test_at_the_cap_an_idle_kept_alive_connection_gives_way(admin: Harness) -> None:
    """review46c #1: connections kept alive between requests (browsers, scrapers) filled an address's cap until
    aiohttp's keep-alive timeout (75 s), and every new connection from it was refused. At the cap, the oldest idle one
    is closed for the new one; busy ones (a request being sent or handled) never are."""
    port = start(admin)
    held = [connect(port, "127.0.0.9") for _ in range(4)]  # max_per_address: 4
    try:
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b" 200 " in response(s)
        time.sleep(1.5)  # idle past every deadline in FAST: kept alive (aiohttp's 75 s)
        with connect(port, "127.0.0.9") as fifth:
            fifth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response(fifth).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(held[0], within=5)  # the oldest gave way
        for s in held[1:]:  # the others are still served
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert response(s).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()



def test_a_kept_alive_connection_is_closed_after_the_keep_alive_timeout(admin: Harness,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """docreview46 #1: the runner set no keep-alive timeout, so aiohttp's own (3,630 s) kept an idle connection an hour;
    gateway.admin.KEEPALIVE_TIMEOUT (75 s, nginx's) closes it."""
    monkeypatch.setattr(gateway.admin, "KEEPALIVE_TIMEOUT", 1.0, raising=False)
    port = start(admin)
    with connect(port, "127.0.0.6") as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response(s).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(s, within=5)
