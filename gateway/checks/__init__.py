"""Checks: each reads the message view and the envelope and emits signals, nothing else.

Purpose: the contract every check follows (STYLE.md rule 1), declared rather than implied:
- `signals`: every signal the check may emit, with its evidence keys and their types and a line
  of documentation (`signal(...)`); `policy lint` and docs/signals.md are generated from these,
  so a misspelt evidence key in a policy is a lint error and an undeclared one a check error;
- `needs` / `provides`: typed results (`Fact` subclasses) shared between checks instead of a
  dictionary; the runtime orders checks from these declarations, runs independent ones
  concurrently, and a check sees a fact only when it declared that it needs it;
- `waits`: facts a check may wait for only when a message asks it to (`await ctx.wait_for(Kind)`),
  e.g. the origin check waits for the authentication outcome only for mail whose From is one of
  ours; it orders like `needs`, but every other message runs without waiting for it;
- `uses`: prepared state several checks read (`Shared` subclasses, e.g. the look-alike index of
  the sender and link checks): the runtime builds one of each kind per configuration, before any
  message, and a check reads it with `ctx.shared(Kind)`;
- `timeout_share`: the share of `limits.analysis_timeout` the check may use;
- `io`: whether `run` waits on anything (DNS, the store). A check that only computes says
  `io = False`: it runs on the analysis's own task, one after another in dependency order, with
  no task, timer or event of its own (those cost more than most such checks; and asyncio can
  interrupt a coroutine only where it waits, so a computing check was never cut short by its
  share anyway). The default is True: such a check gets its own task and timeout;
- `overlaps` (I/O checks): whether it starts before the computing checks, so that its waiting
  overlaps their work (a DNS answer arrives while they compute). A check that waits on the store
  says False and starts after them: the store's thread runs Python, which then contends with the
  computing checks for the GIL (RE2 releases it on every search, and each hand-back is a context
  switch): ~0.3-0.4 ms more CPU per message, and no sooner an answer (benchmarks/README.md).
A check never replies to SMTP, never edits the message and never scores. Network I/O goes
through `ctx.resolver`; a timeout is a `*.temperror` signal.

Adding a check is one new module in this package defining a `Check` subclass (discovered by
`discover()`), plus its tests.

Untrusted input: everything in the context except the config and the reference data.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import re
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from gateway.config import Config
from gateway.domains import Domains
from gateway.model import Envelope, Signal
from gateway.parse import MessageView
from gateway.refdata import ReferenceData

log = logging.getLogger("gateway.checks")

F = TypeVar("F", bound="Fact")
S = TypeVar("S", bound="Shared")
EVIDENCE_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class SignalSpec:
    """A signal a check may emit: name, one line of documentation, evidence keys and types."""

    name: str
    doc: str
    evidence: Mapping[str, type] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()  # evidence keys that may be absent

    def problems(self, sig: Signal) -> list[str]:
        out = []
        for key, value in sig.evidence.items():
            want = self.evidence.get(key)
            if want is None:
                out.append(f"undeclared evidence key {key!r}")
            elif not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
                out.append(f"evidence {key!r} is {type(value).__name__}, declared {want.__name__}")
        return out


def signal(name: str, doc: str, /, *, optional: Iterable[str] = (), **evidence: type) -> SignalSpec:
    """Declare a signal: `signal("sender.freemail", "writes from a free-mail provider", domain=str)`."""
    for key, t in evidence.items():
        if t not in EVIDENCE_TYPES:
            raise TypeError(f"{name}: evidence {key} must be one of str, int, float, bool")
    return SignalSpec(name, doc, dict(evidence), frozenset(optional))


class Fact:
    """A typed result one check provides to others (e.g. the authentication outcome, the social
    persona). `policy_name`, when set, makes its attributes readable in policies as
    `<policy_name>.<attribute>` fields."""

    policy_name: ClassVar[str] = ""


class Shared:
    """Prepared state that several checks read -- an index, a memo, a compiled model -- built once
    per configuration from the config and the validated reference data, owned by the runtime
    (`SharedState`) and rebuilt with it on reload, so that checks share it without module-level
    state. A check lists the kinds it reads in `uses` and gets the runtime's one instance with
    `ctx.shared(Kind)`. A subclass takes `(config, data)`; it may be defined in the module of a
    check that uses it (adding one is no more plumbing than adding a check)."""

    def __init__(self, config: Config, data: ReferenceData) -> None:
        """Build it (prepare everything here: it is built before the runtime sees mail)."""

    def warm(self) -> None:
        """Called once per runtime by `Runtime.warm_up`, like `Check.warm`: work out ahead the
        answers mail everywhere asks for. It must not change any answer. The default does nothing."""

    def warm_seen(self, domains: Sequence[str]) -> None:
        """Called by `Runtime.warm_up` after `warm` with the sender domains of the inbound mail
        the store remembers, most frequent first and bounded (`warmup.SEEN_DOMAINS`): this
        deployment's own correspondents, whom the first messages after a restart or reload come
        from (in the store, untrusted: names as senders gave them). Like `warm`, it must not
        change any answer. The default does nothing."""


class SharedState:
    """One instance of each `Shared` kind, for one configuration. The runtime's is built from the
    checks' `uses` declarations (`for_checks`), every kind at once, and refuses a kind no check
    declared (it would otherwise be built on the first message that asks); without `kinds` and
    `strict` (a context built outside a runtime: tools, a test of one check) a kind is built when
    first asked for."""

    def __init__(self, config: Config, data: ReferenceData, kinds: Iterable[type[Shared]] = (), *,
                 strict: bool = False) -> None:
        self.config, self.data = config, data
        self._built: dict[type[Shared], Shared] = {}
        for kind in kinds:
            self._built[kind] = kind(config, data)
        self.strict = strict

    @classmethod
    def for_checks(cls, config: Config, data: ReferenceData, checks: Iterable[Check]) -> SharedState:
        """Every kind the `checks` declare in `uses`, built now (in declaration order)."""
        kinds = dict.fromkeys(kind for c in checks for kind in c.uses)
        return cls(config, data, kinds, strict=True)

    def get(self, kind: type[S]) -> S:
        found = self._built.get(kind)
        if found is None:
            if self.strict:
                raise CheckError(f"{kind.__name__} is not shared state of this runtime: list it in the "
                                 f"`uses` of the check that reads it")
            found = self._built[kind] = kind(self.config, self.data)
        if not isinstance(found, kind):  # never: the map is keyed by the instance's own type
            raise TypeError(f"{kind.__name__}: {type(found).__name__} found")
        return found

    def __iter__(self) -> Iterator[Shared]:
        return iter(list(self._built.values()))

    def __len__(self) -> int:
        return len(self._built)


@dataclass
class CheckContext:
    """What a check may read for one message."""

    view: MessageView
    envelope: Envelope
    config: Config
    data: ReferenceData
    domains: Domains
    offline: bool = False
    resolver: Any = None  # gateway.dns.Resolver when network checks run
    store: Any = None  # gateway.store.Store when a store is configured
    deadline: float = float("inf")  # loop time by which every check must have finished
    auth_pools: Any = None  # gateway.checks.auth.keys.AuthPools of the runtime (dkimpy's worker threads)
    state: SharedState | None = None  # the runtime's shared state (None: built when first asked, for this context)
    _facts: dict[type, Fact] = field(default_factory=dict)
    # the stranger's own words as (persona they were read for, text): claims, pretext and campaign
    # all read them; computed once per message by gateway/checks/claims.py `approach_text`
    approach_text: tuple[object, str] | None = None
    # the text a reply's quote marks were read in and the first that names our side (gateway/checks/claims.py
    # `_our_side_mark`: read once a message, not once for each of the three callers)
    side_mark: tuple[str, re.Match[str] | None] | None = None
    # the events `run_checks` sets when the provider of a fact finished (`wait_for`)
    _ready: Mapping[type, asyncio.Event] = field(default_factory=dict)

    def get(self, kind: type[F]) -> F | None:
        """The fact of type `kind` if the check that provides it finished, else None."""
        found = self._facts.get(kind)
        return found if isinstance(found, kind) else None

    async def wait_for(self, kind: type[F]) -> F | None:
        """The fact of type `kind` once the check that provides it finished (a check lists it in
        `waits`): None when it failed, timed out or gave none, and at once when no check of this
        run provides it (a context made outside `run_checks`: tools, tests of one check)."""
        event = self._ready.get(kind)
        if event is not None and not event.is_set():
            await event.wait()
        return self.get(kind)

    def shared(self, kind: type[S]) -> S:
        """The runtime's one instance of the `Shared` kind (the check lists it in `uses`)."""
        if self.state is None:  # a context made outside a runtime (tools, tests of one check)
            self.state = SharedState(self.config, self.data)
        return self.state.get(kind)

    def put(self, fact: Fact) -> None:
        self._facts[type(fact)] = fact

    def facts(self) -> list[Fact]:
        return list(self._facts.values())

    def remaining(self) -> float:
        """Seconds left before the checks' deadline (never negative)."""
        return max(0.0, self.deadline - asyncio.get_running_loop().time())


