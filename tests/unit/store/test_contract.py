"""The store contract: every backend (memory, sqlite, redis) gives the same answers.

Each test runs once per backend. `backend.open()` gives a handle on the test's own store: memory
hands back the same object, sqlite a new connection to the same file, redis a new client on the
same server and key prefix (a real redis-server: skipped without the binary, FAILS in CI).
Backend-specific behaviour lives in test_sqlite.py, test_redis_url.py and
tests/integration/test_redis_store.py.
"""

from __future__ import annotations

import asyncio
import mailbox
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.checks.campaign import own_message_key, thread_queries, thread_signals
from gateway.model import Signal
from gateway.store import (
    MAX_CAMPAIGN_KEYS,
    MAX_FIELD,
    MAX_ITEMS,
    MAX_REACH_MESSAGES,
    MAX_REACH_SAMPLE,
    MAX_SENT_KEYS,
    MessageMeta,
    RdapRecord,
    Reach,
    Store,
)
from gateway.store.learn import learn
from gateway.store.memory import MemoryStore
from gateway.store.record import MAX_SENT_RECIPIENTS, decision_meta, outbound_keys, sent_key, sent_to_key
from gateway.store.sqlite import SqliteStore

LOCAL = ("example.org",)
NOW = time.time()
DAY = 86400.0
RETENTION = 30


