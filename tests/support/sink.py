"""A recording upstream MTA for tests: a real aiosmtpd server on 127.0.0.1, port 0.

It records every transaction it accepted (with the exact bytes), can refuse chosen recipients,
answer DATA with a chosen code, stall, or advertise XFORWARD / SMTPUTF8 / a SIZE limit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP

from gateway.smtp.server import DSN_MAIL_PARAMS, DSN_RCPT_PARAMS, split_dsn_params


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]
    xforward: dict[str, str]
    dsn: list[str] = field(default_factory=list)


@dataclass
class SinkBehaviour:
    refuse_rcpt: set[str] = field(default_factory=set)
    data_reply: str | None = None  # e.g. "554 5.7.1 rejected"
    data_delay: float = 0.0
    mail_delay: float = 0.0
    size: int | None = None
    smtputf8: bool = True
    eightbitmime: bool = True
    xforward: bool = False
    dsn: bool = False


class _SinkSMTP(SMTP):
    async def smtp_MAIL(self, arg: str | None) -> None:
        arg, params = split_dsn_params(arg, DSN_MAIL_PARAMS)
        self.session.dsn = list(params)  # type: ignore[union-attr]
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        arg, params = split_dsn_params(arg, DSN_RCPT_PARAMS)
        self.session.dsn += params  # type: ignore[union-attr]
        await super().smtp_RCPT(arg)

    async def smtp_XFORWARD(self, arg: str) -> None:
        attrs = dict(item.split("=", 1) for item in (arg or "").split() if "=" in item)
        self.session.xforward = attrs  # type: ignore[attr-defined]
        await self.push("250 2.0.0 Ok")


class _Handler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        b = self.sink.behaviour
        drop = ("250-SIZE", "250-AUTH") + (() if b.eightbitmime else ("250-8BITMIME",))
        out = [r for r in responses if not r.startswith(drop)]
        last = out.pop()
        if b.size:
            out.append(f"250-SIZE {b.size}")
        if b.xforward:
            out.append("250-XFORWARD NAME ADDR PORT PROTO HELO")
        if b.dsn:
            out.append("250-DSN")
        out.append(last)
        return out

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.sink.behaviour.mail_delay:
            await asyncio.sleep(self.sink.behaviour.mail_delay)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.sink.behaviour.refuse_rcpt:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        b = self.sink.behaviour
        if b.data_delay:
            await asyncio.sleep(b.data_delay)
        if b.data_reply:
            return b.data_reply
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from  # aiosmtpd keeps "<>"
        self.sink.messages.append(Received(sender, list(envelope.rcpt_tos),
                                           envelope.original_content, list(envelope.mail_options),
                                           dict(getattr(session, "xforward", {})),
                                           list(getattr(session, "dsn", []))))
        return "250 2.0.0 Ok: queued as SINK"


class Sink:
    def __init__(self, behaviour: SinkBehaviour | None = None) -> None:
        self.behaviour = behaviour or SinkBehaviour()
        self.messages: list[Received] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.connections = 0
        self.protocols: list[SMTP] = []

    def start(self) -> Sink:
        self._thread.start()

        async def _start() -> asyncio.Server:
            def factory() -> SMTP:
                self.connections += 1
                proto = _SinkSMTP(_Handler(self), hostname="sink.test", enable_SMTPUTF8=self.behaviour.smtputf8,
                                  data_size_limit=None)
                self.protocols.append(proto)
                return proto
            return await self.loop.create_server(factory, "127.0.0.1", 0)

        self.server = asyncio.run_coroutine_threadsafe(_start(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def _stop() -> None:
            self.server.close()
        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages
