"""Checks: each reads the message view and the envelope and emits signals, nothing else.

Purpose: the contract every check follows (STYLE.md rule 1): a check declares the fixed names of
the signals it may emit (`SIGNALS`), receives a `CheckContext` and returns signals with evidence.
It never replies to SMTP, never edits the message and never scores. Network I/O goes through
`ctx.resolver` (one shared cached resolver with deadlines); a timeout is a `*.temperror` signal.

Untrusted input: everything in the context except `config`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gateway.config import Config
from gateway.model import Envelope, Signal
from gateway.parse import MessageView


@dataclass
class CheckContext:
    """What a check may read. `facts` carries results earlier checks share (e.g. auth results)."""

    view: MessageView
    envelope: Envelope
    config: Config
    offline: bool = False
    resolver: Any = None  # gateway.dns.Resolver when network checks run
    store: Any = None  # gateway.store.Store when a store is configured
    facts: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Check(Protocol):
    """One family of signals. `SIGNALS` lists every name `run` may emit."""

    name: str
    SIGNALS: frozenset[str]

    async def run(self, ctx: CheckContext) -> Iterable[Signal]: ...


async def run_checks(checks: Iterable[Check], ctx: CheckContext) -> list[Signal]:
    """Run checks in order (later ones may read `ctx.facts` of earlier ones).

    A check that raises emits `check.error` with its name instead of failing the message; a
    signal whose name the check did not declare is a programming error and raises.
    """
    out: list[Signal] = []
    for check in checks:
        try:
            produced = list(await check.run(ctx))
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken check must not lose the message
            out.append(Signal("check.error", {"check": check.name, "error": type(exc).__name__}))
            continue
        for sig in produced:
            if sig.name not in check.SIGNALS:
                raise AssertionError(f"check {check.name} emitted undeclared signal {sig.name}")
        out.extend(produced)
    return out


def default_checks(config: Config) -> list[Check]:
    """The checks `serve` and `scan` run, in order."""
    from gateway.checks.auth import AuthCheck
    from gateway.checks.structure import StructureCheck

    return [AuthCheck(), StructureCheck()]
