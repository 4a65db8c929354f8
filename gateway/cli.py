"""Command line (contract): serve, scan, policy lint/test, evaluate; learn and hunt (the state store).

Purpose: the entry points operators and tests use (`python -m gateway ...` and the
`approach-gateway` console script). Errors a person reads name the file, the line and the fix;
exit status 2 for usage and configuration errors, 1 for failed checks (lint).

Untrusted input: message files given to `scan` (analysed through the same pipeline as `serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.config import Config, ConfigError, load_config
from gateway.log import setup_logging
from gateway.model import Client, Envelope
from gateway.pipeline import Pipeline, normalize_newlines
from gateway.policy import PolicyError
from gateway.textsafe import json_line, terminal_text
from gateway.yamlmarks import FileError, read_bounded

log = logging.getLogger("gateway.cli")

MAX_SCAN_BYTES = 64 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="approach-gateway",
                                description="SMTP gateway that flags covert inbound approaches")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway until SIGTERM; SIGHUP reloads policies")
    s.add_argument("--config", required=True, help="the gateway's YAML config file")
    sc = sub.add_parser("scan", help="analyse saved messages as the gateway would")
    sc.add_argument("--config", required=True)
    sc.add_argument("--json", action="store_true", help="one JSON object per message")
    sc.add_argument("--offline", action="store_true", help="make no network lookups")
    sc.add_argument("--client-ip")
    sc.add_argument("--helo")
    sc.add_argument("--mail-from", default=None)
    sc.add_argument("--rcpt", action="append", default=[])
    sc.add_argument("files", nargs="+", type=Path)
    le = sub.add_parser("learn", help="import known correspondents from sent mail (mbox or Maildir)")
    le.add_argument("--config", required=True)
    le.add_argument("paths", nargs="+", type=Path, help="mbox files, Maildirs, or folders of them")
    hu = sub.add_parser("hunt", help="search the store's history for an indicator file's indicators")
    hu.add_argument("--config", required=True)
    hu.add_argument("--json", action="store_true", help="one JSON object per match")
    hu.add_argument("indicators", type=Path, help="indicator file (YAML; see gateway/checks/indicators.py)")
    qu = sub.add_parser("quarantine", help="list, show, release, delete or purge held messages")
    qu.add_argument("--config", required=True)
    from gateway.act import quarantine

    quarantine.add_arguments(qu)
    pol = sub.add_parser("policy", help="policy tools")
    psub = pol.add_subparsers(dest="policy_command", required=True)
    from gateway.policy.commands import add_arguments

    add_arguments(psub, sub)
    return p


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.smtp.service import Gateway

    config = _load(args.config)
    setup_logging(config.log.level, config.log.format)
    try:
        gateway = Gateway(config)
    except PolicyError as exc:
        print(f"policy error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(gateway.serve_forever())
    return 0


def scan_envelope(args: argparse.Namespace, raw: bytes) -> Envelope:
    mail_from = args.mail_from
    if mail_from is None:
        from gateway.parse import MessageView

        try:
            mail_from = MessageView.parse(raw[:262_144]).return_path
        except ValueError:
            mail_from = ""
    return Envelope(mail_from=mail_from, rcpt_tos=tuple(args.rcpt),
                    client=Client(ip=args.client_ip, helo=args.helo), queue_id="scan")


async def _scan(args: argparse.Namespace, config: Config) -> int:
    try:
        pipeline = Pipeline(config, offline=args.offline)
    except PolicyError as exc:
        print(f"policy error: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in args.files:
        try:  # regular files only, at most MAX_SCAN_BYTES (a FIFO or /dev/zero is refused)
            raw = read_bounded(path, MAX_SCAN_BYTES, "message file")
        except FileError as exc:
            print(f"{exc}, skipped", file=sys.stderr)
            status = 2
            continue
        raw = normalize_newlines(raw)
        try:
            result = await pipeline.analyse(raw, scan_envelope(args, raw))
        except Exception as exc:  # noqa: BLE001 - report per file, keep scanning
            print(f"{path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 2
            continue
        d = result.decision
        if args.json:
            obj: dict[str, Any] = {
                "file": str(path), "verdict": d.verdict.word, "score": d.score,
                "reasons": [{"id": h.rule_id, "score": h.score, "reason": h.reason} for h in d.hits],
                "headers": [{"name": n, "value": v} for n, v in result.added_headers],
                "signals": [{"name": s.name, "evidence": {k: str(v) for k, v in s.evidence.items()}}
                            for s in result.signals],
                "checked": d.checked,
            }
            print(json_line(obj))  # UTF-8 kept; U+0085/U+2028/U+2029 and controls escaped
        else:
            reasons = "; ".join(f"{h.rule_id} ({h.score:g})" for h in d.hits) or "-"
            print(f"{path}: {d.verdict.word} {d.score:g} {reasons}")
    return status


def cmd_scan(args: argparse.Namespace) -> int:
    config = _load(args.config)
    setup_logging("warning", "text")
    return asyncio.run(_scan(args, config))


def cmd_policy(args: argparse.Namespace) -> int:
    from gateway.policy import commands

    config = _load(args.config) if args.config else None
    if args.command == "evaluate":
        return commands.cmd_evaluate(args, config)
    if args.policy_command == "test":
        return commands.cmd_test(config, args.policies, args.cases)
    return commands.cmd_lint(config, args.paths)


def cmd_learn(args: argparse.Namespace) -> int:
    from gateway.store import store_from_config
    from gateway.store.learn import learn

    config = _load(args.config)
    for path in args.paths:
        if not path.exists():
            print(f"{path}: no such file or directory (give an mbox file or a Maildir)", file=sys.stderr)
            return 2

    async def run() -> int:
        store = store_from_config(config)
        try:
            stats = await learn(store, args.paths, config.local_domains)
        finally:
            await store.close()
        print(f"read {stats.messages} messages, {stats.sent_by_local} sent from "
              f"{', '.join(config.local_domains)}, learned {stats.pairs} correspondent pairs"
              + (f", skipped {stats.skipped} malformed" if stats.skipped else ""))
        return 0
    return asyncio.run(run())


def cmd_hunt(args: argparse.Namespace) -> int:
    import datetime

    from gateway.checks.indicators import IndicatorError, load_indicators
    from gateway.store import store_from_config

    config = _load(args.config)
    try:
        indicators = load_indicators((str(args.indicators),))
    except IndicatorError as exc:
        print(f"indicator error: {exc}", file=sys.stderr)
        return 2
    by_needle = {i.needle: i for i in indicators}

    async def run() -> int:
        store = store_from_config(config)
        try:
            hits = await store.search_history(list(by_needle))
        finally:
            await store.close()
        for h in hits:
            ind = by_needle.get(h.matched)
            when = datetime.datetime.fromtimestamp(h.when, datetime.UTC).strftime("%Y-%m-%d %H:%M")
            if args.json:
                print(json.dumps({"when": when, "direction": h.direction, "sender": h.sender,
                                  "recipients": list(h.recipients), "verdict": h.verdict, "score": h.score,
                                  "rules": list(h.rule_ids), "field": h.field, "matched": h.matched,
                                  "kind": ind.kind if ind else "", "source": ind.source if ind else ""}))
            else:
                print(terminal_text(f"{when} {h.direction} {h.sender} -> {', '.join(h.recipients)}: "
                                    f"{h.verdict} {h.score:g}; {h.field} matched {ind.kind if ind else ''} "
                                    f"{h.matched!r}"))
        print(f"{len(hits)} past messages matched {len(indicators)} indicators", file=sys.stderr)
        return 0
    return asyncio.run(run())


def cmd_quarantine(args: argparse.Namespace) -> int:
    """Quarantine tools; `release` relays through the same upstream path as `serve`."""
    from gateway.act import quarantine
    from gateway.smtp.upstream import UpstreamError, UpstreamSession

    config = _load(args.config)
    args.dir = args.dir or config.quarantine.dir

    async def relay_async(released: quarantine.Released) -> None:
        up = UpstreamSession(config.upstream, config.hostname)
        await up.open()
        try:
            reply = await up.mail(released.mail_from, [])
            if not reply.ok:
                raise UpstreamError(reply, f"MAIL refused: {reply.code} {reply.text}")
            accepted = [r for r in released.rcpt_tos if (await up.rcpt(r, [])).ok]
            if not accepted:
                raise UpstreamError(reply, "every recipient was refused")
            reply = await up.data(released.raw)
            if not reply.ok:
                raise UpstreamError(reply, f"DATA refused: {reply.code} {reply.text}")
        finally:
            await up.quit()

    def relay(released: quarantine.Released) -> None:
        asyncio.run(relay_async(released))

    try:
        return quarantine.run(args, relay)
    except UpstreamError as exc:
        print(f"quarantine: release failed, message kept: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "scan":
        return cmd_scan(args)
    if args.command == "learn":
        return cmd_learn(args)
    if args.command == "hunt":
        return cmd_hunt(args)
    if args.command == "quarantine":
        return cmd_quarantine(args)
    return cmd_policy(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
