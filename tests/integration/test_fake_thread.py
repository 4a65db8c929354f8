"""attack21 F2 through a running gateway: a reply to a message we never sent.

Session 21's attacker wrote a benign opener, got a real "happy to chat" from the recipient (relayed
outbound from a trusted network), then sent the approach with a made-up `In-Reply-To:
<reply-1@example.org>`: it read as a reply in a known conversation (clean 2.3; high without the
thread headers). The store now remembers the IDs we sent them (gateway/store/record.py
`outbound_keys`), and a reference to none of them is `campaign.unknown_reference`: no reply discount.
An attacker holding our real reply's ID can still thread: the store cannot tell that reply from
theirs (the second case: verdict as before).
"""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

from gateway.config import load_config
from gateway.smtp.service import ThreadedGateway
from tests.conftest import ROOT, loopback_dns

ATT = "m.hartmann.research@outlook.com"
VICTIM = "sarah.jennings@example.org"
REAL_REPLY_ID = "<reply-real-1@example.org>"

# the approach of attack21 (tests/adversarial/attack21_base_thinktank.eml on the attack21 branch)
APPROACH = f"""From: "Dr. Michael Hartmann" <{ATT}>
To: "Sarah Jennings" <{VICTIM}>
Subject: Re: Request for your views on Arctic shipping policy
Date: Fri, 04 Dec 2026 10:02:11 +0100
Message-ID: <AM0PR01MB1234.eurprd01.prod.outlook.com>
In-Reply-To: REF
References: REF
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Dear Ms Jennings,

I am a Senior Fellow at the Baltic Institute for Strategic Studies in Vienna. I have long admired
your work on maritime policy and your thoughtful contributions in this field.

We are preparing a confidential briefing paper on the future of Arctic shipping routes and would
very much value your views on the department's current thinking. We offer an honorarium of EUR 2,000
for a short written consultation, and we would be delighted to invite you to our expert workshop in
Vienna in February, all travel and accommodation covered.

For convenience, could we continue this conversation on WhatsApp? You can reach me at +43 660 1234567.

With best regards,
Dr. Michael Hartmann
Senior Fellow, Baltic Institute for Strategic Studies
"""

OPENER = f"""From: "Dr. Michael Hartmann" <{ATT}>
To: <{VICTIM}>
Subject: A short question about your work
Date: Thu, 03 Dec 2026 10:00:00 +0100
Message-ID: <opener-1@outlook.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Dear colleague,

I hope you are well. I enjoyed reading your recent article and wondered whether you might have a few
minutes in the coming weeks for a short chat about your work.

Best regards,
Michael Hartmann
"""

REPLY = f"""From: <{VICTIM}>
To: <{ATT}>
Subject: Re: A short question about your work
Date: Thu, 03 Dec 2026 12:00:00 +0000
Message-ID: {REAL_REPLY_ID}
In-Reply-To: <opener-1@outlook.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Thanks for your note - happy to have a short chat sometime. Best, Sarah
"""


def _send(port: int, raw: str, mail_from: str, rcpt: str, src: str = "127.0.0.1") -> None:
    with smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=30) as s:
        s.sendmail(mail_from, [rcpt], raw.replace("\n", "\r\n").encode("utf-8"))


def _verdict(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n ", " ").replace("\r\n\t", " ")
    m = re.search(r"^X-Approach-Verdict: (.*)$", head, re.M)
    return m.group(1) if m else ""


def _scenario(tmp_path: Path, sink, ref: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Opener, our real reply (outbound, from the trusted 127.0.0.2), then the approach with
    `In-Reply-To: ref`, through serve with a fresh SQLite store: the verdicts of the inbound copies."""
    cfg = tmp_path / "gateway.yml"
    cfg.write_text(f"""
listen: 127.0.0.1:0
upstream: {{host: 127.0.0.1, port: {sink.port}, connect_timeout: 2, command_timeout: 5, data_timeout: 5}}
hostname: gw.example.org
local_domains: [example.org]
trusted_networks: [127.0.0.2/32]
policies: [{ROOT / "policies"}]
store: {{backend: sqlite, path: store.sqlite3}}
limits: {{shutdown_grace: 2}}
dns: {{nameservers: ["127.0.0.1:{loopback_dns().port}"], timeout: 1}}
""")
    before = len(sink.messages)
    with ThreadedGateway(load_config(cfg)) as gw:
        _send(gw.port, OPENER, ATT, VICTIM)
        _send(gw.port, REPLY, VICTIM, ATT, src="127.0.0.2")
        _send(gw.port, APPROACH.replace("REF", ref), ATT, VICTIM)
    got = sink.messages[before:]
    assert [m.rcpt_tos for m in got] == [[VICTIM], [ATT], [VICTIM]]
    return [_verdict(m.data) for m in (got[0], got[2])]


def test_an_approach_in_the_thread_of_an_id_we_never_sent_is_not_a_known_reply(tmp_path, sink):
    (tmp_path / "fake").mkdir()
    (tmp_path / "real").mkdir()
    opener, fake = _scenario(tmp_path / "fake", sink, "<reply-1@example.org>")
    assert opener.startswith("clean"), opener
    assert not fake.startswith("clean"), fake  # was: clean 2.3 (expected-context -4)
    _, real = _scenario(tmp_path / "real", sink, REAL_REPLY_ID)
    assert real.startswith("clean"), real  # as before: our real reply's ID threads (see the docstring)