class Backend:
    def __init__(self, name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.name = name
        self.opened: list[Store] = []
        self.memory = MemoryStore(RETENTION)
        self.path = tmp_path / "s.sqlite3"
        if name == "redis":
            server = request.getfixturevalue("redis_server")
            self.url = server.url
            self.prefix = f"t{uuid.uuid4().hex[:12]}:"

    def open(self) -> Store:
        if self.name == "memory":
            return self.memory
        if self.name == "sqlite":
            s: Store = SqliteStore(self.path, RETENTION)
        else:
            from gateway.store.redis import RedisStore

            s = RedisStore(self.url, RETENTION, prefix=self.prefix, timeout=5.0)
        self.opened.append(s)
        return s


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(request.param, tmp_path, request)


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def inbound(sender: str, *rcpts: str, when: float = NOW, **kw: object) -> MessageMeta:
    return MessageMeta(when, "inbound", sender, tuple(rcpts), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- pairs


async def test_implements_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    await store.close()


async def test_inbound_message_records_pair_and_history(store: Store) -> None:
    assert await store.seen_pair("x@outside.test", "a@example.org") is None
    await store.record_message(inbound("X@Outside.test", "a@example.org", when=NOW - 10,
                                       display_name="Kevin Zhao", verdict="caution", score=3.0,
                                       rule_ids=("r1",), observables=("persona:Kevin Zhao",)), LOCAL)
    pair = await store.seen_pair("x@outside.test", "a@example.org")
    assert pair is not None and (pair.count, pair.outbound) == (1, 0)
    assert pair.first_seen == pytest.approx(NOW - 10) and pair.last_seen == pytest.approx(NOW - 10)
    assert await store.seen_pair("x@outside.test", "b@example.org") is None
    assert (await store.seen_sender_org("x@outside.test")).count == 1  # type: ignore[union-attr]
    assert (await store.seen_sender_org("outside.test")).count == 1  # type: ignore[union-attr]
    assert await store.seen_sender_org("other.test") is None
    hits = await store.search_history(["kevin zhao"])
    assert [(h.sender, h.verdict, h.rule_ids, h.score) for h in hits] == [("x@outside.test", "caution", ("r1",), 3.0)]
    await store.close()


async def test_outbound_message_teaches_known_correspondent(store: Store) -> None:
    await store.record_message(MessageMeta(NOW, "outbound", "a@example.org",
                                           ("friend@partner.test", "b@example.org")), LOCAL)
    pair = await store.seen_pair("friend@partner.test", "a@example.org")
    assert pair is not None and (pair.count, pair.outbound) == (1, 1)
    assert await store.seen_pair("b@example.org", "a@example.org") is None  # internal: no pair
    await store.learn_pair("a@example.org", "friend@partner.test", NOW - 100)
    pair = await store.seen_pair("friend@partner.test", "a@example.org")
    assert pair is not None and (pair.count, pair.outbound) == (2, 2)
    assert pair.first_seen == pytest.approx(NOW - 100) and pair.last_seen == pytest.approx(NOW)
    await store.learn_pair("a@example.org", "friend@partner.test", NOW - 50, outbound=False)
    pair = await store.seen_pair("friend@partner.test", "a@example.org")
    assert pair is not None and (pair.count, pair.outbound) == (3, 2)
    await store.close()


async def test_internal_mail_teaches_no_pair(store: Store) -> None:
    await store.record_message(MessageMeta(NOW, "internal", "a@example.org", ("b@example.org",)), LOCAL)
    assert await store.seen_pair("a@example.org", "b@example.org") is None
    assert await store.seen_sender_org("example.org") is None
    await store.close()


async def test_inbound_and_outbound_counts_and_org_aggregates(store: Store) -> None:
    # x writes to a and b (inbound), a and c write back (outbound), y at the same domain writes once
    await store.record_message(inbound("x@partner.test", "a@example.org", "b@example.org", when=NOW - 300), LOCAL)
    await store.record_message(MessageMeta(NOW - 200, "outbound", "a@example.org", ("x@partner.test",)), LOCAL)
    await store.record_message(MessageMeta(NOW - 100, "outbound", "c@example.org",
                                           ("x@partner.test", "other@elsewhere.test")), LOCAL)
    await store.record_message(inbound("y@partner.test", "a@example.org", "outsider@elsewhere.test",
                                       when=NOW - 400), LOCAL)
    a = await store.seen_pair("x@partner.test", "a@example.org")
    assert a is not None and (a.count, a.outbound) == (2, 1)
    assert a.first_seen == pytest.approx(NOW - 300) and a.last_seen == pytest.approx(NOW - 200)
    b = await store.seen_pair("x@partner.test", "b@example.org")
    assert b is not None and (b.count, b.outbound) == (1, 0)
    org = await store.seen_sender_org("x@partner.test")
    assert org is not None and (org.count, org.outbound) == (4, 2)
    assert org.first_seen == pytest.approx(NOW - 300) and org.last_seen == pytest.approx(NOW - 100)
    dom = await store.seen_sender_org("partner.test")
    assert dom is not None and (dom.count, dom.outbound) == (5, 2)
    assert dom.first_seen == pytest.approx(NOW - 400) and dom.last_seen == pytest.approx(NOW - 100)
    assert (await store.seen_sender_org("elsewhere.test")).outbound == 1  # type: ignore[union-attr]
    # an outside recipient of an inbound message is no pair
    assert await store.seen_sender_org("outsider@elsewhere.test") is None
    await store.close()


async def test_first_and_last_seen_do_not_depend_on_arrival_order(store: Store) -> None:
    for when in (NOW - 10, NOW - 500, NOW - 20):
        await store.learn_pair("a@example.org", "z@late.test", when)
    pair = await store.seen_pair("z@late.test", "a@example.org")
    assert pair is not None and pair.count == 3
    assert (pair.first_seen, pair.last_seen) == (pytest.approx(NOW - 500), pytest.approx(NOW - 10))
    await store.close()


async def test_lookups_ignore_case(store: Store) -> None:
    await store.record_message(inbound("Mixed.Case@Partner.TEST", "Dana@Example.ORG"), LOCAL)
    await store.learn_pair("BOB@example.org", "Friend@Partner.Test", NOW)
    assert await store.seen_pair("mixed.case@partner.test", "dana@example.org") is not None
    assert await store.seen_pair("MIXED.CASE@PARTNER.TEST", "DANA@EXAMPLE.ORG") is not None
    assert await store.seen_pair("friend@partner.test", "bob@example.org") is not None
    assert (await store.seen_sender_org("PARTNER.test")).count == 2  # type: ignore[union-attr]
    assert (await store.seen_sender_org("Friend@PARTNER.test")).count == 1  # type: ignore[union-attr]
    await store.close()


async def test_learn_pairs_in_bulk(store: Store) -> None:
    n = await store.learn_pairs([("a@example.org", f"p{i}@bulk.test", NOW - i) for i in range(700)])  # type: ignore[attr-defined]
    assert n == 700
    dom = await store.seen_sender_org("bulk.test")
    assert dom is not None and (dom.count, dom.outbound) == (700, 700)
    assert dom.first_seen == pytest.approx(NOW - 699)
    await store.close()


async def test_learn_from_mbox_and_maildir(store: Store, tmp_path: Path) -> None:
    def msg(frm: str, to: str, cc: str = "") -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = frm, to, "hi"
        m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(NOW - DAY))
        if cc:
            m["Cc"] = cc
        m.set_content("body that must never be stored")
        return m
    box = mailbox.mbox(str(tmp_path / "Sent.mbox"))
    box.add(msg("Dana <dana@example.org>", "Friend <friend@partner.test>, col@example.org", cc="other@ngo.test"))
    box.add(msg("Stranger <s@outside.test>", "dana@example.org"))  # an inbound copy: not learned
    box.flush()
    box.close()
    md = mailbox.Maildir(str(tmp_path / "Maildir"))
    md.add(msg("bob@example.org", "vendor@supplier.test"))
    md.close()
    stats = await learn(store, [tmp_path / "Sent.mbox", tmp_path / "Maildir"], LOCAL)
    assert (stats.messages, stats.sent_by_local, stats.pairs) == (3, 2, 3)
    assert (await store.seen_pair("friend@partner.test", "dana@example.org")).outbound == 1  # type: ignore[union-attr]
    assert await store.seen_pair("other@ngo.test", "dana@example.org") is not None
    assert await store.seen_pair("vendor@supplier.test", "bob@example.org") is not None
    assert await store.seen_pair("col@example.org", "dana@example.org") is None
    assert await store.seen_sender_org("s@outside.test") is None
    assert await store.seen_sender_org("partner.test") is not None
    assert await store.search_history(["never be stored"]) == []
    await store.close()


async def test_outbound_ids_are_found_per_outside_recipient(store: Store) -> None:
    """attack21 F2: the IDs our people send are remembered per outside recipient (hashed keys,
    gateway/store/record.py `outbound_keys`), so that a reply's references can be checked against
    them; within the retention, like the pairs; an outbound message is never in `recent`."""
    mid = "<r1@example.org>"
    await store.record_message(MessageMeta(NOW - DAY, "outbound", "a@example.org",
                                           ("friend@partner.test", "b@example.org", "other@ngo.test"), message_id=mid,
                                           campaign_keys=outbound_keys(mid, ["friend@partner.test", "other@ngo.test"])),
                               LOCAL)
    old = "<old@example.org>"
    await store.record_message(MessageMeta(NOW - (RETENTION + 1) * DAY, "outbound", "a@example.org", ("late@x.test",),
                                           message_id=old, campaign_keys=outbound_keys(old, ["late@x.test"])), LOCAL)
    asked = [[sent_to_key("friend@partner.test")], [sent_key("<R1@Example.org>", "Friend@partner.test")],
             [sent_key(mid, "other@ngo.test")], [sent_key("<made-up@example.org>", "friend@partner.test")],
             [sent_key(mid, "eve@else.test")], [sent_to_key("eve@else.test")],
             [sent_to_key("late@x.test")], [sent_key(old, "late@x.test")]]
    got = await store.campaign_reach_many([(keys, 0.0) for keys in asked])
    assert [r.messages for r in got] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert [r.messages for r in got] == [(await store.campaign_reach(k, 0.0)).messages for k in asked]
    pair = await store.seen_pair("friend@partner.test", "a@example.org")
    assert pair is not None and (pair.count, pair.outbound) == (1, 1)
    assert await store.recent(0.0) == []
    await store.close()


async def test_learn_remembers_the_ids_of_sent_mail(store: Store, tmp_path: Path) -> None:
    """`learn` remembers a sent message's ID per outside recipient (its pairs once, as before); an
    automatic answer teaches nothing, and a message to more outside recipients than a message
    keeps still teaches every pair."""
    def msg(to: str, mid: str, auto: bool = False) -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"], m["Message-ID"] = "Dana <dana@example.org>", to, "hi", mid
        m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(NOW - DAY))
        if auto:
            m["Auto-Submitted"] = "auto-replied"
        m.set_content("x")
        return m
    box = mailbox.mbox(str(tmp_path / "Sent.mbox"))
    box.add(msg("Friend <friend@partner.test>, col@example.org", "<s1@example.org>"))
    box.add(msg("ooo@partner.test", "<s2@example.org>", auto=True))
    box.add(msg(", ".join(f"p{i}@many.test" for i in range(MAX_ITEMS + 5)), "<s3@example.org>"))
    box.flush()
    box.close()
    stats = await learn(store, [tmp_path / "Sent.mbox"], LOCAL)
    assert (stats.messages, stats.sent_by_local, stats.pairs) == (3, 2, 1 + MAX_ITEMS + 5)
    pair = await store.seen_pair("friend@partner.test", "dana@example.org")
    assert pair is not None and (pair.count, pair.outbound) == (1, 1)
    assert (await store.seen_sender_org("many.test")).count == MAX_ITEMS + 5  # type: ignore[union-attr]
    got = await store.campaign_reach_many([(k, 0.0) for k in (
        [sent_key("<s1@example.org>", "friend@partner.test")], [sent_to_key("friend@partner.test")],
        [sent_to_key("ooo@partner.test")], [sent_key("<s1@example.org>", "col@example.org")])])
    assert [r.messages for r in got] == [1, 1, 0, 0]
    await store.close()


