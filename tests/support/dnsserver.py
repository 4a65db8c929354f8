"""A real authoritative DNS server for tests, on 127.0.0.1 over UDP and TCP (dnslib).

Zones are given as zone-file text (`add_zone`) or records (`add`); per-name faults can be set:
`timeout` (never answers) or `servfail`. Everything else not found is NXDOMAIN (with an SOA in
the authority section so negative caching is exercised) or NODATA.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSServer


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, server: TestDNSServer) -> None:
        self.server = server

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        self.server.log.append((qname, qtype))
        fault = self.server.faults.get(qname) or self.server.typed_faults.get((qname, qtype))
        if fault == "timeout":
            raise DNSError("simulated timeout")  # dnslib logs it (quietly) and sends nothing
        reply = request.reply()
        if fault == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        records = self.server.records
        found = [rr for rr in records if str(rr.rname).lower().rstrip(".") == qname]
        if not found:
            # wildcard support: *.example.
            parts = qname.split(".")
            for i in range(1, len(parts)):
                wild = "*." + ".".join(parts[i:])
                found = [rr for rr in records if str(rr.rname).lower().rstrip(".") == wild]
                if found:
                    found = [RR(request.q.qname, rr.rtype, rr.rclass, rr.ttl, rr.rdata) for rr in found]
                    break
        if not found:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR.fromZone(f"{qname}. 60 IN SOA ns.test. hostmaster.test. 1 60 60 60 60")[0])
            return reply
        matched = [rr for rr in found if QTYPE[rr.rtype] == qtype]
        cname = [rr for rr in found if QTYPE[rr.rtype] == "CNAME"]
        for rr in matched or cname:
            reply.add_answer(rr)
        if cname and not matched and qtype != "CNAME":
            self._chase(reply, str(cname[0].rdata.label).lower().rstrip("."), qtype)
        if not matched and not cname:
            reply.add_auth(RR.fromZone(f"{qname}. 60 IN SOA ns.test. hostmaster.test. 1 60 60 60 60")[0])
        return reply


    def _chase(self, reply: DNSRecord, target: str, qtype: str, depth: int = 0) -> None:
        """Follow an in-zone CNAME chain like an authoritative server (at most 8 links)."""
        if depth > 8 or self.server.faults.get(target):
            return
        for rr in self.server.records:
            if str(rr.rname).lower().rstrip(".") != target:
                continue
            if QTYPE[rr.rtype] == qtype:
                reply.add_answer(rr)
            elif QTYPE[rr.rtype] == "CNAME":
                reply.add_answer(rr)
                self._chase(reply, str(rr.rdata.label).lower().rstrip("."), qtype, depth + 1)


class _QuietLogger:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None


class TestDNSServer:
    """`with TestDNSServer() as dns: dns.add_zone(...); dns.port`"""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.records: list[RR] = []
        self.faults: dict[str, str] = {}
        self.typed_faults: dict[tuple[str, str], str] = {}
        self.log: list[tuple[str, str]] = []
        resolver = _ZoneResolver(self)
        for attempt in range(20):  # a free UDP port may still be taken for TCP: try another
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            try:
                self._udp = DNSServer(resolver, address="127.0.0.1", port=self.port,
                                      logger=_QuietLogger())
            except OSError:
                continue
            try:
                self._tcp = DNSServer(resolver, address="127.0.0.1", port=self.port, tcp=True,
                                      logger=_QuietLogger())
                break
            except OSError:
                self._udp.server.server_close()
                if attempt == 19:
                    raise
        self._lock = threading.Lock()

    def add_zone(self, text: str) -> None:
        """Zone-file text; relative names are not supported (write FQDNs with a final dot)."""
        self.records.extend(RR.fromZone(text))

    def add(self, name: str, rtype: str, value: str, ttl: int = 300) -> None:
        if rtype == "TXT" and not value.startswith('"'):
            chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
            value = " ".join('"' + c.replace('\\', '\\\\').replace('"', '\\"') + '"' for c in chunks)
        self.add_zone(f"{name.rstrip('.')}. {ttl} IN {rtype} {value}")

    def add_txt(self, name: str, strings: list[bytes], ttl: int = 300) -> None:
        """One TXT record made of exactly these character-strings (any bytes, even non-ASCII)."""
        self.records.append(RR(name.rstrip(".") + ".", QTYPE.TXT, ttl=ttl, rdata=TXT(strings)))

    def add_rr(self, name: str, rtype: str, rdata: Any, ttl: int = 300) -> None:
        """A record from a dnslib rdata object (for names zone-file text cannot spell)."""
        self.records.append(RR(name.rstrip(".") + ".", getattr(QTYPE, rtype), ttl=ttl, rdata=rdata))

    def fail(self, name: str, how: str, rtype: str | None = None) -> None:
        """Make `name` time out or SERVFAIL: for every type, or only for `rtype`."""
        assert how in ("timeout", "servfail")
        if rtype is None:
            self.faults[name.lower().rstrip(".")] = how
        else:
            self.typed_faults[(name.lower().rstrip("."), rtype.upper())] = how

    def start(self) -> TestDNSServer:
        self._udp.start_thread()
        self._tcp.start_thread()
        return self

    def stop(self) -> None:
        self._udp.stop()
        self._tcp.stop()

    def __enter__(self) -> TestDNSServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(servers: Iterable[TestDNSServer]) -> None:
    """Stop many servers at once (each stop waits for its serving thread)."""
    stoppers = [threading.Thread(target=s.stop) for s in servers]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
