"""Campaigns from the history, and the indicator files the console writes from them.

Purpose: group the recent inbound messages (`Store.recent`, metadata only) by what ties an
approach campaign together -- the keys the campaign check already records (persona name,
claimed organisation, sender, near-duplicate text bands: all hashes), the sending domain (not
free-mail or notification services) and the published indicator a message matched -- and say for
each group who received it, when, with which verdicts and rules. One click turns a campaign (or a
triaged report) into an indicator file (docs/indicators.md) in `console.indicators_dir`, which
the reference data loads like `signals.indicators`; `hunt` then searches the history with it.

Untrusted input: strangers' addresses, names and handles from the store; written to YAML with
`yaml.safe_dump` (quoted as needed), validated with the same loader as every indicator file.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gateway.refdata import INDICATOR_KINDS, Indicator, ReferenceData, digits_of, load_indicator_file
from gateway.store import HistoryHit, MessageMeta, Store

KIND_ORDER = ("indicator", "persona", "text", "organisation", "domain", "sender")
KIND_TITLE = {"indicator": "matched indicator", "persona": "same persona", "text": "near-identical text",
              "organisation": "same claimed organisation", "domain": "same sending domain",
              "sender": "same sender"}
VERDICT_RANK = {"": -1, "clean": 0, "caution": 1, "suspicious": 2, "high": 3}
MAX_VALUE = 320
_NAME_WORDS = re.compile(r"[^\W\d_]{2,}", re.U)
# words of a sign-off, a greeting or a role account: a display name made only of them ("Best Regards", "Customer
# Service Team") is not a persona; as an indicator it matched every message saying it (atk45 #1: one analyst click on a
# stranger's campaign named "Best Regards" made ordinary mail `high`)
_GENERIC_NAME_WORDS = frozenset({
    "best", "kind", "warm", "warmest", "many", "with", "regards", "wishes", "thanks", "thank", "you", "yours",
    "sincerely", "truly", "faithfully", "cheers", "cordially", "respectfully", "dear", "hello", "hi", "greetings",
    "the", "and", "of", "team", "support", "customer", "service", "services", "help", "desk", "helpdesk", "info",
    "information", "admin", "administrator", "office", "mail", "email", "noreply", "no", "reply", "do", "not",
    "notification", "notifications", "news", "newsletter", "system", "account", "accounts", "security", "sales",
    "contact", "hr", "human", "resources", "department", "editor", "editors", "editorial"})


@dataclass
class Campaign:
    id: str
    kind: str
    label: str
    messages: list[MessageMeta] = field(default_factory=list)

    @property
    def title(self) -> str:
        return KIND_TITLE[self.kind]

    @property
    def recipients(self) -> list[str]:
        return sorted({r for m in self.messages for r in m.recipients})

    @property
    def senders(self) -> list[str]:
        return sorted({m.sender for m in self.messages})

    @property
    def first_seen(self) -> float:
        return min(m.when for m in self.messages)

    @property
    def last_seen(self) -> float:
        return max(m.when for m in self.messages)

    @property
    def verdicts(self) -> dict[str, int]:
        return dict(sorted(Counter(m.verdict or "-" for m in self.messages).items(),
                           key=lambda kv: -VERDICT_RANK.get(kv[0], -1)))

    @property
    def top_verdict(self) -> str:
        return max((m.verdict for m in self.messages), key=lambda v: VERDICT_RANK.get(v, -1), default="")

    @property
    def rules(self) -> list[tuple[str, int]]:
        return Counter(r for m in self.messages for r in m.rule_ids).most_common(12)


def _cid(kind: str, key: str) -> str:
    return f"{kind}-" + hashlib.blake2b(f"{kind}\0{key}".encode("utf-8", "replace"), digest_size=6).hexdigest()


def _persona_name(messages: Iterable[MessageMeta]) -> str:
    names: Counter[str] = Counter()
    for m in messages:
        for o in m.observables:
            if o.startswith("persona:"):
                names[o[8:]] += 2
        if m.display_name:
            names[m.display_name] += 1
    return names.most_common(1)[0][0] if names else "(no name)"


# one pass over the messages grouping by five kinds of key; split, it would walk them five times (C901)
def group(messages: Sequence[MessageMeta], data: ReferenceData | None = None,  # noqa: C901
          local_domains: Iterable[str] = ()) -> list[Campaign]:
    """Campaigns among `messages`: groups of at least two messages sharing a key (any size for a
    matched indicator); a group with exactly the messages of an earlier one (by KIND_ORDER) is
    left out. Sorted by the worst verdict, then size, then the newest message."""
    ours = {d.lower() for d in local_domains}
    buckets: dict[tuple[str, str], list[int]] = {}
    text_parent = list(range(len(messages)))

    def find(i: int) -> int:
        while text_parent[i] != i:
            text_parent[i] = text_parent[text_parent[i]]
            i = text_parent[i]
        return i

    band_first: dict[str, int] = {}
    for i, m in enumerate(messages):
        for key in m.campaign_keys:
            kind = key.split(":", 1)[0]
            if kind == "persona":
                buckets.setdefault(("persona", key), []).append(i)
            elif kind == "org":
                buckets.setdefault(("organisation", key), []).append(i)
            elif kind == "sender":
                buckets.setdefault(("sender", key), []).append(i)
            elif kind == "text":  # messages sharing any band are one near-duplicate cluster
                j = band_first.setdefault(key, i)
                text_parent[find(i)] = find(j)
        for o in m.observables:
            if o.startswith("indicator:"):
                buckets.setdefault(("indicator", o[10:]), []).append(i)
        domain = m.sender_domain
        if domain and domain not in ours and not (data is not None and (
                data.is_freemail(domain) or domain in data.notification_domains)):
            buckets.setdefault(("domain", domain), []).append(i)
    clusters: dict[int, list[int]] = {}
    for i, m in enumerate(messages):
        if any(k.startswith("text:") for k in m.campaign_keys):
            clusters.setdefault(find(i), []).append(i)
    for root, members in clusters.items():
        key = min(k for k in messages[root].campaign_keys if k.startswith("text:"))
        buckets[("text", key)] = members
    out: list[Campaign] = []
    seen: set[frozenset[int]] = set()
    for kind in KIND_ORDER:
        for (k, key), idx in buckets.items():
            if k != kind:
                continue
            members = sorted(set(idx))
            if len(members) < (1 if kind == "indicator" else 2) or frozenset(members) in seen:
                continue
            seen.add(frozenset(members))
            msgs = [messages[i] for i in members]
            if kind == "indicator":
                label = key
            elif kind == "domain":
                label = key
            elif kind == "sender":
                label = msgs[0].sender
            else:
                label = _persona_name(msgs)
            out.append(Campaign(_cid(kind, key), kind, label, msgs))
    out.sort(key=lambda c: (-VERDICT_RANK.get(c.top_verdict, -1), -len(c.messages), -c.last_seen))
    return out


# --------------------------------------------------------------------------- indicators


def candidates(messages: Iterable[MessageMeta], data: ReferenceData | None = None,
               local_domains: Iterable[str] = (), extra_names: Iterable[str] = ()) -> dict[str, list[str]]:
    """Indicator values a campaign (or a report) suggests, per kind (docs/indicators.md): persona
    names, addresses (From, Reply-To, envelope sender, free-mail addresses in the text), sending
    and Reply-To domains that are not free-mail or ours, phone numbers and messaging handles."""
    ours = {d.lower() for d in local_domains}
    out: dict[str, dict[str, None]] = {k: {} for k in INDICATOR_KINDS}

    def domain_ok(d: str) -> bool:
        return "." in d.strip(".") and d not in ours and not (data is not None and (  # ("com": review45b #1)
            data.is_freemail(d) or d in data.notification_domains))

    for name in extra_names:
        if _persona_ok(name):
            out["personas"][name.strip()] = None
    for m in messages:
        if _persona_ok(m.display_name):
            out["personas"][m.display_name.strip()] = None
        if "@" in m.sender:
            out["addresses"][m.sender] = None
            if domain_ok(m.sender_domain):
                out["domains"][m.sender_domain] = None
        for o in m.observables:
            kind, _, value = o.partition(":")
            value = value.strip()
            if not value:
                continue
            if kind == "persona" and _persona_ok(value):
                out["personas"][value] = None
            elif kind in ("reply-to", "mail-from", "freemail_address_in_body") and "@" in value:
                out["addresses"][value.lower()] = None
                d = value.rpartition("@")[2].lower()
                if domain_ok(d):
                    out["domains"][d] = None
            elif kind == "phone_number" or (kind.startswith("offchannel_") and _phone_like(value)):
                out["phones"][value] = None
            elif kind.startswith("offchannel_") and _handle_ok(value):
                out["handles"][value] = None
    return {k: list(v)[:50] for k, v in out.items() if v}


def _persona_ok(name: str) -> bool:
    """A display name of two words or more, not all of them a sign-off's, a greeting's or a role account's."""
    words = [w.lower() for w in _NAME_WORDS.findall(name)]
    return len(words) >= 2 and not all(w in _GENERIC_NAME_WORDS for w in words)


