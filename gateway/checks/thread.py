"""Thread signals: a message dressed as a reply to a conversation that left no trace.

Purpose: a first approach titled "Re: our conversation" borrows the trust of an exchange the
recipient does not remember having had. A real reply carries In-Reply-To or References (RFC 5322
3.6.4: a reply SHOULD have both); a message whose Subject starts with a reply prefix and has
neither was written as a fake reply. Rspamd scores exactly this as FAKE_REPLY
(rules/regexp/headers.lua: `Subject=/^re:/i` and neither header, score 1.0); we also know the
reply prefixes of the common non-English clients. Forwards ("Fwd:", "WG:", "TR:") legitimately
start a new thread and are not counted. The signal is evidence for policies, not a verdict:
some mobile clients and web forms drop the threading headers.

Untrusted input: the Subject and threading headers (a stranger's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.checks import Check, CheckContext, signal
from gateway.checks.origin import Origin, internal_sender
from gateway.model import Signal

# "Re:" and the reply prefixes of common localised clients (Outlook, Thunderbird, Apple Mail):
# AW (German), SV (Danish, Norwegian, Swedish), VS (Finnish), Antw (Dutch), RIF/R (Italian),
# RES (Portuguese), ODP (Polish), YNT (Turkish); optionally counted ("Re[2]:", "Re(2):").
# Bounded: at most 64 characters of the subject are looked at.
_REPLY_PREFIX = re.compile(r"\s*(re|aw|sv|vs|antw|rif|r|res|odp|ynt)\s?(?:\[\d{1,3}\]|\(\d{1,3}\))?\s?:", re.I)


class ThreadCheck(Check):
    name = "thread"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("thread.reply_without_thread", "the Subject says it is a reply (\"Re:\") but the message has no "
               "In-Reply-To or References: a conversation that left no trace (Rspamd: FAKE_REPLY)",
               prefix=str),
    )
    needs = (Origin,)
    timeout_share = 0.05

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        if internal_sender(ctx):
            return []
        m = _REPLY_PREFIX.match(view.visible_subject[:64])
        if m is None or view.header("In-Reply-To") or view.header("References"):
            return []
        return [Signal("thread.reply_without_thread", {"prefix": m.group(1)})]
