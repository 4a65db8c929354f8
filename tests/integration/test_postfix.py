"""The gateway behind a real Postfix, in both shipped deployment modes (deploy/postfix/*).

Each mode gets its own throwaway Postfix (tests/integration/postfix.py) built from the deploy
snippets, the gateway in-process on the filter port, and a recording sink where Postfix finally
delivers. Needs root and the postfix binary (skipped locally without them, required in CI).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import os
import re
import secrets
import smtplib
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.config import Config, HostPort
from gateway.smtp.service import ThreadedGateway
from tests.conftest import IN_CI, closed_port, free_ports, make_config, need_binary
from tests.integration.postfix import MODES, PostfixInstance
from tests.support.sink import Received, Sink

pytestmark = [pytest.mark.postfix, pytest.mark.timeout(90)]

GATEWAY_MARK = "by gw.example.org (approach-gateway)"
CLIENT_IP = "127.0.0.2"  # the "original client": distinct from Postfix's own 127.0.0.1
CLIENT_HELO = "original-client.example"
REFUSED = "refused@example.org"

# Every message scores 4 (caution), so a spoofed "clean" is visibly replaced.
TEST_POLICY = """\
rules:
  - id: test-every-message
    when: {not: {signal: mime.depth_exceeded}}
    score: 4
    reason: integration test rule that matches every message
"""


@dataclass
class Stack:
    mode: str
    pf: PostfixInstance
    sink: Sink
    config: Config
    gateway: ThreadedGateway

    @property
    def messages_analysed(self) -> int:
        assert self.gateway.gateway is not None
        return self.gateway.gateway.state.messages

    def arrived(self, token: str) -> list[Received]:
        return [m for m in self.sink.messages if token.encode() in m.data]

    def wait_arrived(self, token: str) -> list[Received]:
        """Wait for the message to arrive and for Postfix's queue to drain (no copy left)."""
        deadline = time.monotonic() + 20
        while not self.arrived(token) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.pf.wait_queue_empty()  # the client had its 250: an empty queue means all copies are out
        return self.arrived(token)

    @contextmanager
    def gateway_with_upstream(self, port: int | None) -> Iterator[None]:
        """Run the gateway with another upstream port (None: no gateway at all), then restore."""
        self.gateway.stop()
        if port is not None:
            cfg = dataclasses.replace(self.config, upstream=dataclasses.replace(self.config.upstream, port=port))
            self.gateway = ThreadedGateway(cfg).start()
        try:
            yield
        finally:
            if port is not None:
                self.gateway.stop()
            self.gateway = ThreadedGateway(self.config).start()


def _need_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the Postfix integration tests must run as root in CI (see .ci/run)")
        pytest.skip("starting a private Postfix instance needs root")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Stack]]:
    """Builds each mode's stack on first use; both then run side by side until the module ends
    (two Postfix instances at once: they must not collide)."""
    postfix = need_binary("postfix")
    _need_root()
    built: dict[str, Stack] = {}
    cleanup = ExitStack()

    def get(mode: str) -> Stack:
        if mode not in built:
            built[mode] = _build(cleanup, postfix, mode, tmp_path_factory.mktemp(mode))
        return built[mode]

    with cleanup:
        yield get


def _build(cleanup: ExitStack, postfix: str, mode: str, tmp: Path) -> Stack:
    (tmp / "policies").mkdir()
    (tmp / "policies" / "test.yml").write_text(TEST_POLICY)
    sink = Sink().start()
    cleanup.callback(sink.stop)
    smtp, filt, reinject = free_ports(3)  # all three distinct (free_port() twice may repeat one)
    pf = PostfixInstance(postfix, mode, smtp_port=smtp, filter_port=filt, reinject_port=reinject,
                         sink_port=sink.port, refuse=(REFUSED,))
    cleanup.callback(pf.stop)
    pf.start()
    cfg = make_config(pf.reinject_port, tmp, extra="xforward_hosts: [127.0.0.0/8]",
                      policies=str(tmp / "policies"))
    cfg = dataclasses.replace(cfg, listen=HostPort("127.0.0.1", pf.filter_port))
    st = Stack(mode, pf, sink, cfg, ThreadedGateway(cfg).start())
    cleanup.callback(lambda: st.gateway.stop())
    return st


