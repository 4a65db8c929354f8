"""The ARC interoperability suite (ValiMail arc_test_suite) validation scenarios.

Each scenario's `txt-records` are served by a real DNS server on 127.0.0.1 and the verifier
resolves keys through the shared resolver. Exclusions with reasons are in EXCLUDED.
"""

from __future__ import annotations

import asyncio

import pytest
import yaml

from gateway.checks.auth.arc import verify_arc
from gateway.dns import Resolver
from tests.support.corpora import corpus_path
from tests.support.dnsserver import TestDNSServer, stop_all

SUITE = corpus_path("vectors/arc/arc-draft-validation-tests.yml")
EXCLUDED: dict[str, str] = {}


def _scenarios() -> list[dict]:
    return list(yaml.safe_load_all(SUITE.read_text(encoding="utf-8"))) if SUITE else []


SCENARIOS = _scenarios()
CASES = [(i, name) for i, sc in enumerate(SCENARIOS) for name in sc["tests"]]
_servers: dict[int, TestDNSServer] = {}
_passed: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _stop_servers():
    yield
    stop_all(_servers.values())
    print(f"\nARC validation suite: {len(_passed)}/{len(CASES)} passed, {len(EXCLUDED)} excluded")


def _server(index: int) -> TestDNSServer:
    if index not in _servers:
        server = TestDNSServer()
        for name, value in (SCENARIOS[index].get("txt-records") or {}).items():
            server.add(name, "TXT", value)
        _servers[index] = server.start()
    return _servers[index]


@pytest.mark.skipif(not SCENARIOS, reason="corpus ../shared/corpora not present")
@pytest.mark.parametrize("index,name", CASES, ids=[n for _, n in CASES])
def test_arc_validation(index: int, name: str) -> None:
    if name in EXCLUDED:
        pytest.skip(EXCLUDED[name])
    case = SCENARIOS[index]["tests"][name]
    server = _server(index)
    raw = case["message"].replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")

    async def go():
        r = Resolver(nameservers=(("127.0.0.1", server.port),), timeout=1)
        return await verify_arc(raw, r)

    res = asyncio.run(go())
    # An empty cv in the suite means "a seal already reported cv=fail: the chain is terminated,
    # no new verdict"; RFC 8617 section 5.2 step 2 names that status "fail", and so do we.
    want = str(case["cv"] or "").strip().lower() or "fail"
    assert res.result == want, f"{name}: {res.result} ({res.reason})"
    _passed.append(name)
