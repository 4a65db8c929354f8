"""The listener's per-connection hooks, without changing the session code in `gateway.smtp.server`.

Purpose: `ObservedSMTP` and `ObservedState` (what `gateway.smtp.service.Gateway` runs) report to
`ServerState.observer` (gateway/smtp/observe.py): the SMTP stage and code of every reply, sessions
in flight, connections refused at the door.

Untrusted input: none here (reply codes and command names only; never addresses or text).
"""

from __future__ import annotations

from typing import Any

from gateway.config import Config
from gateway.runtime import Runtime
from gateway.smtp.observe import Observer
from gateway.smtp.server import GatewaySMTP, ServerState

# Commands named as stages of the SMTP dialogue; anything else counts as "other".
STAGES = {"HELO": "helo", "EHLO": "helo", "STARTTLS": "starttls", "MAIL": "mail", "RCPT": "rcpt",
          "DATA": "data", "RSET": "rset", "QUIT": "quit"}


class ObservedState(ServerState):
    """`ServerState` that counts the connections it refuses (421 at connect)."""

    def __init__(self, config: Config, runtime: Runtime, observer: Observer) -> None:
        super().__init__(config, runtime)
        self.observer = observer

    def admit(self, ip: str, *, per_ip: bool = True) -> str | None:
        refused = super().admit(ip, per_ip=per_ip)
        if refused:
            self.observer.reply("connect", 421)
        return refused

    def admit_client(self, ip: str) -> str | None:
        refused = super().admit_client(ip)
        if refused:
            self.observer.reply("connect", 421)
        return refused


class ObservedSMTP(GatewaySMTP):
    """`GatewaySMTP` that reports sessions in flight and the stage and code of every reply, once
    per reply however many lines it has (`GatewaySMTP.command` names the command being answered)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open = False
        self._message_follows = False  # 354 was sent: the next DATA reply answers the message

    def connection_made(self, transport: Any) -> None:
        self._open = True
        self.state.observer.session_opened()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._open:
            self._open = False
            self.state.observer.session_closed()
        super().connection_lost(error)

    def _stage(self, code: int) -> str:
        command = self.command
        if not command:
            return "connect" if code == 220 else "other"
        if command == "DATA":
            if code == 354:
                self._message_follows = True
                return "data"
            if self._message_follows:
                self._message_follows = False
                return "dot"
        return STAGES.get(command, "other")

    async def push(self, status: Any) -> None:
        if not self.closing:
            text = status.decode("ascii", "replace") if isinstance(status, bytes) else str(status)
            # One reply per command: aiosmtpd pushes a multi-line reply (EHLO's six lines) line
            # by line, and only the last one ("250 HELP", no hyphen after the code) is counted.
            if text[:3].isdigit() and text[3:4] != "-":
                code = int(text[:3])
                self.state.observer.reply(self._stage(code), code)
        await super().push(status)