@pytest.fixture(params=MODES)
def stack(request: pytest.FixtureRequest, stacks: Callable[[str], Stack]) -> Stack:
    return stacks(request.param)


@pytest.fixture
def before_queue(stacks: Callable[[str], Stack]) -> Stack:
    return stacks("before-queue")


@pytest.fixture
def after_queue(stacks: Callable[[str], Stack]) -> Stack:
    return stacks("after-queue")


def message(token: str, *, extra_headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sender <sender@remote.test>"
    msg["To"] = "ok@example.org"
    msg["Subject"] = f"integration {token}"
    msg["Message-ID"] = f"<{token}@remote.test>"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(f"Hello,\n\nthis is message {token}.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def client() -> smtplib.SMTP:
    return smtplib.SMTP(local_hostname=CLIENT_HELO, source_address=(CLIENT_IP, 0), timeout=30)


def submit(stack: Stack, data: bytes) -> str:
    """Send one message to Postfix's public port; Postfix's queue id for it."""
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.ehlo()
        assert c.mail("sender@remote.test")[0] == 250
        assert c.rcpt("ok@example.org")[0] == 250
        code, text = c.data(data)
    assert code == 250, text
    m = re.search(rb"queued as ([0-9A-Za-z]+)", text)
    assert m, text
    return m.group(1).decode()


def headers_of(received: Received) -> EmailMessage:
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def unfolded(msg: EmailMessage, name: str) -> list[str]:
    return [" ".join(str(v).split()) for v in msg.get_all(name, [])]


# ---- both modes ------------------------------------------------------------------------------


def test_swaks_message_arrives_once_with_verdict_headers(stack: Stack, tmp_path: Path) -> None:
    swaks = need_binary("swaks")
    token = secrets.token_hex(8)
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(token))
    before = stack.messages_analysed
    proc = subprocess.run(
        [swaks, "--server", "127.0.0.1", "--port", str(stack.pf.smtp_port), "--helo", CLIENT_HELO,
         "--local-interface", CLIENT_IP, "--from", "sender@remote.test", "--to", "ok@example.org",
         "--data", f"@{eml}", "--timeout", "30"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    got = stack.wait_arrived(token)
    assert len(got) == 1, f"expected one copy, got {len(got)}"
    assert got[0].rcpt_tos == ["ok@example.org"]
    assert got[0].mail_from == "sender@remote.test"
    msg = headers_of(got[0])
    assert unfolded(msg, "X-Approach-Verdict") == ["caution"]
    assert unfolded(msg, "X-Approach-Score") == ["4"]
    (reasons,) = unfolded(msg, "X-Approach-Reasons")
    assert reasons.startswith("test-every-message (4): ")
    # Loop prevention: the gateway saw it exactly once (one Received of ours, one analysis).
    assert len([r for r in unfolded(msg, "Received") if GATEWAY_MARK in r]) == 1
    assert stack.messages_analysed - before == 1


def test_original_client_passes_through_xforward(stack: Stack) -> None:
    token = secrets.token_hex(8)
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.sendmail("sender@remote.test", ["ok@example.org"], message(token))
    (got,) = stack.wait_arrived(token)
    received = unfolded(headers_of(got), "Received")
    # The gateway names the original client (XFORWARD from Postfix), not Postfix itself.
    (ours,) = [r for r in received if GATEWAY_MARK in r]
    assert ours.startswith(f"from {CLIENT_HELO} ("), ours
    assert f"[{CLIENT_IP}]" in ours
    # ... and passes it on: the reinjection smtpd (newest Received, naming its queue id) logs the
    # original client as orig_client (Postfix keeps the real peer in its own Received header).
    newest = received[0]
    assert newest.startswith("from gw.example.org ") and f"by {stack.mode}.postfix.test" in newest
    queue_id = re.search(r" id ([0-9A-Za-z]+)", newest)
    assert queue_id, newest
    line = stack.pf.wait_log(f"{queue_id.group(1)}: client=")
    assert f"orig_client=unknown[{CLIENT_IP}]" in line, line


def test_spoofed_verdict_headers_are_replaced(stack: Stack) -> None:
    token = secrets.token_hex(8)
    spoof = {"X-Approach-Verdict": "clean", "X-Approach-Score": "-100",
             "X-Approach-Reasons": "none"}
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.sendmail("sender@remote.test", ["ok@example.org"], message(token, extra_headers=spoof))
    (got,) = stack.wait_arrived(token)
    msg = headers_of(got)
    assert unfolded(msg, "X-Approach-Verdict") == ["caution"]
    assert unfolded(msg, "X-Approach-Score") == ["4"]
    assert [r.split(":")[0] for r in unfolded(msg, "X-Approach-Reasons")] == ["test-every-message (4)"]
    assert b"-100" not in got.data


# ---- before-queue: the client sees the upstream's own answers --------------------------------


def test_before_queue_upstream_refusal_reaches_client(before_queue: Stack) -> None:
    stack = before_queue
    token = secrets.token_hex(8)
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.ehlo()
        assert c.mail("sender@remote.test")[0] == 250
        assert c.rcpt("ok@example.org")[0] == 250
        code, text = c.rcpt(REFUSED)
        assert code == 550, text
        assert b"refused by the upstream test map" in text
        code, text = c.data(message(token))
        assert code == 250, text
    (got,) = stack.wait_arrived(token)
    assert got.rcpt_tos == ["ok@example.org"]


@pytest.mark.parametrize("down", ["upstream", "gateway"])
def test_before_queue_down_gives_4xx_and_delivers_nothing(before_queue: Stack, down: str) -> None:
    stack = before_queue
    token = secrets.token_hex(8)
    replies: list[int] = []
    with closed_port() as dead, stack.gateway_with_upstream(dead if down == "upstream" else None), client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.ehlo()
        for step in (lambda: c.mail("sender@remote.test"), lambda: c.rcpt("ok@example.org"),
                     lambda: c.data(message(token))):
            code = step()[0]
            replies.append(code)
            if code != 250:
                break
    assert 250 not in replies[2:], replies  # never 250 for the message
    assert 400 <= replies[-1] < 500, replies
    stack.pf.wait_queue_empty()
    assert stack.arrived(token) == []
    # And once the upstream is back, mail flows again (the same fixture is reused).
    token2 = secrets.token_hex(8)
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.sendmail("sender@remote.test", ["ok@example.org"], message(token2))
    assert len(stack.wait_arrived(token2)) == 1


# ---- after-queue: Postfix hands over each queued message with XFORWARD -----------------------


def test_after_queue_xforward_per_transaction_on_a_reused_connection(after_queue: Stack) -> None:
    """Postfix caches connections to a busy content filter and sends XFORWARD before each
    transaction; each message must reach the reinjection smtpd with its own original client.
    Here smtplib plays Postfix's `approach` transport on one connection."""
    stack = after_queue
    tokens = [secrets.token_hex(8), secrets.token_hex(8)]
    clients = [("127.0.0.5", "first.example"), ("127.0.0.6", "second.example")]
    with smtplib.SMTP("127.0.0.1", stack.pf.filter_port, local_hostname="after-queue.postfix.test",
                      timeout=30) as c:
        c.ehlo()
        assert c.has_extn("xforward")
        for token, (ip, helo) in zip(tokens, clients, strict=True):
            assert c.docmd("XFORWARD", f"NAME=[UNAVAILABLE] ADDR={ip} PROTO=ESMTP HELO={helo}")[0] == 250
            c.sendmail("sender@remote.test", ["ok@example.org"], message(token))
    for token, (ip, helo) in zip(tokens, clients, strict=True):
        (got,) = stack.wait_arrived(token)
        received = unfolded(headers_of(got), "Received")
        (ours,) = [r for r in received if GATEWAY_MARK in r]
        assert ours.startswith(f"from {helo} (") and f"[{ip}]" in ours, ours
        queue_id = re.search(r" id ([0-9A-Za-z]+)", received[0])
        assert queue_id, received[0]
        line = stack.pf.wait_log(f"{queue_id.group(1)}: client=")
        assert f"orig_client=unknown[{ip}]" in line, line


def test_after_queue_gateway_tempfail_keeps_the_message_queued(after_queue: Stack) -> None:
    """The gateway's upstream is down: the gateway answers 4xx, Postfix keeps the message in
    its deferred queue; once the gateway works again it is delivered, once."""
    stack = after_queue
    token = secrets.token_hex(8)
    with closed_port() as dead, stack.gateway_with_upstream(dead):
        queue_id = submit(stack, message(token))
        line = stack.pf.wait_log(f"{queue_id}: to=<ok@example.org>, relay=")
        assert "status=deferred" in line and " 451 " in line, line
        assert stack.pf.queued() != [] and stack.arrived(token) == []
    stack.pf.run(stack.pf.postfix, "-c", str(stack.pf.config_dir), "flush")
    assert len(stack.wait_arrived(token)) == 1


def test_eight_bit_message_arrives_byte_identical(stack: Stack) -> None:
    token = secrets.token_hex(8)
    original = (
        "From: Jürgen <sender@remote.test>\r\n"
        "To: ok@example.org\r\n"
        f"Subject: 8bit {token}\r\n"
        f"Message-ID: <{token}@remote.test>\r\n"
        "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Grüße aus Köln, ¿qué tal? — 東京\r\n"
        "\xa0trailing non-breaking space line\r\n"
    ).encode()
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        c.ehlo()
        assert c.has_extn("8bitmime")
        c.sendmail("sender@remote.test", ["ok@example.org"], original, mail_options=["BODY=8BITMIME"])
    (got,) = stack.wait_arrived(token)
    # Everything the gateway and Postfix add is prepended: the original bytes follow unchanged.
    assert got.data.endswith(original), got.data[-600:]


def test_before_queue_dsn_parameters_pass_through_the_gateway(before_queue: Stack) -> None:
    """Postfix passes MAIL/RCPT parameters to the gateway verbatim; the gateway passes the
    RFC 3461 ones on to the reinjection smtpd (which offers DSN), so a client using DSN is
    accepted (aiosmtpd alone would answer 555) and its message delivered once."""
    token = secrets.token_hex(8)
    with client() as c:
        c.connect("127.0.0.1", before_queue.pf.smtp_port)
        c.ehlo()
        assert c.has_extn("dsn")
        assert c.docmd("MAIL FROM:<sender@remote.test> RET=HDRS ENVID=env-" + token)[0] == 250
        assert c.docmd("RCPT TO:<ok@example.org> NOTIFY=FAILURE ORCPT=rfc822;ok@example.org")[0] == 250
        assert c.data(message(token))[0] == 250
    assert len(before_queue.wait_arrived(token)) == 1


def test_shipped_snippets_give_postfix_no_warnings(stack: Stack) -> None:
    """`postfix check` and postconf (which flags unknown or unused parameters) are silent."""
    postconf = need_binary("postconf")
    assert stack.pf.check_output == ""
    for flag in ("-n", "-M"):
        proc = stack.pf.run(postconf, "-c", str(stack.pf.config_dir), flag)
        assert "warning" not in proc.stderr, proc.stderr
    # The snippets' values are in effect (not shadowed by anything in the generated main.cf).
    params = stack.pf.run(postconf, "-c", str(stack.pf.config_dir), "-h", "content_filter").stdout.strip()
    expected = f"approach:[127.0.0.1]:{stack.pf.filter_port}" if stack.mode == "after-queue" else ""
    assert params == expected


def test_after_queue_upstream_refusal_bounces_to_the_sender(after_queue: Stack) -> None:
    """After-queue, Postfix already said 250 to the client: a recipient refused behind the gateway
    must come back to the sender as a bounce naming the refusal, never vanish."""
    stack = after_queue
    token = secrets.token_hex(8)
    with client() as c:
        c.connect("127.0.0.1", stack.pf.smtp_port)
        assert c.sendmail("sender@remote.test", ["ok@example.org", REFUSED], message(token)) == {}
    deadline = time.monotonic() + 20
    while len(stack.arrived(token)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stack.pf.wait_queue_empty()
    got = stack.arrived(token)
    delivered = [m for m in got if m.rcpt_tos != ["sender@remote.test"]]
    bounces = [m for m in got if m.rcpt_tos == ["sender@remote.test"]]
    assert [m.rcpt_tos for m in delivered] == [["ok@example.org"]]
    assert len(bounces) == 1 and bounces[0].mail_from in ("", "<>")
    assert b"refused by the upstream test map" in bounces[0].data


# ---- hostile clients against a real Postfix upstream -----------------------------------------

def _established(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is `port` (the server's side)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                n += 1
    return n


def test_abandoned_starttls_sessions_leave_no_connection_at_postfix(before_queue: Stack, tmp_path: Path) -> None:
    """The incident, against the real reinjection smtpd: EHLO, MAIL, STARTTLS, handshake, QUIT,
    25 times. Each used to leave its upstream connection (and transaction) open at Postfix."""
    from tests.integration.conftest import client_tls
    from tests.support.rawsmtp import Raw

    need_binary("openssl")
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=gw.example.org"], check=True, capture_output=True)
    cfg = make_config(before_queue.pf.reinject_port, tmp_path, extra=f"tls: {{cert: {crt}, key: {key}}}")
    reinject = before_queue.pf.reinject_port
    with ThreadedGateway(cfg) as gw:
        for _ in range(25):
            r = Raw(gw.port)
            assert r.reply().startswith(b"220")
            r.cmd(b"EHLO client.test")
            assert r.cmd(b"MAIL FROM:<a@remote.test>").startswith(b"250")  # Postfix has a transaction
            if r.cmd(b"STARTTLS").startswith(b"220"):
                r.starttls(client_tls())
            else:
                assert r.cmd(b"RSET").startswith(b"250")
                assert r.cmd(b"STARTTLS").startswith(b"220")
                r.starttls(client_tls())
            r.cmd(b"EHLO client.test")
            r.cmd(b"QUIT")
            r.close()
        deadline = time.monotonic() + 15
        while _established(reinject) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _established(reinject) == 0, "the gateway left connections open at Postfix"


SMUGGLE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n.\n", b"\r\n.\r", b"\x00\n.\r\n"]


def test_smuggling_through_the_gateway_never_reaches_postfix_as_two_messages(before_queue: Stack) -> None:
    """Postfix 3.7 (smtpd_forbid_bare_newline = no) ends DATA at <LF>.<CR><LF>: the gateway in
    front of it must never hand it a bare LF or CR, so each session is one message there."""
    from tests.support.rawsmtp import Raw

    gw_port = before_queue.config.listen.port
    tokens = []
    for end in SMUGGLE_ENDS:
        token = secrets.token_hex(6)
        tokens.append(token)
        r = Raw(gw_port)
        r.session(sender=f"real-{token}@remote.test".encode(), rcpts=(b"ok@example.org",))
        assert r.cmd(b"DATA").startswith(b"354")
        r.send(b"Subject: first " + token.encode() + b"\r\n\r\nfirst body" + end
               + b"MAIL FROM:<smuggled-" + token.encode() + b"@example.org>\r\nRCPT TO:<ok@example.org>\r\n"
               + b"DATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n\r\n.\r\n")
        assert r.reply().startswith(b"250"), end
        assert r.cmd(b"QUIT").startswith(b"221")
        r.close()
    for token in tokens:
        assert len(before_queue.wait_arrived(token)) >= 1
    before_queue.pf.wait_queue_empty()
    senders = [m.mail_from for m in before_queue.sink.messages]
    assert not [s for s in senders if s.startswith("smuggled-")], senders
    for token in tokens:
        assert senders.count(f"real-{token}@remote.test") == 1
