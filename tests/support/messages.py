"""Crafted messages and a one-call way to run checks on them (unit tests of the signal checks)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.checks import CheckContext, run_checks
from gateway.config import Config, parse_config
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView

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


def run(checks: list[Any], raw: bytes, cfg: Config | None = None, *, store: Any = None, resolver: Any = None,
        offline: bool = True, rcpts: tuple[str, ...] = (), client_ip: str | None = None,
        mail_from: str = "", facts: dict[str, Any] | None = None) -> tuple[list[Signal], dict[str, Any]]:
    ctx = CheckContext(view=MessageView.parse(raw), envelope=Envelope(mail_from, rcpts, Client(ip=client_ip)),
                       config=cfg or config(), offline=offline, resolver=resolver, store=store,
                       facts=dict(facts or {}))
    signals = asyncio.run(run_checks(checks, ctx))
    return signals, ctx.facts


def names(signals: list[Signal]) -> set[str]:
    return {s.name for s in signals}


def one(signals: list[Signal], name: str) -> Signal:
    found = [s for s in signals if s.name == name]
    assert len(found) == 1, f"expected one {name}, got {[str(s) for s in signals]}"
    return found[0]
