"""Sender signals: free-mail, disposable, first contact, lookalike and cousin domains.

Purpose: facts about the sending domain and the sender's history with the organisation.
Lookalikes are judged on the registered domain's label against the organisation's own
`local_domains` and the shipped organisations list: confusable skeletons (homoglyphs, digits,
'rn' for 'm'), IDN/punycode decoding, mixed scripts, small edit distances on longer names, and an
organisation's name inside an unrelated registered domain (`ibm-research-centre.com`).

Untrusted input: From, Reply-To and envelope sender domains; the store answers about history.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.checks import CheckContext
from gateway.checks.lists import (
    Organisation,
    disposable_domains,
    edit_distance,
    freemail_domains,
    org_owning,
    organisations,
    public_suffix,
    registered_domain,
    scripts_of,
    skeleton,
    to_unicode,
)
from gateway.config import Config
from gateway.model import Signal


def local_recipients(ctx: CheckContext) -> list[str]:
    """Envelope recipients in local_domains; without an envelope (scan), To/Cc ones."""
    rcpts = [r.lower() for r in ctx.envelope.rcpt_tos]
    if not rcpts:
        rcpts = [a for a in ctx.view.addresses("To", "Cc") if "@" in a]
    return [r for r in rcpts if ctx.config.is_internal_domain(r.rsplit("@", 1)[-1])][:50]


def is_freemail(domain: str, config: Config) -> bool:
    s = config.signals
    return registered_domain(domain) in freemail_domains(s.freemail_extra, s.freemail_files) \
        or domain.lower() in freemail_domains(s.freemail_extra, s.freemail_files)


def is_disposable(domain: str, config: Config) -> bool:
    s = config.signals
    lists = disposable_domains(s.disposable_extra, s.disposable_files)
    return domain.lower() in lists or registered_domain(domain) in lists


def orgs_of(config: Config) -> tuple[Organisation, ...]:
    return organisations(config.signals.organisations_files)


def _label(reg: str) -> str:
    suffix = public_suffix(reg)
    return reg[: -len(suffix) - 1] if suffix and reg.endswith("." + suffix) else reg.split(".")[0]


def _targets(config: Config) -> list[tuple[str, str, bool]]:
    """(protected registered domain, organisation name, is_local)."""
    out = [(registered_domain(d), "local domain", True) for d in config.local_domains]
    for org in orgs_of(config):
        if org.protect:
            out.extend((registered_domain(d), org.name, False) for d in org.domains if "." in d)
    return out


# Suffixes a cousin domain is registered under (organisations own their country domains).
COUSIN_SUFFIXES = frozenset({"com", "net", "org", "co", "info", "biz", "io", "xyz", "online", "site", "top",
                             "club", "live", "pro", "world", "global", "group", "institute", "center",
                             "centre", "agency", "partners", "email", "me", "cc", "ws"})
_SPLIT = re.compile(r"[-_.0-9]+")


@functools.lru_cache(maxsize=256)
def _alias_tokens(org: Organisation) -> tuple[frozenset[str], frozenset[str]]:
    """(whole-token forms, substring forms): aliases flattened, plus the owned domains' labels
    as whole tokens only ('state' from state.gov must not match 'itsstatecraft')."""
    flats = {re.sub(r"[^a-z0-9]", "", a.lower()) for a in org.aliases}
    labels = {_label(registered_domain(d)) for d in org.domains}
    tokens = frozenset(t for t in flats | labels if len(t) >= 3)
    inner = frozenset(f for f in flats if len(f) >= 6) if org.kind == "big_tech" else frozenset()
    return tokens, inner  # 'googleresearch.com' yes; 'stanfordalumni.org' is Stanford's own


@dataclass(frozen=True)
class _Target:
    domain: str  # protected registered domain
    org: str
    is_local: bool
    label: str
    skeleton: str
    kind: str


_PREPARED: dict[int, tuple[Config, tuple[_Target, ...], frozenset[str]]] = {}


def _prepared(config: Config) -> tuple[tuple[_Target, ...], frozenset[str]]:
    """The protected targets with their labels and skeletons, computed once per config (this was
    40 % of the analysis CPU when rebuilt for every message)."""
    hit = _PREPARED.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1], hit[2]
    kinds = {o.name: o.kind for o in orgs_of(config)}
    targets = tuple(_Target(t, org, local, _label(t), skeleton(_label(t)), kinds.get(org, ""))
                    for t, org, local in _targets(config))
    _PREPARED.clear()  # one live config at a time (a reload builds a new one)
    _RESULTS.clear()
    _PREPARED[id(config)] = (config, targets, frozenset(t.domain for t in targets))
    return targets, frozenset(t.domain for t in targets)


_RESULTS: dict[str, Signal | None] = {}
_RESULTS_MAX = 50_000


def lookalike(domain: str, config: Config) -> Signal | None:
    """The strongest lookalike finding for `domain`, or None (memoised per config: senders'
    domains repeat)."""
    _prepared(config)  # clears the memo when the config changed
    key = domain.lower()
    if key in _RESULTS:
        return _RESULTS[key]
    found = _lookalike(key, config)
    if len(_RESULTS) >= _RESULTS_MAX:
        _RESULTS.clear()
    _RESULTS[key] = found
    return found


def _lookalike(domain: str, config: Config) -> Signal | None:
    reg = registered_domain(domain)
    targets, protected = _prepared(config)
    if not reg or reg in protected or config.is_internal_domain(reg):
        return None
    if org_owning(reg, orgs_of(config)) is not None or is_freemail(reg, config):
        return None
    label = _label(reg)
    uni = to_unicode(label)
    skel = skeleton(uni)
    method_base = "punycode" if uni != label else "homoglyph"
    for t in targets:
        target, org, is_local, tl = t.domain, t.org, t.is_local, t.label
        if skel == t.skeleton and uni != tl:
            return Signal("sender.lookalike_domain", {"domain": reg, "unicode": to_unicode(reg),
                                                      "target": target, "organisation": org,
                                                      "method": method_base})
        if uni == tl and reg != target and (is_local or (len(tl) >= 4 and t.kind not in (
                "big_tech", "news") and public_suffix(reg).rsplit(".", 1)[-1] in COUSIN_SUFFIXES)):
            return Signal("sender.lookalike_domain", {"domain": reg, "target": target,
                                                      "organisation": org, "method": "suffix"})
        if len(tl) >= 5 and len(skel) >= 5:
            limit = 1 if len(tl) <= 8 else 2
            if abs(len(skel) - len(t.skeleton)) > limit:
                continue  # cannot be within the edit limit: skip the DP
            dist = edit_distance(skel, t.skeleton, limit)
            if 0 < dist <= limit:
                return Signal("sender.lookalike_domain", {"domain": reg, "target": target,
                                                          "organisation": org, "method": "edit_distance",
                                                          "distance": dist})
    tokens = [t for t in _SPLIT.split(skel) if t]
    for known in orgs_of(config):
        if known.common_word:
            continue
        whole, inner = _alias_tokens(known)
        alias = next((t for t in tokens if t in whole), None) if len(tokens) > 1 else None
        alias = alias or next((f for f in inner if f in skel and skel != f), None)
        if alias:
            return Signal("sender.org_name_in_domain", {"domain": reg, "organisation": known.name,
                                                            "matched": alias})
    for ld in config.local_domains:
        lab = _label(registered_domain(ld))
        if len(lab) >= 4 and lab in tokens and len(tokens) > 1:
            return Signal("sender.org_name_in_domain", {"domain": reg, "organisation": "local domain",
                                                        "matched": lab})
    return None


class SenderCheck:
    name = "sender"
    SIGNALS = frozenset({"sender.freemail", "sender.disposable", "sender.first_contact",
                         "sender.first_contact_org", "sender.lookalike_domain",
                         "sender.org_name_in_domain", "sender.mixed_script_domain",
                         "sender.unanswered", "sender.store_error"})

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view, config = ctx.view, ctx.config
        domain = view.from_domain.lower()
        out: list[Signal] = []
        if not domain or config.is_internal_domain(domain):
            return out
        if is_freemail(domain, config):
            out.append(Signal("sender.freemail", {"domain": domain}))
        if is_disposable(domain, config):
            out.append(Signal("sender.disposable", {"domain": domain}))
        seen: set[str] = set()
        candidates = [("from", domain)] + [("reply_to", a.rsplit("@", 1)[-1]) for a in view.reply_to]
        if "@" in ctx.envelope.mail_from:
            candidates.append(("mail_from", ctx.envelope.mail_from.rsplit("@", 1)[-1].lower()))
        for where, dom in candidates:
            if dom in seen or config.is_internal_domain(dom):
                continue
            seen.add(dom)
            unicode_label = to_unicode(dom)
            if len(scripts_of(unicode_label)) > 1:
                out.append(Signal("sender.mixed_script_domain", {"domain": dom, "unicode": unicode_label,
                                                                 "scripts": "+".join(sorted(scripts_of(
                                                                     unicode_label))), "where": where}))
            found = lookalike(dom, config)
            if found is not None:
                out.append(Signal(found.name, {**found.evidence, "where": where}))
        out.extend(await self._history(ctx, view.from_address))
        return out

    async def _history(self, ctx: CheckContext, sender: str) -> list[Signal]:
        if ctx.store is None or "@" not in sender:
            return []
        out: list[Signal] = []
        try:
            rcpts = local_recipients(ctx)
            new_to = [r for r in rcpts if await ctx.store.seen_pair(sender, r) is None]
            org = await ctx.store.seen_sender_org(sender)
        except Exception as exc:  # noqa: BLE001 - a broken store must not lose the message
            return [Signal("sender.store_error", {"error": type(exc).__name__})]
        if new_to:
            out.append(Signal("sender.first_contact", {"sender": sender, "recipients": ", ".join(new_to)}))
        if org is not None and org.outbound == 0:
            # has written before, but nobody in the organisation ever wrote back (evidence: every
            # newsletter is unanswered too; policies combine it with identity signals)
            out.append(Signal("sender.unanswered", {"sender": sender, "previous_messages": org.count}))
        if org is None:
            domain = sender.rsplit("@", 1)[1]
            dom_known = False
            if not is_freemail(domain, ctx.config):
                try:
                    dom_known = await ctx.store.seen_sender_org(domain) is not None
                except Exception:  # noqa: BLE001
                    dom_known = False
            out.append(Signal("sender.first_contact_org", {"sender": sender, "domain_known": dom_known}))
        return out
