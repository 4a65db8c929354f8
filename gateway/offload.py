"""Large messages analysed in child processes, under a deadline that really interrupts.

Purpose: the checks that only compute run on the event loop (gateway/checks), and asyncio can
interrupt a coroutine only where it waits: a 1-10 MB message held every other session of its
worker for hundreds of milliseconds, and `limits.analysis_timeout` could not cut a computing check
short. A message larger than `limits.offload_bytes`, or whose header block is larger than an
eighth of it or longer than 1,000 lines (`costly`: a folded header costs its parsers far more per
byte than a body), is therefore analysed by a child process of the worker
(`limits.analysis_processes` of them, default 1) running the very same `Runtime.analyse` on a
runtime it built itself from the worker's config (its own reference data, policies, resolver and
store connection: SQLite in WAL mode and Redis are multi-process; with the `memory` store the
children would see an empty history, so `serve` keeps analysis in-process and says so once at
start). The parent

- hands a child a message over a socketpair (length-prefixed frames: a pickled header with a job
  id, then the bytes as they are, sent from the parent's own copy), up to
  `limits.analysis_concurrency` messages at once: the child analyses each on a task of its own, so
  one that waits (a stranger's nameserver that answers slowly held the only process for the auth
  check's 15 s, atk47 #2) does not hold the others, and answers each as it finishes (by job id).
  One client (`client_key`: its address, an IPv6 /64; `trusted_networks` and unknown clients
  exempt) holds at most half of all the places, so one stranger's sessions cannot take them all.
  A message waits for a place on the least busy child, and that wait counts against its deadline;
- waits at most what is left of `analysis_timeout`: at the deadline the message follows `on_error`
  exactly as an in-process timeout does. The child is told a slightly earlier deadline
  (`CHILD_MARGIN`, on the shared monotonic clock), so an analysis that merely ran out of time (DNS,
  cut-off checks) still comes back partial. The child is SIGKILLed (and replaced) only if it still
  holds the message, or half of it, `KILL_GRACE` seconds after the deadline: an answer late because
  another message computed for a while there is dropped, and the child and the others it holds live
  on; meanwhile it takes no new message. A child that is killed takes the messages it holds with
  it: each follows `on_error` (which of them computes, the one whose deadline came or another,
  cannot be told from outside);
- treats a child that dies (a crash, the OOM killer) the same way, with a log line (its messages
  follow `on_error`), and replaces it, after a doubling back-off (0.5 s up to 30 s) when children
  keep dying young. A message that never reached a child that died or was killed (it waited to be
  sent) is tried again on another, within its deadline;
- on reload (`renew`) starts children on the new config; the old ones finish the messages they
  hold and exit; at shutdown (`close`) the children exit after the drain.

Records in the store stay with the parent, after the upstream accepted (Runtime.record); the
child's store calls (its history reads, timed by its `ObservedStore`) go back with each answer and
the parent's `observer` (its `GatewayMetrics`) counts them as its own. A child
never outlives its worker: it asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG,
Linux; checked against a race with getppid) and exits at end of file on its socket. Children are
spawned interpreters (`python -m gateway.offload`), never forks, and spawned from the event loop's
thread only: PR_SET_PDEATHSIG fires when the spawning thread ends.

Untrusted input: the message bytes (a stranger's), analysed in the child. The frames come from our
own parent or child over a socketpair nothing else can reach (pickle is safe there).
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import functools
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any, cast

from gateway.checks import RunStats
from gateway.config import Config, client_key, in_networks
from gateway.model import Envelope
from gateway.parse import header_end
from gateway.smtp.workers import how_it_ended
from gateway.store.observed import StoreObserver

log = logging.getLogger("gateway.offload")

CHILD_MARGIN = 0.5  # seconds of the deadline kept back from the child (at most a tenth of what is left)
# A message that gets a place with less than this left (or a quarter of `analysis_timeout`, if that is less:
# review48b #3) is not sent: it times out here, as it would there, and the child is not killed with the others it
# holds (slow_dns_bench: messages that waited 19.9 s of their 20 for a place were sent with 10 ms to answer in, and
# each such kill took the child's other messages with it).
LEAST_LEFT = 1.0
# Seconds a child may answer late before it is killed (its message already followed `on_error`): a message that
# computes for a while (a 7 MB message of 200,000 parts: 0.72 s) delays the others' answers, review48 #3
KILL_GRACE = 2.0
READY_WAIT = 120.0  # seconds a child may take to build its runtime and warm up
RETIRE_WAIT = 5.0  # seconds a retired child may take to exit before SIGKILL
HEALTHY_AFTER = 10.0  # a child that ran this long before it died is replaced at once
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# A header block the parsers read line by line or token by token: one field folded 20,000 times
# (80 KB) took 250-310 ms on the loop (docs/known-limits.md). Real mail's largest header block in
# ../shared/corpora and 1,142 public list messages: 42 KB and 504 lines (6 of 6,280 above 32 KB).
HEADER_LINES = 1_000  # more lines than this in the header block: analysed in a child too
HEADER_SHARE = 8  # ... and a header block above offload_bytes / HEADER_SHARE bytes (32 KiB by default)
# A body of many parts: 499 alternatives of a 43 KB message took 150 ms on the loop (parsed and walked three or four
# times and bannered; cpu45 #1), 1,800 parts 55-83 ms; under 200 such lines, 180 alternatives still took 56 ms, flat
# or nested (session 46: ~0.3 ms a part). Real mail: at most 29 lines that begin with "--" (delimiters, signature
# separators, rules) in the 5,138 messages of ../shared/corpora.
PART_LINES = 64  # more lines beginning with "--" than this in the body: analysed in a child too
_LEN = struct.Struct("!Q")
_PR_SET_PDEATHSIG = 1


def costly(raw: bytes, threshold: int, cut: int | None = None) -> bool:
    """Whether `raw` is worth a child: more than `threshold` bytes, a header block of more than
    `threshold // HEADER_SHARE` bytes or `HEADER_LINES` lines (what a stranger folds to stall the
    header parsers stays well under the size threshold), or a body of more than `PART_LINES` lines
    beginning with "--" (what a stranger splits into parts). Scans in C: two over the header block,
    two over the body; `cut`: `header_end(raw)` when the caller has it (Runtime.analyse passes it on
    to the parse)."""
    if len(raw) > threshold:
        return True
    end = header_end(raw) if cut is None else cut
    # (a bare CR ends a line for the stdlib's parser too, review45 #5; in CRLF text the byte before "--" is the LF:
    # nothing is counted twice)
    return (end > threshold // HEADER_SHARE or raw.count(b"\n", 0, end) > HEADER_LINES
            or raw.count(b"\n--", end) + raw.count(b"\r--", end) > PART_LINES)


class OffloadFailed(Exception):
    """The child did not answer: it was killed at the deadline or died (the message follows on_error)."""


# ------------------------------------------------------------------------------ framing


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = await loop.sock_recv_into(sock, view[got:])
        if not k:
            raise EOFError("end of file")
        got += k
    return buf


async def _read_frame(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> Any:
    (size,) = _LEN.unpack(await _read_exactly(loop, sock, _LEN.size))
    return pickle.loads(await _read_exactly(loop, sock, size))  # noqa: S301 - our own parent or child


# ------------------------------------------------------------------------------ parent side


class _Child:
    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, config: Config) -> None:
        self.proc = proc
        self.sock = sock
        self.config = config
        self.started = time.monotonic()
        self.retired = False  # a reload replaced it: it exits after the messages it holds
        self.closed = False
        self.ready = False  # said `ready`: its replies are read by `reader` from then on
        self.held = 0  # messages taken for it (being sent, analysed, or answered)
        # their deadlines, by job id: it takes no new message while one has passed (review48b #2: it is killed
        # KILL_GRACE later, or answers late)
        self.due: dict[int, float] = {}
        self.jobs: dict[int, asyncio.Future[dict[str, Any]]] = {}  # sent, not yet answered: by job id
        self.send_lock = asyncio.Lock()  # one message's frame and bytes at a time on the socket
        self.sending: asyncio.Task[None] | None = None  # the send under way (cancelled when it closes)
        self.reader: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        return not self.closed and self.proc.poll() is None

    def lose(self, why: str) -> None:
        """Fail the messages it was sent and has not answered (they follow `on_error`)."""
        for fut in self.jobs.values():
            if not fut.done():
                fut.set_exception(OffloadFailed(f"analysis process {why}"))
                fut.exception()  # retrieved: its exchange may be gone (a session that hung up) or still sending
        self.jobs.clear()

    def close(self, kill: bool = False) -> None:
        if not self.closed:
            self.closed = True
            for task in (self.reader, self.sending):
                if task is not None:
                    task.cancel()
            # Never close under a pending loop operation: asyncio would keep the fd's registration
            # after the kernel dropped it, and the next socket to get that fd number -- an SMTP
            # client's -- would never be read (a session hung 30 s at EHLO after two reloads).
            # The reader's pending read is taken off here (remove_reader cancels its handle, so its
            # own clean-up later does nothing).
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None and self.sock.fileno() >= 0:
                loop.remove_reader(self.sock.fileno())
                loop.remove_writer(self.sock.fileno())
            self.sock.close()  # end of file: the child exits
        if kill and self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass


class _Unsent(OffloadFailed):
    """The child for the message was killed or died before it had all of the message, which is then tried on
    another child, within its deadline."""


class Offload:
    """The analysis children of one worker. `await start()` on the worker's loop, then `analyse`;
    `renew(config)` on reload, `await close()` after the drain.

    Each child analyses up to `limits.analysis_concurrency` messages at once (an analysis mostly
    waits for DNS and the store: one whose sender's nameserver answers slowly no longer holds the
    others), and one client (its address; IPv6: its /64; `trusted_networks` and unknown clients
    exempt) holds at most half of all the children's places (`share`), so a stranger's sessions
    cannot take every place from other senders' large mail."""

    def __init__(self, config: Config, *, observer: StoreObserver | None = None) -> None:
        """`observer`: told each store call a child made for a message (its `ObservedStore`'s,
        sent back with the answer), as the worker's own store calls are (`GatewayMetrics`)."""
        self.config = config
        self.observer = observer
        self.threshold = config.limits.offload_bytes
        self.processes = config.limits.analysis_processes
        self.per_process = config.limits.analysis_concurrency
        self.share = max(1, self.processes * self.per_process // 2)
        self.children: list[_Child] = []
        self.failures = 0  # children in a row that died young
        self.spawned = 0
        self.retried = 0  # messages tried on another child: theirs was lost before it had them (_Unsent)
        self.by_client: dict[str, int] = {}  # places held, by client_key
        self._freed: asyncio.Event | None = None  # set when a place may have come free
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def wanted(self, raw: bytes, cut: int | None = None) -> bool:
        """Whether a child should analyse `raw` (`costly`, once the children were started).
        `cut`: `header_end(raw)` when the caller has it."""
        return self._freed is not None and not self._closing and costly(raw, self.threshold, cut)

    def begin(self) -> None:
        """Start the children (on the running loop) and take messages at once: they wait for a
        child that is ready, within their deadline."""
        self._loop = asyncio.get_running_loop()
        self._freed = asyncio.Event()
        for _ in range(self.processes):
            self._background(self._spawn(self.config))

    async def start(self) -> None:
        """`begin`, and return when the children are ready (or failed: they are retried later)."""
        self.begin()
        await asyncio.gather(*self._tasks)

    def renew(self, config: Config) -> None:
        """Reload: children on `config` replace the running ones (thread-safe)."""
        if self._loop is None:
            self.config = config
            return
        self._loop.call_soon_threadsafe(self._renew, config)

    def _renew(self, config: Config) -> None:
        if self._closing:
            return
        self.config = config
        self.per_process = config.limits.analysis_concurrency
        self.share = max(1, self.processes * self.per_process // 2)
        old = list(self.children)
        for child in old:
            child.retired = True
            # busy: it exits after its last message (_released); starting: after its `ready` (_spawn),
            # which is read from its socket now (closing the socket under that read loses the fd)
            if child.alive() and not child.held and child.ready:
                self._retire(child)
        for _ in range(self.processes):
            self._background(self._spawn(config))
        log.info("offload: reload: %d analysis process(es) replaced", len(old))

    def _retire(self, child: _Child, kill: bool = False) -> None:
        """Close `child` (it exits at end of file; `kill`: SIGKILL now) and reap it, SIGKILL after
        `RETIRE_WAIT`."""
        child.close(kill=kill)
        self._forget(child)

        async def reap() -> None:
            end = time.monotonic() + RETIRE_WAIT
            while child.proc.poll() is None and time.monotonic() < end:
                await asyncio.sleep(0.05)
            child.close(kill=True)
            if child.proc.poll() is None:
                await asyncio.to_thread(child.proc.wait)
        self._background(reap())

    def _background(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _spawn(self, config: Config, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self._closing or config is not self.config:
            return
        from gateway.smtp.workers import _worker_env

        parent, theirs = socket.socketpair()
        try:
            proc = subprocess.Popen([sys.executable, "-m", "gateway.offload", str(theirs.fileno()), str(os.getpid())],  # noqa: S603 - our own interpreter and module, fixed arguments
                                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=_worker_env())
        except OSError as exc:
            parent.close()
            self._died_young(config, f"cannot be started ({exc})")
            return
        finally:
            theirs.close()
        parent.setblocking(False)
        child = _Child(proc, parent, config)
        self.spawned += 1
        self.children.append(child)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(parent, _frame({"config": config}))
            async with asyncio.timeout(READY_WAIT):
                hello = await _read_frame(loop, parent)
        except (OSError, EOFError, TimeoutError, pickle.UnpicklingError) as exc:
            hello = {"error": f"no ready message ({type(exc).__name__})"}
        if not isinstance(hello, dict) or not hello.get("ready"):
            self._retire(child, kill=True)
            self._died_young(config, str(hello.get("error") if isinstance(hello, dict) else hello))
            return
        if self._closing or child.retired or config is not self.config:
            self._retire(child)
            return
        log.info("offload: analysis process ready (pid %d)", proc.pid)
        child.ready = True
        child.reader = self._background(self._replies(child))
        self._wake()

    async def _replies(self, child: _Child) -> None:
        """Read `child`'s answers (in any order) to the messages waiting for them, until it ends."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                reply = await _read_frame(loop, child.sock)
                if not isinstance(reply, dict):
                    raise EOFError(f"an answer of type {type(reply).__name__}")
                if self.observer is not None:  # counted here: the session may be gone, the calls were made
                    for op, seconds, reason in reply.get("store_calls", ()):
                        self.observer.store_call(op, seconds, reason)
                fut = child.jobs.pop(reply.get("id", 0), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            if child.closed:  # we closed it (a kill, a reload): whoever did has failed its messages
                return
            child.ready = False  # no new message while its exit status is awaited (review48 #4)
            for _ in range(20):  # its exit status, if it is dying (end of file comes first)
                if child.proc.poll() is not None:
                    break
                await asyncio.sleep(0.01)
            how = how_it_ended(child.proc.returncode) if child.proc.returncode is not None else f"failed ({exc})"
            if child.jobs:
                log.error("offload: analysis process %d %s while analysing %d message(s)", child.proc.pid, how,
                          len(child.jobs))
            self._replace(child, how)

    def _forget(self, child: _Child) -> None:
        if child in self.children:
            self.children.remove(child)

    def _died_young(self, config: Config, why: str) -> None:
        self.failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))
        log.error("offload: analysis process %s; starting a new one in %.1f s", why, delay)
        self._background(self._spawn(config, delay))

    def _replace(self, child: _Child, why: str, killed: bool = False) -> None:
        """`child` was killed (`killed`: by us, at a deadline) or died: its other messages are lost
        (`_Child.lose`); log it, start another at once, or after a back-off if it died young by itself.
        A kill at a deadline never backs off: a sender of messages that run past it must not keep the
        children away from other mail. Once per child."""
        if child.closed and child not in self.children:
            return
        child.lose(why)
        self._retire(child, kill=True)
        self._wake()
        if self._closing or child.retired:
            return
        lived = time.monotonic() - child.started
        if killed or lived >= HEALTHY_AFTER:
            if lived >= HEALTHY_AFTER:
                self.failures = 0
            log.warning("offload: analysis process %d %s after %.1f s; starting a new one", child.proc.pid, why, lived)
            self._background(self._spawn(self.config))
        else:
            self._died_young(self.config, f"{child.proc.pid} {why} after {lived:.1f} s")

    def _wake(self) -> None:
        if self._freed is not None:
            self._freed.set()

    def _key(self, envelope: Envelope) -> str | None:
        """Whose share a message counts against: its client's (None: exempt)."""
        ip = envelope.client.ip
        if not ip or in_networks(ip, self.config.trusted_networks):
            return None
        return client_key(ip)

    async def _take(self, key: str | None) -> _Child:
        """A place on the least busy ready child, once `key` is under its share."""
        assert self._freed is not None
        while True:
            if key is None or self.by_client.get(key, 0) < self.share:
                best: _Child | None = None
                now = asyncio.get_running_loop().time()
                for child in list(self.children):
                    if (not child.ready or child.retired or child.closed or child.held >= self.per_process
                            or any(due <= now for due in child.due.values())):
                        continue
                    if child.proc.poll() is not None:  # died before its reader saw it (the OOM killer)
                        how = how_it_ended(child.proc.returncode)
                        self._replace(child, how if child.held else how + " while idle")
                        continue
                    if best is None or child.held < best.held:
                        best = child
                if best is not None:
                    best.held += 1
                    if key is not None:
                        self.by_client[key] = self.by_client.get(key, 0) + 1
                    return best
            self._freed.clear()
            await self._freed.wait()

    def _released(self, child: _Child, key: str | None, job_id: int | None = None,
                  _task: asyncio.Task[Any] | None = None) -> None:
        """An exchange ended (however it did, even cancelled before it began): its place is free."""
        child.held -= 1
        if job_id is not None:
            child.due.pop(job_id, None)
        if key is not None:
            left = self.by_client.get(key, 0) - 1
            if left > 0:
                self.by_client[key] = left
            else:
                self.by_client.pop(key, None)
        if child.retired and not child.held and not child.closed:
            self._retire(child)
        self._wake()

    async def analyse(self, raw: bytes, envelope: Envelope, *, with_tls: bool, add_received: bool,
                      deadline: float) -> tuple[Any, RunStats]:
        """The child's answer for one message: ("result", Result, same_raw) or ("raise", kind,
        text), and the child's run statistics. TimeoutError at `deadline` (the child is killed when it
        still holds the message `KILL_GRACE` later),
        OffloadFailed when it died. The exchange is shielded: a session that goes away while its
        message is analysed leaves the child to finish (or be killed at the deadline), so hanging
        up after the final dot cannot make the worker restart children. At the deadline the message
        follows `on_error` (TimeoutError); its exchange waits `KILL_GRACE` more for the child's
        answer before it kills the child. A message whose child was lost before it had the message
        (`_Unsent`) is tried on another, within the deadline."""
        loop = asyncio.get_running_loop()
        key = self._key(envelope)
        while True:
            async with asyncio.timeout_at(deadline):
                child = await self._take(key)
            left = deadline - loop.time()
            if left < min(LEAST_LEFT, self.config.limits.analysis_timeout / 4):  # review48b #3: a short timeout
                self._released(child, key)  # (no job yet)
                raise TimeoutError(f"{left:.2f} s left when an analysis process was free")
            # the child's deadline on the same clock (time.monotonic, the loops' time): from when it starts the
            # analysis, which may wait behind another message's computing there, its answer is still in time
            job_id = next(self._ids)
            child.due[job_id] = deadline
            job = {"id": job_id, "envelope": envelope, "with_tls": with_tls, "add_received": add_received,
                   "deadline": deadline - min(CHILD_MARGIN, left / 10), "size": len(raw)}
            task = loop.create_task(self._exchange(child, job, raw, deadline, envelope.queue_id))
            self._tasks.add(task)
            task.add_done_callback(_settled)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(self._released, child, key, job_id))
            try:
                async with asyncio.timeout_at(deadline):  # the exchange itself waits KILL_GRACE longer
                    reply: dict[str, Any] = await asyncio.shield(task)
            except _Unsent as exc:
                self.retried += 1
                log.warning("offload: queue id %s tried on another analysis process (%s)", envelope.queue_id, exc)
                continue
            return reply["answer"], reply["stats"]

    async def _exchange(self, child: _Child, job: dict[str, Any], raw: bytes, deadline: float,
                        queue_id: str | None) -> dict[str, Any]:
        """Send the message and wait for its answer until `KILL_GRACE` after its deadline (the message followed
        on_error at the deadline, in `analyse`: an answer late by less is dropped, and a send stalled by another
        message's computing may finish); kill the child only if it holds the message, or half of it, then."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        partial = False  # some of the message is on the socket, not all
        try:
            async with asyncio.timeout_at(deadline + KILL_GRACE):
                async with child.send_lock:
                    if child.closed:  # killed or died while this message waited to be sent
                        raise _Unsent("analysis process was lost before the message was sent")
                    if loop.time() >= deadline:  # it followed on_error while it waited to be sent: not sent
                        raise TimeoutError
                    child.jobs[job["id"]] = fut
                    # sent by a task of its own, which `_Child.close` cancels: a send the child no longer reads
                    # (it computes, or was killed) must not wait once the child is gone
                    partial = True
                    child.sending = loop.create_task(_send(child.sock, job, raw))
                    try:
                        await asyncio.wait({child.sending})
                    finally:
                        sent, child.sending = child.sending, None
                        if not sent.done():  # the deadline and its grace, or close()
                            sent.cancel()
                    if sent.cancelled():
                        raise _Unsent("analysis process was lost while the message was sent")
                    sent.result()  # OSError: it died
                    partial = False
                return await fut
        except TimeoutError:
            if (job["id"] in child.jobs or partial) and not child.closed:  # it holds the message (or half of it)
                log.warning("offload: analysis process %d killed at the deadline of queue id %s (%s %.1f s after "
                            "it)", child.proc.pid, queue_id, "still sending it" if partial else "no answer",
                            KILL_GRACE)
                child.jobs.pop(job["id"], None)
                self._replace(child, "was killed at a message's deadline", killed=True)
            raise
        except asyncio.CancelledError:  # close() at the end of a drain: the child's state is unknown
            self._replace(child, "was stopped")
            raise
        except OSError as exc:  # it died before it had the whole message: not this message's doing
            child.jobs.pop(job["id"], None)
            if not child.closed:
                self._replace(child, f"failed ({exc})")
            raise _Unsent(f"analysis process failed ({exc})") from exc
        finally:
            child.jobs.pop(job["id"], None)

    async def close(self) -> None:
        """After the drain: the children exit (end of file), SIGKILL for any still there after 2 s."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # their socket reads end before the sockets close
        for child in self.children:
            child.close()
        end = time.monotonic() + 2.0
        for child in self.children:
            while child.proc.poll() is None and time.monotonic() < end:
                await asyncio.sleep(0.02)
            child.close(kill=True)
            if child.proc.poll() is None:
                await asyncio.to_thread(child.proc.wait)
        self.children = []

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self.children if c.alive() and not c.retired]


async def _send(sock: socket.socket, job: dict[str, Any], raw: bytes) -> None:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, _frame(job))
    await loop.sock_sendall(sock, memoryview(raw))


def _settled(task: asyncio.Task[Any]) -> None:
    """Retrieve the outcome of an exchange nobody awaits any more (its session went away)."""
    if not task.cancelled():
        task.exception()


# ------------------------------------------------------------------------------ child side


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux); exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: end of file on the socket still ends the child
        pass
    if os.getppid() != parent:
        os._exit(0)


