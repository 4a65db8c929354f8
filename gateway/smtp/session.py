"""The state of one SMTP session and of its current mail transaction, typed.

Purpose: what `gateway.smtp.server` keeps between commands, in three lifetimes:
* the connection (`GatewaySMTP` itself: the upstream connection, the junk count, timers) --
  it outlives STARTTLS;
* the SMTP session (`GatewaySession`, made by aiosmtpd's `_create_session` hook): from the
  greeting, and again from a STARTTLS handshake (RFC 3207 4.2: the client starts afresh);
* the mail transaction (`Transaction` with aiosmtpd's envelope): reset in one place,
  `GatewaySMTP.reset_transaction`, at MAIL, RSET, HELO/EHLO (RFC 5321 4.1.4), after DATA
  (whatever its outcome), after an internal error and at STARTTLS.

Untrusted input: the client's XFORWARD attributes (checked before they are stored here).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiosmtpd.smtp import Session


@dataclass(slots=True)
class Transaction:
    """The gateway's state of one mail transaction, beside aiosmtpd's envelope (sender,
    recipients, parameters, content). Never changed field by field at a reset: replaced whole,
    so a field added here is reset with the others (tests/unit/test_smtp_session.py)."""

    queue_id: str | None = None  # ours, given when the upstream accepted MAIL
    started: float | None = None  # time.monotonic() at that MAIL: the message log line's `time`
    data_bare: bool | None = None  # the message after DATA holds a lone CR or LF (DataReader)
    data_dots: bool = True  # ... may hold a line that starts with a dot (DataReader.dots)


class GatewaySession(Session):
    """aiosmtpd's Session with the gateway's own state, typed (aiosmtpd makes one per session
    through `GatewaySMTP._create_session`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        # XFORWARD attributes (Postfix in front): given before MAIL, they describe the next
        # transaction's client and end with it, as Postfix's mail_reset forgets them.
        self.xforward: dict[str, str] = {}
        self.tx = Transaction()

    @property
    def peer_ip(self) -> str | None:
        """The address of the host connected to us (a balancer's, behind the PROXY protocol)."""
        return str(self.peer[0]) if self.peer else None
