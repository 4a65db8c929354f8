"""Command line (contract): serve, scan, policy lint/test, evaluate; learn and hunt (the state store).

Purpose: the entry points operators and tests use (`python -m gateway ...` and the
`approach-gateway` console script). Errors a person reads name the file, the line and the fix;
exit status 2 for usage and configuration errors, 1 for failed checks (lint).

Untrusted input: message files given to `scan` (analysed by the same runtime as `serve`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.act.actions import ActionPlan
from gateway.config import Config, ConfigError, HostPort, load_config
from gateway.errors import AdminInputError, DataError
from gateway.log import setup_logging
from gateway.model import Client, Envelope
from gateway.parse import normalize_newlines
from gateway.runtime import Runtime
from gateway.textsafe import json_line, terminal_text
from gateway.yamlmarks import read_bounded

log = logging.getLogger("gateway.cli")

MAX_SCAN_BYTES = 64 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    from gateway import __version__

    p = argparse.ArgumentParser(prog="approach-gateway",
                                description="SMTP gateway that flags covert inbound approaches")
    p.add_argument("--version", action="version", version=f"approach-gateway {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway until SIGTERM; SIGHUP reloads policies")
    s.add_argument("--config", help="the gateway's YAML config file (default: the embedded defaults: "
                   "listen 127.0.0.1:10025, upstream 127.0.0.1:10026, local domain example.org, "
                   "state under ./state/)")
    s.add_argument("--demo-upstream", metavar="MAILDIR", type=Path,
                   help="also run a demo mail server on the upstream address (loopback only) that "
                   "writes every relayed message to this Maildir: to try the gateway without one")
    s.add_argument("--workers", type=_workers_arg, metavar="N", default=None,
                   help="worker processes sharing the listener: a number, or auto (one per core); "
                   "overrides the config's workers (default there: auto). 1 runs one process, no supervisor")
    s.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)  # started by the supervisor
    sc = sub.add_parser("scan", help="analyse saved messages as the gateway would")
    sc.add_argument("--config", required=True, help="the gateway's YAML config file")
    sc.add_argument("--json", action="store_true", help="one JSON object per message (and per "
                    "unreadable file, with an 'error' field)")
    sc.add_argument("--offline", action="store_true", help="make no network lookups")
    sc.add_argument("--client-ip", help="the connecting client's IP address (for SPF, DNSBL)")
    sc.add_argument("--helo", help="the client's HELO name")
    sc.add_argument("--mail-from", default=None, help="envelope sender (default: the Return-Path "
                    "header)")
    sc.add_argument("--rcpt", action="append", default=[], help="envelope recipient (repeatable)")
    sc.add_argument("files", nargs="+", type=Path, help="message files (RFC 5322)")
    se = sub.add_parser("send", help="submit saved messages over SMTP (e.g. to try the gateway)")
    se.add_argument("--server", default="127.0.0.1:10025", help="HOST:PORT (default 127.0.0.1:10025)")
    se.add_argument("--from", dest="mail_from", default=None,
                    help="envelope sender (default: the Return-Path or From header)")
    se.add_argument("--to", action="append", default=[],
                    help="envelope recipient (repeatable; default: the To and Cc addresses)")
    se.add_argument("files", nargs="+", type=Path,
                    help="message files (RFC 5322; LF or CRLF line ends: sent as CRLF)")
    le = sub.add_parser("learn", help="import known correspondents from sent mail (mbox or Maildir)")
    le.add_argument("--config", required=True, help="the gateway's YAML config file")
    le.add_argument("paths", nargs="+", type=Path, help="mbox files, Maildirs, or folders of them")
    hu = sub.add_parser("hunt", help="search the store's history for an indicator file's indicators")
    hu.add_argument("--config", required=True, help="the gateway's YAML config file")
    hu.add_argument("--json", action="store_true", help="one JSON object per match")
    hu.add_argument("indicators", type=Path, help="indicator file (YAML; format in docs/indicators.md)")
    qu = sub.add_parser("quarantine", help="list, show, release, delete or purge held messages")
    qu.add_argument("--config", help="the gateway's YAML config file (quarantine.dir, retention, and the "
                    "upstream for release); --dir alone works for everything but release")
    from gateway.act import quarantine

    quarantine.add_arguments(qu)
    co = sub.add_parser("console", help="the web console's local accounts and triage labels (docs/console.md)")
    from gateway.admin.console import cli as console_cli

    console_cli.add_arguments(co)
    pol = sub.add_parser("policy", help="policy tools")
    psub = pol.add_subparsers(dest="policy_command", required=True)
    from gateway.policy.commands import add_arguments

    add_arguments(psub, sub)
    return p


def _workers_arg(text: str) -> int | str:
    from gateway.config import MAX_WORKERS

    if text == "auto":
        return text
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_WORKERS} or auto, got {text!r}")
    return int(text)


def _load(path: str) -> Config:
    """The config, or exit 2 after printing every problem in it (`config error: file:line: ...`)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print_errors(exc.kind, exc.errors)
        raise SystemExit(2) from None


