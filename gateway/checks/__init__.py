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
    """The checks `serve` and `scan` run, in order.

    Authentication runs first (later checks read `facts["auth"]`); social unwrapping next so
    identity, content and indicator checks see the persona;
    store-dependent checks tolerate `ctx.store is None`; network checks skip when offline.
    """
    from gateway.checks.auth import AuthCheck
    from gateway.checks.content import ContentCheck
    from gateway.checks.identity import IdentityCheck
    from gateway.checks.indicators import IndicatorCheck
    from gateway.checks.reputation import ReputationCheck
    from gateway.checks.sender import SenderCheck
    from gateway.checks.social import SocialUnwrapCheck
    from gateway.checks.structure import StructureCheck

    return [AuthCheck(), StructureCheck(), SocialUnwrapCheck(), SenderCheck(), IdentityCheck(), ContentCheck(),
            IndicatorCheck(), ReputationCheck()]


_REGISTERED_SIGNALS: set[str] = {"check.error"}


def register_signals(names: Iterable[str]) -> None:
    """Declare signal names emitted outside `default_checks` (optional checks, plugins) so
    `policy lint` accepts rules that use them."""
    _REGISTERED_SIGNALS.update(names)


def known_signals(config: Config | None = None) -> frozenset[str]:
    """Every signal name a policy may use: the SIGNALS of `default_checks(config)` plus the
    registered ones. Without a config, a minimal one is used (checks declare names statically)."""
    if config is None:
        from gateway.config import HostPort, UpstreamConfig

        config = Config(listen=HostPort("127.0.0.1", 0), upstream=UpstreamConfig(),
                        hostname="localhost", authserv_id="localhost", local_domains=())
    names = set(_REGISTERED_SIGNALS)
    for check in default_checks(config):
        names.update(check.SIGNALS)
    return frozenset(names)
