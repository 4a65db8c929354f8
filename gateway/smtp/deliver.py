"""End of DATA: analyse one message, have the executor carry out its plan, answer the client.

Purpose: the SMTP side of delivery. The order is fixed: receive rules (bare newlines) ->
runtime (verdict, edits and the action plan; analysis errors answer 451 or 552) -> the executor
(gateway/act/execute.py: reject, ARC seal, quarantine, copies, upstream DATA) -> record and the
staff-report intake when the message was taken -> metrics. The client hears 250 only when the
upstream said 250, or when the message is durably in the quarantine (fsynced) -- then the gateway
holds it, as an MTA holds its queue. Stored bytes (a release, a report acknowledgement) go
through the same executor on a connection of their own: gateway/smtp/upstream.py `release`.

Untrusted input: the message bytes and envelope (a stranger's); the upstream's replies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gateway.act.execute import Sealer, carry_out
from gateway.config import in_networks
from gateway.model import Envelope
from gateway.parse import HeaderLimitExceeded
from gateway.replies import ANALYSIS_FAILED, BARE_NEWLINE, HEADER_TOO_LARGE, UPSTREAM_LOST
from gateway.runtime import AnalysisFailed, Result
from gateway.smtp.upstream import Reply, UpstreamSession, crlf_normalized, only_crlf
from gateway.store import STORE_ERROR_SIGNALS

if TYPE_CHECKING:
    from gateway.smtp.server import ServerState

log = logging.getLogger("gateway.smtp")


async def deliver(state: ServerState, raw: bytes, env: Envelope, up: UpstreamSession | None,
                  with_tls: bool, fields: dict[str, Any], bare: bool | None = None, *, dots: bool = True) -> Reply:
    """Everything after the final dot; `fields` collects what the per-message log line says.
    `bare`: whether `raw` holds a lone CR or LF, when the reader already counted it; `dots`:
    False when the reader saw no line that starts with a dot (then, and with `bare` False, the
    upstream writer sends the body as it is: `Outgoing.plain`)."""
    analysed: list[Result] = []
    reply = await _deliver(state, raw, env, up, with_tls, fields, bare, dots, analysed)
    try:
        if analysed:
            r = analysed[0]
            d = r.decision
            state.observer.message(d.verdict.word, "no" if not d.checked else "partial" if d.note else "yes",
                                   [h.rule_id for h in d.hits], [s.name for s in r.signals], r.elapsed)
        else:
            state.observer.message("unanalysed", "no", (), (), None)
    except Exception:  # metrics must never fail a message
        log.warning("metrics: message not counted", exc_info=True)
    return reply


async def _record(state: ServerState, result: Result) -> None:
    """Remember a delivered message; a failure is logged by the runtime and counted here."""
    if await state.runtime.record(result) is False:
        state.observer.record_failed()


async def _deliver(state: ServerState, raw: bytes, env: Envelope, up: UpstreamSession | None,
                   with_tls: bool, fields: dict[str, Any], bare: bool | None, dots: bool,
                   analysed: list[Result]) -> Reply:
    config = state.config
    if up is None or not up.connected:
        fields["verdict"] = "-"
        return UPSTREAM_LOST
    if bare is None:
        bare = not only_crlf(raw)  # = parse.has_bare_newline, counted in C
    if bare:
        if config.bare_newline == "reject":
            fields["verdict"] = "rejected: bare newline"
            return BARE_NEWLINE
        raw = crlf_normalized(raw)  # = parse.normalize_newlines, in C
        dots = True  # (a lone LF before a dot is a dot line now)
    try:
        result = await state.runtime.analyse(raw, env, with_tls=with_tls)
    except HeaderLimitExceeded as exc:
        fields["verdict"] = f"rejected: {exc}"
        return HEADER_TOO_LARGE
    except AnalysisFailed as exc:
        fields["verdict"] = f"tempfail: {exc}"
        return ANALYSIS_FAILED
    analysed.append(result)
    d = result.decision
    fields.update(verdict=d.verdict.word, score=d.score, reasons=tuple(h.rule_id for h in d.hits))
    if any(s.name in STORE_ERROR_SIGNALS for s in result.signals):  # judged without (part of) its history:
        fields["store"] = "unavailable"  # say so, or an empty `reasons` reads as "nothing seen"
    if not d.checked:
        fields["checked"] = "no"
    sealer = Sealer(config.authserv_id, state.arc_key) if config.arc is not None else None
    done = await carry_out(up, raw, env, result, sealer=sealer,
                           hold=lambda message, envelope, decision: state.quarantine.put(message, envelope, decision),
                           plain=not bare and not dots)
    if done.action:
        fields["action"] = done.action
    for extra, code in done.copies:
        fields["copy"] = f"{extra}:{code}"
    if done.delivered or done.held is not None:
        await _record(state, result)
        start_staff_report(state, raw if done.held is None else done.held, env, result)
    return done.reply


REPORT_INTAKES = 4  # staff reports taken into triage at once per worker; more are delivered, not triaged


def start_staff_report(state: ServerState, raw: bytes, env: Envelope, result: Result) -> None:
    """A staff report (mail to `console.report_address`) that the upstream accepted or the quarantine
    holds: take it into the triage queue (gateway/admin/console/intake.py) after the client has its
    reply, in a task of its own (the intake analyses the attached original: never on the client's
    time). Only a report that comes from inside: a client in `trusted_networks` (the organisation's
    mail server) or a message whose DMARC passed for one of `local_domains` -- anyone outside can
    write `MAIL FROM:<alice@example.org>`. The report is already delivered; a failure or a refusal
    here is logged and never changes the client's reply."""
    config = state.config
    address = config.console.report_address
    if not address or address not in (r.lower() for r in env.rcpt_tos):
        return
    trusted = in_networks(env.client.ip, config.trusted_networks)
    by_dmarc = not trusted and any(
        s.name == "dmarc.pass" and config.is_internal_domain(str(s.evidence.get("from_domain", "")))
        for s in result.signals)
    if not trusted and not by_dmarc:
        log.info("staff report %s from %r delivered, not taken into triage: its client is not in trusted_networks "
                 "and its From did not pass DMARC for a local domain", env.queue_id, (env.mail_from or "")[:80])
        return
    if len(state.report_intakes) >= REPORT_INTAKES:
        log.warning("staff report %s delivered, not taken into triage: %d reports are being taken in already",
                    env.queue_id, len(state.report_intakes))
        return
    task = asyncio.ensure_future(_take_staff_report(state, raw, env, by_dmarc))
    state.report_intakes.add(task)  # referenced until done (the loop keeps tasks weakly)
    task.add_done_callback(state.report_intakes.discard)


async def _take_staff_report(state: ServerState, raw: bytes, env: Envelope, by_dmarc: bool) -> None:
    from gateway.admin.console.intake import take_report

    try:
        await take_report(state.config, state.runtime, raw, env, by_dmarc)
    except Exception:  # the report is delivered; triage intake is best effort
        log.warning("staff report %s not taken into triage", env.queue_id, exc_info=True)

