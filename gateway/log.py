"""Structured logs: one line per message and one per refusal, as key=value text or JSON.

Purpose: the operator's record of every message (queue id, client, sender, recipients, size,
verdict, reasons, time taken) and of everything the gateway refused (each refused recipient,
each refused command, each session it ended: relay denied, limits, TLS errors, too many
connections, junk commands, timeouts), with client, HELO, sender, reason and the reply given.
Message lines also carry the TLS version and cipher when the client used STARTTLS. Never the
body, never header values beyond the envelope. The fields are typed: the JSON format keeps
numbers as numbers and lists (recipients, rule ids) as arrays; the text format writes them as it
always has (`to=<a>,<b>`, `reasons=rule-a,rule-b`, `time=0.123`).

Untrusted input: envelope addresses and HELO names are a stranger's text: control characters
are escaped so one message is always one log line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from gateway.model import Envelope

_json_string = json.encoder.encode_basestring_ascii  # what json.dumps(str) returns, without an encoder


def _safe(value: Any) -> str:
    text = str(value)
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _text(key: str, value: Any) -> str:
    """A field as the text format has always written it."""
    if key == "time" and isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _typed(value: Any) -> Any:
    """A field for the JSON format: numbers and booleans as they are, lists as arrays, text escaped."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_typed(v) for v in value]
    return _safe(value)


def tls_fields(ssl_extra: Any) -> dict[str, str]:
    """`tls` (protocol version) and `cipher` of a session that used STARTTLS, from aiosmtpd's
    `session.ssl` (the transport's extra info); empty without TLS."""
    if not ssl_extra:
        return {}
    out: dict[str, str] = {}
    try:
        ssl_object = ssl_extra.get("ssl_object")
        version = ssl_object.version() if ssl_object is not None else None
        cipher = ssl_extra.get("cipher")
        if version:
            out["tls"] = str(version)
        if cipher:
            out["cipher"] = str(cipher[0])
    except Exception:  # a log field must never fail a message
        logging.getLogger("gateway.log").debug("TLS fields unavailable", exc_info=True)
    return out


def message_fields(env: Envelope, elapsed: float, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "queue_id": env.queue_id,  # the id in our Received header
        "client": env.client.ip or "unknown",
        "helo": env.client.helo or "",
        "from": f"<{env.mail_from}>",
        "to": tuple(f"<{r}>" for r in env.rcpt_tos),
    }
    fields.update(extra)
    fields["time"] = round(elapsed, 3)
    return fields


class MessageLine:
    """A log message whose fields the JSON formatter can emit as typed keys."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        # one line per message: every step in C where it can be (a third of the time it took
        # with a generator per field and json.dumps; tests/unit/test_log_line.py holds both equal)
        parts = []
        for key, value in self.fields.items():
            text = value if type(value) is str else _text(key, value)
            if not text.isprintable():
                text = text.encode("unicode_escape").decode("ascii")
            if not text or " " in text or '"' in text or "=" in text:
                text = _json_string(text)  # = json.dumps(text, ensure_ascii=True)
            parts.append(f"{key}={text}")
        return " ".join(parts)


def message_line(env: Envelope, elapsed: float, **extra: Any) -> MessageLine:
    return MessageLine(message_fields(env, elapsed, **extra))


def refusal_line(stage: str, reason: str, reply: str, *, client: str | None, helo: str | None,
                 sender: str | None, rcpt: str | None = None, **extra: Any) -> MessageLine:
    """One refusal: `stage` is the command refused (MAIL, RCPT, DATA, STARTTLS...) or CONNECT /
    SESSION for a connection refused or ended; `sender` None when no MAIL was given yet."""
    fields: dict[str, Any] = {
        "event": "refused",
        "stage": stage,
        "client": client or "unknown",
        "helo": helo or "",
        "from": "" if sender is None else f"<{sender[:256]}>",
    }
    if rcpt is not None:
        fields["to"] = f"<{rcpt[:256]}>"
    fields["reason"] = reason
    fields["reply"] = reply.split("\r\n", 1)[0][:160]
    fields.update(extra)
    return MessageLine(fields)


class JsonFormatter(logging.Formatter):
    def __init__(self, pid: bool = False) -> None:
        super().__init__()
        self.pid = pid

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if self.pid:
            out["pid"] = record.process
        if isinstance(record.msg, MessageLine) and not record.args:
            out.update({k: _typed(v) for k, v in record.msg.fields.items()})
        else:
            out["msg"] = _safe(record.getMessage())
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=True)


def setup_logging(level: str = "info", fmt: str = "text", pid: bool = False) -> None:
    """Log to stderr; `pid`: every line names its process (`serve` with several workers:
    `name[pid]:` in text, a `pid` field in JSON)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(pid=pid))
    else:
        name = "%(name)s[%(process)d]" if pid else "%(name)s"
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {name}: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter
