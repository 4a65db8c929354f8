"""SPF (RFC 7208): an async `check_host()` on the shared resolver.

Purpose: decide whether the connecting IP may send for the MAIL FROM domain (or the HELO name
when MAIL FROM is null): every mechanism and modifier, macros, the 10 DNS-mechanism limit, the 2
void-lookup limit, the 10-name MX and PTR limits, and `temperror`/`permerror` as the RFC says.
pyspf is not used: it is synchronous and brings its own DNS.

Untrusted input: the client IP, HELO name and MAIL FROM (a stranger's) and every DNS answer.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

from gateway.checks.auth.spf_terms import (
    EXP_LETTERS,
    MacroVars,
    Record,
    SpfSyntaxError,
    Term,
    expand,
    is_spf_record,
    parse_record,
    truncate_domain,
)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_DNS_MECHANISMS = 10
MAX_VOID_LOOKUPS = 2
MAX_MX_NAMES = 10
MAX_PTR_NAMES = 10
MAX_ADDRESSES = 10_000  # A/AAAA answers compared with the client in one evaluation (a, mx, and their includes)
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")


@dataclass(frozen=True)
class SpfResult:
    result: str
    domain: str
    identity: str  # "mailfrom" or "helo"
    sender: str
    ip: str
    mechanism: str = ""
    explanation: str = ""
    problem: str = ""
    lookups: int = 0


class _Abort(Exception):
    def __init__(self, result: str, problem: str) -> None:
        super().__init__(problem)
        self.result = result
        self.problem = problem


def valid_domain(name: str) -> bool:
    """Section 4.3: a multi-label FQDN with labels of 1..63 characters."""
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    return len(labels) >= 2 and len(name) <= 253 and all(0 < len(label) <= 63 for label in labels)


class _Evaluator:
    def __init__(self, resolver: Any, ip: IP, v: MacroVars, deadline: float) -> None:
        self.resolver = resolver
        self.ip = ip
        self.v = v
        self.deadline = deadline
        self.lookups = 0
        self.voids = 0
        self.addresses = 0
        self.mechanism = ""
        self.explanation = ""

    async def query(self, name: str, rdtype: str, *, void_counts: bool = True) -> tuple[str, ...]:
        left = self.deadline - time.monotonic()
        ans = await self.resolver.query(name, rdtype, timeout=left)
        if ans.temporary:
            raise _Abort("temperror", f"DNS {ans.rcode} for {name} {rdtype}")
        if ans.rcode == "FORMERR":
            ans_records: tuple[str, ...] = ()
        else:
            ans_records = tuple(ans.records)
        if void_counts and not ans_records:
            self.voids += 1
            if self.voids > MAX_VOID_LOOKUPS:
                raise _Abort("permerror", "more than 2 void lookups")
        return ans_records

    def count_lookup(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_DNS_MECHANISMS:
            raise _Abort("permerror", "more than 10 DNS-querying mechanisms")

    async def fetch_record(self, domain: str) -> Record | None:
        ans = await self.resolver.query(domain, "TXT", timeout=self.deadline - time.monotonic())
        if ans.temporary:
            raise _Abort("temperror", f"DNS {ans.rcode} for {domain} TXT")
        found = [r for r in ans.records if is_spf_record(r)]
        if not found:
            return None
        if len(found) > 1:
            raise _Abort("permerror", f"{domain} publishes more than one SPF record")
        try:
            return parse_record(found[0])
        except SpfSyntaxError as exc:
            raise _Abort("permerror", f"{domain}: {exc}") from None

    async def check_host(self, domain: str) -> str:
        """The result for `domain` ("none" when it publishes no record)."""
        if not valid_domain(domain):
            return "none"
        record = await self.fetch_record(domain)
        if record is None:
            return "none"
        for term in record.mechanisms:
            if await self.matches(term, domain):
                self.mechanism = term.text
                if term.qualifier == "fail" and record.exp:
                    self.explanation = await self.explain(record.exp, domain)
                return term.qualifier
        if record.redirect is not None:
            self.count_lookup()
            target = await self.target(record.redirect, domain)
            if not valid_domain(target):
                raise _Abort("permerror", f"redirect to invalid domain {target!r}")
            result = await self.check_host(target)
            if result == "none":
                raise _Abort("permerror", f"redirect target {target} has no SPF record")
            return result
        return "neutral"

    async def target(self, spec: str, domain: str) -> str:
        validated = await self.validated_name(domain) if "%{p" in spec.lower() else None
        try:
            return truncate_domain(expand(spec, self.v, domain, validated))
        except SpfSyntaxError as exc:
            raise _Abort("permerror", str(exc)) from None

    async def matches(self, term: Term, domain: str) -> bool:
        kind = term.kind
        if kind == "all":
            return True
        if kind in ("ip4", "ip6"):
            return term.network is not None and self.ip.version == term.network.version \
                and self.ip in term.network
        self.count_lookup()
        target = await self.target(term.domain_spec, domain) if term.domain_spec else domain
        if kind == "include":
            return await self.include(target)
        if kind == "a":
            return await self.a_matches(target, term)
        if kind == "mx":
            return await self.mx_matches(target, term)
        if kind == "ptr":
            return await self.ptr_matches(target)
        # exists: always an A query, whatever the client's address family
        return bool(await self.query(target, "A"))

    async def include(self, target: str) -> bool:
        if not valid_domain(target):
            raise _Abort("permerror", f"include of invalid domain {target!r}")
        result = await self.check_host(target)
        if result == "pass":
            return True
        if result in ("fail", "softfail", "neutral"):
            return False
        if result == "temperror":
            raise _Abort("temperror", f"include:{target} gave temperror")
        raise _Abort("permerror", f"include:{target} gave {result}")

    def _in_net(self, addresses: tuple[str, ...], term: Term) -> bool:
        """Whether the client is in any of `addresses`/the term's prefix: one address parse each and a shift (an
        `ip_network` each cost 9-17 us: 400,000 addresses behind ten MX names, 3.6 s, attack33b #2), at most
        MAX_ADDRESSES in one evaluation (section 4.6.4 bounds the names, not their addresses)."""
        self.addresses += len(addresses)
        if self.addresses > MAX_ADDRESSES:
            raise _Abort("permerror", f"more than {MAX_ADDRESSES} addresses to compare")
        version = self.ip.version
        shift = (32 if version == 4 else 128) - (term.cidr4 if version == 4 else term.cidr6)
        mine = int(self.ip) >> shift
        for text in addresses:
            try:
                addr = ipaddress.ip_address(text)
            except ValueError:
                continue
            if addr.version == version and int(addr) >> shift == mine:
                return True
        return False

    def _addr_type(self) -> str:
        return "A" if self.ip.version == 4 else "AAAA"

    async def a_matches(self, target: str, term: Term) -> bool:
        if not valid_domain(target):
            return False
        return self._in_net(await self.query(target, self._addr_type()), term)

    async def mx_matches(self, target: str, term: Term) -> bool:
        if not valid_domain(target):
            return False
        mxs = await self.query(target, "MX")
        names = [r.split(" ", 1)[1].rstrip(".") for r in mxs if " " in r]
        names = [n for n in names if n]
        if len(names) > MAX_MX_NAMES:
            raise _Abort("permerror", f"{target} has more than 10 MX names")
        for name in names:
            if self._in_net(await self.query(name, self._addr_type(), void_counts=False), term):
                return True
        return False

    async def validated_names(self) -> list[str]:
        """Section 5.5: PTR names of the IP whose forward lookup returns the IP (max 10 tried)."""
        rev = ipaddress.ip_address(self.ip).reverse_pointer
        ans = await self.resolver.query(rev, "PTR", timeout=self.deadline - time.monotonic())
        if not ans.ok:
            return []
        out = []
        for name in list(ans.records)[:MAX_PTR_NAMES]:
            fwd = await self.resolver.query(name, self._addr_type(),
                                            timeout=self.deadline - time.monotonic())
            if fwd.ok and any(_same_ip(a, self.ip) for a in fwd.records):
                out.append(name.rstrip("."))
        return out

    async def validated_name(self, domain: str) -> str:
        names = await self.validated_names()
        for name in names:
            if name.lower() == domain.lower():
                return name
        for name in names:
            if name.lower().endswith("." + domain.lower()):
                return name
        return names[0] if names else "unknown"

    async def ptr_matches(self, target: str) -> bool:
        t = target.lower().rstrip(".")
        for name in await self.validated_names():
            n = name.lower()
            if n == t or n.endswith("." + t):
                return True
        return False

    async def explain(self, spec: str, domain: str) -> str:
        """Section 6.2: any failure here means no explanation, never a different result."""
        try:
            target = await self.target(spec, domain)
            ans = await self.resolver.query(target, "TXT", timeout=self.deadline - time.monotonic())
            if not ans.ok or len(ans.records) != 1 or not ans.records[0].isascii():
                return ""
            text = ans.records[0]
            validated = await self.validated_name(domain) if "%{p" in text.lower() else None
            return expand(text, self.v, domain, validated, letters=EXP_LETTERS)
        except (_Abort, SpfSyntaxError):
            return ""


def _same_ip(text: str, ip: IP) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def _client_ip(ip: str) -> IP:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


async def check_host(resolver: Any, ip: str, domain: str, sender: str, helo: str, *,
                     identity: str = "mailfrom", timeout: float = 20.0,
                     receiver: str = "unknown") -> SpfResult:
    """RFC 7208 section 4: evaluate `domain` for client `ip` and `sender`."""
    try:
        addr = _client_ip(ip)
    except ValueError:
        return SpfResult("none", domain, identity, sender, ip, problem="client address is not an IP")
    local, _, sdomain = sender.rpartition("@")
    v = MacroVars(sender=sender, local=local or "postmaster", domain_of_sender=sdomain, ip=addr,
                  helo=helo, receiver=receiver, timestamp=int(time.time()))
    ev = _Evaluator(resolver, addr, v, time.monotonic() + timeout)
    try:
        result = await ev.check_host(domain.rstrip("."))
        problem = ""
    except _Abort as exc:
        result, problem = exc.result, exc.problem
    return SpfResult(result, domain, identity, sender, str(addr), ev.mechanism,
                     ev.explanation, problem, ev.lookups)


async def check_spf(resolver: Any, ip: str, mail_from: str, helo: str, *, timeout: float = 20.0,
                    receiver: str = "unknown") -> SpfResult:
    """MAIL FROM identity, or HELO identity (sender postmaster@helo) when MAIL FROM is null."""
    helo = (helo or "").strip()
    domain, sender, identity = spf_identity(mail_from, helo)
    return await check_host(resolver, ip, domain, sender, helo, identity=identity, timeout=timeout,
                            receiver=receiver)


def spf_identity(mail_from: str, helo: str) -> tuple[str, str, str]:
    """(domain, sender, identity) that SPF checks: the MAIL FROM's (a MAIL FROM of a domain alone or of "@domain"
    is postmaster at it), or for the null sender the HELO name's, sender postmaster@helo (RFC 7208 section 2.4)."""
    helo = (helo or "").strip()
    if mail_from:
        local, at, domain = mail_from.rpartition("@")
        if not at:
            return mail_from, f"postmaster@{mail_from}", "mailfrom"
        return domain, mail_from if local else f"postmaster@{domain}", "mailfrom"
    return helo, f"postmaster@{helo}", "helo"
