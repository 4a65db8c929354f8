from __future__ import annotations

import asyncio
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.checks.reputation import ReputationCheck
from gateway.dns import Resolver
from gateway.store.memory import MemoryStore
from tests.support.dnsserver import TestDNSServer
from tests.support.messages import config, message, names, one, run


def _iso(days_ago: int) -> str:
    return (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Rdap(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # http.server API
        _Rdap.hits.append(self.path)
        domain = self.path.rsplit("/", 1)[-1]
        if domain == "moved.test":
            self.send_response(302)
            self.send_header("Location", "/domain/young.test")
            self.end_headers()
            return
        if domain == "huge.test":
            body = b"{" + b" " * (600 * 1024) + b"}"
        elif domain in ("young.test", "old.test"):
            when = _iso(12 if domain == "young.test" else 4000)
            events = [{"eventAction": "registration", "eventDate": when}]
            body = json.dumps({"ldhName": domain, "events": events}).encode()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def rdap():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rdap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Rdap.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}/domain/{{domain}}"
    server.shutdown()
    server.server_close()


def test_young_domain_from_rdap_and_cached_in_store(rdap):
    cfg = config(f"signals: {{rdap_url: '{rdap}', rdap_timeout: 3}}\n")
    store = MemoryStore()
    sig, _ = run([ReputationCheck()], message("A <a@mail.young.test>"), cfg, store=store, offline=False)
    ev = one(sig, "reputation.young_domain").evidence
    assert ev["domain"] == "young.test" and 11 <= ev["age_days"] <= 13
    sig, _ = run([ReputationCheck()], message("A <a@young.test>"), cfg, store=store, offline=False)
    assert "reputation.young_domain" in names(sig)
    assert _Rdap.hits == ["/domain/young.test"]  # second answer came from the store


def test_old_unknown_redirect_oversize_and_offline(rdap):
    cfg = config(f"signals: {{rdap_url: '{rdap}', rdap_timeout: 3}}\n")
    for domain in ("old.test", "unknown.test"):
        sig, _ = run([ReputationCheck()], message(f"A <a@{domain}>"), cfg, offline=False)
        assert sig == [], domain
    sig, _ = run([ReputationCheck()], message("A <a@moved.test>"), cfg, offline=False)
    assert one(sig, "reputation.young_domain").evidence["domain"] == "moved.test"
    sig, _ = run([ReputationCheck()], message("A <a@huge.test>"), cfg, offline=False)
    assert "size cap" in one(sig, "reputation.rdap_temperror").evidence["error"]
    _Rdap.hits = []
    sig, _ = run([ReputationCheck()], message("A <a@young.test>"), cfg, offline=True)
    assert sig == [] and _Rdap.hits == []


def test_rdap_server_down_is_a_temperror():
    cfg = config("signals: {rdap_url: 'http://127.0.0.1:9/domain/{domain}', rdap_timeout: 1}\n")
    sig, _ = run([ReputationCheck()], message("A <a@young.test>"), cfg, offline=False)
    assert one(sig, "reputation.rdap_temperror").evidence["domain"] == "young.test"


def test_dnsbl_and_rhsbl_through_the_shared_resolver():
    with TestDNSServer() as dns:
        dns.add("99.2.0.192.bl.test", "A", "127.0.0.2")
        dns.add("spammy.test.dbl.test", "A", "127.0.1.2")
        dns.fail("young.test.dbl.test", "timeout")
        cfg = config("signals: {dnsbl_zones: [bl.test], rhsbl_zones: [dbl.test], "
                     "rdap_url: 'http://127.0.0.1:9/{domain}', rdap_timeout: 0.2}\n")

        def check(sender, ip):
            async def go():
                resolver = Resolver(nameservers=(("127.0.0.1", dns.port),), timeout=0.5)
                from gateway.model import Client, Envelope
                from gateway.runtime import Runtime
                rt = Runtime(cfg, checks=[ReputationCheck()], resolver=resolver, store=MemoryStore())
                run = await rt.signals(message(sender), Envelope("", (), Client(ip=ip)))
                return [s for s in run.signals if s.name != "reputation.rdap_temperror"]
            return asyncio.run(go())

        sig = check("a@spammy.test", "192.0.2.99")
        assert one(sig, "reputation.dnsbl_listed").evidence == {"zone": "bl.test", "ip": "192.0.2.99",
                                                                "answer": "127.0.0.2"}
        assert one(sig, "reputation.rhsbl_listed").evidence["domain"] == "spammy.test"
        assert check("a@clean.test", "192.0.2.1") == []
        sig = check("a@young.test", "192.0.2.1")
        assert one(sig, "reputation.dnsbl_temperror").evidence["zone"] == "dbl.test"
