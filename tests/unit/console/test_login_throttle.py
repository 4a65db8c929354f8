"""The login throttle's bookkeeping (gateway/admin/console/db.py) with the clock given: the window
that forgets, the doubling lock and its cap, an attempt left in flight by a dead process, the
address keys; and the config's defaults. The HTTP behaviour is in test_http.py."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.admin.console.db import ConsoleDB, LoginLimits, address_key
from gateway.cli import main as cli_main
from gateway.config import parse_config

LIMITS = LoginLimits(account=3, address=100, window=900.0, lockout=60.0, lockout_max=200.0)


def fail(db: ConsoleDB, now: float, name: str = "anna", address: str = "192.0.2.7") -> list[tuple[str, float]]:
    """One wrong password at `now`: the locks it started (kind, seconds)."""
    assert db.login_begin(name, address, LIMITS, now) is None
    return [(r.kind, r.retry_after) for r in db.login_end(name, address, False, LIMITS, now)]


def test_failures_lock_then_double_up_to_the_cap_and_a_quiet_window_forgets(tmp_path: Path) -> None:
    db = ConsoleDB(tmp_path)
    assert fail(db, 0) == [] and fail(db, 10) == []
    assert fail(db, 10 + 901) == []  # 901 s without a failure: the two before are forgotten
    assert fail(db, 920) == [] and fail(db, 930) == [("account", 60.0)]
    refused = db.login_begin("anna", "192.0.2.7", LIMITS, 960)
    assert refused is not None and (refused.kind, refused.retry_after, refused.locked) == ("account", 30.0, True)
    assert db.login_begin("bob", "192.0.2.7", LIMITS, 960) is None  # another name from the same address
    db.login_end("bob", "192.0.2.7", None, LIMITS, 960)  # the check could not be made: nothing counted
    lengths = []
    t = 930 + 60.0
    for _ in range(4):  # after a lock, each further failure locks again
        [(kind, seconds)] = fail(db, t)
        lengths.append(seconds)
        t += seconds
    assert lengths == [120.0, 200.0, 200.0, 200.0]
    assert [(r.kind, r.key, r.failures, r.lockouts) for r in db.lockouts(t - 1)] == [
        ("account", "anna", 2, 5), ("address", "192.0.2.7", 7, 0)]  # the first two forgotten too
    assert fail(db, t + 901) == []  # quiet for a window after the lock ended: back to the start
    assert fail(db, t + 902) == [] and fail(db, t + 903) == [("account", 60.0)]


def test_an_attempt_left_in_flight_stops_counting_after_a_minute(tmp_path: Path) -> None:
    db = ConsoleDB(tmp_path)
    one = LoginLimits(account=1, address=100)
    assert db.login_begin("anna", "192.0.2.7", one, 0) is None  # the process checking it died
    busy = db.login_begin("anna", "192.0.2.7", one, 1)
    assert busy is not None and (busy.locked, busy.retry_after) == (False, 1.0)
    assert db.login_begin("anna", "192.0.2.7", one, 62) is None


def test_a_success_clears_the_account_not_the_address(tmp_path: Path) -> None:
    db = ConsoleDB(tmp_path)
    fail(db, 0)
    fail(db, 1, name="eve")
    assert db.login_begin("anna", "192.0.2.7", LIMITS, 2) is None
    assert db.login_end("anna", "192.0.2.7", True, LIMITS, 2) == []
    assert [(r.kind, r.key, r.failures) for r in db.lockouts(3)] == [("account", "eve", 1), ("address", "192.0.2.7", 2)]
    assert db.unlock(address="192.0.2.7") == 1 and db.unlock("eve") == 1 and db.lockouts(3) == []


def test_address_keys() -> None:
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("x" * 300) == "x" * 100


def test_the_config_defaults_and_a_first_lock_longer_than_the_default_maximum() -> None:
    base = "listen: 127.0.0.1:2525\nupstream: {port: 10026}\nhostname: gw.example.org\nlocal_domains: [example.org]\n"
    c = parse_config(base, "gw.yml").console
    assert (c.login_failures, c.login_failures_per_address, c.login_window, c.login_lockout,
            c.login_lockout_max) == (5, 20, 900.0, 60.0, 3600.0)
    c = parse_config(base + "console: {login_lockout: 7200}\n", "gw.yml").console
    assert (c.login_lockout, c.login_lockout_max) == (7200.0, 7200.0)


def test_refusals_are_counted_per_lock_and_a_state_dir_from_before_the_count_is_migrated(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "console.sqlite3") as old:  # the table as the first release wrote it
        old.execute("CREATE TABLE login_failures (kind TEXT NOT NULL, key TEXT NOT NULL, failures INTEGER NOT NULL,"
                    " last REAL NOT NULL, locked_until REAL NOT NULL, lockouts INTEGER NOT NULL, pending INTEGER"
                    " NOT NULL, pending_since REAL NOT NULL, PRIMARY KEY (kind, key))")
        old.execute("INSERT INTO login_failures VALUES ('account', 'anna', 2, 0, 500, 1, 0, 0)")
    old.close()
    db = ConsoleDB(tmp_path)
    counts = []
    for t in (10, 11, 12):
        refused = db.login_begin("anna", "192.0.2.7", LIMITS, t)
        assert refused is not None and refused.locked
        counts.append(refused.refused)
    assert counts == [1, 2, 3]
    assert [(r.kind, r.refused) for r in db.lockouts(13)] == [("account", 3)]
    assert fail(db, 501) == [("account", 120.0)]  # the lock over, one more failure: a new lock, counted from 0
    assert [(r.kind, r.refused) for r in db.lockouts(502)] == [("account", 0), ("address", 0)]
    refused = db.login_begin("anna", "192.0.2.7", LIMITS, 503)
    assert refused is not None and refused.refused == 1


def test_reports_older_than_the_retention_go_with_their_originals(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = ConsoleDB(tmp_path / "console")
    day = 86400.0
    kw: dict[str, Any] = dict(source="mailbox", reporter="anna@example.org", message_id="<m@x>", subject="s",
                              sender="x@y", display_name="", verdict="high", score=9.0, analysis={})
    now = time.time()
    old = db.add_report(**kw, original=b"Subject: old\r\n\r\nx\r\n", now=now - 31 * day)
    bare = db.add_report(**kw, now=now - 40 * day)  # a link report: no original
    young = db.add_report(**kw, original=b"Subject: young\r\n\r\nx\r\n", now=now - 29 * day)
    orphan = db.reports_dir / "20200101T000000Z-0123456789ab.eml"  # written, its row never was
    orphan.write_bytes(b"x")
    os.utime(orphan, (now - 31 * day, now - 31 * day))
    fresh_orphan = db.reports_dir / "20200101T000000Z-ba9876543210.eml"
    fresh_orphan.write_bytes(b"x")
    os.utime(fresh_orphan, (now - day, now - day))
    other = db.reports_dir / "notes.txt"  # not ours: never touched
    other.write_bytes(b"x")
    os.utime(other, (0, 0))
    assert db.purge_reports(30, now) == 2
    assert [r.id for r in db.reports()] == [young]
    assert not db.original_path(old).exists() and not orphan.exists()
    assert db.original_path(young).exists() and fresh_orphan.exists() and other.exists()
    assert bare not in {r.id for r in db.reports()}
    # the command line: the configured retention, or --days; audited
    cfg = tmp_path / "gw.yml"
    cfg.write_text("listen: 127.0.0.1:2525\nupstream: {port: 10026}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\nconsole: {{state_dir: {tmp_path / 'console'}, "
                   "report_retention_days: 3650}\n")
    assert cli_main(["console", "--config", str(cfg), "reports", "purge"]) == 0
    assert capsys.readouterr().out == "purged 0 report(s) older than 3650 days\n"
    assert cli_main(["console", "--config", str(cfg), "reports", "purge", "--days", "1"]) == 0
    assert capsys.readouterr().out == "purged 1 report(s) older than 1 days\n" and db.reports() == []
    assert [(a.action, a.detail) for a in db.audit_log()][0] == ("reports.purge", "1 older than 1 days")
    with pytest.raises(SystemExit):
        cli_main(["console", "--config", str(cfg), "reports", "purge", "--days", "0"])
    assert "write a whole number of days, at least 1" in capsys.readouterr().err


def test_a_report_whose_original_cannot_be_written_leaves_no_partial_file(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while the reported original is written: the report fails as a whole (the
    intake answers 4xx and the mail is sent again) and no half-written file stays behind
    (gateway.durable.write_new, shared with the quarantine)."""
    db = ConsoleDB(tmp_path / "state")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        db.add_report(source="mailbox", reporter="anna@example.org", message_id="<m@x>", subject="s", sender="x@y",
                      display_name="", verdict="high", score=9.0, analysis={}, original=b"Subject: x\r\n\r\nx\r\n")
    assert list(db.reports_dir.iterdir()) == []
