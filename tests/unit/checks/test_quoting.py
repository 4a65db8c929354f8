"""A reply's quoted history is cut from the stranger's words only when it may be ours: a
reference is a message we sent (the sender or another outside party of the message), or we have
written to the sender or its domain. A first contact's made-up In-Reply-To does not hide its
approach (attack23 Q1: '>' before every line, or an Outlook block naming the recipient above it,
read as quoted history: clean 2.6 where the same text is high 29.8)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.checks import CheckContext, SharedState, run_checks
from gateway.checks.claims import QuotedHistory, approach_text
from gateway.checks.pretext import PretextCheck
from gateway.checks.quoting import MAX_REF_GROUPS, QuotingCheck, sent_keys
from gateway.checks.textmodel import TextModelCheck
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from gateway.runtime import Runtime
from gateway.store import MAX_CAMPAIGN_KEYS, MessageMeta
from gateway.store.memory import MemoryStore
from gateway.store.record import outbound_keys
from tests.support.messages import config, message, with_providers

CUES = {"offer.money", "ask.views"}
APPROACH = ["Dear Dana,", "", "We would be grateful for your views on the sanctions regime.",
            "We offer an honorarium of USD 500 for a one-hour call.", "", "Daniel Lee"]
OUTLOOK = ["________________________________", "From: Dana Prof <d.prof@example.ac.uk>",
           "Sent: Monday, November 2, 2026 9:12 AM", "To: Daniel Lee", "Subject: A research question", ""]
GT = "\n".join("> " + line for line in APPROACH) + "\n"  # attack23 'gt': every line quoted
BLOCK = "Following up below.\n\n" + "\n".join(OUTLOOK + APPROACH) + "\n"  # attack23 'outlook'
STRANGER = "Daniel Lee <daniel.lee@gmail.com>"
OURS = "<ours-1@example.ac.uk>"
LOCAL = ("example.org", "example.ac.uk")


def _store(sent_to: str = "", mid: str = OURS, wrote_to: str = "") -> MemoryStore:
    """A memory store that remembers our message `mid` sent to `sent_to` (its sent keys, and the
    pair), or only that we wrote to `wrote_to` (a learned pair, no ID)."""
    store = MemoryStore()

    async def seed() -> None:
        if sent_to:
            await store.record_message(MessageMeta(when=time.time() - 86400, direction="outbound",
                                                   sender="d.prof@example.ac.uk", recipients=(sent_to,),
                                                   message_id=mid, campaign_keys=outbound_keys(mid, [sent_to])),
                                       LOCAL)
        if wrote_to:
            await store.learn_pair("d.prof@example.ac.uk", wrote_to, time.time() - 86400, True)
    asyncio.run(seed())
    return store


class _Counting(MemoryStore):
    """A memory store that counts the calls the quoting check makes (and can fail them)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.calls, self.fail = 0, fail

    async def sender_history(self, sender: str, rcpts: Any, domain: str = "") -> Any:
        self.calls += 1
        if self.fail:
            raise ConnectionError("store down")
        return await super().sender_history(sender, rcpts, domain)

    async def campaign_reach_many(self, queries: Any) -> Any:
        self.calls += 1
        if self.fail:
            raise ConnectionError("store down")
        return await super().campaign_reach_many(queries)


def _read(body: str, *, store: Any = None, from_: str = STRANGER, irt: str | None = "<made-up-1@mail.gmail.com>",
          cc: str = "", client_ip: str = "192.0.2.7") -> tuple[set[str], QuotedHistory | None, str]:
    """The pretext check's signal names on the message, the quoting check's answer, and the
    stranger's words as the checks read them."""
    headers = {"In-Reply-To": irt} if irt else {}
    if cc:
        headers["Cc"] = cc
    cfg = config()
    data = ReferenceData.load(cfg)
    checks = with_providers([PretextCheck(), QuotingCheck()])
    ctx = CheckContext(view=MessageView.parse(message(from_, body, headers=headers)),
                       envelope=Envelope("", (), Client(ip=client_ip)), config=cfg, data=data,
                       domains=Domains(cfg.local_domains), offline=True, store=store,
                       state=SharedState.for_checks(cfg, data, checks))
    result = asyncio.run(run_checks(checks, ctx))
    words = ctx.approach_text[1] if ctx.approach_text else ""
    return {s.name for s in result.signals}, ctx.get(QuotedHistory), words


