"""The analysis runtime (gateway/runtime.py): complete when built, the same after a rebuild."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import gateway.runtime
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.runtime import Runtime
from tests.conftest import ROOT, make_config

RAW = (ROOT / "tests" / "corpus" / "approach" / "001-freemail-recruiter-whatsapp.eml").read_bytes()
ENV = Envelope(mail_from="sender@example.net", rcpt_tos=("alice@example.org",), client=Client(ip="192.0.2.7"),
               queue_id="Q1")


async def test_a_runtime_built_without_threads_analyses_large_messages_on_its_loop_and_so_does_its_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`threads=False` (an analysis child, gateway/offload.py): a large message is parsed on the
    loop's thread, never in a worker thread that a kill at the deadline would leave running; the
    default runtime uses its worker threads. A rebuilt runtime (reload) keeps the choice."""
    where: list[str] = []
    real = MessageView.parse

    def parse(*args: Any, **kwargs: Any) -> MessageView:
        where.append(threading.current_thread().name)
        return real(*args, **kwargs)
    monkeypatch.setattr(gateway.runtime, "INLINE_BYTES", 0)  # every message counts as large
    monkeypatch.setattr(gateway.runtime.MessageView, "parse", staticmethod(parse))
    config = make_config(1, tmp_path)
    threaded = Runtime(config, offline=True)
    inline = Runtime(config, offline=True, threads=False)
    try:
        assert threaded.threads and not inline.threads
        for runtime, in_thread in ((threaded, True), (threaded.rebuild(), True), (inline, False),
                                   (inline.rebuild(), False)):
            where.clear()
            result = await runtime.analyse(RAW, ENV)
            assert result.decision.checked
            assert where and where[0].startswith("analysis") is in_thread, where
            assert (where[0] == threading.current_thread().name) is not in_thread
    finally:
        await threaded.close()
        await inline.close()


@pytest.mark.parametrize("head, normal", [
    (b"From: a@example.net\r\nSubject: hi\r\n", True),
    (b"From: a@example.net\r\nSubject : hi\r\n", False),  # white space before the colon
    (b"From: a@example.net\r\nX-Approach-Verdict: high\r\nBad line\r\nSubject: hi\r\n", False),
])
async def test_the_relayed_header_section_is_read_line_by_line_once_unless_the_parse_changed_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, head: bytes, normal: bool) -> None:
    """`normalize_header_section` reads a header section line by line for the parse; the edits of
    the relayed bytes read it again only when the parse found something to change
    (`Result.header_normal`), and the relayed bytes are those of normalising it anew."""
    import gateway.act.headers
    from gateway.act.headers import edited
    from gateway.parse import normalize_header_section

    raw = head + b"\r\nHello.\r\n"
    calls: list[bytes] = []

    def counted(data: bytes, cut: int | None = None) -> tuple[bytes, list[str]]:
        calls.append(data)
        return normalize_header_section(data, cut)
    monkeypatch.setattr(gateway.act.headers, "normalize_header_section", counted)
    runtime = Runtime(make_config(1, tmp_path), offline=True)
    try:
        result = await runtime.analyse(raw, ENV)
        assert result.header_normal is normal
        out = bytes(result.outgoing(raw))
        assert len(calls) == (0 if normal else 1)
        monkeypatch.setattr(gateway.act.headers, "normalize_header_section", normalize_header_section)
        assert out == bytes(edited(raw, result.edits))  # the bytes of the full reading
        assert b"Subject: hi\r\n" in out and (normal or b"X-Approach-Verdict: high" not in out.split(b"\r\n\r\n")[0])
    finally:
        await runtime.close()


def test_run_stats_since_gives_what_was_counted_after_a_copy_and_brings_the_copy_up_to_date() -> None:
    """An analysis child answers for one message while others go on counting into the same
    statistics: each answer carries what was counted since the last (gateway/offload.py)."""
    from gateway.checks import RunStats

    counted = RunStats({"auth": 2}, {"links": 1}, 1)
    reported = RunStats()
    first = counted.since(reported)
    assert (first.errors, first.timeouts, first.incomplete) == ({"auth": 2}, {"links": 1}, 1)
    counted.errors["auth"] += 1
    counted.timeouts["campaign"] = 4
    second = counted.since(reported)
    assert (second.errors, second.timeouts, second.incomplete) == ({"auth": 1}, {"campaign": 4}, 0)
    assert counted.since(reported) == RunStats()
    total = RunStats()
    for part in (first, second):
        total.add(part)
    assert total == counted
