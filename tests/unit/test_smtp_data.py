"""gateway.smtp.data.DataReader reads DATA exactly as aiosmtpd's line loop does (the reference
below is that loop, line by line), however the bytes are cut into chunks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.parse import has_bare_newline
from gateway.smtp.data import NOMINAL, TOO_LONG, TOO_MUCH, DataReader, lines_fit

PIECES = st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b".", b"..", b"a", b"bcdefgh", b"\x00", b" ",
                                   b"\r\n.\r\n", b".\r\n", b"\r\n.", b"x" * 30]), max_size=60).map(b"".join)


def reference(stream: bytes, size_limit: int | None, line_limit: int) -> tuple[str, bytes, bytes] | None:
    """aiosmtpd 1.4's smtp_DATA: lines end at CRLF only; ".\\r\\n" alone ends the data."""
    pos, num, state, kept = 0, 0, NOMINAL, []
    while True:
        i = stream.find(b"\r\n", pos)
        if i < 0:
            return None  # not finished
        line, pos = stream[pos:i + 2], i + 2
        if line == b".\r\n":
            break
        if state == NOMINAL and len(line) > line_limit:  # readuntil's LimitOverrunError comes first
            state, kept = TOO_LONG, []
        num += len(line)
        if state == NOMINAL and size_limit and num > size_limit:
            state, kept = TOO_MUCH, []
        if state == NOMINAL:
            kept.append(line[1:] if line.startswith(b".") else line)
    return state, b"".join(kept), stream[pos:]


def run(stream: bytes, cuts: list[int], size_limit: int | None, line_limit: int) -> tuple[str, bytes, bytes] | None:
    reader = DataReader(size_limit, line_limit)
    start = 0
    for cut in sorted(cuts) + [len(stream)]:
        if reader.feed(stream[start:cut]):
            content = reader.content() if reader.state == NOMINAL else b""
            if reader.state == NOMINAL:  # counted chunk by chunk, the same verdict as on the whole
                assert reader.bare == has_bare_newline(content)
                if not reader.dots:  # nothing the upstream writer would have to stuff again
                    assert b"\r\n." not in content and not content.startswith(b".")
                # ... and True only when the message had a line starting with a dot
                wire = b"\r\n" + stream  # (the CRLF before DATA's first line)
                sent = wire[2:wire.index(b"\r\n.\r\n") + 2]
                assert reader.dots == (b"\r\n." in b"\r\n" + sent), (stream, reader.dots)
            return reader.state, content, reader.rest + stream[cut:]
        start = max(start, cut)
    return None


@settings(max_examples=1500)
@given(PIECES, st.lists(st.integers(0, 400), max_size=8), st.sampled_from([None, 40, 200]),
       st.sampled_from([12, 30, 1001]))
def test_same_result_as_aiosmtpd_for_any_chunking(stream: bytes, cuts: list[int], size_limit: int | None,
                                                  line_limit: int) -> None:
    stream += b"\r\n.\r\nQUIT\r\n" if len(stream) % 2 else b""
    want = reference(stream, size_limit, line_limit)
    got = run(stream, cuts, size_limit, line_limit)
    if want is None or got is None:
        assert want == got
        return
    assert got[0] == want[0], (got, want)  # the same reply: 250 path, 500 or 552
    assert got[1] == want[1]
    assert got[2] == want[2]  # what follows the final dot is handed back intact


def test_examples() -> None:
    # a line of exactly the limit, its chunk cut between its CR and LF (hypothesis found it: the CR was counted as
    # part of the line and again as its CRLF, and the message was refused as too long)
    r = DataReader(None, 12)
    assert not r.feed(b"\r..bcdefgh\r")
    assert r.feed(b"\n\r\r\n.\r\nQUIT\r\n") and r.state == NOMINAL and r.content() == b"\r..bcdefgh\r\n\r\r\n"
    r = DataReader(None, 12)
    assert not r.feed(b"\r..bcdefghi\r") and r.state == TOO_LONG  # (13 bytes with its LF: too long)
    r = DataReader(None, 1001)
    assert not r.feed(b"Subject: x\r\n\r\n..dot\r\nbare\n.\nlf\r")
    assert r.feed(b"\n.\r\nQUIT\r\n")
    assert r.state == NOMINAL and r.rest == b"QUIT\r\n"
    assert r.content() == b"Subject: x\r\n\r\n.dot\r\nbare\n.\nlf\r\n"
    r = DataReader(None, 1001)
    assert r.feed(b".\r\n") and r.content() == b"" and r.rest == b""
    r = DataReader(100, 1001)
    r.feed(b"y" * 90 + b"\r\n")
    assert r.feed(b"z" * 90 + b"\r\n.\r\n") and r.state == TOO_MUCH
    r = DataReader(None, 50)
    for _ in range(100):
        r.feed(b"w" * 1000)  # one endless line: memory stays bounded
    assert len(r._buf) < 1100
    assert r.feed(b"\r\n.\r\n") and r.state == TOO_LONG


