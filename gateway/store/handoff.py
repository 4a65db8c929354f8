"""One worker thread that owns a resource (the SQLite connection) and takes work from the event
loop with as little hand-off cost as the standard library allows.

Purpose: `loop.run_in_executor` with a one-thread ThreadPoolExecutor costs about 50 us of CPU a
call alone and 20 us a call under load (a Python lock and semaphore per submit, a concurrent
future chained to an asyncio one, a self-pipe write per result). Here a call is a C
`SimpleQueue.put` and an asyncio future; the thread takes everything that queued up while it
was busy (at most MAX_BATCH) and settles the whole batch with one `call_soon_threadsafe`
(benchmarks: about 30 us alone, 5 us a call with 20 callers waiting). Order is kept: calls run
one at a time, in the order they were made.

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


class HandoffThread:
    """`await run(fn)`: `fn()` on this object's one thread; its result or exception comes back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, fn: Callable[[], T]) -> T:
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        # the check and the put under the lock `stop()` takes to put its end mark: a call is queued ahead of the
        # mark, so it runs, or refused; it had been put after the mark by a run() past the check as stop() ran on
        # another thread, never run, its caller waiting for ever (review37c #2; an uncontended lock, ~0.1 us)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: thread stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._queue.put((fn, fut))
        return await fut

    def stop(self) -> None:
        """Finish what is queued, then end the thread (blocks until it has). Any thread may call it."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        name_os_thread(self.name)
        q = self._queue
        stopping = False
        while not stopping:
            item = q.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
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
