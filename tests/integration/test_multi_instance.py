"""Several gateways, for real: Debian's HAProxy in TCP mode sends PROXY v2 to TWO `python -m gateway
serve` processes that share ONE redis-server store and ONE upstream sink.

- history is shared: a sender first seen through instance A is not "first contact" at B;
- campaign counters (`Store.campaign_reach`) add up what both instances saw;
- SIGKILL of one instance under load loses nothing: clients retry like MTAs (4xx or a dropped
  connection), and every message a client saw accepted with 250 reaches the upstream exactly once.
  A duplicate is possible only where the client lost the reply after its final dot (the gateway
  may have been killed between the upstream's 250 and its own): those are counted and reported,
  as the known before-queue trade-off, and must be explained by such a lost reply.

Needs haproxy and redis-server (skipped locally without them, fails in CI). No timed assertions.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import smtplib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.model import Client, Envelope
from gateway.runtime import Runtime
from gateway.store.redis import RedisStore
from tests.support.gwproc import GatewayProcess, Outcome, message, submit
from tests.support.haproxy import HAProxy
from tests.support.http import value, wait_until
from tests.support.sink import Sink
from tests.unit.store.redis_server import RedisServer

pytestmark = pytest.mark.multi_instance

PREFIX = "multi:"
THREADS = 6
PER_THREAD = 15


@dataclass
class Cluster:
    redis: RedisServer
    sink: Sink
    a: GatewayProcess
    b: GatewayProcess
    haproxy: HAProxy


@pytest.fixture
def cluster(tmp_path: Path, sink: Sink) -> Iterator[Cluster]:
    redis = RedisServer(tmp_path / "redis").start()
    gws: list[GatewayProcess] = []
    haproxy = None
    try:
        store = f"{{backend: redis, url: '{redis.url}', prefix: '{PREFIX}', timeout: 1}}"
        extra = "proxy_protocol: {trusted_networks: [127.0.0.1/32]}\nlog: {format: json}\n" \
                "limits: {shutdown_grace: 5}"
        for name in ("a", "b"):
            gws.append(GatewayProcess(tmp_path / name, upstream_port=sink.port, store=store,
                                      hostname=f"gw-{name}.example.org", extra=extra).start())
        haproxy = HAProxy(tmp_path / "haproxy", {"a": (gws[0].port, gws[0].admin_port),
                                                 "b": (gws[1].port, gws[1].admin_port)}).start()
        yield Cluster(redis, sink, gws[0], gws[1], haproxy)
    finally:
        if haproxy is not None:
            haproxy.stop()
        for gw in gws:
            gw.kill()
        redis.stop()


def header(data: bytes, name: str) -> str:
    m = re.search(rb"(?mi)^" + name.encode() + rb":(.*(?:\r\n[ \t].*)*)", data)
    return re.sub(r"\s+", " ", m.group(1).decode()).strip() if m else ""


def by_message_id(sink: Sink) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for m in sink.messages:
        out.setdefault(header(m.data, "Message-ID").strip("<>"), []).append(m.data)
    return out


def instance_of(data: bytes) -> str:
    m = re.search(rb"by\s+gw-(\w)\.example\.org\s+\(approach-gateway\)", data)
    return m.group(1).decode() if m else "?"


def test_history_is_shared_across_instances(cluster: Cluster) -> None:
    sender = "dana.partner@partner.test"
    first = submit(cluster.haproxy.direct["a"], sender, ["bob@example.org"], message("h1@p.test", sender), "h1@p.test")
    second = submit(cluster.haproxy.direct["b"], sender, ["carol@example.org"], message("h2@p.test", sender),
                    "h2@p.test")
    assert first.accepted and second.accepted
    got = by_message_id(cluster.sink)
    via_a, via_b = got["h1@p.test"][0], got["h2@p.test"][0]
    assert instance_of(via_a) == "a" and instance_of(via_b) == "b"
    assert "first-contact-organisation" in header(via_a, "X-Approach-Reasons")
    # B never saw this sender, but the shared store did: not first contact for the organisation
    assert "first-contact-organisation" not in header(via_b, "X-Approach-Reasons")


CAMPAIGN_TEXT = ("Dear colleague, I lead research at a consultancy in Singapore. We are preparing a paid report on "
                 "regional policy and would value your insights; we pay per report. Please reply on WhatsApp "
                 "+65 8123 4567 so we can discuss quickly.")


def test_campaign_counters_add_up_across_instances(cluster: Cluster, tmp_path: Path) -> None:
    msgs = []
    for i, (via, rcpts) in enumerate((("a", ["r1", "r2", "r3"]), ("b", ["r4", "r5", "r6"]))):
        sender = f"jane.roe{i}@mail{i}.test"
        raw = message(f"c{i}@camp.test", f'"Jane Roe" <{sender}>', "Research collaboration", CAMPAIGN_TEXT)
        out = submit(cluster.haproxy.direct[via], sender, [f"{r}@example.org" for r in rcpts], raw, f"c{i}@camp.test")
        assert out.accepted, out
        msgs.append((raw, sender, rcpts))
    assert {instance_of(d[0]) for d in by_message_id(cluster.sink).values()} == {"a", "b"}

    async def reach() -> Any:
        # the campaign keys exactly as the gateways computed them for the first message
        runtime = Runtime(cluster.a.config_obj(), offline=True, store=None)
        raw, sender, rcpts = msgs[0]
        env = Envelope(mail_from=sender, rcpt_tos=tuple(f"{r}@example.org" for r in rcpts),
                       client=Client(ip="192.0.2.1"), queue_id="K")
        result = await runtime.analyse(raw, env)
        assert result.meta is not None and result.meta.campaign_keys
        store = RedisStore(cluster.redis.url, 400, prefix=PREFIX, timeout=2.0)
        try:
            return await store.campaign_reach(result.meta.campaign_keys, 0.0)
        finally:
            await store.close()
    r = asyncio.run(reach())
    assert (r.recipients, r.senders, r.messages) == (6, 2, 2)
    assert set(r.recipient_sample) == {f"r{i}@example.org" for i in range(1, 7)}


def test_sigkill_of_one_instance_under_load_loses_nothing(cluster: Cluster,
                                                          record_property: Any) -> None:
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(t: int) -> None:
        go.wait()
        for n in range(PER_THREAD):
            mid = f"load-{t}-{n}@load.test"
            sender = f"s{t}.{n}@ext{t}.test"
            out = submit(cluster.haproxy.port, sender, ["bob@example.org"], message(mid, sender), mid)
            with lock:
                outcomes.append(out)

    # one transaction held open on A with the message sent but not its final dot: the kill drops
    # it for certain, and the client must retry elsewhere
    held = smtplib.SMTP("127.0.0.1", cluster.haproxy.direct["a"], timeout=30)
    held.ehlo("client.test")
    assert held.mail("held@ext.test")[0] == 250 and held.rcpt("bob@example.org")[0] == 250
    assert held.docmd("DATA")[0] == 354
    held.send(message("held@load.test", "held@ext.test"))

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    go.set()
    # kill A once both instances have taken part of the load
    assert wait_until(lambda: len(outcomes) >= THREADS * PER_THREAD // 4, 60)
    cluster.a.kill(signal.SIGKILL)
    with pytest.raises((OSError, smtplib.SMTPException)):
        held.send(b".\r\n")
        if held.getreply()[0] == 250:  # pragma: no cover - would mean A answered after SIGKILL
            raise AssertionError("A answered after SIGKILL")
    retry = submit(cluster.haproxy.port, "held@ext.test", ["bob@example.org"],
                   message("held@load.test", "held@ext.test"), "held@load.test")
    retry.attempts.insert(0, "dropped dot")
    for th in threads:
        th.join(120)
    outcomes.append(retry)

    assert all(o.accepted for o in outcomes), [o for o in outcomes if not o.accepted]
    got = by_message_id(cluster.sink)
    counts = Counter({k: len(v) for k, v in got.items()})
    sent_ids = {o.message_id for o in outcomes}
    assert set(counts) == sent_ids, f"unexpected at the upstream: {set(counts) - sent_ids}"
    lost = [o.message_id for o in outcomes if counts[o.message_id] == 0]
    assert not lost, f"accepted with 250 but not delivered: {lost}"
    duplicates = {k: n for k, n in counts.items() if n > 1}
    lost_reply = {o.message_id for o in outcomes if o.lost_reply}
    unexplained = set(duplicates) - lost_reply
    assert not unexplained, f"duplicates without a lost reply: {unexplained}"
    retried = sum(1 for o in outcomes if o.retried)
    report = {"messages": len(outcomes), "retried": retried, "lost_reply_after_dot": len(lost_reply),
              "duplicates_after_lost_reply": len(duplicates),
              "by_instance": dict(Counter(instance_of(v[0]) for v in got.values()))}
    record_property("sigkill_report", json.dumps(report))
    print("multi-instance SIGKILL:", json.dumps(report))
    assert retried >= 1  # the held transaction at least
    assert report["by_instance"].get("a", 0) >= 1 and report["by_instance"].get("b", 0) >= 1

    # every delivered copy's queue id is in its instance's JSON log line with the upstream's 250,
    # except a copy A relayed just before SIGKILL took it (the client lost that reply)
    logs = {name: [json.loads(line) for line in gw.log_text().splitlines() if '"queue_id"' in line]
            for name, gw in (("a", cluster.a), ("b", cluster.b))}
    for mid, copies in got.items():
        for data in copies:
            qid = re.search(rb"\sid\s+([0-9A-F]+)", data).group(1).decode()  # type: ignore[union-attr]
            lines = [ln for ln in logs[instance_of(data)] if ln["queue_id"] == qid]
            if not lines and instance_of(data) == "a" and mid in lost_reply:
                continue
            assert lines and lines[0]["reply"].startswith("250"), (mid, qid, lines)
    # B counted what it relayed
    assert value(cluster.b.metrics(), "approach_gateway_smtp_replies_total", stage="dot",
                 **{"class": "2xx"}) >= report["by_instance"]["b"]