def test_small_reads_caps_each_socket_read_below_the_mmap_threshold() -> None:
    """A real loopback connection: after `small_reads` no read hands over more than READ_SIZE
    bytes (asyncio's own 256 KiB reads were each an mmap), and every byte still arrives."""
    import asyncio

    from gateway.smtp.data import MMAP_THRESHOLD, READ_SIZE, small_reads

    assert READ_SIZE < MMAP_THRESHOLD
    payload = bytes(range(256)) * 2048  # 512 KiB, sent at once

    async def run() -> list[int]:
        got: list[int] = []
        done = asyncio.get_running_loop().create_future()

        class Sink(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                small_reads(transport)
                self.kept = bytearray()

            def data_received(self, data: bytes) -> None:
                got.append(len(data))
                self.kept += data
                if len(self.kept) == len(payload) and not done.done():
                    done.set_result(bytes(self.kept))

        server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        assert await asyncio.wait_for(done, 30) == payload
        writer.close()
        server.close()
        return got

    sizes = asyncio.run(run())
    assert max(sizes) <= READ_SIZE and sum(sizes) == len(payload)


def test_small_reads_leaves_a_transport_without_max_size_alone() -> None:
    from gateway.smtp.data import small_reads

    class Other:
        pass

    other = Other()
    small_reads(other)
    assert not hasattr(other, "max_size")


@settings(max_examples=1000)
@given(st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b"a", b"bcdefgh", b"x" * 30]), max_size=40).map(b"".join),
       st.integers(2, 50))
def test_lines_fit_is_the_longest_line_against_the_limit(data: bytes, limit: int) -> None:
    data += b"\r\n"
    longest = max(len(line) + 2 for line in data.split(b"\r\n")[:-1])
    assert lines_fit(data, limit) == (longest <= limit)


def test_large_transfers_take_turns_and_a_small_one_runs_between() -> None:
    """Five large transfers of four steps each, and a small session that yields as a normal one
    does: at most `per_turn` large steps run between two of its steps, the large ones in the
    order they asked, and every step of every transfer is run."""
    import asyncio

    from gateway.smtp.data import Turns

    trace: list[str] = []

    async def large(name: str, turns: Turns) -> None:
        for _ in range(4):
            await turns.take()
            trace.append(name)

    async def small(done: asyncio.Event) -> None:
        while not done.is_set():
            trace.append("s")
            await asyncio.sleep(0)

    async def main() -> None:
        turns = Turns(per_turn=2)
        done = asyncio.Event()
        other = asyncio.create_task(small(done))
        await asyncio.sleep(0)
        await asyncio.gather(*(large(n, turns) for n in "abcde"))
        done.set()
        await other

    asyncio.run(main())
    steps = [t for t in trace if t != "s"]
    assert sorted(steps) == sorted("abcde" * 4)
    assert steps[:10] == list("abcde" * 2)  # first come, first served, round after round
    runs = "".join("L" if t != "s" else "s" for t in trace).split("s")
    assert max(len(run) for run in runs) <= 2, trace