class Check:
    """One family of signals. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str] = ""
    signals: ClassVar[tuple[SignalSpec, ...]] = ()
    needs: ClassVar[tuple[type[Fact], ...]] = ()
    waits: ClassVar[tuple[type[Fact], ...]] = ()  # may `ctx.wait_for` these (see the module's docstring)
    provides: ClassVar[tuple[type[Fact], ...]] = ()
    uses: ClassVar[tuple[type[Shared], ...]] = ()
    timeout_share: ClassVar[float] = 0.5
    io: ClassVar[bool] = True
    overlaps: ClassVar[bool] = True  # (io) started before the computing checks; see the module's docstring

    def prepare(self, config: Config, data: ReferenceData) -> None:
        """Called once per runtime (start and reload) before any message: precompute here what
        every message would otherwise recompute. The default does nothing."""

    def warm(self) -> None:
        """Called by `Runtime.warm_up` (at start and on every reload, before the runtime sees
        mail), after `prepare`: work out ahead the answers that mail everywhere asks for (a
        memo's common keys), so that the first messages do not pay for them. It must not change
        any answer, only when it is computed. The default does nothing."""

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        raise NotImplementedError

    @classmethod
    def spec_of(cls, name: str) -> SignalSpec | None:
        return next((s for s in cls.signals if s.name == name), None)


class CheckError(Exception):
    """A check broke its own declaration (undeclared signal or evidence)."""


# Signals the runtime itself emits about the checks.
RUNTIME_SIGNALS = (
    signal("check.error", "a check failed; its signals are missing (the error is logged with its traceback)",
           check=str, error=str),
    signal("check.timeout", "a check used up its share of the analysis time; its signals are missing",
           check=str, seconds=float),
    signal("analysis.incomplete", "the analysis deadline came before these checks finished; the verdict "
           "rests on the others", checks=str),
)


@dataclass
class CheckRun:
    """The outcome of running the checks on one message."""

    signals: list[Signal]
    finished: list[str]
    unfinished: list[str]  # still running at the deadline (cancelled)
    timed_out: list[str]  # used up their own share of the time
    failed: list[str]  # raised, or broke their declaration


def discover() -> tuple[type[Check], ...]:
    """Every `Check` subclass defined in a module of this package, sorted by name."""
    import gateway.checks as pkg

    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
    found: dict[str, type[Check]] = {}
    stack = list(Check.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.name and cls.__module__.startswith(pkg.__name__ + "."):
            if cls.name in found and found[cls.name] is not cls:
                raise CheckError(f"two checks are named {cls.name!r}: {found[cls.name].__module__} "
                                 f"and {cls.__module__}")
            found[cls.name] = cls
    return tuple(found[n] for n in sorted(found))


def order(checks: Sequence[Check]) -> list[Check]:
    """The checks in an order where every check comes after the providers of what it needs.
    Raises CheckError for a need nobody provides or a cycle."""
    providers: dict[type, Check] = {}
    for c in checks:
        for f in c.provides:
            if f in providers:
                raise CheckError(f"{f.__name__} is provided by both {providers[f].name} and {c.name}")
            providers[f] = c
    for c in checks:
        for need in c.needs:
            if need not in providers:
                raise CheckError(f"check {c.name} needs {need.__name__}, which no check provides")
    after = {c.name: [providers[f] for f in c.needs + tuple(w for w in c.waits if w in providers)]
             for c in checks}  # a fact waited for that nobody provides: `wait_for` answers None at once
    out: list[Check] = []
    state: dict[str, int] = {}

    def visit(c: Check, path: tuple[str, ...]) -> None:
        if state.get(c.name) == 2:
            return
        if state.get(c.name) == 1:
            raise CheckError(f"checks depend on each other in a cycle: {' -> '.join(path + (c.name,))}")
        state[c.name] = 1
        for provider in after[c.name]:
            visit(provider, path + (c.name,))
        state[c.name] = 2
        out.append(c)

    for c in sorted(checks, key=lambda c: c.name):
        visit(c, ())
    return out


@dataclass
class RunStats:
    """Counters of what went wrong, per check (read by the metrics endpoint and tests)."""

    errors: dict[str, int] = field(default_factory=dict)
    timeouts: dict[str, int] = field(default_factory=dict)
    incomplete: int = 0

    def add(self, other: RunStats) -> None:
        """Count `other`'s too (an analysis child's, gateway/offload.py)."""
        for mine, theirs in ((self.errors, other.errors), (self.timeouts, other.timeouts)):
            for name, n in theirs.items():
                mine[name] = mine.get(name, 0) + n
        self.incomplete += other.incomplete

    def since(self, before: RunStats) -> RunStats:
        """What was counted after `before` (an earlier copy of these counts), and `before` brought up to date: an
        analysis child's counts for the parent, while other analyses go on counting into these (gateway/offload.py)."""
        new = RunStats({k: n - before.errors.get(k, 0) for k, n in self.errors.items() if n != before.errors.get(k, 0)},
                       {k: n - before.timeouts.get(k, 0) for k, n in self.timeouts.items()
                        if n != before.timeouts.get(k, 0)},
                       self.incomplete - before.incomplete)
        before.add(new)
        return new


