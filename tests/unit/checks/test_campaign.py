"""Campaign keys (near-duplicate texts share a band, different texts do not) and what the
campaign check makes of them across messages."""

from __future__ import annotations

import asyncio
import time
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks import campaign
from gateway.checks.campaign import text_bands
from gateway.domains import Domains
from gateway.model import Client, Envelope
from gateway.runtime import Runtime
from gateway.store import MAX_CAMPAIGN_KEYS
from gateway.store.memory import MemoryStore
from gateway.store.record import MAX_THREAD_REFS, decision_meta, thread_references
from tests.support.messages import config, message

LURE = ("Dear {name}, I am a researcher at the Centre for Contemporary World Studies. We are preparing a "
        "confidential report on how the government is thinking about export controls and semiconductors, "
        "and we would value your views. We can pay for your time and would welcome a long-term relationship. "
        "Could you send me a short note by Friday? With best regards, Li Wei")


def test_copies_to_different_colleagues_share_a_band() -> None:
    a = set(text_bands(LURE.format(name="Dr Keller")))
    b = set(text_bands(LURE.format(name="Ms Dubois").replace("by Friday", "by Monday")))
    assert a and a & b


def test_unrelated_texts_share_no_band() -> None:
    other = ("Hi all, the quarterly review of the lab's safety procedures is due next week. Please read the "
             "attached checklist, add your comments in the shared document and bring questions to the meeting "
             "on Thursday afternoon in room 4.12. Thanks, the lab manager")
    assert not set(text_bands(LURE.format(name="Dr Keller"))) & set(text_bands(other))


def test_short_texts_are_not_fingerprinted() -> None:
    assert text_bands("Can we talk on WhatsApp?") == []



def _bands_as_written_first(text: str) -> list[str]:
    """text_bands as it was first written (each shingle a str in a set, then encoded and hashed):
    the keys the store already holds, which a faster `text_bands` must give unchanged."""
    words = campaign._WORD.findall(text[:campaign.MAX_TEXT].lower())
    if len(words) < campaign.MIN_WORDS:
        return []
    shingles = set(map(" ".join, zip(*(words[i:] for i in range(campaign.SHINGLE)), strict=False)))
    hashes = sorted(map(zlib.crc32, map(str.encode, shingles)))
    bins = [[h for h in hashes if h >> campaign._BIN_SHIFT == b] for b in range(campaign.BANDS * campaign.ROWS)]
    mins = [min(b) if b else None for b in bins]
    out = []
    for b in range(campaign.BANDS):
        rows = mins[b * campaign.ROWS:(b + 1) * campaign.ROWS]
        if None not in rows:
            out.append(f"text:{b}:{campaign._h(','.join(map(str, rows)))}")
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["report", "the", "Straße", "ıİK", "x_y", "٣4", "Ω", "--", " ", "\n", ",", "é",
                                 "\u2003", "confidential", "42"]), max_size=120))
def test_the_bands_are_those_of_the_first_implementation(pieces: list[str]) -> None:
    """Same keys for ASCII and other text (the ASCII words are found without `re`), repeated
    shingles (no set), underscores and non-ASCII digits (a word boundary and a word)."""
    for text in (" ".join(pieces), "".join(pieces), (" ".join(pieces) + " ") * 3, LURE.format(name=" ".join(pieces))):
        assert text_bands(text) == _bands_as_written_first(text)

# --- across messages, through a Runtime and a real (memory) store ---------------------------------


def _signals_of(runtime: Runtime, raw: bytes, rcpt: str, when: float) -> dict[str, dict]:
    async def go() -> dict[str, dict]:
        result = await runtime.analyse(raw, Envelope("", (rcpt,), Client(ip="192.0.2.7"), received_at=when),
                                       add_received=False)
        await runtime.record(result)
        return {s.name: s.evidence for s in result.signals}
    return asyncio.run(go())


def _verdict_of(runtime: Runtime, raw: bytes, when: float) -> tuple[str, set[str]]:
    """The verdict and the signals' names of `raw` to k@example.org, recorded in the store after."""
    async def go() -> tuple[str, set[str]]:
        result = await runtime.analyse(raw, Envelope("", ("k@example.org",), Client(ip="192.0.2.7"),
                                                     received_at=when), add_received=False)
        await runtime.record(result)
        return result.decision.verdict.word, {s.name for s in result.signals}
    return asyncio.run(go())