async def test_learn_remembers_a_sent_message_to_many_as_serve_does(store: Store, tmp_path: Path) -> None:
    """`learn` remembered no ID at all of a sent message to more than MAX_ITEMS (40) outside
    recipients (only its pairs), where serve keeps it for the first MAX_SENT_RECIPIENTS (100): a
    reply from any guest of a learned invitation to 41 or more answered "a message we never sent". Now
    both keep the same keys, and every pair is still learned once."""
    mid = "<invite@example.org>"
    guests = [f"g{i:03d}@partner{i}.test" for i in range(MAX_SENT_RECIPIENTS + 5)]
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "Dana <dana@example.org>", ", ".join(guests), "party", mid
    m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(NOW - DAY))
    m.set_content("x")
    box = mailbox.mbox(str(tmp_path / "Sent.mbox"))
    box.add(m)
    box.flush()
    box.close()
    stats = await learn(store, [tmp_path / "Sent.mbox"], LOCAL)
    assert (stats.sent_by_local, stats.pairs) == (1, len(guests))
    which = [guests[0], guests[MAX_ITEMS], guests[MAX_SENT_RECIPIENTS - 1], guests[MAX_SENT_RECIPIENTS]]
    got = await store.campaign_reach_many([(k, 0.0) for g in which for k in ([sent_key(mid, g)], [sent_to_key(g)])])
    assert [r.messages for r in got] == [1, 1, 1, 1, 1, 1, 0, 0]
    for g in (guests[0], guests[MAX_ITEMS - 1], guests[MAX_ITEMS], guests[-1]):  # each pair once, recorded or bulk
        pair = await store.seen_pair(g, "dana@example.org")
        assert pair is not None and (pair.count, pair.outbound) == (1, 1), g
    assert (await store.seen_sender_org("partner0.test")).count == 1  # type: ignore[union-attr]
    await store.close()


async def test_an_invitation_to_many_guests_is_remembered_for_each(store: Store) -> None:
    """attack23 T4: an invitation to 20 outside guests was remembered for the first 16 only (the
    message's MAX_CAMPAIGN_KEYS), so the 20th guest's genuine reply answered "a message we never
    sent". Up to MAX_SENT_RECIPIENTS guests (MAX_SENT_KEYS keys) are kept beside the others."""
    mid = "<invite@example.org>"
    guests = [f"g{i:03d}@partner{i}.test" for i in range(MAX_SENT_RECIPIENTS + 5)]
    keys = ("x:own-key",) * 3 + outbound_keys(mid, guests)
    await store.record_message(MessageMeta(NOW - DAY, "outbound", "a@example.org", tuple(guests), message_id=mid,
                                           campaign_keys=keys), LOCAL)
    last, past = guests[MAX_SENT_RECIPIENTS - 1], guests[MAX_SENT_RECIPIENTS]
    asked = [[sent_key(mid, guests[19])], [sent_to_key(guests[19])], [sent_key(mid, last)], [sent_to_key(last)],
             [sent_key(mid, past)], [sent_to_key(past)]]
    got = await store.campaign_reach_many([(k, 0.0) for k in asked])
    assert [r.messages for r in got] == [1, 1, 1, 1, 0, 0]
    await store.close()


def test_outbound_keys_are_bounded_and_need_an_id() -> None:
    many = [f"p{i}@x.test" for i in range(MAX_SENT_RECIPIENTS + 50)]
    assert len(outbound_keys("<m@example.org>", many)) == 2 * MAX_SENT_RECIPIENTS == MAX_SENT_KEYS
    meta = MessageMeta(NOW, "outbound", "a@example.org", (), campaign_keys=tuple(f"k{i}" for i in range(500))
                       + outbound_keys("<m@example.org>", many) + tuple(f"sent:{i}" for i in range(500)))
    assert len(meta.capped().campaign_keys) == MAX_CAMPAIGN_KEYS + MAX_SENT_KEYS
    assert outbound_keys("", many) == () and outbound_keys("no id here", many) == ()
    assert all("m@example.org" not in k and "p1@x.test" not in k for k in outbound_keys("<m@example.org>", many))


# --------------------------------------------------------------------------- rdap


async def test_rdap_cache_roundtrip(store: Store) -> None:
    assert await store.rdap_get("young.test") is None
    await store.rdap_put(RdapRecord("Young.test", 1_700_000_000.5, NOW))
    got = await store.rdap_get("YOUNG.test")
    assert got is not None and got.domain == "young.test"
    assert got.registered == 1_700_000_000.5 and got.fetched == pytest.approx(NOW)
    await store.rdap_put(RdapRecord("unknown.test", None, NOW))
    got = await store.rdap_get("unknown.test")
    assert got is not None and got.registered is None
    await store.rdap_put(RdapRecord("young.test", 1_600_000_000.0, NOW + 1))  # a refresh replaces
    assert (await store.rdap_get("young.test")).registered == 1_600_000_000.0  # type: ignore[union-attr]
    await store.close()


# --------------------------------------------------------------------------- history


