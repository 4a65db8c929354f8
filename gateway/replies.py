"""Every SMTP reply the gateway writes itself, as named constants.

Purpose: one spelling of each reply, shared by the code that sends it, the tests that expect it
and README.md's table "SMTP replies the gateway makes itself" (tests/unit/test_replies.py holds
the table and this module to each other: a reply added here and not documented there fails).
Replies the gateway passes on from the upstream, and aiosmtpd's own (syntax errors, nested MAIL,
...), are not here. A text may hold `{name}` fields, filled by `Reply.format`; `{host}` is
always the gateway's `hostname`.

No gateway imports, so that every layer may use it.

Untrusted input: none here. What `format` puts into a reply may be a stranger's text (an
address, an XFORWARD attribute name): the listener makes every reply printable ASCII before it
writes it (`gateway.smtp.server.safe_reply`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?= |$)")


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: `code` and `text` (the enhanced status code, when there is one, starts the
    text). `str(reply)` is the reply as one line, as the gateway writes its own; `line()` keeps
    a multi-line text (an upstream's reply passed on) as several lines."""

    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"

    def line(self) -> str:
        """The reply as one or more SMTP lines for aiosmtpd's push (multi-line kept)."""
        lines = (self.text or "").replace("\r", "").split("\n") or [""]
        out = [f"{self.code}-{ln}" for ln in lines[:-1]]
        out.append(f"{self.code} {lines[-1]}")
        return "\r\n".join(out)

    def format(self, **fields: object) -> Reply:
        """This reply with its `{name}` fields filled in (fields it does not use are ignored)."""
        return Reply(self.code, self.text.format(**fields))

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def enhanced(self) -> str | None:
        """The enhanced status code (RFC 3463) the text starts with, or None."""
        m = _ENHANCED.match(self.text)
        return m.group(0) if m else None


# ---- the connection ---------------------------------------------------------------------------

CONNECTION_REFUSED = Reply(421, "4.7.0 {host} Error: {reason}")
JUNK_LIMIT = Reply(421, "4.7.0 {host} Error: too many junk commands")
ERROR_LIMIT = Reply(421, "4.7.0 {host} Error: too many errors")
TIMEOUT = Reply(421, "4.4.2 {host} Error: timeout exceeded")
LIFETIME_OVER = Reply(421, "4.4.2 {host} Error: session time limit exceeded")
SHUTTING_DOWN = Reply(421, "4.3.2 {host} Service shutting down")
HELO_OK = Reply(250, "{host}")
OK = Reply(250, "2.0.0 Ok")
BYE = Reply(221, "2.0.0 Bye")
AUTH_NOT_ENABLED = Reply(502, "5.5.1 Error: authentication not enabled")
TLS_ACTIVE = Reply(554, "5.5.1 Error: TLS already active")
TLS_FAILED = Reply(454, "4.7.0 TLS not available due to local problem")
TRANSACTION_IN_PROGRESS = Reply(503, "5.5.1 Error: MAIL transaction in progress")
XFORWARD_DENIED = Reply(550, "5.7.0 Error: insufficient authorization")
XFORWARD_BAD_NAME = Reply(501, "5.5.4 Bad XFORWARD attribute name: {name}")
XFORWARD_BAD_VALUE = Reply(501, "5.5.4 Bad XFORWARD attribute value for {name}")

# ---- MAIL and RCPT ----------------------------------------------------------------------------

DSN_NOT_SUPPORTED = Reply(555, "5.5.4 Error: DSN parameters not supported here")
BODY_NOT_SUPPORTED = Reply(555, "5.5.4 Error: BODY=8BITMIME not supported here")
SMTPUTF8_NOT_SUPPORTED = Reply(555, "5.5.4 Error: SMTPUTF8 not supported here")
SENDER_BAD_UTF8 = Reply(553, "5.1.7 Error: bad UTF-8 syntax in sender address")
RECIPIENT_BAD_UTF8 = Reply(553, "5.1.3 Error: bad UTF-8 syntax in recipient address")
SMTPUTF8_REQUIRED = Reply(553, "5.6.7 Must declare SMTPUTF8 to send unicode address")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3 Error: too many recipients")
RELAY_DENIED = Reply(550, "5.7.1 <{address}>: Relay access denied")
RELAY_TRICK = Reply(550, "5.7.1 Error: relay access denied ({trick})")
RCPT_UPSTREAM_LOST = Reply(451, "4.4.2 Error: upstream connection lost, try again later")

# ---- DATA (the first five in aiosmtpd's wording: gateway/smtp/data.py reads with its rules) ----

NEED_RCPT = Reply(503, "Error: need RCPT command")
DATA_SYNTAX = Reply(501, "Syntax: DATA")
START_DATA = Reply(354, "End data with <CR><LF>.<CR><LF>")
LINE_TOO_LONG = Reply(500, "Line too long (see RFC5321 4.5.3.1.6)")
TOO_MUCH_DATA = Reply(552, "Error: Too much mail data")
UPSTREAM_LOST = Reply(451, "4.4.1 Error: upstream connection lost, try again later")
BARE_NEWLINE = Reply(550, "5.5.2 Error: bare <CR> or <LF> received; use <CR><LF>")
HEADER_TOO_LARGE = Reply(552, "5.3.4 Error: message header size exceeds limit")
ANALYSIS_FAILED = Reply(451, "4.7.1 Error: message could not be checked, try again later")
POLICY_REJECT = Reply(550, "5.7.1 {text}")
QUARANTINED = Reply(250, "2.0.0 Ok: queued as {queue_id}")

# ---- failures ---------------------------------------------------------------------------------

INTERNAL_ERROR = Reply(451, "4.3.0 Error: queue file write error")  # Postfix's wording, no internals
UPSTREAM_UNAVAILABLE = Reply(451, "4.4.1 Error: upstream server unavailable, try again later")
UPSTREAM_CLOSED = Reply(451, "4.4.2 Error: upstream closed the connection")
UPSTREAM_BAD_ARGUMENT = Reply(501, "5.5.4 Error: {detail}")

# ---- releasing a held message (command line and console; not an SMTP client's reply) -----------

NO_RECIPIENTS = Reply(554, "5.5.1 Error: no valid recipients")

# Not ours: aiosmtpd's reply when a client sends too many unknown commands, recognised to log it.
AIOSMTPD_TOO_MANY_UNRECOGNISED = "502 5.5.1 Too many unrecognized commands"
