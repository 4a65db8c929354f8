"""With the store down, analysis goes on without history: every check that asks the store turns
the failure into its declared signal (or, for the RDAP cache, asks RDAP), none raises, and
`Runtime.record` reports the failure instead of raising."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.checks import signal_specs
from gateway.model import Client, Envelope
from gateway.runtime import Runtime
from gateway.store import StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.conftest import loopback_dns
from tests.support.messages import config

RAW = (b"From: \"Jane Roe\" <jane.roe@young.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
       b"Message-ID: <d1@young.test>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n"
       b"I am a recruiter. Let's continue on WhatsApp +44 7700 900123.\r\n")


class DownStore(MemoryStore):
    """Every operation fails as a stopped Redis does."""

    calls: list[str]

    def __getattribute__(self, name: str) -> Any:
        if name in ("record_message", "seen_pair", "seen_sender_org", "rdap_get", "rdap_put", "campaign_reach",
                    "campaign_reach_many", "sender_history", "search_history", "learn_pair"):
            calls = object.__getattribute__(self, "calls")

            async def down(*args: Any, **kwargs: Any) -> Any:
                calls.append(name)
                raise StoreUnavailable(f"redis store redis://127.0.0.1:1/0: {name}: connection refused")
            return down
        return object.__getattribute__(self, name)


class _Rdap(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server's name
        body = b'{"events": [{"eventAction": "registration", "eventDate": "2026-11-20T00:00:00Z"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rdap() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rdap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/domain/{{domain}}"
    server.shutdown()
    server.server_close()


def test_analysis_goes_on_without_history(rdap: str) -> None:
    store = DownStore(30)
    store.calls = []
    cfg = config(f"signals: {{rdap_url: '{rdap}', rdap_timeout: 3}}\n"
                 f'dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}\n')
    runtime = Runtime(cfg, store=store, resolver=None, offline=False)
    env = Envelope(mail_from="jane.roe@young.test", rcpt_tos=("bob@example.org",), client=Client(ip="127.0.0.1"),
                   queue_id="Q1")

    async def go() -> tuple[Any, bool]:
        result = await runtime.analyse(RAW, env)
        return result, await runtime.record(result)

    result, recorded = asyncio.run(go())
    names = {s.name for s in result.signals}
    assert {"sender.store_error", "campaign.store_error"} <= names
    assert "check.error" not in names, [s for s in result.signals if s.name == "check.error"]
    assert "reputation.young_domain" in names  # the RDAP cache was down: RDAP itself answered
    assert result.decision.checked and not result.decision.note
    assert recorded is False and "record_message" in store.calls
    assert {"sender_history", "campaign_reach_many", "rdap_get", "rdap_put"} <= set(store.calls)
    specs = signal_specs()
    assert specs["sender.store_error"][0].evidence == {"error": str}
    assert specs["campaign.store_error"][0].evidence == {"error": str}
    assert {s.evidence.get("error") for s in result.signals if s.name.endswith(".store_error")} == \
        {"StoreUnavailable"}
