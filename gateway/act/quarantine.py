"""The quarantine: messages held back with their verdict, for the security team to review.

Purpose: store a message durably (file fsynced, directory fsynced, SQLite index committed with
synchronous=FULL) before the gateway answers 250; list, show, release (the exact stored bytes
and envelope, for the caller to relay through the normal upstream path), delete, and purge
entries older than the retention limit. Also the `quarantine ...` command-line functions.

All functions are blocking file I/O: the SMTP server calls `QuarantineStore.put` through
`asyncio.to_thread`. Untrusted input: the stored message bytes and envelope addresses (never
interpreted here; `list` and `show` print them through `gateway.textsafe.terminal_text`: C0 and
C1 controls, DEL and bidi controls shown as visible escapes). IDs given on the command line are
validated before they become file names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.act.headers import reasons_value
from gateway.durable import fsync_dir, write_new
from gateway.model import Decision, Envelope
from gateway.parse import split_header_block
from gateway.textsafe import terminal_text

if TYPE_CHECKING:
    from gateway.act.execute import Relayed

DEFAULT_RETENTION_DAYS = 30
STALE_PARTIAL = 3600  # seconds: a `<id>.tmp` this old is no write in progress (purge removes it)
# seconds after which a release that never said how it ended (its process killed between the claim and the upstream's
# answer) may be tried again: longer than any relay takes (the upstream's timeouts are minutes). Until then nobody
# else releases or deletes it (atk45 #3: three concurrent releases delivered the message twice, and a delete during a
# release was overwritten by its "released")
RELEASE_STALE = 3600
_SELECT = "SELECT id, time, verdict, score, reasons, mail_from, rcpt_tos, size, queue_id, status FROM quarantine"
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT PRIMARY KEY, time REAL NOT NULL, verdict TEXT NOT NULL, score REAL NOT NULL,
    reasons TEXT NOT NULL, mail_from TEXT NOT NULL, rcpt_tos TEXT NOT NULL, size INTEGER NOT NULL,
    queue_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'held', claimed REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS quarantine_time ON quarantine (time);
"""


class QuarantineError(LookupError):
    """Unknown or malformed quarantine id, or an entry whose file is missing."""


class QuarantineBusy(QuarantineError):
    """The entry is being released, or no longer held (released, deleted): nothing done."""


class QuarantineMissing(QuarantineError):
    """The command line named a quarantine directory that is not there (a typo, or nothing was ever held)."""


@dataclass(frozen=True)
class Entry:
    id: str
    time: float
    verdict: str
    score: float
    reasons: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    size: int
    queue_id: str = ""
    status: str = "held"


@dataclass(frozen=True)
class Released:
    """What to relay: the exact stored bytes and the original envelope."""

    entry: Entry
    raw: bytes

    @property
    def mail_from(self) -> str:
        return self.entry.mail_from

    @property
    def rcpt_tos(self) -> tuple[str, ...]:
        return self.entry.rcpt_tos