# a paid advisory role, views on a sensitive subject, secrecy and a move to WhatsApp: flagged alone
_LURE = ("Hi, we pay a generous honorarium for a paid advisory role: your views on export controls, "
         "strictly confidential. Add me on WhatsApp +44 7700 900123 and send your CV.")


def _mail(sender: str, msgid: str, body: str, to: str, reply_to_id: str = "") -> bytes:
    raw = message(sender, body, to=to, subject="A question")
    raw = raw.replace(b"Message-ID: <t1@test>", f"Message-ID: {msgid}".encode())
    if reply_to_id:
        raw = raw.replace(b"MIME-Version", f"In-Reply-To: {reply_to_id}\r\nReferences: {reply_to_id}\r\n"
                          "MIME-Version".encode())
    return raw


def test_same_text_to_several_colleagues_and_a_self_follow_up() -> None:
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    first = _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<m1@ccws.test>",
                                       LURE.format(name="Dr Keller"), "k@example.org"), "k@example.org", now)
    assert "campaign.reach" not in first
    # the same text (and the same claimed organisation) from another address to another colleague
    second = _signals_of(runtime, _mail("Anna Berg <a.berg@other.test>", "<m2@other.test>",
                                        LURE.format(name="Ms Dubois"), "d@example.org"), "d@example.org",
                         now + 3600)
    reach = second["campaign.reach"]
    assert reach["via"] in ("text", "organisation") and reach["recipients"] == 2
    assert reach["messages"] == 2 and reach["senders"] == 1  # senders of the earlier messages
    # the first sender writes again "following up" on its own message nobody answered
    third = _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<m3@ccws.test>",
                                       "Just following up on my note below.", "k@example.org", "<m1@ccws.test>"),
                        "k@example.org", now + 7200)
    assert third["campaign.self_follow_up"]["messages"] == 1
    # a reply that points at the same Message-ID but comes from someone else is not a self follow-up
    other = _signals_of(runtime, _mail("Eve <eve@else.test>", "<m4@else.test>", "Re: your note.",
                                       "k@example.org", "<m1@ccws.test>"), "k@example.org", now + 7300)
    assert "campaign.self_follow_up" not in other


def test_history_outside_the_window_does_not_count() -> None:
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<m1@ccws.test>", LURE.format(name="Dr Keller"),
                               "k@example.org"), "k@example.org", now - 40 * 86400)
    later = _signals_of(runtime, _mail("Wei Li <w.li@other.test>", "<m2@other.test>",
                                       LURE.format(name="Ms Dubois"), "d@example.org"), "d@example.org", now)
    assert "campaign.reach" not in later


def _invitation(persona: str, note: str, msgid: str) -> bytes:
    body = (f"{persona} sent you a new message\n\n{persona}\nTalent Director at Harbourline Consulting Group\n\n"
            f"\"{note}\"\n\nReply: https://www.linkedin.com/x\n")
    return _mail(f"{persona} via LinkedIn <messages-noreply@linkedin.com>", msgid, body, "k@example.org")


def test_a_flagged_persona_does_not_flag_everyone_the_network_relays() -> None:
    """The network's notification address relays every member: after one persona's message was
    flagged, another persona's invitation is not its follow-up; the same persona's next one is."""
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    first, _ = _verdict_of(runtime, _invitation("Kevin Zhao", _LURE, "<l1@linkedin.com>"), now)
    assert first in ("suspicious", "high")
    _, other = _verdict_of(runtime, _invitation("Maria Olsen", "Great to meet you at the conference.",
                                                "<l2@linkedin.com>"), now + 3600)
    assert "campaign.follow_up_of_flagged" not in other
    _, again = _verdict_of(runtime, _invitation("Kevin Zhao", "Did you see my note?", "<l3@linkedin.com>"), now + 7200)
    assert "campaign.follow_up_of_flagged" in again


def _note(persona: str, note: str, msgid: str) -> bytes:
    body = f"{persona} sent you a new message\n\n\"{note}\"\n\nReply: https://www.linkedin.com/x\n"
    return _mail(f"{persona} via LinkedIn <messages-noreply@linkedin.com>", msgid, body, "k@example.org")


