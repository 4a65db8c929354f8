"""Reputation signals: domain age from RDAP, DNSBL (client IP) and RHSBL (sender domain).

Purpose: a newly registered domain is a cheap disguise; a listed IP or domain is a known sender of
abuse. RDAP is fetched with a small async HTTP/1.1 client (stdlib streams: one request, a strict
timeout, a size cap, at most three redirects), cached in the store, and skipped when offline.
DNSBL/RHSBL queries go through the shared resolver; timeouts are `*_temperror` signals.

Untrusted input: the sender's domain and client IP (as query names), RDAP responses and DNS
answers from the network (size-capped, parsed as data).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from gateway.checks import Check, CheckContext, signal
from gateway.domains import registered_domain
from gateway.model import Signal
from gateway.store import RdapRecord

MAX_RDAP_BYTES = 256 * 1024
RDAP_CACHE_SECONDS = 7 * 86400
MAX_REDIRECTS = 3


class RdapError(Exception):
    """RDAP could not be fetched or parsed (the message says why, for the evidence)."""


async def http_get(url: str, timeout: float, max_bytes: int = MAX_RDAP_BYTES) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET (Connection: close). Returns (status, lower-cased headers, body)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RdapError(f"unsupported URL {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    tls = ssl.create_default_context() if parts.scheme == "https" else None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=tls)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/rdap+json, "
                         f"application/json\r\nUser-Agent: approach-gateway\r\nConnection: close\r\n\r\n"
                         .encode("ascii"))
            await writer.drain()
            chunks: list[bytes] = []
            total = 0
            while chunk := await reader.read(65536):
                total += len(chunk)
                if total > max_bytes + 16384:
                    raise RdapError("response larger than the size cap")
                chunks.append(chunk)
        finally:
            writer.close()
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise RdapError("not an HTTP response") from None
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    return status, headers, body[:max_bytes]


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def registration_time(doc: Any) -> float | None:
    """Epoch seconds of the RDAP 'registration' event, None when absent."""
    events = doc.get("events") if isinstance(doc, dict) else None
    for ev in events if isinstance(events, list) else []:
        if isinstance(ev, dict) and ev.get("eventAction") == "registration":
            try:
                return datetime.fromisoformat(str(ev.get("eventDate")).replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


async def fetch_registration(domain: str, url_template: str, timeout: float) -> float | None:
    url = url_template.replace("{domain}", domain)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = await http_get(url, max(0.05, deadline - loop.time()))
        if status in (301, 302, 303, 307, 308) and headers.get("location"):
            url = urljoin(url, headers["location"])
            continue
        if status == 404:
            return None
        if status != 200:
            raise RdapError(f"HTTP {status}")
        try:
            return registration_time(json.loads(body.decode("utf-8", "replace")))
        except json.JSONDecodeError:
            raise RdapError("invalid JSON") from None
    raise RdapError("too many redirects")


def _reverse_ip(ip: str) -> str | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.is_loopback or addr.is_unspecified:
        return None
    if addr.version == 4:
        return ".".join(reversed(ip.split(".")))
    return ".".join(reversed(addr.exploded.replace(":", "")))


class ReputationCheck(Check):
    name = "reputation"
    signals = (
        signal("reputation.young_domain", "the sending domain was registered recently (RDAP, signals.rdap_url)",
               domain=str, age_days=int, registered=str),
        signal("reputation.rdap_temperror", "the domain's age could not be looked up", domain=str, error=str),
        signal("reputation.dnsbl_listed", "the client IP is on a DNS blocklist", zone=str, ip=str, answer=str),
        signal("reputation.rhsbl_listed", "the sending domain is on a domain blocklist", zone=str, domain=str,
               answer=str),
        signal("reputation.dnsbl_temperror", "a blocklist lookup failed temporarily", zone=str, rcode=str),
    )
    timeout_share = 0.5

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        if ctx.offline:
            return []
        domain = registered_domain(ctx.view.from_domain)
        if not domain or ctx.domains.is_ours(domain):
            return []
        out: list[Signal] = []
        if ctx.config.signals.rdap_url and not ctx.data.is_freemail(domain) and ctx.data.org_owning(domain) is None:
            out.extend(await self._age(ctx, domain))
        if ctx.resolver is not None:
            out.extend(await self._blocklists(ctx, domain))
        return out

    async def _age(self, ctx: CheckContext, domain: str) -> list[Signal]:
        s = ctx.config.signals
        now = time.time()
        try:  # the store is only a cache here: down or slow, ask RDAP (the store counts the error)
            cached = await ctx.store.rdap_get(domain) if ctx.store is not None else None
        except Exception:  # noqa: BLE001 - StoreUnavailable or any backend error
            cached = None
        if cached is not None and now - cached.fetched < RDAP_CACHE_SECONDS:
            registered = cached.registered
        else:
            try:
                registered = await fetch_registration(domain, s.rdap_url or "", s.rdap_timeout)
            except (OSError, TimeoutError, RdapError, ssl.SSLError, UnicodeError) as exc:
                return [Signal("reputation.rdap_temperror", {"domain": domain, "error": str(exc)[:80]
                                                             or type(exc).__name__})]
            if ctx.store is not None:
                with contextlib.suppress(Exception):  # a cache write lost to an outage is refetched
                    await ctx.store.rdap_put(RdapRecord(domain, registered, now))
        if registered is None:
            return []
        age = int((now - registered) // 86400)
        if age < s.young_domain_days:
            return [Signal("reputation.young_domain", {"domain": domain, "age_days": age,
                                                       "registered": datetime.fromtimestamp(registered)
                                                       .date().isoformat()})]
        return []

    async def _blocklists(self, ctx: CheckContext, domain: str) -> list[Signal]:
        s = ctx.config.signals
        queries: list[tuple[str, str, str, str]] = []  # (kind, zone, subject, name)
        rev = _reverse_ip(ctx.envelope.client.ip or "")
        if rev:
            queries += [("dnsbl", z, ctx.envelope.client.ip or "", f"{rev}.{z}") for z in s.dnsbl_zones]
        queries += [("rhsbl", z, domain, f"{domain}.{z}") for z in s.rhsbl_zones]
        answers = await asyncio.gather(*(ctx.resolver.query(q[3], "A") for q in queries))
        out: list[Signal] = []
        for (kind, zone, subject, _), ans in zip(queries, answers, strict=True):
            if ans.temporary:
                out.append(Signal("reputation.dnsbl_temperror", {"zone": zone, "rcode": ans.rcode}))
                continue
            listed = [r for r in ans.records if r.startswith("127.") and not r.startswith("127.255.")]
            if ans.ok and listed:
                key = "ip" if kind == "dnsbl" else "domain"
                out.append(Signal(f"reputation.{kind}_listed", {"zone": zone, key: subject,
                                                                "answer": ",".join(listed[:4])}))
        return out