def test_a_first_contacts_made_up_reply_quotes_only_itself() -> None:
    """attack23 Q1 (a) and (b): the store knows neither the reference nor the sender."""
    for body in (GT, BLOCK):
        names, standing, words = _read(body, store=_store())
        assert CUES <= names, body
        assert standing == QuotedHistory(ours=False, why="first_contact")
        assert "honorarium of USD 500" in words and not words.lstrip().startswith(">")


def test_a_reply_to_our_message_still_has_its_quoted_history_cut() -> None:
    """The reference is a message we sent the sender: what the reply quotes may be ours."""
    for body in (GT, BLOCK):
        store = _store(sent_to="daniel.lee@gmail.com")
        names, standing, words = _read("Thanks, that works for me.\n\n" + body, store=store, irt=OURS)
        assert not names & CUES, body
        assert standing == QuotedHistory(ours=True, why="sent")
        assert words.startswith("Thanks, that works for me.") and "honorarium" not in words


def test_a_correspondent_with_an_unknown_reference_is_cut_as_before() -> None:
    """We wrote to the sender (a learned pair, no ID), or to its (not free-mail) domain: not a first
    contact; a made-up reference of a correspondent is campaign.unknown_reference's business."""
    for sender, wrote_to in ((STRANGER, "daniel.lee@gmail.com"), ("Bo Lin <bo.lin@partner.test>", "al@partner.test")):
        names, standing, _ = _read(GT, store=_store(wrote_to=wrote_to), from_=sender)
        assert not names & CUES, sender
        assert standing == QuotedHistory(ours=True, why="correspondent")
    # a free-mail domain is not an organisation we wrote to
    names, standing, _ = _read(GT, store=_store(wrote_to="someone.else@gmail.com"))
    assert CUES <= names and standing == QuotedHistory(ours=False, why="first_contact")


def test_a_reply_all_to_our_message_sent_to_another_party_is_cut() -> None:
    """A newcomer copied into a thread answers our message to a colleague of theirs in Cc."""
    store = _store(sent_to="al@partner.test")
    newcomer = "Bo Lin <bo.lin@mail.partner.test>"
    names, standing, _ = _read("Adding my view.\n\n" + GT, store=store, irt=OURS, cc="Al <al@partner.test>",
                               from_=newcomer)
    assert not names & CUES and standing == QuotedHistory(ours=True, why="sent")
    # the same reference without that party among the message's addresses: not ours to cut
    names, standing, _ = _read("Adding my view.\n\n" + GT, store=store, irt=OURS, from_=newcomer)
    assert CUES <= names and standing == QuotedHistory(ours=False, why="first_contact")
    # review24: a stranger who names that party in Cc (our Message-ID to a list is public in its
    # archive) is no colleague of theirs: not ours to cut
    names, standing, _ = _read("Adding my view.\n\n" + GT, store=store, irt=OURS, cc="Al <al@partner.test>")
    assert CUES <= names and standing == QuotedHistory(ours=False, why="first_contact")


def test_without_a_store_or_with_a_broken_one_a_reply_quotes_only_itself() -> None:
    """What the gateway cannot tell from its history it does not cut (module docstring)."""
    names, standing, _ = _read(GT)
    assert CUES <= names and standing == QuotedHistory(ours=False, why="no_store")
    broken = _Counting(fail=True)
    names, standing, _ = _read(GT, store=broken)
    assert CUES <= names and standing == QuotedHistory(ours=False, why="store_error") and broken.calls


