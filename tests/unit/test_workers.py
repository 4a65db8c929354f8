"""The pieces of `serve` with workers that need no processes: the console's reload reaching the
other workers, the supervisor's listening sockets and how it reports a worker's end
(tests/integration/test_serve_workers.py runs the real thing)."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path
from typing import Any

import pytest

from gateway.config import HostPort
from gateway.errors import StartupError
from gateway.smtp.service import Gateway
from gateway.smtp.workers import bind_admin, bind_listeners, how_it_ended
from tests.conftest import make_config


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, **message: Any) -> None:
        self.sent.append(message)


async def test_a_workers_console_reload_asks_the_supervisor_to_reload_the_others(tmp_path: Path) -> None:
    link = FakeLink()
    gw = Gateway(make_config(9, tmp_path), watch_interval=None, link=link)  # type: ignore[arg-type]
    assert await gw.reload_everywhere()
    assert link.sent == [{"reload": True}]
    alone = Gateway(make_config(9, tmp_path), watch_interval=None)
    assert await alone.reload_everywhere()  # one process: nothing else to tell


def test_the_supervisor_binds_listen_and_admin_once(tmp_path: Path) -> None:
    config = make_config(9, tmp_path, "admin: {listen: 127.0.0.1:0}")
    socks = bind_listeners(config)
    admin = bind_admin(config)
    try:
        assert len(socks) == 1 and socks[0].getsockname()[0] == "127.0.0.1"
        assert admin is not None and admin.getsockname()[1] > 0
        busy = socks[0].getsockname()[1]
        clash = dataclasses.replace(config, listen=HostPort("127.0.0.1", busy))
        with pytest.raises(StartupError, match=rf"listen: 127.0.0.1:{busy}: address already in use"):
            bind_listeners(clash)
    finally:
        for s in socks:
            s.close()
        if admin is not None:
            admin.close()
    assert bind_admin(make_config(9, tmp_path)) is None  # no admin listener: nothing to bind


def test_how_a_worker_ended_reads_like_a_shell() -> None:
    assert how_it_ended(-signal.SIGKILL) == "was killed by SIGKILL"
    assert how_it_ended(2) == "exited with status 2"