def _handle_ok(value: str) -> bool:
    """A handle of three letters or more that is not a role account's word ("@support" matched every message saying
    it: review45b #1)."""
    name = value.strip().lstrip("@").lower()
    return len(name) >= 3 and name not in _GENERIC_NAME_WORDS


def _phone_like(value: str) -> bool:
    return re.fullmatch(r"\+?[\d\s().-]{6,}", value) is not None and len(digits_of(value)) >= 6


class IndicatorInputError(ValueError):
    """A value the analyst chose cannot be an indicator; the message names it and the fix."""


def clean_values(chosen: dict[str, list[str]], offered: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """The values chosen, checked; with `offered` (what the campaign or report page offered: `candidates`), only those
    (atk45 #1: any posted value was written, `urls: ["e"]` matched every message with an "e"; what else an analyst
    wants matched is an admin's indicator file to write)."""
    out: dict[str, list[str]] = {}
    for kind, values in chosen.items():
        if kind not in INDICATOR_KINDS:
            raise IndicatorInputError(f"unknown indicator kind {kind!r}; use one of {', '.join(INDICATOR_KINDS)}")
        kept: dict[str, None] = {}
        for v in values:
            v = v.strip()
            if not v:
                continue
            if len(v) > MAX_VALUE or any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in v):
                raise IndicatorInputError(f"{kind}: {v[:40]!r} is too long or holds control characters; shorten it")
            if offered is not None and v not in offered.get(kind, ()):
                raise IndicatorInputError(f"{kind}: {v[:40]!r} is not one of the values this page offers; reload it, "
                                          "or have an admin write the indicator file (docs/indicators.md)")
            if kind == "phones" and len(digits_of(v)) < 6:
                raise IndicatorInputError(f"phones: {v!r} has fewer than 6 digits; write the full international number")
            kept[v] = None
        if kept:
            out[kind] = list(kept)
    if not out:
        raise IndicatorInputError("no indicator chosen; tick at least one value")
    return out


