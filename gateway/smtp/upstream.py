"""The upstream side of a mirrored session (aiosmtplib), opened at MAIL, finished at DATA.

Purpose: pass MAIL and each RCPT to the real mail server in step and hand its own replies back;
send the edited message at the end of DATA. Every failure (refused connection, timeout, broken
reply) becomes `UpstreamError` carrying a 4xx reply for the client: mail not accepted upstream
stays the sending client's responsibility (Postfix's before-queue rule).

Untrusted input: envelope addresses and ESMTP parameters from the client (checked for control
characters by aiosmtplib), and the upstream's replies (trusted server, but may be down or slow).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

import aiosmtplib
from aiosmtplib.errors import SMTPException

from gateway.act.execute import Relayed, relay_stored
from gateway.config import Config, UpstreamConfig
from gateway.errors import UpstreamError as UpstreamError  # defined below act/ (the executor catches it)
from gateway.model import Client, Outgoing
from gateway.replies import UPSTREAM_BAD_ARGUMENT, UPSTREAM_CLOSED, UPSTREAM_UNAVAILABLE
from gateway.replies import Reply as Reply  # re-exported: the SMTP side's reply type
from gateway.smtp.data import LARGE, Turns, small_reads
from gateway.smtp.observe import Observer

log = logging.getLogger("gateway.upstream")


def xtext(value: str) -> str:
    """RFC 3461 xtext, as Postfix XFORWARD expects (value already ASCII)."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else f"+{ord(c):02X}"
                   for c in value.encode("ascii", "replace").decode())


@dataclass(frozen=True)
class Capabilities:
    size: int | None = None
    eightbitmime: bool = False
    smtputf8: bool = False
    xforward: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()  # every EHLO keyword, lower-case

    def supports(self, keyword: str) -> bool:
        return keyword.lower() in self.keywords


