"""A store outage never loses mail: a REAL redis-server is stopped, restarted and paused (SIGSTOP:
slower than store.timeout) while messages flow through `python -m gateway serve`. Every message
gets 250 at the first try, arrives upstream exactly once, the outage is counted in /metrics and
shown by /readyz, and once Redis is back history works again. Needs redis-server (skipped locally
without it, fails in CI)."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gwproc import GatewayProcess, Outcome, message, submit
from tests.support.http import get, get_json, value, wait_until
from tests.support.sink import Sink
from tests.unit.store.redis_server import RedisServer

PHASE_WAIT = 60.0  # seconds a phase may take to see its messages through (a bound, not an assertion)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path / "redis").start()
    yield s
    s.stop()


def message_ids(sink: Sink) -> Counter[str]:
    out: Counter[str] = Counter()
    for m in sink.messages:
        found = re.search(rb"(?mi)^Message-ID:\s*<([^>]+)>", m.data)
        out[found.group(1).decode() if found else "?"] += 1
    return out


def reasons(data: bytes) -> str:
    m = re.search(rb"(?mi)^X-Approach-Reasons:(.*(?:\r\n[ \t].*)*)", data)
    return re.sub(r"\s+", " ", m.group(1).decode()) if m else ""


@pytest.fixture
def gw(tmp_path: Path, redis: RedisServer, sink: Sink) -> Iterator[GatewayProcess]:
    g = GatewayProcess(tmp_path / "gw", upstream_port=sink.port,
                       store=f"{{backend: redis, url: '{redis.url}', timeout: 0.25, prefix: 'outage:'}}",
                       extra="log: {format: json}").start()
    yield g
    g.kill()


def test_mail_flows_through_a_redis_outage(gw: GatewayProcess, redis: RedisServer, sink: Sink) -> None:
    sent: list[tuple[str, str, Outcome]] = []  # (phase when sent, phase when answered, outcome)
    phase = ["up"]
    stop = threading.Event()

    def flow() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            before = phase[0]
            mid = f"m{i}@outage.test"
            sender = f"s{i}@ext{i}.test"
            out = submit(gw.port, sender, ["bob@example.org"], message(mid, sender), mid, attempts=1)
            sent.append((before, phase[0], out))

    def seen(p: str) -> int:
        return sum(1 for a, b, _ in sent if a == b == p)

    thread = threading.Thread(target=flow, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: seen("up") >= 3, PHASE_WAIT)
        phase[0] = "switching"  # messages that straddle a change count for no phase
        redis.stop()
        phase[0] = "down"
        assert wait_until(lambda: seen("down") >= 5, PHASE_WAIT)
        status, ready = get_json(gw.admin("/readyz"))
        assert status == 503 and ready["failed"] == ["store"], ready
        assert "redis store redis://127.0.0.1" in ready["checks"]["store"]["detail"]
        phase[0] = "switching"
        redis.start()  # same port, empty (nothing was saved)
        phase[0] = "restarted"
        assert wait_until(lambda: seen("restarted") >= 3, PHASE_WAIT)
        phase[0] = "switching"
        redis.pause()  # SIGSTOP: connections hang; every call waits store.timeout and fails
        phase[0] = "paused"
        try:
            assert wait_until(lambda: seen("paused") >= 2, PHASE_WAIT)
        finally:
            phase[0] = "switching"
            redis.resume()
        phase[0] = "resumed"
        assert wait_until(lambda: seen("resumed") >= 2, PHASE_WAIT)
    finally:
        stop.set()
        thread.join(60)
    outcomes = [o for _, _, o in sent]
    refused = [(o.message_id, o.attempts) for o in outcomes if o.attempts != ["250"]]
    assert not refused, f"messages not accepted at the first try: {refused}\n{gw.log_text()[-3000:]}"
    assert wait_until(lambda: len(sink.messages) >= len(outcomes), 30)
    assert message_ids(sink) == Counter(o.message_id for o in outcomes)  # every one, exactly once

    text = gw.metrics()
    outage = seen("down") + seen("paused")
    assert value(text, "approach_gateway_store_errors_total", reason="StoreUnavailable") >= outage
    assert value(text, "approach_gateway_analysis_without_history_total", check="sender") >= outage
    assert value(text, "approach_gateway_analysis_without_history_total", check="campaign") >= outage
    assert value(text, "approach_gateway_store_record_failures_total") >= outage
    assert value(text, "approach_gateway_messages_total", checked="yes") == len(outcomes)

    # Redis is back: /readyz says so, and history works again (first contact once, then known)
    assert wait_until(lambda: get(gw.admin("/readyz"))[0] == 200, PHASE_WAIT)
    before = len(sink.messages)
    for n in (1, 2):
        mid = f"again{n}@outage.test"
        out = submit(gw.port, "new.sender@fresh.test", ["bob@example.org"],
                     message(mid, "new.sender@fresh.test"), mid, attempts=1)
        assert out.accepted, out
    delivered = sink.wait_for(before + 2)[before:]
    assert "first-contact-organisation" in reasons(delivered[0].data)
    assert "first-contact-organisation" not in reasons(delivered[1].data)
    # the outage is in the log as one line per failed record, never a traceback
    log = gw.log_text()
    assert '"msg": "store: could not record message' in log and "Traceback" not in log
