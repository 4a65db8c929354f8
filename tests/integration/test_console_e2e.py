"""The learning loop end to end, through a real `serve` (ThreadedGateway, sink upstream):

1. a message from a persona is rated `caution`;
2. the recipient reports it to the report address (forwarded as an attachment, through the
   gateway): the report is delivered, taken into triage and acknowledged;
3. an analyst, in the console (served on the gateway's own event loop, as the admin listener
   mounts it), marks it an approach and turns it into an indicator: written, reloaded, hunted;
4. the next message from the same persona through `serve` is rated `high`.

The gateway runs the real checks with a small policy of its own (the shipped rule ids and the
shipped indicator score, 10), so that tuning the shipped weights does not move the first verdict
out of `caution`: what is tested is the loop, not the weights.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.admin.console import ConsoleDeps, intake
from gateway.admin.console.app import serve
from gateway.admin.console.db import ConsoleDB
from gateway.smtp.service import ThreadedGateway
from tests.conftest import ROOT, make_config
from tests.support.console import PASSWORD, csrf_of, login
from tests.support.sink import Sink

ORIGINAL = ROOT / "tests" / "corpus" / "approach" / "009-yahoo-family-office-dubai.eml"
PERSONA = "a.alrashid.familyoffice@yahoo.com"
STAFF = "p.nair@example.org"
REPORT = "report-approach@example.org"


def verdict_of(data: bytes) -> str:
    m = re.search(rb"(?m)^X-Approach-Verdict: (\w+)", data)
    assert m, "no verdict header"
    return m.group(1).decode()


def forward_as_attachment(delivered: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Priya Nair <{STAFF}>"
    msg["To"] = REPORT
    msg["Subject"] = "FW: Investment interest in your post-quantum cryptography spin-out"
    msg.set_content("This looks odd: a family office wants our source code before investing.\n")
    original = BytesParser(policy=default_policy).parsebytes(delivered)
    msg.add_attachment(original)  # message/rfc822, as Thunderbird's "Forward as attachment"
    return msg.as_bytes()


def send(port: int, sender: str, rcpts: list[str], raw: bytes, source: str = "127.0.0.1") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60, source_address=(source, 0)) as smtp:
        smtp.sendmail(sender, rcpts, raw)  # raises unless every recipient and the data got 250


def reports_after(state: Path, seconds: float = 20.0) -> list:
    """The triage queue once a report is in it (the intake runs after the client's 250)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = ConsoleDB(state).reports()
        if found:
            return found
        time.sleep(0.05)
    return []


POLICY = """\
thresholds: {caution: 3, suspicious: 6, high: 10}
rules:
  - id: freemail-sender
    when: {signal: sender.freemail}
    score: 3
    reason: "writes from a free-mail account ({from.domain})"
  - id: indicator-match
    when: {signal: indicator.match}
    score: 10
    reason: "matches {signal.indicator.match.kind} {signal.indicator.match.value}"
"""


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_report_triage_indicator_then_high(tmp_path: Path, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    walked_on_a_loop: list[bool] = []  # the report's walk runs off the event loop (attack20 finding 6)
    real_extract = intake.extract_original

    def extract(*args: Any) -> Any:
        walked_on_a_loop.append(_on_a_loop())
        return real_extract(*args)

    monkeypatch.setattr(intake, "extract_original", extract)
    state = tmp_path / "console"
    policy = tmp_path / "policies" / "e2e.yml"
    policy.parent.mkdir()
    policy.write_text(POLICY)
    # the organisation's mail server (127.0.0.1 here) hands staff mail to the gateway
    config = make_config(sink.port, tmp_path, extra=f"trusted_networks: [127.0.0.1/32]\n"
                         f"console: {{state_dir: {state}, report_address: {REPORT}}}", policies=str(policy.parent))
    ConsoleDB(state).add_user("anna", "analyst", PASSWORD)
    raw = ORIGINAL.read_bytes()
    with ThreadedGateway(config) as tg:
        # 1. the persona's first message
        send(tg.port, PERSONA, [STAFF], raw)
        first = sink.wait_for(1)[0]
        assert verdict_of(first.data) == "caution"

        # 2a. an outsider (not the mail server, no DMARC pass) claiming to be staff: delivered, not triaged
        send(tg.port, STAFF, [REPORT], forward_as_attachment(first.data), source="127.0.0.9")
        assert len(sink.wait_for(2)) == 2
        # 2. the staff report, forwarded as an attachment through the gateway from the mail server
        send(tg.port, STAFF, [REPORT], forward_as_attachment(first.data))
        [report] = reports_after(state)  # taken in after the 250, in a task of its own
        assert (report.source, report.reporter, report.sender, report.verdict) == ("mailbox", STAFF, PERSONA, "caution")
        assert report.display_name == "Ahmed Al-Rashid" and report.has_original
        got = sink.wait_for(4)
        delivered = [m for m in got if m.rcpt_tos == [REPORT]]
        acks = [m for m in got if m.mail_from == "" and m.rcpt_tos == [STAFF]]
        assert len(delivered) == 2, "both reports themselves are delivered"
        assert len(acks) == 1 and b"Auto-Submitted: auto-replied" in acks[0].data and report.id.encode() in acks[0].data
        assert len(ConsoleDB(state).reports()) == 1  # the outsider's is not in the queue
        assert walked_on_a_loop == [False]

        # 3. triage in the console, on the gateway's loop
        gw = tg.gateway
        assert gw is not None
        deps = ConsoleDeps(config=config, runtime=lambda: gw.runtime, store=gw.runtime.store,  # type: ignore[arg-type]
                           quarantine=gw.state.quarantine, reload=gw.reload_async)
        runner, port = asyncio.run_coroutine_threadsafe(serve(deps), tg.loop).result(30)
        try:
            asyncio.run(triage(f"http://127.0.0.1:{port}/console", report.id))
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), tg.loop).result(30)
        assert ConsoleDB(state).report(report.id).status == "approach"
        assert any(i.value == "Ahmed Al-Rashid" for i in gw.runtime.data.indicators)

        # 4. the same persona again, a new message
        again = raw.replace(b"213179682293.10556536.837424154829@mail.yahoo.com", b"99@mail.yahoo.com") \
                   .replace(b"Subject: Investment interest", b"Subject: Following up: investment interest")
        send(tg.port, PERSONA, [STAFF], again)
        second = sink.wait_for(5)[-1]
        assert b"99@mail.yahoo.com" in second.data
        assert verdict_of(second.data) == "high"
        assert b"indicator-match" in second.data


async def triage(base: str, rid: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await login(s, base, "anna")
        async with s.get(f"{base}/triage/{rid}") as r:
            html = await r.text()
        assert 'value="Ahmed Al-Rashid"' in html
        async with s.post(f"{base}/triage/{rid}/decide", data={"csrf": csrf_of(html), "status": "approach",
                                                               "note": "family-office pretext"}) as r:
            assert r.status == 200
        form = aiohttp.FormData([("csrf", csrf_of(html)), ("personas", "Ahmed Al-Rashid"), ("addresses", PERSONA)])
        async with s.post(f"{base}/triage/{rid}/indicator", data=form) as r:
            done = await r.text()
            assert r.status == 200, done
        assert "Reloaded" in done and "Hunt: past messages that match (1)" in done
