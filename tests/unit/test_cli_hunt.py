from __future__ import annotations

import asyncio
import json
import time

from gateway.cli import main
from gateway.store import MessageMeta
from gateway.store.sqlite import SqliteStore


def test_hunt_prints_past_matches(tmp_path, capsys):
    cfg = tmp_path / "gw.yml"
    cfg.write_text("listen: 127.0.0.1:0\nupstream: {host: 127.0.0.1}\nhostname: gw.example.org\n"
                   "local_domains: [example.org]\npolicies: []\nstore: {path: s.sqlite3}\n")
    store = SqliteStore(tmp_path / "s.sqlite3")
    now = time.time()
    metas = [
        MessageMeta(now - 86400, "inbound", "messages-noreply@linkedin.com", ("a@example.org",),
                    verdict="caution", score=4.0, rule_ids=("persona-offchannel",),
                    observables=("persona:Kevin Zhao", "headline:Director at Harbourline Consulting Group")),
        MessageMeta(now - 3600, "inbound", "j.moore@gmail.com", ("b@example.org",), verdict="suspicious",
                    score=7.0, observables=("offchannel_whatsapp:+852 5550 1837", "phone_number:+85255501837")),
        MessageMeta(now, "inbound", "friend@partner.test", ("a@example.org",), verdict="clean"),
    ]

    async def fill():
        for m in metas:
            await store.record_message(m, ("example.org",))
        await store.close()
    asyncio.run(fill())
    alert = tmp_path / "alert.yml"
    alert.write_text('source: alert-1\nindicators:\n  personas: [Kevin Zhao]\n  phones: ["+852 5550 1837"]\n'
                     "  domains: [harbourline.test]\n")
    assert main(["hunt", "--config", str(cfg), "--json", str(alert)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["sender"], o["kind"], o["verdict"]) for o in out] == [
        ("messages-noreply@linkedin.com", "personas", "caution"), ("j.moore@gmail.com", "phones", "suspicious")]
    assert out[0]["source"] == "alert-1" and out[1]["rules"] == []
