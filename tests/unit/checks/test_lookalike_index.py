"""The indexed lookalike search (candidates from skeleton/label indexes and one RapidFuzz pass)
must answer exactly what comparing the domain with every protected target in order answers."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.checks.sender import _SPLIT, Lookalikes, _label, _named_academic, _Target
from gateway.config import parse_config
from gateway.domains import edit_distance, registered_domain, skeleton, to_unicode
from gateway.model import Signal
from gateway.refdata import ReferenceData

ROOT = Path(__file__).resolve().parents[3]
HAM = ROOT.parent / "shared" / "corpora" / "ham" / "spamassassin"


def reference(lk: Lookalikes, domain: str, *, targets: Sequence[_Target] | None = None,
              unicode_of: Callable[[str], str] = to_unicode, skeleton_of: Callable[[str], str] = skeleton,
              academic: Callable[[ReferenceData, str], bool] = _named_academic) -> Signal | None:
    """The search as it was before the indexes: every target, then every organisation, in order.
    test_lookalike_cold passes the helpers as they were before the search was made cheaper."""
    reg = registered_domain(domain)
    data = lk.data
    if not reg or reg in lk.protected or lk.config.is_internal_domain(reg):
        return None
    if data.org_owning(reg) is not None or data.is_freemail(reg):
        return None
    if academic(data, reg):
        return None
    label = _label(reg)
    uni = unicode_of(label)
    skel = skeleton_of(uni)
    method_base = "punycode" if uni != label else "homoglyph"
    for t in lk.targets if targets is None else targets:
        found = Lookalikes._against(t, reg, uni, skel, method_base)
        if found is not None:
            return found
    tokens = [t for t in _SPLIT.split(skel) if t]
    for known, whole, inner in lk.aliases:
        alias = next((t for t in tokens if t in whole), None) if len(tokens) > 1 else None
        alias = alias or next((f for f in inner if f in skel and skel != f), None)
        if alias:
            return Signal("sender.org_name_in_domain", {"domain": reg, "organisation": known.name, "matched": alias})
    for lab in lk.local_labels:
        if len(lab) >= 4 and lab in tokens and len(tokens) > 1:
            return Signal("sender.org_name_in_domain", {"domain": reg, "organisation": "local domain",
                                                        "matched": lab})
    return None


def _lookalikes() -> Lookalikes:
    cfg = parse_config("listen: 127.0.0.1:0\nupstream: {port: 10026}\nhostname: gw.example.org\n"
                       "local_domains: [example.org, example.ac.uk]\n", "<test>")
    return Lookalikes(cfg, ReferenceData.load(cfg))


def _mutations(rng: random.Random, label: str) -> list[str]:
    out = []
    for _ in range(3):
        i = rng.randrange(len(label) + 1)
        c = rng.choice(string.ascii_lowercase + "0-")
        out += [label[:i] + c + label[i:], label[:i] + label[i + 1:], label[:i] + c + label[i + 1:]]
    if len(label) > 2:
        i = rng.randrange(len(label) - 1)
        out.append(label[:i] + label[i + 1] + label[i] + label[i + 2:])
    out += [label.replace("m", "rn"), label.replace("o", "0"), label.replace("l", "1"), label + "-research",
            "my-" + label, label.replace("a", "\u0430")]
    return out


def test_indexed_search_answers_as_the_full_scan() -> None:
    lk = _lookalikes()
    rng = random.Random(20261202)
    domains: list[str] = []
    for t in lk.targets:
        for m in _mutations(rng, t.label):
            domains.append(f"{m}.{rng.choice(['com', 'org', 'co.uk', 'net', 'xyz', 'ac.uk'])}")
        domains.append(t.label + ".info")
    for _org, whole, inner in lk.aliases[:400]:
        for tok in list(whole)[:2] + list(inner)[:2]:
            domains += [f"{tok}-institute.com", f"the{tok}group.org", f"{tok}.{tok}-mail.net"]
    if HAM.is_dir():  # real senders' domains, most of which match nothing
        for f in sorted(HAM.glob("*/*"))[::7]:
            head = f.read_bytes()[:4000].decode("latin-1")
            domains += [w.split("@", 1)[1].strip(">)].,;\"'").lower() for w in head.split() if "@" in w][:3]
    domains = [d for d in dict.fromkeys(domains) if d and "." in d]
    assert len(domains) > 5000
    kinds: dict[str, int] = {}
    for d in domains:
        want = reference(lk, d)
        assert lk._find(d) == want, d
        if want is not None:
            kind = str(want.evidence.get("method", want.name))
            kinds[kind] = kinds.get(kind, 0) + 1
    # the comparison covered domains that match, by every way a match is found
    assert set(kinds) >= {"edit_distance", "homoglyph", "suffix", "sender.org_name_in_domain"}, kinds
    assert sum(kinds.values()) > 1000, kinds


def test_edit_distance_candidates_are_not_cut_by_the_index() -> None:
    """A one-letter change of a long protected name is still found (the RapidFuzz pass keeps
    every target within distance 2)."""
    lk = _lookalikes()
    long = next(t for t in lk.targets if len(t.label) >= 9 and t.label.isalpha())
    fake = long.label[:-1] + ("x" if long.label[-1] != "x" else "y") + ".com"
    found = lk._find(fake)
    assert found is not None and found.evidence["method"] == "edit_distance", (fake, found)
    assert edit_distance(skeleton(long.label[:-1] + "x"), long.skeleton) <= 2