def test_the_store_is_asked_only_when_a_reply_would_cut_something() -> None:
    """No reply headers, or nothing a reply's reading cuts ('>' lines, a mark naming our side):
    no store call, no answer, nobody waits."""
    plain = "\n".join(APPROACH) + "\n"
    third = "Passing on a note.\n\nOn Mon, 30 Nov 2026, Lee Wong <lee.wong@gmail.com> wrote:\n" + plain
    for body, irt in ((GT, None), (BLOCK, None), (plain, "<made-up-1@mail.gmail.com>"), (third, None)):
        store = _Counting()
        names, standing, _ = _read(body, store=store, irt=irt)
        assert CUES <= names and standing is None and store.calls == 0, body
    # a reply whose text holds a client's line above quoted history: asked (round 55: may the text
    # model read that line?), though nothing is cut
    store = _Counting()
    names, standing, _ = _read(third, store=store)
    assert CUES <= names and standing == QuotedHistory(ours=False, why="first_contact") and store.calls == 2
    store = _Counting()
    _read(GT, store=store, from_="Colleague <c@example.org>", client_ip="")  # internal mail: not asked
    assert store.calls == 0


def test_outside_a_check_run_a_reply_is_read_as_the_text_model_was_trained() -> None:
    """`approach_text` without the store's answer (the text model's training, tools): a reply's
    quotes are cut as before, so the training texts do not change."""
    cfg = config()
    ctx = CheckContext(view=MessageView.parse(message(STRANGER, "Mine.\n" + GT, headers={"In-Reply-To": OURS})),
                       envelope=Envelope("", (), Client()), config=cfg, data=ReferenceData.load(cfg),
                       domains=Domains(cfg.local_domains))
    assert approach_text(ctx, None) == "Mine."


def test_the_reference_keys_are_bounded() -> None:
    refs = [f"<r{i}@x.test>" for i in range(200)]
    keys = sent_keys(refs, ["a@x.test", "b@y.test", "c@z.test", "d@w.test"])
    assert len(keys) == MAX_REF_GROUPS * MAX_CAMPAIGN_KEYS == len(set(keys))


def test_through_the_runtime_a_made_up_reply_is_flagged_and_a_real_one_is_not() -> None:
    """End to end with a real (memory) store: our staff's message to a correspondent, the
    correspondent's reply quoting it (our own words about an honorarium, off-channel, discreet),
    and a stranger's approach as '>' lines under a made-up In-Reply-To."""
    runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
    ours = ("We would be grateful for your views on the sanctions regime. We offer an honorarium of USD 500 "
            "for a one-hour call, paid discreetly. Could we continue this on WhatsApp or Telegram? Please keep "
            "this between us.")
    lure = [*APPROACH[:3], ours, "", "Daniel Lee"]
    now = time.time()

    async def go() -> list[tuple[str, set[str]]]:
        sent = message("Dana Prof <d.prof@example.ac.uk>", ours, to="Ines Ruiz <ines@partner.test>")
        sent = sent.replace(b"Message-ID: <t1@test>", f"Message-ID: {OURS}".encode())
        out = await runtime.analyse(sent, Envelope("d.prof@example.ac.uk", ("ines@partner.test",),
                                                   Client(ip="10.0.0.5"), received_at=now), add_received=False)
        await runtime.record(out)
        got = []
        for from_, irt in (("Ines Ruiz <ines@partner.test>", OURS), (STRANGER, "<made-up-1@mail.gmail.com>")):
            raw = message(from_, "Happy to help, see below.\n\n" + "\n".join("> " + ln for ln in lure) + "\n",
                          subject="Re: A research question", headers={"In-Reply-To": irt})
            result = await runtime.analyse(raw, Envelope("", ("d.prof@example.ac.uk",), Client(ip="192.0.2.7"),
                                                         received_at=now + 60), add_received=False)
            got.append((result.decision.verdict.word, {s.name for s in result.signals}))
        return got
    (genuine, genuine_signals), (made_up, made_up_signals) = asyncio.run(go())
    assert genuine == "clean" and not genuine_signals & CUES, sorted(genuine_signals)
    assert made_up in ("suspicious", "high") and CUES <= made_up_signals


