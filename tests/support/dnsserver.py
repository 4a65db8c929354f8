"""A real authoritative DNS server for tests, on 127.0.0.1 over UDP and TCP (dnslib).

Zones are given as zone-file text (`add_zone`) or records (`add`); per-name faults can be set:
`timeout` (never answers) or `servfail`. Everything else not found is NXDOMAIN (with an SOA in
the authority section so negative caching is exercised) or NODATA.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSServer


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, server: TestDNSServer) -> None:
        self.server = server

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        self.server.log.append((qname, qtype))
        fault = self.server.faults.get(qname)
        if fault == "timeout":
            return None  # dnslib sends nothing when the resolver returns None
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
        if not matched and not cname:
            reply.add_auth(RR.fromZone(f"{qname}. 60 IN SOA ns.test. hostmaster.test. 1 60 60 60 60")[0])
        return reply


class _QuietLogger:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None


class TestDNSServer:
    """`with TestDNSServer() as dns: dns.add_zone(...); dns.port`"""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.records: list[RR] = []
        self.faults: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []
        resolver = _ZoneResolver(self)
        for attempt in range(20):  # UDP and TCP need the same free port number
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            try:
                self._udp = DNSServer(resolver, address="127.0.0.1", port=self.port, logger=_QuietLogger())
                self._tcp = DNSServer(resolver, address="127.0.0.1", port=self.port, tcp=True,
                                      logger=_QuietLogger())
                break
            except OSError:
                udp = getattr(self, "_udp", None)
                if udp is not None:
                    udp.server.server_close()
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

    def fail(self, name: str, how: str) -> None:
        assert how in ("timeout", "servfail")
        self.faults[name.lower().rstrip(".")] = how

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