def print_errors(kind: str, errors: Sequence[str]) -> None:
    """Every error of an admin's file on its own line of stderr, `KIND: file:line: problem; fix`."""
    for error in errors:
        print(f"{kind}: {error}", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.demo import DemoError, start_demo_upstream
    from gateway.errors import StartupError
    from gateway.smtp.service import Gateway

    if args.worker_fd is not None:
        from gateway.smtp.workers import run_worker

        return run_worker(args.worker_fd)
    config = _load(args.config) if args.config else embedded_config()
    if args.workers is not None:
        config = dataclasses.replace(config, workers=args.workers)
    workers = config.worker_count()
    setup_logging(config.log.level, config.log.format, pid=workers > 1)
    if workers > 1:  # a supervisor and its workers (gateway/smtp/workers.py)
        from gateway.smtp.workers import Supervisor

        return Supervisor(config, workers, args.demo_upstream).main()
    try:
        gateway = Gateway(config, offload=True)
    except AdminInputError as exc:  # policies or reference data: every problem, one a line
        print_errors(exc.kind, exc.errors)
        return 2
    except StartupError as exc:  # e.g. PROMETHEUS_MULTIPROC_DIR not a writable directory
        print(f"approach-gateway: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        if args.demo_upstream is not None:
            up = config.upstream
            await start_demo_upstream(HostPort(up.host, up.port), args.demo_upstream)
            log.warning("demo upstream on %s:%d delivers to the Maildir %s (for trying the gateway only)",
                        up.host, up.port, args.demo_upstream)
        await gateway.serve_forever()

    try:
        asyncio.run(run())
    except (StartupError, DemoError) as exc:
        print(f"approach-gateway: {exc}", file=sys.stderr)
        return 2
    return 0


EMBEDDED_DEFAULTS = """\
listen: 127.0.0.1:10025
upstream: {host: 127.0.0.1, port: 10026}
hostname: localhost
local_domains: [example.org]
store: {backend: sqlite, path: state/store.sqlite3}
quarantine: {dir: state/quarantine}
console: {state_dir: state/console}
"""


def embedded_config() -> Config:
    """`serve` without --config: loopback only, state under ./state/ (relative to the working
    directory), the shipped policies."""
    from gateway.config import parse_config

    return parse_config(EMBEDDED_DEFAULTS, "<embedded defaults>")


def cmd_send(args: argparse.Namespace) -> int:
    from gateway.demo import send_files

    try:
        server = _hostport(args.server)
    except ValueError as exc:
        print(f"send: --server: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path, code, text in send_files(server, args.files, args.mail_from, args.to):
        print(f"{path}: {code} {text}")
        status = status or (0 if code == 250 else 1)
    return status


def _hostport(text: str) -> HostPort:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{text!r} is not HOST:PORT; write e.g. 127.0.0.1:10025")
    return HostPort(host.strip("[]"), int(port))


def scan_envelope(args: argparse.Namespace, raw: bytes) -> Envelope:
    mail_from = args.mail_from
    if mail_from is None:
        from gateway.parse import MessageView

        try:
            mail_from = MessageView.of_header(raw).return_path
        except ValueError:
            mail_from = ""
    return Envelope(mail_from=mail_from, rcpt_tos=tuple(args.rcpt),
                    client=Client(ip=args.client_ip, helo=args.helo), queue_id="scan")


async def _scan(args: argparse.Namespace, config: Config) -> int:
    try:
        runtime = Runtime(config, offline=args.offline)
    except AdminInputError as exc:
        print_errors(exc.kind, exc.errors)
        return 2
    status = 0
    for path in args.files:
        try:
            raw = _read_message(path)
            result = await runtime.analyse(raw, scan_envelope(args, raw))
        except Exception as exc:  # noqa: BLE001 - report per file, keep scanning
            status = 2
            error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            error = re.sub(rf"^{re.escape(str(path))}(?::\d+)?:\s*", "", error)  # FileError names the file
            error = f"{type(exc).__name__}: {error}" if not isinstance(exc, (OSError, ValueError)) else error
            if args.json:
                print(json_line({"file": str(path), "error": error}))
            print(f"{path}: {error}", file=sys.stderr)
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
                "plan": result.plan.summary(raw) if result.plan is not None else ActionPlan(raw).summary(raw),
            }
            print(json_line(obj))  # UTF-8 kept; U+0085/U+2028/U+2029 and controls escaped
        else:
            reasons = "; ".join(f"{h.rule_id} ({h.score:g})" for h in d.hits) or "-"
            print(f"{path}: {d.verdict.word} {d.score:g} {reasons}")
    return status


def _read_message(path: Path) -> bytes:
    """A message file: regular files only, at most MAX_SCAN_BYTES (a FIFO or /dev/zero is
    refused); FileError says why."""
    return normalize_newlines(read_bounded(path, MAX_SCAN_BYTES, "message file"))


def cmd_scan(args: argparse.Namespace) -> int:
    config = _load(args.config)
    setup_logging("warning", "text")
    return asyncio.run(_scan(args, config))


def cmd_policy(args: argparse.Namespace) -> int:
    from gateway.policy import commands

    config = None
    if getattr(args, "config", None):
        try:
            config = load_config(args.config)
        except ConfigError as exc:  # exit 2: a configuration error; `policy lint` prints it as its own
            if getattr(args, "policy_command", None) == "lint":
                commands.print_lint(exc.errors)
            else:
                print_errors(exc.kind, exc.errors)
            return 2
    if args.command == "evaluate":
        return commands.cmd_evaluate(args, config)
    if args.policy_command == "fit":
        return commands.cmd_fit(args, config)
    if args.policy_command == "signals":
        from gateway.checks.docs import markdown_table, plain_lines

        print(markdown_table() if args.markdown else "\n".join(plain_lines()))
        return 0
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

    from gateway.refdata import load_indicator_file
    from gateway.store import store_from_config

    config = _load(args.config)
    try:
        indicators = load_indicator_file(str(args.indicators))
    except DataError as exc:
        print_errors("indicator error", exc.errors)
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
    """Quarantine tools; `release` relays through the executor's release, as the console does."""
    from gateway.act import quarantine
    from gateway.act.execute import Relayed

    if args.config is None and (args.dir is None or args.quarantine_command == "release"):
        print("quarantine: give --config FILE (release needs the upstream from it), or --dir DIR",
              file=sys.stderr)
        return 2
    config = _load(args.config) if args.config else None
    args.dir = args.dir or (config.quarantine.dir if config else None)
    args.retention_days = config.quarantine.retention_days if config else None

    def relay(released: quarantine.Released) -> Relayed:
        from gateway.smtp.upstream import release

        assert config is not None
        return asyncio.run(release(config, released.mail_from, released.rcpt_tos, released.raw))

    return quarantine.run(args, relay)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "scan":
        return cmd_scan(args)
    if args.command == "send":
        return cmd_send(args)
    if args.command == "learn":
        return cmd_learn(args)
    if args.command == "hunt":
        return cmd_hunt(args)
    if args.command == "quarantine":
        return cmd_quarantine(args)
    if args.command == "console":
        from gateway.admin.console import cli as console_cli

        return console_cli.run(args, _load(args.config))
    return cmd_policy(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