async def test_search_history_matches_each_field(store: Store) -> None:
    await store.record_message(inbound("recruiter@talent.test", "a@example.org", when=NOW - 40,
                                       display_name="Kevin ZHAO", verdict="suspicious", score=7.5,
                                       rule_ids=("fake-recruiter", "first-contact")), LOCAL)
    await store.record_message(inbound("anna@think.test", "Director@Example.org", when=NOW - 30,
                                       observables=("reply-to:anna.private@gmail.com", "link:think-tank.test")), LOCAL)
    await store.record_message(MessageMeta(NOW - 20, "outbound", "a@example.org", ("editor@paper.test",)), LOCAL)
    await store.record_message(inbound("noise@list.test", "b@example.org", when=NOW - 10), LOCAL)
    by = {n: await store.search_history([n]) for n in ("talent.test", "kevin zhao", "director@", "gmail.com",
                                                        "editor@paper", "nothing-like-this")}
    assert [(h.field, h.matched) for h in by["talent.test"]] == [("sender", "talent.test")]
    assert [(h.field, h.sender, h.verdict, h.score, h.rule_ids) for h in by["kevin zhao"]] == \
        [("display_name", "recruiter@talent.test", "suspicious", 7.5, ("fake-recruiter", "first-contact"))]
    assert [(h.field, h.recipients) for h in by["director@"]] == [("recipients", ("director@example.org",))]
    assert [(h.field, h.sender) for h in by["gmail.com"]] == [("observable", "anna@think.test")]
    assert [(h.field, h.direction) for h in by["editor@paper"]] == [("recipients", "outbound")]
    assert by["nothing-like-this"] == []
    # needles are case-insensitive; each message is one hit (the first field that matches);
    # hits come oldest first; `limit` keeps the first ones
    both = await store.search_history(["THINK", "Talent", "list.test", ""])
    assert [h.sender for h in both] == ["recruiter@talent.test", "anna@think.test", "noise@list.test"]
    assert [h.when for h in both] == [pytest.approx(NOW - 40), pytest.approx(NOW - 30), pytest.approx(NOW - 10)]
    assert [h.sender for h in await store.search_history(["think", "talent", "list.test"], limit=2)] == \
        ["recruiter@talent.test", "anna@think.test"]
    assert await store.search_history([]) == [] and await store.search_history(["think"], limit=0) == []
    await store.close()


