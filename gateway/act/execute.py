"""The one delivery executor: carries out a message's action plan against an upstream session.

Purpose: everything the gateway does to a message once the verdict and its plan are known, in a
fixed order, for `serve` and for every release alike:
- `carry_out` (serve's end of DATA, gateway/smtp/deliver.py): reject -> the edits (already in
  the analysis result) -> ARC seal after all edits (a failure is logged and the message relayed
  unsealed) -> quarantine (stored durably before the 250; a write failure answers 451) or copy to
  the extra recipients and the upstream DATA. It returns the reply for the client and what the
  message's log line says.
- `relay_stored` (`quarantine release`, the console's release, the report acknowledgement; the
  connection comes from gateway/smtp/upstream.py `release`): MAIL, RCPT for each recipient, DATA,
  for bytes that are final already (nothing is edited or sealed again).

Both drive an `Upstream`: the four SMTP steps this module needs, so that act/ never imports
smtp/ (gateway/smtp/upstream.py `UpstreamSession` has them; tests use an in-memory one too).
The rules the house keeps: the client hears 250 only when the upstream answered 250 to the final
dot, or when the quarantine holds the message on disk; a release is "released" only when the
upstream answered 250 to the final dot.

Untrusted input: the message and its envelope (a stranger's; passed through, never interpreted
here) and the upstream's replies (a trusted server that may be down, slow or refusing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.act.actions import ActionPlan
from gateway.act.seal import ArcKey, arc_seal
from gateway.errors import UpstreamError
from gateway.model import Decision, Envelope, Outgoing, Reply
from gateway.replies import INTERNAL_ERROR, NO_RECIPIENTS, QUARANTINED

# serve's delivery lines kept the logger they had in gateway/smtp/deliver.py (operators filter on it)
log = logging.getLogger("gateway.smtp")

QUARANTINE_WRITE_FAILED = INTERNAL_ERROR  # Postfix's wording: no internals
QUARANTINE_FAILED = "quarantine-failed"  # the action logged when the write failed (the client heard 451)


class Upstream(Protocol):
    """What the executor needs of an upstream session. Each step returns the upstream's reply;
    a failure (connection lost, timeout, broken reply) raises UpstreamError carrying the 4xx to
    pass on. After a refused DATA the transaction is still open: the executor sends RSET."""

    async def mail(self, sender: str, options: list[str]) -> Reply: ...

    async def rcpt(self, recipient: str, options: list[str]) -> Reply: ...

    async def data(self, message: bytes | Outgoing) -> Reply: ...

    async def rset(self) -> None: ...


class Analysed(Protocol):
    """What the executor reads of an analysis (gateway/runtime.py `Result` has it)."""

    @property
    def decision(self) -> Decision: ...

    @property
    def plan(self) -> ActionPlan | None: ...

    @property
    def modified(self) -> bool: ...

    @property
    def auth_header(self) -> str | None: ...

    def outgoing(self, raw: bytes) -> Outgoing: ...


Hold = Callable[[bytes, Envelope, Decision], str]
"""Store a message durably and return its quarantine id (blocking: run in a thread); raises
when it cannot (disk, index). gateway/act/quarantine.py `QuarantineStore.put`."""


@dataclass(frozen=True)
class Sealer:
    """ARC sealing as configured (`arc:`): our authserv-id and the key, read on first use so a
    missing key file is a failed seal (logged, message relayed unsealed), not a lost message."""

    authserv_id: str
    key: Callable[[], ArcKey]


@dataclass(frozen=True)
class Outcome:
    """What `carry_out` did. `reply` is the client's. `delivered`: the upstream took the message
    (250 to the final dot); `held`: the bytes the quarantine now holds (the client heard 250 for
    them). `action` and `copies` are for the message's log line."""

    reply: Reply
    delivered: bool = False
    held: bytes | None = None
    action: str | None = None  # "reject", "quarantine:<id>", "quarantine-failed"
    copies: tuple[tuple[str, int], ...] = ()  # (extra recipient, the upstream's code to its RCPT)


async def carry_out(up: Upstream, raw: bytes, env: Envelope, result: Analysed, *,
                    sealer: Sealer | None = None, hold: Hold | None = None, plain: bool = False) -> Outcome:
    """Carry out `result.plan` for `raw` (the received message, CRLF) on `up`, where MAIL and
    every RCPT of `env` are already accepted. Never raises for the upstream's sake: a failure
    becomes the 4xx the client hears. `plain`: `raw` holds only CRLF line ends and no line that
    starts with a dot (the receiver counted both): relayed as it is, it needs neither again
    (`Outgoing.plain`; a bannered body is a new one and is checked as before)."""
    todo = result.plan
    if todo is not None and todo.reject:
        code, _, text = todo.reject.partition(" ")
        return Outcome(Reply(int(code), text), action="reject")
    outgoing = result.outgoing(raw)
    if plain and outgoing.body is raw:
        outgoing = dataclasses.replace(outgoing, plain=True)
    out = await _sealed(outgoing, result, env, sealer)
    if todo is not None and todo.quarantine:
        return await _quarantine(up, out, env, result.decision, todo.extra_rcpts, hold)
    copies: list[tuple[str, int]] = []
    try:
        for extra in todo.extra_rcpts if todo is not None else ():
            reply = await up.rcpt(extra, [])
            copies.append((extra, reply.code))
            if not reply.ok:
                log.warning("copy to %s refused by upstream: %s %s", extra, reply.code, reply.text)
        reply = await up.data(out)
    except UpstreamError as exc:
        log.warning("upstream failed at DATA for %s: %s", env.queue_id, exc)
        return Outcome(exc.reply, copies=tuple(copies))
    return Outcome(reply, delivered=reply.ok, copies=tuple(copies))


