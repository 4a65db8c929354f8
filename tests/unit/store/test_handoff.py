"""HandoffThread: the store's one worker thread (order, results, errors, cancellation, stop)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.store.handoff import HandoffThread


def test_calls_run_on_one_thread_in_the_order_they_were_made() -> None:
    t = HandoffThread("test")
    seen: list[tuple[int, str]] = []

    async def go() -> list[int]:
        def job(i: int) -> int:
            seen.append((i, threading.current_thread().name))
            return i * i
        return list(await asyncio.gather(*(t.run(lambda i=i: job(i)) for i in range(200))))
    assert asyncio.run(go()) == [i * i for i in range(200)]
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"test"}
    t.stop()


def test_an_exception_reaches_the_caller_and_the_thread_goes_on() -> None:
    t = HandoffThread("test")

    async def go() -> int:
        with pytest.raises(ZeroDivisionError):
            await t.run(lambda: 1 // 0)
        return await t.run(lambda: 7)
    assert asyncio.run(go()) == 7
    t.stop()


def test_a_cancelled_caller_does_not_break_the_batch() -> None:
    t = HandoffThread("test")
    gate = threading.Event()

    async def go() -> int:
        blocked = asyncio.ensure_future(t.run(gate.wait))
        doomed = asyncio.ensure_future(t.run(lambda: "never seen"))
        await asyncio.sleep(0.01)
        doomed.cancel()
        gate.set()
        await blocked
        return await t.run(lambda: 3)
    assert asyncio.run(go()) == 3
    t.stop()


def test_several_event_loops_get_their_own_results() -> None:
    """The CLI runs several asyncio.run() in turn on one store."""
    t = HandoffThread("test")
    assert asyncio.run(t.run(lambda: 1)) == 1
    assert asyncio.run(t.run(lambda: 2)) == 2
    t.stop()


def test_stop_finishes_the_queue_and_refuses_new_work() -> None:
    t = HandoffThread("test")

    async def go() -> None:
        await t.run(lambda: None)
    asyncio.run(go())
    t.stop()
    t.stop()  # twice is harmless
    with pytest.raises(RuntimeError, match="stopped"):
        asyncio.run(go())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel thread names are read from /proc (Linux)")
def test_the_thread_carries_its_name_in_the_kernel() -> None:
    """`top -H`, py-spy and serve_bench's per-thread CPU see the store thread by this name."""
    t = HandoffThread("store-test")

    async def go() -> str:
        return await t.run(lambda: Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip())
    assert asyncio.run(go()) == "store-test"
    t.stop()


def test_a_call_made_as_the_loop_stops_still_runs() -> None:
    """review37c #1: a call made in the loop's last pass (the gateway stopping) must reach the store thread at once,
    not wait for a pass that never comes (a batched hand-over had lost such a write and left its caller waiting)."""
    h = HandoffThread("store-test")
    ran: list[str] = []
    asyncio.run(h.run(lambda: None))  # the thread is started
    loop = asyncio.new_event_loop()

    async def writer() -> None:
        await h.run(lambda: ran.append("recorded"))

    loop.call_soon(loop.stop)  # the loop stops after this pass ...
    task = loop.create_task(writer())  # ... in which a task calls the store
    loop.run_forever()
    deadline = time.monotonic() + 5
    while not ran and time.monotonic() < deadline:
        time.sleep(0.01)
    before = list(ran)  # before the loop runs again or stop() runs what is queued
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    loop.close()
    h.stop()
    assert before == ["recorded"]


def test_a_call_racing_stop_from_another_thread_runs_or_is_refused() -> None:
    """review37c #2: stop() on another thread while a run() is past its check for a stopped thread: the call had been
    queued after the end mark, never run, its caller waiting for ever (the SMTP session with it). Here stop() starts
    as the call is being queued, and is given time to put its mark first: the call must run (or be refused), and its
    caller get an answer."""
    h = HandoffThread("store-test")
    asyncio.run(h.run(lambda: None))  # the thread is started
    real = h._queue
    stopper = threading.Thread(target=h.stop)

    class Racing:
        def put(self, item: object) -> None:
            if item is not None and not stopper.is_alive():
                stopper.start()  # stop() from another thread, as the call is queued ...
                time.sleep(0.2)  # ... with time to put its end mark first, where it can
            real.put(item)  # type: ignore[arg-type]

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    h._queue = Racing()  # type: ignore[assignment]
    ran: list[int] = []

    async def call() -> str:
        try:
            await asyncio.wait_for(h.run(lambda: ran.append(1)), 5)
        except RuntimeError:
            return "refused"
        except TimeoutError:
            return "never answered"
        return "ran"

    answer = asyncio.run(call())
    stopper.join(5)
    assert (answer, ran) in (("ran", [1]), ("refused", []))
    assert not stopper.is_alive()