async def test_search_history_pages_through_many_messages(store: Store) -> None:
    # more than one Redis page (500), with runs of equal times across page boundaries
    for i in range(1203):
        await store.record_message(inbound(f"s{i}@bulk.test", "a@example.org", when=NOW - 2000 + i // 7), LOCAL)
    hits = await store.search_history(["bulk.test"], limit=5000)
    assert len(hits) == 1203 and len({h.sender for h in hits}) == 1203
    assert [h.when for h in hits] == sorted(h.when for h in hits)
    assert len(await store.search_history(["bulk.test"], limit=600)) == 600
    # `recent` pages the other way (newest first) across the same runs of equal times
    newest = await store.recent(0.0, limit=5000)
    assert len(newest) == 1203 and len({m.sender for m in newest}) == 1203
    assert [m.when for m in newest] == sorted((m.when for m in newest), reverse=True)
    assert [m.sender for m in await store.recent(0.0, limit=3)] == [m.sender for m in newest[:3]]
    await store.close()


# --------------------------------------------------------------------------- recent (the console)


async def test_recent_lists_inbound_messages_newest_first(store: Store) -> None:
    await store.record_message(inbound("a@one.test", "x@example.org", "y@example.org", "cc@partner.test",
                                       when=NOW - 300, message_id="<a@one.test>", display_name="Anna One",
                                       verdict="clean", score=0.5, rule_ids=("r0",), signals=("s.a",),
                                       observables=("persona:Anna One",),
                                       campaign_keys=("text:b1:ff", "persona:anna")), LOCAL)
    await store.record_message(inbound("b@two.test", "x@example.org", when=NOW - 200, verdict="suspicious",
                                       score=6.0, campaign_keys=("sender:b",)), LOCAL)
    await store.record_message(MessageMeta(NOW - 150, "outbound", "x@example.org", ("b@two.test",),
                                           verdict="clean", campaign_keys=("sender:b",)), LOCAL)
    await store.record_message(inbound("d@four.test", "z@example.org", when=NOW - 100, verdict="high",
                                       score=12.0, rule_ids=("indicator-match",)), LOCAL)
    await store.record_message(inbound("old@gone.test", "z@example.org", when=NOW - (RETENTION + 5) * DAY,
                                       verdict="high"), LOCAL)
    got = await store.recent(0.0)
    assert [m.sender for m in got] == ["d@four.test", "b@two.test", "a@one.test"]  # inbound, within retention
    a = got[2]
    assert (a.when, a.direction, a.recipients, a.message_id, a.display_name) == \
        (pytest.approx(NOW - 300), "inbound", ("x@example.org", "y@example.org", "cc@partner.test"),
         "<a@one.test>", "Anna One")
    assert (a.verdict, a.score, a.rule_ids, a.signals, a.observables) == \
        ("clean", 0.5, ("r0",), ("s.a",), ("persona:Anna One",))
    assert a.campaign_keys == ("persona:anna", "text:b1:ff")  # sorted
    assert got[1].campaign_keys == ("sender:b",) and got[0].campaign_keys == ()
    assert [m.sender for m in await store.recent(0.0, min_verdict="suspicious")] == ["d@four.test", "b@two.test"]
    assert [m.sender for m in await store.recent(0.0, min_verdict="caution")] == ["d@four.test", "b@two.test"]
    assert [m.sender for m in await store.recent(0.0, min_verdict="high")] == ["d@four.test"]
    assert [m.sender for m in await store.recent(0.0, min_verdict="clean")] == [m.sender for m in got]
    assert [m.sender for m in await store.recent(NOW - 250)] == ["d@four.test", "b@two.test"]  # since: inclusive
    assert [m.sender for m in await store.recent(NOW - 200)] == ["d@four.test", "b@two.test"]
    assert [m.sender for m in await store.recent(0.0, limit=1)] == ["d@four.test"]
    assert await store.recent(0.0, limit=0) == [] and await store.recent(NOW + 10) == []
    with pytest.raises(ValueError, match="unknown verdict"):
        await store.recent(0.0, min_verdict="bad")
    await store.close()


# --------------------------------------------------------------------------- retention


async def test_purge_drops_what_is_older_than_retention(store: Store) -> None:
    old = NOW - (RETENTION + 10) * DAY
    await store.learn_pair("a@example.org", "old@x.test", old)
    await store.learn_pair("a@example.org", "new@x.test", NOW)
    await store.record_message(inbound("old@y.test", "a@example.org", when=old, display_name="Old Persona",
                                       campaign_keys=("persona:old",)), LOCAL)
    await store.record_message(inbound("new@y.test", "a@example.org", when=NOW - DAY, display_name="New Persona",
                                       campaign_keys=("persona:new",)), LOCAL)
    await store.rdap_put(RdapRecord("stale.test", old, old))
    await store.rdap_put(RdapRecord("fresh.test", old, NOW))
    # campaigns look back at most the retention, purged or not
    assert (await store.campaign_reach(["persona:old", "persona:new"], 0.0)).messages == 1
    removed = await store.purge(NOW)
    assert removed >= 0
    assert await store.seen_pair("old@x.test", "a@example.org") is None
    assert await store.seen_sender_org("old@x.test") is None
    assert await store.seen_sender_org("old@y.test") is None
    assert await store.seen_pair("new@x.test", "a@example.org") is not None
    assert await store.seen_pair("new@y.test", "a@example.org") is not None
    assert [h.sender for h in await store.search_history(["persona"])] == ["new@y.test"]
    assert (await store.campaign_reach(["persona:old", "persona:new"], 0.0)).messages == 1
    assert await store.rdap_get("stale.test") is None
    assert await store.rdap_get("fresh.test") is not None
    await store.close()


async def test_close_and_reopen_keeps_everything(backend: Backend) -> None:
    if backend.name == "memory":
        pytest.skip("nothing of a MemoryStore outlives the process")
    s = backend.open()
    await s.record_message(inbound("x@outside.test", "a@example.org", display_name="Persisted Persona",
                                   campaign_keys=("persona:persisted",)), LOCAL)
    await s.rdap_put(RdapRecord("kept.test", 1_700_000_000.0, NOW))
    await s.close()
    again = backend.open()
    assert (await again.seen_pair("x@outside.test", "a@example.org")).count == 1  # type: ignore[union-attr]
    assert [h.sender for h in await again.search_history(["persisted persona"])] == ["x@outside.test"]
    assert (await again.campaign_reach(["persona:persisted"], 0.0)).messages == 1
    assert (await again.rdap_get("kept.test")).registered == 1_700_000_000.0  # type: ignore[union-attr]
    await again.close()


# --------------------------------------------------------------------------- concurrency


async def test_concurrent_writes_give_exact_counts(backend: Backend) -> None:
    # Two handles (two gateways behind a load balancer, for sqlite and redis; one object for memory)
    one, two = backend.open(), backend.open()
    n = 200
    metas = [inbound(f"s{i % 5}@swarm.test", "a@example.org", f"r{i % 9}@example.org", when=NOW - i,
                     message_id=f"<{i}@swarm.test>", campaign_keys=("text:b1:swarm",)) for i in range(n)]
    await asyncio.gather(*(s.record_message(m, LOCAL) for s, m in zip([one, two] * n, metas, strict=False)),
                         *(s.learn_pair("b@example.org", "s0@swarm.test", NOW) for s in [one, two] * 50))
    pair = await one.seen_pair("s0@swarm.test", "a@example.org")
    assert pair is not None and pair.count == n // 5
    org = await two.seen_sender_org("swarm.test")
    assert org is not None and (org.count, org.outbound) == (2 * n + 100, 100)
    reach = await two.campaign_reach(["text:b1:swarm"], 0.0)
    assert (reach.messages, reach.senders, reach.recipients) == (n, 5, 10)
    assert len(await one.search_history(["swarm.test"], limit=10_000)) == n
    await one.close()
    await two.close()


# --------------------------------------------------------------------------- hostile values

HOSTILE = [
    "*1\r\n$4\r\nPING\r\n",  # RESP: must stay data
    "x\r\nQUIT\r\n",
    "nul\x00inside",
    "new\nline",
    "Кевин Чжао 赵凯文 🙂",
    "' OR 1=1 --",
    "a" * 5000,
    "{\"json\": [1, 2]}",
    "\\u0000 and \\",
    "%s %d {0}",
    "",
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:12]))
async def test_hostile_values_are_stored_as_data(store: Store, value: str) -> None:
    sender = f"{value[:200]}@evil.test"  # longer local parts: test_metadata_is_capped
    await store.record_message(inbound(sender, "a@example.org", display_name=value, message_id=value,
                                       observables=(f"handle:{value}",), campaign_keys=(f"persona:{value}",),
                                       rule_ids=(value,)), LOCAL)
    await store.rdap_put(RdapRecord(f"{value}.test", 1.0, NOW))
    await store.learn_pair(f"{value[:200]}@example.org", sender, NOW)
    assert (await store.seen_pair(sender, "a@example.org")).count == 1  # type: ignore[union-attr]
    assert (await store.seen_pair(sender, f"{value[:200]}@example.org")).outbound == 1  # type: ignore[union-attr]
    assert (await store.rdap_get(f"{value}.test")).registered == 1.0  # type: ignore[union-attr]
    hits = await store.search_history([f"handle:{value}"[:MAX_FIELD]])
    assert len(hits) == 1 and hits[0].sender == sender.lower()[:MAX_FIELD]
    assert hits[0].rule_ids == (value[:MAX_FIELD],)
    reach = await store.campaign_reach([f"persona:{value}"], 0.0)
    assert (reach.messages, reach.recipients, reach.recipient_sample) == (1, 1, ("a@example.org",))
    [back] = await store.recent(0.0)
    assert (back.display_name, back.message_id, back.rule_ids) == (value[:MAX_FIELD],) * 2 + ((value[:MAX_FIELD],),)
    assert back.campaign_keys == (f"persona:{value}"[:MAX_FIELD],)
    assert (await store.campaign_reach([f"persona:{value}"], 0.0, exclude_message_id=value)).messages == 0 \
        or not value  # "" excludes nothing
    # nothing else matched by accident (the value is data, not a pattern)
    assert (await store.campaign_reach(["persona:*"], 0.0)).messages == 0
    await store.close()


async def test_metadata_is_capped(store: Store) -> None:
    long = "l" * 300 + "@" + "d" * 5000 + ".test"  # cut to MAX_FIELD, the "@" survives
    keys = tuple(f"k:{i}" for i in range(MAX_CAMPAIGN_KEYS + 10))
    await store.record_message(inbound(long, *(f"r{i}@example.org" for i in range(MAX_ITEMS + 30)),
                                       display_name="N" * 5000, observables=tuple(f"o{i}" for i in range(100)),
                                       campaign_keys=keys, message_id="<cap@long.test>"), LOCAL)
    [hit] = await store.search_history(["lll@ddd"])
    assert hit.sender == long[:MAX_FIELD] and len(hit.recipients) == MAX_ITEMS
    assert await store.search_history([f"o{MAX_ITEMS + 1}"]) == []  # observable beyond the cap: not kept
    assert (await store.campaign_reach([keys[MAX_CAMPAIGN_KEYS - 1]], 0.0)).messages == 1
    assert (await store.campaign_reach([keys[MAX_CAMPAIGN_KEYS]], 0.0)).messages == 0
    # the pair is found with the full address (cut the same way) and with the cut one
    assert await store.seen_pair(long, "r0@example.org") is not None
    assert await store.seen_pair(long[:MAX_FIELD], "r0@example.org") is not None
    assert await store.seen_pair(long, f"r{MAX_ITEMS}@example.org") is None
    # a query looks up at most MAX_CAMPAIGN_KEYS keys
    many = [f"absent:{i}" for i in range(MAX_CAMPAIGN_KEYS)] + [keys[0]]
    assert (await store.campaign_reach(many, 0.0)).messages == 0
    await store.close()


# --------------------------------------------------------------------------- campaigns


async def test_campaign_reach_same_text_to_six_colleagues_from_two_senders(store: Store) -> None:
    text = "text:b3:5f1c9e"
    colleagues = [f"{n}@example.org" for n in ("fatima", "bo", "carl", "dana", "eve", "ann")]
    day1, day2 = NOW - 2 * DAY, NOW - DAY
    for i, who in enumerate(colleagues[:3]):
        await store.record_message(inbound("kevin.zhao.hr@gmail.com", who, when=day1 + i * 60,
                                           message_id=f"<a{i}@gmail.com>",
                                           campaign_keys=("sender:kevin.zhao.hr@gmail.com", "persona:kevin zhao",
                                                          text)), LOCAL)
    for i, who in enumerate(colleagues[3:]):
        await store.record_message(inbound("k.zhao@talent-bridge.test", who, "cc@partner.test",
                                           when=day2 + i * 60, message_id=f"<b{i}@talent-bridge.test>",
                                           campaign_keys=("sender:k.zhao@talent-bridge.test", text)), LOCAL)
    # unrelated mail, an outbound copy with the same key, and a message before `since`
    await store.record_message(inbound("other@news.test", "dana@example.org", when=day2,
                                       campaign_keys=("text:b3:000000",)), LOCAL)
    await store.record_message(MessageMeta(day2, "outbound", "dana@example.org", ("x@partner.test",),
                                           campaign_keys=(text,)), LOCAL)
    await store.record_message(inbound("early@gmail.com", "zed@example.org", when=NOW - 10 * DAY,
                                       campaign_keys=(text,)), LOCAL)
    reach = await store.campaign_reach([text], NOW - 3 * DAY)
    assert reach == Reach(recipients=6, recipient_sample=tuple(sorted(colleagues)), senders=2, messages=6,
                          first_seen=pytest.approx(day1), last_seen=pytest.approx(day2 + 120), truncated=False)
    # any shared key counts once per message; keys of other campaigns add nothing
    assert (await store.campaign_reach(["persona:kevin zhao", "sender:k.zhao@talent-bridge.test"],
                                       NOW - 3 * DAY)).messages == 6
    assert (await store.campaign_reach(["persona:kevin zhao"], NOW - 3 * DAY)).recipients == 3
    assert (await store.campaign_reach([text], NOW - 30 * DAY)).senders == 3
    # the message being judged is left out
    without = await store.campaign_reach([text], NOW - 3 * DAY, exclude_message_id="<b2@talent-bridge.test>")
    assert (without.messages, without.recipients, without.last_seen) == (5, 5, pytest.approx(day2 + 60))
    # since is inclusive; nothing matches -> empty Reach
    assert (await store.campaign_reach([text], day2 + 120)).messages == 1
    assert await store.campaign_reach([text], NOW) == Reach()
    assert await store.campaign_reach(["text:b3:ffffff"], 0.0) == Reach()
    assert await store.campaign_reach([], 0.0) == Reach()
    await store.close()


async def test_an_analysts_decision_is_found_by_its_keys_and_adds_no_history(store: Store) -> None:
    """A decision on a reported message (console triage) is remembered under its campaign keys like an
    inbound message, so the campaign check finds it; it has no recipients, teaches no pair and is not
    one of the `recent` messages."""
    sender = "kevin.zhao.hr@gmail.com"
    await store.record_message(inbound(sender, "dana@example.org", when=NOW - DAY, campaign_keys=("flagged:k1",)),
                               LOCAL)
    await store.record_message(decision_meta(sender, ("cleared:k1",), NOW - 60, "r7", "not_approach"), LOCAL)
    cleared = await store.campaign_reach(["cleared:k1"], NOW - 2 * DAY)
    assert (cleared.messages, cleared.recipients, cleared.last_seen) == (1, 0, pytest.approx(NOW - 60))
    assert (await store.campaign_reach(["flagged:k1"], NOW - 2 * DAY)).last_seen == pytest.approx(NOW - DAY)
    assert [m.sender for m in await store.recent(NOW - 2 * DAY)] == [sender]  # the inbound message only
    pair = await store.seen_pair(sender, "dana@example.org")
    assert pair is not None and pair.count == 1  # the decision taught nothing
    assert [h.direction for h in await store.search_history([sender])] == ["inbound"]  # hunts list messages
    await store.close()


