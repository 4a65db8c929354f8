"""The mail path's metric hooks (gateway/admin/metrics.py): every call counts under its own labels
(the labelled children are looked up once and kept), and the metered store times every call of
the inner store as that store is at the time of the call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.admin.metrics import PREFIX, GatewayMetrics
from gateway.store.observed import ObservedStore


def value(m: GatewayMetrics, name: str, **labels: str) -> float:
    got = m.registry.get_sample_value(PREFIX + name, labels)
    return 0.0 if got is None else got


def test_each_reply_counts_under_its_stage_and_class() -> None:
    m = GatewayMetrics()
    for stage, code in (("rcpt", 250), ("rcpt", 550), ("mail", 250), ("mail", 251), ("rcpt", 250), ("dot", 451)):
        m.reply(stage, code)
    assert value(m, "smtp_replies_total", stage="rcpt", **{"class": "2xx"}) == 2
    assert value(m, "smtp_replies_total", stage="rcpt", **{"class": "5xx"}) == 1
    assert value(m, "smtp_replies_total", stage="mail", **{"class": "2xx"}) == 2
    assert value(m, "smtp_replies_total", stage="dot", **{"class": "4xx"}) == 1
    assert value(m, "smtp_replies_total", stage="mail", **{"class": "5xx"}) == 0


def test_upstream_store_and_message_hooks_keep_labels_apart() -> None:
    m = GatewayMetrics()
    m.upstream("mail", 0.01)
    m.upstream("rcpt", 0.02)
    m.upstream("mail", 0.03)
    m.store_call("record_message", 0.001, None)
    m.store_call("sender_history", 0.002, None)
    m.store_call("sender_history", 0.002, "RuntimeError")
    m.message("clean", "yes", ["rule-a", "rule-b", "rule-a"], [], 0.1)
    m.message("high", "partial", ["rule-b"], [], None)
    assert value(m, "upstream_seconds_count", stage="mail") == 2
    assert value(m, "upstream_seconds_count", stage="rcpt") == 1
    assert value(m, "upstream_seconds_sum", stage="mail") == pytest.approx(0.04)
    assert value(m, "store_seconds_count", op="record_message") == 1
    assert value(m, "store_seconds_count", op="sender_history") == 2
    assert value(m, "store_errors_total", op="sender_history", reason="RuntimeError") == 1
    assert value(m, "messages_total", verdict="clean", checked="yes") == 1
    assert value(m, "messages_total", verdict="high", checked="partial") == 1
    assert value(m, "rule_hits_total", rule="rule-a") == 1  # once per message, however often it is listed
    assert value(m, "rule_hits_total", rule="rule-b") == 2


class Inner:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def sender_history(self, sender: str) -> str:
        self.calls.append(("sender_history", sender))
        return f"history of {sender}"

    async def purge(self) -> int:
        return 0


def test_observed_store_times_every_call_and_follows_the_inner_store() -> None:
    m = GatewayMetrics()
    inner = Inner()
    store = ObservedStore(inner, m)

    async def run() -> list[str]:
        out = [await store.sender_history("a@example.net"), await store.sender_history("b@example.net")]

        async def broken(sender: str) -> str:
            raise OSError("disk gone")
        inner.sender_history = broken  # type: ignore[method-assign]
        with pytest.raises(OSError):
            await store.sender_history("c@example.net")
        await store.purge()
        return out

    assert asyncio.run(run()) == ["history of a@example.net", "history of b@example.net"]
    assert inner.calls == [("sender_history", "a@example.net"), ("sender_history", "b@example.net")]
    assert value(m, "store_seconds_count", op="sender_history") == 3
    assert value(m, "store_errors_total", op="sender_history", reason="OSError") == 1
    assert value(m, "store_seconds_count", op="purge") == 1
    assert store.inner is inner  # not an operation: the attribute itself


def test_write_outcomes_fail_readiness_only_for_a_recent_unrecovered_write_failure() -> None:
    from gateway.store.observed import WriteOutcomes

    w = WriteOutcomes()
    assert w.failing(30, 1000.0) == ""  # nothing written yet
    w.note("record_message", None, 1000.0)
    w.note("record_message", OSError("database or disk is full"), 1001.0)
    w.note("rdap_put", OSError("database or disk is full"), 1002.0)
    got = w.failing(30, 1010.0)
    assert got == ("the last write failed 8.0 s ago (rdap_put: OSError: database or disk is full); "
                   "2 failed since the last that succeeded")
    # older than the window: ready again, so that the balancer sends mail that tries again
    assert w.failing(30, 1032.5) == ""
    w.note("record_message", None, 1003.0)  # a write succeeded after the failures
    assert w.failing(30, 1004.0) == ""


def test_the_metered_store_keeps_the_outcome_of_writes_not_of_reads() -> None:
    class Inner:
        async def record_message(self, meta: Any, local_domains: Any) -> None:
            raise OSError("read-only file system")

        async def seen_pair(self, sender: str, rcpt: str) -> None:
            return None

    m = GatewayMetrics()
    store = ObservedStore(Inner(), m)

    async def go() -> None:
        with pytest.raises(OSError):
            await store.record_message(None, ())
        await store.seen_pair("a@x.test", "b@y.test")  # a read that answers does not clear it

    asyncio.run(go())
    assert store.writes.failed_in_a_row == 1 and store.writes.op == "record_message"
    assert store.writes.error == "OSError: read-only file system"
    assert store.writes.last_failed > store.writes.last_ok == 0.0
