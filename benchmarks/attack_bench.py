"""What one hostile session costs everyone else, and whether any mail is lost or doubled.

The gateway runs as its own process (`python -m gateway serve`, shipped policies), the upstream
(the recording sink of the tests, plus the empty loopback DNS server) as another; each attack
runs in its own client process(es) from 127.0.0.2 (so the per-IP limit does not tie it to the
measuring client). A measuring process sends one normal message every `--interval` seconds on a
fresh connection (connect .. 221 to QUIT) from 127.0.0.1, first with no attack (idle), then while
each attack runs, then while the upstream restarts every 1.5 s. Printed per phase: messages ok /
not ok, p50 and p99 of the normal session's latency, the difference to idle, and the attack's own
counts. At the end: every message the measurer and the pipelining attacker got 250 for is counted
at the upstream (must be exactly once), smuggled and foreign-recipient messages (must be none),
connections left open upstream, and the gateway's refusal log lines by reason.

    python benchmarks/attack_bench.py [--seconds 10] [--procs 1] [--interval 0.05] [--only noop,smuggle]
                                      [--workers auto]

`--only messages` runs the hostile single messages (`msg:KIND`, `_hostile`: pathological MIME,
huge or encoded-word-storm headers, broken transfer encodings, text built for the claim,
signature and organisation parsers' worst cases, zero-width and bidi characters inside names, an
HTML bomb, thousands of links to new domains, a thousand recipients), each sent again and again
on one session while the measurer sends; its columns add the message's size, the time from its
final dot to its reply (median/max: the analysis plus the relay to the loopback sink) and the
peak RSS of the gateway's largest process in the phase. `--only sessions`: the other attacks.

Target (docs/known-limits.md, "Sessions sharing a worker"): no single hostile session adds more than
100 ms to anyone else's session. The
numbers depend on the machine and on what else runs on it; the tests never assert timings.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import multiprocessing as mp
import os
import quopri
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from email.header import Header
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ATTACKER_IP = "127.0.0.2"
LOCAL = ("example.org", "example.ac.uk")
NORMAL = (b"From: Alice <alice@ext.test>\r\nTo: bob@example.org\r\nSubject: hello\r\n"
          b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@ext.test>\r\nX-Bench-Id: %s\r\n\r\n"
          b"Hello Bob, the minutes of Tuesday's meeting are attached below.\r\n" + b"Some text.\r\n" * 40)


# ---- a raw client ----------------------------------------------------------------------------

class Raw:
    def __init__(self, port: int, source: str = "127.0.0.1", timeout: float = 30) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.buf = b""

    def reply(self) -> bytes:
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return out
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            if line[3:4] != b"-":
                return out

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def rest(self) -> bytes:
        out, self.buf = self.buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ---- the upstream process (sink + loopback DNS) -------------------------------------------

def upstream_process(conn: Connection) -> None:
    from tests.support.dnsserver import TestDNSServer
    from tests.support.sink import Sink

    dns = TestDNSServer().start()
    sink = Sink().start()
    ids: Counter[str] = Counter()
    smuggled = 0
    foreign = 0

    def compact() -> None:  # keep counts, drop the bytes (10 MB messages pile up otherwise)
        nonlocal smuggled, foreign
        msgs, sink.messages = sink.messages, []
        for m in msgs:
            found = re.search(rb"X-Bench-Id: (\S+)", m.data)
            if found:
                ids[found.group(1).decode()] += 1
            if m.mail_from.startswith("smuggled"):  # its own envelope: a second message
                smuggled += 1
            foreign += sum(1 for r in m.rcpt_tos
                           if r.lower() != "postmaster" and r.rpartition("@")[2].lower().rstrip(".") not in LOCAL)

    conn.send((sink.port, dns.port))
    while True:
        if not conn.poll(0.5):
            sink.loop.call_soon_threadsafe(compact)
            continue
        what = conn.recv()
        if what == "restart":
            sink.restart(down_for=0.3)
            conn.send("ok")
        elif what == "stats":
            sink._run(_acompact(compact))
            conn.send({"ids": dict(ids), "smuggled": smuggled, "foreign": foreign,
                       "open_connections": sink.open_connections(), "aborted": sink.aborted})
        elif what == "quit":
            sink.stop()
            dns.stop()
            conn.send("bye")
            return


async def _acompact(fn: Any) -> None:
    fn()


# ---- attacks (each in its own process, looping until the deadline) ---------------------------

SMUGGLE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r.\n", b"\r\n.\n", b"\r\n.\r", b"\x00\n.\r\n", b"\r\n\x00.\r\n"]
RELAY_FORMS = [
    b"<user@elsewhere.test>", b"<user%elsewhere.test@example.org>", b"<elsewhere.test!user@example.org>",
    b"<@example.org:user@elsewhere.test>", b'<"user@elsewhere.test"@example.org>', b"<user@[192.0.2.1]>",
    b"<postmaster@elsewhere.test>", b"<user@example.org.elsewhere.test>", b"<user@xn--exmple-cua.org>",
    b"<user@elsewhere.test.>", b"<user\\@elsewhere.test@example.org>",
]


def attack_noop(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """NOOP as fast as the replies come (was: never closed; now 421 after the junk limit)."""
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO looper.test")
        while time.monotonic() < deadline:
            reply = r.cmd(b"NOOP")
            counts["noop"] += 1
            if not reply.startswith(b"250"):
                counts[f"closed {reply[:3].decode() or 'EOF'}"] += 1
                break
        r.close()


def attack_trickle(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """A DATA that never ends: one byte every 0.2 s (never silent, never finishing)."""
    r = Raw(port, ATTACKER_IP)
    r.reply()
    r.cmd(b"EHLO trickler.test")
    r.cmd(b"MAIL FROM:<trickler@ext.test>")
    r.cmd(b"RCPT TO:<bob@example.org>")
    r.cmd(b"DATA")
    while time.monotonic() < deadline:
        try:
            r.sock.sendall(b"x")
        except OSError:
            counts["closed"] += 1
            break
        counts["bytes"] += 1
        time.sleep(0.2)
    r.close()


def attack_smuggle(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    i = 0
    while time.monotonic() < deadline:
        end = SMUGGLE_ENDS[i % len(SMUGGLE_ENDS)]
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO smuggler.test")
        r.cmd(b"MAIL FROM:<real@ext.test>")
        r.cmd(b"RCPT TO:<bob@example.org>")
        r.cmd(b"DATA")
        r.sock.sendall(b"Subject: first\r\n\r\nbody" + end + b"MAIL FROM:<smuggled@example.org>\r\n"
                       b"RCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
        counts[f"final dot {r.reply()[:3].decode()}"] += 1
        counts[f"then {r.cmd(b'QUIT')[:3].decode()}"] += 1
        r.close()
        i += 1


def attack_pipeline(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """20 whole transactions in one write, then read everything."""
    k = 0
    while time.monotonic() < deadline:
        blob = b"EHLO pipeliner.test\r\n"
        ids = []
        for _ in range(20):
            mid = f"pipe-{n}-{k}"
            k += 1
            ids.append(mid)
            blob += (b"MAIL FROM:<pipe@ext.test>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<x@elsewhere.test>\r\n"
                     b"DATA\r\n") + NORMAL.replace(b"%s", mid.encode()) + b".\r\n"
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.sock.sendall(blob + b"QUIT\r\n")
        out = r.rest()
        r.close()
        codes = [line[:3].decode() for line in out.split(b"\r\n") if line[3:4] == b" "]
        # replies per transaction: MAIL, RCPT, RCPT(550), DATA(354), final dot
        finals = codes[1:-1][4::5]
        for mid, code in zip(ids, finals, strict=False):
            counts[f"final {code}"] += 1
            if code == "250":
                ACKED.append(mid)


def attack_rcpt_flood(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """5000 RCPTs pipelined, never reading a reply until the end."""
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO flooder.test")
        r.cmd(b"MAIL FROM:<flood@ext.test>")
        try:
            r.sock.sendall(b"RCPT TO:<someone@example.org>\r\n" * 5000 + b"QUIT\r\n")
        except OSError:
            counts["closed while sending"] += 1
        out = r.rest()
        counts["rcpt replies"] += out.count(b"\r\n")
        r.close()


def attack_relay(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO prober.test")
        r.cmd(b"MAIL FROM:<probe@ext.test>")
        for form in RELAY_FORMS:
            counts[f"rcpt {r.cmd(b'RCPT TO:' + form)[:3].decode()}"] += 1
        r.cmd(b"QUIT")
        r.close()


def attack_fuzz(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    rnd = random.Random(n)
    verbs = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"RSET", b"NOOP", b"VRFY", b"HELP", b"XFORWARD", b"X"]
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        for _ in range(50):
            line = rnd.choice(verbs) + bytes(rnd.randrange(256) for _ in range(rnd.randrange(60)))
            reply = r.cmd(line.replace(b"\n", b""))
            if not reply:
                counts["closed"] += 1
                break
            counts[f"reply {reply[:1].decode()}xx"] += 1
        r.close()


def attack_starttls(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """The incident: EHLO, MAIL, STARTTLS (+ handshake when allowed), QUIT, again and again."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP)
        r.reply()
        r.cmd(b"EHLO tls.test")
        r.cmd(b"MAIL FROM:<a@ext.test>")
        reply = r.cmd(b"STARTTLS")
        counts[f"starttls {reply[:3].decode()}"] += 1
        if reply.startswith(b"503"):
            r.cmd(b"RSET")
            reply = r.cmd(b"STARTTLS")
        if reply.startswith(b"220"):
            r.sock = ctx.wrap_socket(r.sock, server_hostname="gw.example.org")
            r.buf = b""
            r.cmd(b"EHLO tls.test")
            r.cmd(b"MAIL FROM:<a@ext.test>")
        r.cmd(b"QUIT")
        r.close()


