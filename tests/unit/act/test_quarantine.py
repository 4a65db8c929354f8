"""Quarantine: durable put, list/show/release/delete/purge, and the CLI functions."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from gateway.act import quarantine as q
from gateway.model import Decision, Envelope, RuleHit, Verdict

RAW = b"From: a@example.net\r\nSubject: hi\x1b[31m\r\n\r\nbody \x00 bytes\r\n"
ENV = Envelope(mail_from="a@example.net", rcpt_tos=("b@example.org", "c@example.org"), queue_id="Q1")
DEC = Decision(Verdict.HIGH, 12.5, (RuleHit("r1", 12.5, "Pushes to Telegram"),))


def _args(parser_args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="quarantine")
    q.add_arguments(parser)
    return parser.parse_args(parser_args)


def test_put_list_show_release(tmp_path: Path) -> None:
    store = q.QuarantineStore(tmp_path)
    qid = store.put(RAW, ENV, DEC)
    assert (tmp_path / "messages" / f"{qid}.eml").read_bytes() == RAW
    [entry] = store.list()
    assert (entry.id, entry.verdict, entry.score, entry.size) == (qid, "high", 12.5, len(RAW))
    assert entry.rcpt_tos == ENV.rcpt_tos and "r1 (12.5): Pushes to Telegram" in entry.reasons
    out = io.StringIO()
    assert q.run(_args(["--dir", str(tmp_path), "show", qid]), relay=lambda r: None, out=out) == 0
    assert "verdict: high" in out.getvalue() and "\x1b" not in out.getvalue()
    relayed = []
    assert q.run(_args(["--dir", str(tmp_path), "release", qid]), relay=relayed.append, out=out) == 0
    assert relayed[0].raw == RAW and relayed[0].mail_from == "a@example.net"
    assert relayed[0].rcpt_tos == ENV.rcpt_tos
    assert store.list() == [] and not (tmp_path / "messages" / f"{qid}.eml").exists()
    with pytest.raises(q.QuarantineError, match="already released"):
        store.release(qid)


def test_failed_relay_keeps_the_message(tmp_path: Path) -> None:
    store = q.QuarantineStore(tmp_path)
    qid = store.put(RAW, ENV, DEC)

    def refuse(_: q.Released) -> None:
        raise ConnectionError("upstream down")
    with pytest.raises(ConnectionError):
        q.cmd_release(_args(["--dir", str(tmp_path), "release", qid]), refuse)
    assert [e.id for e in store.list()] == [qid] and store.read(qid) == RAW


def test_delete_purge_and_bad_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = q.QuarantineStore(tmp_path, retention_days=30)
    old = store.put(RAW, ENV, DEC, now=1_000_000.0)
    new = store.put(RAW, ENV, DEC)
    keep = store.put(RAW, ENV, DEC)
    assert store.purge() == 1 and not store.path(old).exists()
    out = io.StringIO()
    q.run(_args(["--dir", str(tmp_path), "delete", new]), relay=lambda r: None, out=out)
    listing = io.StringIO()
    q.run(_args(["--dir", str(tmp_path), "list", "--json"]), relay=lambda r: None, out=listing)
    assert listing.getvalue().count("\n") == 1 and keep in listing.getvalue()
    assert q.run(_args(["--dir", str(tmp_path), "show", "../../etc/passwd"]), relay=lambda r: None) == 1
    assert "is not a quarantine id" in capsys.readouterr().err
    assert q.run(_args(["--dir", str(tmp_path), "purge", "--days", "1"]), relay=lambda r: None, out=out) == 0


def test_put_async_stores_the_same_bytes(tmp_path: Path) -> None:
    import asyncio

    store = q.QuarantineStore(tmp_path)
    qid = asyncio.run(store.put_async(RAW, ENV, DEC))
    assert store.release(qid).raw == RAW


def test_cli_purge_uses_the_configured_retention(tmp_path: Path) -> None:
    """`approach-gateway quarantine --config F purge` honours quarantine.retention_days."""
    import time

    from gateway.cli import main

    qdir = tmp_path / "q"
    store = q.QuarantineStore(qdir)
    ten_days = store.put(RAW, ENV, DEC, now=time.time() - 10 * 86400)
    fresh = store.put(RAW, ENV, DEC)
    cfg = tmp_path / "gateway.yml"
    cfg.write_text("listen: 127.0.0.1:0\nupstream: {host: 127.0.0.1, port: 10026}\nhostname: gw.example.org\n"
                   f"local_domains: [example.org]\nquarantine: {{dir: {qdir}, retention_days: 7}}\n")
    assert main(["quarantine", "--config", str(cfg), "purge"]) == 0
    assert [e.id for e in store.list()] == [fresh] and not store.path(ten_days).exists()


def test_purge_days_0_is_every_entry_and_negative_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """admin21 00:55: `purge --days 0` meant the default retention (`days or retention`)."""
    store = q.QuarantineStore(tmp_path, retention_days=30)
    ids = [store.put(RAW, ENV, DEC, now=1_000_000.0), store.put(RAW, ENV, DEC)]
    out = io.StringIO()
    assert q.run(_args(["--dir", str(tmp_path), "purge", "--days", "0"]), relay=lambda r: None, out=out) == 0
    assert out.getvalue() == "purged 2 message(s)\n"
    assert store.list() == [] and not any(store.path(i).exists() for i in ids)
    with pytest.raises(SystemExit) as caught:  # argparse: a usage error, exit 2
        _args(["--dir", str(tmp_path), "purge", "--days", "-1"])
    assert caught.value.code == 2
    assert "-1 is negative; write 0 (every entry) or more" in capsys.readouterr().err
    with pytest.raises(ValueError, match="0 or more"):
        store.purge(-1)


@pytest.mark.parametrize("command", [["list", "--json"], ["show", "20261102T101500Z-0123456789ab"],
                                     ["delete", "20261102T101500Z-0123456789ab"], ["purge"]])
def test_a_missing_quarantine_dir_is_an_error_naming_it(tmp_path: Path, command: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """admin21 00:50: `quarantine --dir <typo> list --json` answered nothing, rc 0 (and made the
    directory). Also a directory that exists but holds no quarantine (`--dir /tmp`)."""
    typo = tmp_path / "quarantnie"
    assert q.run(_args(["--dir", str(typo), *command]), relay=lambda r: None, out=io.StringIO()) == 2
    assert capsys.readouterr().err == (f"quarantine: {typo}: no such directory; check --dir or the config's "
                                       "quarantine.dir (serve creates it at start when a policy holds messages)\n")
    assert not typo.exists()
    assert q.run(_args(["--dir", str(tmp_path), *command]), relay=lambda r: None, out=io.StringIO()) == 2
    assert f"quarantine: {tmp_path}: not a quarantine directory (no index.sqlite3); " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _enospc(*_: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fails_at", ["write", "fsync", "rename", "directory fsync", "index"])
def test_a_failed_put_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_at: str) -> None:
    """Disk full part-way (or the index cannot be written): the client hears 451 and sends again,
    so nothing may stay -- neither the partial `.tmp` nor an `.eml` no index row lists; else each
    retry on a full disk leaves one more (admin21: 2 MB per attempt)."""
    store = q.QuarantineStore(tmp_path)
    real_write = q.os.write
    if fails_at == "write":  # the first chunk lands, then the disk is full (as EFBIG/ENOSPC do)
        calls: list[int] = []

        def write(fd: int, data: memoryview) -> int:
            if calls:
                _enospc()
            calls.append(fd)
            return real_write(fd, data[:10])
        monkeypatch.setattr(q.os, "write", write)
    elif fails_at == "fsync":
        monkeypatch.setattr(q.os, "fsync", _enospc)
    elif fails_at == "rename":
        monkeypatch.setattr(q.os, "replace", _enospc)
    elif fails_at == "directory fsync":
        monkeypatch.setattr(q, "fsync_dir", _enospc)
    else:
        monkeypatch.setattr(q, "reasons_value", _enospc)  # evaluated inside the index transaction
    with pytest.raises(OSError, match="No space left"):
        store.put(RAW, ENV, DEC)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "messages").iterdir()) == []
    assert store.list() == []


def test_purge_removes_partial_files_older_than_an_hour(tmp_path: Path) -> None:
    """A `put` cut short by a crash leaves `<id>.tmp`: purge removes it once an hour old (a live
    write never takes that long), and leaves a fresh one and files that are not ours."""
    import os
    import time

    store = q.QuarantineStore(tmp_path)
    kept = store.put(RAW, ENV, DEC)
    messages = tmp_path / "messages"
    stale = messages / "20261205T010416Z-1dbdf93e1840.tmp"
    fresh = messages / "20261205T020416Z-2dbdf93e1840.tmp"
    other = messages / "notes.tmp"
    for p in (stale, fresh, other):
        p.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    for p in (stale, other):
        os.utime(p, (two_hours_ago, two_hours_ago))
    assert store.purge() == 0  # no message is past retention; partial files are not messages
    assert not stale.exists() and fresh.exists() and other.exists()
    assert store.read(kept) == RAW


def test_a_release_claims_the_entry_so_a_second_release_or_a_delete_meanwhile_is_refused(tmp_path: Path) -> None:
    """atk45 #3: three concurrent releases of one message delivered it twice (each read it as held, relayed it, then
    marked it released), and a delete during a release was overwritten by its "released". A release claims the entry
    in one UPDATE; what it claimed is released, or held again when the relay did not take it."""
    import threading
    store = q.QuarantineStore(tmp_path)
    qid = store.put(RAW, ENV, DEC)
    got: list[object] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        try:
            got.append(store.release(qid))
        except q.QuarantineError as exc:
            got.append(str(exc))
    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(g, q.Released) for g in got) == 1
    assert all("is being released" in g for g in got if isinstance(g, str))
    with pytest.raises(q.QuarantineError, match="is being released"):
        store.delete(qid)
    assert [(e.id, e.status) for e in store.list()] == [(qid, "releasing")] and store.read(qid) == RAW
    listing = io.StringIO()
    q.run(_args(["--dir", str(tmp_path), "list"]), relay=lambda r: None, out=listing)
    assert listing.getvalue().rstrip().endswith("(being released)")  # (review45b #8)
    store.unclaim(qid)  # the relay did not take it: held again, and released by the next try
    assert [(e.id, e.status) for e in store.list()] == [(qid, "held")]
    store.release(qid)
    store.mark_released(qid)
    assert store.get(qid).status == "released" and store.list() == []
    for again in (store.release, store.delete):
        with pytest.raises(q.QuarantineError, match="already released"):
            again(qid)
    # a release cut off (its process killed after the claim) may be tried again RELEASE_STALE seconds on
    other = store.put(RAW, ENV, DEC)
    store.release(other, now=1_000.0)
    with pytest.raises(q.QuarantineError, match="is being released"):
        store.release(other, now=1_000.0 + q.RELEASE_STALE - 1)
    assert store.release(other, now=1_000.0 + q.RELEASE_STALE + 1).raw == RAW
    store.delete(other, now=1_000.0 + 3 * q.RELEASE_STALE)
    assert store.get(other).status == "deleted" and not store.path(other).exists()


def test_an_index_written_before_the_claim_column_is_read_and_gains_it(tmp_path: Path) -> None:
    import sqlite3
    db = sqlite3.connect(tmp_path / "index.sqlite3")
    db.executescript("""CREATE TABLE quarantine (
        id TEXT PRIMARY KEY, time REAL NOT NULL, verdict TEXT NOT NULL, score REAL NOT NULL,
        reasons TEXT NOT NULL, mail_from TEXT NOT NULL, rcpt_tos TEXT NOT NULL, size INTEGER NOT NULL,
        queue_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'held');""")
    db.commit()
    db.close()
    (tmp_path / "messages").mkdir()
    qid = "20261207T000000Z-0123456789ab"
    (tmp_path / "messages" / f"{qid}.eml").write_bytes(RAW)
    db = sqlite3.connect(tmp_path / "index.sqlite3")
    db.execute("INSERT INTO quarantine VALUES (?,?,?,?,?,?,?,?,?,?)",
               (qid, 1.0, "high", 9.0, "r", "a@example.net", '["b@example.org"]', len(RAW), "Q", "held"))
    db.commit()
    db.close()
    store = q.QuarantineStore(tmp_path, create=False)
    assert [e.id for e in store.list()] == [qid]
    assert store.release(qid).raw == RAW and store.get(qid).status == "releasing"