async def run_checks(checks: Sequence[Check], ctx: CheckContext, stats: RunStats | None = None) -> CheckRun:
    """Run `checks` (already `order`ed), each after the providers of its needs: those that wait on
    I/O concurrently on tasks of their own, those that only compute (`io = False`) one after
    another on this task while the others wait for their answers.

    I/O checks that do not `overlap` start once the computing checks are done (unless a
    computing check needs what they provide).

    A check that raises or breaks its declaration gives `check.error` (logged with the
    traceback, counted); one that waits longer than its own share of the time gives
    `check.timeout`; the ones still running (or not started) at `ctx.deadline` are cancelled and
    named in `analysis.incomplete`. The signals of every check that finished are kept.
    """
    run = _Run(checks, ctx, stats if stats is not None else RunStats())
    ctx._ready = run.ready
    loop = asyncio.get_running_loop()
    later = _later_of(checks)
    tasks = {asyncio.create_task(run.one(c), name=f"check:{c.name}"): c for c in checks
             if c.io and c.name not in later}
    not_run = await run.computing([c for c in checks if not c.io], started=bool(tasks))
    tasks.update({asyncio.create_task(run.one(c), name=f"check:{c.name}"): c for c in checks if c.name in later})
    left = ctx.deadline - loop.time()
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, left) if left != float("inf") else None)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    unfinished = sorted({tasks[t].name for t in pending} | set(not_run))
    signals = [s for c in checks for s in run.produced.get(c.name, ())]
    if unfinished:
        run.stats.incomplete += 1
        signals.append(Signal("analysis.incomplete", {"checks": ", ".join(unfinished)}))
    finished = [c.name for c in checks if c.name in run.produced and c.name not in run.failed + run.timed_out]
    return CheckRun(signals, finished, unfinished, run.timed_out, run.failed)