def attack_bigmsg(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
    """A message at the size limit (10 MB of text): the heaviest honest-looking thing to analyse."""
    body = (b"From: big@ext.test\r\nTo: bob@example.org\r\nSubject: big\r\n\r\n"
            + b"A long line of ordinary words for the analysis to read, again and again.\r\n" * 130_000)
    while time.monotonic() < deadline:
        r = Raw(port, ATTACKER_IP, timeout=120)
        r.reply()
        r.cmd(b"EHLO big.test")
        r.cmd(b"MAIL FROM:<big@ext.test>")
        r.cmd(b"RCPT TO:<bob@example.org>")
        r.cmd(b"DATA")
        r.sock.sendall(body + b".\r\n")
        counts[f"final {r.reply()[:3].decode()}"] += 1
        r.cmd(b"QUIT")
        r.close()


# ---- hostile single messages: each is sent again and again, one at a time, on one session ----

def _b64(text: str) -> bytes:
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def _message(body: bytes, *, ctype: bytes = b"text/plain; charset=utf-8", cte: bytes = b"base64",
             extra: bytes = b"", subject: bytes = b"hostile") -> bytes:
    return (b"From: Dr. Anna Weber <anna.weber@policy-forum.test>\r\nTo: bob@example.org\r\n"
            b"Subject: " + subject + b"\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
            b"Message-ID: <hostile@policy-forum.test>\r\nMIME-Version: 1.0\r\n" + extra
            + b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n" + body)


def _signature_blanks(field: bytes) -> bytes:
    """`field`, then 30,000 blanks in lines of 60 (each within the line length limit), "!", and the
    start of the next field's name (MIME-Version, which it stands in front of)."""
    return field + b"\r\n".join([b" " * 60] * 500) + b"!\r\nMIME-Version"


def _text(text: str) -> bytes:
    return _message(_b64(text))


def _words(rnd: random.Random, n: int, cap: bool) -> list[str]:
    out = []
    for _ in range(n):
        w = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randrange(3, 10)))
        out.append(w.capitalize() if cap else w)
    return out


