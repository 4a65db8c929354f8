"""The analysis runtime: built once per configuration, it analyses one message at a time.

Purpose: own everything analysis needs that outlives a message -- the validated reference data
(gateway/refdata.py), the compiled policies, the ordered and prepared checks, the resolver, the
store, the worker threads for large messages, the counters -- so that nothing is module-level
state keyed by a config, nothing is loaded lazily on the first message, and a reload builds a
whole new runtime (in a thread) and swaps it atomically: a message uses the runtime it started
with. `serve`, `scan`, `policy test` and `evaluate` all analyse through `Runtime.analyse`, so
they report exactly what `serve` would do.

One deadline (`limits.analysis_timeout`) covers parse, checks and policy. The checks get most of
it (each its own share, see gateway/checks); the ones still running at their deadline are
cancelled and the verdict rests on the others (`analysis.incomplete`, `X-Approach-Checked:
partial; ...`). When analysis fails outright, `on_error` decides: `accept` relays with the
contract headers marking the message unchecked, `tempfail` makes the receiver answer 451.

Untrusted input: the raw message bytes and envelope (a stranger's). Nothing here talks SMTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gateway import warmup
from gateway.act.actions import ActionPlan, plan
from gateway.act.headers import edited, received_value, removal_edits, verdict_edits
from gateway.charsets import python_codec
from gateway.checks import Check, CheckContext, CheckRun, Fact, RunStats, SharedState, discover, order, run_checks
from gateway.checks.auth import AuthFacts
from gateway.checks.auth.keys import AuthPools
from gateway.checks.campaign import CampaignKeys, flagged_key
from gateway.checks.listauth import ListKey
from gateway.checks.origin import Origin
from gateway.checks.social import Persona
from gateway.config import Config
from gateway.domains import Domains
from gateway.errors import TemporaryFailure
from gateway.model import Client, Decision, Envelope, HeaderEdit, Outgoing, Signal, Verdict
from gateway.offload import Offload, OffloadFailed
from gateway.parse import HeaderLimitExceeded, MessageView, ViewLimits, header_end
from gateway.policy import PolicySet, load_policies
from gateway.refdata import ReferenceData
from gateway.regex import warm_sets
from gateway.store import MessageMeta, Store, StoreUnavailable, store_from_config
from gateway.store.record import automatic, draft_meta, final_meta, with_sent_keys

log = logging.getLogger("gateway.runtime")

INLINE_BYTES = 262_144  # larger messages are parsed and bannered in a worker thread
CHECKS_SHARE = 0.85  # of analysis_timeout for the checks; the rest is for policy and actions
WARM_UP_BUDGET = 5.0  # seconds for the whole warm-up before serve listens
# Times each built-in message is analysed at start. CPython 3.11 specialises a function's
# bytecode only after 8 calls: a function that runs once for one shape of message (list mail, a
# reply, an attachment: two or three of the built-in messages each) needs 3-4 rounds for that.
# Four instead of two cut a first ham message by ~55 k instructions of 15.7 M (benchmarks/
# first_message.py --instructions, group 0) for two more rounds of ten messages at start: 56-82 ms
# of CPU each on a machine loaded 12 times over its 2 cores, 137 ms for the first (2026-12-03).
WARM_UP_ROUNDS = 4
BIG_WORKERS = 2  # large messages analysed at once per process (the event loop keeps the GIL share)


class AnalysisFailed(TemporaryFailure):
    """Analysis failed or timed out and `on_error: tempfail` is set: answer 451."""


@dataclass(frozen=True)
class Result:
    decision: Decision
    signals: tuple[Signal, ...]
    edits: tuple[HeaderEdit, ...]
    elapsed: float
    plan: ActionPlan | None = None  # banner, subject tag, copies, quarantine, reject
    modified: bool = False  # the act step changed the body or a signed header (ARC seal worth adding)
    auth_header: str | None = None  # our Authentication-Results value, when authentication ran
    meta: MessageMeta | None = None  # what the store remembers once the message is delivered
    header_normal: bool = False  # the analysed bytes' header section needs no normalising (MessageView.header_normal)

    def apply(self, raw: bytes) -> bytes:
        """The bytes to relay: the (possibly bannered) body with every header edit applied."""
        return bytes(self.outgoing(raw))

    def outgoing(self, raw: bytes) -> Outgoing:
        """`apply` as pieces that share `raw` (or the bannered copy), so relaying copies no body."""
        if self.plan is None:
            return edited(raw, self.edits, normal=self.header_normal)
        return edited(self.plan.raw, self.edits + self.plan.edits, normal=self.header_normal and self.plan.raw is raw)

    @property
    def added_headers(self) -> list[tuple[str, str]]:
        return [(e.name, e.value) for e in self.edits if e.value is not None]


def view_limits(config: Config) -> ViewLimits:
    lim = config.limits
    return ViewLimits(max_header_count=lim.max_header_count, max_header_bytes=lim.max_header_bytes,
                      max_mime_depth=lim.max_mime_depth, max_mime_parts=lim.max_mime_parts,
                      max_text_bytes=lim.max_text_bytes)


class Runtime:
    """Everything analysis needs for one configuration. Raises DataError or PolicyError when the
    reference data or the policies are invalid (at start: exit 2; on reload: keep the old one)."""

    def __init__(self, config: Config, *, policies: PolicySet | None = None, checks: Sequence[Check] | None = None,
                 offline: bool = False, resolver: Any = None, store: Store | None = None,
                 data: ReferenceData | None = None, big: ThreadPoolExecutor | None = None,
                 auth_pools: AuthPools | None = None, offload: Offload | None = None, threads: bool = True) -> None:
        """`threads`: parse and banner large messages in the worker threads (`big`); False in an
        analysis child, which runs everything on its loop: a thread its parent's deadline cannot stop
        would outlive the message (the child is killed instead, gateway/offload.py)."""
        # before anything is read: a watched file changed since (its mtime) may not be what runs
        self.loaded_ns = time.time_ns()
        self.config = config
        self.data = data if data is not None else ReferenceData.load(config)
        self.policies = policies if policies is not None else load_policies(config.policies, strict=True)
        self.checks = order(list(checks) if checks is not None else [cls() for cls in discover()])
        # what several checks read (the look-alike index of the sender and link checks): one of
        # each kind they declare in `uses`, built now and rebuilt with the runtime on reload
        self.shared = SharedState.for_checks(config, self.data, self.checks)
        for check in self.checks:
            check.prepare(config, self.data)
        self.domains = Domains(config.local_domains)
        self.offline = offline
        if resolver is None and not offline:
            from gateway.dns import resolver_from_config

            resolver = resolver_from_config(config)
        self.resolver = resolver
        self.store: Store | None = store if store is not None else store_from_config(config)
        self.limits = view_limits(config)
        self.stats = RunStats()
        # worker threads: shared with the runtimes rebuilt from this one (they outlive a reload,
        # so a message in flight on the old runtime never meets a shut-down pool)
        self.big = big or ThreadPoolExecutor(max_workers=BIG_WORKERS, thread_name_prefix="analysis")
        self.auth_pools = auth_pools or AuthPools()
        # child processes for messages above limits.offload_bytes (gateway/offload.py; serve only):
        # shared with the rebuilt runtimes, which renew its children on the new config
        self.offload = offload
        self.threads = threads
        self.built_at = time.time()
        self.warmed_up = False  # set by warm_up when every built-in message was analysed
        self.data.alias_pattern  # compiled now, not on the first message
        for w in self.data.warnings:
            log.warning("reference data: %s", w)

    def rebuild(self, config: Config | None = None) -> Runtime:
        """A new runtime for `config` (default: the same) with freshly loaded reference data and
        policies, sharing this one's resolver, store and worker threads (their settings need a restart)."""
        return Runtime(config or self.config, offline=self.offline, resolver=self.resolver, store=self.store,
                       big=self.big, auth_pools=self.auth_pools, offload=self.offload, threads=self.threads)

    async def close(self) -> None:
        self.big.shutdown(wait=False, cancel_futures=True)
        self.auth_pools.shutdown()
        if self.store is not None:
            await self.store.close()

    # ------------------------------------------------------------------ one message

    async def _in_thread(self, big: bool, fn: Any, *args: Any) -> Any:
        if not big or not self.threads:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.big, fn, *args)

    def context(self, view: MessageView, envelope: Envelope, deadline: float) -> CheckContext:
        return CheckContext(view=view, envelope=envelope, config=self.config, data=self.data, domains=self.domains,
                            offline=self.offline, resolver=self.resolver, store=self.store, deadline=deadline,
                            auth_pools=self.auth_pools, state=self.shared)

    async def signals(self, raw: bytes, envelope: Envelope) -> CheckRun:
        """Only the checks' outcome for one message (benchmarks, signal firing rates)."""
        loop = asyncio.get_running_loop()
        view = MessageView.parse(raw, self.limits)
        deadline = loop.time() + CHECKS_SHARE * self.config.limits.analysis_timeout
        return await run_checks(self.checks, self.context(view, envelope, deadline), self.stats)

    async def _decide(self, raw: bytes, envelope: Envelope, start: float, timeout: float, cut: int | None) -> tuple[
            Decision, list[Signal], list[Fact], ActionPlan, MessageMeta | None, bool]:
        """`cut`: `header_end(raw)` when the caller has it. Last: `MessageView.header_normal`."""
        policies = self.policies  # one consistent snapshot for this message
        big = len(raw) > INLINE_BYTES
        view = await self._in_thread(big, functools.partial(MessageView.parse, raw, self.limits, cut=cut))
        ctx = self.context(view, envelope, start + CHECKS_SHARE * timeout)
        run = await run_checks(self.checks, ctx, self.stats)
        facts = ctx.facts()
        meta = None
        try:
            keys = ctx.get(CampaignKeys)
            listed = ctx.get(ListKey)  # backed list mail: the list's history (gateway/checks/listauth.py)
            origin = ctx.get(Origin)
            meta = draft_meta(view, envelope, self.config.local_domains, ctx.get(Persona),
                              (keys.keys if keys is not None else ()) + ((listed.key,) if listed is not None else ()),
                              spoofed=origin is not None and origin.ours and not origin.internal)
            if meta.direction == "outbound" and automatic(view.header):
                meta = None  # an automatic answer (RFC 3834) is not the organisation writing back
            elif meta.direction == "outbound":  # its Message-ID, per outside recipient: what a reply may answer
                meta = with_sent_keys(meta, self.config.local_domains)
        except Exception:  # history is a nicety; the verdict must not depend on it
            log.warning("store: no metadata for %s", envelope.queue_id, exc_info=True)
        decision = policies.evaluate(run.signals, view, envelope,
                                     facts={f.policy_name: f for f in facts if f.policy_name})
        cut_off = run.unfinished + run.timed_out
        if cut_off:
            decision = Decision(decision.verdict, decision.score, decision.hits, checked=True,
                                note=f"did not finish: {', '.join(sorted(cut_off))}")
        todo = await self._in_thread(big, plan, decision, view, raw, policies.actions)
        return decision, run.signals, facts, todo, meta, view.header_normal

    async def analyse(self, raw: bytes, envelope: Envelope, *, with_tls: bool = False,
                      add_received: bool = True, timeout: float | None = None) -> Result:
        """Decide and build the edits for one message. Raises HeaderLimitExceeded (reject) or
        AnalysisFailed (tempfail); every other failure follows `on_error`. `timeout`: the deadline
        in seconds from now (default `limits.analysis_timeout`; an analysis child is given what
        is left of its parent's). A message above `limits.offload_bytes` is analysed by a child
        process when the runtime has them (gateway/offload.py), killed at the deadline."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        timeout = self.config.limits.analysis_timeout if timeout is None else timeout
        cut = None
        if self.offload is not None:  # it reads the header block's end, and so does the parse: found once
            cut = header_end(raw)
            if self.offload.wanted(raw, cut):
                return await self._offloaded(raw, envelope, with_tls, add_received, start, timeout)
        signals: list[Signal] = []
        facts: list[Fact] = []
        todo: ActionPlan | None = None
        meta: MessageMeta | None = None
        normal = False
        try:
            async with asyncio.timeout_at(start + timeout):
                decision, signals, facts, todo, meta, normal = await self._decide(raw, envelope, start, timeout, cut)
        except HeaderLimitExceeded:
            raise
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - logged by _failed; on_error decides
            decision = self._failed(exc, envelope)
        if decision.note and decision.checked and self.config.on_error == "tempfail":
            raise AnalysisFailed(f"analysis incomplete ({decision.note})")
        auth = next((f for f in facts if isinstance(f, AuthFacts)), None)
        edits = self._edits(decision, envelope, with_tls, add_received, auth)
        if meta is not None:
            # a From that fails DMARC is not the sender's: its flagged message is not held against
            # that address (attack21: two approaches under a newcomer's forged From made the
            # newcomer's next honest message "a follow-up of a flagged approach", high 17.1)
            forged = auth is not None and auth.dmarc_result == "fail"
            meta = final_meta(meta, decision, signals, flagged_key(meta.sender) if meta.sender and not forged else "")
        return Result(decision=decision, signals=tuple(signals), edits=tuple(edits),
                      elapsed=loop.time() - start, plan=todo,
                      modified=todo is not None and (bool(todo.edits) or todo.raw != raw),
                      auth_header=auth.header_value if auth is not None else None, meta=meta, header_normal=normal)

    def _edits(self, decision: Decision, envelope: Envelope, with_tls: bool, add_received: bool,
               auth: AuthFacts | None) -> list[HeaderEdit]:
        """The header edits of every relayed message: our old headers removed, `Received`, our
        Authentication-Results (when authentication ran) and the verdict's headers."""
        edits: list[HeaderEdit] = removal_edits(self.config.authserv_id)
        if add_received:
            edits.append(HeaderEdit("Received", received_value(envelope, self.config.hostname, with_tls=with_tls)))
        if auth is not None:
            edits.append(HeaderEdit("Authentication-Results", auth.header_value))
        edits.extend(verdict_edits(decision))
        return edits

    def _failed(self, exc: BaseException, envelope: Envelope) -> Decision:
        """`on_error` for an analysis that failed or timed out: an unchecked decision, or AnalysisFailed."""
        what = "analysis timed out" if isinstance(exc, TimeoutError) else \
            str(exc) if isinstance(exc, OffloadFailed) else f"analysis failed ({type(exc).__name__})"
        log.warning("%s for queue id %s", what, envelope.queue_id,
                    exc_info=not isinstance(exc, (TimeoutError, OffloadFailed)))
        if self.config.on_error == "tempfail":
            raise AnalysisFailed(what) from exc
        return Decision(verdict=Verdict.CAUTION, score=0.0, checked=False, note=what)

    async def _offloaded(self, raw: bytes, envelope: Envelope, with_tls: bool, add_received: bool,
                         start: float, timeout: float) -> Result:
        """`analyse` by an analysis child; its death or the deadline follows `on_error` here."""
        assert self.offload is not None
        loop = asyncio.get_running_loop()
        try:
            answer, stats = await self.offload.analyse(raw, envelope, with_tls=with_tls, add_received=add_received,
                                                       deadline=start + timeout)
        except (TimeoutError, OffloadFailed) as exc:
            decision = self._failed(exc, envelope)
            edits = self._edits(decision, envelope, with_tls, add_received, None)
            return Result(decision=decision, signals=(), edits=tuple(edits), elapsed=loop.time() - start)
        self.stats.add(stats)
        if answer[0] == "raise":
            if answer[1] == "header":
                raise HeaderLimitExceeded(answer[2])
            raise AnalysisFailed(answer[2])
        result: Result = answer[1]
        if answer[2] and result.plan is not None:  # the child left out the bytes we hold
            result = dataclasses.replace(result, plan=dataclasses.replace(result.plan, raw=raw))
        return dataclasses.replace(result, elapsed=loop.time() - start)

    async def record(self, result: Result) -> bool:
        """Remember a relayed message's metadata (call after the upstream accepted it). Never
        raises: a broken store must not fail mail that was already accepted. False when the
        store failed (logged; the caller counts it), True when recorded or nothing to record."""
        if self.store is None or result.meta is None:
            return True
        try:
            await self.store.record_message(result.meta, self.config.local_domains)
        except Exception as exc:  # logged; the message is already delivered
            log.warning("store: could not record message %s: %s", result.meta.message_id, exc,
                        exc_info=not _is_unavailable(exc))
            return False
        return True

    async def warm_up(self, budget: float = WARM_UP_BUDGET) -> None:
        """Feed English prose to the RE2 sets (`gateway.warmup.prose`, then `gateway.warmup.licences`, then
        `gateway.warmup.system_docs`), look up the codecs of `gateway.warmup.CHARSETS`, analyse the built-in messages of
        `gateway.warmup` `WARM_UP_ROUNDS` times, then let each check and each piece of shared state fill its memos
        (`Check.warm`, `Shared.warm`), and each piece of shared state those of the sender domains of the mail the store
        remembers (`Shared.warm_seen`, `gateway.warmup.seen_domains`), so that the first real message costs close to
        what the tenth does (benchmarks/first_message.py --instructions, first/tenth per group: 1.010, 1.024, 1.023,
        1.017, median 1.020 with a new store, as before `warm_seen`; 3.5x cold). What remains was measured
        (--keep-callgrind, callgrind_annotate first against tenth): what the nine earlier messages left for the tenth,
        0.11-0.24 M instructions of 6.4-13.2 M: the RE2 DFA states of their mailing lists' text (RE2::Set::Match 44 k,
        127 k, 58 k, 71 k instructions more; the list's own footer fed ahead takes a third of group 1's, the packages'
        changelog.Debian.gz files, 300,000 characters fed ahead, took 127 k and 132 k off first and tenth alike in group
        0, 36 k and 38 k in group 1: not adopted), and the look- alike search and public-suffix look-ups of the lists'
        domain (one search per group; lru_cache'd look-ups 22-48 k and the search's Python), which no shipped text can
        know and the store can: when it holds the nine (--recorded), first/tenth after a reload is 1.000, 0.998, 1.006,
        0.995, median 0.999 (1.002, 1.005, 1.009, 1.002, median 1.004 without `warm_seen`), after a restart 1.001,
        1.021, 1.024, 1.009, median 1.015 (1.008, 1.023, 1.024, 1.021, median 1.022): a new process still builds the
        lists' DFA states, which the store does not keep. Offline, without the run statistics, reading the store (its
        prepared statements and code paths warm up too) but never writing to it. Bounded by `budget` seconds in all: an
        unreachable store must not hold up the start, and warming up never fails it. The store is read directly, not
        through the metered wrapper `Gateway` puts around it (`ObservedStore`): the store calls and errors an admin sees
        are the mail's."""
        saved = (self.offline, self.store, self.resolver, self.stats)
        self.offline, self.resolver, self.stats = True, None, RunStats()
        self.store = getattr(self.store, "inner", self.store)
        try:
            async with asyncio.timeout(budget):
                for text in itertools.chain(warmup.prose(), warmup.licences(), warmup.system_docs()):
                    warm_sets(text)  # 32 + 14 + 12 ms of CPU; the loop runs between pieces (a reload)
                    await asyncio.sleep(0)
                for label in warmup.CHARSETS:  # the codecs' modules, imported on first lookup
                    python_codec(label)
                for raw in warmup.messages() * WARM_UP_ROUNDS:
                    env = Envelope(mail_from="warm-up@example.net", rcpt_tos=("someone@example.org",),
                                   client=Client(ip="192.0.2.1"), queue_id="warm-up")
                    await self.analyse(raw, env)
                for check in self.checks:  # answers every deployment asks (Check.warm, Shared.warm)
                    check.warm()
                    await asyncio.sleep(0)
                for shared in self.shared:
                    shared.warm()
                    await asyncio.sleep(0)
                if self.store is not None:  # this deployment's correspondents (warmup.seen_domains)
                    try:
                        seen = await self.store.recent(time.time() - warmup.SEEN_DAYS * 86400, warmup.SEEN_MESSAGES)
                    except StoreUnavailable:  # an outage: the rest is warm; the mail will say more
                        log.info("warm-up: the store is unavailable; its senders' domains are not looked up ahead")
                        seen = []
                    domains = warmup.seen_domains(m.sender for m in seen)
                    for shared in self.shared:
                        shared.warm_seen(domains)
                        await asyncio.sleep(0)
            self.warmed_up = True
        except TimeoutError:
            log.warning("warm-up: stopped after %.1f s; the first messages may cost more", budget)
        except Exception:  # warming up must never stop the gateway
            log.warning("warm-up analysis failed", exc_info=True)
        finally:
            self.offline, self.store, self.resolver, self.stats = saved


def _is_unavailable(exc: BaseException) -> bool:
    """A store outage (expected, one line in the log) rather than a bug (logged with traceback)."""
    return isinstance(exc, StoreUnavailable)
