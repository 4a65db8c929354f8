"""The receiving side: an aiosmtpd listener that mirrors each session to the upstream.

Purpose: enforce limits and relay rules, then pass MAIL and each RCPT to the upstream in step,
giving the client the upstream's own answers; at the end of DATA run the analysis, apply its
edits and answer with the upstream's reply. The gateway never says 250 for mail the upstream has
not accepted; every internal failure is a 4xx (details to the log, never to the stranger).

SECURITY: moderately security-sensitive, as Postfix's smtpd. It talks to SMTP clients on the
network (all of their commands and bytes are hostile until checked) and to the upstream MTA.
No open relay (recipients outside `local_domains` are refused unless the client is in
`trusted_networks`); no AUTH; XFORWARD and PROXY headers believed only from configured networks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import secrets
import ssl
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, TLSSetupException, syntax
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from gateway import replies
from gateway.act.execute import QUARANTINE_FAILED
from gateway.act.quarantine import QuarantineStore
from gateway.act.seal import ArcKey
from gateway.config import Config, client_key, in_networks
from gateway.log import message_line, refusal_line, tls_fields
from gateway.model import Client, Envelope
from gateway.replies import Reply
from gateway.runtime import Runtime
from gateway.smtp.data import LARGE, NOMINAL, TOO_LONG, DataReader, Turns, fix_mmap_threshold, read_ahead, small_reads
from gateway.smtp.deliver import deliver
from gateway.smtp.observe import Observer
from gateway.smtp.session import GatewaySession, Transaction
from gateway.smtp.upstream import Capabilities, UpstreamError, UpstreamSession

log = logging.getLogger("gateway.smtp")

XFORWARD_ATTRS = "NAME ADDR PORT PROTO HELO IDENT SOURCE"

# Commands that move no mail (Postfix's smtpd_junk_command_limit counts NOOP, VRFY, ETRN and
# RSET; HELP, EXPN, HELO and EHLO loop as cheaply). The count resets on a delivered message.
JUNK_COMMANDS = frozenset({"NOOP", "VRFY", "ETRN", "RSET", "HELP", "EXPN", "HELO", "EHLO"})
_SYNTAX_ATTRS = ("__smtp_syntax__", "__smtp_syntax_when__", "__smtp_syntax_extended__")
# Refusals of these commands are logged one line each (refused recipients above all); a 421
# (the session ends) is logged whatever the command.
LOGGED_STAGES = frozenset({"MAIL", "RCPT", "DATA", "STARTTLS", "XFORWARD", "AUTH"})
CLOSE_GRACE = 5.0  # seconds a closing connection may take to flush its last reply, then abort
DATA_CHUNK = 65536  # bytes of a message handled per event-loop turn


def new_queue_id() -> str:
    return secrets.token_hex(6).upper()


def source_route(arg: str) -> bool:
    """A source route in a raw RCPT argument (`TO:<@relay:user@domain>`): aiosmtpd's parser drops
    the route, so it must be seen before parsing. Other tricks are judged on the parsed address."""
    return re.match(r"(?i)TO:\s*<\s*@", arg.strip()) is not None


def routing_trick(address: str) -> str | None:
    """%-hacks, bang paths and `@` in the local part of the address aiosmtpd parsed (quoted
    local parts included: a `>` inside quotes must not hide them; a@b@c is aiosmtpd's 553)."""
    local = address.rpartition("@")[0].replace('\\"', "").strip('"')
    if any(c in local for c in "%!@"):
        return "percent, bang or @ routing in the local part"
    return None


_UNSAFE_IN_REPLY = re.compile(r"[^\x20-\x7e]")
# `<dot-atom@domain>` at the very start: the common case of MAIL FROM / RCPT TO, answered without
# the stdlib header parser (aiosmtpd's path builds a class per call). Unambiguous (no character of
# an atom is a separator), so linear; anything else -- quotes, comments, spaces, `<>`, literals,
# 8-bit -- takes aiosmtpd's own parser. tests/unit/test_smtp_getaddr.py holds both to one answer.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ANGLE_ADDR = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")


def safe_reply(status: str) -> str:
    """A reply as printable ASCII lines: whatever of the client's text it echoes (addresses,
    command names, arguments) loses its control characters (CR, NUL, escapes), 8-bit and
    undecodable bytes, each shown as `?`. Linear in the reply's length."""
    return "\r\n".join(_UNSAFE_IN_REPLY.sub("?", line) for line in status.split("\r\n"))


def arg_address(arg: str | None) -> str:
    """The address in a raw MAIL/RCPT argument, for the log (the parser may have refused it)."""
    text = (arg or "").strip()
    m = re.match(r"(?i)(?:FROM|TO):\s*<([^>]*)>", text)
    if m:
        return m.group(1)
    return text.partition(":")[2].strip().split(" ", 1)[0] if ":" in text else text.split(" ", 1)[0]


def address_problem(address: str, smtputf8: bool, what: str) -> Reply | None:
    """A reply refusing an 8-bit address, or None. Postfix with `smtputf8_enable = yes`: UTF-8
    only in a transaction that declared SMTPUTF8 (RFC 6531), never bytes that are not UTF-8."""
    if address.isascii():
        return None
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:  # aiosmtpd keeps undecodable bytes as surrogates
        return replies.SENDER_BAD_UTF8 if what == "sender" else replies.RECIPIENT_BAD_UTF8
    if not smtputf8:
        return replies.SMTPUTF8_REQUIRED
    return None


DSN_MAIL_PARAMS = ("RET", "ENVID")  # RFC 3461: passed through when the upstream offers DSN
DSN_RCPT_PARAMS = ("NOTIFY", "ORCPT")


def split_dsn_params(arg: str | None, names: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """Take RFC 3461 parameters out of a MAIL/RCPT argument (aiosmtpd refuses them with 555)."""
    if not arg or "=" not in arg:
        return arg, []
    head, sep, tail = arg.partition(">")
    if not sep:
        return arg, []
    kept: list[str] = []
    dsn: list[str] = []
    for word in tail.split():
        (dsn if word.split("=", 1)[0].upper() in names else kept).append(word)
    return (head + sep + (" " + " ".join(kept) if kept else "")), dsn


def _xforward_value_ok(key: str, value: str) -> bool:
    """XFORWARD values end up in our Received field: addresses must be addresses, names names."""
    if key == "ADDR":
        try:
            ipaddress.ip_address(value.removeprefix("IPv6:"))
        except ValueError:
            return False
        return True
    if key == "PORT":
        return value.isdigit() and int(value) < 65536
    if key == "PROTO":
        return value.upper() in ("SMTP", "ESMTP")
    if key in ("NAME", "HELO"):
        return re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", value) is not None
    return True


def _default_reason(code: str) -> str:
    return "session closed" if code == "421" else "protocol error" if code[:1] == "5" else "temporary failure"


class ServerState:
    """What all sessions share: connection counts, upstream capabilities, draining flag."""

    def __init__(self, config: Config, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime  # swapped whole on reload; a message reads it once
        self.caps = Capabilities()
        self.per_ip: dict[str, int] = {}
        self.sessions: set[GatewaySMTP] = set()
        self.draining = False
        self.messages = 0
        self.observer = Observer()  # metrics hooks (gateway/smtp/observe.py); no-ops unless set
        self.turns = Turns()  # large transfers' steps, in and out (gateway/smtp/data.py)
        self.report_intakes: set[asyncio.Future[None]] = set()  # staff reports being taken into triage
        self._quarantine: QuarantineStore | None = None
        self._arc_key: ArcKey | None = None
        fix_mmap_threshold()  # large messages' memory goes back to the system when freed

    def arc_key(self) -> ArcKey:
        """The ARC signing key, read once from `arc.key_file`."""
        if self._arc_key is None:
            cfg = self.config.arc
            assert cfg is not None
            self._arc_key = ArcKey(cfg.selector, cfg.domain, Path(cfg.key_file).read_bytes())
        return self._arc_key

    @property
    def quarantine(self) -> QuarantineStore:
        """The quarantine store, created on first use (only policies with `quarantine` need it)."""
        if self._quarantine is None:
            q = self.config.quarantine
            self._quarantine = QuarantineStore(q.dir, q.retention_days)
        return self._quarantine

    @property
    def size_limit(self) -> int:
        limit = self.config.limits.max_message_size
        return min(limit, self.caps.size) if self.caps.size else limit

    def admit(self, ip: str, *, per_ip: bool = True) -> str | None:
        """None when admitted, else the reason for a 421. Behind a PROXY-protocol balancer the
        per-client count is taken in `admit_client` once the header names the real client."""
        if len(self.sessions) >= self.config.limits.max_connections:
            return "too many connections"
        return self.admit_client(ip) if per_ip else None

    def admit_client(self, ip: str) -> str | None:
        key = client_key(ip)
        if self.per_ip.get(key, 0) >= self.config.limits.max_connections_per_ip:
            return f"too many connections from {key}"
        self.per_ip[key] = self.per_ip.get(key, 0) + 1
        return None

    def release(self, ip: str) -> None:
        key = client_key(ip)
        n = self.per_ip.get(key, 0) - 1
        if n > 0:
            self.per_ip[key] = n
        else:
            self.per_ip.pop(key, None)


class GatewaySMTP(SMTP):
    """aiosmtpd's protocol with the gateway's session rules (see module docstring). One per
    client connection: what must outlive STARTTLS lives here; the SMTP session's state in
    `session` (a `GatewaySession`), the mail transaction's in `envelope` and `session.tx`
    (gateway/smtp/session.py)."""

    session: GatewaySession | None

    def __init__(self, handler: GatewayHandler, state: ServerState,
                 tls_context: ssl.SSLContext | None) -> None:
        cfg = state.config
        self.line_length_limit = cfg.limits.max_line_length + 2
        proxy = cfg.proxy_protocol
        super().__init__(
            handler, hostname=cfg.hostname, ident="ESMTP approach-gateway",
            data_size_limit=state.size_limit, enable_SMTPUTF8=state.caps.smtputf8,
            decode_data=False, tls_context=tls_context, require_starttls=False,
            timeout=cfg.limits.session_timeout, auth_require_tls=True,
            proxy_protocol_timeout=proxy.timeout if proxy else None,
        )
        self.state = state
        self._admitted_ip: str | None = None
        self.dsn_params: list[str] = []  # DSN parameters of the MAIL/RCPT being handled
        self.command = ""  # the command being handled
        self.arg: str | None = None  # its raw argument
        self.reason: str | None = None  # why the reply about to be pushed refuses (for the log)
        self.data_logged = False  # the reply to the final dot is in the message's own log line
        self.closing = False  # a last reply was sent: nothing more is read or answered
        self.data_sender: str | None = None  # MAIL FROM of the transaction DATA ended (for its log line)
        self.junk = 0  # junk commands since the last delivered message
        self.errors = 0  # refused commands since the last delivered message (limits.error_limit)
        # Timeouts (aiosmtpd's own timer restarts only on a recognised command, so NOOP kept a
        # session alive for ever while a steady DATA sender was cut off): `session_timeout`
        # measures the client's silence -- any byte received restarts it, time the gateway
        # spends waiting for the upstream or the analysis does not count -- and
        # `session_lifetime` bounds the whole connection.
        self._last_input = 0.0
        self._silence = cfg.limits.session_timeout
        self._strict_timer = False  # the PROXY header's own timeout: bytes do not extend it
        self._busy = 0  # handler hooks running (the gateway is working, the client waits)
        self._lifetime: asyncio.TimerHandle | None = None
        self._expired = False  # lifetime over while busy: 421 after the reply in progress
        # Every command passes `_dispatch` (junk count, which command a reply answers).
        self._smtp_methods = {name: self._dispatch(name, method) for name, method in self._smtp_methods.items()}
        # The mirrored upstream session belongs to the connection, not to aiosmtpd's Session:
        # STARTTLS replaces the Session object (RFC 3207 reset), and an upstream held there
        # was lost with it and left open (uncounted) until the upstream timed it out.
        self.upstream: UpstreamSession | None = None

    # ---- session and transaction state -------------------------------------------------------

    def _create_session(self) -> GatewaySession:
        """aiosmtpd's hook: at connect, and again after a STARTTLS handshake."""
        return GatewaySession(self.loop)

    def reset_transaction(self) -> None:
        """The one place the state of a mail transaction is reset: aiosmtpd's envelope (sender,
        recipients, parameters, content) and the gateway's `Transaction`, both made anew.
        Called at MAIL (outside a transaction), and through `_set_post_data_state` at RSET,
        HELO/EHLO (RFC 5321 4.1.4), after DATA, after an internal error and at STARTTLS. The
        upstream's transaction is the upstream connection's: it is reset (RSET) by the callers
        that can wait for it (`reset_upstream`), or at the next MAIL."""
        self.envelope = self._create_envelope()
        if self.session is not None:  # None only at connect, before aiosmtpd creates it
            self.session.tx = Transaction()

    def _set_post_data_state(self) -> None:
        """aiosmtpd's reset after DATA, which its `_set_rset_state` calls too (RSET, HELO, EHLO,
        STARTTLS): the end of a transaction, and of the XFORWARD attributes given for it."""
        if self.session is not None:
            self.session.xforward = {}
        self.reset_transaction()

    # ---- connection lifecycle -------------------------------------------------------------

    async def _handle_client(self) -> None:
        assert self.session is not None
        ip = self.session.peer_ip or "unknown"
        pp = self.state.config.proxy_protocol
        behind_balancer = pp is not None and in_networks(ip, pp.trusted_networks)
        refused = self.state.admit(ip, per_ip=not behind_balancer) if not self.state.draining \
            else "service shutting down"
        if refused:
            reply = str(replies.CONNECTION_REFUSED.format(host=self.hostname, reason=refused))
            self.log_refusal("CONNECT", refused, reply)
            await super().push(reply)
            assert self.transport is not None
            self.transport.close()
            return
        if not behind_balancer:
            self._admitted_ip = ip
        self.state.sessions.add(self)
        self._lifetime = self.loop.call_later(self.state.config.limits.session_lifetime, self._lifetime_over)
        await super()._handle_client()

    def _dispatch(self, name: str, method: Any) -> Any:
        async def run(arg: str | None) -> None:
            # Fairness: commands a client pipelined are already buffered, so reading them never
            # waits, and a reply below the write high-water mark never waits either: without
            # this one flood of pipelined commands would hold the event loop until it ends.
            # A command that came alone was read after a wait: it runs in this turn (each
            # command one turn of the loop sooner, which counts when the loop is busy).
            if getattr(self._reader, "_buffer", True):
                await asyncio.sleep(0)
            if self.closing:
                return  # pipelined behind a 421 (the cancellation reaches the loop at its next wait)
            self.command, self.arg, self.reason = name, arg, None
            try:
                if name in JUNK_COMMANDS:
                    self.junk += 1
                    if self.junk > self.state.config.limits.junk_command_limit:
                        self.reason = f"junk command limit ({self.state.config.limits.junk_command_limit})"
                        await self.push(replies.JUNK_LIMIT.format(host=self.hostname))
                        return
                await method(arg)
            finally:
                self.command = ""  # aiosmtpd answers unknown commands without us
        for attr in _SYNTAX_ATTRS:  # HELP reads these
            if hasattr(method, attr):
                setattr(run, attr, getattr(method, attr))
        return run

    @property
    def peer_ip(self) -> str:
        return (self.session.peer_ip if self.session is not None else None) or "unknown"

    def log_refusal(self, stage: str, reason: str, reply: str) -> None:
        """One line for the operator: who was refused what, why, and the reply they got."""
        session = self.session
        client = self.event_handler.client_of(self, session) if session is not None else None
        sender = self.envelope.mail_from if self.envelope is not None else None
        rcpt = None
        if stage == "MAIL" and sender is None:
            sender = arg_address(self.arg)
        elif stage == "DATA" and sender is None:
            sender = self.data_sender
        elif stage == "RCPT":
            rcpt = arg_address(self.arg)
        if sender == "<>":
            sender = ""
        log.warning(refusal_line(stage, reason, reply, client=client.ip if client else self.peer_ip,
                                 helo=client.helo if client else None, sender=sender, rcpt=rcpt))

    # ---- timeouts --------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        small_reads(transport)  # reads below the mmap threshold (gateway/smtp/data.py)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._last_input = self.loop.time()
        super().data_received(data)

    def _reset_timeout(self, duration: float | None = None) -> None:
        self._last_input = self.loop.time()
        self._strict_timer = duration is not None
        self._silence = duration or self._timeout_duration
        super()._reset_timeout(duration)

    def _timeout_cb(self) -> None:
        if self.transport is None:
            return
        idle = self.loop.time() - self._last_input
        if not self._strict_timer and (self._busy or idle < self._silence):
            wait = self._silence if self._busy else self._silence - idle
            self._timeout_handle = self.loop.call_later(max(wait, 0.01), self._timeout_cb)
            return
        reply = str(replies.TIMEOUT.format(host=self.hostname))
        self.log_refusal("SESSION", f"timeout: {self._silence:g} s of silence", reply)
        self.say_and_close(reply)

    def _lifetime_over(self) -> None:
        if self.transport is None:
            return
        if self._busy:
            self._expired = True  # the reply in progress is sent first (never cut off a 250)
            return
        reply = str(replies.LIFETIME_OVER.format(host=self.hostname))
        self.log_refusal("SESSION", "session lifetime exceeded", reply)
        self.say_and_close(reply)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        self._busy += 1
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            self._busy -= 1
            self._last_input = self.loop.time()  # the client's silence starts with our reply

    def say_and_close(self, line: str) -> None:
        """Outside the handler coroutine (timers): write a last reply and close."""
        if self.transport is None:
            return
        try:
            self._writer.write(safe_reply(line).encode("ascii") + b"\r\n")
        except Exception:  # the transport may be closing already
            log.debug("reply not written: the transport is closing", exc_info=True)
        self.close_session()

    def connection_lost(self, error: Exception | None) -> None:
        if self._lifetime is not None:
            self._lifetime.cancel()
        self.state.sessions.discard(self)
        if self._admitted_ip is not None:
            self.state.release(self._admitted_ip)
            self._admitted_ip = None
        self.drop_upstream()  # no final dot was sent for an unfinished DATA: nothing delivered
        super().connection_lost(error)

    def in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    # ---- the mirrored upstream session ----------------------------------------------------

    def drop_upstream(self) -> None:
        """Close the upstream connection at once (no QUIT, no final dot)."""
        up, self.upstream = self.upstream, None
        if up is not None:
            up.abort()

    async def close_upstream(self) -> None:
        """QUIT the upstream connection (any transaction on it ends without a final dot)."""
        up, self.upstream = self.upstream, None
        if up is not None:
            await up.quit()

    async def reset_upstream(self) -> None:
        """RSET the upstream transaction, if one is open (the connection stays for reuse)."""
        if self.upstream is not None and self.upstream.in_transaction:
            await self.upstream.rset()

    def close_session(self) -> None:
        """End the client connection after the reply just pushed (as QUIT does): pipelined
        commands behind it are not read. A client that does not read its last reply is cut
        off after CLOSE_GRACE seconds (close() alone would wait for it for ever)."""
        self.closing = True
        transport = self.transport
        if transport is not None:
            transport.close()
            abort = getattr(transport, "abort", None)
            if abort is not None:
                self.loop.call_later(CLOSE_GRACE, abort)
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

    async def push(self, status: Any) -> None:
        """aiosmtpd's push, for a str, bytes or one of the gateway's own `Reply`s."""
        if self.closing:
            return
        if isinstance(status, Reply):
            status = str(status)
        elif isinstance(status, bytes):
            status = status.decode("ascii", "replace")
        status = safe_reply(status)
        code = status[:3]
        if self.data_logged and self.command == "DATA":
            self.data_logged = False
        elif code[:1] in ("4", "5") and (self.command in LOGGED_STAGES or code == "421"):
            self.log_refusal(self.command or "SESSION", self.reason or _default_reason(code), status)
        elif not self.command and status.startswith(replies.AIOSMTPD_TOO_MANY_UNRECOGNISED):
            self.log_refusal("SESSION", "too many unrecognized commands", status)
        await super().push(status)
        if code == "421":
            self.close_session()  # RFC 5321 3.8: after a 421 the session is over (the upstream's too)
            return
        if code[:1] in ("4", "5") and status != str(replies.TOO_MANY_RECIPIENTS):
            # As Postfix's smtpd_hard_error_limit: a client refused this often without delivering
            # mail is cut off (one connection answered 120,985 refused RCPTs in 7 s, each a log
            # line: 31 MB). Recipients over max_recipients are not errors (RFC 5321 4.5.3.1.8:
            # the client delivers to those accepted and retries the rest), as in Postfix.
            self.errors += 1
            limit = self.state.config.limits.error_limit
            if self.errors >= limit and self.transport is not None:
                self.command, self.reason = "", f"error limit ({limit} refused commands without a delivered message)"
                await self.push(replies.ERROR_LIMIT.format(host=self.hostname))
                return
        if self._expired and self.transport is not None:
            reply = str(replies.LIFETIME_OVER.format(host=self.hostname))
            self.log_refusal("SESSION", "session lifetime exceeded", reply)
            await super().push(reply)
            self.close_session()
            return
        if self.state.draining and not self.in_transaction() and self.transport is not None:
            await super().push(str(replies.SHUTTING_DOWN.format(host=self.hostname)))
            self.close_session()

    async def handle_exception(self, error: Exception) -> str:
        """After an internal error: 451 (from the handler), and both transactions reset, so the
        client's next MAIL starts clean instead of meeting "503 nested MAIL". A failed TLS
        handshake is the client's trouble, not ours: one refusal line, no traceback (aiosmtpd
        closes the connection)."""
        if isinstance(error, TLSSetupException):
            cause = error.__cause__ or error
            self.log_refusal("STARTTLS", f"TLS handshake failed: {type(cause).__name__}: {cause}"[:200],
                             "(connection closed)")
            return str(replies.TLS_FAILED)
        self.reason = "internal error"
        status = await super().handle_exception(error)
        self._set_rset_state()  # type: ignore[no-untyped-call]  # aiosmtpd's state setter is unannotated
        await self.reset_upstream()
        return status

    async def shutdown(self) -> None:
        """Called at the end of the grace period: 421 and close, whatever the state."""
        if self.transport is None:
            return
        try:
            self._writer.write(f"{replies.SHUTTING_DOWN.format(host=self.hostname)}\r\n".encode())
        except Exception:  # transport may already be gone
            log.debug("421 not written: the transport is gone", exc_info=True)
        self.transport.close()

    # ---- commands --------------------------------------------------------------------------

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parser (the stdlib's) raises IndexError on `MAIL FROM:a@` and
        kin instead of HeaderParseError: that was a 451 and a traceback; it is a malformed
        address (553 5.1.3)."""
        simple = _SIMPLE_ANGLE_ADDR.match(arg)
        if simple is not None:
            addr = simple.group(1)
            if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
                return None, None
            rest = arg[simple.end():]
            after = rest.lstrip(" \t")  # the parser eats the white space after `>` ...
            if not after.startswith("("):  # ... and comments: those take the slow path
                return addr, after
        try:
            return super()._getaddr(arg)
        except Exception:  # noqa: BLE001 - any parser failure on a stranger's text
            return None, None

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls_protocol is not None:
            self.reason = "STARTTLS inside TLS"
            await self.push(replies.TLS_ACTIVE)  # as Postfix; never TLS in TLS
            return
        if self.tls_context and not arg and self.in_transaction():
            self.reason = "STARTTLS inside a transaction"
            await self.push(replies.TRANSACTION_IN_PROGRESS)  # as Postfix
            return
        # Commands pipelined behind STARTTLS arrived in plaintext: discard them (CVE-2011-0411).
        buffered = getattr(self._reader, "_buffer", None)
        if buffered:
            log.warning("%s: discarded %d bytes pipelined after STARTTLS",
                        self.session.peer if self.session else "?", len(buffered))
            del buffered[:]
        if self.tls_context and not arg:
            # RFC 3207 4.2: the handshake resets the session; the upstream connection (idle
            # between transactions, or whatever state it is in) goes with it.
            await self.close_upstream()
        await super().smtp_STARTTLS(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with the message read in chunks by `DataReader` (same rules, bytes
        operations in C instead of a Python loop per line; see gateway/smtp/data.py)."""
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push(replies.NEED_RCPT)
            return
        if arg:
            await self.push(replies.DATA_SYNTAX)
            return
        await self.push(replies.START_DATA)
        reader = DataReader(self.data_size_limit, self.line_length_limit)
        received = 0
        # the stream buffers up to 128 KiB ahead while the message arrives (not one line's
        # worth, paused and resumed at every read); the command limit is back on every way out
        with read_ahead(self._reader):
            while True:
                chunk = await self._reader.read(DATA_CHUNK)
                if not chunk:  # the client went away before the final dot: nothing is delivered
                    raise asyncio.CancelledError
                if reader.feed(chunk):
                    break
                received += len(chunk)
                # a fast sender's chunks are always ready: let others run (a large message's
                # chunks take turns with the other large transfers: gateway/smtp/data.py Turns)
                await (self.state.turns.take() if received > LARGE else asyncio.sleep(0))
        if reader.rest:  # commands pipelined behind the final dot: back to the command reader
            self._reader._buffer[0:0] = reader.rest  # type: ignore[attr-defined]
        self.data_sender = self.envelope.mail_from  # for the log, after the envelope is reset
        if reader.state != NOMINAL:
            self.reason = (f"line longer than {self.line_length_limit - 2} bytes" if reader.state == TOO_LONG
                           else f"message larger than {self.data_size_limit} bytes")
            self._set_post_data_state()
            await self.push(replies.LINE_TOO_LONG if reader.state == TOO_LONG else replies.TOO_MUCH_DATA)
        else:
            content = reader.content()
            self.envelope.content = self.envelope.original_content = content
            assert self.session is not None
            self.session.tx.data_bare = reader.bare
            self.session.tx.data_dots = reader.dots
            status: str = await self._call_handler_hook("DATA")  # GatewayHandler.handle_DATA: a reply
            self._set_post_data_state()
            await self.push(status)
        if not self.in_transaction():
            # a DATA refused by the gateway itself (552/500) resets the client's transaction
            # without calling the handler: end the upstream's now, not at the client's next MAIL.
            await self.reset_upstream()

    async def smtp_AUTH(self, arg: str) -> None:
        self.reason = "AUTH not offered"
        await self.push(replies.AUTH_NOT_ENABLED)

    async def smtp_MAIL(self, arg: str | None) -> None:
        if not self.in_transaction():  # (a nested MAIL is refused and leaves the transaction be)
            self.reset_transaction()
        arg, self.dsn_params = split_dsn_params(arg, DSN_MAIL_PARAMS)
        if self.dsn_params and not self.state.caps.supports("dsn"):
            self.reason = "DSN not offered by the upstream"
            await self.push(replies.DSN_NOT_SUPPORTED)
            return
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if arg and source_route(arg) and self.envelope is not None and self.envelope.mail_from is not None:
            self.reason = "relay denied: source route"
            await self.push(replies.RELAY_TRICK.format(trick="source route"))
            return
        arg, self.dsn_params = split_dsn_params(arg, DSN_RCPT_PARAMS)
        if self.dsn_params and not self.state.caps.supports("dsn"):
            self.reason = "DSN not offered by the upstream"
            await self.push(replies.DSN_NOT_SUPPORTED)
            return
        await super().smtp_RCPT(arg)

    async def smtp_XFORWARD(self, arg: str | None) -> None:
        assert self.session is not None
        if not in_networks(self.session.peer_ip, self.state.config.xforward_hosts):
            self.reason = "XFORWARD from a host not in xforward_hosts"
            await self.push(replies.XFORWARD_DENIED)
            return
        if self.in_transaction():
            await self.push(replies.TRANSACTION_IN_PROGRESS)
            return
        attrs = dict(self.session.xforward)  # a refused XFORWARD changes nothing
        for item in (arg or "").split():
            key, sep, value = item.partition("=")
            key = key.upper()
            if not sep or key not in XFORWARD_ATTRS.split():
                await self.push(replies.XFORWARD_BAD_NAME.format(name=key[:32]))
                return
            value = re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)
            if value.upper() in ("[UNAVAILABLE]", "[TEMPUNAVAIL]"):
                attrs.pop(key, None)
                continue
            if not value.isprintable() or len(value) > 255 or not _xforward_value_ok(key, value):
                await self.push(replies.XFORWARD_BAD_VALUE.format(name=key))
                return
            attrs[key] = value
        self.session.xforward = attrs
        await self.push(replies.OK)


class GatewayHandler:
    """aiosmtpd handler hooks: relay rules, upstream mirroring, the analysis at DATA."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    @property
    def config(self) -> Config:
        return self.state.config

    # ---- helpers -------------------------------------------------------------------------

    def client_of(self, server: GatewaySMTP, session: GatewaySession) -> Client:
        peer_ip = session.peer_ip
        peer_port: int | None = int(session.peer[1]) if session.peer else None
        pd = session.proxy_data
        if pd is not None and getattr(pd, "src_addr", None):
            peer_ip, peer_port = str(pd.src_addr), int(pd.src_port) if pd.src_port else None
        xf = session.xforward
        port_text = xf.get("PORT", "")
        return Client(
            ip=xf["ADDR"].removeprefix("IPv6:") if "ADDR" in xf else peer_ip,
            port=int(port_text) if port_text.isdigit() else peer_port,
            helo=xf.get("HELO", session.host_name), hostname=xf.get("NAME"),
            protocol=xf.get("PROTO", "ESMTP" if session.extended_smtp else "SMTP"),
            tls=session.ssl is not None,
        )

    async def upstream_for(self, server: GatewaySMTP) -> UpstreamSession:
        up = server.upstream
        if up is None or not up.connected:
            server.drop_upstream()
            up = UpstreamSession(self.config.upstream, self.config.hostname, self.state.observer, self.state.turns)
            server.upstream = up
            await up.open()
            self.state.caps = up.caps
        else:
            up.reused = True
        return up

    # ---- hooks ---------------------------------------------------------------------------

    async def handle_PROXY(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope,
                           proxy_data: Any) -> bool:
        pp = self.config.proxy_protocol
        peer_ip = session.peer_ip
        if pp is None or not in_networks(peer_ip, pp.trusted_networks):
            log.warning(refusal_line("CONNECT", "PROXY header from a peer not in proxy_protocol.trusted_networks",
                                     "(connection closed)", client=peer_ip, helo=None, sender=None))
            return False
        if not proxy_data.valid:
            log.warning(refusal_line("CONNECT", "invalid PROXY header", "(connection closed)",
                                     client=peer_ip, helo=None, sender=None))
            return False
        src = str(getattr(proxy_data, "src_addr", "") or "")
        if src:
            refused = self.state.admit_client(src)
            if refused:
                reply = str(replies.CONNECTION_REFUSED.format(host=self.config.hostname, reason=refused))
                log.warning(refusal_line("CONNECT", refused, reply, client=src, helo=None, sender=None, via=peer_ip))
                await SMTP.push(server, reply)
                return False
            server._admitted_ip = src
        return True

    async def handle_EHLO(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        await server.reset_upstream()  # EHLO resets the SMTP transaction (RFC 5321 4.1.4): mirror it
        caps = self.state.caps
        out = []
        for line in responses:
            word = line[4:].split(" ", 1)[0].upper()
            if word == "AUTH" or (word == "8BITMIME" and not caps.eightbitmime):
                continue
            if word == "SIZE":
                line = f"250-SIZE {self.state.size_limit}"
            out.append(line)
        last = out.pop()  # "250 HELP"
        if in_networks(session.peer_ip, self.config.xforward_hosts):
            out.append(f"250-XFORWARD {XFORWARD_ATTRS}")
        if caps.supports("dsn"):
            out.append("250-DSN")
        out.append("250-ENHANCEDSTATUSCODES")
        out.append("250-PIPELINING")
        out.append(last)
        return out

    async def handle_HELO(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope,
                          hostname: str) -> str:
        session.host_name = hostname
        await server.reset_upstream()  # HELO resets the transaction too: mirror it
        return str(replies.HELO_OK.format(host=self.config.hostname))

    async def handle_MAIL(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope,
                          address: str, mail_options: list[str]) -> str:
        if self.state.draining:
            server.reason = "shutting down"
            return str(replies.SHUTTING_DOWN.format(host=self.config.hostname))
        problem = address_problem(address, envelope.smtp_utf8, "sender")
        if problem:
            server.reason = "8-bit sender address"
            return str(problem)
        server.reason = "upstream refused"
        try:
            up = await self.upstream_for(server)
            if up.in_transaction:  # left open by a DATA aiosmtpd refused (552/500) or an EHLO reset
                await up.rset()
            client = self.client_of(server, session)
            caps = up.caps
            passed = []
            for opt in mail_options:
                key = opt.split("=", 1)[0]
                if key == "BODY" and opt != "BODY=7BIT" and not caps.eightbitmime:
                    server.reason = "8BITMIME not offered by the upstream"
                    return str(replies.BODY_NOT_SUPPORTED)
                if key == "SMTPUTF8" and not caps.smtputf8:
                    server.reason = "SMTPUTF8 not offered by the upstream"
                    return str(replies.SMTPUTF8_NOT_SUPPORTED)
                # RFC 1652/1870: pass BODY and SIZE on only to an upstream that offers them
                if (key == "BODY" and not caps.eightbitmime) or (key == "SIZE" and not caps.supports("size")):
                    continue
                passed.append(opt)
            passed += server.dsn_params
            # aiosmtpd gives the null reverse-path as "<>" (and needs it truthy): send it as <>
            sender = "" if address == "<>" else address
            try:
                reply = await up.mail(sender, passed, client)
            except UpstreamError:
                if not up.reused:
                    raise
                # the upstream closed an idle connection between transactions: reconnect once
                server.drop_upstream()
                up = await self.upstream_for(server)
                reply = await up.mail(sender, passed, client)
        except UpstreamError as exc:
            server.reason = f"upstream unavailable: {exc}"[:200]
            return exc.reply.line()
        if reply.ok:
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            session.tx.queue_id = new_queue_id()
            session.tx.started = time.monotonic()
        return reply.line()

    async def handle_RCPT(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.limits.max_recipients:
            server.reason = f"recipient limit ({self.config.limits.max_recipients})"
            return str(replies.TOO_MANY_RECIPIENTS)
        trick = routing_trick(address)
        if trick:
            server.reason = f"relay denied: {trick}"
            return str(replies.RELAY_TRICK.format(trick=trick))
        local, _, domain = address.rpartition("@")
        client = self.client_of(server, session)
        is_postmaster = not local and domain.lower() == "postmaster"
        if not is_postmaster and not self.config.is_local_domain(domain) and \
                not in_networks(client.ip, self.config.trusted_networks):
            server.reason = "relay denied: domain not in local_domains"
            return str(replies.RELAY_DENIED.format(address=address[:256]))
        problem = address_problem(address, envelope.smtp_utf8, "recipient")
        if problem:
            server.reason = "8-bit recipient address"
            return str(problem)
        up = server.upstream
        if up is None or not up.connected or not up.in_transaction:
            # the upstream dropped the transaction MAIL opened: never start a new one without MAIL
            server.reason = "upstream connection lost"
            return str(replies.RCPT_UPSTREAM_LOST)
        server.reason = "upstream refused"
        try:
            reply = await up.rcpt(address, rcpt_options + server.dsn_params)
        except UpstreamError as exc:
            server.reason = f"upstream unavailable: {exc}"[:200]
            return exc.reply.line()
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply.line()

    async def handle_RSET(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope) -> str:
        await server.reset_upstream()  # (aiosmtpd reset the client's transaction already)
        return str(replies.OK)

    async def handle_QUIT(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope) -> str:
        await server.close_upstream()
        return str(replies.BYE)

    async def handle_exception(self, error: Exception) -> str:
        log.error("internal error in SMTP session: %r", error, exc_info=error)
        return str(replies.INTERNAL_ERROR)

    async def handle_DATA(self, server: GatewaySMTP, session: GatewaySession, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        client = self.client_of(server, session)
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from or ""
        tx = session.tx
        env = Envelope(mail_from=sender, rcpt_tos=tuple(envelope.rcpt_tos),
                       client=client, queue_id=tx.queue_id or new_queue_id(),
                       smtputf8=envelope.smtp_utf8)
        start = tx.started if tx.started is not None else time.monotonic()
        up = server.upstream
        fields: dict[str, Any] = {"size": len(raw), **tls_fields(session.ssl)}
        reply = await deliver(self.state, raw, env, up, session.ssl is not None, fields, tx.data_bare,
                              dots=tx.data_dots)
        if not reply.ok and up is not None:
            await up.rset()
        if reply.ok:
            server.junk = server.errors = 0  # as Postfix: both counts restart after a delivered message
        self.state.messages += 1
        fields["reply"] = f"{reply.code} {reply.text.splitlines()[0] if reply.text else ''}"[:120]
        fields["pid"] = os.getpid()  # which process: `serve` may run several workers
        # A delivered message has its line; a refused one is a refusal too (one more line, so
        # `event=refused` finds every refusal): why, from the analysis or the upstream.
        server.data_logged = reply.ok
        if not reply.ok:
            verdict = str(fields.get("verdict", ""))
            server.reason = (verdict if verdict.startswith(("rejected", "tempfail")) else
                             "policy reject" if fields.get("action") == "reject" else
                             "quarantine write failed" if fields.get("action") == QUARANTINE_FAILED else
                             "upstream connection lost" if verdict == "-" else
                             "upstream unavailable" if reply.code == 451 else "upstream refused")
        log.info(message_line(env, time.monotonic() - start, **fields))
        return reply.line()
