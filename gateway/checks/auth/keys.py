"""The seam between dkimpy (synchronous) and the shared async resolver, plus raw header access.

Purpose: dkimpy asks for key records through a synchronous `dnsfunc(name, timeout=...)`. We look
the keys up on the event loop first (concurrently, through the shared cache), then run dkimpy in
a worker thread with a `dnsfunc` that answers from what was fetched; a name we did not foresee
is bridged back to the loop with `run_coroutine_threadsafe`. Every answer is recorded so the
caller can tell "no key" (permerror) from "DNS failed" (temperror), which dkimpy cannot.

Untrusted input: the message's header section (selector and domain names from a stranger) and
DNS answers.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.checks.auth.engine import InvalidTagValueList, parse_tag_value, plain_name

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAX_HEADER_BYTES = 1_000_000
BULK_BYTES = 512 * 1024
T = TypeVar("T")


class AuthPools:
    """The worker threads for dkimpy work (parsing, canonicalisation, hashing, RSA), owned by the
    analysis runtime (gateway/runtime.py) and shut down with it: no module-level pools.

    Messages over BULK_BYTES share ONE worker: dkimpy's C calls on a multi-megabyte body hold
    the GIL for milliseconds at a time and every extra thread queued for the GIL adds to the
    event loop's lag (measured in benchmarks/auth_bench.py). Smaller messages get their own two
    workers, so one burst of huge mail does not hold up ordinary mail."""

    def __init__(self) -> None:
        self.small = ThreadPoolExecutor(2, thread_name_prefix="auth-small")
        self.bulk = ThreadPoolExecutor(1, thread_name_prefix="auth-bulk")

    async def run(self, fn: Callable[..., T], *args: Any, size: int = 0) -> T:
        pool = self.bulk if size > BULK_BYTES else self.small
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))

    def shutdown(self) -> None:
        for pool in (self.small, self.bulk):
            pool.shutdown(wait=False, cancel_futures=True)


async def off_loop(fn: Callable[..., T], *args: Any, size: int = 0, pools: AuthPools | None = None) -> T:
    """Run dkimpy work off the event loop: in the runtime's `pools`, or (a caller without a
    runtime: tests, one-off tools) in asyncio's default executor."""
    if pools is not None:
        return await pools.run(fn, *args, size=size)
    return await asyncio.to_thread(fn, *args)


def _head(raw: bytes) -> bytes:
    """`raw` up to the first `_HEADER_END` match that ends within `_MAX_HEADER_BYTES` (else its
    first `_MAX_HEADER_BYTES`): the match found as its first LF followed by CRLF or LF, with two
    `bytes.find` (a third of the regex's cost)."""
    limit = min(len(raw), _MAX_HEADER_BYTES)
    crlf = raw.find(b"\n\r\n", 0, limit)
    lf = raw.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else limit)
    nl = lf if lf >= 0 else crlf
    if nl < 0:
        return raw[:_MAX_HEADER_BYTES]
    return raw[:nl - 1 if nl and raw[nl - 1] == 0x0D else nl]


def _lines(head: bytes) -> list[bytes]:
    """`re.split(rb"\\r?\\n", head)` without the regex: a CR before an LF belongs to the break."""
    lines = head.split(b"\n")
    return [line[:-1] if line.endswith(b"\r") else line for line in lines[:-1]] + lines[-1:]


def header_fields(raw: bytes) -> list[tuple[bytes, bytes]]:
    """(name, unfolded value) pairs of the header section, in order (top first). A field's pieces
    are joined once: adding each continuation line to the value copied the value every time, so
    one field folded 20,000 times (80 KB, within the header limits) cost ~0.15 s of the event
    loop per call, twice a message (DKIM and ARC); attack_bench msg:header-folded-20k."""
    fields: list[tuple[bytes, list[bytes]]] = []
    for line in _lines(_head(raw)):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line.strip())
        elif b":" in line:
            name, _, value = line.partition(b":")
            fields.append((name.strip(), [value.strip()]))
    return [(name, b" ".join(parts)) for name, parts in fields]


def tags(value: bytes) -> dict[bytes, bytes] | None:
    """Tag=value list of a signature header, or None when it does not parse."""
    try:
        parsed = parse_tag_value(value)
    except (InvalidTagValueList, ValueError):
        return None
    return {k: re.sub(rb"\s+", b"", v) if k in (b"b", b"bh") else v.strip() for k, v in parsed.items()}


def key_name(sig: dict[bytes, bytes]) -> str | None:
    """`selector._domainkey.domain` for a parsed signature, or None if the tags are unusable."""
    s, d = sig.get(b"s"), sig.get(b"d")
    if not s or not d or not plain_name(s) or not plain_name(d):  # no lookup for a name that is none (review33 #1)
        return None
    try:
        return f"{s.decode('ascii')}._domainkey.{d.decode('ascii')}".lower().rstrip(".")
    except UnicodeDecodeError:
        return None


@dataclass
class KeyFetcher:
    """Prefetch TXT key records on the loop; hand dkimpy a synchronous `dnsfunc`."""

    resolver: Any
    deadline: float
    answers: dict[str, Any] = field(default_factory=dict)  # name -> gateway.dns.Answer
    loop: asyncio.AbstractEventLoop | None = None

    async def prefetch(self, names: Iterable[str]) -> None:
        self.loop = asyncio.get_running_loop()
        wanted = sorted({n for n in names if n not in self.answers})
        answers = await asyncio.gather(*(self._query(n) for n in wanted))
        self.answers.update(zip(wanted, answers, strict=True))

    async def _query(self, name: str) -> Any:
        return await self.resolver.query(name, "TXT", timeout=self.deadline - time.monotonic())

    def dnsfunc(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        """dkimpy's interface: the TXT record as bytes, or None. Runs in a worker thread."""
        key = (name.decode("ascii", "replace") if isinstance(name, bytes) else name).lower().rstrip(".")
        answer = self.answers.get(key)
        if answer is None and self.loop is not None:
            left = max(0.0, self.deadline - time.monotonic())
            fut = asyncio.run_coroutine_threadsafe(self._query(key), self.loop)
            try:
                answer = fut.result(left + 0.5)
            except Exception:  # noqa: BLE001 - the loop went away or the deadline passed: no key
                fut.cancel()
                return None
            self.answers[key] = answer
        if answer is None or not answer.ok or not answer.records:
            return None
        return str(answer.records[0]).encode("utf-8", "replace")

    def outcome(self, name: str | None) -> str:
        """'ok', 'missing' (NXDOMAIN/no record) or 'temporary' (timeout/SERVFAIL) for a key name."""
        answer = self.answers.get(name or "")
        if answer is None:
            return "missing"
        if answer.temporary:
            return "temporary"
        return "ok" if answer.ok and answer.records else "missing"