async def _sealed(out: Outgoing, result: Analysed, env: Envelope, sealer: Sealer | None) -> Outgoing | bytes:
    """ARC-seal a message the gateway modified (RFC 8617), after all edits. A failure to seal
    is logged and the message relayed unsealed: never lose mail over a seal."""
    authres = result.auth_header
    if sealer is None or not result.modified or not authres:
        return out  # the pieces as they are: the upstream writer never joins them
    try:
        key = sealer.key()
        return await asyncio.to_thread(arc_seal, bytes(out), authres, key, sealer.authserv_id)
    except Exception as exc:  # noqa: BLE001 - dkimpy raises several types; relay unsealed
        log.warning("ARC seal failed for %s: %s", env.queue_id, exc)
        return out


async def _quarantine(up: Upstream, relayed: Outgoing | bytes, env: Envelope, decision: Decision,
                      extras: tuple[str, ...], hold: Hold | None) -> Outcome:
    """Hold the message (durably), drop the upstream transaction, copy to the security mailbox
    if configured; 250 only once the message is on disk. From the write on, nothing the upstream
    does changes the 250: the gateway holds the message, as an MTA holds its queue."""
    out = bytes(relayed)
    if hold is None:
        log.error("quarantine write failed for %s: no quarantine store given", env.queue_id)
        return Outcome(QUARANTINE_WRITE_FAILED, action=QUARANTINE_FAILED)
    try:
        qid = await asyncio.to_thread(hold, out, env, decision)
    except Exception as exc:  # noqa: BLE001 - disk or index (sqlite3) trouble: the sender retries
        log.error("quarantine write failed for %s: %s", env.queue_id, exc)
        return Outcome(QUARANTINE_WRITE_FAILED, action=QUARANTINE_FAILED)
    await _rset(up)
    if extras:
        try:
            await _send_copy(up, env, extras, out)
        except UpstreamError as exc:  # the message is held; the copy is best effort
            log.warning("copy of quarantined %s not sent: %s", qid, exc)
    return Outcome(QUARANTINED.format(queue_id=env.queue_id), held=out, action=f"quarantine:{qid}")


async def _send_copy(up: Upstream, env: Envelope, rcpts: tuple[str, ...], out: bytes) -> None:
    """The held message to the extra recipients only, in a transaction of its own."""
    reply = await up.mail(env.mail_from, [])
    if not reply.ok:
        log.warning("copy: upstream refused MAIL: %s %s", reply.code, reply.text)
        return
    accepted = [r for r in rcpts if (await up.rcpt(r, [])).ok]
    if accepted:
        await up.data(out)
    else:
        await _rset(up)


async def _rset(up: Upstream) -> None:
    try:
        await up.rset()
    except UpstreamError:  # the connection is gone: no transaction is left open either
        pass


# --------------------------------------------------------------------------- releases


@dataclass(frozen=True)
class Relayed:
    """What `relay_stored` achieved. `delivered` only when the upstream answered 250 to the final
    dot (then `accepted` got the message, and `refused` lists recipients the upstream refused
    for good). Otherwise nothing was delivered: `reply` and `detail` say where it stopped."""

    reply: Reply
    accepted: tuple[str, ...] = ()
    refused: tuple[tuple[str, Reply], ...] = ()
    detail: str = ""

    @property
    def delivered(self) -> bool:
        return self.reply.ok and bool(self.accepted)

    def summary(self) -> str:
        """One line: to whom it went and who was refused (delivered), or why nothing was sent."""
        if not self.delivered:
            return self.detail or f"{self.reply.code} {self.reply.text}"
        line = "to " + ", ".join(self.accepted)
        if self.refused:
            line += "; refused for good by the upstream: " + ", ".join(
                f"{r} ({reply.code} {reply.text.splitlines()[0] if reply.text else ''})" for r, reply in self.refused)
        return line


async def relay_stored(up: Upstream, mail_from: str, rcpts: Sequence[str], raw: bytes) -> Relayed:
    """Relay final bytes (a quarantined message, an acknowledgement) to `rcpts` on `up`: MAIL,
    RCPT each, DATA. Recipients, decided once for every release:
    - a recipient refused for good (5xx) is left out and reported; the others get the message
      (an MTA bounces such a recipient and delivers the rest);
    - a recipient refused for now (4xx) stops the release before DATA, nothing is sent (RSET):
      a later release reaches everyone, and no one gets the message twice;
    - every recipient refused: nothing is sent.
    Never raises for the upstream's sake; `Relayed.delivered` says whether the upstream took it."""
    try:
        reply = await up.mail(mail_from, [])
        if not reply.ok:
            return Relayed(reply, detail=f"MAIL refused: {reply.code} {reply.text}")
        accepted: list[str] = []
        refused: list[tuple[str, Reply]] = []
        for rcpt in rcpts:
            reply = await up.rcpt(rcpt, [])
            if reply.ok:
                accepted.append(rcpt)
            elif reply.code < 500:
                await _rset(up)
                return Relayed(reply, detail=f"RCPT TO:<{rcpt}> refused for now: {reply.code} {reply.text}; "
                               "nothing was sent, try again later")
            else:
                refused.append((rcpt, reply))
        if not accepted:
            await _rset(up)
            first = refused[0][1] if refused else NO_RECIPIENTS
            return Relayed(first, refused=tuple(refused), detail="every recipient was refused: " + ", ".join(
                f"{r} ({x.code} {x.text})" for r, x in refused))
        reply = await up.data(raw)
        if not reply.ok:
            await _rset(up)
            return Relayed(reply, detail=f"DATA refused: {reply.code} {reply.text}")
    except UpstreamError as exc:
        return Relayed(exc.reply, detail=str(exc))
    return Relayed(reply, tuple(accepted), tuple(refused))
