"""A recording upstream MTA for tests: a real aiosmtpd server on 127.0.0.1, port 0.

It records every transaction it accepted (with the exact bytes) and the commands of every
connection (EHLO, MAIL, RCPT, DATA, RSET, QUIT), can refuse chosen recipients,
answer DATA with a chosen code, stall, or advertise XFORWARD / SMTPUTF8 / a SIZE limit.

It also keeps the upstream's view of the sessions the gateway mirrors: connections open now,
transactions open now, and transactions aborted (ended by RSET, HELO/EHLO or a dropped
connection instead of a final dot). It can refuse connections beyond a limit (421, like a
busy MTA) and restart (every connection dropped, the port closed for a while, then reopened).
A message is recorded only when its 250 is written to a live connection: `messages` is exactly
what the upstream acknowledged.
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
    max_connections: int | None = None  # beyond it: 421 and close, as a busy MTA does
    rcpt_reply: str | None = None  # e.g. "421 4.3.2 shutting down": every RCPT gets it
    data_command_reply: str | None = None  # the reply to the DATA command itself, instead of 354


class _SinkSMTP(SMTP):
    sink: Sink
    number = 0  # this connection's number (1, 2, ...), for `Sink.commands`

    def _command(self, verb: str, arg: str | None) -> None:
        self.sink.commands.append((self.number, verb, arg or ""))

    async def smtp_EHLO(self, hostname: str) -> None:
        self._command("EHLO", hostname)
        await super().smtp_EHLO(hostname)

    async def smtp_RSET(self, arg: str) -> None:
        self._command("RSET", arg)
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        self._command("QUIT", arg)
        await super().smtp_QUIT(arg)

    def connection_made(self, transport: Any) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.sink.live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self.envelope is not None and self.envelope.mail_from:
            self.sink.aborted += 1  # the connection ended inside a transaction (counted first:
        self.sink.live.discard(self)  # a test that sees the connection gone sees the count too)
        super().connection_lost(error)

    def _set_rset_state(self) -> None:
        if self.envelope is not None and self.envelope.mail_from:
            self.sink.aborted += 1  # RSET, HELO/EHLO (or STARTTLS) ended a transaction
        super()._set_rset_state()

    async def smtp_DATA(self, arg: str) -> None:
        self._command("DATA", arg)
        refusal = self.sink.behaviour.data_command_reply
        if refusal and self.envelope is not None and self.envelope.rcpt_tos:
            await self.push(refusal)  # the transaction stays open, as after any refused command
            return
        await super().smtp_DATA(arg)

    async def _handle_client(self) -> None:
        limit = self.sink.behaviour.max_connections
        if limit is not None and len(self.sink.live) > limit:
            await self.push("421 4.7.0 sink.test Error: too many connections")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()

    async def smtp_MAIL(self, arg: str | None) -> None:
        self._command("MAIL", arg)
        arg, params = split_dsn_params(arg, DSN_MAIL_PARAMS)
        self.session.dsn = list(params)  # type: ignore[union-attr]
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        self._command("RCPT", arg)
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
        if self.sink.behaviour.rcpt_reply:
            return self.sink.behaviour.rcpt_reply
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
        if server.transport is None or server.transport.is_closing():
            return "421 4.3.2 sink.test closing"  # the 250 could not be written: not acknowledged
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
        self.live: set[_SinkSMTP] = set()  # connections open now
        self.aborted = 0  # transactions ended without a final dot
        self.commands: list[tuple[int, str, str]] = []  # (connection number, verb, argument) as received
        self.server: asyncio.Server | None = None

    def _factory(self) -> SMTP:
        self.connections += 1
        proto = _SinkSMTP(_Handler(self), hostname="sink.test", enable_SMTPUTF8=self.behaviour.smtputf8,
                          data_size_limit=None)
        proto.sink = self
        proto.number = self.connections
        self.protocols.append(proto)
        return proto

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> Sink:
        self._thread.start()

        async def _start() -> asyncio.Server:
            return await self.loop.create_server(self._factory, "127.0.0.1", self.port,
                                                 reuse_address=True)

        self.server = self._run(_start())
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def drop_all(self) -> None:
        """Close every connection now (as an upstream restart or smtpd_timeout does)."""
        async def _drop() -> None:
            for proto in list(self.live):
                if proto.transport is not None:
                    proto.transport.close()
        self._run(_drop())

    def restart(self, down_for: float = 0.2) -> None:
        """Drop every connection and stop listening for `down_for` seconds, then listen again."""
        async def _down() -> None:
            assert self.server is not None
            self.server.close()
            for proto in list(self.live):
                if proto.transport is not None:
                    proto.transport.close()

        async def _up() -> asyncio.Server:
            return await self.loop.create_server(self._factory, "127.0.0.1", self.port,
                                                 reuse_address=True)
        self._run(_down())
        time.sleep(down_for)
        self.server = self._run(_up())

    def stop(self) -> None:
        async def _stop() -> None:
            if self.server is not None:
                self.server.close()
        self._run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    # ---- the upstream's view of the mirrored sessions ---------------------------------------

    def open_connections(self) -> int:
        return len(self.live)

    def open_transactions(self) -> int:
        return sum(1 for p in list(self.live) if p.envelope is not None and p.envelope.mail_from)

    def settle(self, connections: int, transactions: int | None = None, timeout: float = 10.0) -> bool:
        """Wait until exactly `connections` connections (and `transactions` transactions) are
        open; True when reached. Waiting for a state, not asserting a time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open_connections() == connections and \
                    (transactions is None or self.open_transactions() == transactions):
                return True
            time.sleep(0.02)
        return False

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages
