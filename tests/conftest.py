from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.config import Config, parse_config  # noqa: E402
from tests.support.dnsserver import TestDNSServer  # noqa: E402
from tests.support.sink import Sink, SinkBehaviour  # noqa: E402

IN_CI = os.environ.get("CI") == "true"

# No per-example deadline for Hypothesis (its default is 200 ms): on a busy machine one example
# stalled past it (a GC pass, another process on the core) and its faster replay made Hypothesis
# fail the test as "Unreliable test timings" (FlakyFailure). The suite asserts no timings; 43 of
# the 53 @given tests already said deadline=None, this covers the other 10 and any new one.
# Loaded here, before any test module: their @settings(...) inherit it.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hostile: the bounded hostile-client suite (fuzzing, smuggling, relay forms, soak); "
                   "runs in the normal run, select it alone with -m hostile")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """`async def` tests run in a fresh event loop of their own (no plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


def need_binary(name: str) -> str:
    """Path of a system binary; skip locally without it, fail in CI (where it must exist)."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}",
                                                   f"/usr/lib/postfix/sbin/{name}")
                                       if os.path.exists(p)), None)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI but not installed (see .ci/run)")
        pytest.skip(f"{name} not installed (apt-get install the package that provides it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port where nothing listens, held (bound, never listening) until the block ends: a connection
    to it is refused, and no socket bound to port 0 meanwhile is given it (a `free_port()` "nothing
    listens there" is released at once, and the gateway's own listener could get it: review40 #6)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: each socket stays bound until all are picked (two free_port() calls
    in a row may get the same port back: CI saw a gateway's admin and SMTP listeners given one)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


_LOOPBACK_DNS: TestDNSServer | None = None


def loopback_dns() -> TestDNSServer:
    """One empty authoritative DNS server on 127.0.0.1 for the whole run (every name NXDOMAIN,
    answered at once). Tests never query the machine's own resolver: network tests stay on
    127.0.0.0/8 and do not wait on a resolver that may drop names like ext.test."""
    global _LOOPBACK_DNS
    if _LOOPBACK_DNS is None:
        _LOOPBACK_DNS = TestDNSServer().start()
    return _LOOPBACK_DNS


def make_config(upstream_port: int, tmp_path: Path, extra: str = "", policies: str | None = None) -> Config:
    dns = "" if "dns:" in extra else f'dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}'
    text = f"""
listen: 127.0.0.1:0
upstream: {{host: 127.0.0.1, port: {upstream_port}, connect_timeout: 2, command_timeout: 5, data_timeout: 5}}
hostname: gw.example.org
authserv_id: gw.example.org
local_domains: [example.org, example.ac.uk]
policies: [{policies or ROOT / 'policies'}]
store: {{path: {tmp_path / 'store.sqlite3'}}}
{"" if "limits:" in extra else "limits: {shutdown_grace: 2}"}
{dns}
{extra}
"""
    path = tmp_path / "gateway.yml"
    if not path.exists():  # written so that a reload (which re-reads the config) finds it
        path.write_text(text)
    return parse_config(text, str(path))


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink(SinkBehaviour()).start()
    yield s
    s.stop()
