"""Crafted messages and a one-call way to run checks on them (unit tests of the signal checks)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.checks import Check, CheckContext, SharedState, discover, order, run_checks
from gateway.config import Config, parse_config
from gateway.domains import Domains
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView
from gateway.refdata import ReferenceData

BASE_CONFIG = """
listen: 127.0.0.1:0
upstream: {host: 127.0.0.1, port: 10026}
hostname: gw.example.org
local_domains: [example.org, example.ac.uk]
"""


def config(extra: str = "", name: str = "<string>") -> Config:
    return parse_config(BASE_CONFIG + extra, name)


def message(from_: str, body: str = "Hello.\n", *, to: str = "Dana Prof <d.prof@example.ac.uk>",
            subject: str = "Hello", headers: dict[str, str] | None = None, html: str | None = None,
            date: str = "Tue, 06 Oct 2026 09:00:00 +0000") -> bytes:
    lines = [f"From: {from_}", f"To: {to}", f"Subject: {subject}", f"Date: {date}",
             "Message-ID: <t1@test>", "MIME-Version: 1.0"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if html is None:
        lines += ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: 8bit", "", body]
    else:
        lines += ['Content-Type: multipart/alternative; boundary="b1"', "", "--b1",
                  'Content-Type: text/plain; charset="utf-8"', "", body, "--b1",
                  'Content-Type: text/html; charset="utf-8"', "", html, "--b1--", ""]
    return "\r\n".join(lines).encode("utf-8")


def with_providers(checks: list[Check]) -> list[Check]:
    """`checks` plus, for any fact they need that none of them provides, the check providing it
    (unit tests name only the check under test)."""
    out = list(checks)
    provided = {f for c in out for f in c.provides}
    for cls in discover():
        if any(n in cls.provides and n not in provided for c in out for n in c.needs):
            out.append(cls())
            provided |= set(cls.provides)
    return order(out)


def run(checks: list[Any], raw: bytes, cfg: Config | None = None, *, store: Any = None, resolver: Any = None,
        offline: bool = True, rcpts: tuple[str, ...] = (), client_ip: str | None = None,
        mail_from: str = "") -> tuple[list[Signal], dict[str, Any]]:
    """Signals of `checks` (and of the checks providing what they need) on `raw`, and the facts
    they provided by policy name (`facts["persona"].name`)."""
    cfg = cfg or config()
    data = ReferenceData.load(cfg)
    ordered = with_providers(checks)
    for c in ordered:
        c.prepare(cfg, data)
    state = SharedState.for_checks(cfg, data, ordered)  # as the runtime builds it (undeclared use: an error)
    ctx = CheckContext(view=MessageView.parse(raw), envelope=Envelope(mail_from, rcpts, Client(ip=client_ip)),
                       config=cfg, data=data, domains=Domains(cfg.local_domains), offline=offline,
                       resolver=resolver, store=store, state=state)
    result = asyncio.run(run_checks(ordered, ctx))
    wanted = {c.name for c in checks}
    own = [s for s in result.signals if s.name.split(".")[0] in {"check", "analysis"}
           or any(c.spec_of(s.name) for c in ordered if c.name in wanted)]
    return own, {f.policy_name: f for f in ctx.facts() if f.policy_name}


def names(signals: list[Signal]) -> set[str]:
    return {s.name for s in signals}


def one(signals: list[Signal], name: str) -> Signal:
    found = [s for s in signals if s.name == name]
    assert len(found) == 1, f"expected one {name}, got {[str(s) for s in signals]}"
    return found[0]
