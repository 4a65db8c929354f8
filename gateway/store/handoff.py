"""One worker thread that owns a resource (the SQLite connection) and takes work from the event
loop with as little hand-off cost as the standard library allows.

Purpose: `loop.run_in_executor` with a one-thread ThreadPoolExecutor costs about 50 us of CPU a
call alone and 20 us a call under load (a Python lock and semaphore per submit, a concurrent
future chained to an asyncio one, a self-pipe write per result). Here a call is a C
`SimpleQueue.put` and an asyncio future; the thread takes everything that queued up while it
was busy (at most MAX_BATCH) and settles the whole batch with one `call_soon_threadsafe`
(benchmarks: about 30 us alone, 5 us a call with 20 callers waiting). Order is kept: calls run
one at a time, in the order they were made.

The calls an event loop makes in one pass of its ready callbacks are handed over together, at the
end of that pass (one `call_soon`; at most MAX_BATCH a hand-over): the thread is woken once for
them and their results come back with one wake-up of the loop. The checks that wait on the store
start in the same pass (the campaign and sender checks; the quoting check's two reads), and a
round trip costs ~100 us of CPU here whatever it carries (two context switches, futexes, the
self-pipe, the GIL changing hands: a trivial call, 2-core machine); handed over one by one, the
second call often caught the thread awake, but not always (perf37: 4.1 context switches a ham
message before, 3.2 after).

Untrusted input: none (the callables are the store's own).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("gateway.store")

MAX_BATCH = 64  # calls settled per wake-up of the loop, at most

_Item = tuple[Callable[[], Any], asyncio.Future[Any]]
_Handed = list[_Item]  # the calls one loop made in one pass, in order


class HandoffThread:
    """`await run(fn)`: `fn()` on this object's one thread; its result or exception comes back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Handed | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # per event loop: the calls made since its last hand-over (only that loop's thread touches
        # its list; a call_soon(_hand_over) is pending while one is here)
        self._gathering: dict[asyncio.AbstractEventLoop, _Handed] = {}

    async def run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError(f"{self.name}: thread stopped")
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                    self._thread.start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        calls = self._gathering.get(loop)
        if calls is None:
            self._gathering[loop] = [(fn, fut)]
            loop.call_soon(self._hand_over, loop)
        else:
            calls.append((fn, fut))
        return await fut

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        calls = self._gathering.pop(loop, None) or []
        for i in range(0, len(calls), MAX_BATCH):
            self._queue.put(calls[i:i + MAX_BATCH])

    def stop(self) -> None:
        """Finish what is queued, then end the thread (blocks until it has)."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            for loop in list(self._gathering):  # made, not yet handed over: they run first
                self._hand_over(loop)
            self._queue.put(None)
            thread.join()

    def _work(self) -> None:
        name_os_thread(self.name)
        q = self._queue
        stopping = False
        while not stopping:
            handed = q.get()
            if handed is None:
                return
            batch = list(handed)
            while len(batch) < MAX_BATCH:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch += nxt
            done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
            for fn, fut in batch:
                try:
                    outcome: tuple[asyncio.Future[Any], bool, Any] = (fut, True, fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                    outcome = (fut, False, exc)
                done.setdefault(fut.get_loop(), []).append(outcome)
            for loop, settled in done.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that loop is closed: nobody waits for these any more
                    log.debug("%s: %d results for a closed event loop dropped", self.name, len(settled))


def name_os_thread(name: str) -> None:
    """Give the calling thread `name` in the kernel too (Linux: what `top -H`, py-spy and
    /proc/PID/task/TID/comm show; Python 3.11 names only its own Thread object). Best effort."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's prctl among them
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        log.debug("could not name thread %s", name)


def _settle(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in settled:
        if fut.done():  # the caller was cancelled; its call ran anyway, as with an executor
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
