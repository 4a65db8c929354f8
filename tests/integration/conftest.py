from __future__ import annotations

import smtplib
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config
from gateway.replies import Reply
from gateway.runtime import Runtime
from gateway.smtp.service import ThreadedGateway
from tests.conftest import make_config, need_binary
from tests.support.http import wait_until
from tests.support.sink import Sink, SinkBehaviour

HOST = "gw.example.org"  # the gateway's hostname in tests/conftest.py make_config


def said(reply: Reply, **fields: object) -> bytes:
    """The line the gateway writes for one of its own replies (gateway/replies.py), CRLF included;
    `{host}` is the test gateway's hostname."""
    return str(reply.format(host=HOST, **fields)).encode() + b"\r\n"


SIMPLE = (b"From: Alice <alice@ext.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
          b"Message-ID: <1@ext.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nHello Bob.\r\n")


class Harness:
    """A sink (the upstream) and a gateway in front of it, for one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.sink: Sink | None = None
        self.gw: ThreadedGateway | None = None

    def start(self, extra: str = "", behaviour: SinkBehaviour | None = None,
              runtime_kwargs: dict[str, Any] | None = None, upstream_port: int | None = None,
              runtime: Callable[[Config], Runtime] | None = None,
              watch_interval: float | None = 2.0) -> Harness:
        if upstream_port is None:
            self.sink = Sink(behaviour or SinkBehaviour()).start()
            upstream_port = self.sink.port
        config = make_config(upstream_port, self.tmp_path, extra)
        kwargs: dict[str, Any] = {"watch_interval": watch_interval}  # None: no policy file watcher
        if runtime_kwargs is not None:
            kwargs["runtime"] = Runtime(config, **runtime_kwargs)
        if runtime is not None:
            kwargs["runtime"] = runtime(config)
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

    def sessions(self) -> int:
        """The client sessions the gateway counts now (the connection limits count these)."""
        assert self.gw is not None and self.gw.gateway is not None
        return len(self.gw.gateway.state.sessions)

    def wait_sessions(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until the gateway counts `count` sessions; True when reached. A client's close
        reaches the gateway a loop turn or more later (it counts the session until then), so a
        test that needs the slot back waits for this, not for a fixed time."""
        return wait_until(lambda: self.sessions() == count, timeout, interval=0.02)

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


@pytest.fixture
def cert(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate and key for the gateway's STARTTLS."""
    need_binary("openssl")
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=gw.example.org"],
                   check=True, capture_output=True)
    return str(crt), str(key)


def client_tls() -> ssl.SSLContext:
    """A client context that accepts the test certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
