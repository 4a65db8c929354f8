"""Reading the message after DATA, in chunks, with aiosmtpd's exact rules.

Purpose: aiosmtpd reads DATA one line at a time in Python (about 2 s of CPU for a 10 MB
message, in slices of 256 KB that each hold the event loop for tens of milliseconds). This reader
takes whatever bytes arrived and does the same work with bytes operations in C:

* the message ends at the first CRLF "." CRLF, counting the CRLF before DATA's first line (a
  lone LF or CR never ends a line or the message: RFC 5321 4.1.1.4, SMTP smuggling);
* a line (CRLF included) longer than `line_limit` makes the whole message "too long" (500), more
  than `size_limit` bytes "too much" (552); the rest is read and discarded;
* a dot at the start of a line is removed (RFC 5321 4.5.2), chunk by chunk, and whether the
  message holds a lone CR or LF (`bare`) is checked chunk by chunk too, so no step of the event
  loop handles the whole message at once;
* bytes after the final dot (pipelined commands) are handed back.

Untrusted input: every byte (a stranger's). Linear time: each byte is searched a bounded number
of times (the terminator search resumes 4 bytes before the end of what was searched).
"""

from __future__ import annotations

import asyncio
import ctypes
import io
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TERMINATOR = b"\r\n.\r\n"
NOMINAL, TOO_LONG, TOO_MUCH = "nominal", "too long", "too much"


