"""End of DATA: analyse one message, carry out its actions, relay it, answer the client.

Purpose: the one place where a received message meets the upstream. The order is fixed:
receive rules (bare newlines) -> runtime (verdict and edits) -> actions (reject, quarantine,
copy to a security mailbox) -> upstream DATA -> the upstream's reply to the client -> record.
The client hears 250 only when the upstream said 250, or when the message is durably in the
quarantine (fsynced) -- then the gateway holds it, as an MTA holds its queue.

Untrusted input: the message bytes and envelope (a stranger's); the upstream's replies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gateway.act.seal import arc_seal
from gateway.model import Envelope, Outgoing
from gateway.parse import HeaderLimitExceeded
from gateway.runtime import AnalysisFailed, Result
from gateway.smtp.upstream import Reply, UpstreamError, UpstreamSession, crlf_normalized, only_crlf

if TYPE_CHECKING:
    from gateway.smtp.server import ServerState

log = logging.getLogger("gateway.smtp")


async def deliver(state: ServerState, raw: bytes, env: Envelope, up: UpstreamSession | None,
                  with_tls: bool, fields: dict[str, Any], bare: bool | None = None) -> Reply:
    """Everything after the final dot; `fields` collects what the per-message log line says.
    `bare`: whether `raw` holds a lone CR or LF, when the reader already counted it."""
    analysed: list[Result] = []
    reply = await _deliver(state, raw, env, up, with_tls, fields, bare, analysed)
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
                   with_tls: bool, fields: dict[str, Any], bare: bool | None, analysed: list[Result]) -> Reply:
    config = state.config
    if up is None or not up.connected:
        fields["verdict"] = "-"
        return Reply(451, "4.4.1 Error: upstream connection lost, try again later")
    if bare is None:
        bare = not only_crlf(raw)  # = parse.has_bare_newline, counted in C
    if bare:
        if config.bare_newline == "reject":
            fields["verdict"] = "rejected: bare newline"
            return Reply(550, "5.5.2 Error: bare <CR> or <LF> received; use <CR><LF>")
        raw = crlf_normalized(raw)  # = parse.normalize_newlines, in C
    try:
        result = await state.runtime.analyse(raw, env, with_tls=with_tls)
    except HeaderLimitExceeded as exc:
        fields["verdict"] = f"rejected: {exc}"
        return Reply(552, "5.3.4 Error: message header size exceeds limit")
    except AnalysisFailed as exc:
        fields["verdict"] = f"tempfail: {exc}"
        return Reply(451, "4.7.1 Error: message could not be checked, try again later")
    analysed.append(result)
    d = result.decision
    fields.update(verdict=d.verdict.word, score=d.score, reasons=tuple(h.rule_id for h in d.hits))
    if not d.checked:
        fields["checked"] = "no"
    todo = result.plan
    if todo is not None and todo.reject:
        fields["action"] = "reject"
        code, _, text = todo.reject.partition(" ")
        return Reply(int(code), text)
    out = await _seal(state, result.outgoing(raw), result, env)
    try:
        if todo is not None and todo.quarantine:
            return await _quarantine(state, out, env, result, up, fields)
        for extra in todo.extra_rcpts if todo is not None else ():
            reply = await up.rcpt(extra, [])
            fields["copy"] = f"{extra}:{reply.code}"
            if not reply.ok:
                log.warning("copy to %s refused by upstream: %s %s", extra, reply.code, reply.text)
        reply = await up.data(out)
    except UpstreamError as exc:
        log.warning("upstream failed at DATA for %s: %s", env.queue_id, exc)
        return exc.reply
    if reply.ok:
        await _record(state, result)
        await take_staff_report(state, raw, env)
    return reply


async def take_staff_report(state: ServerState, raw: bytes, env: Envelope) -> None:
    """A staff report (mail to `console.report_address`) that the upstream accepted or the quarantine
    holds: take it into the triage queue (gateway/admin/console/intake.py). The report is already
    delivered; a failure here is logged and never changes the client's reply."""
    address = state.config.console.report_address
    if not address or address not in (r.lower() for r in env.rcpt_tos):
        return
    from gateway.admin.console.intake import take_report

    try:
        await take_report(state.config, state.runtime, raw, env)
    except Exception:  # the report is delivered; triage intake is best effort
        log.warning("staff report %s not taken into triage", env.queue_id, exc_info=True)


async def _seal(state: ServerState, out: Outgoing, result: Result, env: Envelope) -> Outgoing | bytes:
    """ARC-seal a message the gateway modified (RFC 8617), after all edits. A failure to seal
    is logged and the message relayed unsealed: never lose mail over a seal."""
    cfg = state.config.arc
    authres = result.auth_header
    if cfg is None or not result.modified or not authres:
        return out
    try:
        key = state.arc_key()
        return await asyncio.to_thread(arc_seal, bytes(out), authres, key, state.config.authserv_id)
    except Exception as exc:  # noqa: BLE001 - dkimpy raises several types; relay unsealed
        log.warning("ARC seal failed for %s: %s", env.queue_id, exc)
        return out


async def _quarantine(state: ServerState, relayed: Outgoing | bytes, env: Envelope, result: Result,
                      up: UpstreamSession, fields: dict[str, Any]) -> Reply:
    """Hold the message (durably), drop the upstream transaction, copy to the security
    mailbox if configured; answer 250 only once the message is on disk."""
    out = bytes(relayed)
    try:
        qid = await asyncio.to_thread(state.quarantine.put, out, env, result.decision)
    except Exception as exc:  # noqa: BLE001 - disk or index (sqlite3) trouble: the sender retries
        log.error("quarantine write failed for %s: %s", env.queue_id, exc)
        return Reply(451, "4.3.0 Error: queue file write error")
    fields["action"] = f"quarantine:{qid}"
    await up.rset()
    extras = result.plan.extra_rcpts if result.plan is not None else ()
    if extras:
        try:
            await _send_copy(up, env, extras, out)
        except UpstreamError as exc:  # the message is held; the copy is best effort
            log.warning("copy of quarantined %s not sent: %s", qid, exc)
    await _record(state, result)
    await take_staff_report(state, out, env)
    return Reply(250, f"2.0.0 Ok: queued as {env.queue_id}")


async def _send_copy(up: UpstreamSession, env: Envelope, rcpts: tuple[str, ...], out: bytes) -> None:
    reply = await up.mail(env.mail_from, [])
    if not reply.ok:
        log.warning("copy: upstream refused MAIL: %s %s", reply.code, reply.text)
        return
    accepted = [r for r in rcpts if (await up.rcpt(r, [])).ok]
    if accepted:
        await up.data(out)
    else:
        await up.rset()