def _probability(body: str, *, store: Any, irt: str = "<made-up-1@mail.gmail.com>") -> float:
    """The text model's probability for the message (0.0 below its floor), run with the quoting check."""
    cfg = config()
    data = ReferenceData.load(cfg)
    checks = with_providers([TextModelCheck(), QuotingCheck()])
    ctx = CheckContext(view=MessageView.parse(message("Julia <julia.w@gmail.com>", body, headers={"In-Reply-To": irt})),
                       envelope=Envelope("", (), Client(ip="192.0.2.7")), config=cfg, data=data,
                       domains=Domains(cfg.local_domains), offline=True, store=store,
                       state=SharedState.for_checks(cfg, data, checks))
    result = asyncio.run(run_checks(checks, ctx))
    found = [s.evidence["probability"] for s in result.signals if s.name == "text.approach_register"]
    return float(found[0]) if found else 0.0  # type: ignore[arg-type]


def test_a_reply_nobody_here_vouches_for_gets_no_credit_for_its_client_lines() -> None:
    """Round 55: a made-up In-Reply-To over an approach with an attribution line appended (naming a
    third party, so nothing is cut) had the text model read "wrote" (weighed -14.3 by the shipped
    model): the line lowered the approach's score. In a reply the store does not call ours (a first
    contact, no store) the model reads the stranger's words without it; in a reply to our message it
    reads them as in training."""
    opener = ("Dear Dr Rahman,\n\nI am interested in your work on the regional outlook. Could you share your comments "
              "on the attached materials in a short call next week?\n\nBest regards,\nJulia")
    quoted = opener + "\n\nOn Mon, 3 Feb 2025 at 11:00, Helen Marsh <h.marsh@uni-bonn.example> wrote:\n"
    base = _probability(opener, store=_store())
    assert base >= 0.75
    assert _probability(quoted, store=_store()) == base  # a first contact
    assert _probability(quoted, store=None) == base  # nothing known: no credit either
    vouched = _store(sent_to="julia.w@gmail.com")
    assert _probability(opener, store=vouched, irt=OURS) == base
    assert _probability(quoted, store=vouched, irt=OURS) < base  # a reply to us: read as in training


def test_a_replys_quote_marks_read_the_senders_and_recipients_names_once_a_message(monkeypatch: Any) -> None:
    """cpu44 #1: each of a reply's quote marks (MAX_QUOTE_MARKS: 20) that names nobody by address compared its name
    with the From and every recipient's display name, reading each again: 20 marks x (1 + recipients) readings, up
    to three times a message (1,000 recipients: 200 ms; names of combining marks: 1.4-2.4 s). The names were read
    once a pass (session 44), the marks and names once a message now (review44b #6: three passes), and a mark naming a
    recipient still cuts the quoted history."""
    from gateway.checks import claims
    real = claims.name_tokens
    read: list[str] = []

    def counting(text: str) -> list[str]:
        read.append(text)
        return real(text)

    monkeypatch.setattr(claims, "name_tokens", counting)
    recipients = [f"Person{chr(65 + i)} Example{chr(65 + i)} <p{i}@example.org>" for i in range(8)]
    marks = "".join(f"On Zed Quux{chr(65 + i)} wrote:\nearlier text\n\n" for i in range(claims.MAX_QUOTE_MARKS))
    approach = "\n".join(APPROACH) + "\n"
    names, _, words = _read("Thanks.\n\n" + marks + approach, store=_store(sent_to="daniel.lee@gmail.com"), irt=OURS,
                            cc=", ".join(recipients))
    # (reply_cuts twice and the approach text once read the same text: once)
    assert len(read) <= claims.MAX_QUOTE_MARKS + 2 + len(recipients), len(read)
    assert CUES <= names and "honorarium" in words  # nobody of ours named: nothing cut
    read.clear()
    named = marks.replace("On Zed QuuxT wrote:", "On PersonC ExampleC wrote:")
    names, _, words = _read("Thanks.\n\n" + named + approach, store=_store(sent_to="daniel.lee@gmail.com"), irt=OURS,
                            cc=", ".join(recipients))
    assert not names & CUES and "honorarium" not in words