def test_through_a_network_the_flagged_message_must_be_the_same_personas() -> None:
    """A member who wrote before, then another persona flagged through the same address: the member's
    next message is not a follow-up of a flagged approach (it was the other persona's that was flagged,
    not this one's earlier message)."""
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    # (a plain note: since the text model was retrained on whole first messages (session 21), "Great to
    # meet you at the conference." from a new persona reads 0.70 approach-like, just over its floor)
    first, _ = _verdict_of(runtime, _note("Maria Olsen", "See you at the workshop on Monday.", "<n1@linkedin.com>"),
                           now)
    assert first in ("clean", "caution")  # not flagged
    flagged, _ = _verdict_of(runtime, _invitation("Kevin Zhao", _LURE, "<n2@linkedin.com>"), now + 60)
    assert flagged in ("suspicious", "high")
    _, later = _verdict_of(runtime, _note("Maria Olsen", "Here are the slides from my talk.", "<n3@linkedin.com>"),
                           now + 3600)
    assert "campaign.follow_up_of_flagged" not in later


def test_first_contact_through_a_network_is_the_personas() -> None:
    """The network's address has written before (another member's note), so it is no first contact;
    a persona no earlier message carried is (issue 11: the persona inside is judged like a direct
    sender), and the same persona's second message is not."""
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    first = _signals_of(runtime, _note("Maria Olsen", "Great to meet you at the conference.", "<p1@linkedin.com>"),
                        "k@example.org", now)
    assert first["campaign.persona_first_contact"] == {"network": "linkedin", "persona": "Maria Olsen"}
    new = _signals_of(runtime, _note("Kevin Zhao", "Would you have time for a short call?", "<p2@linkedin.com>"),
                      "k@example.org", now + 60)
    assert "sender.first_contact_org" not in new  # the address is known ...
    assert new["campaign.persona_first_contact"]["persona"] == "Kevin Zhao"  # ... the person is not
    again = _signals_of(runtime, _note("Kevin Zhao", "Did you see my note?", "<p3@linkedin.com>"),
                        "k@example.org", now + 120)
    assert "campaign.persona_first_contact" not in again
    # a direct sender is judged by its address (sender.first_contact_org), not by this signal
    direct = _signals_of(runtime, _mail("Kevin Zhao <kz@harbourline.test>", "<p4@harbourline.test>", "Hello.",
                                        "k@example.org"), "k@example.org", now + 180)
    assert "campaign.persona_first_contact" not in direct


def _decide(runtime: Runtime, sender: str, status: str, when: float) -> None:
    """What the console's triage does on a decision (gateway/admin/console/app.py)."""
    keys = campaign.decision_keys(sender, status, Domains(("example.org",)))
    assert keys
    assert runtime.store is not None
    asyncio.run(runtime.store.record_message(decision_meta(sender, keys, when, "r1", status), ("example.org",)))


def test_an_analysts_decision_is_inherited_by_the_senders_later_messages() -> None:
    """'Not an approach' on a report stops a flagged first message's judgement passing to the sender's
    next message (and its campaign cues); 'approach' makes them follow-ups of an approach again, even
    for a sender the gateway never flagged; the analyst's latest decision counts."""
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    sender = "Kevin Zhao <kevin.zhao.hr@gmail.com>"
    first, _ = _verdict_of(runtime, _mail(sender, "<f1@gmail.com>", _LURE, "k@example.org"), now)
    assert first in ("suspicious", "high")
    _, before = _verdict_of(runtime, _mail(sender, "<f2@gmail.com>", "Did you see my note?", "k@example.org"),
                            now + 60)
    assert "campaign.follow_up_of_flagged" in before
    _decide(runtime, "kevin.zhao.hr@gmail.com", "not_approach", now + 120)
    _, cleared = _verdict_of(runtime, _mail(sender, "<f3@gmail.com>", "Any news?", "k@example.org"), now + 180)
    assert not {s for s in cleared if s.startswith("campaign.")}, cleared  # nor 'wrote again' or 'to others'
    _decide(runtime, "kevin.zhao.hr@gmail.com", "approach", now + 240)
    _, again = _verdict_of(runtime, _mail(sender, "<f4@gmail.com>", "Any news?", "k@example.org"), now + 300)
    assert "campaign.follow_up_of_flagged" in again
    # a sender the gateway let through, which an analyst then judged an approach
    quiet = "Anna Berg <anna.berg.research@gmail.com>"
    verdict, _ = _verdict_of(runtime, _mail(quiet, "<q1@gmail.com>", "Hello, a short question.", "k@example.org"),
                             now + 360)
    assert verdict in ("clean", "caution")
    _decide(runtime, "anna.berg.research@gmail.com", "approach", now + 420)
    verdict, later = _verdict_of(runtime, _mail(quiet, "<q2@gmail.com>", "Hello again.", "k@example.org"),
                                 now + 480)
    assert "campaign.follow_up_of_flagged" in later and verdict in ("suspicious", "high")