class UpstreamSession:
    """One SMTP connection to the upstream, used for one or more transactions."""

    def __init__(self, cfg: UpstreamConfig, helo_name: str, observer: Observer | None = None,
                 turns: Turns | None = None) -> None:
        self.cfg = cfg
        self.observer = observer or Observer()  # times each exchange, counts failures (metrics)
        self.turns = turns  # a large message's slices take turns with other large transfers
        self.helo_name = cfg.helo_name or helo_name
        self.smtp: aiosmtplib.SMTP | None = None
        self.caps = Capabilities()
        self.in_transaction = False
        self.reused = False  # True once a second transaction runs on this connection

    async def open(self) -> None:
        smtp = aiosmtplib.SMTP(hostname=self.cfg.host, port=self.cfg.port,
                               timeout=self.cfg.command_timeout, start_tls=False,
                               local_hostname=self.helo_name)
        t0 = time.perf_counter()
        try:
            await smtp.connect(timeout=self.cfg.connect_timeout)
            await smtp.ehlo()
        except (TimeoutError, SMTPException, OSError) as exc:
            smtp.close()
            self.observer.upstream("connect", time.perf_counter() - t0, type(exc).__name__)
            raise UpstreamError(UPSTREAM_UNAVAILABLE, f"connect/EHLO failed: {exc}") from exc
        except BaseException:  # cancelled (the client went away while we connected): no leak
            smtp.close()
            raise
        self.observer.upstream("connect", time.perf_counter() - t0)
        small_reads(smtp.transport)
        self.smtp = smtp
        self.caps = capabilities_of(smtp)

    async def _xforward(self, client: Client) -> None:
        attrs = {
            "NAME": client.hostname or "[UNAVAILABLE]",
            "ADDR": client.ip or "[UNAVAILABLE]",
            "PORT": str(client.port) if client.port else "[UNAVAILABLE]",
            "PROTO": "ESMTP" if client.protocol.upper().startswith("ESMTP") else "SMTP",
            "HELO": client.helo or "[UNAVAILABLE]",
        }
        args = [f"{k}={xtext(v)}".encode("ascii") for k, v in attrs.items() if k in self.caps.xforward]
        if args:
            reply = await self.command(b"XFORWARD", *args)
            if not reply.ok:
                log.warning("upstream refused XFORWARD: %s %s", reply.code, reply.text)

    async def command(self, *args: bytes, timeout: float | None = None) -> Reply:
        if self.smtp is None:
            raise UpstreamError(UPSTREAM_UNAVAILABLE, "not connected")
        stage = args[0].decode("ascii", "replace").lower()
        t0 = time.perf_counter()
        try:
            resp = await self.smtp.execute_command(*args, timeout=timeout or self.cfg.command_timeout)
        except ValueError as exc:  # control characters in an argument
            return UPSTREAM_BAD_ARGUMENT.format(detail=exc)
        except (TimeoutError, SMTPException, OSError) as exc:
            self.abort()
            self.observer.upstream(stage, time.perf_counter() - t0, type(exc).__name__)
            raise UpstreamError(UPSTREAM_UNAVAILABLE, f"{args[0].decode()} failed: {exc!r}") from exc
        if resp.code == 421:
            self.abort()
        self.observer.upstream(stage, time.perf_counter() - t0, "closed (421)" if resp.code == 421 else None)
        return Reply(resp.code, resp.message)

    async def mail(self, sender: str, options: list[str], client: Client | None = None) -> Reply:
        # XFORWARD before every transaction, not once per connection: Postfix forgets the
        # attributes at the end of each transaction, and a reused connection (Postfix caches
        # them to a content filter) carries a different original client each time.
        if client is not None and self.cfg.xforward and self.caps.xforward:
            await self._xforward(client)
        addr = sender.encode("utf-8", "surrogateescape")
        opts = [o.encode("utf-8", "surrogateescape") for o in options]
        reply = await self.command(b"MAIL", b"FROM:<" + addr + b">", *opts)
        self.in_transaction = reply.ok
        return reply

    async def rcpt(self, recipient: str, options: list[str]) -> Reply:
        addr = recipient.encode("utf-8", "surrogateescape")
        opts = [o.encode("ascii", "replace") for o in options]
        return await self.command(b"RCPT", b"TO:<" + addr + b">", *opts)

    async def data(self, message: bytes | Outgoing) -> Reply:
        """`_data`, timed; a failure or a dropped connection is counted as an upstream error."""
        t0 = time.perf_counter()
        try:
            reply = await self._data(message)
        except UpstreamError as exc:
            self.observer.upstream("data", time.perf_counter() - t0, type(exc.__cause__ or exc).__name__)
            raise
        self.observer.upstream("data", time.perf_counter() - t0, "closed" if self.smtp is None else None)
        return reply

    async def _data(self, message: bytes | Outgoing) -> Reply:
        """DATA and the message, dot-stuffed here: aiosmtplib's `data()` runs two regex passes
        over the whole message on the event loop (about 0.3 s for 10 MB, every other session
        waiting); ours is a count and a replace in C, a slice at a time.

        250 only for a 250 to the final dot. A refusal of the DATA command itself leaves the
        upstream's transaction open (`in_transaction`, for the caller's RSET); a 421, or a reply
        that is neither 354 to DATA nor an answer to the dot, drops the connection: 451."""
        if self.smtp is None:
            raise UpstreamError(UPSTREAM_UNAVAILABLE, "not connected")
        try:
            start = await self.smtp.execute_command(b"DATA", timeout=self.cfg.command_timeout)
            if start.code != 354:
                if start.code == 421 or start.code < 400:
                    self.abort()
                    return UPSTREAM_CLOSED
                return Reply(start.code, start.message)  # the transaction is still open upstream
            protocol = self.smtp.protocol
            if protocol is None:
                raise SMTPException("connection lost")
            # memoryviews of the message go out as they are: aiosmtplib's write (annotated
            # bytes) hands them to the transport, which sends and buffers any bytes-like object
            write = cast("Callable[[bytes | memoryview], None]", protocol.write)
            pieces = dot_stuffed_pieces(message)
            piece = next(pieces)
            sent = 0
            for following in pieces:
                write(piece)
                sent += len(piece)
                del piece
                # a slice at a time, and the next only once the transport has passed most of
                # this one on: its buffer never holds a whole message (flow control)
                await asyncio.wait_for(protocol._drain_helper(), timeout=self.cfg.data_timeout)
                # other sessions run in between, drained or not (past LARGE bytes taking
                # turns with the other large transfers: gateway/smtp/data.py Turns)
                await (self.turns.take() if self.turns is not None and sent > LARGE else asyncio.sleep(0))
                piece = following
            # the last slice (with the final dot) and at once the read of the reply, with no
            # await between: aiosmtplib drops a reply that arrives while no read is pending
            write(piece)
            del piece
            resp = await protocol.read_response(timeout=self.cfg.data_timeout)
        except (TimeoutError, SMTPException, OSError) as exc:
            self.abort()
            raise UpstreamError(UPSTREAM_UNAVAILABLE, f"DATA failed: {exc!r}") from exc
        self.in_transaction = False  # the dot was answered: the transaction is over
        if resp.code == 421 or (resp.code < 400 and resp.code != 250):
            # a 421 means the upstream dropped the message; another non-error answer means we
            # do not know whether it was taken: 451 is safe only for "not taken"
            self.abort()
            return UPSTREAM_CLOSED
        return Reply(resp.code, resp.message)

    async def rset(self) -> None:
        if self.smtp is not None and self.smtp.is_connected and self.in_transaction:
            try:
                await self.command(b"RSET")
            except UpstreamError:
                pass
        self.in_transaction = False

    async def quit(self) -> None:
        if self.smtp is not None and self.smtp.is_connected:
            try:
                await asyncio.wait_for(self.smtp.quit(), timeout=5)
            except (TimeoutError, SMTPException, OSError):
                pass
        self.abort()

    def abort(self) -> None:
        """Drop the connection without QUIT (and without the final dot of any DATA)."""
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None
        self.in_transaction = False

    @property
    def connected(self) -> bool:
        return self.smtp is not None and self.smtp.is_connected