class SearchEverywhere(DataReader):
    """The reader before the memchr pre-check (perf14): the dot-line search over every chunk
    from `_scanned`, and the lone CR/LF check on the data with its CRLFs removed."""

    def feed(self, chunk: bytes) -> bool:
        buf = self._buf
        buf += chunk
        dot = buf.find(b"\r\n.", self._scanned)
        lead = buf.startswith(b"\r\n.")
        if dot >= 0:
            end = buf.find(b"\r\n.\r\n", dot)
            if end >= 0:
                stuffed = dot < end or (lead and end > 0)
                self.dots = self.dots or stuffed
                self._lines(bytes(buf[2:end + 2]), stuffed)
                self.rest = bytes(buf[end + 5:])
                self._buf = bytearray()
                self.done = True
                return True
        last = buf.rfind(b"\r\n")
        if last > 0:
            stuffed = 0 <= dot < last or lead
            self.dots = self.dots or stuffed
            self._lines(bytes(buf[2:last + 2]), stuffed)
            del buf[:last]
        if len(buf) - buf.endswith(b"\r") > self.line_limit:  # (the reader's fix of session 43, here too)
            self._fail(TOO_LONG)
            buf[:] = b"XX" + buf[-4:]
        self._scanned = max(0, len(buf) - 4)
        return False

    def _lines(self, data: bytes, stuffed: bool) -> None:
        if self.state != NOMINAL or not data:
            return
        before = self.size
        self.size += len(data)
        if len(data) > self.line_limit - 2 and not lines_fit(data, self.line_limit):
            parts = data.split(b"\r\n")[:-1]
            first = next(i for i, part in enumerate(parts) if len(part) + 2 > self.line_limit)
            ahead = before + sum(len(part) + 2 for part in parts[:first])
            self._fail(TOO_MUCH if self.size_limit and ahead > self.size_limit else TOO_LONG)
            return
        if self.size_limit and self.size > self.size_limit:
            self._fail(TOO_MUCH)
            return
        if not self.bare:
            rest = data.replace(b"\r\n", b"")
            self.bare = b"\r" in rest or b"\n" in rest
        if not stuffed:
            self._kept.write(data)
            return
        unstuffed = data.replace(b"\r\n.", b"\r\n")
        self._kept.write(memoryview(unstuffed)[1:] if data.startswith(b".") else unstuffed)


def observed(reader: DataReader) -> tuple[object, ...]:
    return (reader.state, reader.size, reader.rest, reader.done, reader.bare, reader.dots,
            bytes(reader._buf), reader._scanned, reader._kept.getvalue())


WIRE = st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b".", b"..", b"\x00", b"\x00\r", b"\n\x00", b"a",
                                 b"QUJD", b"x" * 30, b"y" * 70, b"\r\n.\r\n", b".\r\n", b"\r\n.", b"\r\n..",
                                 b"\r\r\n\n"]), max_size=80).map(b"".join)


@settings(max_examples=2000)
@given(WIRE, st.lists(st.integers(0, 700), max_size=10), st.sampled_from([None, 60, 300]),
       st.sampled_from([12, 40, 1001]))
def test_same_as_the_reader_before_the_memchr_precheck(stream: bytes, cuts: list[int], size_limit: int | None,
                                                       line_limit: int) -> None:
    """Byte for byte and flag for flag after every chunk, whatever the cuts (a CRLF or a dot
    line split across chunks, lone CR/LF, NULs, too-long lines, the size limit)."""
    old, new = SearchEverywhere(size_limit, line_limit), DataReader(size_limit, line_limit)
    start = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        chunk = stream[start:cut]
        start = max(start, cut)
        assert old.feed(chunk) == new.feed(chunk)
        assert observed(old) == observed(new), (stream, cuts)
        if new.done:
            break


def test_dot_precheck_examples() -> None:
    """Dots at and around chunk edges: the dot line is found from 2 bytes before the first dot."""
    for wire, cut in [(b"a\r\n.b\r\n.\r\n", 3), (b"a\r\n.b\r\n.\r\n", 4), (b"a\r", 2), (b"ab\r\n..x\r\n.\r\n", 4),
                      (b"abc.def\r\n.x\r\n.\r\n", 4), (b"\x00\r\n\x00\n.\r\n.\r\n", 2)]:
        old, new = SearchEverywhere(None, 1001), DataReader(None, 1001)
        for r in (old, new):
            r.feed(wire[:cut])
            r.feed(wire[cut:])
        assert observed(old) == observed(new), wire
    r = DataReader(None, 1001)
    assert not r.feed(b"abc\r\n")
    assert not r.feed(b".x\r")  # a dot line split from its CRLF: unstuffed all the same
    assert r.feed(b"\n\x00\r\n.\r\n") and r.content() == b"abc\r\nx\r\n\x00\r\n" and not r.bare and r.dots
