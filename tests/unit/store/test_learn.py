from __future__ import annotations

import asyncio
import mailbox
from email.message import EmailMessage

from gateway.store.learn import learn
from gateway.store.memory import MemoryStore

LOCAL = ("example.org",)


def _msg(frm: str, to: str, cc: str = "", date: str = "Tue, 06 Oct 2026 09:00:00 +0000") -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Date"], m["Subject"] = frm, to, date, "hi"
    if cc:
        m["Cc"] = cc
    m.set_content("body that must never be stored")
    return m


def test_learn_from_mbox_and_maildir(tmp_path):
    box = mailbox.mbox(str(tmp_path / "Sent.mbox"))
    box.add(_msg("Dana <dana@example.org>", "Friend <friend@partner.test>, col@example.org",
                 cc="other@ngo.test"))
    box.add(_msg("Stranger <s@outside.test>", "dana@example.org"))  # inbound copy: not learned
    box.flush()
    box.close()
    md = mailbox.Maildir(str(tmp_path / "Maildir"))
    md.add(_msg("bob@example.org", "vendor@supplier.test"))
    md.close()
    store = MemoryStore()
    stats = asyncio.run(learn(store, [tmp_path / "Sent.mbox", tmp_path / "Maildir"], LOCAL))
    assert (stats.messages, stats.sent_by_local, stats.pairs) == (3, 2, 3)

    async def check():
        assert (await store.seen_pair("friend@partner.test", "dana@example.org")).outbound == 1
        assert await store.seen_pair("other@ngo.test", "dana@example.org") is not None
        assert await store.seen_pair("vendor@supplier.test", "bob@example.org") is not None
        assert await store.seen_pair("col@example.org", "dana@example.org") is None
        assert await store.seen_sender_org("s@outside.test") is None
        assert await store.seen_sender_org("partner.test") is not None
    asyncio.run(check())
