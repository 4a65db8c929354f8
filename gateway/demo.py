"""Trying the gateway without a mail server: a demo upstream that delivers to a Maildir, and `send`.

Purpose: `approach-gateway serve --demo-upstream DIR` starts, in the same process, a small SMTP
server on the configured upstream address that accepts every message the gateway relays and
writes it to the Maildir `DIR` (`new/`, one file per message, as Postfix's `local` or Dovecot's
LDA would), so a newcomer can send a message through the gateway and read the headers it added.
`approach-gateway send FILE...` submits saved messages over SMTP (a tiny swaks).

SECURITY: the demo upstream listens on loopback only and is for trying the gateway, never for
production (it accepts any recipient). Untrusted input: the relayed bytes, written as data.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import smtplib
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.config import HostPort

MAX_DEMO_MESSAGE = 64 * 1024 * 1024


class DemoError(ValueError):
    """The demo upstream cannot start (the message says why and what to do)."""


class MaildirDelivery:
    """aiosmtpd handler: each message becomes one file in `maildir/new` (written to tmp/ first,
    fsynced, then renamed, as the Maildir convention requires)."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.delivered = 0
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from if envelope.mail_from not in (None, "<>") else ""
        head = f"Return-Path: <{sender}>\r\nDelivered-To: {', '.join(envelope.rcpt_tos)}\r\n"
        name = f"{time.time():.6f}.{os.getpid()}_{self.delivered}.{socket.gethostname()}"
        await asyncio.to_thread(self._write, name, head.encode("utf-8", "replace") + raw)
        self.delivered += 1
        return f"250 2.0.0 Ok: delivered to {self.maildir / 'new' / name}"

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.maildir / "tmp" / name
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(self.maildir / "new" / name)


async def start_demo_upstream(address: HostPort, maildir: Path) -> asyncio.Server:
    """Listen on `address` (loopback only) and deliver what arrives to `maildir`."""
    try:
        loopback = ipaddress.ip_address(address.host).is_loopback
    except ValueError:
        loopback = address.host == "localhost"
    if not loopback:
        raise DemoError(f"the demo upstream listens on loopback only, but upstream.host is "
                        f"{address.host}; use 127.0.0.1 (or drop --demo-upstream)")
    handler = MaildirDelivery(maildir)
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(
            lambda: SMTP(handler, hostname="demo-upstream", ident="approach-gateway demo upstream",
                         data_size_limit=MAX_DEMO_MESSAGE, decode_data=False, enable_SMTPUTF8=True),
            host=address.host, port=address.port)
    except OSError as exc:
        raise DemoError(f"demo upstream cannot listen on {address}: {exc.strerror or exc}; "
                        "stop what listens there or change upstream.port") from exc


def send_files(server: HostPort, files: Sequence[Path], mail_from: str | None,
               rcpts: Sequence[str], timeout: float = 60.0) -> list[tuple[Path, int, str]]:
    """Submit each file as one message; (file, reply code, reply text) for each."""
    from gateway.parse import MessageView, addresses, normalize_newlines

    out: list[tuple[Path, int, str]] = []
    for path in files:
        # A file saved on Unix has LF line ends; SMTP wants CRLF, and smtplib converts only str,
        # not bytes: sent as they are, a few KB of LF lines are one "line too long" (500) to
        # the gateway. Every CR, LF or CRLF becomes CRLF, as swaks and sendmail send a file.
        raw = normalize_newlines(path.read_bytes())
        view = MessageView.parse(raw[:262_144])
        sender = mail_from if mail_from is not None else \
            (view.header("Return-Path") or "").strip().strip("<>") or view.from_address
        to = list(rcpts) or addresses(view.headers("To") + view.headers("Cc"))
        try:
            with smtplib.SMTP(server.host, server.port, timeout=timeout) as smtp:
                smtp.ehlo("approach-gateway-send")
                code, text = _transaction(smtp, sender, to, raw)
        except (OSError, smtplib.SMTPException) as exc:
            code, text = 0, f"{type(exc).__name__}: {exc}"
        out.append((path, code, text))
    return out


def _transaction(smtp: smtplib.SMTP, sender: str, rcpts: Sequence[str], raw: bytes) -> tuple[int, str]:
    """MAIL, RCPT..., DATA; the reply that decided the outcome."""
    code, msg = smtp.mail(sender)
    if code != 250:
        smtp.rset()
        return code, msg.decode("utf-8", "replace")
    accepted, last = 0, (0, "no recipients")
    for r in rcpts:
        code, msg = smtp.rcpt(r)
        last = (code, msg.decode("utf-8", "replace"))
        accepted += code in (250, 251)
    if not accepted:
        smtp.rset()
        return last
    code, msg = smtp.data(raw)
    return code, msg.decode("utf-8", "replace")
