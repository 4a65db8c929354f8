"""run_checks: checks that wait on I/O get tasks and timeouts of their own; checks that only
compute (`io = False`) run one after another on the analysis task. Both kinds keep what finished
when the deadline comes, and a computing check's declaration (it never waits) holds on real mail."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.checks import Check, CheckContext, Fact, SharedState, discover, order, run_checks, signal
from gateway.domains import Domains
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from tests.support.messages import config, message, with_providers

EVALSET = Path(__file__).resolve().parents[2] / "evalset" / "approach" / "train"


@dataclass(frozen=True)
class Answer(Fact):
    value: str


class Slow(Check):
    """Waits on 'the network' before it provides its fact."""

    name = "slowio"
    signals = (signal("slowio.done", "answered"),)
    provides = (Answer,)
    delay = 0.05

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        await asyncio.sleep(self.delay)
        ctx.put(Answer("yes"))
        return [Signal("slowio.done")]


class Stuck(Slow):
    name = "stuckio"
    signals = (signal("stuckio.done", "never"),)
    timeout_share = 1.0
    delay = 30.0


class Computes(Check):
    name = "computes"
    io = False
    signals = (signal("computes.done", "computed"),)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        return [Signal("computes.done")]


class NeedsAnswer(Check):
    """Computes, but only after the I/O check's fact: it waits on the analysis task."""

    name = "needsanswer"
    io = False
    signals = (signal("needsanswer.done", "computed from the answer", answer=str),)
    needs = (Answer,)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        got = ctx.get(Answer)
        return [Signal("needsanswer.done", {"answer": got.value if got else "none"})]


class AlsoComputes(Computes):
    name = "alsocomputes"
    signals = (signal("alsocomputes.done", "computed"),)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        return [Signal("alsocomputes.done")]


def _ctx(deadline_in: float, raw: bytes | None = None) -> CheckContext:
    cfg = config("limits: {analysis_timeout: 1.0}\n")
    loop = asyncio.get_running_loop()
    return CheckContext(view=MessageView.parse(raw or message("a@example.net")), envelope=Envelope("", (), Client()),
                        config=cfg, data=ReferenceData.load(cfg), domains=Domains(cfg.local_domains),
                        deadline=loop.time() + deadline_in)


def test_a_computing_check_waits_for_the_fact_it_needs_from_an_io_check() -> None:
    async def go():  # type: ignore[no-untyped-def]
        return await run_checks(order([NeedsAnswer(), Slow(), Computes()]), _ctx(5.0))
    got = asyncio.run(go())
    by = {s.name: s for s in got.signals}
    assert by["needsanswer.done"].evidence["answer"] == "yes"
    assert {"slowio.done", "computes.done"} <= set(by)
    assert got.unfinished == [] and got.failed == []


def test_the_deadline_keeps_computed_signals_and_names_what_did_not_run() -> None:
    """The I/O check never answers; the computing check that needs it is cut at the deadline
    and named, the independent computing checks' signals are kept."""
    async def go():  # type: ignore[no-untyped-def]
        return await run_checks(order([Computes(), NeedsAnswer(), AlsoComputes(), Stuck()]), _ctx(0.2))
    got = asyncio.run(go())
    names = [s.name for s in got.signals]
    assert "computes.done" in names
    assert "needsanswer.done" not in names and "stuckio.done" not in names
    assert "needsanswer" in got.unfinished
    assert "stuckio" in got.unfinished + got.timed_out  # its own share ends with the deadline
    incomplete = [s for s in got.signals if s.name == "analysis.incomplete"]
    assert incomplete and "needsanswer" in incomplete[0].evidence["checks"]


def test_a_deadline_already_past_runs_no_computing_check() -> None:
    async def go():  # type: ignore[no-untyped-def]
        return await run_checks(order([Computes(), AlsoComputes()]), _ctx(-1.0))
    got = asyncio.run(go())
    assert sorted(got.unfinished) == ["alsocomputes", "computes"]
    assert [s.name for s in got.signals] == ["analysis.incomplete"]


def test_a_computing_check_that_raises_is_an_error_and_the_next_one_still_runs() -> None:
    class Raises(Computes):
        name = "raises"
        signals = (signal("raises.never", "never"),)

        async def run(self, ctx: CheckContext) -> Iterable[Signal]:
            raise RuntimeError("boom")

    async def go():  # type: ignore[no-untyped-def]
        return await run_checks(order([Raises(), AlsoComputes()]), _ctx(5.0))
    got = asyncio.run(go())
    assert got.failed == ["raises"]
    assert "alsocomputes.done" in [s.name for s in got.signals]


def _suspends(check: Check, ctx: CheckContext) -> bool:
    """Drive the check's coroutine by hand: True when it waited on something."""
    coro = check.run(ctx)
    try:
        coro.send(None)
    except StopIteration:
        return False
    coro.close()
    return True