async def test_campaign_reach_sample_and_examination_are_bounded(store: Store) -> None:
    key = "text:b1:blast"
    total = MAX_REACH_MESSAGES + 7
    for i in range(total):
        await store.record_message(inbound(f"s{i % 3}@blast.test", f"u{i % 25:02d}@example.org",
                                           when=NOW - total + i, campaign_keys=(key,)), LOCAL)
    reach = await store.campaign_reach([key], 0.0)
    assert (reach.messages, reach.truncated, reach.senders, reach.recipients) == (MAX_REACH_MESSAGES, True, 3, 25)
    # the newest were examined
    assert reach.last_seen == pytest.approx(NOW - 1) and reach.first_seen == pytest.approx(NOW - MAX_REACH_MESSAGES)
    # the sample: the most recent distinct recipients (going back from the newest message), sorted
    newest = [f"u{(total - 1 - k) % 25:02d}@example.org" for k in range(MAX_REACH_SAMPLE)]
    assert reach.recipient_sample == tuple(sorted(newest))
    small = await store.campaign_reach([key], NOW - 10)
    assert (small.messages, small.truncated) == (10, False)
    await store.close()


async def test_campaign_first_seen_is_the_earliest_however_many_came_after(store: Store) -> None:
    """listauth asks a list busier than campaign_reach reads for its earliest message: it is kept
    (Redis trims each key's index to its newest entries, and keeps the earliest beside them)."""
    key = "list:busy"
    await store.record_message(inbound("n@list.test", "a@example.org", when=NOW - 5 * DAY, campaign_keys=(key,)),
                               LOCAL)
    for i in range(MAX_REACH_MESSAGES + 40):
        await store.record_message(inbound("n@list.test", "a@example.org", when=NOW - 1000 + i,
                                           campaign_keys=(key,)), LOCAL)
    reach = await store.campaign_reach([key], 0.0)
    assert reach.truncated and reach.first_seen > NOW - 1000
    assert await store.campaign_first_seen([key]) == pytest.approx(NOW - 5 * DAY)
    # a message older than every other, remembered later (learn), becomes the earliest
    await store.record_message(inbound("n@list.test", "a@example.org", when=NOW - 9 * DAY,
                                       campaign_keys=(key, "other")), LOCAL)
    assert await store.campaign_first_seen([key]) == pytest.approx(NOW - 9 * DAY)
    assert await store.campaign_first_seen(["other", "absent"]) == pytest.approx(NOW - 9 * DAY)
    assert await store.campaign_first_seen(["absent"]) == 0.0
    assert await store.campaign_first_seen([]) == 0.0
    await store.close()


async def test_a_query_may_read_each_keys_newest_entries_only(store: Store) -> None:
    """attack33c #4: a `campaign_reach_many` query with a third element `per_key` reads only each
    key's newest `per_key` entries at or after `since` (their union, each message once); 0 or less,
    or none, reads as `campaign_reach` does, and more than MAX_REACH_MESSAGES + 1 is that many."""
    for i in range(5):
        await store.record_message(inbound("a@x.test", f"u{i}@example.org", when=NOW - 100 + i,
                                           campaign_keys=("own:a",)), LOCAL)
    for i in range(3):
        await store.record_message(inbound("b@x.test", f"v{i}@example.org", when=NOW - 50 + i,
                                           campaign_keys=("own:b",)), LOCAL)
    await store.record_message(inbound("c@x.test", "w@example.org", when=NOW - 40, campaign_keys=("own:a", "own:b")),
                               LOCAL)
    both = ["own:a", "own:b"]
    got = await store.campaign_reach_many([(both, 0.0, 1), (both, 0.0, 2), (["own:a"], NOW - 98, 10),
                                           (["own:b"], 0.0, 1), (["absent"], 0.0, 1), ([], 0.0, 1),
                                           (both, 0.0), (both, 0.0, 0), (both, 0.0, -3), (both, 0.0, 10 ** 6)])
    newest = got[0]  # the message under both keys is each key's newest: counted once
    assert (newest.messages, newest.senders, newest.recipient_sample) == (1, 1, ("w@example.org",))
    assert newest.first_seen == newest.last_seen == pytest.approx(NOW - 40) and not newest.truncated
    two = got[1]  # a: the shared one and u4's; b: the shared one and v2's
    assert (two.messages, two.senders, two.recipient_sample) == (3, 3, ("u4@example.org", "v2@example.org",
                                                                        "w@example.org"))
    assert two.first_seen == pytest.approx(NOW - 96) and two.last_seen == pytest.approx(NOW - 40)
    assert got[2].messages == 4 and got[2].first_seen == pytest.approx(NOW - 98)  # since still applies
    assert [r.messages for r in got[3:6]] == [1, 0, 0] and got[5] == Reach()
    full = await store.campaign_reach(both, 0.0)
    assert full.messages == 9 and got[6:] == [full] * 4
    await store.close()


SENDER = "li.wei@ccws.test"


async def _thread_history(store: Store) -> None:
    """A normal history: three messages our people sent the sender (its `sent-to` key has three),
    the sender's four (one each per Message-ID), another sender's two, and one of the sender's past
    the retention."""
    for i in range(3):
        mid = f"<o{i}@example.org>"
        await store.record_message(MessageMeta(NOW - (20 - i) * DAY, "outbound", "dana@example.org",
                                               (SENDER, "b@example.org"), message_id=mid,
                                               campaign_keys=outbound_keys(mid, [SENDER])), LOCAL)
    for who, ids in ((SENDER, ["<i0@ccws.test>", "<i1@ccws.test>", "<i2@ccws.test>", "<i3@ccws.test>"]),
                     ("eve@else.test", ["<e0@else.test>", "<e1@else.test>"])):
        for i, mid in enumerate(ids):
            await store.record_message(inbound(who, "dana@example.org", "b@example.org", when=NOW - (10 - i) * DAY,
                                               message_id=mid, campaign_keys=(f"sender:{who}",
                                                                              own_message_key(mid, who))), LOCAL)
    gone = "<gone@ccws.test>"
    await store.record_message(inbound(SENDER, "dana@example.org", when=NOW - (RETENTION + 1) * DAY, message_id=gone,
                                       campaign_keys=(own_message_key(gone, SENDER),)), LOCAL)


