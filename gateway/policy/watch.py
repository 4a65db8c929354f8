"""Noticing policy edits: poll the policy paths' modification times and reload on change.

Purpose: admins edit `policies/local.d/*.yml` and the gateway picks the change up within a few
seconds, as it does on SIGHUP: the new files are validated in full, then swapped in atomically;
a broken edit is logged and the running policies stay. No new dependency (no inotify): a poll
of `stat()` every `interval` seconds, in a worker thread so the event loop never waits on disk.

Untrusted input: none (file metadata of admin-owned paths).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

log = logging.getLogger("gateway.policy.watch")

MAX_WATCHED_FILES = 10_000

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(paths: Iterable[str]) -> Snapshot:
    """(path, mtime_ns, size) of every file under the policy paths (phrase files included)."""
    out: list[tuple[str, int, int]] = []
    for entry in paths:
        p = Path(entry)
        files = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        for f in files:
            if len(out) >= MAX_WATCHED_FILES:
                break
            try:
                st = f.stat()
            except OSError:
                continue
            if f.is_file():
                out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


class PolicyWatcher:
    """`await watcher.run(reload)` polls until cancelled; `reload` validates and swaps."""

    __slots__ = ("paths", "interval", "since_ns", "_last")

    def __init__(self, paths: Iterable[str], interval: float = 2.0, since_ns: int | None = None) -> None:
        """`since_ns`: when the running files were read (`Runtime.loaded_ns`). The first poll is
        the baseline, taken once serving, seconds later (reference data, warm-up): a file it finds
        modified after `since_ns` was saved in between and is reloaded, not taken as the baseline.
        Strictly after: an mtime comes from the kernel's coarse clock, never ahead of
        time.time_ns(), so a file written before the read (a config written just before the
        start) never causes a reload; one written within the clock's tick after it was read too."""
        self.paths = tuple(os.fspath(p) for p in paths)
        self.interval = interval
        self.since_ns = since_ns
        self._last: Snapshot | None = None

    async def changed(self) -> bool:
        now = await asyncio.to_thread(snapshot, self.paths)
        if self._last is None:
            self._last = now
            since = self.since_ns
            return since is not None and any(mtime > since for _, mtime, _ in now)
        if now == self._last:
            return False
        self._last = now
        return True

    async def run(self, reload: Callable[[], Awaitable[bool]]) -> None:
        first = True  # the baseline, unless a file changed since it was read
        while True:
            if not first:
                await asyncio.sleep(self.interval)
            try:
                if await self.changed():
                    log.info("policy files changed%s; reloading", " while starting" if first else "")
                    await reload()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive one bad poll
                log.exception("policy watcher poll failed")
            first = False
