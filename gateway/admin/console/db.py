"""The console's own state: accounts, sessions, the triage queue and the audit log (one SQLite file).

Purpose: everything the console remembers lives in `console.state_dir/console.sqlite3` (mode
0600, WAL) plus the reported originals in `console.state_dir/reports/ID.eml`. The gateway's store
never holds bodies; reported originals are the exception staff chose to send to the security
team, kept here (not in the store) so `evaluate --labels` and `policy fit` can read them, until
`console.report_retention_days` (`purge_reports`, hourly in `serve`, or `console reports purge`).

Passwords are hashed with scrypt (stdlib `hashlib.scrypt`, N=2^15, r=8, p=1, 16-byte salt; the
parameters are stored with each hash so they can be raised later); session tokens are random
(32 bytes) and only their SHA-256 is stored. All methods are blocking: the web handlers call them
through `asyncio.to_thread`.

Failed logins are counted per account name and per client address in the same file (so every
console process sharing `state_dir` sees them): `login_begin` refuses an attempt while its name or
address is locked, before any password is checked, and counts it as in flight (a burst of
concurrent guesses gets exactly as many password checks as the limit leaves); `login_end` records
the outcome, locking a name or address that reaches its limit for `lockout` seconds, doubled at
each further lockout up to `lockout_max`. A success clears the account name's record (not the
address's: an attacker's own account must not reset the address). Each read-modify-write is one
`BEGIN IMMEDIATE` transaction.

Untrusted input: reported messages' metadata (a stranger's names and subjects) stored as bound
parameters; account names and passwords from the CLI (validated).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.durable import write_new

ROLES = ("reporter", "viewer", "analyst", "admin")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_REPORT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$")
MIN_PASSWORD = 10
STATUSES = ("new", "approach", "not_approach")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, pw_hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, via TEXT NOT NULL,
    csrf TEXT NOT NULL, created REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY, time REAL NOT NULL, source TEXT NOT NULL, reporter TEXT NOT NULL,
    message_id TEXT NOT NULL, subject TEXT NOT NULL, sender TEXT NOT NULL, display_name TEXT NOT NULL,
    verdict TEXT NOT NULL, score REAL NOT NULL, analysis TEXT NOT NULL, has_original INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'new', decided_by TEXT NOT NULL DEFAULT '', decided_at REAL,
    note TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS reports_time ON reports (time);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (
    kind TEXT NOT NULL, key TEXT NOT NULL, failures INTEGER NOT NULL, last REAL NOT NULL,
    locked_until REAL NOT NULL, lockouts INTEGER NOT NULL, pending INTEGER NOT NULL, pending_since REAL NOT NULL,
    refused INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, key));
"""


class AccountError(ValueError):
    """A bad account name, role or password; the message says what to write instead."""


class ReportLimit(Exception):
    """The reporter filed `console.reports_per_hour` reports in the last hour; `retry_after` seconds until the
    oldest of them is an hour old."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many reports in an hour; again in {retry_after:.0f} s")
        self.retry_after = retry_after


REPORT_PERIOD = 3600.0  # console.reports_per_hour's hour


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=128 * 1024 * 1024, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=128 * 1024 * 1024, dklen=len(digest) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# A fixed hash to compare against when the account does not exist (same cost: no user enumeration
# by timing).
_DUMMY_HASH = "scrypt$32768$8$1$" + "00" * 16 + "$" + "00" * 32


@dataclass(frozen=True)
class LoginLimits:
    """The login throttle (the config's console.login_* keys)."""

    account: int = 5  # failures of one account name that lock it
    address: int = 20  # failures from one client address (any names) that lock it
    window: float = 900.0  # failures are forgotten after this long without one (or a lock ending)
    lockout: float = 60.0  # the first lock; each further one doubles...
    lockout_max: float = 3600.0  # ...up to this


@dataclass(frozen=True)
class Refusal:
    """Why a login attempt is refused before its password is checked."""

    kind: str  # account | address
    key: str
    retry_after: float  # seconds
    locked: bool  # False: the limit's remaining attempts are all in flight (retry in a second)
    refused: int = 1  # attempts refused on this record since its lock began, this one included


@dataclass(frozen=True)
class Lockout:
    kind: str  # account | address
    key: str
    failures: int  # counted towards the next lock
    locked_until: float
    lockouts: int  # locks since the record was last forgotten (the back-off exponent)
    refused: int = 0  # attempts refused since the current lock began


# An attempt in flight longer than this (a process that died while checking it) no longer counts.
STALE_PENDING = 60.0


def address_key(address: str) -> str:
    """The per-address throttle's key: an IPv4 address as it is, an IPv6 one as its /64 (one
    host holds a whole /64), anything else (a Unix socket's peer) as given, cut at 100."""
    try:
        addr = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:100]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    via: str  # password | proxy
    csrf: str
    created: float
    last_seen: float


