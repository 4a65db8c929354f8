"""`approach-gateway console ...`: local accounts and the triage labels, from the command line.

Purpose: accounts are managed here, not in the browser (a stolen session cannot make itself an
admin): `user add NAME --role ROLE` (password asked twice on the terminal, or one line on
standard input with --password-stdin), `user passwd`, `user role`, `user delete` (each ends the
account's sessions), `user list`; `user lockouts` lists the account names and client addresses
with failed logins on record (locked ones first) and `user unlock NAME` / `user unlock --address
ADDR` lifts a login throttle's lock at once; `labels --out FILE` writes the triaged reports as an
`evaluate --labels` / `policy fit --labels` file; `reports purge [--days N]` deletes the reports
and their originals older than `console.report_retention_days` (as `serve` does hourly). Every
change is in the audit log.

Untrusted input: none (the operator's arguments, validated).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from gateway.admin.console.db import ROLES, AccountError, ConsoleDB
from gateway.config import Config
from gateway.textsafe import terminal_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the gateway's YAML config file (console.state_dir)")
    sub = parser.add_subparsers(dest="console_command", required=True)
    user = sub.add_parser("user", help="local console accounts")
    us = user.add_subparsers(dest="user_command", required=True)
    add = us.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES,
                     help="viewer (read), analyst (+ triage, indicators, quarantine, try edits), admin (+ save "
                          "policies, audit log), reporter (the report page only)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw = us.add_parser("passwd", help="set an account's password (ends its sessions)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    role = us.add_parser("role", help="change an account's role (ends its sessions)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    rm = us.add_parser("delete", help="delete an account (ends its sessions)")
    rm.add_argument("name")
    us.add_parser("list", help="accounts and roles")
    unlock = us.add_parser("unlock", help="lift the login lock of an account name and/or a client address "
                                          "(forgets their failed logins)")
    unlock.add_argument("name", nargs="?", default="", help="the account name as typed at the login form")
    unlock.add_argument("--address", default="", help="a client address (an IPv6 one lifts its /64)")
    us.add_parser("lockouts", help="account names and addresses with failed logins on record, locked ones first")
    lab = sub.add_parser("labels", help="write the triaged reports as an evaluate --labels file")
    lab.add_argument("--out", required=True, help="file to write (YAML)")
    rep = sub.add_parser("reports", help="the staff reports kept for triage")
    rs = rep.add_subparsers(dest="reports_command", required=True)
    purge = rs.add_parser("purge", help="delete reports and their originals older than "
                                        "console.report_retention_days (serve does it hourly)")
    purge.add_argument("--days", type=_days, help="older than this many days instead (at least 1)")


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: write a whole number of days, at least 1")
    return days


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ; try again")
    return first


def run(args: argparse.Namespace, config: Config) -> int:
    db = ConsoleDB(config.console.state_dir)
    operator = f"cli:{getpass.getuser()}"
    try:
        if args.console_command == "reports":
            days = config.console.report_retention_days if args.days is None else args.days
            n = db.purge_reports(days)
            db.audit(operator, "cli", "reports.purge", "", f"{n} older than {days} days")
            print(f"purged {n} report(s) older than {days} days")
            return 0
        if args.console_command == "labels":
            from gateway.admin.console.app import labels_yaml

            text = labels_yaml(db)
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
            db.audit(operator, "cli", "export.labels", args.out)
            print(f"wrote {text.count('- file:')} labelled reports to {args.out}")
            return 0
        cmd = args.user_command
        if cmd == "list":
            for name, role, created in db.users():
                print(f"{name}\t{role}\t{time.strftime('%Y-%m-%d', time.gmtime(created))}")
            return 0
        if cmd == "lockouts":
            now = time.time()
            for lock in db.lockouts(now):
                until = (f"locked until {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(lock.locked_until))}"
                         if lock.locked_until > now else "not locked")
                print(f"{lock.kind}\t{terminal_text(lock.key)}\t{lock.failures} failures\t{until}\t"
                      f"{lock.lockouts} lockouts\t{lock.refused} refused")
            return 0
        if cmd == "unlock":
            if not args.name and not args.address:
                raise AccountError("name an account (user unlock NAME) or an address (--address ADDR), or both")
            n = db.unlock(args.name, args.address)
            db.audit(operator, "cli", "user.unlock", args.name or args.address,
                     f"address {args.address}" if args.name and args.address else "")
            what = " and ".join(x for x in (args.name, args.address) if x)
            print(f"unlock: {what}: " + ("done" if n else "no failed logins on record"))
            return 0
        if cmd == "add":
            db.check_name(args.name)
            db.add_user(args.name, args.role, _password(args))
            db.audit(operator, "cli", "user.add", args.name, args.role)
        elif cmd == "passwd":
            db.set_password(args.name, _password(args))
            db.audit(operator, "cli", "user.passwd", args.name)
        elif cmd == "role":
            db.set_role(args.name, args.role)
            db.audit(operator, "cli", "user.role", args.name, args.role)
        elif cmd == "delete":
            db.delete_user(args.name)
            db.audit(operator, "cli", "user.delete", args.name)
        print(f"{cmd}: {args.name}: done")
        return 0
    except (AccountError, OSError) as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 1