# `_after_computing` of the check lists seen last (a runtime's list is the same every message): the
# checks themselves are the key (their declarations are class attributes), at most a few lists kept
_LATER: dict[tuple[Check, ...], frozenset[str]] = {}
_LATER_KEPT = 8


def _later_of(checks: Sequence[Check]) -> frozenset[str]:
    key = tuple(checks)
    later = _LATER.get(key)
    if later is None:
        later = _after_computing(checks)
        if len(_LATER) >= _LATER_KEPT:
            _LATER.clear()
        _LATER[key] = later
    return later


def _after_computing(checks: Sequence[Check]) -> frozenset[str]:
    """The I/O checks that start after the computing ones: those that do not `overlap`, but
    for any a computing check waits for (what it needs, what that needs, and so on)."""
    providers = {f: c for c in checks for f in c.provides}
    wanted: set[str] = set()
    stack = [c for c in checks if not c.io]
    while stack:
        waiting = stack.pop()
        for need in waiting.needs + waiting.waits:
            c = providers.get(need)
            if c is not None and c.name not in wanted:
                wanted.add(c.name)
                stack.append(c)
    return frozenset(c.name for c in checks if c.io and not c.overlaps and c.name not in wanted)


class _Run:
    """The state of one `run_checks`: who finished, failed or timed out, and the facts' events."""

    def __init__(self, checks: Sequence[Check], ctx: CheckContext, stats: RunStats) -> None:
        self.ctx, self.stats = ctx, stats
        self.ready: dict[type, asyncio.Event] = {f: asyncio.Event() for c in checks for f in c.provides}
        self.produced: dict[str, list[Signal]] = {}
        self.failed: list[str] = []
        self.timed_out: list[str] = []

    async def computing(self, checks: list[Check], started: bool) -> list[str]:
        """The computing checks, in order, on this task until the deadline; the names of those
        that did not finish or start."""
        if not checks:
            return []
        if started:
            await asyncio.sleep(0)  # the I/O checks send their first queries before the computing starts
        loop = asyncio.get_running_loop()
        deadline = self.ctx.deadline
        done = 0
        try:
            async with asyncio.timeout_at(deadline if deadline != float("inf") else None):
                for check in checks:
                    if loop.time() >= deadline:
                        break
                    await self.one(check)
                    done += 1
        except TimeoutError:
            pass
        return [c.name for c in checks[done:]]

    async def one(self, check: Check) -> None:
        ctx = self.ctx
        try:
            for need in check.needs:
                event = self.ready[need]
                if not event.is_set():
                    await event.wait()
            if check.io:
                out = await self._within_share(check)
                if out is None:
                    return
            else:
                out = list(await check.run(ctx))
            problems = _declaration_problems(check, out)
            if problems:
                raise CheckError(f"check {check.name}: {'; '.join(problems[:3])}")
            self.produced[check.name] = out
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken check must not lose the message
            self.stats.errors[check.name] = self.stats.errors.get(check.name, 0) + 1
            self.failed.append(check.name)
            self.produced[check.name] = [Signal("check.error", {"check": check.name, "error": type(exc).__name__})]
            log.error("check %s failed on queue id %s: %s\n%s", check.name, ctx.envelope.queue_id, exc,
                      "".join(traceback.format_exception(exc)).rstrip())
        finally:
            for f in check.provides:
                self.ready[f].set()

    async def _within_share(self, check: Check) -> list[Signal] | None:
        """The I/O check's signals, or None (and `check.timeout`) when it used up its share."""
        ctx = self.ctx
        loop = asyncio.get_running_loop()
        budget = min(check.timeout_share * ctx.config.limits.analysis_timeout, max(0.0, ctx.deadline - loop.time()))
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget):
                return list(await check.run(ctx))
        except TimeoutError:
            took = time.monotonic() - started
            self.stats.timeouts[check.name] = self.stats.timeouts.get(check.name, 0) + 1
            self.timed_out.append(check.name)
            self.produced[check.name] = [Signal("check.timeout", {"check": check.name, "seconds": round(took, 3)})]
            log.warning("check %s timed out after %.2fs (its share of the analysis time)", check.name, took)
            return None


def _declaration_problems(check: Check, produced: Sequence[Signal]) -> list[str]:
    out = []
    for sig in produced:
        spec = check.spec_of(sig.name)
        if spec is None:
            out.append(f"emitted undeclared signal {sig.name}")
        else:
            out += [f"{sig.name}: {p}" for p in spec.problems(sig)]
    return out


def signal_specs(checks: Iterable[type[Check]] | None = None) -> dict[str, tuple[SignalSpec, str]]:
    """Every declared signal name -> (spec, name of the check that emits it); the runtime's own
    signals are listed under 'runtime'."""
    out: dict[str, tuple[SignalSpec, str]] = {s.name: (s, "runtime") for s in RUNTIME_SIGNALS}
    for cls in checks if checks is not None else discover():
        for s in cls.signals:
            out[s.name] = (s, cls.name)
    return out


def known_signals() -> frozenset[str]:
    """Every signal name a policy may use."""
    return frozenset(signal_specs())