async def test_thread_answers_are_as_before_on_a_normal_history(store: Store) -> None:
    """The campaign check's thread queries read each key's newest entry only (THREAD_PER_KEY,
    attack33c #4). On a normal history (each Message-ID recorded once) every answer is found as
    the full read finds it, and `thread_signals` says the same of each thread as before."""
    await _thread_history(store)
    fill = [f"<t{i}@third.test>" for i in range(94)]
    self_follow_up = [Signal("campaign.self_follow_up", {"messages": n}) for n in (0, 1, 2)]
    cases: list[tuple[str, list[str], list[Signal]]] = [
        (SENDER, [], []),
        (SENDER, ["<o1@example.org>"], []),  # a reply to ours
        (SENDER, ["<i0@ccws.test>", "<i2@ccws.test>"], [self_follow_up[2]]),
        (SENDER, ["<i1@ccws.test>", "<o2@example.org>"], []),  # ours among them: a reply
        (SENDER, ["<made@up.test>"], [Signal("campaign.unknown_reference", {"references": 1})]),
        (SENDER, ["<e0@else.test>", "<gone@ccws.test>"], [Signal("campaign.unknown_reference", {"references": 2})]),
        (SENDER, ["<i0@ccws.test>", *fill, "<i3@ccws.test>"], [self_follow_up[2]]),  # the first and third group
        (SENDER, [*fill, "<o0@example.org>", "<i3@ccws.test>"], []),
        ("eve@else.test", ["<e1@else.test>"], [self_follow_up[1]]),
        ("eve@else.test", ["<made@up.test>"], []),  # we never wrote to eve: unknown is not forged
    ]
    for sender, thread, expected in cases:
        queries = thread_queries(thread, sender)
        assert all(len(q) == 3 and q[2] == 1 for q in queries)  # THREAD_PER_KEY
        now = await store.campaign_reach_many(queries)
        before = await store.campaign_reach_many([(q[0], q[1]) for q in queries])  # each key's 201 newest
        assert [bool(r.messages) for r in now] == [bool(r.messages) for r in before], thread
        assert thread_signals(thread, sender, now, False) == thread_signals(thread, sender, before, False) \
            == expected, thread
        assert thread_signals(thread, sender, now, True) == []
    await store.close()


async def test_a_sender_reusing_its_own_message_ids_is_counted_once_per_id(store: Store) -> None:
    """attack33c #4: a sender writes its own Message-IDs and put 40 of them on five of its messages
    each. The thread queries of its follow-up naming them read each own key's newest entry: the
    answers count each ID once (32 + 8), not every message (160 + 40; with 201 per ID, 19,296
    messages, each follow-up cost the SQLite store thread 90-160 ms)."""
    attacker = "alice@evil.test"
    ids = [f"<id{j}@evil.test>" for j in range(40)]
    n = 0
    for _ in range(5):
        for mid in ids:
            await store.record_message(inbound(attacker, "dana@example.org", when=NOW - 3600 + n, message_id=mid,
                                               campaign_keys=("sender:alice", own_message_key(mid, attacker))), LOCAL)
            n += 1
    thread = [*ids, "<made@up.test>"]
    got = await store.campaign_reach_many(thread_queries(thread, attacker))
    # we sent alice nothing; none of the 41 is ours; 32 and 8 of the sender's own (and one made up)
    assert [r.messages for r in got] == [0, 0, 0, 32, 8] and not any(r.truncated for r in got)
    # the newest message of each of the first 32 IDs (the fifth round)
    assert (got[3].first_seen, got[3].last_seen) == pytest.approx((NOW - 3600 + 4 * 40, NOW - 3600 + 4 * 40 + 31))
    assert thread_signals(thread, attacker, got, False) == [Signal("campaign.self_follow_up", {"messages": 40})]
    await store.close()


async def test_batched_lookups_answer_as_the_single_ones(store: Store) -> None:
    """campaign_reach_many and sender_history are one round trip each (the checks' hot path):
    they must answer exactly what the single calls answer, in order, absent keys and all."""
    await store.record_message(inbound("p@outside.test", "a@example.org", "b@example.org", when=NOW - DAY,
                                       campaign_keys=("sender:p", "text:b1:x")), LOCAL)
    await store.record_message(inbound("q@outside.test", "c@example.org", when=NOW - 2 * DAY,
                                       campaign_keys=("text:b1:x",)), LOCAL)
    await store.learn_pair("a@example.org", "p@outside.test", NOW - 3 * DAY)
    queries: list[tuple[list[str], float]] = [(["sender:p"], 0.0), (["text:b1:x"], NOW - 1.5 * DAY),
                                              (["absent"], 0.0), ([], 0.0), (["text:b1:x", "sender:p"], 0.0)]
    many = await store.campaign_reach_many(queries)
    assert many == [await store.campaign_reach(keys, since) for keys, since in queries]
    assert [r.messages for r in many] == [1, 1, 0, 0, 2]
    assert await store.campaign_reach_many([]) == []

    rcpts = ["a@example.org", "B@example.org", "z@example.org"]
    hist = await store.sender_history("P@outside.test", rcpts, "outside.test")
    assert hist.pairs == tuple([await store.seen_pair("P@outside.test", r) for r in rcpts])
    assert hist.pairs[0] is not None and hist.pairs[0].outbound == 1 and hist.pairs[2] is None
    assert hist.sender == await store.seen_sender_org("p@outside.test") and hist.sender is not None
    assert hist.domain == await store.seen_sender_org("outside.test") and hist.domain is not None
    assert (await store.sender_history("p@outside.test", [], "")).domain is None
    nobody = await store.sender_history("new@elsewhere.test", ["a@example.org"], "elsewhere.test")
    assert nobody.pairs == (None,) and nobody.sender is None and nobody.domain is None
    await store.close()


async def test_sender_history_of_many_recipients_answers_each_in_order(store: Store) -> None:
    """Every asked recipient gets its own pair's answer, in the order asked, repeats and all, past
    the number the SQLite store looks up in one statement (perf37); a domain asked as the sender
    reads its sum."""
    await store.record_message(inbound("p@outside.test", "r7@example.org", "r900@example.org", when=NOW - DAY), LOCAL)
    rcpts = [f"r{i}@example.org" for i in range(1100)] + ["R7@example.org", "r900@example.org"]
    hist = await store.sender_history("p@outside.test", rcpts, "outside.test")
    found = [i for i, p in enumerate(hist.pairs) if p is not None]
    assert len(hist.pairs) == len(rcpts) and found == [7, 900, 1100, 1101]
    assert hist.pairs[7] == hist.pairs[1100] == await store.seen_pair("p@outside.test", "r7@example.org")
    assert hist.sender is not None and hist.sender.count == 2
    by_domain = await store.sender_history("outside.test", ["r7@example.org"], "")
    assert by_domain.sender == hist.domain and by_domain.pairs == (None,) and by_domain.domain is None
    await store.close()