def write_indicator_file(folder: str | Path, name: str, source: str, chosen: dict[str, list[str]]) -> Path:
    """Write `folder/name.yml` (atomically, validated by the same loader as every indicator file:
    a DataError leaves nothing behind) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", name):
        raise IndicatorInputError(f"{name!r} is not a file name")
    target = folder / f"{name}.yml"
    header = ("# Written by the approach-gateway console; loaded with signals.indicators (docs/indicators.md).\n"
              "# Edit or delete it like any indicator file; the gateway reloads on SIGHUP.\n")
    text = header + yaml.safe_dump({"source": source, "indicators": chosen}, allow_unicode=True, sort_keys=False,
                                   width=1000)
    tmp = folder / f".{name}.yml.tmp"  # not *.yml: never loaded half-written
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        load_indicator_file(str(tmp))
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class HuntMatch:
    hit: HistoryHit
    indicator: Indicator | None


async def hunt(store: Store, path: str | Path, limit: int = 1000) -> list[HuntMatch]:
    """`approach-gateway hunt` for one indicator file: past messages (metadata) that match."""
    indicators = load_indicator_file(str(path))
    by_needle = {i.needle: i for i in indicators}
    hits = await store.search_history(list(by_needle), limit=limit)
    return [HuntMatch(h, by_needle.get(h.matched)) for h in hits]


def file_stamp(now: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
