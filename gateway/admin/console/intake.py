"""Staff reports: the report mailbox, the report link, and what both put in the triage queue.

Purpose: mail sent through the gateway to `console.report_address` is delivered like any other
mail (never lost); once the upstream has accepted it, `take_report` (called from
gateway/smtp/deliver.py) finds the reported original inside it -- a forwarded-as-attachment
`message/rfc822` part, Outlook's "Report message" attachment, an RFC 5965 ARF report
(`multipart/report; report-type=feedback-report`, its `message/rfc822` or `text/rfc822-headers`
part), or an attached `.eml` file --, analyses it with the same runtime as live mail, stores the
report and the original in the triage queue, and acknowledges the reporter by mail through the
upstream (the executor's release, gateway/smtp/upstream.py `release`; null sender,
`Auto-Submitted: auto-replied`, only to addresses in `local_domains`).
Reports from outside the organisation are delivered but not taken into triage.

Untrusted input: the report and the original inside it (a stranger's message): walked with the
byte-level MIME walker under the configured depth and part limits, analysed by the runtime; the
acknowledgement quotes nothing of the original but its Subject, cut to one line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import quopri
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import Config
from gateway.mimewalk import Entity, MimeError, walk
from gateway.model import Client, Envelope
from gateway.parse import MessageView, ViewLimits, normalize_newlines
from gateway.policy.text import one_line
from gateway.smtp.upstream import release
from gateway.store import MAX_ITEMS, MAX_RECENT, MessageMeta, Store

if TYPE_CHECKING:
    from gateway.admin.console.db import ConsoleDB
    from gateway.runtime import Result, Runtime

log = logging.getLogger("gateway.console")


def extract_original(raw: bytes, max_depth: int = 20, max_parts: int = 500) -> tuple[bytes | None, str]:
    """(the reported message's bytes, how it was found) or (None, why not)."""
    try:
        root = walk(raw, max_depth=max_depth, max_parts=max_parts)
    except MimeError as exc:
        return None, f"the report's MIME structure could not be read ({exc})"
    found: list[tuple[int, Entity, str]] = []
    for e in root.walk():
        if e is root:
            continue
        ctype = e.content_type
        name = ""
        try:
            name = (e.headers.get_filename() or "").lower()
        except Exception:  # noqa: BLE001 - RFC 2231 parameters from a stranger
            name = ""
        if ctype == "message/rfc822":
            found.append((0, e, "message/rfc822 attachment"))
        elif name.endswith(".eml"):
            found.append((1, e, f"attached file {name[:80]}"))
        elif ctype == "text/rfc822-headers":
            found.append((2, e, "ARF text/rfc822-headers (headers only)"))
    if not found:
        return None, "no attached message: forward the approach as an attachment (or use Report message)"
    found.sort(key=lambda t: t[0])
    _, entity, how = found[0]
    body = raw[entity.body_start:entity.end]
    cte = entity.cte
    try:
        if cte == "base64":
            body = base64.b64decode(b"".join(body.split()), validate=False)
        elif cte == "quoted-printable":
            body = quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return None, f"the attached message's {cte} encoding is broken"
    body = normalize_newlines(body.lstrip(b"\r\n"))
    if entity.content_type == "text/rfc822-headers" and b"\r\n\r\n" not in body:
        body = body.rstrip(b"\r\n") + b"\r\n\r\n"
    if not body.strip():
        return None, "the attached message is empty"
    return body, how


async def find_message(store: Store, message_id: str, days: int) -> MessageMeta | None:
    """The newest remembered inbound message with this Message-ID in the last `days` days."""
    wanted = message_id.strip()
    if not wanted:
        return None
    for m in await store.recent(time.time() - days * 86400, limit=MAX_RECENT):
        if m.message_id.strip() == wanted:
            return m
    return None


def addressed_to(user: str, meta: MessageMeta, local_domains: tuple[str, ...]) -> bool | None:
    """Whether the stored message went to this console user: their name is one of its recipients, or, a name
    without "@" (what a reverse proxy's REMOTE_USER usually is), its local part at one of `local_domains`. None
    (not known) when it did not among the recipients kept but the history keeps no more (MAX_ITEMS: review46 #3)."""
    name = user.lower()
    for rcpt in meta.recipients:
        local, _, domain = rcpt.lower().rpartition("@")
        if rcpt.lower() == name or ("@" not in name and local == name and domain in local_domains):
            return True
    return None if len(meta.recipients) >= MAX_ITEMS else False


def reporter_key(reporter: str, local_domains: tuple[str, ...]) -> str:
    """Who a report counts against for `console.reports_per_hour`: one person however written (review46 #1: "rob",
    "Rob", "rob@example.org" and "rob+x@example.org" each had an hour's allowance): lower-cased, an address at one
    of `local_domains` as its local part without a "+tag" or a BATV "prvs=TAG=". Link and mailbox reports are
    counted apart (add_report's `source`), so one cannot use up the other (review46b #4)."""
    name = reporter.strip().lower()
    local, at, domain = name.rpartition("@")
    if at and domain.rstrip(".") in local_domains:
        if local.startswith("prvs=") and local.count("=") >= 2:  # BATV: prvs=TAG=local (review46b #4)
            local = local.split("=", 2)[2]
        return local.split("+", 1)[0] or name
    return name


def analysis_of(result: Result) -> dict[str, Any]:
    """What the triage queue keeps of an analysis: verdict, score, reasons, signals with evidence."""
    d = result.decision
    return {"verdict": d.verdict.word, "score": d.score, "checked": d.checked, "note": d.note,
            "hits": [{"id": h.rule_id, "score": h.score, "reason": h.reason} for h in d.hits],
            "signals": [{"name": s.name, "evidence": {k: str(v) for k, v in s.evidence.items()}}
                        for s in result.signals],
            "observables": list(result.meta.observables) if result.meta else [],
            "campaign_keys": list(result.meta.campaign_keys) if result.meta else []}


def console_db(config: Config) -> ConsoleDB:
    from gateway.admin.console.db import ConsoleDB

    return ConsoleDB(config.console.state_dir)


def purge_reports(config: Config, days: int | None = None) -> int:
    """Delete the staff reports (and originals) older than `days` (default
    `console.report_retention_days`); nothing, and nothing created, where the console has no
    state yet. Blocking."""
    if not (Path(config.console.state_dir) / "console.sqlite3").is_file():
        return 0
    return console_db(config).purge_reports(config.console.report_retention_days if days is None else days)


_OVER_LIMIT = "report from %r delivered, not taken into triage: %d reports in the last hour (console.reports_per_hour)"


async def take_report(config: Config, runtime: Runtime, raw: bytes, env: Envelope,
                      by_dmarc: bool = False) -> str | None:
    """Take a delivered report into triage; returns the report id (None when it is not one we take).
    `by_dmarc`: the report came in because its From passed DMARC for a local domain, not from a client in
    `trusted_networks`: it is that From's, whatever MAIL FROM says (review46 #2: a DMARC-passing From with
    `MAIL FROM:<ceo@...>` was filed as the CEO's and used up their reports_per_hour).
    Raises only what the caller logs (the report itself is already delivered)."""
    limits = runtime.limits
    try:
        view = MessageView.of_header(raw, ViewLimits(max_header_count=limits.max_header_count,
                                                     max_header_bytes=limits.max_header_bytes))
        from_addr = view.from_address
    except ValueError:
        from_addr = ""
    # let in by the From's DMARC alone: the From's, whatever MAIL FROM says (a provider's VERP, BATV or SRS bounce
    # address is no one's; a forged one is not believed: review46b #5)
    reporter = (from_addr if by_dmarc else env.mail_from or from_addr).lower()
    domain = reporter.rpartition("@")[2]
    if "@" not in reporter or not config.is_internal_domain(domain):
        log.info("report from %r (not in local_domains) delivered, not taken into triage", reporter[:80])
        return None
    from gateway.admin.console.db import ReportLimit

    db = await asyncio.to_thread(console_db, config)
    per_hour = config.console.reports_per_hour

    def person(name: str) -> str:
        return reporter_key(name, config.local_domains)
    try:  # before the work: a flood of reports is delivered, not analysed (add_report checks again as it writes)
        await asyncio.to_thread(lambda: db.check_report_limit(reporter, per_hour, person=person, source="mailbox"))
    except ReportLimit:
        log.warning(_OVER_LIMIT, reporter[:80], per_hour)
        return None
    # off the event loop: the walk of a 9.5 MB report of 499 parts took ~220 ms, and other
    # sessions' replies waited behind it (attack20 finding 6)
    original, how = await asyncio.to_thread(extract_original, raw, limits.max_mime_depth, limits.max_mime_parts)
    analysis: dict[str, Any] = {"found": how}
    subject = sender = name = mid = ""
    verdict, score = "", 0.0
    if original is not None:
        try:
            oview = MessageView.of_header(original, limits)  # its headers; the runtime analyses the rest
            subject, sender, name = oview.subject, oview.from_address, oview.from_display
            mid = (oview.header("Message-ID") or "").strip()
            renv = Envelope(mail_from=oview.return_path, rcpt_tos=(reporter,), client=Client(),
                            queue_id=f"report-{env.queue_id}")
            result = await runtime.analyse(original, renv, add_received=False)
            analysis.update(analysis_of(result))
            verdict, score = result.decision.verdict.word, result.decision.score
            # the verdict it got when it arrived (the store's, by Message-ID): the analysis now
            # differs where history moved on (it is no longer a first contact, for one)
            delivered = await find_message(runtime.store, mid, config.console.report_window_days) \
                if runtime.store is not None else None
            if delivered is not None:
                analysis["delivered"] = {"verdict": delivered.verdict, "score": delivered.score,
                                         "rules": list(delivered.rule_ids), "when": delivered.when,
                                         "sender": delivered.sender}
                analysis["reporter_addressed"] = addressed_to(reporter, delivered, config.local_domains)
                analysis["reanalysed"] = {"verdict": verdict, "score": score}
                verdict, score = delivered.verdict, delivered.score
        except Exception as exc:  # noqa: BLE001 - a hostile original: keep the report, say why
            analysis["error"] = f"the attached message could not be analysed ({type(exc).__name__})"
    try:
        rid = await asyncio.to_thread(
            lambda: db.add_report(source="mailbox", reporter=reporter, message_id=mid, subject=one_line(subject, 300),
                                  sender=sender, display_name=one_line(name, 200), verdict=verdict, score=score,
                                  analysis=analysis, original=original, per_hour=per_hour,
                                  person=person))
    except ReportLimit:
        log.warning(_OVER_LIMIT, reporter[:80], per_hour)
        return None
    await asyncio.to_thread(db.audit, reporter, "reporter", "report.mailbox", rid,
                            f"queue id {env.queue_id}; {how}")
    ack = acknowledgement(config, reporter, rid, subject, original is not None, how)
    sent = await release(config, "", (reporter,), ack)
    if not sent.delivered:
        log.warning("report %s: acknowledgement to %s not sent: %s", rid, reporter, sent.summary())
    return rid


def acknowledgement(config: Config, reporter: str, rid: str, subject: str, found: bool, how: str) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = config.console.report_address or f"postmaster@{config.hostname}"
    msg["To"] = reporter
    msg["Subject"] = "Report received" + (f": {one_line(subject, 120)}" if subject else "")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=config.hostname)
    msg["Auto-Submitted"] = "auto-replied"
    lines = ["Thank you: the security team has received your report and will review it.",
             "Please do not reply to the sender or follow their instructions meanwhile.", "",
             f"Reference: {rid}"]
    if not found:
        lines += ["", f"We could not find the reported message in your mail ({how}).",
                  "Please forward it again as an attachment (in Outlook: Report message, or"
                  " More actions > Forward as attachment)."]
    if config.console.base_url:
        lines += ["", f"Security team's console: {config.console.base_url}/triage/{rid}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg.as_bytes()
