"""Detection quality of the shipped policies, measured by `evaluate` on mail nobody here wrote.

The evaluation set (tests/evalset, see its README) holds reconstructed approaches from published
campaigns and real legitimate mail of the same shapes, split by campaign/source into a training
split (the rules and fitted weights were tuned on it) and a sealed split that the rule writer
never opened; it is only ever evaluated in aggregate (`evaluate --aggregate`), and this test
prints aggregates only so a failure names no sealed file.

The floors below sit a little under the figures measured when the weights were last fitted
(README "Detection quality"; each figure's history in docs/detection.md): they catch a regression;
they are not the issue's targets, which
the shipped policies do not yet meet on the sealed split.

* training split, replayed in date order with the sent-mail history learned: recall at
  `suspicious` or above and legitimate mail flagged;
* sealed split, the same way, and the second to ninth sealed splits (`sealed2.yml` to `sealed9.yml`) with their
  own sent mail too;
* the development sets dev3 to dev8 (legitimate mail only): legitimate mail flagged; devA, devB and devC
  (approaches only): recall;
* the real ham in ../shared/corpora/ham (4,150 messages): flagged `suspicious` or above <= 0.1 %;
* the real phishing in ../shared/corpora/phish: every message analysed without an error.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.model import Verdict
from gateway.policy.evaluate import Evaluation, evaluate, label_dirs, load_labels
from gateway.runtime import Runtime
from gateway.store.learn import learn
from tests.conftest import ROOT
from tests.support.corpora import corpora_dir

EVALSET = ROOT / "tests" / "evalset"

# measured 2026-12-03 after round 11 (the text model and its rules, policies/30-weights.yml as
# committed): training recall 96.4 % (91.0 % with the text model held out by campaign), legitimate
# flagged 0.5 %; sealed recall 79.5 %, legitimate flagged 6.3 %; ham 1 of 4,150. Round 12 (an offer
# counts once, weights refitted): training recall 96.4 % (90.1 % held out), legitimate flagged
# 0.0 %; sealed (the twelfth look) recall 79.5 %, legitimate flagged 3.1 % (4 of 127); ham 1 of
# 4,150. Round 13 (claims, asks and look-alike links read more widely; a social network's address
# passes no flagged persona on to another): training recall 97.3 % (91.9 % held out), legitimate
# flagged 0.0 %; sealed (the thirteenth look) recall 80.7 %, legitimate flagged 2.4 % (3 of 127);
# ham 1 of 4,150. Round 17 (a relayed persona's own first contact, free-mail personas copied by an
# organisation-domain sender, a stranger's unpaid review of a draft): training recall 99.1 % (92.8 %
# held out), legitimate flagged 0.0 %; sealed (the seventeenth look) recall 83.1 % (69 of 83),
# legitimate flagged 2.4 % (3 of 127); ham 1 of 4,150. The floors leave four training and two sealed
# approaches, and two sealed legitimate messages, of slack (as of round 17's sealed look).
# The second sealed split (sealed2.yml, written after look 21 by helpers who never saw the rules; its
# legitimate half's threads answer history/sent2.mbox), first look 2026-12-03 on main 00671eb: recall
# 90.0 % (63 of 70), legitimate flagged 12.8 % (15 of 117); after round 23 (detect22, its third look):
# 90.0 %, 9.4 % (11 of 117). Its floors leave three messages of slack each.
# dev3.yml (hard legitimate mail only, written blind to the rules on branch legit3 and tuned on from
# round 24; its invented '-example' domains corrected by tools/correct_dev3_domains.py): main 8aa8438
# flagged 19 of 110 (17.3 %); round 24 (detect24) 16 of 110, but it tied main on sealed2 (11 of 117 both,
# its fourth look) and was not merged. The floor (22 of 110) leaves three messages of slack.
# dev4.yml and dev5.yml (hard legitimate mail only, 90 each, written blind to the rules on sealed2's recipe,
# 2026-12-04): main 321b796 flagged 15 and 9 of 90; round 27 (detect27, tuned on dev4, then dev5) 8 and 7,
# and sealed2 at its sixth look 63 of 70 and 8 of 117 (6.8 %). Floors: three messages of slack each
# (sealed2's legitimate floor 11 of 117). dev6.yml (the same recipe, 2026-12-04, measured blind): main c68a929
# flagged 12 of 90; floor 15 of 90.
# devA.yml (60 approaches in 12 campaigns from published reports, written blind to the rules, 2026-12-04): main
# a2d4597 caught 54 of 60 (90.0 %); floor 51 of 60.
# dev7.yml (hard legitimate, sealed2's recipe, 2026-12-04, measured blind): main 8a2663f flagged 14 of 90; floor 17
# of 90. devB.yml (60 approaches in 12 more campaigns, blind): main 8a2663f caught 54 of 60; floor 51 of 60.
# dev8.yml (the same recipe, blind): main flagged 13 of 90; floor 16 of 90. devC.yml (60 approaches in 12 further
# campaigns, blind): main caught 50 of 60; floor 47 of 60. devD.yml (60 approaches in 12 operations new to every
# earlier set, sealed3's included; blind, 2026-12-04): main b2af8ba caught 42 of 60 (70.0 %); floor 39 of 60.
# devE.yml (60 approaches in 12 more such operations, blind, 2026-12-04): main 96a4b75 caught 43 of 60 (71.7 %);
# floor 40 of 60.
# devF.yml (60 approaches in 12 more such operations, blind, 2026-12-04): main 2dc8e5c (round 36, fixed before devF
# existed) caught 47 of 60 (78.3 %), main before round 36 43; floor 44 of 60.
# devG.yml (60 approaches, 12 more such operations, blind): main 757111f caught 52 of 60; floor 49 of 60. dev9.yml
# (72 hard legitimate, sealed2's recipe, blind): main flagged 11 of 72; floor 14 of 72.
# devH.yml (60 approaches, 12 more such operations, blind): main 5405eb7 caught 53 of 60, round 39 56; floor 50 of
# 60. dev10.yml (72 hard legitimate, blind): main and round 39 flagged 8 of 72; floor 11 of 72.
# devI.yml (60 approaches, 12 more operations, blind): main fd7bc3c caught 48 of 60; floor 45 of 60. dev11.yml (72
# hard legitimate, blind): main flagged 7 of 72; floor 10 of 72.
# devJ.yml (60 approaches, 12 more operations, blind): main c3cb580 caught 41 of 60, round 42 (tuned on it) 52; floor
# 49 of 60. dev12.yml (72 hard legitimate, blind): main flagged 8 of 72, round 42 (tuned on it) 6; floor 9 of 72.
# devK.yml (60 approaches, blind): main c3cb580 and round 42 caught 52 of 60; floor 49 of 60. dev13.yml (72 hard
# legitimate, blind): both flagged 7 of 72; floor 10 of 72.
# devL.yml (60 approaches, blind): main 7069436 (round 42) caught 48 of 60; floor 45 of 60. dev14.yml (72 hard
# legitimate, blind): main flagged 7 of 72; floor 10 of 72.
# devM.yml (60 approaches, blind, unread): main 00fea39 caught 41 of 60; floor 38 of 60. dev15.yml (72 hard
# legitimate, blind, unread): main flagged 6 of 72; floor 9 of 72.
# legitM.yml (72 legitimate messages from 24 senders who write to several staff or again; blind, unread): main
# 00fea39 flagged 27 of 72 (37.5 %), the cost of the campaign cues no other set could show; floor 30 of 72.
# legitN.yml (its tuning twin, 72 more, read): main 8016711 flagged 34 of 72; floor 37 of 72.
# devN.yml (60 approaches, blind, unread): main 58c80b7 caught 38 of 60; floor 35 of 60. legitO.yml (72 more
# legitimate campaign messages, new kinds; blind, unread): main 58c80b7 flagged 19 of 72; floor 22 of 72.
# devO.yml (60 approaches in 12 operations new to every earlier set, sealed splits included; blind, 2026-12-07,
# session 41): main d0c334b caught 49 of 60 (81.7 %); floor 46 of 60. dev16.yml (72 hard legitimate, blind): main
# flagged 4 of 72; floor 7 of 72.
# The third sealed split (sealed3.yml, written 2026-12-04 by four helpers who never saw the rules; evaluated in
# aggregate only), first look on main d203f5b (detection as 8a2663f): recall 70.0 % (49 of 70), legitimate flagged
# 7.8 % (9 of 116). Floors: three messages of slack each.
# The fourth sealed split (sealed4.yml, written 2026-12-05 by four helpers who never saw the rules; evaluated in
# aggregate only), first look on main 9e9c639: recall 81.4 % (57 of 70), legitimate flagged 6.3 % (7 of 111).
# Floors: three messages of slack each (54 of 70, 10 of 111).
# The fifth sealed split (sealed5.yml, written 2026-12-05 in session 25 by four helpers who never saw the rules;
# evaluated in aggregate only), first look on main 70ec655 (session 25's final detection): recall 84.3 %
# (59 of 70), legitimate flagged 7.3 % (8 of 110). Floors: three messages of slack each (56 of 70, 11 of 110).
# The sixth sealed split (sealed6.yml, written 2026-12-06 in session 35 by four helpers who never saw the rules;
# evaluated in aggregate only), first look on main 0107278: recall 87.1 % (61 of 70), legitimate flagged 4.5 %
# (5 of 110). Floors: three messages of slack each (58 of 70, 8 of 110).
# The seventh sealed split (sealed7.yml, written 2026-12-07 in session 40 by four helpers who never saw the rules;
# evaluated in aggregate only), first look on main e3cf029 (session 39's detection): recall 80.0 % (56 of 70),
# legitimate flagged 1.8 % (2 of 110). Floors: three messages of slack each (53 of 70, 5 of 110).
# The eighth sealed split (sealed8.yml, written 2026-12-08 in session 47 by four helpers who never saw the rules;
# evaluated in aggregate only), first look on main f43a9f4 (session 46's detection): recall 88.6 % (62 of 70),
# legitimate flagged 5.5 % (6 of 110). Floors: three messages of slack each (59 of 70, 9 of 110).
# The ninth sealed split (sealed9.yml, written 2026-12-08 in session 48 by four helpers who never saw the rules;
# evaluated in aggregate only), first look on main 81ef93d (session 47's detection): recall 90.0 % (63 of 70),
# legitimate flagged 7.3 % (8 of 110). Floors: three messages of slack each (60 of 70, 11 of 110).
FLOORS = {
    "train.yml": {"recall": 0.95, "false_positive_rate": 0.02},
    "sealed.yml": {"recall": 0.80, "false_positive_rate": 0.04},
    "sealed2.yml": {"recall": 0.85, "false_positive_rate": 0.095, "size": 70},
    "sealed3.yml": {"recall": 0.65, "false_positive_rate": 0.104, "size": 70},
    "sealed4.yml": {"recall": 0.77, "false_positive_rate": 0.091, "size": 70},
    "sealed5.yml": {"recall": 0.80, "false_positive_rate": 0.10, "size": 70},
    "sealed6.yml": {"recall": 0.82, "false_positive_rate": 0.073, "size": 70},
    "sealed7.yml": {"recall": 0.75, "false_positive_rate": 0.046, "size": 70},
    "sealed8.yml": {"recall": 0.84, "false_positive_rate": 0.082, "size": 70},
    "sealed9.yml": {"recall": 0.85, "false_positive_rate": 0.10, "size": 70},
    "dev3.yml": {"false_positive_rate": 0.20, "size": 110, "labels": ("legit",)},
    "dev4.yml": {"false_positive_rate": 0.123, "size": 90, "labels": ("legit",)},
    "dev5.yml": {"false_positive_rate": 0.112, "size": 90, "labels": ("legit",)},
    "dev6.yml": {"false_positive_rate": 0.167, "size": 90, "labels": ("legit",)},
    "devA.yml": {"recall": 0.85, "size": 60, "labels": ("approach",)},
    "dev7.yml": {"false_positive_rate": 0.189, "size": 90, "labels": ("legit",)},
    "devB.yml": {"recall": 0.85, "size": 60, "labels": ("approach",)},
    "dev8.yml": {"false_positive_rate": 0.178, "size": 90, "labels": ("legit",)},
    "devC.yml": {"recall": 0.78, "size": 60, "labels": ("approach",)},
    "devD.yml": {"recall": 0.65, "size": 60, "labels": ("approach",)},
    "devE.yml": {"recall": 0.66, "size": 60, "labels": ("approach",)},
    "devF.yml": {"recall": 0.73, "size": 60, "labels": ("approach",)},
    "devG.yml": {"recall": 0.81, "size": 60, "labels": ("approach",)},
    "dev9.yml": {"false_positive_rate": 0.195, "size": 72, "labels": ("legit",)},
    "devH.yml": {"recall": 0.83, "size": 60, "labels": ("approach",)},
    "dev10.yml": {"false_positive_rate": 0.153, "size": 72, "labels": ("legit",)},
    "devI.yml": {"recall": 0.75, "size": 60, "labels": ("approach",)},
    "dev11.yml": {"false_positive_rate": 0.139, "size": 72, "labels": ("legit",)},
    "devJ.yml": {"recall": 0.81, "size": 60, "labels": ("approach",)},
    "dev12.yml": {"false_positive_rate": 0.125, "size": 72, "labels": ("legit",)},
    "devK.yml": {"recall": 0.81, "size": 60, "labels": ("approach",)},
    "dev13.yml": {"false_positive_rate": 0.139, "size": 72, "labels": ("legit",)},
    "devL.yml": {"recall": 0.75, "size": 60, "labels": ("approach",)},
    "dev14.yml": {"false_positive_rate": 0.139, "size": 72, "labels": ("legit",)},
    "devM.yml": {"recall": 0.63, "size": 60, "labels": ("approach",)},
    "dev15.yml": {"false_positive_rate": 0.125, "size": 72, "labels": ("legit",)},
    "legitM.yml": {"false_positive_rate": 0.417, "size": 72, "labels": ("legit",)},
    "legitN.yml": {"false_positive_rate": 0.514, "size": 72, "labels": ("legit",)},
    "devN.yml": {"recall": 0.58, "size": 60, "labels": ("approach",)},
    "legitO.yml": {"false_positive_rate": 0.306, "size": 72, "labels": ("legit",)},
    "devO.yml": {"recall": 0.76, "size": 60, "labels": ("approach",)},
    "dev16.yml": {"false_positive_rate": 0.098, "size": 72, "labels": ("legit",)},
}
# the sent mail each set's threads answer: dev4..dev16 were written in two halves, each with its own originals
HISTORY = {"sealed2.yml": ("sent.mbox", "sent2.mbox"),
           "sealed3.yml": ("sent.mbox", "sent3s-m.mbox", "sent3s-n.mbox"),
           "sealed4.yml": ("sent.mbox", "sent4s-p.mbox", "sent4s-q.mbox"),
           "sealed5.yml": ("sent.mbox", "sent5s-g.mbox", "sent5s-h.mbox"),
           "sealed6.yml": ("sent.mbox", "sent6s-e.mbox", "sent6s-f.mbox"),
           "sealed7.yml": ("sent.mbox", "sent7s-a.mbox", "sent7s-b.mbox"),
           "sealed8.yml": ("sent.mbox", "sent8s-i.mbox", "sent8s-s.mbox"),
           "sealed9.yml": ("sent.mbox", "sent9s-ni.mbox", "sent9s-ns.mbox"),
           **{f"dev{n}.yml": ("sent.mbox", f"sent{n}-a.mbox", f"sent{n}-b.mbox") for n in range(4, 17)},
           "legitM.yml": ("sent.mbox", "sentM-b.mbox"),
           "legitO.yml": ("sent.mbox", "sentO-a.mbox")}


def _replayed(labels: str) -> Evaluation:
    async def run() -> Evaluation:
        runtime = Runtime(load_config(EVALSET / "gateway.yml"), offline=True)
        assert runtime.store is not None
        sent = [EVALSET / "history" / name for name in HISTORY.get(labels, ("sent.mbox",))]
        await learn(runtime.store, sent, runtime.config.local_domains)
        return await evaluate(runtime, load_labels(EVALSET / labels), replay=True)
    return asyncio.run(run())


@pytest.mark.parametrize("labels", sorted(FLOORS))
def test_evaluation_set(labels: str) -> None:
    ev = _replayed(labels)
    m = ev.metrics()
    recall = "n/a" if m["recall"] is None else f"{m['recall']:.1%}"
    flagged = "n/a" if m["false_positive_rate"] is None else f"{m['false_positive_rate']:.1%}"
    print(f"\n{labels}: counts {ev.counts}, recall {recall}, legitimate flagged {flagged}, confusion {ev.confusion}")
    assert ev.errors == [], len(ev.errors)
    floor = FLOORS[labels]
    assert set(ev.counts) == set(floor.get("labels", ("approach", "legit")))
    assert min(ev.counts.values()) >= floor.get("size", 80)
    if "recall" in floor:  # the dev sets hold one label only
        assert m["recall"] is not None and m["recall"] >= floor["recall"], ev.confusion
    if "false_positive_rate" in floor:  # devA holds approaches only
        assert m["false_positive_rate"] is not None and m["false_positive_rate"] <= floor["false_positive_rate"], \
            ev.confusion


def test_replay_matters_history_is_used() -> None:
    """The replay is not decoration: without history the same training split scores
    differently (first contact and campaign signals depend on it)."""
    async def flat() -> Evaluation:
        runtime = Runtime(load_config(EVALSET / "gateway.yml"), offline=True)
        return await evaluate(runtime, load_labels(EVALSET / "train.yml"))
    replayed, plain = _replayed("train.yml"), asyncio.run(flat())
    hits = lambda ev, rule: sum(ev.rule_hits.get(rule, {}).values())  # noqa: E731
    assert hits(replayed, "campaign-another-colleague") + hits(replayed, "campaign-several-colleagues") > 0
    assert hits(plain, "campaign-another-colleague") + hits(plain, "campaign-several-colleagues") == 0


def _need_corpora() -> Path:
    """The shared corpora (not in the repository: ../shared/corpora beside the checkout, or
    APPROACH_CORPORA). A clone elsewhere skips with this reason; REQUIRE_CORPORA=1 makes their
    absence a failure instead."""
    found = corpora_dir()
    if found is None or not (found / "ham").is_dir():
        if os.environ.get("REQUIRE_CORPORA") == "1":
            pytest.fail("REQUIRE_CORPORA=1 but the shared corpora were not found (set APPROACH_CORPORA)")
        pytest.skip("shared corpora not found (../shared/corpora beside the checkout, or APPROACH_CORPORA)")
    return found


def _plain(labels: list, positive: str) -> Evaluation:
    runtime = Runtime(load_config(EVALSET / "ham.yml"), offline=True)
    return asyncio.run(evaluate(runtime, labels, positive=positive))


def test_real_ham_is_almost_never_flagged() -> None:
    corpora = _need_corpora()
    ev = _plain(label_dirs([f"ham={corpora / 'ham'}"]), "approach")
    total, flagged = ev.counts["ham"], ev.flagged["ham"]
    print(f"\nham: {flagged}/{total} flagged suspicious or above ({flagged / total:.3%})")
    assert ev.errors == []
    assert total >= 4000
    assert flagged / total <= 0.001, ev.false_positives


def test_real_phishing_is_processed() -> None:
    corpora = _need_corpora()
    ev = _plain(label_dirs([f"phish={corpora / 'phish'}"]), "phish")
    print(f"\nphish: {ev.confusion['phish']}")
    assert ev.errors == []
    assert ev.counts["phish"] >= 900
    # the lures that offer something or push to a private channel raise those rules
    offer = ("untrusted-identity-with-an-offer-or-a-private-channel", "offchannel-push",
             "stranger-offers-money", "offers-money")
    assert sum(sum(ev.rule_hits.get(r, {}).values()) for r in offer) >= 10
    assert ev.confusion["phish"][Verdict.SUSPICIOUS.word] + ev.confusion["phish"][Verdict.HIGH.word] > 0



def test_triage_decisions_reach_the_campaign_cues() -> None:
    """tests/evalset/tools/triage_sim.py (the figures in docs/console.md): with no decisions it
    counts what `evaluate --replay` counts; an analyst's 'not an approach' on each flagged legitimate
    message of legitN (its senders write to several staff or again) leaves fewer flagged; 'approach'
    on each missed approach of devN leaves more caught (devL until session 39, whose text model, trained on
    the open sets, leaves devL no missed approach with a later message)."""
    from tests.evalset.tools.triage_sim import simulate

    sent = [EVALSET / "history" / "sent.mbox"]
    off = asyncio.run(simulate(EVALSET / "legitN.yml", sent, approach=False, off=True))["legit"]
    on = asyncio.run(simulate(EVALSET / "legitN.yml", sent, approach=False, off=False))["legit"]
    assert off[0] == _replayed("legitN.yml").flagged["legit"]
    assert on[1] == off[1] == 72 and on[0] < off[0], (on, off)
    caught_off = asyncio.run(simulate(EVALSET / "devN.yml", sent, approach=True, off=True))["approach"][0]
    caught_on = asyncio.run(simulate(EVALSET / "devN.yml", sent, approach=True, off=False))["approach"][0]
    assert caught_on > caught_off, (caught_on, caught_off)