def test_a_clearance_does_not_hide_what_the_sender_does_after_it() -> None:
    """A sender cleared by an analyst, whose next message is itself an approach (a taken-over
    account): that message is flagged on its content, and its follow-up inherits it again."""
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    now = time.time()
    sender = "Maria Olsen <maria.olsen.events@gmail.com>"
    _verdict_of(runtime, _mail(sender, "<c1@gmail.com>", "Hello, a question about your talk.", "k@example.org"), now)
    _decide(runtime, "maria.olsen.events@gmail.com", "not_approach", now + 60)
    lure, _ = _verdict_of(runtime, _mail(sender, "<c2@gmail.com>", _LURE, "k@example.org"), now + 120)
    assert lure in ("suspicious", "high")
    _, after = _verdict_of(runtime, _mail(sender, "<c3@gmail.com>", "Did you see my note?", "k@example.org"),
                           now + 180)
    assert "campaign.follow_up_of_flagged" in after


def test_no_decision_judges_a_shared_address_or_our_own() -> None:
    ours = Domains(("example.org",))
    assert campaign.decision_keys("messages-noreply@linkedin.com", "not_approach", ours) == ()
    assert campaign.decision_keys("invitations@linkedin.com", "approach", ours) == ()
    assert campaign.decision_keys("", "approach", ours) == ()
    assert campaign.decision_keys("rita@lists.example.org", "approach", ours) == ()
    assert campaign.decision_keys("a@b.test", "new", ours) == ()
    assert campaign.decision_keys("A@B.test", "approach", ours) == (campaign.confirmed_key("a@b.test"),)
    assert campaign.decision_keys("A@B.test", "not_approach", ours) == (campaign.cleared_key("a@b.test"),)
    # the address as the store keeps it: an over-long one is cut alike on both sides
    long = "x" * 400 + "@b.test"
    assert campaign.cleared_key(long) == campaign.cleared_key(long[:320]) != campaign.cleared_key("y" + long)


def test_an_automatic_answer_does_not_make_a_stranger_a_correspondent() -> None:
    """attack21: an out-of-office answer to the stranger's first message (RFC 3834 Auto-Submitted)
    made the stranger a known correspondent, and the next approach to anyone here, with a made-up
    In-Reply-To, passed as a reply inside a conversation. An automatic answer teaches nothing; a
    person's answer does."""
    for auto, known in (("Auto-Submitted: auto-replied\r\n", False), ("", True)):
        runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
        now = time.time()
        _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<a1@ccws.test>", "Hello.", "k@example.org"),
                    "k@example.org", now)
        answer = _mail("K <k@example.org>", "<a2@example.org>", "I am out of the office.", "li.wei@ccws.test")
        answer = answer.replace(b"MIME-Version", auto.encode() + b"MIME-Version")
        asyncio.run(_record_outbound(runtime, answer, now + 60))
        later = _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<a3@ccws.test>", "Hello again.",
                                           "m@example.org"), "m@example.org", now + 3600)
        assert ("sender.unanswered" not in later) is known, (auto, sorted(later))


async def _record_outbound(runtime: Runtime, raw: bytes, when: float, client: str = "10.0.0.5") -> None:
    result = await runtime.analyse(raw, Envelope("k@example.org", ("li.wei@ccws.test",), Client(ip=client),
                                                 received_at=when), add_received=False)
    await runtime.record(result)