def crlf_normalized(data: bytes) -> bytes:
    """Every CRLF, lone CR and lone LF becomes CRLF (= parse.normalize_newlines, but three
    replaces in C instead of a regex in Python's engine: 0.2 s per 10 MB on the event loop)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def only_crlf(data: bytes, start: int = 0, end: int | None = None) -> bool:
    """No lone CR or LF in `data[start:end]`: every CR starts a CRLF and every LF ends one
    (counted in C, linear, without slicing)."""
    pairs = data.count(b"\r\n", start, end)
    return data.count(b"\r", start, end) == pairs and data.count(b"\n", start, end) == pairs


def dot_stuffed(message: bytes | Outgoing) -> bytes:
    """The DATA payload: CRLF line endings, a dot doubled at the start of every line (RFC 5321
    4.5.2), a final CRLF and the terminating `.` line."""
    return b"".join(dot_stuffed_pieces(message))


PIECE = 256 * 1024  # bytes of a message stuffed and written per event-loop turn


def dot_stuffed_pieces(message: bytes | Outgoing, piece: int = PIECE) -> Iterator[bytes | memoryview]:
    """`dot_stuffed` in slices of about `piece` bytes, each cut just after an LF: no CRLF is
    split and every slice starts at the start of a line, so each is normalised and stuffed on its
    own (and the event loop can run between them). An `Outgoing` is read piece by piece where
    it lies (its head, then its body from `start`): a message larger than one piece is never
    joined into one copy, and one that fits in a piece is one slice (one write to the upstream)."""
    if isinstance(message, Outgoing):
        if len(message) <= piece:  # joined (a copy of at most `piece` bytes): one write, not two
            yield from _stuffed_slices(bytes(message), piece, 0)
            return
        head, body, start = message.head, message.body, message.start
        if not head:
            yield from _stuffed_slices(body, piece, start, plain=message.plain)
            return
        if start >= len(body):
            yield from _stuffed_slices(head, piece, 0)
            return
        if not head.endswith(b"\n"):  # not at a line start: stuff it as one message
            yield from _stuffed_slices(bytes(message), piece, 0)
            return
        yield from _stuffed_slices(head, piece, 0, final=False)
        yield from _stuffed_slices(body, piece, start, plain=message.plain)
        return
    yield from _stuffed_slices(message, piece, 0)


def _stuffed_slices(message: bytes, piece: int, start: int, *, final: bool = True,
                    plain: bool = False) -> Iterator[bytes | memoryview]:
    """`message[start:]` (which starts at the start of a line) stuffed in slices; with `final`,
    the last slice carries the terminating line. `plain`: it is CRLF only and no line starts
    with a dot (`Outgoing.plain`): the slices are sent as they are. A slice that needs no change
    (plain, or found so: CRLF only, no line starting with a dot) is a memoryview of `message`,
    not a copy: a 256 KiB bytes slice was a fresh mmap (above the mmap threshold) filled by a
    memcpy and page faults, 40 of them per 10 MB, each only to be written to the socket."""
    end = len(message)
    view = memoryview(message)
    while True:
        cut = message.find(b"\n", start + piece - 1) + 1 if start + piece < end else 0
        last = cut <= 0 or cut >= end
        stop = end if last else cut
        stuffed: bytes | memoryview
        crlf = plain or only_crlf(message, start, stop)
        if plain or (crlf and not message.startswith(b".", start) and message.find(b"\r\n.", start, stop) < 0):
            stuffed = view[start:stop]
        else:
            part = message[start:stop]
            if not crlf:
                part = crlf_normalized(part)
            stuffed = part.replace(b"\r\n.", b"\r\n..")
            if part.startswith(b"."):
                stuffed = b"." + stuffed
        if last:
            if not final:  # the caller made sure it ends with a line break
                yield stuffed
                return
            # one copy of the last slice, with the terminating line (and the CRLF before it
            # unless the message ends with one; never empty here unless the message is)
            ending = b".\r\n" if stuffed[-2:] == b"\r\n" else b"\r\n.\r\n"
            yield b"".join((stuffed, ending))
            return
        yield stuffed
        start = cut


def capabilities_of(smtp: aiosmtplib.SMTP) -> Capabilities:
    ext = smtp.esmtp_extensions
    size_text = ext.get("size", "").strip()
    return Capabilities(
        size=int(size_text) if size_text.isdigit() and int(size_text) > 0 else None,
        eightbitmime="8bitmime" in ext,
        smtputf8="smtputf8" in ext,
        xforward=frozenset(ext.get("xforward", "").upper().split()) if "xforward" in ext else frozenset(),
        keywords=frozenset(k.lower() for k in ext),
    )


@asynccontextmanager
async def opened(cfg: UpstreamConfig, helo_name: str) -> AsyncIterator[UpstreamSession]:
    """A connection of its own (connect, EHLO), closed with QUIT at the end: for work outside a
    mirrored client session -- `release` and `probe`.
    Raises UpstreamError when the upstream cannot be reached."""
    session = UpstreamSession(cfg, helo_name)
    await session.open()
    try:
        yield session
    finally:
        await session.quit()


async def release(config: Config, mail_from: str, rcpts: Sequence[str], raw: bytes) -> Relayed:
    """Relay stored, final bytes on a connection of their own (`opened`) through the executor's
    `relay_stored` (gateway/act/execute.py): `quarantine release`, the console's release and the
    report acknowledgement. Here rather than in deliver.py, which takes staff reports in: the
    intake acknowledges through this, and no import goes round in a circle.
    Never raises for the upstream's sake; `delivered` is True only after the upstream's 250."""
    try:
        async with opened(config.upstream, config.hostname) as up:
            return await relay_stored(up, mail_from, rcpts, raw)
    except UpstreamError as exc:  # connect or EHLO failed: nothing was sent
        return Relayed(exc.reply, detail=str(exc))


async def probe(cfg: UpstreamConfig, helo_name: str) -> Capabilities:
    """Connect, read the EHLO capabilities, QUIT. Raises UpstreamError when unreachable."""
    async with opened(cfg, helo_name) as session:
        return session.caps