APPROACH = ("I am a correspondent for the Financial Chronicle working on a feature about the next round of defence "
            "procurement. Could we continue this conversation on WhatsApp? Please keep this between us.")
WORDY = ("Dear Anna, thank you for the notes on the draft chapter. I have read them with care and will send the "
         "revised version with the new figures and the tables of the second survey before the end of next week.")
ORGS = ("Chatham House", "Royal United Services Institute", "International Institute for Strategic Studies",
        "RAND Corporation", "Carnegie Endowment for International Peace", "European Council on Foreign Relations")
ZW = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
BIDI = ("\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", "\u200e")
HOMO = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "i": "\u0456", "p": "\u0440"}


def _scramble(rnd: random.Random, name: str) -> str:
    out = []
    for ch in name:
        if rnd.random() < 0.3:
            out.append(rnd.choice(ZW + BIDI))
        out.append(HOMO.get(ch, ch) if rnd.random() < 0.2 else ch)
    return "".join(out)


def _nested(depth: int) -> bytes:
    head = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i, i + 1)
                    for i in range(depth))
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth + 1)))
    return head + b"--b%d\r\nContent-Type: text/plain\r\n\r\nI am a Senior Fellow at Chatham House.\r\n" % depth + tail


def _parts(n: int) -> bytes:
    return b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nI am Director at Institute %d of Studies.\r\n" % i
                    for i in range(n)) + b"--p--\r\n"


def _descending_marks() -> str:
    """A combining mark of each combining class, the highest class first (not the combining commas)."""
    import unicodedata
    by_class = {unicodedata.combining(c): c for c in map(chr, range(0x300, 0x20000))
                if unicodedata.combining(c) and c not in "\u0312\u0313\u0314\u0315\u0343"}
    return "".join(by_class[k] for k in sorted(by_class, reverse=True))