def _receive_bytes(sock: socket.socket, size: int) -> bytes:
    """`size` bytes as one bytes object (no second copy of a 10 MB message): a blocking read
    with MSG_WAITALL, while the child has nothing else to do."""
    sock.setblocking(True)
    try:
        data = sock.recv(size, socket.MSG_WAITALL) if size else b""
        if len(data) < size:  # a signal interrupted it, or end of file
            rest = bytearray(data)
            while len(rest) < size:
                chunk = sock.recv(size - len(rest))
                if not chunk:
                    raise EOFError("end of file")
                rest += chunk
            data = bytes(rest)
        return data
    finally:
        sock.setblocking(False)


async def _child(sock: socket.socket) -> int:
    from gateway.errors import AdminInputError, StartupError
    from gateway.log import setup_logging
    from gateway.parse import HeaderLimitExceeded
    from gateway.runtime import AnalysisFailed, Runtime
    from gateway.store import Store, store_from_config
    from gateway.store.observed import ObservedStore, StoreCalls

    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        spec = await _read_frame(loop, sock)
    except (OSError, EOFError):
        return 0
    config: Config = spec["config"]
    setup_logging(config.log.level, config.log.format, pid=True)
    try:
        # its store calls are timed as the worker's are (ObservedStore) and sent back with each answer;
        # warm-up reads the inner store, as the worker's does (Runtime.warm_up)
        calls = StoreCalls()
        store = cast(Store, ObservedStore(store_from_config(config), calls))
        runtime = Runtime(config, store=store, threads=False)  # nothing outlives a kill at the deadline
    except (AdminInputError, StartupError, OSError) as exc:
        try:
            await loop.sock_sendall(sock, _frame({"error": str(exc)}))
        except OSError:  # the worker is gone or stopping: it no longer asks
            pass
        return 2
    await runtime.warm_up()
    try:
        await loop.sock_sendall(sock, _frame({"ready": True}))
    except OSError:  # the worker stopped (or reloaded) while this child warmed up: nothing to say
        await runtime.close()
        return 0
    reported = RunStats()  # the counts already sent back (each answer carries what was counted since)
    writing = asyncio.Lock()
    running: set[asyncio.Task[None]] = set()

    async def one(job: dict[str, Any], raw: bytes) -> None:
        answer: tuple[Any, ...]
        try:
            result = await runtime.analyse(raw, job["envelope"], with_tls=job["with_tls"],
                                           add_received=job["add_received"],
                                           timeout=max(0.05, job["deadline"] - loop.time()))
            if result.plan is not None and result.plan.raw is raw:  # the parent has these bytes
                result = dataclasses.replace(result, plan=dataclasses.replace(result.plan, raw=b""))
                answer = ("result", result, True)
            else:
                answer = ("result", result, False)
        except HeaderLimitExceeded as exc:
            answer = ("raise", "header", str(exc))
        except AnalysisFailed as exc:
            answer = ("raise", "failed", str(exc))
        except Exception:  # as a child analysing one message at a time did: it ends, the parent says how
            log.exception("analysis of queue id %s failed", job["envelope"].queue_id)
            os._exit(1)
        del raw
        async with writing:  # one answer's frame at a time
            frame = _frame({"id": job["id"], "answer": answer, "stats": runtime.stats.since(reported),
                            "store_calls": calls.take()})
            try:
                await loop.sock_sendall(sock, frame)
            except OSError:  # the parent is gone: end of file ends the loop below
                pass

    while True:  # messages are taken as they come, each analysed on a task of its own
        try:
            job = await _read_frame(loop, sock)
            raw = _receive_bytes(sock, job["size"])
        except (OSError, EOFError):
            break
        task = loop.create_task(one(job, raw))
        running.add(task)
        task.add_done_callback(running.discard)
        del raw
    for task in list(running):  # nobody reads their answers any more
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    await runtime.close()
    return 0


def main(argv: list[str]) -> int:
    """`python -m gateway.offload FD PARENT_PID`: one analysis child (started by Offload, never by hand)."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):  # the worker decides when a child ends
        signal.signal(sig, signal.SIG_IGN)
    _die_with_parent(int(argv[1]))
    sock = socket.socket(fileno=int(argv[0]))
    return asyncio.run(_child(sock))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
