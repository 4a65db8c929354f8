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