def _hostile(only: str = "") -> dict[str, bytes]:
    """The hostile messages (`only`: just that one) (each within the default limits: 10 MB, 1000 fields, 100 KB of
    header, lines of at most 8192 bytes; decoded text past `max_text_bytes` is not read)."""
    rnd = random.Random(7)
    charsets = ["utf-8", "iso-8859-1", "iso-8859-2", "iso-8859-5", "iso-8859-15", "koi8-r", "windows-1251",
                "windows-1252", "shift_jis", "euc-jp", "gb2312", "big5", "euc-kr", "utf-16", "utf-7",
                "x-unknown", "iso-2022-jp", "cp437", "mac-roman", "hz-gb-2312"]
    storm = b"\r\n ".join(b"=?%s?%s?%s?=" % (charsets[i % len(charsets)].encode(), b"BQ"[i % 2:i % 2 + 1],
                                            b"QmFk" if i % 2 == 0 else b"=C3=A9t=E9_x")
                          for i in range(3_400))
    caps = " ".join(_words(rnd, 160_000, True))
    at_with = ("I am Director at The Royal Institute of Strategic Studies with The Foundation for Peace, "
               "at Centre for Global Affairs, with Institute of International Relations, and ") * 6_000
    signature = "".join(f"\n--\nDr. {w} {v}\nSenior Fellow, {ORGS[i % len(ORGS)]} of {w} and {v}\n"
                        f"Director of Research | The {v} Institute for {w} Studies\n"
                        f"Head of Programme at {ORGS[(i + 1) % len(ORGS)]}, London\n"
                        for i, (w, v) in enumerate(zip(_words(rnd, 6_000, True), _words(rnd, 6_000, True),
                                                       strict=True)))
    zw = "\n".join(f"I am a Senior Fellow at {_scramble(rnd, ORGS[i % len(ORGS)])}, writing about a "
                   f"{_scramble(rnd, 'confidential')} {_scramble(rnd, 'consultation')}." for i in range(12_000))
    domains = [f"{rnd.choice(['chathamhouse', 'rusi', 'iiss', 'rand', 'carnegie', 'ecfr', 'example'])}-"
               f"{''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randrange(4, 40)))}"
               f".{rnd.choice(['com', 'org', 'net', 'info', 'xyz', 'co.uk', 'institute'])}"
               for _ in range(25_000)]
    html_bomb = ("<html><body>" + "<div><span><b><i><table><tr><td>" * 20_000
                 + "&amp;&lt;&#x41;&#65;&nbsp;" * 20_000 + "<p " + 'a="x" ' * 20_000 + ">"
                 + "<!--" * 10_000 + "</body></html>")
    links_html = ("<html><body>" + "".join(f'<a href="https://{d}/p">{d}</a> ' for d in domains[:20_000])
                  + "</body></html>")
    many_to = b"To: " + b",\r\n ".join(b"u%d@example.org" % i for i in range(4_500)) + b"\r\n"
    many_headers = b"".join(b"X-H%d: value %d\r\n" % (i, i) for i in range(985))
    qp = (b"=ZZ=\r\n=3D=E9=" * 60_000) + b"I am a Senior Fellow at Chatham House=\r\n" * 20_000
    b64 = (b"SSBhbSBhIFNlbmlvciBGZWxsb3cgYXQgQ2hhdGhhbSBIb3VzZS4=!!**==Q\r\n" * 50_000)
    # RFC 2047 words whose payloads are broken: bad base64 (stray '!', no padding, padding inside),
    # bad quoted-printable (=ZZ, a lone '=', 8-bit), in every charset, with zero-width and bidi
    # characters encoded inside the good ones
    broken = [b"QmF!k", b"Q", b"QmFk=QmFk", b"4oCLQ2hh4oCu", b"=ZZ=C3", b"=", b"\xe9t\xe9",
              b"Ch=E2=80=8Bat=E2=80=AEham"]
    broken_words = [b"=?%s?%s?%s?=" % (charsets[i % len(charsets)].encode(), b"BQ"[(i // 3) % 2:(i // 3) % 2 + 1],
                                       broken[i % len(broken)]) for i in range(3_000)]
    from_storm = (b"From: " + b"\r\n ".join(broken_words) + b" <anna.weber@policy-forum.test>\r\n")
    subject_storm = b"\r\n ".join(broken_words)
    scrambled = [_scramble(rnd, f"Dr. Anna Weber, {ORGS[i % len(ORGS)]}") for i in range(200)]
    zw_subject = b"\r\n ".join(b"=?utf-8?B?" + base64.b64encode(s.encode()) + b"?=" for s in scrambled[:600])
    zw_names = b"Cc: " + b",\r\n ".join(b"=?utf-8?B?%s?= <p%d@gmail.com>" % (base64.b64encode(s.encode()), i)
                                         for i, s in enumerate(scrambled)) + b"\r\n"
    zw_from = b"From: =?utf-8?B?" + base64.b64encode(scrambled[0].encode()) + b"?= <anna.weber@gmail.com>\r\n"
    qp_zw = "\n".join(f"I am a Senior Fellow at {_scramble(rnd, ORGS[i % len(ORGS)])}."
                      for i in range(20_000)).encode()  # quoted-printable, soft line breaks every 60 bytes
    qp_units = re.findall(rb"=[0-9A-F]{2}|[^=]", re.sub(rb"[=\x80-\xff]", lambda m: b"=%02X" % m.group()[0],
                                                          qp_zw.replace(b"\n", b" ")))
    qp_zw_body = b"=\r\n".join(b"".join(qp_units[i:i + 24]) for i in range(0, len(qp_units), 24))
    built: dict[str, Any] = {
        "mime-deep": lambda: _message(_nested(3_000), ctype=b'multipart/mixed; boundary="b0"', cte=b"7bit"),
        "mime-parts": lambda: _message(_parts(30_000), ctype=b'multipart/mixed; boundary="p"', cte=b"7bit"),
        "headers-many": lambda: _message(_b64("hello"), extra=many_headers),
        "header-one-line": lambda: _message(_b64("hello"), extra=b"X-Long: " + b"A" * 8_000 + b"\r\n"),
        "subject-folded": lambda: _message(_b64("hello"), subject=b"\r\n ".join(
            " ".join(_words(random.Random(i), 10, True)).encode() for i in range(1_400))),
        "rfc2047-storm": lambda: _message(_b64("hello"), subject=storm),
        "b64-broken": lambda: _message(b64),
        "qp-broken": lambda: _message(qp, cte=b"quoted-printable"),
        "text-nospace": lambda: _text("".join(random.Random(1).choices(string.ascii_letters, k=1_000_000))),
        "text-capwords-line": lambda: _text(caps),
        "text-capwords-lines": lambda: _text("\n".join(caps[i:i + 150] for i in range(0, len(caps), 150))),
        "text-at-with": lambda: _text(at_with),
        "text-signatures": lambda: _text(signature),
        "text-zw-bidi-orgs": lambda: _text(zw),
        "html-bomb": lambda: _message(_b64(html_bomb), ctype=b"text/html; charset=utf-8"),
        "html-links-20k": lambda: _message(_b64(links_html), ctype=b"text/html; charset=utf-8"),
        "text-urls-25k": lambda: _text("\n".join(f"see http://{d}/x and www.{d}" for d in domains)),
        "text-idn-urls": lambda: _text("".join("https://" + "\u0430" * 60 + f"{i:03d}." + "\u0430" * 63 + ".org/x "
                                               for i in range(4000))),  # attack22 #8: IDN hosts (MAX_IDN)
        "to-many": lambda: _message(_b64("hello"), extra=many_to),
        "rfc2047-broken-subject": lambda: _message(_b64("hello"), subject=subject_storm),
        "rfc2047-broken-from": lambda: _message(_b64("hello"), extra=from_storm).replace(
            b"From: Dr. Anna Weber <anna.weber@policy-forum.test>\r\n", b"", 1),
        "subject-zw-bidi-orgs": lambda: _message(_b64("hello"), subject=zw_subject),
        "names-zw-bidi-orgs": lambda: _message(_b64("I am a Senior Fellow at Chatham House."),
                                               extra=zw_from + zw_names).replace(
            b"From: Dr. Anna Weber <anna.weber@policy-forum.test>\r\n", b"", 1),
        "header-folded-20k": lambda: _message(_b64("hello"), extra=b"X-Folded: x" + b"\r\n x" * 20_000 + b"\r\n"),
        "subject-folded-20k": lambda: _message(_b64("hello"), subject=b"x" + b"\r\n x" * 20_000),
        "qp-zw-bidi-orgs": lambda: _message(qp_zw_body, cte=b"quoted-printable"),
        # a network's notification (its From is forged) relaying 20,000 opening quotation marks (attack32 #3)
        "social-quotes": lambda: _message(_b64("Kevin Zhao\nSenior Partner at Example Consulting\n\n"
                                               + "\u00ab" * 20_000 + "\n"),
                                          extra=b"From: Kevin Zhao via LinkedIn <messages-noreply@linkedin.com>\r\n",
                                          subject=b"Kevin Zhao sent you a message").replace(
            b"From: Dr. Anna Weber <anna.weber@policy-forum.test>\r\n", b"", 1),
        # regex32: outsider text that Python patterns had read in quadratic time (#1-#5)
        "cte-comment-pairs": lambda: _message(_b64("hello"), cte=b"base64 (" + b"\r\n ".join([b"\\(" * 35] * 1_380)),
        "word-marks": lambda: _message(
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + quopri.encodestring((WORDY + " a" + "!" * 32_000 + "a\r\n").encode())
            + b"\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + WORDY.encode() + b" See you soon.</p>"
            b"\r\n--b1--\r\n", ctype=b'multipart/alternative; boundary="b1"', cte=b"7bit"),
        "authres-blanks": lambda: _message(_b64("hello"), extra=b"Authentication-Results: evil.example; spf=pass x\r\n"
                                           + b"\r\n".join([b"\tx" + b" " * 8_180 + b"x"] * 11) + b"\r\n"),
        "date-offset-parens": lambda: _text("I am based in London and would like to talk.").replace(
            b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n", b"Date: Sun, 29 Nov 2026 10:00:00 "
            + b"\r\n ".join([b"+0000 (" * 10] * 1_350) + b"\r\n", 1),
        "phone-digits": lambda: _text("+1111111111111111111x\n" * 2_800),
        "signoff-blanks": lambda: _text("Dear Anna, thank you.\n" + " " * 30_000 + "\n"),  # (review32b #5)
        # a flowed part of soft breaks alone (review32 #4: read joined line by line)
        "flowed-soft-breaks": lambda: _message(b" \r\n" * 1_000_000, cte=b"7bit",
                                               ctype=b"text/plain; charset=utf-8; format=flowed; delsp=yes"),
        # attack33 #1: a signature's b= of "A", 30 KB of folded blanks and "!" (a header block under 32 KiB: analysed
        # on the event loop), which dkimpy's b= check read in quadratic time, the GIL held, before any key lookup
        "dkim-b-blanks": lambda: _text("hello").replace(b"MIME-Version", _signature_blanks(
            b"DKIM-Signature: v=1; a=rsa-sha256; d=policy-forum.test; s=s1; h=from; bh=AAAA; b=A"), 1),
        # sweep33: a reply's Outlook From line of 39,000 "<" (each read to the line's end, 3.3 s); a notification's
        # "message" and 4,000 U+2003 (read once per length of name, ~0.1 s)
        "quote-author-lt": lambda: _message(_b64("Dear Professor,\n\nI would like to discuss a collaboration.\n\n"
                                                 "Best,\nAmara\n\nFrom: " + "<" * 39_000 + "\nSent: Monday\n"),
                                            extra=b"In-Reply-To: <made-up-1@mail.gmail.com>\r\n"),
        # cpu43 #1: a run of combining marks in descending class, which NFD and NFKD sort by insertion (60,000 marks:
        # 9.1 s of CPU on the event loop before the marks were dropped first); one-letter words on every line
        # (`textsafe.letter_spaced`: its prefilter, run search and lines cap)
        "marks-descending": lambda: _message(_b64("a" + _descending_marks() * 1_100)),
        "letter-spaced-lines": lambda: _text("a b c d e f g h\n" * 10_000),
        # review43c #1: one line of capitals naming "SIGNAL" after "ON" 6,000 times (a first form of the capitals rule
        # scanned the match's whole line per match: 7.8 s)
        "caps-on-signal": lambda: _text("\u00c9 ON SIGNAL " * 6_000),
        # cpu44 #1: a reply (any In-Reply-To) with 20 quote marks naming nobody, to 6 recipients whose display names
        # are 1,024 marks in descending class (a header under 32 KiB: not offloaded): each mark compared its name with
        # each recipient's, normalised again (NFKC sorts a run of marks by insertion): 0.4 s of CPU on the event loop
        "quote-marks-names": lambda: _message(
            _b64("On Zed Quux wrote:\nearlier text\n\n" * 20 + WORDY),
            extra=b"In-Reply-To: <p1@ext.test>\r\nCc: " + b",\r\n ".join(
                Header("Bob a" + _descending_marks() * 19, "utf-8").encode(linesep="\r\n").encode()
                + b" <r%d@example.org>" % i for i in range(6))
            + b"\r\n"),
        # cpu44 #2: 6,000 distinct Telegram links in a non-ASCII body, each handle looked for among those before
        "distinct-handles": lambda: _text("\u00e9\n" + " ".join(
            "t.me/" + "".join(c) for c in itertools.islice(itertools.product(string.ascii_letters, repeat=4), 6_000))),
        # cpu45 #1: 499 text/html alternatives of a flagged approach (26 KB), each of which took the banner on the
        # event loop (150 ms; relayed as 1.4 MB)
        "many-alternatives": lambda: _message(b"".join(
            b"--BND\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body + b"\r\n"
            for body in [b"<p>" + APPROACH.encode() + b"</p>"] + [b"x"] * 498) + b"--BND--\r\n",
            ctype=b'multipart/alternative; boundary="BND"', cte=b"7bit"),
        # review45 #2: 18 alternatives, each of 8 text/html parts and, as its last branch, the next (180 lines that
        # begin with "--", under session 45's count): 145 banners, relayed as 403 KB, 74-100 ms on the event loop
        "nested-alternatives": lambda: _message(_alternatives_nested(18, 8), ctype=b'multipart/alternative; '
                                                b'boundary="N17"', cte=b"7bit"),
        "opener-odd-blanks": lambda: _text("message" + "\u2003" * 4_000 + "\n").replace(
            b"From: Dr. Anna Weber <anna.weber@policy-forum.test>", b"From: LinkedIn <notify@policy-forum.test>", 1),
    }
    return {k: build() for k, build in built.items() if not only or k == only}


def _alternatives_nested(depth: int, per: int) -> bytes:
    """The body of `depth` nested multipart/alternatives N{depth-1} ... N0 of `per` text/html parts each and the next
    as the last branch; the innermost last part holds the approach."""
    inner = b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + APPROACH.encode() + b"</p>\r\n"
    for d in range(depth):
        b = b"N%d" % d
        parts = b"".join(b"--" + b + b"\r\nContent-Type: text/html; charset=utf-8\r\n\r\nx\r\n" for _ in range(per))
        body = parts + b"--" + b + b"\r\n" + inner + b"--" + b + b"--\r\n"
        if d == depth - 1:
            return body  # the top one's header is the message's
        inner = b'Content-Type: multipart/alternative; boundary="' + b + b'"\r\n\r\n' + body
    return inner


HOSTILE: dict[str, bytes] = {}
TIMES: list[float] = []  # per attacker process: seconds from the final dot to its reply


def attack_message(kind: str) -> Any:
    def attack(port: int, deadline: float, n: int, counts: Counter[str]) -> None:
        if kind not in HOSTILE:
            HOSTILE.update(_hostile(kind))
        body = HOSTILE[kind]
        rcpts = [b"bob@example.org"] if kind != "to-many" else [b"u%d@example.org" % i for i in range(1000)]
        while time.monotonic() < deadline:
            r = Raw(port, ATTACKER_IP, timeout=120)
            r.reply()
            r.cmd(b"EHLO hostile.test")
            r.cmd(b"MAIL FROM:<anna.weber@policy-forum.test>")
            r.sock.sendall(b"".join(b"RCPT TO:<%s>\r\n" % a for a in rcpts))
            for _ in rcpts:
                r.reply()
            if not r.cmd(b"DATA").startswith(b"354"):
                counts["no DATA"] += 1
                r.close()
                continue
            r.sock.sendall(body + (b"" if body.endswith(b"\r\n") else b"\r\n"))
            t0 = time.perf_counter()
            r.sock.sendall(b".\r\n")
            code = r.reply()[:3].decode()
            TIMES.append(time.perf_counter() - t0)
            counts[f"final {code}"] += 1
            r.cmd(b"QUIT")
            r.close()
    return attack


ATTACKS = {
    "noop": attack_noop, "trickle": attack_trickle, "smuggle": attack_smuggle, "pipeline": attack_pipeline,
    "rcpt-flood": attack_rcpt_flood, "relay-probe": attack_relay, "fuzz": attack_fuzz,
    "starttls-abandon": attack_starttls, "max-size-message": attack_bigmsg,
}
MESSAGE_KINDS = ("mime-deep", "mime-parts", "headers-many", "header-one-line", "subject-folded", "rfc2047-storm",
                 "b64-broken", "qp-broken", "text-nospace", "text-capwords-line", "text-capwords-lines",
                 "text-at-with", "text-signatures", "text-zw-bidi-orgs", "html-bomb", "html-links-20k",
                 "text-urls-25k", "to-many", "rfc2047-broken-subject", "rfc2047-broken-from", "subject-zw-bidi-orgs",
                 "names-zw-bidi-orgs", "header-folded-20k", "subject-folded-20k", "qp-zw-bidi-orgs", "text-idn-urls",
                 "social-quotes", "cte-comment-pairs", "word-marks", "authres-blanks", "date-offset-parens",
                 "phone-digits", "signoff-blanks", "flowed-soft-breaks", "dkim-b-blanks",
                 "quote-author-lt", "opener-odd-blanks", "marks-descending", "letter-spaced-lines",
                 "caps-on-signal", "quote-marks-names", "distinct-handles", "many-alternatives", "nested-alternatives")
ATTACKS.update({f"msg:{k}": attack_message(k) for k in MESSAGE_KINDS})
ACKED: list[str] = []  # per attacker process: pipelined messages answered 250


def attacker(name: str, port: int, seconds: float, n: int, conn: Connection) -> None:
    counts: Counter[str] = Counter()
    if name.startswith("msg:"):  # built before the clock starts, then the measurer is told
        HOSTILE.update(_hostile(name[4:]))
        conn.send("ready")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # a session the gateway cut off is followed by another
        try:
            ATTACKS[name](port, deadline, n, counts)
        except OSError as exc:
            counts[f"cut off ({type(exc).__name__})"] += 1
            n += 1000  # the fuzzer's next seed
    conn.send((dict(counts), list(ACKED), list(TIMES)))


# ---- the measuring client ------------------------------------------------------------------

def normal_session(port: int, mid: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    r = Raw(port, "127.0.0.1")
    try:
        r.reply()
        r.cmd(b"EHLO honest.test")
        code = r.cmd(b"MAIL FROM:<alice@ext.test>")[:3]
        if code == b"250":
            code = r.cmd(b"RCPT TO:<bob@example.org>")[:3]
        if code == b"250":
            code = r.cmd(b"DATA")[:3]
        if code == b"354":
            code = r.cmd(NORMAL.replace(b"%s", mid.encode()) + b".")[:3]
        r.cmd(b"QUIT")
    finally:
        r.close()
    return time.perf_counter() - t0, code


def measure(port: int, seconds: float, interval: float, tag: str) -> tuple[list[float], dict[str, bytes]]:
    lat: list[float] = []
    out: dict[str, bytes] = {}
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        mid = f"{tag}-{i}"
        i += 1
        try:
            took, code = normal_session(port, mid)
        except OSError:
            took, code = float("nan"), b"ERR"
        out[mid] = code
        if code == b"250":
            lat.append(took)
        time.sleep(interval)
    return lat, out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _processes(pid: int) -> list[int]:
    """`pid` and its descendants (the serve supervisor and its workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def reset_peak_rss(pid: int) -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) of the gateway's processes (Linux: clear_refs 5)."""
    for p in _processes(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            pass


def peak_rss_mib(pid: int) -> float:
    """The largest VmHWM among the gateway's processes since `reset_peak_rss`, MiB (nan off Linux)."""
    peak = float("nan")
    for p in _processes(pid):
        try:
            found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
        except OSError:
            continue
        if found:
            kib = int(found.group(1)) / 1024
            peak = kib if peak != peak else max(peak, kib)
    return peak


def restarter(upstream: Connection, done: threading.Event, count: list[int]) -> None:
    while not done.wait(1.5):
        upstream.send("restart")
        upstream.recv()
        count[0] += 1


# ---- main ------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--procs", type=int, default=1, help="hostile sessions (processes) per attack")
    ap.add_argument("--interval", type=float, default=0.05, help="pause between the measurer's messages")
    ap.add_argument("--only", default="", help="comma-separated attacks (default: all; 'messages': every "
                    "hostile message, msg:KIND; 'sessions': every other attack)")
    ap.add_argument("--workers", default="auto", help="the gateway's `workers` (default auto: one per core)")
    args = ap.parse_args()
    groups = {"messages": [a for a in ATTACKS if a.startswith("msg:")],
              "sessions": [a for a in ATTACKS if not a.startswith("msg:")]}
    names = [n for a in args.only.split(",") if a for n in groups.get(a, [a])] or list(ATTACKS)
    ctx = mp.get_context("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="attack-bench-"))
    up_parent, up_child = ctx.Pipe()
    upstream = ctx.Process(target=upstream_process, args=(up_child,), daemon=True)
    upstream.start()
    sink_port, dns_port = up_parent.recv()
    tls = ""
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp / "k.pem"),
                        "-out", str(tmp / "c.pem"), "-days", "2", "-subj", "/CN=gw.example.org"],
                       check=True, capture_output=True)
        tls = f"tls: {{cert: {tmp / 'c.pem'}, key: {tmp / 'k.pem'}}}"
    elif "starttls-abandon" in names:
        names.remove("starttls-abandon")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "gateway.yml").write_text(f"""
listen: 127.0.0.1:{port}
upstream: {{host: 127.0.0.1, port: {sink_port}, connect_timeout: 2, command_timeout: 10, data_timeout: 30}}
hostname: gw.example.org
local_domains: [example.org, example.ac.uk]
policies: [{ROOT / 'policies'}]
store: {{path: {tmp / 'store.sqlite3'}}}
dns: {{nameservers: ["127.0.0.1:{dns_port}"], timeout: 1}}
limits: {{shutdown_grace: 2}}
workers: {args.workers}
{tls}
""")
    log = (tmp / "gateway.log").open("wb")
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(tmp / "gateway.yml")],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        _, every = measure(port, 2, args.interval, "warmup")
        print(f"attack_bench: gateway pid {gw.pid}, {args.seconds:g} s per phase, {args.procs} hostile "
              f"session(s) per attack, one normal message every {args.interval * 1000:.0f} ms; "
              f"{os.cpu_count()} CPUs (shared), workers {args.workers}\n")
        print("dot ms: the hostile message's final dot to its reply (analysis + relay), median/max; "
              "RSS: the largest peak RSS of a gateway process during the phase\n")
        print(f"{'phase':<24} {'ok':>5} {'fail':>5} {'p50 ms':>8} {'p99 ms':>8} {'Δp50':>7} {'Δp99':>7} "
              f"{'size KB':>8} {'dot ms':>13} {'RSS MiB':>8}  attack counts")
        acked: list[str] = []
        reset_peak_rss(gw.pid)
        idle_lat, out = measure(port, args.seconds, args.interval, "idle")
        every.update(out)
        base50, base99 = pct(idle_lat, 50) * 1000, pct(idle_lat, 99) * 1000
        print(f"{'idle':<24} {len(idle_lat):>5} {len(out) - len(idle_lat):>5} {base50:>8.1f} {base99:>8.1f} "
              f"{'':>7} {'':>7} {'':>8} {'':>13} {peak_rss_mib(gw.pid):>8.0f}", flush=True)
        wanted = any(n in groups["messages"] for n in names)
        sizes = {f"msg:{k}": len(v) for k, v in _hostile().items()} if wanted else {}
        restarts_phase = ["upstream-restarts"] if any(n in groups["sessions"] for n in names) else []
        for name in names + restarts_phase:
            procs, pipes = [], []
            restarts = 0
            reset_peak_rss(gw.pid)
            if name != "upstream-restarts":
                for n in range(args.procs):
                    a, b = ctx.Pipe()
                    p = ctx.Process(target=attacker, args=(name, port, args.seconds + 1.0, n, b), daemon=True)
                    p.start()
                    procs.append(p)
                    pipes.append(a)
                for a in pipes:  # a hostile message is built first
                    if name.startswith("msg:") and a.poll(120):
                        a.recv()
                time.sleep(0.5)  # the attack is under way before measuring
                lat, out = measure(port, args.seconds, args.interval, name)
            else:  # the upstream restarts every 1.5 s (down 0.3 s) while the measurer sends
                done = threading.Event()
                count = [0]

                th = threading.Thread(target=restarter, args=(up_parent, done, count))
                th.start()
                try:
                    lat, out = measure(port, args.seconds, args.interval, name)
                finally:
                    done.set()
                    th.join()
                restarts = count[0]
            every.update(out)
            counts: Counter[str] = Counter()
            times: list[float] = []
            for a, p in zip(pipes, procs, strict=True):
                if a.poll(args.seconds + 180):
                    c, acks, took = a.recv()
                    counts.update(c)
                    acked += acks
                    times += took
                p.join(10)
                if p.is_alive():
                    p.kill()
            if restarts:
                counts["restarts"] = restarts
            p50, p99 = pct(lat, 50) * 1000, pct(lat, 99) * 1000
            shown = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            rss = peak_rss_mib(gw.pid)
            size = f"{sizes[name] / 1000:.0f}" if name in sizes else ""
            dot = f"{statistics.median(times) * 1000:.0f}/{max(times) * 1000:.0f}" if times else ""
            print(f"{name:<24} {len(lat):>5} {len(out) - len(lat):>5} {p50:>8.1f} {p99:>8.1f} "
                  f"{p50 - base50:>+7.1f} {p99 - base99:>+7.1f} {size:>8} {dot:>13} {rss:>8.0f}  {shown}", flush=True)
        time.sleep(1.0)
        up_parent.send("stats")
        stats = up_parent.recv()
        ids: dict[str, int] = stats["ids"]
        ok = {m for m, code in every.items() if code == b"250"} | set(acked)
        not_ok = {m for m, code in every.items() if code != b"250"}
        twice = sum(1 for m in ok if ids.get(m, 0) > 1)
        missing = sum(1 for m in ok if ids.get(m, 0) == 0)
        leaked = sum(1 for m in not_ok if ids.get(m, 0) > 0)
        unexpected = sum(1 for m in ids if m not in ok and m not in not_ok)
        print(f"\nmessages answered 250: {len(ok)}; at the upstream exactly once: {len(ok) - twice - missing}, "
              f"twice or more: {twice}, missing: {missing}")
        print(f"messages answered non-250: {len(not_ok)}; at the upstream anyway: {leaked}; "
              f"upstream messages nobody was told about: {unexpected}")
        print(f"smuggled messages at the upstream: {stats['smuggled']}; foreign recipients: {stats['foreign']}; "
              f"upstream connections open now: {stats['open_connections']}")
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            gw.kill()
        log.close()
        up_parent.send("quit")
        up_parent.recv()
        upstream.join(10)
    reasons = Counter(m.group(1) for m in re.finditer(r'event=refused stage=\S+ .*?reason=("[^"]*"|\S+)',
                                                      (tmp / "gateway.log").read_text(errors="replace")))
    print("gateway refusal log lines by reason: "
          + ", ".join(f"{k.strip(chr(34))}={v}" for k, v in reasons.most_common(12)))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