@pytest.mark.parametrize("cls", [c for c in discover() if not c.io], ids=lambda c: c.name)
def test_a_check_that_says_it_only_computes_never_waits(cls: type[Check]) -> None:
    """`io = False` is a promise: checked on every training approach (they reach every branch
    the shipped checks have: relayed personas, claims, links, questions) and a plain message."""
    files = sorted(EVALSET.rglob("*.eml"))[::2]
    assert files, f"no messages under {EVALSET}"
    cfg = config()
    data = ReferenceData.load(cfg)
    checks = with_providers([cls()])
    for c in checks:
        c.prepare(cfg, data)
    state = SharedState.for_checks(cfg, data, checks)

    async def go() -> int:
        waited = 0
        for raw in [message("a@example.net")] + [f.read_bytes() for f in files]:
            ctx = CheckContext(view=MessageView.parse(raw), envelope=Envelope("x@example.net", ("d@example.org",),
                               Client(ip="192.0.2.1")), config=cfg, data=data, domains=Domains(cfg.local_domains),
                               offline=True, state=state)
            for c in checks:  # providers first (they are ordered), then the check itself
                if c.name == cls.name:
                    waited += _suspends(c, ctx)
                else:
                    await c.run(ctx)
        return waited
    assert asyncio.run(go()) == 0


class _Log(Check):
    """An I/O check that notes when it starts (in a list shared with the two below)."""

    name = "earlyio"
    signals = (signal("earlyio.done", "answered"),)
    started: list[str] = []

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        self.started.append(self.name)
        await asyncio.sleep(0)
        return [Signal(f"{self.name}.done")]


class _LateLog(_Log):
    """Waits on the store (`overlaps = False`): starts once the computing checks are done."""

    name = "lateio"
    signals = (signal("lateio.done", "answered"),)
    overlaps = False


class _ComputesLog(Computes):
    name = "computeslog"
    signals = (signal("computeslog.done", "computed"),)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        _Log.started.append(self.name)
        return [Signal("computeslog.done")]


def test_an_io_check_that_does_not_overlap_starts_after_the_computing_checks() -> None:
    """The store's thread would otherwise run beside the computing checks and contend with them
    for the GIL; an I/O check that overlaps (DNS) still sends its queries first."""
    _Log.started = []

    async def go():  # type: ignore[no-untyped-def]
        return await run_checks(order([_LateLog(), _ComputesLog(), _Log()]), _ctx(5.0))
    got = asyncio.run(go())
    assert _Log.started == ["earlyio", "computeslog", "lateio"]
    assert {s.name for s in got.signals} == {"earlyio.done", "computeslog.done", "lateio.done"}
    assert got.unfinished == [] and got.timed_out == []


class _LateSlow(Slow):
    name = "lateslow"
    signals = (signal("lateslow.done", "answered"),)
    overlaps = False

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        await asyncio.sleep(self.delay)
        ctx.put(Answer("late"))
        return [Signal("lateslow.done")]


class _Relays(Check):
    """An overlapping I/O check that needs the late one's fact and provides one a computing check needs."""

    @dataclass(frozen=True)
    class Relayed(Fact):
        value: str

    name = "relays"
    signals = (signal("relays.done", "relayed"),)
    needs = (Answer,)
    provides = (Relayed,)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        got = ctx.get(Answer)
        ctx.put(self.Relayed(got.value if got else "none"))
        return [Signal("relays.done")]


class _NeedsRelayed(Computes):
    name = "needsrelayed"
    signals = (signal("needsrelayed.done", "computed", answer=str),)
    needs = (_Relays.Relayed,)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        got = ctx.get(_Relays.Relayed)
        return [Signal("needsrelayed.done", {"answer": got.value if got else "none"})]


@pytest.mark.parametrize("computing", [NeedsAnswer, _NeedsRelayed], ids=["directly", "through-another-io-check"])
def test_a_late_io_check_that_a_computing_check_waits_for_starts_first(computing: type[Check]) -> None:
    """Started after the computing checks, it would never answer the one waiting for it (until the deadline)."""
    async def go():  # type: ignore[no-untyped-def]
        return await run_checks(order([computing(), _LateSlow(), _Relays()]), _ctx(2.0))
    got = asyncio.run(go())
    by = {s.name: s for s in got.signals}
    assert by[f"{computing.name}.done"].evidence["answer"] == "late"
    assert got.unfinished == [] and got.timed_out == []


def test_the_shipped_checks_that_wait_on_the_store_do_not_overlap() -> None:
    late = {c.name for c in discover() if c.io and not c.overlaps}
    assert late == {"campaign", "sender"}


def test_no_shipped_computing_check_needs_what_an_io_check_provides() -> None:
    """The computing checks run one after another on the analysis task: one that `needs` a fact
    an I/O check provides (the authentication outcome, which waits on DNS) holds every computing
    check after it until that answer comes. Such a check runs as `io` on a task of its own, or
    `waits` only for the messages that need it (the origin check). listauth was such a check."""
    checks = [c() for c in discover()]
    providers = {f: c for c in checks for f in c.provides}
    blocking = {(c.name, n.__name__) for c in checks if not c.io for n in c.needs
                if n in providers and providers[n].io}
    assert blocking == set()