def test_our_from_forged_from_outside_does_not_make_the_forger_a_correspondent() -> None:
    """attack21 (store poisoning): `From: k@example.org` to the stranger, sent from outside with
    nothing authenticating it, is remembered as the stranger's inbound mail (gateway/checks/
    origin.py), and teaches no "we wrote to them" pair: the stranger's next message is still unanswered."""
    runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
    now = time.time()
    _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<f1@ccws.test>", "Hello.", "k@example.org"),
                "k@example.org", now)
    forged = _mail("K <k@example.org>", "<f2@example.org>", "Yes, let us talk.", "li.wei@ccws.test")
    asyncio.run(_record_outbound(runtime, forged, now + 60, client="192.0.2.99"))
    later = _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<f3@ccws.test>", "Hello again.",
                                       "m@example.org"), "m@example.org", now + 3600)
    assert "sender.unanswered" in later, sorted(later)


def test_a_forged_from_does_not_hold_its_flagged_approach_against_the_address() -> None:
    """attack21 (store poisoning): two approaches under a newcomer's forged From (DMARC fails, per
    the trusted border MTA) made the newcomer's next honest message a follow-up of a flagged
    approach. A From that fails DMARC is not the sender's: nothing is held against the address.
    The same approaches under a From that passes are held against it, as before."""
    def ar(result: str) -> str:
        return f"mx.example.org; dmarc={result} header.from=newcomer.test"
    for result, held in (("fail", False), ("pass", True)):
        runtime = Runtime(config("trusted_authserv_ids: [mx.example.org]\n"), offline=True, store=MemoryStore())
        now = time.time()
        for i, to in enumerate(("k@example.org", "m@example.org")):
            raw = message("Ana Ruiz <ana@newcomer.test>", _LURE, to=to, headers={"Authentication-Results": ar(result)})
            raw = raw.replace(b"Message-ID: <t1@test>", f"Message-ID: <p{i}@newcomer.test>".encode())
            verdict, _ = _verdict_to(runtime, raw, to, now + i)
            assert verdict in ("suspicious", "high")
        honest = message("Ana Ruiz <ana@newcomer.test>", "Here are the minutes of Tuesday's meeting.",
                         to="k@example.org", headers={"Authentication-Results": ar("pass")})
        _, later = _verdict_to(runtime, honest.replace(b"<t1@test>", b"<p9@newcomer.test>"), "k@example.org",
                               now + 3600)
        assert ("campaign.follow_up_of_flagged" in later) is held, (result, sorted(later))


def _verdict_to(runtime: Runtime, raw: bytes, rcpt: str, when: float) -> tuple[str, set[str]]:
    async def go() -> tuple[str, set[str]]:
        result = await runtime.analyse(raw, Envelope("", (rcpt,), Client(ip="192.0.2.7"), received_at=when),
                                       add_received=False)
        await runtime.record(result)
        return result.decision.verdict.word, {s.name for s in result.signals}
    return asyncio.run(go())


def test_a_reply_to_a_message_we_never_sent_is_not_a_known_thread() -> None:
    """attack21 F2: after K's real answer to the stranger, the stranger's approach to M "in the
    thread" of a made-up Message-ID passed as a reply in a known conversation. The store now
    remembers the IDs we sent the stranger: a reference to none of them (nor to one of the
    stranger's own messages) is `campaign.unknown_reference`; a reference to K's real answer, or
    to the stranger's own first message, is not. Without any remembered ID it says nothing."""
    def run(answer_id: str, ref: str, *, automatic: bool = False, answered: bool = True) -> dict[str, dict]:
        runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
        now = time.time()
        _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<u1@ccws.test>", "Hello.", "k@example.org"),
                    "k@example.org", now)
        if answered:
            answer = _mail("K <k@example.org>", answer_id, "Happy to chat.", "li.wei@ccws.test")
            if automatic:
                answer = answer.replace(b"MIME-Version", b"Auto-Submitted: auto-replied\r\nMIME-Version")
            asyncio.run(_record_outbound(runtime, answer, now + 60))
        return _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<u3@ccws.test>", "Re: our chat.",
                                          "m@example.org", ref), "m@example.org", now + 3600)
    assert run("<a1@example.org>", "<reply-1@example.org>")["campaign.unknown_reference"] == {"references": 1}
    assert "campaign.unknown_reference" not in run("<a1@example.org>", "<a1@example.org>")
    assert "campaign.unknown_reference" not in run("<a1@example.org>", "<A1@Example.org>")  # IDs fold case
    own = run("<a1@example.org>", "<u1@ccws.test>")  # its own message: a follow-up, not an unknown ID
    assert "campaign.unknown_reference" not in own and "campaign.self_follow_up" in own
    # nothing we sent them has a remembered ID: unknown is not forged
    assert "campaign.unknown_reference" not in run("", "<reply-1@example.org>")
    assert "campaign.unknown_reference" not in run("<a1@example.org>", "<reply-1@example.org>", automatic=True)
    assert "campaign.unknown_reference" not in run("<a1@example.org>", "<reply-1@example.org>", answered=False)


