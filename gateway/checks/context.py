"""Context signals: is this list or bulk mail, and does it answer an earlier message?

Purpose: the same words mean different things in a mailing-list post, a newsletter or a reply
inside a thread than in a stranger's first message to one person. This check names that context
so policies can discount cues in it: RFC 2369/2919 list headers (List-Id, List-Post,
List-Unsubscribe), Mailman's and other list managers' own fields (X-BeenThere, X-Mailman-Version,
X-Mailing-List), list-manager sender addresses (owner-*, *-bounces, *-request), Yahoo's
Mailing-List, Google Groups (its bounce addresses and X-Google-Group-Id), `Precedence:
bulk/list/junk`, and the RFC 5322 reply fields (In-Reply-To, References).

Untrusted input: header fields a stranger wrote (read, never trusted as proof of anything: a
forged List-Id earns a discount only where the policy allows one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.checks import Check, CheckContext, signal
from gateway.model import Signal
from gateway.store.record import thread_references

_LIST_HEADERS = ("List-Id", "List-Post", "List-Unsubscribe", "List-Subscribe", "Mailing-List", "X-Mailing-List",
                 "X-BeenThere", "X-Mailman-Version", "X-List", "X-Loop")
_LIST_SENDER = re.compile(r"(?:^|<|\s)(?:owner-[^@\s>]+|"
                          r"[^@\s<>]+-(?:bounces|request|owner|admin)(?:\+[^@\s>]*)?)@", re.I)
MAX_REFERENCES = 50


class ContextCheck(Check):
    name = "context"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("context.mailing_list", "mailing-list or bulk mail (list headers, Google Groups, Precedence)",
               kind=str, list=str),
        signal("context.reply", "answers earlier messages (In-Reply-To or References)", references=int,
               subject_reply=bool),
    )

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        out: list[Signal] = []
        kind, name = list_kind(ctx)
        if kind:
            out.append(Signal("context.mailing_list", {"kind": kind, "list": name[:120]}))
        refs = thread_references(view)  # the same reading as the thread memory (campaign.py)
        if refs:
            subject = view.visible_subject.lstrip().lower()
            out.append(Signal("context.reply", {
                "references": min(len(refs), MAX_REFERENCES),
                "subject_reply": subject.startswith(("re:", "re :", "aw:", "sv:", "antw:", "回复", "答复"))}))
        return out


def list_kind(ctx: CheckContext) -> tuple[str, str]:
    view = ctx.view
    for h in _LIST_HEADERS:
        value = view.header(h)
        if value:
            return "list", value
    sender = (ctx.envelope.mail_from or view.header("Return-Path") or "").lower()
    if sender.rstrip(">").endswith("@googlegroups.com") or view.header("X-Google-Group-Id"):
        return "google-groups", sender.strip("<>")
    for field in ("Sender", "Return-Path", "Errors-To"):
        value = view.header(field) or ""
        if _LIST_SENDER.search(value[:300]):
            return "list", value[:120]
    precedence = (view.header("Precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return "bulk", precedence
    return "", ""
