"""GatewaySMTP.smtp_DATA reads the message with the stream's buffer limit raised to READ_SIZE
(gateway.smtp.data.read_ahead) and gives the command reader its line limit back afterwards,
however the DATA ends: delivered, refused (500/552), the client gone, the session cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from gateway.smtp.data import LARGE, READ_SIZE, Turns, read_ahead
from gateway.smtp.server import GatewaySMTP
from gateway.smtp.session import GatewaySession

LINE_LIMIT = 1002  # max_line_length 1000 + CRLF: what aiosmtpd gives the StreamReader


class Transport:
    """What a StreamReader asks of its transport: pause and resume (counted)."""

    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False


class Stream(asyncio.StreamReader):
    """Notes the buffer limit at every read."""

    def __init__(self) -> None:
        super().__init__(limit=LINE_LIMIT)
        self.limits: list[int] = []
        self.transport = Transport()
        self.set_transport(self.transport)  # type: ignore[arg-type]

    async def read(self, n: int = -1) -> bytes:
        self.limits.append(self._limit)  # type: ignore[attr-defined]
        return await super().read(n)


class State:
    def __init__(self) -> None:
        self.turns = Turns()


def data_session(stream: Stream) -> tuple[GatewaySMTP, list[str], list[bytes]]:
    """The protocol object as far as smtp_DATA needs it; the handler hook keeps the message."""
    smtp = GatewaySMTP.__new__(GatewaySMTP)
    loop = asyncio.get_running_loop()
    smtp.session = GatewaySession(loop)
    smtp.session.host_name = "client.test"
    smtp.envelope = SmtpEnvelope()
    smtp.envelope.mail_from = "a@ext.test"
    smtp.envelope.rcpt_tos = ["b@example.org"]
    smtp.data_size_limit = 10 * 1024 * 1024
    smtp.line_length_limit = LINE_LIMIT
    smtp.closing = False
    smtp.upstream = None
    smtp._reader = stream
    smtp.state = State()  # type: ignore[assignment]
    pushed: list[str] = []
    kept: list[bytes] = []

    async def push(status: Any) -> None:
        pushed.append(str(status))

    async def hook(name: str, *args: Any) -> str:
        assert smtp.envelope is not None
        kept.append(smtp.envelope.content)
        return "250 OK"

    smtp.push = push  # type: ignore[method-assign]
    smtp._call_handler_hook = hook  # type: ignore[method-assign]
    return smtp, pushed, kept


async def feed_as_a_transport(stream: Stream, data: bytes, eof: bool = False) -> int:
    """64 KiB per turn of the loop while the stream does not pause us (as a socket transport
    with `small_reads`); the largest buffer seen."""
    most = 0
    for start in range(0, len(data), READ_SIZE):
        while stream.transport.paused:
            await asyncio.sleep(0)
        stream.feed_data(data[start:start + READ_SIZE])
        most = max(most, len(stream._buffer))  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    if eof:
        stream.feed_eof()
    return most


def run_data(wire: bytes, eof: bool = False) -> tuple[Stream, list[str], list[bytes], int, BaseException | None]:
    async def main() -> tuple[Stream, list[str], list[bytes], int, BaseException | None]:
        stream = Stream()
        smtp, pushed, kept = data_session(stream)
        feeder = asyncio.create_task(feed_as_a_transport(stream, wire, eof))
        error: BaseException | None = None
        try:
            await GatewaySMTP.smtp_DATA(smtp, "")
        except asyncio.CancelledError as exc:  # the client went away
            error = exc
        most = await feeder
        return stream, pushed, kept, most, error

    return asyncio.run(main())


BASE64_LINE = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0123456789abcdefghijklmnopqrstuvwxyz+/AB\r\n"
BODY = b"Subject: big\r\n\r\n" + BASE64_LINE * 20000


def test_the_limit_is_raised_while_the_message_arrives_and_restored_after() -> None:
    stream, pushed, kept, most, error = run_data(BODY + b".\r\nQUIT\r\n")
    assert error is None and pushed[-1] == "250 OK", pushed
    assert kept == [BODY]
    assert len(BODY) > 4 * LARGE and stream.limits and set(stream.limits) == {READ_SIZE}
    assert stream._limit == LINE_LIMIT  # type: ignore[attr-defined]
    assert bytes(stream._buffer) == b"QUIT\r\n"  # type: ignore[attr-defined]  # the pipelined command, back
    # the transport was rarely paused (with a 1 KB limit: at every 64 KiB read), and what the
    # session held in the stream stayed within twice the limit plus one read
    # (here: 8 pauses for 24 reads with it, 24 without)
    assert stream.transport.pauses < len(BODY) // READ_SIZE // 2, stream.transport.pauses
    assert most <= 2 * READ_SIZE + READ_SIZE


@pytest.mark.parametrize("wire", [b"x" * 5000 + b"\r\n.\r\n",  # a line too long: 500
                                  b"Subject: x\r\n\r\n" + b"y" * 998 + b"\r\n" * 6000 + b".\r\n"])
def test_the_limit_is_restored_after_a_refused_message(wire: bytes) -> None:
    async def main() -> tuple[Stream, list[str]]:
        stream = Stream()
        smtp, pushed, kept = data_session(stream)
        smtp.data_size_limit = 1000 if wire.startswith(b"Subject") else smtp.data_size_limit  # 552
        feeder = asyncio.create_task(feed_as_a_transport(stream, wire))
        await GatewaySMTP.smtp_DATA(smtp, "")
        await feeder
        assert kept == []
        return stream, pushed

    stream, pushed = asyncio.run(main())
    assert pushed[-1].startswith(("500", "552")), pushed
    assert set(stream.limits) == {READ_SIZE} and stream._limit == LINE_LIMIT  # type: ignore[attr-defined]


def test_the_limit_is_restored_when_the_client_goes_away_or_the_session_is_cancelled() -> None:
    stream, pushed, kept, _, error = run_data(BODY[:200000], eof=True)
    assert isinstance(error, asyncio.CancelledError) and kept == []
    assert set(stream.limits) == {READ_SIZE} and stream._limit == LINE_LIMIT  # type: ignore[attr-defined]

    async def cancelled() -> Stream:
        stream = Stream()
        smtp, _, _ = data_session(stream)
        task = asyncio.create_task(GatewaySMTP.smtp_DATA(smtp, ""))
        stream.feed_data(b"Subject: x\r\n\r\nsome")
        for _ in range(5):
            await asyncio.sleep(0)
        assert stream._limit == READ_SIZE  # type: ignore[attr-defined]  # waiting for more, mid-DATA
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stream

    assert asyncio.run(cancelled())._limit == LINE_LIMIT  # type: ignore[attr-defined]


def test_read_ahead_leaves_a_larger_limit_or_another_reader_alone() -> None:
    async def main() -> None:
        big = asyncio.StreamReader(limit=4 * READ_SIZE)
        with read_ahead(big):
            assert big._limit == 4 * READ_SIZE  # type: ignore[attr-defined]

    asyncio.run(main())
    other = object()
    with read_ahead(other):  # type: ignore[arg-type]
        pass
    assert not hasattr(other, "_limit")
