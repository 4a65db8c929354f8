"""A store whose every call is timed and reported, in the process that serves or in an analysis child.

Purpose: `ObservedStore` wraps any `Store` and tells a `StoreObserver` the operation, the time and
the failure (the exception class) of each call; the exception still reaches the caller, which
decides what it means. In `serve` the observer is the process's `GatewayMetrics`
(gateway/admin/metrics.py); in an analysis child (gateway/offload.py) it is a `StoreCalls` whose
calls go back to the parent with the message's answer, where the parent's metrics count them
like its own.

Untrusted input: none here (operation names are ours; reasons are exception class names).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

StoreCall = tuple[str, float, "str | None"]  # operation, seconds, the exception class's name when it failed


class StoreObserver(Protocol):
    def store_call(self, op: str, seconds: float, reason: str | None) -> None:
        """One store call `op` took `seconds`; `reason`: the exception class's name when it failed."""


class ObservedStore:
    """A `Store` that times every call and reports it to `observer`; the exception
    (`StoreUnavailable`, ...) still reaches the caller, which decides what it means."""

    OPS = ("record_message", "learn_pair", "learn_pairs", "seen_pair", "seen_sender_org", "rdap_get", "rdap_put",
           "search_history", "campaign_reach", "campaign_reach_many", "sender_history", "purge")

    def __init__(self, inner: Any, observer: StoreObserver) -> None:
        self.inner = inner
        self.observer = observer

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name not in self.OPS:
            return target
        observer, inner = self.observer, self.inner

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                out = await getattr(inner, name)(*args, **kwargs)  # the inner store's method as it is now
            except Exception as exc:
                observer.store_call(name, time.perf_counter() - start, type(exc).__name__)
                raise
            observer.store_call(name, time.perf_counter() - start, None)
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
