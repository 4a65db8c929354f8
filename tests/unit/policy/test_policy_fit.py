"""policy fit: the logistic regression behind policies/30-weights.yml."""

from __future__ import annotations

import random

from gateway.policy.fit import Sample, cutoff_for, fit, folds, policy_patch, scores_for, train, verified_scale


def _samples(seed: int = 1) -> list[Sample]:
    """Synthetic mail: 'ask' and 'claim' together mark approaches; 'list' marks legitimate
    mail; 'noise' fires on both at the same rate."""
    rng = random.Random(seed)
    out = []
    for i in range(200):
        positive = i % 2 == 0
        rules = set()
        if positive:
            rules |= {"ask", "claim"} if rng.random() < 0.8 else {"ask"}
        else:
            rules |= {"list"} if rng.random() < 0.6 else set()
            if rng.random() < 0.15:
                rules.add("ask")
        if rng.random() < 0.3:
            rules.add("noise")
        out.append(Sample(frozenset(rules), positive, f"g{i % 20}"))
    return out


def test_weights_follow_the_evidence_and_the_signs_hold() -> None:
    samples = _samples()
    features = ["ask", "claim", "list", "noise"]
    model = train(samples, features, l2=0.01, signs={"ask": 1, "claim": 1, "list": -1, "noise": 1})
    assert model.weights["claim"] > 0.5 and model.weights["ask"] > 0.5
    assert model.weights["list"] < 0
    assert abs(model.weights["noise"]) < 0.5 * model.weights["claim"]
    # a rule its author scored as a cue never becomes evidence of legitimacy
    constrained = train(samples, features, l2=0.01, signs={"list": 1})
    assert constrained.weights["list"] == 0.0


def test_priors_pull_weights_towards_the_authored_scores() -> None:
    samples = _samples()
    features = ["ask", "claim", "list", "noise"]
    free = train(samples, features, l2=1.0)
    pulled = train(samples, features, l2=1.0, priors={"noise": 8.0})
    assert pulled.weights["noise"] > free.weights["noise"] + 1.0


def test_folds_keep_whole_groups_together() -> None:
    samples = _samples()
    split = folds(samples, 5)
    assert sorted(i for f in split for i in f) == list(range(len(samples)))
    fold_of = {i: n for n, f in enumerate(split) for i in f}
    for g, positive in {(s.group, s.positive) for s in samples}:  # a campaign/source is never split
        assert len({fold_of[i] for i, s in enumerate(samples) if (s.group, s.positive) == (g, positive)}) == 1


def test_cutoff_keeps_the_asked_share_of_legitimate_mail_below() -> None:
    samples = _samples()
    model = train(samples, ["ask", "claim", "list", "noise"], l2=0.01)
    for share in (0.9, 0.97, 1.0):
        cut = cutoff_for(model, samples, share)
        negs = [s for s in samples if not s.positive]
        below = sum(1 for s in negs if model.logit(s.rules) < cut)
        assert below >= share * len(negs)


def test_rounded_scores_still_keep_legitimate_mail_below_the_threshold() -> None:
    samples = _samples()
    model = train(samples, ["ask", "claim", "list", "noise"], l2=0.01)
    cut = cutoff_for(model, samples, 0.95)
    scale = verified_scale(model, samples, cut, 5.5, 0.95)
    scores = scores_for(model, scale)
    negs = [s for s in samples if not s.positive]
    over = sum(1 for s in negs if sum(scores.get(r, 0.0) for r in s.rules) >= 5.5)
    assert over <= len(negs) - 0.95 * len(negs)
    assert all(round(v, 1) == v for v in scores.values())


def test_fit_reports_cross_validated_figures_and_chooses_from_the_grid() -> None:
    report = fit(_samples(), legit_correct=0.95, l2_grid=(0.01, 1.0))
    assert report.l2 in (0.01, 1.0) and [p[0] for p in report.per_l2] == [0.01, 1.0]
    assert 0.6 <= report.cv_recall <= 1.0 and 0.85 <= report.cv_legit_correct <= 1.0
    # the separable part of the data is found: approaches with both cues score above the cutoff
    assert report.model.logit(frozenset({"ask", "claim"})) > report.cutoff > report.model.logit(frozenset({"list"}))


def test_capped_rules_stay_below_suspicious_in_the_patch() -> None:
    """Single cues, and the combinations `policy fit --cap` names (an offer counted with its
    context), are capped halfway between caution and suspicious; the others keep their fit."""
    samples = _samples()
    report = fit(samples, legit_correct=0.95, l2_grid=(0.01,))
    thresholds = {"caution": 3.0, "suspicious": 5.5, "high": 10.0}
    free = policy_patch(report, samples, thresholds, "synthetic", legit_correct=0.95)
    capped = policy_patch(report, samples, thresholds, "synthetic", legit_correct=0.95, single_cues=["claim"])

    def score(patch: str, rid: str) -> float:
        line = next(x for x in patch.splitlines() if f"{{id: {rid}," in x)
        return float(line.split("score:")[1].strip(" }"))

    assert score(free, "claim") > 4.2
    assert score(capped, "claim") == 4.2 and "capped at 4.2" in capped
    assert score(capped, "ask") == score(free, "ask")


def test_cross_validation_judges_the_folds_as_they_would_ship() -> None:
    """With thresholds, each held-out fold is scored with the fold's weights as policy_patch writes
    them: a single cue capped below suspicious no longer flags on its own there, so the reported
    recall is what the shipped policy gets, not what the uncapped logit would; a fixed rule's score
    counts too."""
    rng = random.Random(3)
    samples = []
    for i in range(200):
        positive = i % 2 == 0
        rules = {"claim"} if positive and rng.random() < 0.5 else {"claim", "ask"} if positive else set()
        if not positive and rng.random() < 0.1:
            rules.add("ask")
        samples.append(Sample(frozenset(rules), positive, f"g{i % 20}"))
    thresholds = {"caution": 3.0, "suspicious": 5.5, "high": 10.0}
    uncapped = fit(samples, legit_correct=0.95, l2_grid=(0.01,))
    shipped = fit(samples, legit_correct=0.95, l2_grid=(0.01,), thresholds=thresholds, single_cues=["claim", "ask"])
    assert shipped.as_shipped and not uncapped.as_shipped
    both = [s for s in samples if s.positive and "ask" in s.rules]
    # a lone capped cue stays below suspicious: only the approaches with both cues are caught
    assert uncapped.cv_recall > 0.9 and shipped.cv_recall == len(both) / 100
    # a fixed rule's authored score (Sample.fixed_score) lifts the capped cue over the threshold again
    boosted = [Sample(s.rules, s.positive, s.group, 2.0 if s.positive else 0.0) for s in samples]
    again = fit(boosted, legit_correct=0.95, l2_grid=(0.01,), thresholds=thresholds, single_cues=["claim", "ask"])
    assert again.cv_recall > 0.9
    assert "as shipped" in policy_patch(shipped, samples, thresholds, "synthetic", legit_correct=0.95,
                                        single_cues=["claim", "ask"])
