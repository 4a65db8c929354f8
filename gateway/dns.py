"""The one shared async DNS resolver: cache, deadlines, counters; adapters for sync libraries.

Purpose: every lookup in the product (SPF, DKIM keys, DMARC, ARC, DNSBL, RHSBL) goes through
`Resolver.query`. Answers are cached by TTL (negative answers too, capped), each lookup has a
timeout that never exceeds what is left of the message deadline, and failures come back as an
`Answer` with rcode TIMEOUT or SERVFAIL -- never as an exception -- so checks turn them into
`temperror` signals.

Untrusted input: DNS names derived from a stranger's message (length-checked here) and answers
from the network (sizes capped by dnspython; TXT strings joined and decoded leniently).
"""

from __future__ import annotations

import asyncio
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
        self._cache: OrderedDict[tuple[str, str], tuple[float, Answer]] = OrderedDict()
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
        self._cache[key] = (time.monotonic() + answer.ttl, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def clear(self) -> None:
        self._cache.clear()


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
