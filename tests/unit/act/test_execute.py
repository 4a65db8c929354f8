"""The delivery executor against an in-memory upstream: every branch of `carry_out` (serve's end
of DATA) and of `relay_stored` (every release). The same code against real sockets: the serve
tests (test_serve_actions, test_auth_gateway, test_serve_upstream_state) and
tests/integration/act/test_release.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from gateway.act.actions import ActionPlan
from gateway.act.execute import Relayed, Sealer, carry_out, relay_stored
from gateway.act.seal import ArcKey
from gateway.errors import UpstreamError
from gateway.model import Decision, Envelope, Outgoing, Reply, Verdict

RAW = b"From: a@partner.test\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
ENV = Envelope(mail_from="a@partner.test", rcpt_tos=("bob@example.org",), queue_id="Q1")
OK = Reply(250, "2.0.0 Ok")
LOST = Reply(451, "4.4.1 Error: upstream server unavailable, try again later")


class MemoryUpstream:
    """An upstream session in memory: what was sent (`sent`), scripted replies per command and
    recipient, and `lost_at` a command at which the connection goes away (UpstreamError, as
    gateway/smtp/upstream.py raises it)."""

    def __init__(self, *, mail: Reply = OK, rcpt: dict[str, Reply] | None = None, data: Reply = OK,
                 lost_at: str | None = None, rset_raises: bool = False) -> None:
        self.replies = {"mail": mail, "data": data}
        self.rcpt_replies = rcpt or {}
        self.lost_at = lost_at
        self.rset_raises = rset_raises
        self.sent: list[tuple[str, object]] = []
        self.payload: bytes | None = None

    def _step(self, command: str, arg: object) -> None:
        if self.lost_at in (command, f"{command} {arg}"):
            raise UpstreamError(LOST, f"{command.upper()} failed: connection lost")
        self.sent.append((command, arg))

    async def mail(self, sender: str, options: list[str]) -> Reply:
        self._step("mail", sender)
        return self.replies["mail"]

    async def rcpt(self, recipient: str, options: list[str]) -> Reply:
        self._step("rcpt", recipient)
        return self.rcpt_replies.get(recipient, Reply(250, "2.1.5 Ok"))

    async def data(self, message: bytes | Outgoing) -> Reply:
        self._step("data", None)
        self.payload = bytes(message)
        return self.replies["data"]

    async def rset(self) -> None:
        if self.rset_raises:
            raise UpstreamError(LOST, "RSET failed: connection lost")
        self.sent.append(("rset", None))

    def commands(self) -> list[str]:
        return [c for c, _ in self.sent]


@dataclass(frozen=True)
class Analysis:
    """Stands in for gateway/runtime.py `Result` (the executor reads these five things)."""

    plan: ActionPlan | None = None
    decision: Decision = field(default_factory=lambda: Decision(Verdict.SUSPICIOUS, 6.0))
    modified: bool = False
    auth_header: str | None = "gw.example.org; spf=pass smtp.mailfrom=partner.test"

    def outgoing(self, raw: bytes) -> Outgoing:
        head = b"X-Approach-Verdict: suspicious\r\n"
        return Outgoing(head, self.plan.raw if self.plan is not None else raw, 0)


EDITED = b"X-Approach-Verdict: suspicious\r\n" + RAW


class Quarantine:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.held: list[tuple[bytes, Envelope, Decision]] = []

    def put(self, raw: bytes, env: Envelope, decision: Decision) -> str:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.held.append((raw, env, decision))
        return "20260101T000000Z-0123456789ab"


def _plan(**kw: object) -> ActionPlan:
    return ActionPlan(raw=RAW, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- carry_out (serve)


async def test_plain_delivery_sends_the_edited_message_and_passes_the_upstream_reply_on() -> None:
    up = MemoryUpstream(data=Reply(250, "2.0.0 Ok: queued as UP1"))
    done = await carry_out(up, RAW, ENV, Analysis())
    assert done.reply == Reply(250, "2.0.0 Ok: queued as UP1") and done.delivered and done.held is None
    assert up.commands() == ["data"] and up.payload == EDITED and done.action is None


async def test_reject_answers_the_plan_reply_and_sends_nothing() -> None:
    up = MemoryUpstream()
    done = await carry_out(up, RAW, ENV, Analysis(_plan(reject="550 5.7.1 Not accepted here")))
    assert (done.reply, done.action, done.delivered) == (Reply(550, "5.7.1 Not accepted here"), "reject", False)
    assert up.sent == []


@pytest.mark.parametrize("code", [451, 554])
async def test_upstream_refusal_at_data_is_the_client_reply(code: int) -> None:
    refusal = Reply(code, f"{code // 100}.7.1 no")
    done = await carry_out(MemoryUpstream(data=refusal), RAW, ENV, Analysis())
    assert done.reply == refusal and not done.delivered


async def test_connection_lost_at_data_answers_4xx() -> None:
    done = await carry_out(MemoryUpstream(lost_at="data"), RAW, ENV, Analysis())
    assert done.reply == LOST and not done.delivered


async def test_copy_to_an_extra_recipient_refused_still_delivers_to_the_others() -> None:
    up = MemoryUpstream(rcpt={"sec@example.org": Reply(550, "5.1.1 unknown")})
    done = await carry_out(up, RAW, ENV, Analysis(_plan(extra_rcpts=("soc@example.org", "sec@example.org"))))
    assert done.delivered and done.copies == (("soc@example.org", 250), ("sec@example.org", 550))
    assert up.sent == [("rcpt", "soc@example.org"), ("rcpt", "sec@example.org"), ("data", None)]


async def test_connection_lost_at_a_copy_rcpt_answers_4xx_and_sends_no_data() -> None:
    up = MemoryUpstream(lost_at="rcpt sec@example.org")
    done = await carry_out(up, RAW, ENV, Analysis(_plan(extra_rcpts=("soc@example.org", "sec@example.org"))))
    assert done.reply == LOST and not done.delivered and done.copies == (("soc@example.org", 250),)
    assert "data" not in up.commands()


async def test_quarantine_holds_the_final_bytes_then_answers_250_without_delivering() -> None:
    up, q = MemoryUpstream(), Quarantine()
    done = await carry_out(up, RAW, ENV, Analysis(_plan(quarantine=True)), hold=q.put)
    assert done.reply == Reply(250, "2.0.0 Ok: queued as Q1") and not done.delivered
    assert done.action == "quarantine:20260101T000000Z-0123456789ab"
    assert q.held == [(EDITED, ENV, Decision(Verdict.SUSPICIOUS, 6.0))] and done.held == EDITED
    assert up.commands() == ["rset"]  # the mirrored transaction is dropped, nothing delivered


@pytest.mark.parametrize("hold", ["fails", "missing"])
async def test_quarantine_write_failure_answers_451_and_touches_nothing_upstream(
        hold: str, caplog: pytest.LogCaptureFixture) -> None:
    up = MemoryUpstream()
    done = await carry_out(up, RAW, ENV, Analysis(_plan(quarantine=True, extra_rcpts=("soc@example.org",))),
                           hold=Quarantine(fail=True).put if hold == "fails" else None)
    assert done.reply == Reply(451, "4.3.0 Error: queue file write error") and done.held is None
    assert up.sent == [] and "quarantine write failed for Q1" in caplog.text
    assert done.action == "quarantine-failed"  # the refusal line's reason says so, not "upstream unavailable"


async def test_quarantine_copies_the_held_message_to_the_extra_recipients_only() -> None:
    up, q = MemoryUpstream(rcpt={"sec@example.org": Reply(550, "5.1.1 unknown")}), Quarantine()
    plan = _plan(quarantine=True, extra_rcpts=("soc@example.org", "sec@example.org"))
    done = await carry_out(up, RAW, ENV, Analysis(plan), hold=q.put)
    assert done.reply.code == 250 and done.held == EDITED
    assert up.sent == [("rset", None), ("mail", "a@partner.test"), ("rcpt", "soc@example.org"),
                       ("rcpt", "sec@example.org"), ("data", None)]
    assert up.payload == EDITED


@pytest.mark.parametrize("upstream", [
    MemoryUpstream(mail=Reply(451, "4.3.0 busy")),
    MemoryUpstream(rcpt={"soc@example.org": Reply(550, "5.1.1 unknown")}),
    MemoryUpstream(lost_at="mail"),
    MemoryUpstream(lost_at="data"),
    MemoryUpstream(data=Reply(554, "5.7.1 no")),
    MemoryUpstream(rset_raises=True),
], ids=["mail-refused", "every-copy-refused", "lost-at-mail", "lost-at-data", "data-refused", "rset-lost"])
async def test_a_held_message_is_250_whatever_happens_to_its_copy(upstream: MemoryUpstream) -> None:
    q = Quarantine()
    done = await carry_out(upstream, RAW, ENV, Analysis(_plan(quarantine=True, extra_rcpts=("soc@example.org",))),
                           hold=q.put)
    assert done.reply.code == 250 and len(q.held) == 1 and done.held == EDITED


def _arc_key() -> ArcKey:
    from tests.support.dkimkeys import rsa_key
    return ArcKey("arc", "gw.example.org", rsa_key().private)


async def test_a_modified_message_is_sealed_after_all_edits() -> None:
    pytest.importorskip("authres")  # dkimpy's ARC signer needs it
    up = MemoryUpstream()
    await carry_out(up, RAW, ENV, Analysis(modified=True), sealer=Sealer("gw.example.org", _arc_key))
    assert up.payload is not None and up.payload.startswith(b"ARC-Seal: i=1; cv=none")
    assert up.payload.endswith(EDITED)  # the seal covers the edited message, edits untouched


async def test_a_sealed_message_is_what_the_quarantine_holds() -> None:
    pytest.importorskip("authres")
    q = Quarantine()
    await carry_out(MemoryUpstream(), RAW, ENV, Analysis(_plan(quarantine=True), modified=True),
                    sealer=Sealer("gw.example.org", _arc_key), hold=q.put)
    assert q.held[0][0].startswith(b"ARC-Seal: i=1") and q.held[0][0].endswith(EDITED)


@pytest.mark.parametrize("analysis", [Analysis(modified=False), Analysis(modified=True, auth_header=None)])
async def test_no_seal_for_an_unmodified_message_or_without_our_results(analysis: Analysis) -> None:
    up = MemoryUpstream()
    await carry_out(up, RAW, ENV, analysis, sealer=Sealer("gw.example.org", _arc_key))
    assert up.payload == EDITED


async def test_a_failed_seal_relays_unsealed_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    def no_key() -> ArcKey:
        raise FileNotFoundError(2, "No such file or directory", "/etc/gw/arc.key")
    up = MemoryUpstream()
    with caplog.at_level(logging.WARNING, logger="gateway.smtp"):
        done = await carry_out(up, RAW, ENV, Analysis(modified=True), sealer=Sealer("gw.example.org", no_key))
    assert done.delivered and up.payload == EDITED
    assert "ARC seal failed for Q1" in caplog.text


# --------------------------------------------------------------------------- relay_stored (release)


RCPTS = ("bob@example.org", "carol@example.org")


async def test_release_sends_mail_each_rcpt_then_data() -> None:
    up = MemoryUpstream()
    done = await relay_stored(up, "a@partner.test", RCPTS, EDITED)
    assert done.delivered and done.accepted == RCPTS and done.refused == ()
    assert up.sent == [("mail", "a@partner.test"), ("rcpt", "bob@example.org"), ("rcpt", "carol@example.org"),
                       ("data", None)]
    assert up.payload == EDITED and done.summary() == "to bob@example.org, carol@example.org"


@pytest.mark.parametrize("refusal", [Reply(421, "4.3.2 shutting down"), Reply(553, "5.1.8 bad sender")])
async def test_release_mail_refused_sends_nothing(refusal: Reply) -> None:
    up = MemoryUpstream(mail=refusal)
    done = await relay_stored(up, "a@partner.test", RCPTS, EDITED)
    assert not done.delivered and done.reply == refusal and up.commands() == ["mail"]
    assert done.summary() == f"MAIL refused: {refusal.code} {refusal.text}"


async def test_release_leaves_out_a_recipient_refused_for_good_and_says_so() -> None:
    up = MemoryUpstream(rcpt={"bob@example.org": Reply(550, "5.1.1 <bob@example.org>: User unknown")})
    done = await relay_stored(up, "a@partner.test", RCPTS, EDITED)
    assert done.delivered and done.accepted == ("carol@example.org",)
    assert done.refused == (("bob@example.org", Reply(550, "5.1.1 <bob@example.org>: User unknown")),)
    assert up.commands() == ["mail", "rcpt", "rcpt", "data"]
    assert done.summary() == ("to carol@example.org; refused for good by the upstream: "
                              "bob@example.org (550 5.1.1 <bob@example.org>: User unknown)")


async def test_release_stops_before_data_when_a_recipient_is_refused_for_now() -> None:
    up = MemoryUpstream(rcpt={"bob@example.org": Reply(450, "4.2.1 mailbox busy")})
    done = await relay_stored(up, "a@partner.test", RCPTS, EDITED)
    assert not done.delivered and done.reply == Reply(450, "4.2.1 mailbox busy")
    assert up.commands() == ["mail", "rcpt", "rset"]  # carol is not even asked: nothing is sent
    assert "refused for now" in done.summary() and "try again later" in done.summary()


async def test_release_every_recipient_refused_sends_nothing() -> None:
    up = MemoryUpstream(rcpt={r: Reply(550, "5.1.1 unknown") for r in RCPTS})
    done = await relay_stored(up, "a@partner.test", RCPTS, EDITED)
    assert not done.delivered and done.reply == Reply(550, "5.1.1 unknown") and "data" not in up.commands()
    assert up.commands()[-1] == "rset" and done.summary().startswith("every recipient was refused")


@pytest.mark.parametrize("refusal", [Reply(452, "4.3.1 insufficient storage"), Reply(554, "5.7.1 no")])
async def test_release_data_refused_is_not_released(refusal: Reply) -> None:
    up = MemoryUpstream(data=refusal)
    done = await relay_stored(up, "a@partner.test", RCPTS, EDITED)
    assert not done.delivered and done.reply == refusal and done.accepted == ()
    assert done.summary() == f"DATA refused: {refusal.code} {refusal.text}"


@pytest.mark.parametrize("at", ["mail", "rcpt carol@example.org", "data"])
async def test_release_connection_lost_is_not_released(at: str) -> None:
    done = await relay_stored(MemoryUpstream(lost_at=at), "a@partner.test", RCPTS, EDITED)
    assert not done.delivered and done.reply == LOST and "connection lost" in done.summary()


def test_relayed_is_delivered_only_with_a_2xx_and_a_recipient() -> None:
    assert Relayed(OK, ("bob@example.org",)).delivered
    assert not Relayed(OK).delivered  # no recipient took it: never "released"
    assert not Relayed(Reply(451, "4.3.0 x"), ("bob@example.org",)).delivered
