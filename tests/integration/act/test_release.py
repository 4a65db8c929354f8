"""A release through real sockets: `quarantine release` (the CLI, its own process) and the console's
release button go through one executor, so the upstream (the recording sink) sees the same
transaction from each -- the same commands in the same order and the same bytes -- whether every
recipient is accepted, one is refused for good, or one is refused for now."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.model import Decision, Envelope, RuleHit, Verdict
from gateway.smtp.upstream import release
from tests.conftest import ROOT
from tests.support.console import Console, console_config, csrf_of, login
from tests.support.sink import Sink, SinkBehaviour

RAW = (b"From: Recruiter <jobs@partner.test>\r\nTo: bob@example.org\r\nSubject: an offer\r\n"
       b"X-Approach-Verdict: high\r\n\r\nLet us talk on WhatsApp.\r\n.leading dot line\r\n")
ENV = Envelope(mail_from="jobs@partner.test", rcpt_tos=("bob@example.org", "carol@example.org"), queue_id="Q1")
DECISION = Decision(Verdict.HIGH, 12.0, (RuleHit("offchannel-push", 12, "asks to continue on WhatsApp"),))


def _cli_release(config: Path, qid: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", "quarantine", "--config", str(config), "release", qid],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


async def _console_release(console: Console, qid: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await login(s, console.base, "anna")
        async with s.get(f"{console.base}/quarantine/{qid}") as r:
            html = await r.text()
        async with s.post(f"{console.base}/quarantine/{qid}/release", data={"csrf": csrf_of(html)},
                          allow_redirects=False) as r:
            return r.status, r.headers.get("Location", "") + await r.text()


def _by_connection(sink: Sink) -> list[list[tuple[str, str]]]:
    connections: dict[int, list[tuple[str, str]]] = {}
    for number, verb, arg in sink.commands:
        connections.setdefault(number, []).append((verb, arg))
    return [connections[n] for n in sorted(connections)]


CASES = {
    "every recipient accepted": SinkBehaviour(),
    "one refused for good": SinkBehaviour(refuse_rcpt={"carol@example.org"}),
    "refused for now": SinkBehaviour(rcpt_reply="450 4.2.1 mailbox busy, try later"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_cli_and_console_release_make_the_same_upstream_transaction(case: str, tmp_path: Path) -> None:
    sink = Sink(CASES[case]).start()
    console = await Console(console_config(tmp_path, sink.port)).start()
    try:
        by_cli = console.quarantine.put(RAW, ENV, DECISION)
        by_console = console.quarantine.put(RAW, ENV, DECISION)
        cli = await asyncio.to_thread(_cli_release, tmp_path / "gateway.yml", by_cli)
        assert sink.settle(0)  # the CLI's connection is closed before the console opens its own
        status, page = await _console_release(console, by_console)
        assert sink.settle(0)
    finally:
        await console.stop()
        sink.stop()
    cli_session, console_session = _by_connection(sink)
    assert cli_session == console_session
    assert cli_session[0] == ("EHLO", "gw.example.org") and cli_session[-1] == ("QUIT", "")
    statuses = {console.quarantine.get(by_cli).status, console.quarantine.get(by_console).status}
    if case == "refused for now":
        assert [v for v, _ in cli_session] == ["EHLO", "MAIL", "RCPT", "RSET", "QUIT"]
        assert sink.messages == [] and statuses == {"held"}
        assert cli.returncode == 1 and "release failed, message kept" in cli.stderr and "450 4.2.1" in cli.stderr
        assert status == 502 and "message kept" in page and "450 4.2.1" in page
        return
    assert [v for v, _ in cli_session] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    first, second = sink.messages
    assert (first.mail_from, first.rcpt_tos, first.data, first.mail_options) == \
        (second.mail_from, second.rcpt_tos, second.data, second.mail_options)
    assert first.data == RAW and first.mail_from == "jobs@partner.test" and statuses == {"released"}
    assert cli.returncode == 0 and status == 303
    if case == "one refused for good":
        assert first.rcpt_tos == ["bob@example.org"]
        assert f"released {by_cli} to bob@example.org; refused for good by the upstream: carol@example.org (550" \
            in cli.stdout
        assert "done=released_partly" in page
    else:
        assert first.rcpt_tos == ["bob@example.org", "carol@example.org"]
        assert cli.stdout == f"released {by_cli} to bob@example.org, carol@example.org\n"
        assert "done=released" in page


async def test_release_to_an_unreachable_upstream_sends_nothing_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = await release(console_config(tmp_path, port), ENV.mail_from, ENV.rcpt_tos, RAW)
    assert not done.delivered and done.reply.code == 451 and "connect/EHLO failed" in done.summary()