def test_a_reply_to_only_the_senders_own_message_is_a_follow_up_not_a_reply_to_us() -> None:
    """attack23 T2: the sender writes its own Message-IDs: under a correspondent's address, one
    harmless message, then the approach "in reply" to it kept the reply discount. Answering only the
    sender's own earlier mail answers nobody here: `campaign.self_follow_up`, no reply discount
    (expected_context), and no `campaign.unknown_reference`; a reply naming an ID we sent them
    (beside its own) keeps the discount."""
    runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
    now = time.time()
    _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<u1@ccws.test>", "Hello.", "k@example.org"),
                "k@example.org", now)
    asyncio.run(_record_outbound(runtime, _mail("K <k@example.org>", "<a1@example.org>", "Happy to chat.",
                                                "li.wei@ccws.test"), now + 60))
    _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<o2@ccws.test>", "The report is out.",
                               "k@example.org"), "k@example.org", now + 120)

    def reply(refs: str) -> tuple[dict[str, dict], set[str]]:
        async def go() -> tuple[dict[str, dict], set[str]]:
            raw = _mail("Li Wei <li.wei@ccws.test>", f"<r{len(refs)}@ccws.test>", "Re: the report.",
                        "k@example.org", refs)
            result = await runtime.analyse(raw, Envelope("", ("k@example.org",), Client(ip="192.0.2.7"),
                                                         received_at=now + 3600), add_received=False)
            return {s.name: s.evidence for s in result.signals}, {h.rule_id for h in result.decision.hits}
        return asyncio.run(go())
    got, rules = reply("<o2@ccws.test>")
    assert got["campaign.self_follow_up"] == {"messages": 1} and "campaign.unknown_reference" not in got
    assert "context.reply" in got and "expected-context" not in rules
    got, rules = reply("<a1@example.org>")
    assert "campaign.self_follow_up" not in got and "expected-context" in rules
    got, rules = reply("<o2@ccws.test> <a1@example.org>")  # their own and ours: a reply to us
    assert "campaign.self_follow_up" not in got and "expected-context" in rules


def test_an_id_we_sent_to_someone_else_is_not_one_we_sent_them() -> None:
    """The ID of our message to another outside address does not make a thread with this sender."""
    runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
    now = time.time()
    answer = _mail("K <k@example.org>", "<a1@example.org>", "Happy to chat.", "li.wei@ccws.test")
    asyncio.run(_record_outbound(runtime, answer, now))
    other = _mail("K <k@example.org>", "<o1@example.org>", "Minutes attached.", "eve@else.test")

    async def to_eve() -> None:
        result = await runtime.analyse(other, Envelope("k@example.org", ("eve@else.test",), Client(ip="10.0.0.5"),
                                                       received_at=now + 1), add_received=False)
        await runtime.record(result)
    asyncio.run(to_eve())
    got = _signals_of(runtime, _mail("Li Wei <li.wei@ccws.test>", "<u3@ccws.test>", "Re: minutes.",
                                     "m@example.org", "<o1@example.org>"), "m@example.org", now + 60)
    assert "campaign.unknown_reference" in got


def test_thread_references_are_bounded() -> None:
    from gateway.parse import MessageView

    refs = " ".join(f"<r{i}@x.test>" for i in range(500))
    raw = message("a@x.test", headers={"In-Reply-To": "<p@x.test> <q@x.test> <z@x.test>", "References": refs})
    got = thread_references(MessageView.parse(raw))
    assert got[:4] == ["<p@x.test>", "<q@x.test>", "<r0@x.test>", "<r1@x.test>"]
    assert got[-1] == "<r499@x.test>" and len(got) == MAX_THREAD_REFS


