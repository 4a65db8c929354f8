"""The console in a real headless Chromium (Debian's `chromium`, over the DevTools protocol):
the main journeys, with screenshots in artifacts/console/ (git-ignored), and hostile message
content that must neither run nor load anything."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path

from aiohttp import web

from gateway.admin.console.db import ConsoleDB
from gateway.model import Decision, Envelope, RuleHit, Verdict
from gateway.store import MessageMeta
from tests.conftest import ROOT, need_binary
from tests.support.cdp import Browser
from tests.support.console import PASSWORD, Console, console_config
from tests.support.sink import Sink, SinkBehaviour

SHOTS = ROOT / "artifacts" / "console"
NOW = time.time()
CORPUS = ROOT / "tests" / "corpus"


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    b = await Browser().start()
    try:
        yield b
    finally:
        await b.close()


async def log_in(b: Browser, base: str, user: str) -> None:
    await b.goto(f"{base}/login")
    await b.fill("#user", user)
    await b.fill("#password", PASSWORD)
    await b.click("#login")


def persona_meta(i: int, rcpt: str) -> MessageMeta:
    return MessageMeta(NOW - 7200 + i * 60, "inbound", "kevin.zhao.hr@gmail.com", (rcpt,),
                       message_id=f"<kz{i}@gmail.com>", display_name="Kevin Zhao", verdict="suspicious",
                       score=6.5, rule_ids=("freemail-sender", "offchannel-push"),
                       observables=("offchannel_whatsapp:+44 7700 900123",),
                       campaign_keys=("persona:kz", "sender:kz"))


async def test_journeys(tmp_path: Path) -> None:
    need_binary("chromium")
    sink = Sink(SinkBehaviour()).start()
    console = await Console(console_config(tmp_path, sink.port)).start()
    base = console.base
    try:
        for i, who in enumerate(("alice", "bob", "carol")):
            await console.store.record_message(persona_meta(i, f"{who}@example.org"), console.config.local_domains)
        raw = (CORPUS / "approach" / "009-yahoo-family-office-dubai.eml").read_bytes()
        rid = ConsoleDB(console.config.console.state_dir).add_report(
            source="mailbox", reporter="p.nair@example.org", message_id="<m1@mail.yahoo.com>",
            subject="Investment interest in your post-quantum cryptography spin-out",
            sender="a.alrashid.familyoffice@yahoo.com", display_name="Ahmed Al-Rashid", verdict="caution",
            score=3.0, analysis={"found": "message/rfc822 attachment",
                                 "hits": [{"id": "freemail-sender", "score": 1, "reason": "writes from yahoo.com"}],
                                 "signals": [{"name": "sender.freemail", "evidence": {"domain": "yahoo.com"}}]},
            original=raw)
        held = (CORPUS / "approach" / "001-freemail-recruiter-whatsapp.eml").read_bytes()
        qid = console.quarantine.put(held, Envelope(mail_from="x@gmail.com", rcpt_tos=("alice@example.org",)),
                                     Decision(Verdict.HIGH, 18.5, (RuleHit("offchannel-push", 2, "asks WhatsApp"),)))
        async with browser() as b:
            # log in
            await b.goto(f"{base}/campaigns")
            assert await b.exists("#login")  # sent to the login page
            await b.screenshot(SHOTS / "01-login.png")
            await log_in(b, base, "adam")
            assert "adam (admin)" in await b.text("header"), await b.eval("document.body.innerText")
            await b.screenshot(SHOTS / "02-campaigns.png")
            # open a campaign, turn it into an indicator
            await b.click("a.campaign-link[data-kind=persona]")
            assert "Kevin Zhao" in await b.text("#campaign-title")
            assert await b.text("#campaign-recipients") == "alice@example.org, bob@example.org, carol@example.org"
            await b.screenshot(SHOTS / "03-campaign.png")
            # the addresses come ticked, the persona's name is the analyst's to tick (review45b #1)
            assert await b.eval("document.querySelector('input[name=personas]').checked") is False
            assert await b.eval("document.querySelector('input[name=addresses]').checked") is True
            await b.eval("document.querySelector('input[name=personas][value=\"Kevin Zhao\"]').click()")
            await b.click("#make-indicator")
            assert await b.text("#indicator-done") == "Indicator written"
            assert "Reloaded" in await b.text("#reload-state")
            assert await b.eval("document.querySelectorAll('#hunt-matches tbody tr').length") == 3
            await b.screenshot(SHOTS / "04-indicator-and-hunt.png")
            assert any(i.value == "Kevin Zhao" for i in console.runtime.data.indicators)
            # triage a staff report
            await b.goto(f"{base}/triage")
            await b.click("a.report-link")
            assert "Ahmed Al-Rashid" in await b.text("#report-sender")
            await b.fill("input[name=note]", "family-office pretext, asks for source code")
            await b.click("#mark-approach")
            assert (await b.text("#report-status")).startswith("approach (adam")
            await b.screenshot(SHOTS / "05-triage.png")
            assert ConsoleDB(console.config.console.state_dir).report(rid).status == "approach"
            # edit a rule: a lint error at file:line (live, from the page's script), then a passing try
            await b.goto(f"{base}/policy/edit?file=50-local.yml")
            await b.fill("#policy-text", "rules:\n  - id: freemail-sender\n    when: {signal: sender.freemial}\n"
                                         "    score: 3\n")
            await b.wait_for("#lint-errors")
            errors = await b.text("#lint-errors")
            assert "50-local.yml:3: unknown signal 'sender.freemial'" in errors and "did you mean" in errors
            await b.screenshot(SHOTS / "06-policy-lint-error.png")
            await b.fill("#policy-text", "rules:\n  - id: freemail-sender\n    score: 3\n")
            await b.wait_for("#lint-ok")
            await b.fill("#try-message", raw.decode())
            await b.click("#try")
            assert await b.text("#try-verdict") in ("caution", "suspicious", "high")
            assert "freemail-sender (3)" in await b.text("#try-hits")
            assert "sender.freemail" in await b.text("#try-signals")
            assert await b.exists("#evaluate")  # figures on the triaged report
            await b.screenshot(SHOTS / "07-policy-try.png")
            # release from quarantine
            await b.goto(f"{base}/quarantine")
            await b.click("a.held-link")
            assert "asks WhatsApp" in await b.text("#held-reasons")
            await b.screenshot(SHOTS / "08-quarantine-entry.png")
            await b.click("#release")
            assert "Released" in await b.text("#done")
            await b.screenshot(SHOTS / "09-quarantine-released.png")
        assert sink.wait_for(1)[0].rcpt_tos == ["alice@example.org"]
        assert console.quarantine.get(qid).status == "released"
        actions = [a.action for a in ConsoleDB(console.config.console.state_dir).audit_log(100)]
        assert {"login", "indicator.create", "triage.decide", "policy.try", "quarantine.release"} <= set(actions)
    finally:
        await console.stop()
        sink.stop()


HOSTILE_HTML = """<html><head>
<meta http-equiv="refresh" content="0;url=http://127.0.0.1:{port}/refresh">
<link rel="stylesheet" href="http://127.0.0.1:{port}/link.css">
<style>body {{ background: url(http://127.0.0.1:{port}/css.png); }}</style>
<script>document.title = 'pwned-head'; fetch('http://127.0.0.1:{port}/fetch');</script>
</head><body onload="document.title='pwned-onload'">
<p>Dear colleague, <b>please</b> continue on WhatsApp.</p>
<img src="http://127.0.0.1:{port}/beacon.png" onerror="document.title='pwned-onerror'">
<div style="background-image: url(http://127.0.0.1:{port}/inline.png)">styled</div>
<a href="javascript:document.title='pwned-link'">click me</a>
<iframe src="http://127.0.0.1:{port}/frame"></iframe>
<svg><script>document.title='pwned-svg'</script></svg>
<form action="http://127.0.0.1:{port}/form"><input name=q></form>
</body></html>"""


async def test_hostile_message_content_never_runs_or_loads(tmp_path: Path) -> None:
    need_binary("chromium")
    hits: list[str] = []

    async def beacon(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="x")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", beacon)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    console = await Console(console_config(tmp_path)).start()
    try:
        evil = f"<script>document.title='pwned-name'</script><img src=http://127.0.0.1:{port}/name.png>"
        msg = EmailMessage()
        msg["From"] = f'"{evil}" <x@gmail.com>'
        msg["To"] = "alice@example.org"
        msg["Subject"] = f"Hello \u202eevil\u202c {evil}"
        msg.set_content("Plain text with <script>document.title='pwned-text'</script> inside.\n")
        msg.add_alternative(HOSTILE_HTML.format(port=port), subtype="html")
        qid = console.quarantine.put(msg.as_bytes(), Envelope(mail_from="x@gmail.com", rcpt_tos=("alice@example.org",)),
                                     Decision(Verdict.HIGH, 12.0, (RuleHit("r", 12, f"quotes {evil}"),)))
        for i, who in enumerate(("alice", "bob")):
            await console.store.record_message(MessageMeta(
                NOW - 60 + i, "inbound", "x@gmail.com", (f"{who}@example.org",), display_name=evil,
                verdict="high", score=12.0, rule_ids=("r",), campaign_keys=("persona:evil",),
                observables=(f"persona:{evil}",)), console.config.local_domains)
        ConsoleDB(console.config.console.state_dir).add_report(
            source="link", reporter="alice", message_id=evil, subject=evil, sender="x@gmail.com", display_name=evil,
            verdict="high", score=12.0, analysis={"hits": [{"id": "r", "score": 1, "reason": evil}]})
        async with browser() as b:
            await log_in(b, console.base, "anna")
            pages = [f"/quarantine/{qid}", "/campaigns", "/triage"]
            for path in pages:
                await b.goto(console.base + path)
                title = await b.eval("document.title")
                assert "pwned" not in title, (path, title)
                assert await b.eval("document.querySelectorAll('img').length") == 0, path
                scripts = await b.eval("Array.from(document.scripts).map(s => s.src)")
                assert scripts == [f"{console.base}/static/console.js"], (path, scripts)
                if path.startswith("/quarantine/"):
                    await b.screenshot(SHOTS / "10-hostile-quarantine-entry.png")
                    frame = await b.eval("(() => { const f = document.getElementById('held-html');"
                                         " return f ? [f.getAttribute('sandbox'), f.srcdoc] : null; })()")
                    assert frame is not None and frame[0] == ""  # sandboxed: no scripts, no same-origin
                    assert "<script" not in frame[1] and "http://127.0.0.1" not in frame[1]
                    assert "continue on WhatsApp" in frame[1]
                    assert "<script>document.title='pwned-text'</script>" in await b.text("#held-text")  # as text
                    assert "\\u202e" in await b.text(".hdr-subject")  # the bidi override made visible
            await b.goto(console.base + "/campaigns")
            await b.click("a.campaign-link")
            assert "pwned" not in await b.eval("document.title")
            await b.screenshot(SHOTS / "11-hostile-campaign.png")
        beacon_requests = [u for u in b.requests if f"127.0.0.1:{port}" in u]
        assert beacon_requests == [], beacon_requests  # the browser's own network log
        assert hits == []  # and the remote host saw nothing
    finally:
        await console.stop()
        await runner.cleanup()