class QuarantineStore:
    """A directory of `<id>.eml` files plus `index.sqlite3`."""

    def __init__(self, directory: str | Path, retention_days: int = DEFAULT_RETENTION_DAYS, *,
                 create: bool = True) -> None:
        """`create`: make the directory when missing (`serve`); the command line passes False and
        gets QuarantineMissing instead (a typo in `--dir` must not answer "nothing held", nor make
        a directory, root-owned when root runs it)."""
        self.dir = Path(directory)
        self.messages = self.dir / "messages"
        self.retention_days = retention_days
        if not create and not (self.dir / "index.sqlite3").is_file():
            what = "no such directory" if not self.dir.exists() else "not a quarantine directory (no index.sqlite3)"
            raise QuarantineMissing(f"{self.dir}: {what}; check --dir or the config's quarantine.dir (serve "
                                    "creates it at start when a policy holds messages)")
        self.messages.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._db() as db:
            db.executescript(_SCHEMA)
            if "claimed" not in {row[1] for row in db.execute("PRAGMA table_info(quarantine)")}:  # (an older index)
                db.execute("ALTER TABLE quarantine ADD COLUMN claimed REAL NOT NULL DEFAULT 0")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.dir / "index.sqlite3", timeout=30)
        try:
            db.execute("PRAGMA synchronous=FULL")
            with db:
                yield db
        finally:
            db.close()

    def path(self, entry_id: str) -> Path:
        if not _ID.match(entry_id):
            raise QuarantineError(f"{entry_id!r} is not a quarantine id; copy one from 'quarantine list'")
        return self.messages / f"{entry_id}.eml"

    def put(self, raw: bytes, envelope: Envelope, decision: Decision, *, now: float | None = None) -> str:
        """Store durably and return the new id. Returns only after data and index are on disk."""
        now = time.time() if now is None else now
        entry_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(6)
        final = self.path(entry_id)
        tmp = final.with_suffix(".tmp")
        try:
            write_new(tmp, raw)
            os.replace(tmp, final)
            fsync_dir(self.messages)
            with self._db() as db:
                db.execute("INSERT INTO quarantine (id, time, verdict, score, reasons, mail_from, rcpt_tos, size, "
                           "queue_id, status) VALUES (?,?,?,?,?,?,?,?,?,?)", (
                    entry_id, now, decision.verdict.word, decision.score, reasons_value(decision),
                    envelope.mail_from, json.dumps(list(envelope.rcpt_tos)), len(raw),
                    envelope.queue_id, "held"))
        except BaseException:
            # Disk full, I/O or index error: the client hears 4xx and sends again, so the partial
            # (or unindexed) file goes now, as Postfix removes a half-written queue file; else
            # each retry on a full disk would leave one more.
            for leftover in (tmp, final):
                with suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise
        return entry_id

    async def put_async(self, raw: bytes, envelope: Envelope, decision: Decision) -> str:
        """`put` off the event loop (STYLE.md rule 2): what the SMTP server awaits before 250."""
        return await asyncio.to_thread(self.put, raw, envelope, decision)

    @staticmethod
    def _entry(row: tuple[object, ...]) -> Entry:
        eid, t, verdict, score, reasons, mail_from, rcpts, size, qid, status = row
        return Entry(id=str(eid), time=float(t), verdict=str(verdict),  # type: ignore[arg-type]
                     score=float(score), reasons=str(reasons),  # type: ignore[arg-type]
                     mail_from=str(mail_from), rcpt_tos=tuple(json.loads(str(rcpts))),
                     size=int(size), queue_id=str(qid), status=str(status))  # type: ignore[call-overload]

    def list(self, *, verdict: str | None = None, limit: int = 100) -> list[Entry]:
        query = _SELECT + " WHERE status IN ('held', 'releasing')"
        args: list[object] = []
        if verdict:
            query += " AND verdict = ?"
            args.append(verdict)
        query += " ORDER BY time DESC LIMIT ?"
        args.append(limit)
        with self._db() as db:
            return [self._entry(r) for r in db.execute(query, args)]

    def get(self, entry_id: str) -> Entry:
        self.path(entry_id)
        with self._db() as db:
            row = db.execute(_SELECT + " WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise QuarantineError(f"no quarantined message {entry_id}; see 'quarantine list'")
        return self._entry(row)

    def read(self, entry_id: str) -> bytes:
        try:
            return self.path(entry_id).read_bytes()
        except FileNotFoundError:
            raise QuarantineError(f"message file for {entry_id} is missing") from None

    def release(self, entry_id: str, *, now: float | None = None) -> Released:
        """The stored bytes and envelope, the entry claimed for this release (in one UPDATE: a second release or a
        delete meanwhile is refused); call `mark_released` once the relay accepted them, `unclaim` when it did not."""
        entry = self.get(entry_id)
        now = time.time() if now is None else now
        with self._db() as db:
            claimed = db.execute("UPDATE quarantine SET status = 'releasing', claimed = ? WHERE id = ? AND "
                                 "(status = 'held' OR (status = 'releasing' AND claimed < ?))",
                                 (now, entry_id, now - RELEASE_STALE)).rowcount
        if claimed != 1:
            raise QuarantineBusy(self._busy(entry_id))
        try:
            return Released(entry=entry, raw=self.read(entry_id))
        except BaseException:
            self.unclaim(entry_id)
            raise

    def unclaim(self, entry_id: str) -> None:
        """The release claimed by `release` did not happen (refused, failed): the entry is held again."""
        with self._db() as db:
            db.execute("UPDATE quarantine SET status = 'held', claimed = 0 WHERE id = ? AND status = 'releasing'",
                       (entry_id,))

    def mark_released(self, entry_id: str) -> None:
        self._forget(entry_id, "UPDATE quarantine SET status = 'released' WHERE id = ? AND status = 'releasing'", ())

    def delete(self, entry_id: str, *, now: float | None = None) -> None:
        self.get(entry_id)
        now = time.time() if now is None else now
        if not self._forget(entry_id, "UPDATE quarantine SET status = 'deleted' WHERE id = ? AND "
                            "(status = 'held' OR (status = 'releasing' AND claimed < ?))", (now - RELEASE_STALE,)):
            raise QuarantineBusy(self._busy(entry_id))

    def _busy(self, entry_id: str) -> str:
        status = self.get(entry_id).status
        if status == "releasing":
            return (f"{entry_id} is being released; if that release was cut off (its process killed), it may be "
                    f"tried again {RELEASE_STALE // 60} minutes after it began (check the upstream's log first)")
        return f"{entry_id} was already {status}"

    def _forget(self, entry_id: str, update: str, more: tuple[object, ...]) -> bool:
        with self._db() as db:
            changed = db.execute(update, (entry_id, *more)).rowcount
        if changed:
            self.path(entry_id).unlink(missing_ok=True)
        return bool(changed)

    def purge(self, days: int | None = None, *, now: float | None = None) -> int:
        """Delete entries older than `days` (default: the retention limit; 0: every entry); returns how many."""
        if days is not None and days < 0:
            raise ValueError(f"days must be 0 or more, not {days}")
        cutoff = (time.time() if now is None else now) - 86400 * (self.retention_days if days is None else days)
        with self._db() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM quarantine WHERE time < ?", (cutoff,))]
            db.execute("DELETE FROM quarantine WHERE time < ?", (cutoff,))
        for eid in ids:
            self.path(eid).unlink(missing_ok=True)
        self._purge_partial(now)
        return len(ids)

    def _purge_partial(self, now: float | None) -> None:
        """Remove `<id>.tmp` files older than STALE_PARTIAL seconds: what a `put` cut short by
        a crash (kill -9, power loss) left; `put` itself removes its file on any error. A live
        `put` writes for seconds, never an hour."""
        cutoff = (time.time() if now is None else now) - STALE_PARTIAL
        for tmp in self.messages.glob("*.tmp"):
            with suppress(OSError):  # gone meanwhile (another worker's purge), or unreadable: next time
                if _ID.match(tmp.stem) and tmp.stat().st_mtime < cutoff:
                    tmp.unlink()


# --------------------------------------------------------------------------- command line

Relay = Callable[[Released], "Relayed | None"]
"""Relays a released message: `quarantine release` passes the executor's release (gateway/smtp/
upstream.py `release`), which reports what the upstream did; None means delivered to every recipient."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`quarantine --dir DIR list|show ID|release ID|delete ID|purge [--days N]`."""
    parser.add_argument("--dir", help="the quarantine directory (default: the config's quarantine.dir)")
    sub = parser.add_subparsers(dest="quarantine_command", required=True)
    ls = sub.add_parser("list", help="held messages, newest first")
    ls.add_argument("--verdict")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true")
    for name, text in (("show", "print the entry and the message headers"),
                       ("release", "relay the stored message to its original recipients"),
                       ("delete", "delete the message")):
        sub.add_parser(name, help=text).add_argument("id")
    purge = sub.add_parser("purge", help="delete entries older than the retention limit "
                           "(the config's quarantine.retention_days)")
    purge.add_argument("--days", type=_days, default=None,
                       help="delete entries older than this many days instead (0: every entry)")


def _days(text: str) -> int:
    """`purge --days`: a whole number, 0 or more (0 purges every entry, as Postfix's `postsuper -d ALL`)."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if days < 0:
        raise argparse.ArgumentTypeError(f"{days} is negative; write 0 (every entry) or more")
    return days


def cmd_list(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    entries = QuarantineStore(args.dir, create=False).list(verdict=getattr(args, "verdict", None),
                                             limit=getattr(args, "limit", 100))
    for e in entries:
        if getattr(args, "json", False):
            out.write(json.dumps(asdict(e)) + "\n")
        else:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.time))
            being = "  (being released)" if e.status == "releasing" else ""  # (review45b #8)
            out.write(terminal_text(f"{e.id}  {when}  {e.verdict:<10} {e.score:>6}  <{e.mail_from}> -> "
                                    f"{', '.join(e.rcpt_tos)}  ({e.size} bytes){being}") + "\n")
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    store = QuarantineStore(args.dir, create=False)
    entry = store.get(args.id)
    for key, value in asdict(entry).items():
        out.write(terminal_text(f"{key}: {value}") + "\n")
    block, _ = split_header_block(store.read(args.id))
    text = block.decode("utf-8", "replace").replace("\r\n", "\n")
    out.write("\n" + terminal_text(text, keep_newlines=True))
    return 0


def cmd_release(args: argparse.Namespace, relay: Relay, out: TextIO = sys.stdout) -> int:
    """Hand the stored message to `relay` (the gateway's upstream path); mark it released only
    once the upstream took it. Refused (or `relay` raised): the message stays held, exit 1."""
    store = QuarantineStore(args.dir, create=False)
    released = store.release(args.id)
    try:
        done = relay(released)
    except BaseException:
        store.unclaim(args.id)
        raise
    if done is not None and not done.delivered:
        store.unclaim(args.id)
        sys.stderr.write(terminal_text(f"quarantine: release failed, message kept: {done.summary()}") + "\n")
        return 1
    store.mark_released(args.id)
    to = done.summary() if done is not None else "to " + ", ".join(released.rcpt_tos)
    out.write(terminal_text(f"released {args.id} {to}") + "\n")
    return 0


def cmd_delete(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    QuarantineStore(args.dir, create=False).delete(args.id)
    out.write(f"deleted {args.id}\n")
    return 0


def cmd_purge(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    retention = getattr(args, "retention_days", None) or DEFAULT_RETENTION_DAYS
    count = QuarantineStore(args.dir, retention, create=False).purge(getattr(args, "days", None))
    out.write(f"purged {count} message(s)\n")
    return 0


def run(args: argparse.Namespace, relay: Relay, out: TextIO = sys.stdout) -> int:
    """Dispatch a parsed `quarantine` command; errors print one line and return 1 (2: no such
    quarantine directory, a usage error)."""
    try:
        if args.quarantine_command == "release":
            return cmd_release(args, relay, out)
        command = {"list": cmd_list, "show": cmd_show, "delete": cmd_delete,
                   "purge": cmd_purge}[args.quarantine_command]
        return command(args, out)
    except QuarantineMissing as exc:
        sys.stderr.write(f"quarantine: {exc}\n")
        return 2
    except QuarantineError as exc:
        sys.stderr.write(f"quarantine: {exc}\n")
        return 1
