"""What the gateway remembers of a message it relayed: build a `MessageMeta` and store it.

Purpose: one place that decides which metadata is kept (addresses, verdict, rule ids, signal
names, short observables) so no body text ever reaches the store. The runtime builds the meta
during analysis; the SMTP server calls `Runtime.record(result)` after the upstream accepted the
message (inbound mail teaches "has written to", outbound mail teaches "known correspondent").

Untrusted input: the parsed view and signals of a stranger's message (capped by MessageMeta).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from gateway.model import Decision, Envelope, Signal, Verdict
from gateway.parse import MessageView
from gateway.store import DECISION, MAX_SENT_KEYS, MessageMeta, cap, direction_of, pairs_of
from gateway.urlhost import href_host

MSGID = re.compile(r"<[^<>\s]{1,250}>")  # a Message-ID as the store's keys and the reply checks read it
MAX_SENT_RECIPIENTS = MAX_SENT_KEYS // 2  # outside recipients an outbound message is remembered for (2 keys each)


def key_hash(text: str) -> str:
    """The hash under which a campaign key holds an address, ID or text (never the text itself)."""
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


MAX_THREAD_REFS = 96  # references of a message's thread read (`thread_references`): 3 x MAX_CAMPAIGN_KEYS
MAX_REF_FIELD = 20_000  # characters read of each In-Reply-To or References field
MAX_REF_TEXT = 100_000  # ... and of all of them together (the first fields first)


def _ref_ids(fields: Sequence[str], budget: int) -> tuple[list[str], int]:
    out: list[str] = []
    for value in fields:
        text = value[:min(MAX_REF_FIELD, budget)]
        budget -= len(text)
        out += MSGID.findall(text)
        if budget <= 0:
            break
    return out, budget


def thread_references(view: MessageView) -> list[str]:
    """The Message-IDs a message says it answers (RFC 5322 3.6.4: the msg-ids of In-Reply-To and
    References), lower case, each once: the ONE reading of them for the reply check (context.reply)
    and the thread memory (campaign.unknown_reference), so the two never see different threads.
    Each field is read on its own, cut at MAX_REF_FIELD characters, at most MAX_REF_TEXT in all;
    several fields of either (malformed: RFC 5322 3.6 allows one) are all read, In-Reply-To's
    first, so an ID in any field counts for both checks. Kept: In-Reply-To's first two, then the
    first two of References (the thread's root: often the message that opened it) and as many of
    its last (the newest) as make MAX_THREAD_REFS: a long thread with several parties names our
    message anywhere in References (RFC 5322 3.6.4: each reply adds its parent's ID)."""
    irt, budget = _ref_ids(view.headers("In-Reply-To"), MAX_REF_TEXT)
    refs, _ = _ref_ids(view.headers("References"), budget)
    head = list(dict.fromkeys(m.lower() for m in irt[:2] + refs[:2]))
    rest = [m for m in dict.fromkeys(m.lower() for m in refs[2:]) if m not in head]
    return head + rest[-(MAX_THREAD_REFS - len(head)):]


_OBSERVABLE_SIGNALS = ("content.offchannel_", "content.phone_number", "content.freemail_address_in_body")


def recipients_of(view: MessageView, envelope: Envelope) -> tuple[str, ...]:
    if envelope.rcpt_tos:
        return tuple(r.lower() for r in envelope.rcpt_tos)
    return tuple(a for a in view.addresses("To", "Cc") if "@" in a)


def draft_meta(view: MessageView, envelope: Envelope, local_domains: Iterable[str],
               persona: Any = None, campaign_keys: tuple[str, ...] = (), *, spoofed: bool = False) -> MessageMeta:
    """The message's metadata before the verdict is known. `spoofed`: a From in our domains on mail
    from outside that nothing authenticates (gateway/checks/origin.py): remembered as inbound, a
    stranger's message (its campaign keys indexed), never as our own internal or outbound mail."""
    sender = view.from_address or envelope.mail_from.lower()
    rcpts = recipients_of(view, envelope)
    obs = [f"reply-to:{a}" for a in view.reply_to[:5]]
    if envelope.mail_from and envelope.mail_from.lower() != sender:
        obs.append(f"mail-from:{envelope.mail_from.lower()}")
    if persona is not None and persona.name:  # gateway.checks.social.Persona
        obs.append(f"persona:{persona.name}")
        if persona.headline:
            obs.append(f"headline:{persona.headline}")
    hosts: dict[str, None] = {}  # where each link goes as a browser reads it (the link check's reading)
    for link in view.html_links[:200]:
        host = href_host(link)
        if host:
            hosts[host] = None
    obs += [f"link:{h}" for h in list(hosts)[:20]]
    direction = "inbound" if spoofed else direction_of(sender, rcpts, local_domains)
    return MessageMeta(when=envelope.when, direction=direction,
                       sender=sender, recipients=rcpts, message_id=view.header("Message-ID") or "",
                       display_name=view.from_display, observables=tuple(obs), campaign_keys=campaign_keys)


def sent_key(message_id: str, external: str) -> str:
    """A message our people sent to `external` (an outside address), as its Message-ID: a reply of
    theirs that references it answers something we wrote to them. Hashed, never the ID itself."""
    mid = MSGID.search(message_id or "")
    return f"sent:{key_hash(mid.group(0).lower() + ' ' + cap(external.lower()))}" if mid and external else ""


def sent_to_key(external: str) -> str:
    """Remembered with every message with a Message-ID our people sent to `external`: the store knows
    at least one ID we sent them (pairs learned before IDs were remembered have none: no judgement)."""
    return f"sent-to:{key_hash(cap(external.lower()))}"


def outbound_keys(message_id: str, externals: Iterable[str]) -> tuple[str, ...]:
    """The keys an outbound message (not an automatic answer) is remembered under: for each outside
    recipient (at most MAX_SENT_RECIPIENTS), `sent_key` and `sent_to_key`; none without a Message-ID."""
    if MSGID.search(message_id or "") is None:
        return ()
    out: list[str] = []
    for ext in list(dict.fromkeys(e.lower() for e in externals if "@" in e))[:MAX_SENT_RECIPIENTS]:
        out += [sent_key(message_id, ext), sent_to_key(ext)]
    return tuple(out)


def with_sent_keys(meta: MessageMeta, local_domains: Iterable[str]) -> MessageMeta:
    """An outbound message (not an automatic answer) as it is remembered: `meta` with its
    Message-ID's `outbound_keys` for its outside recipients (the first MAX_SENT_RECIPIENTS of
    them; `MessageMeta.capped` keeps them beside its other keys), so that a reply to it is known
    as one. The one way serve (`Runtime`) and `learn` (sent mailboxes) remember sent mail."""
    externals = (ext for _, ext, _out in pairs_of(meta, local_domains))
    return replace(meta, campaign_keys=meta.campaign_keys + outbound_keys(meta.message_id, externals))


def flagged_persona_key(persona_key: str) -> str:
    """The key a flagged message is also remembered under for each of its persona keys (campaign's
    `persona:...`): through a social network's shared address (invitations@linkedin.com relays every
    member), a follow-up of a flagged message is the same persona's, not the address's."""
    return "flagged-" + persona_key


def decision_meta(sender: str, keys: Sequence[str], when: float, report_id: str, status: str) -> MessageMeta:
    """An analyst's verdict on a reported message from `sender`, remembered under `keys` (the campaign
    check's `confirmed_key` or `cleared_key` of the sender) so that the sender's later messages inherit
    it: no recipients (it adds no history between anyone), never listed by `recent`."""
    return MessageMeta(when=when, direction=DECISION, sender=sender.lower(), recipients=(),
                       message_id=f"<triage-{report_id}>", verdict=status, campaign_keys=tuple(keys))


def final_meta(meta: MessageMeta, decision: Decision, signals: Iterable[Signal],
               flagged_key: str = "") -> MessageMeta:
    """The meta with the verdict; a message judged suspicious or worse is also remembered under
    `flagged_key`, so the sender's follow-ups inherit it, and under `flagged_persona_key` of its
    persona (gateway/checks/campaign.py)."""
    sigs = list(signals)
    obs = list(meta.observables)
    for s in sigs:
        if s.name == "indicator.match":  # the console groups campaigns by the indicator they matched
            obs.append(f"indicator:{s.evidence.get('kind', '')}:{s.evidence.get('value', '')}")
        if s.name.startswith(_OBSERVABLE_SIGNALS):
            for key in ("handles", "numbers", "addresses"):
                if key in s.evidence:
                    obs += [f"{s.name.split('.', 1)[1]}:{v.strip()}" for v in str(s.evidence[key]).split(",")]
    keys = meta.campaign_keys
    if flagged_key and decision.verdict >= Verdict.SUSPICIOUS:
        keys += (flagged_key,) + tuple(flagged_persona_key(k) for k in meta.campaign_keys if k.startswith("persona:"))
    return replace(meta, verdict=decision.verdict.word, score=decision.score,
                   rule_ids=tuple(h.rule_id for h in decision.hits),
                   signals=tuple(sorted({s.name for s in sigs})), observables=tuple(obs),
                   campaign_keys=keys).capped()


# RFC 3834 3.1.7: Auto-Submitted other than "no" marks a message no person wrote (auto-replied:
# vacation and out-of-office answers; auto-generated, auto-notified); X-Autoreply / X-Autorespond
# and Precedence: auto_reply are the older marks of the same (Sendmail vacation, cPanel, Exim).
def automatic(header: Callable[[str], Any]) -> bool:
    """Whether a message's header fields (`header(name)`: the value or None; a `MessageView`'s
    `header`, an `email.message.Message`'s `get`) mark it as automatic (RFC 3834): an
    out-of-office answer is not the organisation writing back, and must not make a stranger a
    known correspondent (attack21: one auto-reply to an approach, and the next approach from that
    sender to anyone here was judged as a correspondent's reply)."""
    value = str(header("Auto-Submitted") or "").split(";", 1)[0].strip().lower()
    return bool(value and value != "no") or str(header("Precedence") or "").strip().lower() == "auto_reply" \
        or any(header(h) for h in ("X-Autoreply", "X-Autorespond"))