def test_our_message_deep_in_a_long_thread_is_found_with_bounded_work() -> None:
    """attack23 T3: a genuine reply in a long three-party thread, our ID the 5th of 14 References and
    In-Reply-To a third party's: only the first two and the last eight References were read, so it
    was "a reply to a message we never sent". Now up to MAX_THREAD_REFS references are read, in
    groups of at most MAX_CAMPAIGN_KEYS keys, 1 + 2 x 3 queries at most (one round trip)."""
    def thread(n: int, ours_at: int) -> str:
        return " ".join("<a1@example.org>" if i == ours_at else f"<t{i}@third.test>" for i in range(1, n + 1))

    for n, ours_at in ((14, 5), (MAX_THREAD_REFS, 40), (MAX_THREAD_REFS, MAX_THREAD_REFS - 1)):
        runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
        now = time.time()
        asyncio.run(_record_outbound(runtime, _mail("K <k@example.org>", "<a1@example.org>", "Happy to chat.",
                                                    "li.wei@ccws.test"), now))
        raw = _mail("Li Wei <li.wei@ccws.test>", "<u3@ccws.test>", "Re: our chat.", "m@example.org")
        raw = raw.replace(b"MIME-Version", f"In-Reply-To: <t{n}@third.test>\r\nReferences: {thread(n, ours_at)}"
                          "\r\nMIME-Version".encode())
        got = _signals_of(runtime, raw, "m@example.org", now + 60)
        assert "campaign.unknown_reference" not in got and "context.reply" in got, (n, ours_at)
        made_up = raw.replace(b"<a1@example.org>", b"<a2@example.org>")
        assert "campaign.unknown_reference" in _signals_of(runtime, made_up, "m@example.org", now + 120)
    asked = campaign.thread_queries([f"<t{i}@x.test>" for i in range(MAX_THREAD_REFS)], "li.wei@ccws.test")
    assert len(asked) == 7 and all(len(keys) <= MAX_CAMPAIGN_KEYS for keys, *_ in asked)


# a first field over MAX_REF_FIELD characters without an ID, folded like a real header
_JUNK = "\r\n ".join(("(" + " ".join(["x" * 70] * 290) + ")")[i:i + 900] for i in range(0, 20_600, 900))


def test_a_reference_in_a_second_field_counts_for_both_readers() -> None:
    """attack23 T1: a first In-Reply-To (or References) longer than the reading cut, then a second
    field naming a made-up ID: the thread memory read the fields joined and cut (nothing: no
    question asked) while context.reply read each field (the ID: a reply): the discount stayed.
    Both now take `thread_references`: each field cut on its own, every field read."""
    from gateway.parse import MessageView

    for field in ("In-Reply-To", "References"):
        raw = _mail("Li Wei <li.wei@ccws.test>", "<u3@ccws.test>", "Re: our chat.", "m@example.org")
        raw = raw.replace(b"MIME-Version", f"{field}: {_JUNK}\r\n{field}: <Reply-1@example.org>\r\n"
                          "MIME-Version".encode())
        assert thread_references(MessageView.parse(raw)) == ["<reply-1@example.org>"]
        runtime = Runtime(config("trusted_networks: [10.0.0.0/8]\n"), offline=True, store=MemoryStore())
        now = time.time()
        asyncio.run(_record_outbound(runtime, _mail("K <k@example.org>", "<a1@example.org>", "Happy to chat.",
                                                    "li.wei@ccws.test"), now))
        got = _signals_of(runtime, raw, "m@example.org", now + 60)
        assert got["context.reply"]["references"] == 1, field
        assert got["campaign.unknown_reference"] == {"references": 1}, field


def test_a_campaigns_span_reads_as_a_colleague_says_it() -> None:
    """"sent to 3 people here in 0.0 days (same text)" read as a log line (session 47)."""
    from gateway.checks.campaign import VIA_SAYS, span_words
    assert [span_words(s) for s in (0, 3599, 3600, 5 * 3600, 47 * 3600, 2 * 86400, 7.9 * 86400)] == [
        "within an hour", "within an hour", "within 2 hours", "within 5 hours", "within 47 hours", "within 2 days",
        "within 8 days"]
    assert VIA_SAYS["text"] == "with near-identical text"
