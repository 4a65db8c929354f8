from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime import Runtime
from gateway.smtp.service import ThreadedGateway
from tests.conftest import make_config
from tests.support.sink import Sink, SinkBehaviour

SIMPLE = (b"From: Alice <alice@ext.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
          b"Message-ID: <1@ext.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nHello Bob.\r\n")


class Harness:
    """A sink (the upstream) and a gateway in front of it, for one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.sink: Sink | None = None
        self.gw: ThreadedGateway | None = None

    def start(self, extra: str = "", behaviour: SinkBehaviour | None = None,
              runtime_kwargs: dict[str, Any] | None = None, upstream_port: int | None = None) -> Harness:
        if upstream_port is None:
            self.sink = Sink(behaviour or SinkBehaviour()).start()
            upstream_port = self.sink.port
        config = make_config(upstream_port, self.tmp_path, extra)
        kwargs = {}
        if runtime_kwargs is not None:
            kwargs["runtime"] = Runtime(config, **runtime_kwargs)
        self.gw = ThreadedGateway(config, **kwargs).start()
        return self

    @property
    def port(self) -> int:
        assert self.gw is not None
        return self.gw.port

    def client(self, helo: str = "client.test") -> smtplib.SMTP:
        c = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
        c.ehlo(helo)
        return c

    def stop(self) -> None:
        if self.gw is not None:
            self.gw.stop()
        if self.sink is not None:
            self.sink.stop()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.stop()
