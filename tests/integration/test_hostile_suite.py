"""The hostile-client suite: SMTP smuggling variants, open-relay forms, random command bytes,
slow and trickling clients, pipelining abuse, and a soak with upstream restarts that counts every
message. Bounded (well under a minute in all, marked `hostile`), part of the normal pytest run;
`benchmarks/attack_bench.py` runs the same attacks longer and measures their cost to others.

Invariants checked, never timings:
* the upstream never receives a second, smuggled message, nor a bare CR or LF (normalize);
* no recipient outside `local_domains` ever reaches the upstream from an untrusted client;
* every reply is a well-formed printable ASCII reply line, one per command;
* every message answered 250 is at the upstream exactly once, every other one not at all;
* nothing is left open upstream once the clients are gone.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import replies
from gateway.smtp.service import ThreadedGateway
from tests.conftest import make_config
from tests.integration.conftest import SIMPLE, said
from tests.support.rawsmtp import Raw
from tests.support.sink import Sink, SinkBehaviour

pytestmark = [pytest.mark.hostile, pytest.mark.timeout(60)]

REPLY_LINE = re.compile(rb"\A[2-5][0-9][0-9][ -][\x20-\x7e]*\Z")


class Stack:
    """A sink and a gateway for one module (cheaper than one per example)."""

    def __init__(self, tmp: Path, extra: str = "", behaviour: SinkBehaviour | None = None) -> None:
        self.sink = Sink(behaviour or SinkBehaviour()).start()
        self.gw = ThreadedGateway(make_config(self.sink.port, tmp, extra)).start()
        self.port = self.gw.port

    def stop(self) -> None:
        self.gw.stop()
        self.sink.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("hostile"),
              "limits: {session_timeout: 2, junk_command_limit: 100000, max_connections_per_ip: 200, "
              "shutdown_grace: 2}")
    yield s
    s.stop()


def replies_ok(data: bytes) -> bool:
    lines = data.split(b"\r\n")
    return lines[-1] == b"" and all(REPLY_LINE.match(line) for line in lines[:-1])


def final_codes(data: bytes) -> list[bytes]:
    """The code of each complete reply in a stream of replies."""
    return [line[:3] for line in data.split(b"\r\n") if len(line) >= 4 and line[3:4] == b" "]


# ---- SMTP smuggling -------------------------------------------------------------------------

# End-of-data look-alikes a lenient MTA might honour; each is followed by a smuggled transaction.
SMUGGLE_ENDS = [
    b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n.\n", b"\r\n.\r", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n",
    b"\n.\r", b"\r.\r", b"\x00\n.\r\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\n..\n", b"\r\n .\r\n",
    b"\r\n.\t\r\n", b"\n\r.\n\r", b"\r\n\r.\r\n", b"\n\n.\n\n",
]


assert not [e for e in SMUGGLE_ENDS if b"\r\n.\r\n" in e]  # each is a look-alike, not the real end


def smuggled(end: bytes, n: int) -> bytes:
    return (b"From: a@ext.test\r\nTo: bob@example.org\r\nSubject: first %d\r\n\r\nfirst body" % n + end
            + b"MAIL FROM:<smuggled-%d@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" % n
            + b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")


@pytest.mark.parametrize("mode", ["normalize", "reject"])
def test_smuggling_variants_never_relay_a_second_message(tmp_path: Path, mode: str) -> None:
    s = Stack(tmp_path, f"bare_newline: {mode}")
    try:
        for n, end in enumerate(SMUGGLE_ENDS):
            r = Raw(s.port)
            r.session(sender=b"real-%d@ext.test" % n)
            assert r.cmd(b"DATA").startswith(b"354")
            r.send(smuggled(end, n) + b"\r\n.\r\n")
            first = r.reply()
            assert first[:3] in (b"250", b"550", b"500"), (end, first)
            rest = r.cmd(b"QUIT")
            assert rest.startswith(b"221"), (end, rest)  # the smuggled commands got no replies
            r.close()
        s.sink.settle(0, 0)
        msgs = s.sink.messages
        assert len(msgs) <= len(SMUGGLE_ENDS)
        assert all(m.mail_from.startswith("real-") for m in msgs), [m.mail_from for m in msgs]
        assert len({m.mail_from for m in msgs}) == len(msgs)  # never two from one session
        for m in msgs:
            body = m.data.replace(b"\r\n", b"")
            if mode == "normalize":
                assert b"\r" not in body and b"\n" not in body, m.mail_from
        if mode == "reject":  # every variant with a bare CR or LF was refused
            bare = [e for e in SMUGGLE_ENDS if re.search(rb"\r(?!\n)|(?<!\r)\n", e)]
            assert len(msgs) == len(SMUGGLE_ENDS) - len(bare)
    finally:
        s.stop()


# ---- open relay -----------------------------------------------------------------------------

RELAY_FORMS = [
    "<user@elsewhere.test>", "<user@elsewhere.test.>", "<user@example.org.elsewhere.test>",
    "<user@elsewhere.test> NOTIFY=NEVER", "user@elsewhere.test", "< user@elsewhere.test >",
    "<user%elsewhere.test@example.org>", "<user%elsewhere.test%example.org@example.org>",
    "<elsewhere.test!user@example.org>", "<user!elsewhere.test@example.org>",
    "<@example.org:user@elsewhere.test>", "<@example.org,@other.test:user@elsewhere.test>",
    "< @example.org:user@elsewhere.test>",
    '<"user@elsewhere.test">', '<"user@elsewhere.test"@example.org>', '<"user%elsewhere.test"@example.org>',
    '<"user!x"@example.org>', '<"us\\"er@elsewhere.test"@example.org>', "<user\\@elsewhere.test@example.org>",
    "<user@elsewhere.test@example.org>", "<user@example.org@elsewhere.test>",
    "<user@[127.0.0.1]>", "<user@[192.0.2.1]>", "<user@[IPv6:::1]>", "<user@[example.org]>",
    "<postmaster@elsewhere.test>", "<postmaster%elsewhere.test@example.org>", "<postmaster@[192.0.2.1]>",
    "<user@xn--exmple-cua.org>", "<user@exämple.org>", "<user@example.org\u200b>", "<user@EXAMPLE.ORG.evil.test>",
    "<user@example.org.>", "<user@Example.Org>", "<postmaster>", "<Postmaster>",
    "<user@localhost>", "<user@elsewhere.test\x00@example.org>",
]


def _is_local(rcpt: str) -> bool:
    local, _, domain = rcpt.rpartition("@")
    if not local:
        return rcpt.lower() == "postmaster"
    return domain.lower().rstrip(".") in ("example.org", "example.ac.uk") and not any(c in local for c in "%!@")


def test_open_relay_forms_never_reach_a_foreign_domain(stack: Stack) -> None:
    before = len(stack.sink.messages)
    accepted = []
    for form in RELAY_FORMS:
        r = Raw(stack.port)
        r.session(rcpts=())
        reply = r.cmd(b"MAIL FROM:<alice@ext.test> SMTPUTF8")
        assert reply.startswith(b"503") or reply.startswith(b"250")  # nested MAIL after session()
        reply = r.cmd(b"RCPT TO:" + form.encode("utf-8", "surrogateescape"))
        assert replies_ok(reply), (form, reply)
        if reply.startswith(b"250"):
            accepted.append(form)
            assert r.cmd(b"DATA").startswith(b"354")
            assert r.cmd(SIMPLE + b".").startswith(b"250")
        r.cmd(b"QUIT")
        r.close()
    msgs = stack.sink.wait_for(before + len(accepted))[before:]
    assert len(msgs) == len(accepted)
    for m in msgs:
        assert all(_is_local(rcpt) for rcpt in m.rcpt_tos), m.rcpt_tos
    # the forms that are plainly relay attempts were all refused
    assert set(accepted) <= {"<user@example.org.>", "<user@Example.Org>", "<postmaster>", "<Postmaster>"}, accepted


# ---- random command bytes -------------------------------------------------------------------

VERBS = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET", b"NOOP", b"VRFY", b"EXPN",
         b"HELP", b"XFORWARD", b"AUTH", b"STARTTLS", b"BDAT", b"ETRN", b"X"]


ARG_BITS = st.lists(st.sampled_from([b"<", b">", b"@", b"a", b"\"", b"\\", b":", b",", b"%", b"!", b"[", b"]",
                                     b" ", b"=", b"\x00", b"\r", b"\xff", b"\xc3\xa9", b"(", b")"]),
                    max_size=20).map(b"".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(VERBS), st.binary(max_size=80) | ARG_BITS), min_size=1, max_size=6))
def test_random_command_bytes_get_well_formed_replies(stack: Stack, commands: list[tuple[bytes, bytes]]) -> None:
    r = Raw(stack.port)
    try:
        reply = r.reply()
        assert reply.startswith(b"220")
        for verb, junk in commands:
            line = verb + junk.replace(b"\n", b"")
            if line.upper().startswith((b"DATA", b"STARTTLS", b"BDAT", b"QUIT", b"AUTH")):
                line = b"X" + line  # a DATA body or TLS handshake is another test's subject
            try:
                reply = r.cmd(line)
            except ConnectionResetError:  # a command sent after a goodbye meets a reset, not end of file
                assert reply.startswith(b"421") or b"goodbye" in reply, (line, reply)
                break
            if not reply:  # closed (e.g. too many unknown commands): fine, but say why
                break
            assert replies_ok(reply), (line, reply)
            assert reply != said(replies.INTERNAL_ERROR), (line, reply)
    finally:
        r.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([b"MAIL FROM:", b"RCPT TO:", b"VRFY "]), ARG_BITS)
def test_random_addresses_get_a_reply_never_an_internal_error(stack: Stack, verb: bytes, arg: bytes) -> None:
    r = Raw(stack.port)
    try:
        assert r.reply().startswith(b"220")
        r.cmd(b"EHLO fuzz.test")
        if verb.startswith(b"RCPT"):
            assert r.cmd(b"MAIL FROM:<alice@ext.test> SMTPUTF8").startswith(b"250")
        reply = r.cmd(verb + arg)
        assert replies_ok(reply) and reply != said(replies.INTERNAL_ERROR), (verb + arg, reply)
    finally:
        r.close()


# ---- slow and trickling clients, pipelining -------------------------------------------------

def test_tricklers_do_not_stop_an_honest_client(stack: Stack) -> None:
    """Ten clients trickling a byte every 50 ms (never silent, never finishing) while an honest
    client sends a message: it is delivered; the tricklers end when their silence comes."""
    stop = threading.Event()
    outcomes: list[bytes] = []

    def trickle(n: int) -> None:
        r = Raw(stack.port)
        r.session(sender=b"trickler-%d@ext.test" % n)
        r.cmd(b"DATA")
        try:
            while not stop.is_set():
                r.send(b"x")
                time.sleep(0.05)
            outcomes.append(r.rest())  # silent from now on: the gateway must hang up
        except OSError:
            outcomes.append(b"")
        finally:
            r.close()

    threads = [threading.Thread(target=trickle, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    r = Raw(stack.port)
    r.session(sender=b"honest@ext.test")
    assert r.cmd(b"DATA").startswith(b"354")
    assert r.cmd(SIMPLE + b".").startswith(b"250")
    r.cmd(b"QUIT")
    r.close()
    stop.set()
    for t in threads:
        t.join(20)
    assert all(o.startswith(said(replies.TIMEOUT)) for o in outcomes), outcomes
    assert [m for m in stack.sink.messages if m.mail_from == "honest@ext.test"]
    assert not [m for m in stack.sink.messages if m.mail_from.startswith("trickler-")]


def test_whole_transactions_pipelined_in_one_write(stack: Stack) -> None:
    n = 30
    blob = b"EHLO pipeliner.test\r\n"
    for i in range(n):
        blob += (b"MAIL FROM:<pipe-%d@ext.test>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\n"
                 b"DATA\r\n" % i) + SIMPLE + b".\r\n"
    blob += b"QUIT\r\n"
    r = Raw(stack.port)
    assert r.reply().startswith(b"220")
    r.send(blob)
    out = r.rest()
    r.close()
    assert replies_ok(out)
    codes = final_codes(out)
    assert codes == [b"250"] + [b"250", b"250", b"550", b"354", b"250"] * n + [b"221"], codes
    mine = [m for m in stack.sink.wait_for(0) if m.mail_from.startswith("pipe-")]
    for _ in range(100):
        if len(mine) == n:
            break
        time.sleep(0.05)
        mine = [m for m in stack.sink.messages if m.mail_from.startswith("pipe-")]
    assert Counter(m.mail_from for m in mine) == Counter(f"pipe-{i}@ext.test" for i in range(n))


def test_rcpt_flood_without_reading_replies_ends(stack: Stack) -> None:
    """A client pipelining thousands of RCPTs and never reading a reply: the gateway stops
    when its send buffer is full, then the silence timeout ends the session."""
    r = Raw(stack.port)
    r.session(sender=b"flood@ext.test", rcpts=())
    r.sock.settimeout(15)
    flood = b"RCPT TO:<user-with-a-rather-long-local-part-to-fill-buffers@example.org>\r\n" * 4000
    try:
        r.sock.sendall(flood)
    except OSError:
        pass  # the gateway hung up while we were still sending: also an ending
    try:
        r.rest()
    except OSError:
        pass
    r.close()
    assert stack.sink.settle(0, 0, timeout=20)


# ---- soak with upstream restarts ------------------------------------------------------------

def test_soak_with_upstream_restarts_counts_every_message_exactly_once(tmp_path: Path) -> None:
    s = Stack(tmp_path, "limits: {max_connections_per_ip: 100, shutdown_grace: 2}")
    outcome: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        rnd = random.Random(worker)
        i = 0
        while not stop.is_set():
            r = None
            try:
                r = Raw(s.port)
                assert r.reply().startswith(b"220")
                r.cmd(b"EHLO soak.test")
                for _ in range(rnd.randint(1, 4)):  # several transactions per connection
                    mid = f"soak-{worker}-{i}"
                    i += 1
                    reply = r.cmd(f"MAIL FROM:<{mid}@ext.test>".encode())
                    if reply.startswith(b"250"):
                        reply = r.cmd(b"RCPT TO:<bob@example.org>")
                    if reply.startswith(b"250"):
                        reply = r.cmd(b"DATA")
                    if reply.startswith(b"354"):
                        reply = r.cmd(f"X-Soak-Id: {mid}\r\n".encode() + SIMPLE + b".")
                    elif reply.startswith(b"250"):
                        raise AssertionError(reply)
                    with lock:
                        outcome[mid] = reply[:3]
                    if not reply.startswith(b"250"):
                        r.cmd(b"RSET")
                r.cmd(b"QUIT")
            finally:
                if r is not None:
                    r.close()

    workers = [threading.Thread(target=client, args=(w,)) for w in range(6)]
    for t in workers:
        t.start()
    try:
        for _ in range(5):  # five upstream restarts under load
            time.sleep(0.6)
            s.sink.restart(down_for=0.3)
        time.sleep(0.6)
    finally:
        stop.set()
        for t in workers:
            t.join(30)
    try:
        ok = {mid for mid, code in outcome.items() if code == b"250"}
        failed = {mid for mid, code in outcome.items() if code != b"250"}
        assert ok and failed, (len(ok), len(failed))  # the restarts did bite, and mail flowed
        assert all(code[:1] in (b"2", b"4") for code in outcome.values()), Counter(outcome.values())
        time.sleep(0.3)
        seen = Counter(m.group(1).decode() for m in
                       (re.search(rb"X-Soak-Id: (soak-\d+-\d+)", msg.data) for msg in s.sink.messages) if m)
        assert set(seen) == ok, (sorted(set(seen) - ok)[:5], sorted(ok - set(seen))[:5])
        assert max(seen.values()) == 1  # exactly once
        assert s.sink.settle(0, 0)
    finally:
        s.stop()