class DataReader:
    """`feed(chunk)` until it returns True; then `state`, `content()` and `rest`."""

    def __init__(self, size_limit: int | None, line_limit: int) -> None:
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.state = NOMINAL
        self.size = 0
        self.rest = b""
        self.done = False
        self.bare = False  # a lone CR or LF somewhere in the message (SMTP smuggling material)
        # a line of the message (as sent, so also after unstuffing) may start with a dot: False
        # means the message holds no CRLF "." and does not start with "." (nothing to stuff again)
        self.dots = False
        # the message so far, dot-unstuffed, in one growing buffer: realloc grows a large one in
        # place (mremap), where a list of 64 KB pieces left the heap fragmented once joined. A
        # BytesIO rather than a bytearray: its getvalue() hands over the buffer itself as bytes
        # (CPython shares it when nothing else holds it), where bytes(bytearray) copied the whole
        # message into fresh pages on the event loop at the end of DATA (6-8 ms per 10 MB,
        # page faults included, while every other session waited)
        self._kept = io.BytesIO()
        # The CRLF that ended the last complete line (at first: the one before DATA's first line)
        # followed by the line in progress. b"XX" stands in once a too-long line was dropped.
        self._buf = bytearray(b"\r\n")
        self._scanned = 0  # no terminator starts before this offset of _buf

    def feed(self, chunk: bytes) -> bool:
        buf = self._buf
        buf += chunk
        # The terminator starts with a dot line (CRLF "."): one search finds the first dot line
        # from where a terminator could begin, and when there is none, neither a terminator nor
        # anything to unstuff is there (most chunks of an attachment). Before `_scanned` only
        # offset 0 can start one (the leading CRLF and a line in progress that starts with ".").
        # Most chunks of a large message (base64) hold no dot at all: a single-byte find is a
        # memchr, where the 3-byte search walks the chunk byte by byte, so the dot line is
        # searched for only when there is a dot, and only from 2 bytes before the first one.
        first = buf.find(b".", self._scanned)
        dot = buf.find(b"\r\n.", max(self._scanned, first - 2)) if first >= 0 else -1
        lead = buf.startswith(b"\r\n.")  # the line in progress starts with a dot
        if dot >= 0:
            end = buf.find(TERMINATOR, dot)
            if end >= 0:  # (the terminator's own dot line is not one of the message)
                stuffed = dot < end or (lead and end > 0)
                self.dots = self.dots or stuffed
                self._lines(_copy(buf, 2, end + 2), stuffed)
                self.rest = bytes(buf[end + 5:])
                self._buf = bytearray()
                self.done = True
                return True
        last = buf.rfind(b"\r\n")
        if last > 0:  # complete lines after the leading CRLF
            stuffed = 0 <= dot < last or lead
            self.dots = self.dots or stuffed
            self._lines(_copy(buf, 2, last + 2), stuffed)
            del buf[:last]
        # the line in progress is too long already (with its CRLF: only an LF more when it ends in a CR, the chunk cut
        # between the two; counted twice, a line of exactly `line_limit` bytes so cut failed: hypothesis, session 43):
        # drop it, keeping 4 bytes, where a terminator could begin
        if len(buf) - buf.endswith(b"\r") > self.line_limit:
            self._fail(TOO_LONG)
            buf[:] = b"XX" + buf[-4:]
        self._scanned = max(0, len(buf) - 4)
        return False

    def _lines(self, data: bytes, stuffed: bool) -> None:
        """Complete lines, each ending in CRLF (still dot-stuffed); `stuffed`: a line of them may
        start with a dot (else there is nothing to unstuff)."""
        if self.state != NOMINAL or not data:
            return
        before = self.size
        self.size += len(data)
        if len(data) > self.line_limit - 2 and not lines_fit(data, self.line_limit):
            parts = data.split(b"\r\n")[:-1]
            # as aiosmtpd, line by line: the first long line, unless the size limit was
            # passed by the lines before it (only on this failure path: a Python loop)
            first = next(i for i, part in enumerate(parts) if len(part) + 2 > self.line_limit)
            ahead = before + sum(len(part) + 2 for part in parts[:first])
            self._fail(TOO_MUCH if self.size_limit and ahead > self.size_limit else TOO_LONG)
            return
        if self.size_limit and self.size > self.size_limit:
            self._fail(TOO_MUCH)
            return
        if not self.bare:
            # a CR or LF left once every CRLF is blanked out is a lone one: a replace and two
            # memchr (three counts took 1.4x the instructions: callgrind, 10 MB of base64 lines,
            # 152 M -> 106 M). Replaced by two NULs, not removed: the same length is CPython's
            # copy-and-patch path, with no counting pass first (a NUL of the data is no CR/LF)
            rest = data.replace(b"\r\n", b"\0\0")
            self.bare = b"\r" in rest or b"\n" in rest
        if not stuffed:
            self._kept.write(data)
            return
        unstuffed = data.replace(b"\r\n.", b"\r\n")  # `data` starts at the start of a line
        self._kept.write(memoryview(unstuffed)[1:] if data.startswith(b".") else unstuffed)

    def _fail(self, state: str) -> None:
        if self.state == NOMINAL:
            self.state = state
        self._kept = io.BytesIO()  # nothing of it will be delivered: free the memory now

    def content(self) -> bytes:
        """The message, dot-unstuffed (only when `state` is NOMINAL): the reader's own buffer,
        handed over without a copy (the reader keeps nothing of it)."""
        data = self._kept.getvalue()
        self._kept = io.BytesIO()
        return data


def _copy(buf: bytearray, start: int, end: int) -> bytes:
    """`bytes(buf[start:end])` with one copy instead of two (the memoryview is released before
    `buf` is resized)."""
    with memoryview(buf) as view:
        return bytes(view[start:end])


def lines_fit(data: bytes, limit: int) -> bool:
    """Whether every line of `data` (which ends with CRLF) is at most `limit` bytes, CRLF
    included. From the start of a line, the last CRLF within `limit` bytes ends the lines that
    fit there, and the next line starts after it; no CRLF there: that line is too long. The
    searches are in C, and every two of them move on by at least `limit` - 1 bytes (the line
    after the first one's CRLF crosses the end of its window): at most 2 * len(data) / limit + 2
    searches (splitting the data into lines made an object per line)."""
    start, end = 0, len(data)
    while start < end:
        crlf = data.rfind(b"\r\n", start, start + limit)
        if crlf < 0:
            return False
        start = crlf + 2
    return True


MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """glibc only: blocks of `size` bytes and more are mmapped, and unmapped when freed.

    glibc's default threshold is dynamic: it rises to the size of the largest mmapped block
    freed so far (up to 32 MiB), so after the first 10 MB message every later one lives in the
    heap, where a freed message's pages stay resident among live ones (peak RSS of 20 sessions
    of 10 MB: 359 MiB, 270 MiB with the threshold fixed; benchmarks/README.md). Setting the
    threshold fixes it (glibc then stops adjusting it). Left alone when MALLOC_MMAP_THRESHOLD_
    is set in the environment; False where there is no mallopt (musl, macOS)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, size))


READ_SIZE = 64 * 1024  # bytes a socket read asks for: below MMAP_THRESHOLD


def small_reads(transport: Any) -> None:
    """Have asyncio's socket transport read at most READ_SIZE bytes a time. It reads into a new
    bytes object of its `max_size` (256 KiB) and shrinks it to what arrived; above the fixed
    mmap threshold every read was an mmap, an mremap and a munmap (strace of `serve` under
    benchmarks/serve_bench.py: 8 of each per 5 kB message). Below it a read is a heap block.
    A transport without `max_size` (TLS, other event loops) is left alone."""
    size = getattr(transport, "max_size", None)
    if isinstance(size, int) and size > READ_SIZE:
        transport.max_size = READ_SIZE


@contextmanager
def read_ahead(reader: asyncio.StreamReader, limit: int = READ_SIZE) -> Iterator[None]:
    """The stream's buffer limit raised to `limit` for the time of a DATA, and put back after,
    however the DATA ends (the message read, refused, the client gone, the task cancelled).

    aiosmtpd makes the session's StreamReader with `limit=line_length_limit` (about 1 KB), which
    its command reader needs (a longer command line is refused by readuntil). asyncio pauses the
    transport once the buffer holds more than twice the limit and resumes it once it is down to
    the limit: during DATA that was a pause and a resume (two epoll_ctl) for every socket read,
    and the reader woken for every read. With `limit` the buffer holds at most 2 * `limit` bytes
    (128 KiB) plus the one read that passed that mark (READ_SIZE, `small_reads`; a TLS record's
    worth more under TLS) before the transport is paused: what a session can hold in the stream
    beside the message itself. A limit that is already as large is left alone."""
    before = getattr(reader, "_limit", None)
    if not isinstance(before, int) or before >= limit:
        yield
        return
    reader._limit = limit  # type: ignore[attr-defined]
    try:
        yield
    finally:
        # back to the command reader's limit; a transport paused under the large limit is
        # resumed by the command reader's reads, as always, once the buffer is down to it
        reader._limit = before  # type: ignore[attr-defined]


LARGE = 256 * 1024  # bytes of one transfer (a message in or out) after which its steps take turns
TURN_STEPS = 2  # steps of large transfers (a 64 KiB chunk in, a 256 KiB slice out) per loop turn


class Turns:
    """Large transfers take turns, so that a small message is never queued behind all of them.

    Every session reading or relaying a large message yields to the event loop after each
    chunk, and asyncio runs everything that became ready in the order it did: with 20 sessions
    each holding a 64 KiB chunk, every turn of the loop ran 20 chunks (about 0.2 ms of CPU each)
    before a small message's next step, and a small message needs 20-30 such turns (each command,
    each upstream reply, each store and DNS answer). Here the steps of transfers past `LARGE`
    bytes wait in one queue, and at most `per_turn` of them are let go per turn of the loop, in
    the order they asked (FIFO: no transfer is starved, each gets its share). The large ones are
    as fast as before when nothing else waits, and the loop's turns stay short when it is busy.
    One per event loop (ServerState)."""

    def __init__(self, per_turn: int = TURN_STEPS) -> None:
        self.per_turn = per_turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._releasing = False

    async def take(self) -> None:
        """Wait for this step's turn (at least the next turn of the loop, as sleep(0))."""
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._waiting.append(turn)
        if not self._releasing:
            self._releasing = True
            loop.call_soon(self._release, loop)
        await turn

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        let_go = 0
        while self._waiting and let_go < self.per_turn:
            turn = self._waiting.popleft()
            if not turn.done():  # (cancelled: its session went away)
                turn.set_result(None)
                let_go += 1
        if self._waiting:
            loop.call_soon(self._release, loop)  # the next ones in the next turn
        else:
            self._releasing = False
