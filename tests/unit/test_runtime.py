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
