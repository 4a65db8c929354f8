"""A store whose every call is timed and reported, in the process that serves or in an analysis child.

Purpose: `ObservedStore` wraps any `Store` and tells a `StoreObserver` the operation, the time and
the failure (the exception class) of each call; the exception still reaches the caller, which
decides what it means. In `serve` the observer is the process's `GatewayMetrics`
(gateway/admin/metrics.py); in an analysis child (gateway/offload.py) it is a `StoreCalls` whose
calls go back to the parent with the message's answer, where the parent's metrics count them
like its own.

`ObservedStore.writes` (a `WriteOutcomes`) keeps how the writes went: /readyz (gateway/admin/)
reads it, because a store can answer every read while refusing every write (SQLite on a full
disk or a read-only file, Redis past maxmemory): readiness must not say "ok" then, and it must
cost no write per probe.

Untrusted input: none here (operation names are ours; reasons are exception class names; the
kept error text is the store's own message, which masks passwords).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

StoreCall = tuple[str, float, "str | None"]  # operation, seconds, the exception class's name when it failed
# the operations that write: their outcomes are what `WriteOutcomes` keeps
WRITE_OPS = frozenset({"record_message", "learn_pair", "learn_pairs", "rdap_put", "purge"})
MAX_ERROR_TEXT = 200  # characters of the last write error kept


class StoreObserver(Protocol):
    def store_call(self, op: str, seconds: float, reason: str | None) -> None:
        """One store call `op` took `seconds`; `reason`: the exception class's name when it failed."""


class WriteOutcomes:
    """How this process's store writes went: when the last succeeded, when the last failed, the
    failures since the last success and the last failure's operation, class and text."""

    def __init__(self) -> None:
        self.last_ok = 0.0  # time.time() of the last write that succeeded (0: none yet)
        self.last_failed = 0.0  # time.time() of the last write that failed (0: none yet)
        self.failed_in_a_row = 0  # writes that failed since the last one that succeeded
        self.op = ""  # the last failed write's operation
        self.error = ""  # "ExceptionClass: text" of the last failed write

    def note(self, op: str, exc: BaseException | None, now: float) -> None:
        if exc is None:
            self.last_ok, self.failed_in_a_row = now, 0
            return
        self.last_failed, self.op = now, op
        self.failed_in_a_row += 1
        text = str(exc)[:MAX_ERROR_TEXT]
        self.error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def failing(self, window: float, now: float) -> str:
        """"" unless the last write failed, within the last `window` seconds: then what failed
        (the window lets an instance taken out of service come back and try again: with no mail
        it writes nothing, and readiness never writes)."""
        if self.last_failed <= self.last_ok or now - self.last_failed > window:
            return ""
        return (f"the last write failed {now - self.last_failed:.1f} s ago ({self.op}: {self.error}); "
                f"{self.failed_in_a_row} failed since the last that succeeded")


class ObservedStore:
    """A `Store` that times every call and reports it to `observer`; the exception
    (`StoreUnavailable`, ...) still reaches the caller, which decides what it means."""

    OPS = ("record_message", "learn_pair", "learn_pairs", "seen_pair", "seen_sender_org", "rdap_get", "rdap_put",
           "search_history", "campaign_reach", "campaign_reach_many", "campaign_first_seen",
           "sender_history", "purge")

    def __init__(self, inner: Any, observer: StoreObserver) -> None:
        self.inner = inner
        self.observer = observer
        self.writes = WriteOutcomes()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name not in self.OPS:
            return target
        observer, inner = self.observer, self.inner
        writes = self.writes if name in WRITE_OPS else None

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                out = await getattr(inner, name)(*args, **kwargs)  # the inner store's method as it is now
            except Exception as exc:
                observer.store_call(name, time.perf_counter() - start, type(exc).__name__)
                if writes is not None:
                    writes.note(name, exc, time.time())
                raise
            observer.store_call(name, time.perf_counter() - start, None)
            if writes is not None:
                writes.note(name, None, time.time())
            return out
        self.__dict__[name] = timed  # made once per operation: the next call finds it without __getattr__
        return timed

    async def close(self) -> None:
        await self.inner.close()


class StoreCalls:
    """A `StoreObserver` that keeps the calls until `take`n (an analysis child's, sent to its parent
    with each answer)."""

    def __init__(self) -> None:
        self.calls: list[StoreCall] = []

    def store_call(self, op: str, seconds: float, reason: str | None) -> None:
        self.calls.append((op, seconds, reason))

    def take(self) -> list[StoreCall]:
        calls, self.calls = self.calls, []
        return calls
