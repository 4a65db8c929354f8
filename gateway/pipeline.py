"""One message: deadline, parse -> checks -> policy -> act. Shared by `serve` and `scan`.

Purpose: the single path every message takes, so `scan` reports exactly what `serve` would do.
One deadline (`limits.analysis_timeout`) covers parse, checks and policy; when analysis fails or
runs out of time, `on_error` decides: `accept` relays with the contract headers marking the
message as unchecked, `tempfail` makes the receiver answer 451.

Untrusted input: the raw message bytes and envelope (a stranger's). Nothing here talks SMTP.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.act.actions import ActionPlan, plan
from gateway.act.headers import apply_edits, received_value, removal_edits, verdict_edits
from gateway.checks import Check, CheckContext, default_checks, run_checks
from gateway.config import Config
from gateway.model import Decision, Envelope, HeaderEdit, Signal, Verdict
from gateway.parse import HeaderLimitExceeded, MessageView, ViewLimits
from gateway.policy import PolicySet, load_policies
from gateway.store import store_from_config
from gateway.store.record import draft_meta, final_meta

log = logging.getLogger("gateway.pipeline")

_INLINE_BYTES = 262_144  # larger messages are parsed and bannered in a worker thread
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_LINE_ENDINGS = re.compile(rb"\r\n|\r|\n")


def has_bare_newline(raw: bytes) -> bool:
    """A lone CR or LF: the raw material of SMTP smuggling (CVE-2023-51764 and kin)."""
    return _BARE.search(raw) is not None


def normalize_newlines(raw: bytes) -> bytes:
    """Every CR, LF or CRLF becomes CRLF (Postfix's smtpd_forbid_bare_newline=normalize)."""
    return _LINE_ENDINGS.sub(b"\r\n", raw)


class AnalysisFailed(Exception):
    """Analysis failed or timed out and `on_error: tempfail` is set: answer 451."""


@dataclass(frozen=True)
class Result:
    decision: Decision
    signals: tuple[Signal, ...]
    edits: tuple[HeaderEdit, ...]
    elapsed: float
    facts: dict[str, Any] = field(default_factory=dict)
    plan: ActionPlan | None = None  # banner, subject tag, copies, quarantine, reject
    modified: bool = False  # the act step changed the body or a signed header (ARC seal worth adding)

    def apply(self, raw: bytes) -> bytes:
        """The bytes to relay: the (possibly bannered) body with every header edit applied."""
        if self.plan is None:
            return apply_edits(raw, self.edits)
        return apply_edits(self.plan.raw, self.edits + self.plan.edits)

    @property
    def added_headers(self) -> list[tuple[str, str]]:
        return [(e.name, e.value) for e in self.edits if e.value is not None]


def view_limits(config: Config) -> ViewLimits:
    lim = config.limits
    return ViewLimits(max_header_count=lim.max_header_count, max_header_bytes=lim.max_header_bytes,
                      max_mime_depth=lim.max_mime_depth, max_mime_parts=lim.max_mime_parts,
                      max_text_bytes=lim.max_text_bytes)


class Pipeline:
    """Holds what is shared between messages (config, checks, policies); `analyse` is per message.

    `policies` may be swapped atomically (SIGHUP): each message reads the attribute once.
    """

    def __init__(self, config: Config, policies: PolicySet | None = None,
                 checks: Sequence[Check] | None = None, *, offline: bool = False,
                 resolver: Any = None, store: Any = None) -> None:
        self.config = config
        self.policies = policies if policies is not None else load_policies(config.policies)
        self.checks = list(checks) if checks is not None else default_checks(config)
        self.offline = offline
        if resolver is None and not offline:
            from gateway.dns import resolver_from_config

            resolver = resolver_from_config(config)
        self.resolver = resolver
        self.store = store if store is not None else store_from_config(config)
        self.limits = view_limits(config)

    async def _decide(self, raw: bytes, envelope: Envelope) -> tuple[Decision, list[Signal], dict[str, Any],
                                                                     ActionPlan]:
        policies = self.policies  # one consistent snapshot for this message
        big = len(raw) > _INLINE_BYTES
        view = await asyncio.to_thread(MessageView.parse, raw, self.limits) if big \
            else MessageView.parse(raw, self.limits)
        ctx = CheckContext(view=view, envelope=envelope, config=self.config, offline=self.offline,
                           resolver=self.resolver, store=self.store)
        signals = await run_checks(self.checks, ctx)
        try:
            ctx.facts["message_meta"] = draft_meta(view, envelope, self.config.local_domains,
                                                   ctx.facts.get("persona"))
        except Exception:  # noqa: BLE001 - history is a nicety; the verdict must not depend on it
            log.warning("store: no metadata for %s", envelope.queue_id, exc_info=True)
        decision = policies.evaluate(signals, view, envelope, facts=ctx.facts)
        todo = await asyncio.to_thread(plan, decision, view, raw, policies.actions) if big \
            else plan(decision, view, raw, policies.actions)
        return decision, signals, ctx.facts, todo

    async def analyse(self, raw: bytes, envelope: Envelope, *, with_tls: bool = False,
                      add_received: bool = True) -> Result:
        """Decide and build the edits for one message. Raises HeaderLimitExceeded (reject) or
        AnalysisFailed (tempfail); every other failure follows `on_error`."""
        start = time.monotonic()
        signals: list[Signal] = []
        facts: dict[str, Any] = {}
        todo: ActionPlan | None = None
        try:
            async with asyncio.timeout(self.config.limits.analysis_timeout):
                decision, signals, facts, todo = await self._decide(raw, envelope)
        except HeaderLimitExceeded:
            raise
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - on_error decides, never lose mail
            what = "analysis timed out" if isinstance(exc, TimeoutError) else \
                f"analysis failed ({type(exc).__name__})"
            log.warning("%s for queue id %s", what, envelope.queue_id,
                        exc_info=not isinstance(exc, TimeoutError))
            if self.config.on_error == "tempfail":
                raise AnalysisFailed(what) from exc
            decision = Decision(verdict=Verdict.CAUTION, score=0.0, checked=False, note=what)
        edits: list[HeaderEdit] = removal_edits(self.config.authserv_id)
        if add_received:
            edits.append(HeaderEdit("Received", received_value(
                envelope, self.config.hostname, with_tls=with_tls)))
        auth_results = facts.get("authentication_results")
        if auth_results:
            edits.append(HeaderEdit("Authentication-Results", auth_results))
        edits.extend(verdict_edits(decision))
        if "message_meta" in facts:
            facts["message_meta"] = final_meta(facts["message_meta"], decision, signals)
        return Result(decision=decision, signals=tuple(signals), edits=tuple(edits),
                      elapsed=time.monotonic() - start, facts=facts, plan=todo,
                      modified=todo is not None and (bool(todo.edits) or todo.raw != raw))

    async def record(self, result: Result) -> None:
        """Remember a relayed message's metadata (call after the upstream accepted it).
        Never raises: a broken store must not fail mail that was already accepted."""
        meta = result.facts.get("message_meta")
        if self.store is None or meta is None:
            return
        try:
            await self.store.record_message(meta, self.config.local_domains)
        except Exception:  # noqa: BLE001 - logged; the message is already delivered
            log.warning("store: could not record message %s", meta.message_id, exc_info=True)
