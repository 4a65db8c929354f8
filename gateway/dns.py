"""The one shared async DNS resolver: cache, deadlines, counters; adapters for sync libraries.

Purpose: every lookup in the product (SPF, DKIM keys, DMARC, ARC, DNSBL, RHSBL) goes through
`Resolver.query`. Answers are cached by TTL (negative answers too, capped; every answer at most MAX_TTL, the cache
at most `cache_size` answers taking `cache_bytes` of memory), each lookup has a
timeout that never exceeds what is left of the message deadline, and failures come back as an
`Answer` with rcode TIMEOUT or SERVFAIL -- never as an exception -- so checks turn them into
`temperror` signals.

Untrusted input: DNS names derived from a stranger's message (length-checked here) and answers
from the network (sizes capped by dnspython; TXT strings joined and decoded leniently).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

MAX_NEGATIVE_TTL = 300
MIN_TTL = 1
# The cache holds at most `cache_size` answers taking `cache_bytes` of memory, each for at most MAX_TTL seconds
# (Unbound's cache-max-ttl): whoever owns a domain chooses its records' size and TTL, and 2,000 distinct 60 KB TXT
# answers named by messages (ten DKIM selectors a message) had grown a process by 116 MiB, 2,100 such messages by
# 1.1 GiB, in every worker and analysis process (atk47 #3). An answer over 1/64 of the byte budget is not kept.
# `cache_bytes` counts what the answers take in memory (ENTRY_OVERHEAD below).
MAX_TTL = 86400
# Bytes an entry costs beyond its name's and records' strings (the key and entry tuples, the Answer, the ordered
# dict's node; measured with tracemalloc: 430 a small entry, its name included). Strings are counted with
# sys.getsizeof (their real size: a character above U+00FF takes 2-4 bytes, and each record string has its own
# header): counting characters let 4,000 three-character records an answer, or one wide character in 60 KB, take
# 24 and 4 times the budget (review47b #2).
ENTRY_OVERHEAD = 350


@dataclass(frozen=True)
class Answer:
    """Outcome of one lookup. rcode: NOERROR (records may be empty: NODATA), NXDOMAIN,
    SERVFAIL, TIMEOUT, or FORMERR (the name itself was invalid)."""

    name: str
    rdtype: str
    rcode: str
    records: tuple[str, ...] = ()
    ttl: int = 0

    @property
    def ok(self) -> bool:
        return self.rcode == "NOERROR"

    @property
    def temporary(self) -> bool:
        return self.rcode in ("SERVFAIL", "TIMEOUT")

    @property
    def nxdomain(self) -> bool:
        return self.rcode == "NXDOMAIN"


@dataclass
class Counters:
    queries: int = 0
    cache_hits: int = 0
    timeouts: int = 0
    servfails: int = 0
    nxdomains: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(self.__dict__)


def _rdata_text(rdtype: str, rdata: Any) -> str:
    if rdtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if rdtype == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if rdtype in ("CNAME", "PTR", "NS"):
        return str(rdata.target.to_text(omit_final_dot=True))
    return str(rdata.to_text())


@dataclass
class Resolver:
    """Async, caching resolver. `nameservers` are (host, port) pairs; empty means the system's."""

    nameservers: tuple[tuple[str, int], ...] = ()
    timeout: float = 3.0
    cache_size: int = 20_000
    cache_bytes: int = 32 * 1024 * 1024
    counters: Counters = field(default_factory=Counters)
    tcp: bool = False  # query over TCP only (tests of the TCP path; UDP falls back to TCP anyway)

    def __post_init__(self) -> None:
        if self.nameservers:
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in self.nameservers]
        else:
            r = dns.asyncresolver.Resolver()
        r.lifetime = self.timeout
        r.timeout = self.timeout
        r.retry_servfail = False
        self._resolver = r
        self._cache: OrderedDict[tuple[str, str], tuple[float, Answer, int]] = OrderedDict()  # expiry, answer, size
        self._bytes = 0
        self._inflight: dict[tuple[str, str], asyncio.Future[Answer]] = {}

    async def query(self, name: str, rdtype: str, *, timeout: float | None = None) -> Answer:
        """Look up `name`/`rdtype`; `timeout` caps this lookup (pass what is left of the deadline)."""
        rdtype = rdtype.upper()
        key = (name.lower().rstrip("."), rdtype)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            self.counters.cache_hits += 1
            return cached[1]
        pending = self._inflight.get(key)
        if pending is not None:
            self.counters.cache_hits += 1
            return await asyncio.shield(pending)
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            answer = await self._lookup(key[0], rdtype, timeout)
            fut.set_result(answer)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        finally:
            del self._inflight[key]
        return answer

    async def _lookup(self, name: str, rdtype: str, timeout: float | None) -> Answer:
        self.counters.queries += 1
        limit = self.timeout if timeout is None else max(0.0, min(self.timeout, timeout))
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, ValueError):
            return Answer(name, rdtype, "FORMERR")
        if limit <= 0:
            self.counters.timeouts += 1
            return Answer(name, rdtype, "TIMEOUT")
        try:
            async with asyncio.timeout(limit):
                ans = await self._resolver.resolve(qname, rdtype, raise_on_no_answer=False,
                                                   lifetime=limit, search=False, tcp=self.tcp)
        except (TimeoutError, dns.exception.Timeout, dns.resolver.LifetimeTimeout):
            self.counters.timeouts += 1
            return Answer(name, rdtype, "TIMEOUT")
        except dns.resolver.NXDOMAIN as exc:
            self.counters.nxdomains += 1
            answer = Answer(name, rdtype, "NXDOMAIN", ttl=_negative_ttl(exc))
            self._store((name, rdtype), answer)
            return answer
        except (dns.resolver.NoNameservers, dns.exception.DNSException):
            self.counters.servfails += 1
            return Answer(name, rdtype, "SERVFAIL")
        if ans.rrset is None:
            answer = Answer(name, rdtype, "NOERROR", ttl=_nodata_ttl(ans.response))
        else:
            records = tuple(_rdata_text(rdtype, r) for r in ans.rrset)
            answer = Answer(name, rdtype, "NOERROR", records, int(ans.rrset.ttl))
        self._store((name, rdtype), answer)
        return answer

    def _store(self, key: tuple[str, str], answer: Answer) -> None:
        if answer.ttl < MIN_TTL:
            return
        size = ENTRY_OVERHEAD + sys.getsizeof(key[0]) + sum(sys.getsizeof(r) + 8 for r in answer.records)
        old = self._cache.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        if size > self.cache_bytes // 64:
            return  # looked up again when asked again: one answer cannot take the cache's room
        self._cache[key] = (time.monotonic() + min(answer.ttl, MAX_TTL), answer, size)
        self._bytes += size
        while len(self._cache) > self.cache_size or self._bytes > self.cache_bytes:
            _, (_, _, gone) = self._cache.popitem(last=False)
            self._bytes -= gone

    @property
    def cached_bytes(self) -> int:
        """What the cached answers' text and entries take, as `cache_bytes` counts it."""
        return self._bytes

    def clear(self) -> None:
        self._cache.clear()
        self._bytes = 0


def _soa_minimum(response: dns.message.Message | None) -> int:
    if response is None:
        return 0
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(min(rrset.ttl, rrset[0].minimum))
    return 0


def _negative_ttl(exc: dns.resolver.NXDOMAIN) -> int:
    responses = exc.responses() if hasattr(exc, "responses") else {}
    response = next(iter(responses.values()), None) if responses else None
    return min(_soa_minimum(response), MAX_NEGATIVE_TTL)


def _nodata_ttl(response: dns.message.Message | None) -> int:
    return min(_soa_minimum(response), MAX_NEGATIVE_TTL)


def resolver_from_config(config: Any) -> Resolver:
    return Resolver(nameservers=tuple((n.host, n.port) for n in config.dns.nameservers),
                    timeout=config.dns.timeout)
