"""A bare SMTP pass-through relay: the "relay" system of serve_bench.py (no analysis at all).

aiosmtpd receives; at the first MAIL of a session one aiosmtplib connection to the upstream is
opened and kept for the session's later transactions (as the gateway does); MAIL, each RCPT and
the message are passed on in step and the client gets the upstream's own replies. It does what
every aiosmtpd/aiosmtplib proxy must do, so `gateway / relay` isolates the gateway's own work
(analysis, header edits, store, logging). Same limits as the gateway's config in the benchmark:
line length 8192, SIZE 64 MiB.

    python benchmarks/serve_relay.py --listen-port 10025 --upstream-port 10026
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import signal
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib.errors import SMTPException, SMTPResponseException

UNAVAILABLE = "451 4.4.1 Error: upstream server unavailable, try again later"


def die_with_parent() -> None:
    """PR_SET_PDEATHSIG: if the benchmark is killed outright, this process goes too."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def reply_line(code: int, text: str) -> str:
    lines = (text or "").replace("\r", "").split("\n")
    return "\r\n".join([f"{code}-{ln}" for ln in lines[:-1]] + [f"{code} {lines[-1]}"])


class RelayHandler:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    async def _upstream(self, session: Session) -> aiosmtplib.SMTP:
        up: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
        if up is not None and up.is_connected:
            return up
        up = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout,
                             start_tls=False, local_hostname="relay.bench.test")
        await up.connect()
        await up.ehlo()
        session.upstream = up  # type: ignore[attr-defined]
        return up

    async def _command(self, session: Session, *args: bytes) -> str:
        up: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
        if up is None:
            return UNAVAILABLE
        try:
            resp = await up.execute_command(*args)
        except (TimeoutError, SMTPException, OSError):
            up.close()
            return UNAVAILABLE
        return reply_line(resp.code, resp.message)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        try:
            await self._upstream(session)
        except (TimeoutError, SMTPException, OSError):
            return UNAVAILABLE
        sender = "" if address == "<>" else address
        opts = [o.encode() for o in mail_options if o.split("=", 1)[0] == "BODY"]
        reply = await self._command(session, b"MAIL", f"FROM:<{sender}>".encode(), *opts)
        if reply.startswith("2"):
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
        return reply

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = await self._command(session, b"RCPT", f"TO:<{address}>".encode())
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        up: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
        if up is None or not up.is_connected:
            return UNAVAILABLE
        try:
            resp = await up.data(envelope.original_content or b"")
        except SMTPResponseException as exc:
            return reply_line(exc.code, exc.message)
        except (TimeoutError, SMTPException, OSError):
            up.close()
            return UNAVAILABLE
        return reply_line(resp.code, resp.message)

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        up: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
        if up is not None and up.is_connected:
            await self._command(session, b"RSET")
        return "250 2.0.0 Ok"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        up: aiosmtplib.SMTP | None = getattr(session, "upstream", None)
        if up is not None and up.is_connected:
            try:
                await asyncio.wait_for(up.quit(), 5)
            except (TimeoutError, SMTPException, OSError):
                up.close()
        return "221 2.0.0 Bye"


class RelaySMTP(SMTP):
    line_length_limit = 8192 + 2  # the gateway's max_line_length default

    def connection_lost(self, error: Exception | None) -> None:
        up: aiosmtplib.SMTP | None = getattr(self.session, "upstream", None)
        if up is not None:
            up.close()
        super().connection_lost(error)


async def serve(args: argparse.Namespace) -> None:
    handler = RelayHandler(args.upstream_host, args.upstream_port, args.timeout)
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return RelaySMTP(handler, hostname="relay.bench.test", ident="bench relay",
                         data_size_limit=args.size_limit, decode_data=False,
                         enable_SMTPUTF8=False, timeout=300)

    server = await loop.create_server(factory, host=args.listen_host, port=args.listen_port,
                                      reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen-host", default="127.0.0.1")
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--size-limit", type=int, default=64 * 1024 * 1024)
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    die_with_parent()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