@dataclass(frozen=True)
class Report:
    id: str
    time: float
    source: str  # link | mailbox
    reporter: str
    message_id: str
    subject: str
    sender: str
    display_name: str
    verdict: str
    score: float
    analysis: dict[str, Any] = field(default_factory=dict)
    has_original: bool = False
    status: str = "new"
    decided_by: str = ""
    decided_at: float | None = None
    note: str = ""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: float
    user: str
    role: str
    action: str
    target: str
    detail: str


class ConsoleDB:
    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir)
        self.reports_dir = self.dir / "reports"
        self.reports_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.dir / "console.sqlite3"
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        with self._db() as db:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(login_failures)")}
            if "refused" not in columns:  # a state_dir written before the column existed
                db.execute("ALTER TABLE login_failures ADD COLUMN refused INTEGER NOT NULL DEFAULT 0")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            with db:
                yield db
        finally:
            db.close()

    # ------------------------------------------------------------------ accounts

    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME.match(name or ""):
            raise AccountError(f"{name!r} is not an account name; use letters, digits, . _ @ - "
                               "(at most 64, starting with a letter or digit)")
        return name

    @staticmethod
    def check_role(role: str) -> str:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        return role

    @staticmethod
    def check_new_password(password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password has fewer than {MIN_PASSWORD} characters; choose a longer one")
        return password

    def add_user(self, name: str, role: str, password: str) -> None:
        self.check_name(name)
        self.check_role(role)
        self.check_new_password(password)
        with self._db() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"account {name!r} exists; use 'user passwd' or 'user role' to change it")
            db.execute("INSERT INTO users VALUES (?,?,?,?)", (name, role, hash_password(password), time.time()))

    def set_password(self, name: str, password: str) -> None:
        self.check_new_password(password)
        self._update_user(name, "pw_hash", hash_password(password))
        self.end_sessions(name)

    def set_role(self, name: str, role: str) -> None:
        self._update_user(name, "role", self.check_role(role))
        self.end_sessions(name)

    def _update_user(self, name: str, column: str, value: str) -> None:
        with self._db() as db:
            n = db.execute(f"UPDATE users SET {column} = ? WHERE name = ?", (value, name)).rowcount  # noqa: S608
        if not n:
            raise AccountError(f"no account {name!r}; see 'user list'")

    def delete_user(self, name: str) -> None:
        with self._db() as db:
            if not db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
                raise AccountError(f"no account {name!r}; see 'user list'")
        self.end_sessions(name)

    def users(self) -> list[tuple[str, str, float]]:
        with self._db() as db:
            return [(str(n), str(r), float(c)) for n, r, c in
                    db.execute("SELECT name, role, created FROM users ORDER BY name")]

    def role_of(self, name: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def verify(self, name: str, password: str) -> str | None:
        """The account's role when the password is right, else None (constant work either way)."""
        with self._db() as db:
            row = db.execute("SELECT role, pw_hash FROM users WHERE name = ?", (name,)).fetchone()
        ok = check_password(password, row[1] if row else _DUMMY_HASH)
        return str(row[0]) if row and ok else None

    # ------------------------------------------------------------------ the login throttle

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One read-modify-write transaction, serialised with every other process's (BEGIN IMMEDIATE)."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            yield db

    @staticmethod
    def _keys(name: str, address: str, limits: LoginLimits) -> list[tuple[str, str, int]]:
        keys = [("account", name[:64], limits.account)] if name else []
        return [*keys, ("address", address_key(address), limits.address)]

    @staticmethod
    def _row(db: sqlite3.Connection, kind: str, key: str, now: float, window: float) -> list[Any]:
        """[failures, last, locked_until, lockouts, pending]: forgotten after a quiet window, a
        stale attempt in flight dropped."""
        row = db.execute("SELECT failures, last, locked_until, lockouts, pending, pending_since FROM login_failures"
                         " WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        if row is None:
            return [0, 0.0, 0.0, 0, 0]
        failures, last, locked_until, lockouts, pending, since = row
        if max(last, locked_until) < now - window:
            failures, lockouts = 0, 0
        if since < now - STALE_PENDING:
            pending = 0
        return [int(failures), float(last), float(locked_until), int(lockouts), int(pending)]

    @staticmethod
    def _put(db: sqlite3.Connection, kind: str, key: str, row: list[Any], now: float) -> None:
        failures, last, locked_until, lockouts, pending = row
        if not failures and not lockouts and not pending and locked_until <= now:
            db.execute("DELETE FROM login_failures WHERE kind = ? AND key = ?", (kind, key))
            return
        db.execute("INSERT INTO login_failures (kind, key, failures, last, locked_until, lockouts, pending,"
                   " pending_since) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (kind, key) DO UPDATE SET"
                   " failures = excluded.failures, last = excluded.last, locked_until = excluded.locked_until,"
                   " lockouts = excluded.lockouts, pending = excluded.pending, pending_since = excluded.pending_since",
                   (kind, key, failures, last, locked_until, lockouts, pending, now))

    def login_begin(self, name: str, address: str, limits: LoginLimits, now: float | None = None) -> Refusal | None:
        """Before the password is checked: the refusal when the account name or the address is
        locked (the longer wait), else None and the attempt counted as in flight (`login_end`
        must follow)."""
        now = time.time() if now is None else now
        keys = self._keys(name, address, limits)
        with self._write() as db:
            db.execute("DELETE FROM login_failures WHERE max(last, locked_until) < ? AND"
                       " (pending = 0 OR pending_since < ?)", (now - limits.window, now - STALE_PENDING))
            rows = [self._row(db, kind, key, now, limits.window) for kind, key, _ in keys]
            refusals = []
            for (kind, key, limit), (failures, _, locked_until, _, pending) in zip(keys, rows, strict=True):
                if locked_until > now:
                    refusals.append(Refusal(kind, key, locked_until - now, True))
                elif failures + pending >= limit:
                    refusals.append(Refusal(kind, key, 1.0, False))
            if refusals:
                chosen = max(refusals, key=lambda r: (r.locked, r.retry_after))
                db.execute("UPDATE login_failures SET refused = refused + 1 WHERE kind = ? AND key = ?",
                           (chosen.kind, chosen.key))
                found = db.execute("SELECT refused FROM login_failures WHERE kind = ? AND key = ?",
                                   (chosen.kind, chosen.key)).fetchone()
                return dataclasses.replace(chosen, refused=int(found[0]) if found else 1)
            for (kind, key, _), row in zip(keys, rows, strict=True):
                row[4] += 1
                self._put(db, kind, key, row, now)
        return None

    def login_end(self, name: str, address: str, ok: bool | None, limits: LoginLimits,
                  now: float | None = None) -> list[Refusal]:
        """The outcome of an attempt `login_begin` let through: a success clears the account
        name's record; a failure counts, and the locks it starts are returned (retry_after: the
        lock's length); None (the check could not be made) only ends the attempt."""
        now = time.time() if now is None else now
        locks = []
        with self._write() as db:
            for kind, key, limit in self._keys(name, address, limits):
                row = self._row(db, kind, key, now, limits.window)
                row[4] = max(0, row[4] - 1)
                if ok and kind == "account":
                    row = [0, 0.0, 0.0, 0, row[4]]
                elif ok is False:
                    row[0] += 1
                    row[1] = now
                    if row[0] >= limit:  # locked; after the lock, one more failure locks it again, twice as long
                        seconds = min(limits.lockout * 2.0 ** min(row[3], 60), limits.lockout_max)
                        row[0], row[2], row[3] = limit - 1, now + seconds, row[3] + 1
                        locks.append(Refusal(kind, key, seconds, True, 0))
                        db.execute("UPDATE login_failures SET refused = 0 WHERE kind = ? AND key = ?", (kind, key))
                self._put(db, kind, key, row, now)
        return locks

    def unlock(self, name: str = "", address: str = "") -> int:
        """Forget the failed logins of an account name and/or a client address (its lock ends)."""
        n = 0
        with self._write() as db:
            if name:
                n += db.execute("DELETE FROM login_failures WHERE kind = 'account' AND key = ?", (name,)).rowcount
            if address:
                n += db.execute("DELETE FROM login_failures WHERE kind = 'address' AND key = ?",
                                (address_key(address),)).rowcount
        return n

    def lockouts(self, now: float | None = None) -> list[Lockout]:
        """The names and addresses with failed logins on record, locked ones first."""
        now = time.time() if now is None else now
        with self._db() as db:
            rows = db.execute("SELECT kind, key, failures, locked_until, lockouts, refused FROM login_failures"
                              " WHERE failures > 0 OR locked_until > ? ORDER BY locked_until DESC, kind, key",
                              (now,)).fetchall()
        return [Lockout(str(k), str(key), int(f), float(u), int(n), int(r)) for k, key, f, u, n, r in rows]

    # ------------------------------------------------------------------ sessions

    def new_session(self, user: str, role: str, via: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(user, role, via, secrets.token_urlsafe(32), now, now)
        with self._db() as db:
            db.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?)",
                       (_token_hash(token), user, role, via, session.csrf, now, now))
        return token, session

    def session(self, token: str, idle: float, maximum: float) -> Session | None:
        """The live session for a cookie value (its last use moved to now), or None when unknown or
        expired (an expired one is deleted)."""
        if not token or len(token) > 128:
            return None
        now = time.time()
        key = _token_hash(token)
        with self._db() as db:
            row = db.execute("SELECT user, role, via, csrf, created, last_seen FROM sessions WHERE token_hash = ?",
                             (key,)).fetchone()
            if row is None:
                return None
            if now - row[5] > idle or now - row[4] > maximum:
                db.execute("DELETE FROM sessions WHERE token_hash = ?", (key,))
                return None
            db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, key))
        return Session(str(row[0]), str(row[1]), str(row[2]), str(row[3]), float(row[4]), now)

    def end_session(self, token: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))

    def end_sessions(self, user: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    def purge_sessions(self, idle: float, maximum: float) -> int:
        now = time.time()
        with self._db() as db:
            return db.execute("DELETE FROM sessions WHERE last_seen < ? OR created < ?",
                              (now - idle, now - maximum)).rowcount

    # ------------------------------------------------------------------ audit

    def audit(self, user: str, role: str, action: str, target: str = "", detail: str = "") -> None:
        with self._db() as db:
            db.execute("INSERT INTO audit (time, user, role, action, target, detail) VALUES (?,?,?,?,?,?)",
                       (time.time(), user, role, action, target[:1000], detail[:200_000]))

    def audit_log(self, limit: int = 200, action: str = "") -> list[AuditEntry]:
        query = "SELECT id, time, user, role, action, target, detail FROM audit"
        args: list[Any] = []
        if action:
            query += " WHERE action = ?"
            args.append(action)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._db() as db:
            return [AuditEntry(*row) for row in db.execute(query, args)]

    # ------------------------------------------------------------------ triage

    def add_report(self, *, source: str, reporter: str, message_id: str, subject: str, sender: str,
                   display_name: str, verdict: str, score: float, analysis: dict[str, Any],
                   original: bytes | None = None, now: float | None = None, per_hour: int = 0,
                   person: Callable[[str], str] = str.lower) -> str:
        """A new report's id. `per_hour`: raises ReportLimit, writing nothing, when the reporter (as `person` names
        them: intake.reporter_key) already filed that many in the last hour (checked in the transaction that
        inserts, so concurrent reports cannot pass it)."""
        now = time.time() if now is None else now
        rid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(6)
        if original is not None:  # a partial file is removed (a full disk); the report then fails as a whole
            write_new(self.original_path(rid), original)
        with self._write() as db:
            if per_hour:
                try:
                    self._report_limit(db, reporter, per_hour, now, person, source)
                except ReportLimit:
                    if original is not None:
                        self.original_path(rid).unlink(missing_ok=True)
                    raise
            db.execute("INSERT INTO reports (id, time, source, reporter, message_id, subject, sender, display_name,"
                       " verdict, score, analysis, has_original) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (rid, now, source, reporter[:320], message_id[:998], subject[:998], sender[:320],
                        display_name[:320], verdict, score, json.dumps(analysis, ensure_ascii=False),
                        int(original is not None)))
        return rid

    def check_report_limit(self, reporter: str, per_hour: int, now: float | None = None,
                           person: Callable[[str], str] = str.lower, source: str = "") -> None:
        """Raises ReportLimit when `reporter` filed `per_hour` reports (of this `source`: link, mailbox) in the last
        hour (a check before costly work; add_report checks again as it writes)."""
        with self._db() as db:
            self._report_limit(db, reporter, per_hour, time.time() if now is None else now, person, source)

    @staticmethod
    def _report_limit(db: sqlite3.Connection, reporter: str, per_hour: int, now: float,
                      person: Callable[[str], str], source: str) -> None:
        who = person(reporter[:320])
        times = sorted((float(t) for r, t in db.execute(  # the last hour's reports of the source (reports_time)
            "SELECT reporter, time FROM reports WHERE time > ? AND source = ?", (now - REPORT_PERIOD, source))
            if person(str(r)) == who), reverse=True)[:per_hour]
        if len(times) >= per_hour:
            raise ReportLimit(max(1.0, times[-1] + REPORT_PERIOD - now))

    def purge_reports(self, days: int, now: float | None = None) -> int:
        """Delete the reports older than `days` days with their originals (and an original whose
        report row was never written, a crash between the two, once it is as old); returns how many
        reports. The audit log keeps its lines."""
        cutoff = (time.time() if now is None else now) - days * 86400.0
        with self._write() as db:
            old = [str(rid) for (rid,) in db.execute("SELECT id FROM reports WHERE time < ?", (cutoff,))]
            db.execute("DELETE FROM reports WHERE time < ?", (cutoff,))
            kept = {str(rid) for (rid,) in db.execute("SELECT id FROM reports")}
        for rid in old:
            self.original_path(rid).unlink(missing_ok=True)
        for path in self.reports_dir.glob("*.eml"):
            if _REPORT_ID.match(path.stem) and path.stem not in kept:
                with suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
        return len(old)

    def original_path(self, rid: str) -> Path:
        if not _REPORT_ID.match(rid or ""):
            raise LookupError(f"{rid!r} is not a report id")
        return self.reports_dir / f"{rid}.eml"

    def reports(self, status: str = "", limit: int = 500) -> list[Report]:
        query = "SELECT * FROM reports"
        args: list[Any] = []
        if status:
            query += " WHERE status = ?"
            args.append(status)
        query += " ORDER BY time DESC LIMIT ?"
        args.append(limit)
        with self._db() as db:
            return [_report(row) for row in db.execute(query, args)]

    def report(self, rid: str) -> Report:
        self.original_path(rid)
        with self._db() as db:
            row = db.execute("SELECT * FROM reports WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise LookupError(f"no report {rid}")
        return _report(row)

    def decide(self, rid: str, status: str, user: str, note: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        self.report(rid)
        with self._db() as db:
            db.execute("UPDATE reports SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?",
                       (status, user, time.time(), note[:2000], rid))

    def labelled(self) -> list[tuple[Report, Path]]:
        """Decided reports whose original is kept: what `evaluate --labels` and `policy fit` read."""
        return [(r, self.original_path(r.id)) for r in self.reports(limit=100_000)
                if r.status != "new" and r.has_original and self.original_path(r.id).is_file()]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _report(row: tuple[Any, ...]) -> Report:
    (rid, t, source, reporter, mid, subject, sender, name, verdict, score, analysis, has_original,
     status, decided_by, decided_at, note) = row
    return Report(id=rid, time=t, source=source, reporter=reporter, message_id=mid, subject=subject, sender=sender,
                  display_name=name, verdict=verdict, score=score, analysis=json.loads(analysis),
                  has_original=bool(has_original), status=status, decided_by=decided_by, decided_at=decided_at,
                  note=note)
